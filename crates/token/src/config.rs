//! Module configuration: where tokens come from, what `C_InitToken` writes, timeout override.
//!
//! Sources, later ones winning:
//! 1. a config file: `$EPASS2003_CONF`, else `$HOME/.config/epass2003/pkcs11.conf`; lines of
//!    `key = value`, `#` comments.
//! 2. the environment (`EPASS2003_*`, table below).
//!
//! | Key | Environment | Allowed | Default | Meaning |
//! |---|---|---|---|---|
//! | `emulator` | `EPASS2003_EMULATOR` | paths, `:`-separated | none | emulated ePass2003 state files exposed as extra slots, in-process (a blank card is created if a file does not exist); slot and token say "(emulated)" |
//! | `pkcs12` | `EPASS2003_PKCS12` | paths, `:`-separated | none | PKCS#12 files each served as a further slot (model "PKCS#12 file"); `C_Login` with the file's password, `C_SetPIN` changes it |
//! | `pkcs12_password_policy` | `EPASS2003_PKCS12_PASSWORD_POLICY` | `min-len=N,max-len=N,lower-alnum,allow-utf8` (any subset; lengths 0..=1024, max 0 = none) | `min-len=1` | rules for a new PKCS#12 password set by `C_SetPIN` (as `epass2003-tool p12 passwd`) |
//! | `pcsc` | `EPASS2003_PCSC` | `yes`/`no`, `on`/`off`, `true`/`false`, `1`/`0` | yes | enumerate PC/SC readers (without pcscd the emulated slot works alone) |
//! | `pin_min_len` | `EPASS2003_PIN_MIN_LEN` | 1..=255, ≤ `pin_max_len` | 4 | PIN length policy `C_InitToken` stores (user PIN and SO PIN) |
//! | `pin_max_len` | `EPASS2003_PIN_MAX_LEN` | 1..=255, ≥ `pin_min_len` | 16 | (OpenSC sends at most 16 bytes: a longer PIN locks OpenSC users out) |
//! | `user_pin_max_tries` | `EPASS2003_USER_PIN_MAX_TRIES` | 0..=10 | 10 | retry counter `C_InitToken` installs for the user PIN; 0 = no counter (never locks) |
//! | `so_pin_max_tries` | `EPASS2003_SO_PIN_MAX_TRIES` | 0..=10 | 10 | the same for the SO PIN (PUK) |
//! | `auth_timeout_minutes` | | 0..=600 | 0 | inactivity timeout `C_InitToken` stores; 0 = none |
//! | `auth_timeout_secs` | `EPASS2003_AUTH_TIMEOUT_SECS` | any u64 | none | override the token's timeout (seconds; 0 = none), to see expiry quickly |
//! | `pin_allow_utf8` | `EPASS2003_PIN_ALLOW_UTF8` | `yes`/`no` (as `pcsc`) | no | `C_InitToken` stores that new PINs (user and SO) may contain non-ASCII UTF-8; by default they must be printable ASCII |
//! | `locked_message` | `EPASS2003_LOCKED_MESSAGE` | free text | none | written after "SERIAL: PIN locked." to stderr, once per token and process, when `C_Login`/`C_SetPIN` answer `CKR_PIN_LOCKED` (e.g. the help desk's phone number) |
//! | `notify_expired` | | `yes`/`no` (as `pcsc`) | yes | `epass2003-tool expiring --notify`: a desktop notice for each expired certificate |
//! | `notify_expiring` | | `yes`/`no` | yes | the same for each certificate inside the notice window |
//! | `notify_days` | | 1..=120 | 14 | the notice window of `epass2003-tool expiring` (days) when `--days` is not given |
//! | `notify_mute` | | certificate serials or CKA_IDs (hex), separated by `,` or spaces; the key may repeat | none | certificates `expiring --notify` never shows a notice for (the report and exit code still list them) |
//!
//! An unknown key in the file is reported like a refused value ("unknown setting KEY
//! (ignored)"); it does not make `C_InitToken` refuse.
//!
//! `EPASS2003_LOG=debug` turns on tracing to stderr (PINs are never logged); it is read by the
//! library, not here.
//!
//! **No silent changes.** A value outside its range, or one that is not a number, is a
//! [`ConfigError`] naming the key, the value and the allowed range; the setting keeps its
//! default. [`Config::from_env`] collects the errors in [`Config::errors`]; the library prints
//! each once to stderr at `C_Initialize`, and `C_InitToken` refuses (`CKR_ARGUMENTS_BAD`) while
//! a setting it would write is invalid ([`Config::init_error`]). Every other function keeps
//! working, so a typo in the file cannot break a browser's TLS client authentication.
//!
//! The management tool validates its own arguments with the same helpers ([`check_range`],
//! [`parse_in_range`], [`InitSettings::validate`], the `*_RANGE` constants), so the tool and
//! the library say the same thing.

