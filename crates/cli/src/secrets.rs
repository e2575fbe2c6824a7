//! PINs and passwords: from an environment variable, from a file descriptor (one per line, in
//! the order the command asks for them), or typed at the terminal without echo. Never from the
//! command line. Every secret lives in `Zeroizing` memory and is never logged.

use crate::error::{Result, ToolError};
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
}

/// The real sources, in order: environment variable, `--secrets-fd`, the terminal.
pub struct Interactive {
    fd: Option<BufReader<std::fs::File>>,
}

impl Interactive {
    /// With an optional file descriptor to read secrets from (one per line).
    pub fn new(fd: Option<u32>) -> Result<Self> {
        let fd = match fd {
            None => None,
            Some(n) => Some(BufReader::new(
                std::fs::File::open(format!("/dev/fd/{n}")).map_err(|e| {
                    ToolError::input(t!("err-secrets-fd", fd = n, detail = e.to_string()))
                })?,
            )),
        };
        Ok(Interactive { fd })
    }
}

impl SecretSource for Interactive {
    fn get(&mut self, what: Secret) -> Result<Option<Zeroizing<String>>> {
        if let Ok(v) = std::env::var(what.env()) {
            return Ok(Some(Zeroizing::new(v)));
        }
        if let Some(r) = &mut self.fd {
            let mut line = Zeroizing::new(String::new());
            let n = r
                .read_line(&mut line)
                .map_err(|e| ToolError::input(t!("err-secrets-fd-read", detail = e.to_string())))?;
            if n == 0 {
                return Err(ToolError::input(t!(
                    "err-secrets-fd-ended",
                    what = what.name()
                )));
            }
            let v = line.trim_end_matches(['\n', '\r']).to_string();
            return Ok(Some(Zeroizing::new(v)));
        }
        if !std::io::stdin().is_terminal() {
            return Ok(None);
        }
        let first = Zeroizing::new(rpassword::prompt_password(what.prompt()).map_err(|e| {
            ToolError::new(
                crate::error::Exit::Cancelled,
                t!("err-prompt", detail = e.to_string()),
            )
        })?);
        if what.is_new() {
            let again = Zeroizing::new(
                rpassword::prompt_password(format!("{}: ", t!("prompt-repeat"))).map_err(|e| {
                    ToolError::new(
                        crate::error::Exit::Cancelled,
                        t!("err-prompt", detail = e.to_string()),
                    )
                })?,
            );
            if *first != *again {
                return Err(ToolError::input(t!("err-entries-differ")));
            }
        }
        Ok(Some(first))
    }
}

/// Ask `src` for a secret; a clear error if no source can give it.
pub fn need(src: &mut dyn SecretSource, what: Secret) -> Result<Zeroizing<String>> {
    src.get(what)?.ok_or_else(|| {
        ToolError::input(t!(
            "err-secret-needed",
            what = what.name(),
            env = what.env()
        ))
    })
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
