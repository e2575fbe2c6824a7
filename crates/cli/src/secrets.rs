//! PINs and passwords, never from the command line. The sources, the first that has the secret
//! wins:
//!
//! 1. an environment variable ([`Secret::env`], `EPASS2003_PIN`, ...);
//! 2. `--secrets-fd N` or `--secrets-file FILE` (one secret per line, in the order the command
//!    asks for them; the file must not be readable or writable by group or others: such a file
//!    is refused with an error that says `chmod 600`);
//! 3. a systemd credential: `$CREDENTIALS_DIRECTORY/epass2003-pin` etc. ([`Secret::credential`];
//!    `LoadCredential=` / `SetCredentialEncrypted=` in a unit), the first line of the file;
//! 4. the terminal, without echo.
//!
//! With none of them (no terminal: a timer, cron, a pipe) the command stops at once with
//! [`Exit::Cancelled`] and a message naming the sources. [`SecretSource::available`] tells a
//! command, before it starts, whether a secret can be had without a prompt (a renewal from a
//! timer notifies instead of asking). Every secret lives in `Zeroizing` memory and is never
//! logged.

use crate::error::{Exit, Result, ToolError};
use crate::t;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal};
use zeroize::Zeroizing;

/// What is being asked for; each kind has its environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Secret {
    /// The user PIN.
    UserPin,
    /// A new user PIN.
    NewUserPin,
    /// The SO PIN.
    SoPin,
    /// A new SO PIN.
    NewSoPin,
    /// A PKCS#12 file's password.
    P12Password,
    /// A new PKCS#12 password.
    NewP12Password,
    /// The SCEP challenge password of `enroll` / `renew`.
    Challenge,
}

impl Secret {
    /// The environment variable a script sets instead of typing.
    pub fn env(self) -> &'static str {
        match self {
            Secret::UserPin => "EPASS2003_PIN",
            Secret::NewUserPin => "EPASS2003_NEW_PIN",
            Secret::SoPin => "EPASS2003_SO_PIN",
            Secret::NewSoPin => "EPASS2003_NEW_SO_PIN",
            Secret::P12Password => "EPASS2003_P12_PASSWORD",
            Secret::NewP12Password => "EPASS2003_NEW_P12_PASSWORD",
            Secret::Challenge => "EPASS2003_SCEP_CHALLENGE",
        }
    }
    /// The systemd credential's name: the file `$CREDENTIALS_DIRECTORY/NAME` a unit provides
    /// with `LoadCredential=NAME:/path` (or `SetCredential=` / `LoadCredentialEncrypted=`).
    pub fn credential(self) -> &'static str {
        match self {
            Secret::UserPin => "epass2003-pin",
            Secret::NewUserPin => "epass2003-new-pin",
            Secret::SoPin => "epass2003-so-pin",
            Secret::NewSoPin => "epass2003-new-so-pin",
            Secret::P12Password => "epass2003-p12-password",
            Secret::NewP12Password => "epass2003-new-p12-password",
            Secret::Challenge => "epass2003-scep-challenge",
        }
    }
    /// The prompt.
    pub fn prompt(self) -> String {
        format!("{}: ", self.name())
    }
    /// What it is called in messages ("user PIN", "PKCS#12 password").
    pub fn name(self) -> String {
        match self {
            Secret::UserPin => t!("secret-user-pin"),
            Secret::NewUserPin => t!("secret-new-user-pin"),
            Secret::SoPin => t!("secret-so-pin"),
            Secret::NewSoPin => t!("secret-new-so-pin"),
            Secret::P12Password => t!("secret-p12-password"),
            Secret::NewP12Password => t!("secret-new-p12-password"),
            Secret::Challenge => t!("secret-scep-challenge"),
        }
    }
    fn is_new(self) -> bool {
        matches!(
            self,
            Secret::NewUserPin | Secret::NewSoPin | Secret::NewP12Password
        )
    }
}

/// Where secrets come from.
pub trait SecretSource {
    /// The secret, or `None` if this source cannot give it.
    fn get(&mut self, what: Secret) -> Result<Option<Zeroizing<String>>>;
    /// Whether `what` can be had **without a prompt** (a variable, a descriptor or file, a
    /// systemd credential, a value given in code). Asks nothing and reads no secret: a command
    /// run from a timer calls it first and, with `false`, does something else than asking (a
    /// renewal notifies instead).
    fn available(&self, what: Secret) -> bool;
}

/// Secrets given directly (tests; a caller that already has them).
#[derive(Default)]
pub struct Given(pub HashMap<Secret, Vec<Zeroizing<String>>>);

impl Given {
    /// Add a value for a kind (several values of one kind are used in order).
    pub fn with(mut self, what: Secret, value: &str) -> Self {
        self.0
            .entry(what)
            .or_default()
            .push(Zeroizing::new(value.to_string()));
        self
    }
}