use crate::clock::{SharedClock, SystemClock};
use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use token_backend::PinPolicy;

/// PIN lengths (bytes) `pin_min_len`/`pin_max_len` accept. The card has no limit of its own (the
/// PIN key is `SHA-1(PIN) ‖ len`); 255 is what `ulMaxPinLen` and the settings record carry.
pub const PIN_LEN_RANGE: RangeInclusive<u64> = 1..=255;
/// Maximum tries `user_pin_max_tries`/`so_pin_max_tries` accept (0 = no retry counter).
pub const MAX_TRIES_RANGE: RangeInclusive<u64> = (*token_backend::MAX_TRIES_RANGE.start() as u64)
    ..=(*token_backend::MAX_TRIES_RANGE.end() as u64);
/// Inactivity timeout (minutes) `auth_timeout_minutes` accepts (0 = none).
pub const AUTH_TIMEOUT_MINUTES_RANGE: RangeInclusive<u64> =
    0..=(pkcs15::settings::MAX_AUTH_TIMEOUT_MINUTES as u64);
/// Days `notify_days` accepts (the management tool's `expiring --days` too).
pub const NOTIFY_DAYS_RANGE: RangeInclusive<u64> = 1..=120;
/// Default notice window (days).
pub const DEFAULT_NOTIFY_DAYS: u16 = 14;

/// What `epass2003-tool expiring` notifies about (`notify_*` keys); the library does not use
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpirySettings {
    /// A notice for each expired certificate.
    pub notify_expired: bool,
    /// A notice for each certificate inside the window.
    pub notify_expiring: bool,
    /// The window in days ([`NOTIFY_DAYS_RANGE`]).
    pub days: u16,
    /// Muted certificates: serial numbers or CKA_IDs, lower-case hex without separators.
    pub mute: Vec<String>,
}

impl Default for ExpirySettings {
    fn default() -> Self {
        ExpirySettings {
            notify_expired: true,
            notify_expiring: true,
            days: DEFAULT_NOTIFY_DAYS,
            mute: Vec::new(),
        }
    }
}

impl ExpirySettings {
    /// Whether the certificate with this serial (hex) or CKA_ID (hex) is muted.
    pub fn is_muted(&self, serial_hex: &str, id_hex: &str) -> bool {
        let serial = normal_hex(serial_hex);
        let id = normal_hex(id_hex);
        self.mute
            .iter()
            .any(|m| (!serial.is_empty() && *m == serial) || (!id.is_empty() && *m == id))
    }
}

/// Hex as compared for mutes: lower case, no `0x`, `:` or spaces.
pub fn normal_hex(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    s.chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Default maximum tries of both PINs written by `C_InitToken`.
pub const DEFAULT_MAX_TRIES: u8 = 10;

/// Keys whose value `C_InitToken` writes to the token: while one of them is invalid,
/// `C_InitToken` refuses.
pub const INIT_KEYS: [&str; 6] = [
    "pin_min_len",
    "pin_allow_utf8",
    "pin_max_len",
    "user_pin_max_tries",
    "so_pin_max_tries",
    "auth_timeout_minutes",
];

/// What is wrong with one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// Not a number (or not one of the words the key accepts).
    NotANumber,
    /// A number outside the allowed range.
    OutOfRange,
    /// `pin_min_len` is above `pin_max_len`.
    MinAboveMax {
        /// The maximum in effect.
        max: u64,
    },
    /// Not a setting this library knows (a typo?); the line is ignored.
    UnknownKey,
}

