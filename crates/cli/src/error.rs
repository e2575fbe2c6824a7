//! Exit codes and the tool's error type.
//!
//! Scripts branch on the exit code; the JSON error object (`--json`) carries the same code by
//! name (`"kind"`) with details (tries left, the token's serial). The table is the README's.

use crate::t;
use serde_json::{json, Value};
use std::fmt;

/// Documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Success (and, for `expiring`, nothing inside the window).
    Ok = 0,
    /// An internal error (a bug: please report it).
    Internal = 1,
    /// Bad input: an option out of range, a file that cannot be read or parsed, a wrong
    /// PKCS#12 password, a PIN that does not meet the token's policy.
    BadInput = 2,
    /// Wrong PIN; the message and the JSON say how many tries are left.
    WrongPin = 3,
    /// The PIN (user or SO) is locked.
    PinLocked = 4,
    /// No token, or several and none chosen (`--serial` / `--reader`).
    NoToken = 5,
    /// The card or the communication with it failed (pulled mid-way, malformed answer).
    Card = 6,
    /// `expiring`: at least one certificate expires inside the notice window.
    Expiring = 7,
    /// `expiring`: at least one certificate has already expired.
    Expired = 8,
    /// The token cannot do this: write-protected, a layout that does not allow it, a key the
    /// card cannot hold.
    NotPossible = 9,
    /// The user declined a confirmation or cancelled a prompt.
    Cancelled = 10,
    /// The token's memory is full.
    TokenFull = 11,
    /// `renew`: the certificate is not inside its notice window, nothing was done (the
    /// enrolment client's "skipped - not due").
    NotDue = 12,
    /// `enroll` / `renew`: the CA holds the request for approval; the request is kept and
    /// `enroll --poll` finishes it.
    Pending = 13,
    /// The SCEP server cannot be reached (DNS, refused or dropped connection, timeout, TLS).
    ServerUnreachable = 14,
    /// The SCEP server answered with an error: a failure info (wrong challenge, bad request),
    /// an HTTP error status, or a reply that is not SCEP.
    ServerRefused = 15,
    /// The CA's certificate is not trusted: no `--ca-fingerprint` when nobody can be asked, or
    /// a fingerprint that does not match.
    CaNotTrusted = 16,
}

impl Exit {
    /// The code's machine-readable name (the JSON `"kind"`).
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Internal => "internal",
            Exit::BadInput => "bad_input",
            Exit::WrongPin => "wrong_pin",
            Exit::PinLocked => "pin_locked",
            Exit::NoToken => "no_token",
            Exit::Card => "card_error",
            Exit::Expiring => "expiring",
            Exit::Expired => "expired",
            Exit::NotPossible => "not_possible",
            Exit::Cancelled => "cancelled",
            Exit::TokenFull => "token_full",
            Exit::NotDue => "not_due",
            Exit::Pending => "pending",
            Exit::ServerUnreachable => "server_unreachable",
            Exit::ServerRefused => "server_refused",
            Exit::CaNotTrusted => "ca_not_trusted",
        }
    }

    /// The enrolment client's result code in the vendor manuals for this outcome (the result
    /// file's number; 300 and 1000 cannot be Unix exit statuses, hence two numbers): 0 success,
    /// 100 tool failure / bad command, 110 skipped - not due, 120 cancelled by the user,
    /// 200 cannot reach the server, 300 the server returned an error, 1000 other.
    pub fn manual_code(self) -> u16 {
        match self {
            Exit::Ok | Exit::Expiring | Exit::Expired => 0,
            Exit::Internal | Exit::BadInput => 100,
            Exit::NotDue => 110,
            Exit::Cancelled => 120,
            Exit::ServerUnreachable => 200,
            Exit::ServerRefused => 300,
            Exit::WrongPin
            | Exit::PinLocked
            | Exit::NoToken
            | Exit::Card
            | Exit::NotPossible
            | Exit::TokenFull
            | Exit::Pending
            | Exit::CaNotTrusted => 1000,
        }
    }

    /// Every code, for the README table and `--help`.
    pub const ALL: [Exit; 17] = [
        Exit::Ok,
        Exit::Internal,
        Exit::BadInput,
        Exit::WrongPin,
        Exit::PinLocked,
        Exit::NoToken,
        Exit::Card,
        Exit::Expiring,
        Exit::Expired,
        Exit::NotPossible,
        Exit::Cancelled,
        Exit::TokenFull,
        Exit::NotDue,
        Exit::Pending,
        Exit::ServerUnreachable,
        Exit::ServerRefused,
        Exit::CaNotTrusted,
    ];
}

/// An error the tool reports.
#[derive(Debug, Clone)]
pub struct ToolError {
    /// Exit code.
    pub exit: Exit,
    /// One clear sentence for a person.
    pub message: String,
    /// Extra fields for the JSON error object (`tries_left`, `serial`, ...).
    pub details: Value,
}

impl ToolError {
    /// A new error.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        ToolError {
            exit,
            message: message.into(),
            details: json!({}),
        }
    }
    /// Bad input.
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(Exit::BadInput, message)
    }
    /// Add a JSON detail.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(m) = &mut self.details {
            m.insert(key.to_string(), value.into());
        }
        self
    }
    /// Name the token (every error about a token names its serial).
    pub fn on_token(mut self, serial: &str) -> Self {
        if !serial.is_empty() && !self.message.contains(serial) {
            self.message = t!(
                "err-on-token",
                serial = serial,
                message = self.message.clone()
            );
        }
        self.with("serial", serial)
    }
    /// The JSON error document.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "error": {
                "kind": self.exit.name(),
                "exit_code": self.exit as u8,
                "message": self.message,
            }
        });
        if let (Some(Value::Object(e)), Value::Object(d)) = (v.get_mut("error"), &self.details) {
            for (k, x) in d {
                e.insert(k.clone(), x.clone());
            }
        }
        v
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToolError {}

/// Result alias.
pub type Result<T> = std::result::Result<T, ToolError>;

/// Map a token-layer error to what the user is told. Wrong-PIN errors get their tries left
/// from the caller (it asks the card), not here.
pub fn from_token(e: token::Error) -> ToolError {
    use token::Error as E;
    match e {
        E::PinIncorrect => ToolError::new(Exit::WrongPin, t!("err-wrong-pin")),
        E::PinLocked => ToolError::new(Exit::PinLocked, t!("err-pin-locked")),
        E::PinLenRange => ToolError::input(t!("err-pin-len-range")),
        E::PinInvalid => ToolError::input(t!("err-pin-invalid")),
        E::TokenNotPresent | E::DeviceRemoved => ToolError::new(Exit::Card, t!("err-removed")),
        E::Device(m) => ToolError::new(Exit::Card, t!("err-card", detail = m)),
        E::DeviceMemory => ToolError::new(Exit::TokenFull, t!("err-token-full")),
        E::TokenWriteProtected => ToolError::new(Exit::NotPossible, t!("err-write-protected")),
        E::TokenNotRecognized => ToolError::new(Exit::NotPossible, t!("err-not-initialised")),
        E::UserPinNotInitialized => ToolError::new(Exit::NotPossible, t!("err-no-user-pin")),
        E::KeySizeRange => ToolError::new(Exit::NotPossible, t!("err-key-size")),
        E::KeyFunctionNotPermitted => ToolError::new(Exit::NotPossible, t!("err-key-usage")),
        E::ArgumentsBad(m) => ToolError::input(m),
        E::SessionExists => ToolError::new(Exit::NotPossible, t!("err-sessions-open")),
        other => ToolError::new(
            Exit::Internal,
            t!("err-internal", detail = other.to_string()),
        ),
    }
}