impl SecretSource for Given {
    fn get(&mut self, what: Secret) -> Result<Option<Zeroizing<String>>> {
        Ok(self.0.get_mut(&what).and_then(|v| {
            if v.is_empty() {
                None
            } else {
                Some(v.remove(0))
            }
        }))
    }
    fn available(&self, what: Secret) -> bool {
        self.0.get(&what).is_some_and(|v| !v.is_empty())
    }
}

/// Where the lines of `--secrets-fd` / `--secrets-file` come from (for messages).
enum LinesFrom {
    Fd(u32),
    File(std::path::PathBuf),
}

impl LinesFrom {
    fn name(&self) -> String {
        match self {
            LinesFrom::Fd(n) => format!("--secrets-fd {n}"),
            LinesFrom::File(p) => format!("--secrets-file {}", p.display()),
        }
    }
}

/// The real sources, in order: environment variable, `--secrets-fd` / `--secrets-file`, a
/// systemd credential, the terminal.
pub struct Interactive {
    lines: Option<(LinesFrom, BufReader<std::fs::File>)>,
    credentials: Option<std::path::PathBuf>,
    terminal: bool,
}

/// Refuse a secrets file that group or others may read or write (mode & 0o077): the error
/// names the file, its mode and the fix.
pub fn check_private(path: &std::path::Path, f: &std::fs::File) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = f
        .metadata()
        .map_err(|e| {
            ToolError::input(t!(
                "err-secrets-file",
                file = path.display().to_string(),
                detail = e.to_string()
            ))
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(ToolError::input(t!(
            "err-secrets-file-mode",
            file = path.display().to_string(),
            mode = format!("{:04o}", mode & 0o7777)
        )));
    }
    Ok(())
}

impl Interactive {
    /// With an optional file descriptor to read secrets from (one per line).
    pub fn new(fd: Option<u32>) -> Result<Self> {
        Self::with_sources(fd, None)
    }

    /// With an optional file descriptor or file (not both) to read secrets from, one per line;
    /// the systemd credentials of `$CREDENTIALS_DIRECTORY` and the terminal after them. A file
    /// that group or others may read is refused ([`check_private`]).
    pub fn with_sources(fd: Option<u32>, file: Option<&std::path::Path>) -> Result<Self> {
        let lines = match (fd, file) {
            (Some(_), Some(_)) => return Err(ToolError::input(t!("err-secrets-fd-and-file"))),
            (Some(n), None) => Some((
                LinesFrom::Fd(n),
                BufReader::new(std::fs::File::open(format!("/dev/fd/{n}")).map_err(|e| {
                    ToolError::input(t!("err-secrets-fd", fd = n, detail = e.to_string()))
                })?),
            )),
            (None, Some(p)) => {
                let f = std::fs::File::open(p).map_err(|e| {
                    ToolError::input(t!(
                        "err-secrets-file",
                        file = p.display().to_string(),
                        detail = e.to_string()
                    ))
                })?;
                check_private(p, &f)?;
                Some((LinesFrom::File(p.to_path_buf()), BufReader::new(f)))
            }
            (None, None) => None,
        };
        Ok(Interactive {
            lines,
            credentials: std::env::var_os("CREDENTIALS_DIRECTORY")
                .filter(|d| !d.is_empty())
                .map(std::path::PathBuf::from),
            terminal: std::io::stdin().is_terminal(),
        })
    }

    fn credential_path(&self, what: Secret) -> Option<std::path::PathBuf> {
        self.credentials
            .as_ref()
            .map(|d| d.join(what.credential()))
            .filter(|p| p.is_file())
    }

    /// The first line of a systemd credential (the newline is not part of the secret).
    fn read_credential(path: &std::path::Path) -> Result<Zeroizing<String>> {
        use std::io::Read;
        let err = |e: std::io::Error| {
            ToolError::input(t!(
                "err-secrets-file",
                file = path.display().to_string(),
                detail = e.to_string()
            ))
        };
        let mut f = std::fs::File::open(path).map_err(err)?;
        check_private(path, &f)?;
        let mut all = Zeroizing::new(String::new());
        f.read_to_string(&mut all).map_err(err)?;
        let first = all.split(['\n', '\r']).next().unwrap_or_default();
        Ok(Zeroizing::new(first.to_string()))
    }
}