/// A setting that was refused; the setting keeps its previous (default) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration key (`pin_max_len`, ...).
    pub key: String,
    /// Where the value came from (`EPASS2003_PIN_MAX_LEN`, a file path), if known.
    pub origin: Option<String>,
    /// The value as given (trimmed).
    pub value: String,
    /// What is allowed, as shown to people: `1..=255`, `yes or no`.
    pub allowed: String,
    /// What is wrong.
    pub problem: ConfigProblem,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.problem == ConfigProblem::UnknownKey {
            write!(f, "unknown setting {} (ignored)", self.key)?;
            if let Some(o) = &self.origin {
                write!(f, " (from {o})")?;
            }
            return Ok(());
        }
        write!(f, "{} = {:?}", self.key, self.value)?;
        if let Some(o) = &self.origin {
            write!(f, " (from {o})")?;
        }
        match &self.problem {
            ConfigProblem::NotANumber => write!(f, ": not a valid value, allowed {}", self.allowed),
            ConfigProblem::OutOfRange => write!(f, ": out of range, allowed {}", self.allowed),
            ConfigProblem::MinAboveMax { max } => write!(
                f,
                ": above pin_max_len = {max}, allowed {} and pin_min_len <= pin_max_len",
                self.allowed
            ),
            ConfigProblem::UnknownKey => Ok(()),
        }?;
        write!(f, "; the default is kept")
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// Whether `C_InitToken` would write this setting (see [`INIT_KEYS`]).
    pub fn is_init_relevant(&self) -> bool {
        INIT_KEYS.contains(&self.key.as_str())
    }
}

fn range_text(r: &RangeInclusive<u64>) -> String {
    format!("{}..={}", r.start(), r.end())
}

/// `value` if it lies in `range`, else a [`ConfigError`] naming `key`, the value and the range.
pub fn check_range(key: &str, value: u64, range: RangeInclusive<u64>) -> Result<u64, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError {
            key: key.into(),
            origin: None,
            value: value.to_string(),
            allowed: range_text(&range),
            problem: ConfigProblem::OutOfRange,
        })
    }
}

/// Parse a decimal number and [`check_range`] it; garbage is an error that states the range.
pub fn parse_in_range(
    key: &str,
    value: &str,
    range: RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let v = value.trim();
    match v.parse::<u64>() {
        Ok(n) => check_range(key, n, range).map_err(|e| ConfigError {
            value: v.into(),
            ..e
        }),
        Err(_) => Err(ConfigError {
            key: key.into(),
            origin: None,
            value: v.into(),
            allowed: range_text(&range),
            problem: ConfigProblem::NotANumber,
        }),
    }
}

fn narrow<T: TryFrom<u64>>(
    key: &str,
    n: u64,
    range: RangeInclusive<u64>,
) -> Result<T, ConfigError> {
    T::try_from(n).map_err(|_| ConfigError {
        key: key.into(),
        origin: None,
        value: n.to_string(),
        allowed: range_text(&range),
        problem: ConfigProblem::OutOfRange,
    })
}

/// What `C_InitToken` (and the management tool's `init`) writes to a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSettings {
    /// User-PIN policy.
    pub user_pin_policy: PinPolicy,
    /// SO-PIN (PUK) policy (also checked for the SO PIN given to `C_InitToken`).
    pub so_pin_policy: PinPolicy,
    /// Retry counter of the user PIN ([`MAX_TRIES_RANGE`], 0 = no counter).
    pub user_max_tries: u8,
    /// Retry counter of the SO PIN ([`MAX_TRIES_RANGE`], 0 = no counter).
    pub so_max_tries: u8,
    /// Inactivity timeout in minutes ([`AUTH_TIMEOUT_MINUTES_RANGE`], 0 = none).
    pub auth_timeout_minutes: u16,
}

