//! Module configuration: where tokens come from, PIN policy for tokens we initialise, timeout.
//!
//! Sources, later ones winning:
//! 1. a config file: `$EPASS2003_CONF`, else `$HOME/.config/epass2003/pkcs11.conf`; lines of
//!    `key = value`, `#` comments. Keys: `emulator` (path of an emulator state file), `pcsc`
//!    (`yes`/`no`), `pin_min_len`, `pin_max_len` (policy stored on tokens that `C_InitToken`
//!    initialises), `auth_timeout_minutes` (timeout stored by `C_InitToken`, 0..600, 0 = none).
//! 2. the environment:
//!    * `EPASS2003_EMULATOR=FILE` exposes the emulated ePass2003 in FILE as an extra slot,
//!      in-process (no pcscd needed); a blank card is created if FILE does not exist. The slot
//!      and token say "(emulated)" in their description and model.
//!    * `EPASS2003_PCSC=0` disables PC/SC readers (by default, every PC/SC reader is a slot;
//!      without pcscd the module still works with the emulated slot alone).
//!    * `EPASS2003_PIN_MIN_LEN` / `EPASS2003_PIN_MAX_LEN`: the PIN policy that `C_InitToken`
//!      writes. The default 4..16 matches OpenSC (which sends at most 16 bytes); an
//!      administrator may choose stricter bounds (e.g. 8..16 or 4..8), never looser than 1..16.
//!    * `EPASS2003_AUTH_TIMEOUT_SECS=N` overrides the inactivity timeout stored on the token
//!      (seconds; 0 = none), so a real client can show the expiry quickly.
//!    * `EPASS2003_LOG=debug` (tracing to stderr; PINs are never logged).

use crate::clock::{SharedClock, SystemClock};
use pkcs15::backend::PinPolicy;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Module configuration.
#[derive(Clone)]
pub struct Config {
    /// Emulator state files to expose as slots (`EPASS2003_EMULATOR` may list several,
    /// separated like `PATH`).
    pub emulator: Vec<PathBuf>,
    /// Enumerate PC/SC readers.
    pub pcsc: bool,
    /// Timeout override (instead of the token's stored value).
    pub auth_timeout_override: Option<Duration>,
    /// User-PIN policy written by `C_InitToken`.
    pub init_user_policy: PinPolicy,
    /// SO-PIN policy written by `C_InitToken` (and checked for its SO PIN).
    pub init_so_policy: PinPolicy,
    /// Retry counters written by `C_InitToken`.
    pub init_max_tries: u8,
    /// Timeout written by `C_InitToken` (minutes).
    pub init_auth_timeout_minutes: u16,
    /// The clock (tests inject a manual one).
    pub clock: SharedClock,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("emulator", &self.emulator)
            .field("pcsc", &self.pcsc)
            .field("auth_timeout_override", &self.auth_timeout_override)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            emulator: Vec::new(),
            pcsc: true,
            auth_timeout_override: None,
            init_user_policy: PinPolicy::default(),
            init_so_policy: PinPolicy::default(),
            init_max_tries: 6,
            init_auth_timeout_minutes: 0,
            clock: Arc::new(SystemClock),
        }
    }
}

fn truthy(v: &str) -> bool {
    !matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "0" | "no" | "false" | "off"
    )
}

impl Config {
    /// Apply one `key = value` setting; unknown keys are ignored (logged).
    pub fn set(&mut self, key: &str, value: &str) {
        let v = value.trim();
        match key.trim() {
            "emulator" if !v.is_empty() => self.emulator = std::env::split_paths(v).collect(),
            "pcsc" => self.pcsc = truthy(v),
            "pin_min_len" => {
                if let Ok(n) = v.parse::<u8>() {
                    let n = n.clamp(1, 16);
                    self.init_user_policy.min_len = n;
                    self.init_so_policy.min_len = n;
                }
            }
            "pin_max_len" => {
                if let Ok(n) = v.parse::<u8>() {
                    let n = n.clamp(1, 16);
                    self.init_user_policy.max_len = n;
                    self.init_so_policy.max_len = n;
                }
            }
            "auth_timeout_minutes" => {
                if let Ok(n) = v.parse::<u16>() {
                    self.init_auth_timeout_minutes = n.min(600);
                }
            }
            "auth_timeout_secs" => {
                if let Ok(n) = v.parse::<u64>() {
                    self.auth_timeout_override = Some(Duration::from_secs(n));
                }
            }
            other => tracing::debug!(key = other, "unknown configuration key"),
        }
    }

    /// Parse a config file's text.
    pub fn apply_file(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            if let Some((k, v)) = line.split_once('=') {
                self.set(k, v);
            }
        }
    }

    /// The configuration from the config file and the environment.
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
                c.apply_file(&text);
            }
        }
        let env = |k: &str| std::env::var(k).ok();
        if let Some(v) = env("EPASS2003_EMULATOR") {
            c.set("emulator", &v);
        }
        if let Some(v) = env("EPASS2003_PCSC") {
            c.set("pcsc", &v);
        }
        if let Some(v) = env("EPASS2003_PIN_MIN_LEN") {
            c.set("pin_min_len", &v);
        }
        if let Some(v) = env("EPASS2003_PIN_MAX_LEN") {
            c.set("pin_max_len", &v);
        }
        if let Some(v) = env("EPASS2003_AUTH_TIMEOUT_SECS") {
            c.set("auth_timeout_secs", &v);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file_keys() {
        let mut c = Config::default();
        c.apply_file(
            "# comment\nemulator = /tmp/a.state\npcsc = no\npin_min_len = 8\npin_max_len = 99\nauth_timeout_minutes = 900\nauth_timeout_secs = 5\nbogus = 1\n",
        );
        assert_eq!(c.emulator, vec![PathBuf::from("/tmp/a.state")]);
        assert!(!c.pcsc);
        assert_eq!(
            (c.init_user_policy.min_len, c.init_user_policy.max_len),
            (8, 16)
        );
        assert_eq!(c.init_so_policy.min_len, 8);
        assert_eq!(c.init_auth_timeout_minutes, 600);
        assert_eq!(c.auth_timeout_override, Some(Duration::from_secs(5)));
    }
}