impl SecretSource for Interactive {
    fn get(&mut self, what: Secret) -> Result<Option<Zeroizing<String>>> {
        if let Ok(v) = std::env::var(what.env()) {
            return Ok(Some(Zeroizing::new(v)));
        }
        if let Some((from, r)) = &mut self.lines {
            let mut line = Zeroizing::new(String::new());
            let n = r.read_line(&mut line).map_err(|e| {
                ToolError::input(t!(
                    "err-secrets-lines-read",
                    source = from.name(),
                    detail = e.to_string()
                ))
            })?;
            if n == 0 {
                return Err(ToolError::input(t!(
                    "err-secrets-lines-ended",
                    source = from.name(),
                    what = what.name()
                )));
            }
            let v = line.trim_end_matches(['\n', '\r']).to_string();
            return Ok(Some(Zeroizing::new(v)));
        }
        if let Some(p) = self.credential_path(what) {
            return Self::read_credential(&p).map(Some);
        }
        if !self.terminal {
            return Ok(None);
        }
        let first = Zeroizing::new(rpassword::prompt_password(what.prompt()).map_err(|e| {
            ToolError::new(Exit::Cancelled, t!("err-prompt", detail = e.to_string()))
        })?);
        if what.is_new() {
            let again = Zeroizing::new(
                rpassword::prompt_password(format!("{}: ", t!("prompt-repeat"))).map_err(|e| {
                    ToolError::new(Exit::Cancelled, t!("err-prompt", detail = e.to_string()))
                })?,
            );
            if *first != *again {
                return Err(ToolError::input(t!("err-entries-differ")));
            }
        }
        Ok(Some(first))
    }

    fn available(&self, what: Secret) -> bool {
        std::env::var_os(what.env()).is_some()
            || self.lines.is_some()
            || self.credential_path(what).is_some()
    }
}

/// Ask `src` for a secret; a clear error if no source can give it.
pub fn need(src: &mut dyn SecretSource, what: Secret) -> Result<Zeroizing<String>> {
    src.get(what)?.ok_or_else(|| needs_input(what))
}

/// The error of a secret no source gives and nobody can be asked for: [`Exit::Cancelled`]
/// ("needs input"), naming every source.
pub fn needs_input(what: Secret) -> ToolError {
    ToolError::new(
        Exit::Cancelled,
        t!(
            "err-secret-needed",
            what = what.name(),
            env = what.env(),
            credential = what.credential()
        ),
    )
    .with("needs", what.env())
}

/// PIN strength as the vendor tool shows it: low, medium, high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    /// Short, or one class of characters, or a trivial sequence.
    Low,
    /// At least 8 characters of two classes.
    Medium,
    /// At least 10 characters of three or more classes.
    High,
}

impl Strength {
    /// The word shown, in the user's language.
    pub fn word(self) -> String {
        match self {
            Strength::Low => t!("strength-low"),
            Strength::Medium => t!("strength-medium"),
            Strength::High => t!("strength-high"),
        }
    }
    /// The machine-readable word (JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Low => "low",
            Strength::Medium => "medium",
            Strength::High => "high",
        }
    }
}

/// Rate a PIN: length, character classes (digits, lower, upper, symbols), and the usual weak
/// patterns (one repeated character, an ascending or descending run such as "12345678").
pub fn strength(pin: &str) -> Strength {
    let b = pin.as_bytes();
    let classes = [
        b.iter().any(u8::is_ascii_digit),
        b.iter().any(u8::is_ascii_lowercase),
        b.iter().any(u8::is_ascii_uppercase),
        b.iter().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|&&x| x)
    .count();
    let repeated = b.windows(2).all(|w| w[0] == w[1]);
    let run = b.len() > 2
        && (b.windows(2).all(|w| w[1] == w[0].wrapping_add(1))
            || b.windows(2).all(|w| w[1].wrapping_add(1) == w[0]));
    if b.len() < 6 || repeated || run || classes < 2 && b.len() < 12 {
        Strength::Low
    } else if b.len() >= 10 && classes >= 3 {
        Strength::High
    } else {
        Strength::Medium
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_meter() {
        assert_eq!(strength("1234"), Strength::Low);
        assert_eq!(strength("12345678"), Strength::Low);
        assert_eq!(strength("87654321"), Strength::Low);
        assert_eq!(strength("aaaaaaaaaaaa"), Strength::Low);
        assert_eq!(strength("30571946"), Strength::Low);
        assert_eq!(strength("tanaka2026"), Strength::Medium);
        assert_eq!(strength("Tanaka-2026!"), Strength::High);
        assert_eq!(strength("829164037215"), Strength::Medium);
    }

    #[test]
    fn given_source_in_order() {
        let mut g = Given::default()
            .with(Secret::UserPin, "1111")
            .with(Secret::UserPin, "2222");
        assert_eq!(g.get(Secret::UserPin).unwrap().unwrap().as_str(), "1111");
        assert_eq!(g.get(Secret::UserPin).unwrap().unwrap().as_str(), "2222");
        assert!(g.get(Secret::UserPin).unwrap().is_none());
        assert!(need(&mut g, Secret::SoPin)
            .unwrap_err()
            .message
            .contains("EPASS2003_SO_PIN"));
    }
}