impl Default for InitSettings {
    fn default() -> Self {
        InitSettings {
            user_pin_policy: PinPolicy::default(),
            so_pin_policy: PinPolicy::default(),
            user_max_tries: DEFAULT_MAX_TRIES,
            so_max_tries: DEFAULT_MAX_TRIES,
            auth_timeout_minutes: 0,
        }
    }
}

impl InitSettings {
    /// Every range, and min <= max for both PIN policies; the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for p in [&self.user_pin_policy, &self.so_pin_policy] {
            check_range("pin_min_len", p.min_len.into(), PIN_LEN_RANGE)?;
            check_range("pin_max_len", p.max_len.into(), PIN_LEN_RANGE)?;
            if p.min_len > p.max_len {
                return Err(ConfigError {
                    key: "pin_min_len".into(),
                    origin: None,
                    value: p.min_len.to_string(),
                    allowed: range_text(&PIN_LEN_RANGE),
                    problem: ConfigProblem::MinAboveMax {
                        max: p.max_len.into(),
                    },
                });
            }
        }
        check_range(
            "user_pin_max_tries",
            self.user_max_tries.into(),
            MAX_TRIES_RANGE,
        )?;
        check_range(
            "so_pin_max_tries",
            self.so_max_tries.into(),
            MAX_TRIES_RANGE,
        )?;
        check_range(
            "auth_timeout_minutes",
            self.auth_timeout_minutes.into(),
            AUTH_TIMEOUT_MINUTES_RANGE,
        )?;
        Ok(())
    }
}

/// Module configuration.
#[derive(Clone)]
pub struct Config {
    /// Emulator state files to expose as slots (`EPASS2003_EMULATOR` may list several,
    /// separated like `PATH`).
    pub emulator: Vec<PathBuf>,
    /// PKCS#12 files to serve as slots (`EPASS2003_PKCS12`, separated like `PATH`).
    pub pkcs12: Vec<PathBuf>,
    /// Rules for new PKCS#12 passwords (`pkcs12_password_policy`).
    pub pkcs12_policy: pkcs12_token::PasswordPolicy,
    /// Enumerate PC/SC readers.
    pub pcsc: bool,
    /// Timeout override (instead of the token's stored value).
    pub auth_timeout_override: Option<Duration>,
    /// What `C_InitToken` writes.
    pub init: InitSettings,
    /// Settings that were refused (each keeps its default) and unknown keys, in the order they
    /// were read.
    pub errors: Vec<ConfigError>,
    /// Free text shown after "SERIAL: PIN locked." when a PIN is found locked (`locked_message`,
    /// e.g. the help desk's phone number); the library writes it once per token and process to
    /// stderr, the management tool may show it too.
    pub locked_message: Option<String>,
    /// Where the "PIN locked" notice goes (default: stderr, once per token and process).
    pub notices: Arc<crate::notice::Notices>,
    /// Expiry notices of the management tool (`notify_*`).
    pub expiry: ExpirySettings,
    /// The clock (tests inject a manual one).
    pub clock: SharedClock,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("emulator", &self.emulator)
            .field("pkcs12", &self.pkcs12)
            .field("pkcs12_policy", &self.pkcs12_policy)
            .field("pcsc", &self.pcsc)
            .field("auth_timeout_override", &self.auth_timeout_override)
            .field("init", &self.init)
            .field("errors", &self.errors)
            .field("locked_message", &self.locked_message)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            emulator: Vec::new(),
            pkcs12: Vec::new(),
            pkcs12_policy: pkcs12_token::PasswordPolicy::default(),
            pcsc: true,
            auth_timeout_override: None,
            init: InitSettings::default(),
            errors: Vec::new(),
            locked_message: None,
            notices: crate::notice::Notices::stderr(),
            expiry: ExpirySettings::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

fn boolean(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        _ => Err(ConfigError {
            key: key.into(),
            origin: None,
            value: v.into(),
            allowed: "yes/no, on/off, true/false or 1/0".into(),
            problem: ConfigProblem::NotANumber,
        }),
    }
}

/// Environment variables and the keys they set.
const ENV_KEYS: [(&str, &str); 11] = [
    ("EPASS2003_PIN_ALLOW_UTF8", "pin_allow_utf8"),
    ("EPASS2003_LOCKED_MESSAGE", "locked_message"),
    ("EPASS2003_EMULATOR", "emulator"),
    ("EPASS2003_PCSC", "pcsc"),
    ("EPASS2003_PIN_MIN_LEN", "pin_min_len"),
    ("EPASS2003_PIN_MAX_LEN", "pin_max_len"),
    ("EPASS2003_USER_PIN_MAX_TRIES", "user_pin_max_tries"),
    ("EPASS2003_SO_PIN_MAX_TRIES", "so_pin_max_tries"),
    ("EPASS2003_AUTH_TIMEOUT_SECS", "auth_timeout_secs"),
    ("EPASS2003_PKCS12", "pkcs12"),
    ("EPASS2003_PKCS12_PASSWORD_POLICY", "pkcs12_password_policy"),
];

impl Config {
    /// Apply one `key = value` setting. A refused value leaves the setting unchanged. An
    /// unknown key changes nothing and is an error with [`ConfigProblem::UnknownKey`]. The relation `pin_min_len <= pin_max_len` is checked by
    /// [`Config::check_relations`] once every source was applied (the order of the lines does
    /// not matter).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let v = value.trim();
        let key = key.trim();
        match key {
            "emulator" => {
                if !v.is_empty() {
                    self.emulator = std::env::split_paths(v).collect();
                }
            }
            "pkcs12" => {
                if !v.is_empty() {
                    self.pkcs12 = std::env::split_paths(v).collect();
                }
            }
            "pkcs12_password_policy" => {
                self.pkcs12_policy =
                    pkcs12_token::PasswordPolicy::parse(v).map_err(|why| ConfigError {
                        key: key.into(),
                        origin: None,
                        value: v.into(),
                        allowed: format!(
                            "min-len=N,max-len=N,lower-alnum,allow-utf8 (lengths 0..=1024; {why})"
                        ),
                        problem: ConfigProblem::NotANumber,
                    })?;
            }
            "pcsc" => self.pcsc = boolean(key, v)?,
            "pin_min_len" => {
                let n: u8 = narrow(key, parse_in_range(key, v, PIN_LEN_RANGE)?, PIN_LEN_RANGE)?;
                self.init.user_pin_policy.min_len = n;
                self.init.so_pin_policy.min_len = n;
            }
            "pin_max_len" => {
                let n: u8 = narrow(key, parse_in_range(key, v, PIN_LEN_RANGE)?, PIN_LEN_RANGE)?;
                self.init.user_pin_policy.max_len = n;
                self.init.so_pin_policy.max_len = n;
            }
            "user_pin_max_tries" => {
                self.init.user_max_tries = narrow(
                    key,
                    parse_in_range(key, v, MAX_TRIES_RANGE)?,
                    MAX_TRIES_RANGE,
                )?;
            }
            "so_pin_max_tries" => {
                self.init.so_max_tries = narrow(
                    key,
                    parse_in_range(key, v, MAX_TRIES_RANGE)?,
                    MAX_TRIES_RANGE,
                )?;
            }
            "auth_timeout_minutes" => {
                self.init.auth_timeout_minutes = narrow(
                    key,
                    parse_in_range(key, v, AUTH_TIMEOUT_MINUTES_RANGE)?,
                    AUTH_TIMEOUT_MINUTES_RANGE,
                )?;
            }
            "auth_timeout_secs" => {
                let n = parse_in_range(key, v, 0..=u64::MAX)?;
                self.auth_timeout_override = Some(Duration::from_secs(n));
            }
            "pin_allow_utf8" => {
                let yes = boolean(key, v)?;
                self.init.user_pin_policy.allow_non_ascii = yes;
                self.init.so_pin_policy.allow_non_ascii = yes;
            }
            "locked_message" => {
                self.locked_message = (!v.is_empty()).then(|| v.to_string());
            }
            "notify_expired" => self.expiry.notify_expired = boolean(key, v)?,
            "notify_expiring" => self.expiry.notify_expiring = boolean(key, v)?,
            "notify_days" => {
                self.expiry.days = narrow(
                    key,
                    parse_in_range(key, v, NOTIFY_DAYS_RANGE)?,
                    NOTIFY_DAYS_RANGE,
                )?;
            }
            "notify_mute" => {
                let items: Vec<&str> = v
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|x| !x.is_empty())
                    .collect();
                let mut add = Vec::new();
                for item in items {
                    let h = normal_hex(item);
                    if h.is_empty() || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                        return Err(ConfigError {
                            key: key.into(),
                            origin: None,
                            value: v.into(),
                            allowed: "certificate serials or CKA_IDs in hex".into(),
                            problem: ConfigProblem::NotANumber,
                        });
                    }
                    add.push(h);
                }
                self.expiry.mute.extend(add);
            }
            other => {
                return Err(ConfigError {
                    key: other.into(),
                    origin: None,
                    value: v.into(),
                    allowed: String::new(),
                    problem: ConfigProblem::UnknownKey,
                })
            }
        }
        Ok(())
    }

    /// [`Config::set`], keeping a refusal in [`Config::errors`] with its origin.
    fn set_from(&mut self, key: &str, value: &str, origin: &str) {
        if let Err(e) = self.set(key, value) {
            self.errors.push(ConfigError {
                origin: Some(origin.into()),
                ..e
            });
        }
    }

    /// Apply a config file's text; refused lines are kept in [`Config::errors`].
    pub fn apply_file(&mut self, text: &str) {
        self.apply_file_from(text, None);
    }

    fn apply_file_from(&mut self, text: &str, path: Option<&str>) {
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("");
            if let Some((k, v)) = line.split_once('=') {
                let origin = match path {
                    Some(p) => format!("{p} line {}", i + 1),
                    None => format!("line {}", i + 1),
                };
                self.set_from(k, v, &origin);
            }
        }
    }

    /// Check what no single setting can: `pin_min_len <= pin_max_len`. A violation is kept
    /// in [`Config::errors`] (and makes `C_InitToken` refuse).
    pub fn check_relations(&mut self) {
        if let Err(e) = self.init.validate() {
            if !self.errors.iter().any(|x| x == &e) {
                self.errors.push(e);
            }
        }
    }

    /// The first refused setting that `C_InitToken` would write (it refuses while there is
    /// one), including an invalid [`Config::init`] built in code.
    pub fn init_error(&self) -> Option<ConfigError> {
        self.errors
            .iter()
            .find(|e| e.is_init_relevant())
            .cloned()
            .or_else(|| self.init.validate().err())
    }

    /// The configuration from the config file and the environment. Refused settings are in
    /// [`Config::errors`]; nothing is printed here.
    pub fn from_env() -> Self {
        let mut c = Config::default();
        let file = std::env::var_os("EPASS2003_CONF")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(".config/epass2003/pkcs11.conf"))
            });
        if let Some(f) = file {
            if let Ok(text) = std::fs::read_to_string(&f) {
                c.apply_file_from(&text, Some(&f.display().to_string()));
            }
        }
        for (var, key) in ENV_KEYS {
            if let Ok(v) = std::env::var(var) {
                c.set_from(key, &v, var);
            }
        }
        c.check_relations();
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(key: &str, value: &str) -> ConfigError {
        let mut c = Config::default();
        let before = c.init.clone();
        let e = c.set(key, value).unwrap_err();
        assert_eq!(c.init, before, "a refused {key} changes nothing");
        e
    }

    #[test]
    fn config_file_keys() {
        let mut c = Config::default();
        c.apply_file(
            "# comment\nemulator = /tmp/a.state\npcsc = no\npin_min_len = 8\npin_max_len = 99\nuser_pin_max_tries = 0\nso_pin_max_tries = 3\nauth_timeout_minutes = 600\nauth_timeout_secs = 5\n",
        );
        c.check_relations();
        assert_eq!(c.errors, vec![]);
        assert_eq!(c.emulator, vec![PathBuf::from("/tmp/a.state")]);
        assert!(!c.pcsc);
        assert_eq!(
            (
                c.init.user_pin_policy.min_len,
                c.init.user_pin_policy.max_len
            ),
            (8, 99)
        );
        assert_eq!(c.init.so_pin_policy.min_len, 8);
        assert_eq!((c.init.user_max_tries, c.init.so_max_tries), (0, 3));
        assert_eq!(c.init.auth_timeout_minutes, 600);
        assert_eq!(c.auth_timeout_override, Some(Duration::from_secs(5)));
        assert_eq!(c.init_error(), None);
    }

    #[test]
    fn unknown_keys_are_reported_not_fatal() {
        let mut c = Config::default();
        c.apply_file_from(
            "pcsc = no\nbogus = 1\npin_max_len = 12\n",
            Some("/etc/x.conf"),
        );
        c.check_relations();
        assert_eq!(c.errors.len(), 1);
        assert_eq!(c.errors[0].problem, ConfigProblem::UnknownKey);
        assert_eq!(
            c.errors[0].to_string(),
            "unknown setting bogus (ignored) (from /etc/x.conf line 2)"
        );
        assert!(!c.errors[0].is_init_relevant());
        assert_eq!(c.init_error(), None, "C_InitToken is not refused");
        assert!(!c.pcsc);
        assert_eq!(c.init.user_pin_policy.max_len, 12, "the other lines apply");
    }

    #[test]
    fn pin_allow_utf8_and_locked_message() {
        let mut c = Config::default();
        assert!(!c.init.user_pin_policy.allow_non_ascii);
        assert_eq!(c.locked_message, None);
        c.apply_file("pin_allow_utf8 = yes\nlocked_message = Call the help desk: 0120-000-000 \n");
        assert_eq!(c.errors, vec![]);
        assert!(c.init.user_pin_policy.allow_non_ascii && c.init.so_pin_policy.allow_non_ascii);
        assert_eq!(
            c.locked_message.as_deref(),
            Some("Call the help desk: 0120-000-000")
        );
        let e = err("pin_allow_utf8", "sometimes");
        assert!(e.is_init_relevant(), "C_InitToken writes it");
    }

    #[test]
    fn expiry_notice_keys() {
        let mut c = Config::default();
        assert_eq!(c.expiry, ExpirySettings::default());
        assert_eq!(c.expiry.days, 14);
        c.apply_file(
            "notify_expired = off\nnotify_expiring = yes\nnotify_days = 30\nnotify_mute = 0A:1b, 77\nnotify_mute = 0xC0FFEE\n",
        );
        assert_eq!(c.errors, vec![]);
        assert!(!c.expiry.notify_expired && c.expiry.notify_expiring);
        assert_eq!(c.expiry.days, 30);
        assert_eq!(c.expiry.mute, vec!["0a1b", "77", "c0ffee"]);
        assert!(c.expiry.is_muted("0A1B", ""));
        assert!(c.expiry.is_muted("99", "c0:ff:ee"));
        assert!(!c.expiry.is_muted("99", "ab"));
        for bad in ["0", "121", "-1", "x"] {
            let e = err("notify_days", bad);
            assert!(e.to_string().contains("1..=120"), "{e}");
        }
        assert!(err("notify_mute", "zz").to_string().contains("notify_mute"));
        assert!(err("notify_expired", "maybe")
            .to_string()
            .contains("on/off"));
    }

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!((c.init.user_max_tries, c.init.so_max_tries), (10, 10));
        assert_eq!(
            (
                c.init.user_pin_policy.min_len,
                c.init.user_pin_policy.max_len
            ),
            (4, 16)
        );
        c.init.validate().unwrap();
    }

    #[test]
    fn pin_len_up_to_255() {
        let mut c = Config::default();
        c.set("pin_max_len", "255").unwrap();
        c.set("pin_min_len", "1").unwrap();
        assert_eq!(
            (
                c.init.user_pin_policy.min_len,
                c.init.user_pin_policy.max_len
            ),
            (1, 255)
        );
        assert_eq!(c.init.so_pin_policy.max_len, 255);
    }

    #[test]
    fn range_errors_name_key_value_and_range() {
        for (key, value, range) in [
            ("pin_min_len", "0", "1..=255"),
            ("pin_min_len", "256", "1..=255"),
            ("pin_max_len", "0", "1..=255"),
            ("pin_max_len", "300", "1..=255"),
            ("user_pin_max_tries", "11", "0..=10"),
            ("so_pin_max_tries", "15", "0..=10"),
            ("auth_timeout_minutes", "700", "0..=600"),
            ("auth_timeout_minutes", "70000", "0..=600"),
        ] {
            let e = err(key, value);
            assert_eq!(e.problem, ConfigProblem::OutOfRange, "{key}={value}");
            let m = e.to_string();
            assert!(
                m.contains(key) && m.contains(value) && m.contains(range),
                "{m}"
            );
            assert!(m.contains("out of range"), "{m}");
            assert!(e.is_init_relevant());
        }
    }

    #[test]
    fn garbage_is_an_error_too() {
        for (key, value, allowed) in [
            ("pin_min_len", "four", "1..=255"),
            ("pin_max_len", "-1", "1..=255"),
            ("user_pin_max_tries", "", "0..=10"),
            ("so_pin_max_tries", "3x", "0..=10"),
            ("auth_timeout_minutes", "1.5", "0..=600"),
            ("auth_timeout_secs", "soon", "0..=18446744073709551615"),
            ("pcsc", "maybe", "yes/no"),
        ] {
            let e = err(key, value);
            assert_eq!(e.problem, ConfigProblem::NotANumber, "{key}={value}");
            let m = e.to_string();
            assert!(m.contains(key) && m.contains(allowed), "{m}");
        }
        assert!(!err("auth_timeout_secs", "x").is_init_relevant());
        assert!(!err("pcsc", "x").is_init_relevant());
    }

    #[test]
    fn min_above_max_is_reported_whatever_the_order() {
        let mut c = Config::default();
        c.apply_file("pin_min_len = 20\npin_max_len = 32\n");
        c.check_relations();
        assert_eq!(c.errors, vec![], "min 20 <= max 32, in whichever order");
        let mut c = Config::default();
        c.apply_file("pin_min_len = 20\n");
        c.check_relations();
        let m = c.errors[0].to_string();
        assert!(m.contains("pin_min_len") && m.contains("20"), "{m}");
        assert!(
            m.contains("pin_max_len = 16") && m.contains("1..=255"),
            "{m}"
        );
        assert!(c.init_error().is_some());
    }

    #[test]
    fn file_errors_carry_their_line_and_init_error_filters() {
        let mut c = Config::default();
        c.apply_file_from(
            "pcsc = perhaps\nauth_timeout_minutes = 700\n",
            Some("/etc/x.conf"),
        );
        assert_eq!(c.errors.len(), 2);
        assert!(c.errors[0].to_string().contains("/etc/x.conf line 1"));
        assert_eq!(c.init.auth_timeout_minutes, 0, "kept its default");
        let e = c.init_error().unwrap();
        assert_eq!(e.key, "auth_timeout_minutes");
        let mut c = Config::default();
        c.apply_file("pcsc = perhaps\n");
        assert_eq!(c.init_error(), None, "pcsc does not concern C_InitToken");
    }

    #[test]
    fn init_settings_validate_and_helpers() {
        let s = InitSettings {
            user_max_tries: 11,
            ..InitSettings::default()
        };
        let m = s.validate().unwrap_err().to_string();
        assert!(
            m.contains("user_pin_max_tries") && m.contains("0..=10"),
            "{m}"
        );
        let s = InitSettings {
            auth_timeout_minutes: 601,
            ..InitSettings::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("0..=600"));
        assert_eq!(check_range("k", 10, MAX_TRIES_RANGE), Ok(10));
        assert_eq!(parse_in_range("k", " 7 ", MAX_TRIES_RANGE), Ok(7));
        let e = parse_in_range("k", "99", MAX_TRIES_RANGE).unwrap_err();
        assert_eq!(e.value, "99");
        let c = Config {
            init: s,
            ..Config::default()
        };
        assert!(c.init_error().is_some(), "an invalid Config built in code");
    }
}
