//! The login state machine of one token, and the PIN-counter flags.
//!
//! ```text
//!            login(User) ok                 logout / timeout / login lost / removal
//!   Public ───────────────────▶ User{last} ───────────────────────────────────▶ Public
//!     │        login(So) ok                                                      ▲
//!     └───────────────────────▶ So{last}   ──────────────────────────────────────┘
//! ```
//! * A login while logged in: the same role → `CKR_USER_ALREADY_LOGGED_IN`, the other role →
//!   `CKR_USER_ANOTHER_ALREADY_LOGGED_IN`; the state is unchanged.
//! * Every call on a logged-in token first asks [`LoginState::expire`] (which drops to
//!   `Public` once `now - last ≥ timeout`); only the calls that use the login
//!   [`LoginState::touch`] the clock (the rule: `crates/token/src/activity.rs`).
//! * The card's retry counters live in [`PinCounter`]s, updated from `pin_status()` and from
//!   `WrongPin { tries_left }`; [`PinCounter::user_flags`] / [`PinCounter::so_flags`] turn them
//!   into the `CKF_*_PIN_*` token flags.

use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::time::{Duration, Instant};
use token_backend::PinRole;

/// Who is logged in on a token (shared by all its sessions, as PKCS#11 requires).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginState {
    /// Nobody: public objects only.
    Public,
    /// The normal user, last active at the instant given.
    User {
        /// Last operation.
        last: Instant,
    },
    /// The security officer.
    So {
        /// Last operation.
        last: Instant,
    },
}

impl LoginState {
    /// The logged-in role, if any.
    pub fn role(&self) -> Option<PinRole> {
        match self {
            LoginState::Public => None,
            LoginState::User { .. } => Some(PinRole::User),
            LoginState::So { .. } => Some(PinRole::So),
        }
    }

    /// May `role` log in now? (No state change.)
    pub fn check_login(&self, role: PinRole) -> Result<()> {
        match self.role() {
            None => Ok(()),
            Some(r) if r == role => Err(Error::UserAlreadyLoggedIn),
            Some(_) => Err(Error::UserAnotherAlreadyLoggedIn),
        }
    }

    /// The card accepted the PIN of `role`.
    pub fn logged_in(self, role: PinRole, now: Instant) -> LoginState {
        match role {
            PinRole::User => LoginState::User { last: now },
            PinRole::So => LoginState::So { last: now },
        }
    }

    /// `C_Logout`.
    pub fn logout(self) -> Result<LoginState> {
        match self {
            LoginState::Public => Err(Error::UserNotLoggedIn),
            _ => Ok(LoginState::Public),
        }
    }

    /// Drop to `Public` if the inactivity timeout passed; the flag says whether it did.
    pub fn expire(self, now: Instant, timeout: Option<Duration>) -> (LoginState, bool) {
        match (self, timeout) {
            (LoginState::User { last } | LoginState::So { last }, Some(t))
                if now.saturating_duration_since(last) >= t =>
            {
                (LoginState::Public, true)
            }
            (s, _) => (s, false),
        }
    }

    /// Restart the inactivity clock.
    pub fn touch(self, now: Instant) -> LoginState {
        match self {
            LoginState::Public => LoginState::Public,
            LoginState::User { .. } => LoginState::User { last: now },
            LoginState::So { .. } => LoginState::So { last: now },
        }
    }
}

/// What we know of a PIN's retry counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinCounter {
    /// Tries left (None: unknown).
    pub tries_left: Option<u8>,
    /// Maximum tries.
    pub max_tries: u8,
    /// The PIN exists.
    pub initialized: bool,
}

impl Default for PinCounter {
    fn default() -> Self {
        PinCounter {
            tries_left: None,
            max_tries: 0,
            initialized: true,
        }
    }
}

impl PinCounter {
    /// From the backend's status.
    pub fn from_status(s: &token_backend::PinStatus) -> Self {
        PinCounter {
            tries_left: s.tries_left,
            max_tries: s.max_tries,
            initialized: s.initialized,
        }
    }
    /// A wrong PIN was presented.
    pub fn wrong(&mut self, tries_left: u8) {
        self.tries_left = Some(tries_left);
    }
    /// A wrong PIN was presented to a PIN without retry counter (`63 00`): nothing was counted.
    pub fn uncounted(&mut self) {
        self.tries_left = None;
    }
    /// A successful verification resets the counter (a PIN without counter, max 0, keeps
    /// "unknown": no `CKF_*_PIN_*` counter flag ever applies to it).
    pub fn success(&mut self) {
        self.tries_left = (self.max_tries > 0).then_some(self.max_tries);
    }
    /// The PIN is blocked.
    pub fn locked(&self) -> bool {
        self.tries_left == Some(0)
    }
    fn bits(&self) -> (bool, bool, bool) {
        match self.tries_left {
            Some(0) => (false, false, true),
            Some(1) => (true, true, false),
            Some(n) => (self.max_tries > 0 && n < self.max_tries, false, false),
            None => (false, false, false),
        }
    }
    /// `CKF_USER_PIN_COUNT_LOW | FINAL_TRY | LOCKED` as they apply.
    pub fn user_flags(&self) -> CK_FLAGS {
        let (low, fin, lock) = self.bits();
        (if low { CKF_USER_PIN_COUNT_LOW } else { 0 })
            | (if fin { CKF_USER_PIN_FINAL_TRY } else { 0 })
            | (if lock { CKF_USER_PIN_LOCKED } else { 0 })
    }
    /// `CKF_SO_PIN_COUNT_LOW | FINAL_TRY | LOCKED` as they apply.
    pub fn so_flags(&self) -> CK_FLAGS {
        let (low, fin, lock) = self.bits();
        (if low { CKF_SO_PIN_COUNT_LOW } else { 0 })
            | (if fin { CKF_SO_PIN_FINAL_TRY } else { 0 })
            | (if lock { CKF_SO_PIN_LOCKED } else { 0 })
    }
}

/// Which rule of a [`token_backend::PinPolicy`] a new PIN breaks (the first one found, in
/// this order), so that a caller can say precisely what is wrong, in the user's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinRuleViolation {
    /// A character outside printable ASCII (`0x20..=0x7E`) while the policy does not allow
    /// non-ASCII (`allow_non_ascii == false`): e.g. full-width digits typed with a Japanese
    /// input method ("１２３４" is 12 bytes), which would not match the half-width PIN typed
    /// later. Checked before the length, which such a PIN would break misleadingly.
    NotHalfWidth,
    /// The policy allows non-ASCII, but the PIN is not valid UTF-8 or contains a control
    /// character.
    NotPrintableUtf8,
    /// The length in bytes is outside `min..=max`.
    Length {
        /// The PIN's length in bytes.
        len: usize,
        /// The policy's minimum.
        min: u8,
        /// The policy's maximum.
        max: u8,
    },
    /// The policy allows digits only.
    DigitsOnly,
    /// The policy requires at least one digit.
    NeedsDigit,
    /// The policy requires at least one letter.
    NeedsLetter,
}

impl PinRuleViolation {
    /// The PKCS#11 error: `CKR_PIN_LEN_RANGE` for the length, else `CKR_PIN_INVALID`.
    pub fn error(&self) -> Error {
        match self {
            PinRuleViolation::Length { .. } => Error::PinLenRange,
            _ => Error::PinInvalid,
        }
    }
}

impl std::fmt::Display for PinRuleViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinRuleViolation::NotHalfWidth => {
                f.write_str("the PIN must use half-width (ASCII) characters only")
            }
            PinRuleViolation::NotPrintableUtf8 => {
                f.write_str("the PIN must be printable UTF-8 text")
            }
            PinRuleViolation::Length { len, min, max } => {
                write!(f, "the PIN must be {min}..{max} bytes long ({len} given)")
            }
            PinRuleViolation::DigitsOnly => f.write_str("the PIN must contain digits only"),
            PinRuleViolation::NeedsDigit => f.write_str("the PIN must contain a digit"),
            PinRuleViolation::NeedsLetter => f.write_str("the PIN must contain a letter"),
        }
    }
}

impl std::error::Error for PinRuleViolation {}

/// Length and character-class rules, shared by new PINs and `C_Login`.
fn check_len_and_classes(
    policy: &token_backend::PinPolicy,
    pin: &[u8],
) -> std::result::Result<(), PinRuleViolation> {
    if pin.len() < usize::from(policy.min_len) || pin.len() > usize::from(policy.max_len) {
        return Err(PinRuleViolation::Length {
            len: pin.len(),
            min: policy.min_len,
            max: policy.max_len,
        });
    }
    if policy.digits_only && !pin.iter().all(u8::is_ascii_digit) {
        return Err(PinRuleViolation::DigitsOnly);
    }
    if policy.require_digit && !pin.iter().any(u8::is_ascii_digit) {
        return Err(PinRuleViolation::NeedsDigit);
    }
    if policy.require_letter && !pin.iter().any(u8::is_ascii_alphabetic) {
        return Err(PinRuleViolation::NeedsLetter);
    }
    Ok(())
}

/// Check a PIN being **set** (C_InitToken's SO PIN, C_InitPIN, C_SetPIN's new PIN, the tool's
/// init / change / unblock) against a policy, before any APDU. Printable ASCII only unless the
/// policy has `allow_non_ascii` (then: valid UTF-8 without control characters); then the
/// Half-width characters only: printable ASCII (`0x20..=0x7E`), as the vendor manuals define
/// PINs. Also the tool's rule for new PKCS#12 passwords.
pub fn is_half_width(secret: &[u8]) -> bool {
    secret.iter().all(|b| (0x20..=0x7E).contains(b))
}

/// length; then the character classes. Returns the rule that failed.
pub fn check_new_pin(
    policy: &token_backend::PinPolicy,
    pin: &[u8],
) -> std::result::Result<(), PinRuleViolation> {
    if policy.allow_non_ascii {
        match std::str::from_utf8(pin) {
            Ok(s) if !s.chars().any(char::is_control) => {}
            _ => return Err(PinRuleViolation::NotPrintableUtf8),
        }
    } else if !is_half_width(pin) {
        return Err(PinRuleViolation::NotHalfWidth);
    }
    check_len_and_classes(policy, pin)
}

/// [`check_new_pin`] as a PKCS#11 error: `Err(PinLenRange)` for the length, `Err(PinInvalid)`
/// for the character rules. For PINs being set; `C_Login` uses [`check_login_pin`].
pub fn check_pin(policy: &token_backend::PinPolicy, pin: &[u8]) -> Result<()> {
    check_new_pin(policy, pin).map_err(|v| v.error())
}

/// The check of a PIN presented to `C_Login`: length and character classes only. The
/// character set is **not** checked: an existing PIN may be non-ASCII (set on a token
/// initialised elsewhere), and only the card can say whether it is right.
pub fn check_login_pin(policy: &token_backend::PinPolicy, pin: &[u8]) -> Result<()> {
    check_len_and_classes(policy, pin).map_err(|v| v.error())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn transitions() {
        let t0 = Instant::now();
        let s = LoginState::Public;
        assert_eq!(s.logout(), Err(Error::UserNotLoggedIn));
        s.check_login(PinRole::User).unwrap();
        let s = s.logged_in(PinRole::User, t0);
        assert_eq!(
            s.check_login(PinRole::User),
            Err(Error::UserAlreadyLoggedIn)
        );
        assert_eq!(
            s.check_login(PinRole::So),
            Err(Error::UserAnotherAlreadyLoggedIn)
        );
        let t = Some(Duration::from_secs(60));
        let (s, e) = s.expire(t0 + Duration::from_secs(59), t);
        assert!(!e);
        let s = s.touch(t0 + Duration::from_secs(59));
        let (s2, e) = s.expire(t0 + Duration::from_secs(100), t);
        assert!(!e && s2 == s);
        let (s3, e) = s.expire(t0 + Duration::from_secs(119), t);
        assert!(e);
        assert_eq!(s3, LoginState::Public);
        let (s4, e) = LoginState::So { last: t0 }.expire(t0 + Duration::from_secs(9999), None);
        assert!(!e && s4.role() == Some(PinRole::So));
        assert_eq!(s4.logout().unwrap(), LoginState::Public);
    }

    #[test]
    fn counter_flags() {
        let mut c = PinCounter {
            tries_left: Some(6),
            max_tries: 6,
            initialized: true,
        };
        assert_eq!(c.user_flags(), 0);
        c.wrong(5);
        assert_eq!(c.user_flags(), CKF_USER_PIN_COUNT_LOW);
        c.wrong(1);
        assert_eq!(
            c.user_flags(),
            CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY
        );
        assert_eq!(c.so_flags(), CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY);
        c.wrong(0);
        assert_eq!(c.user_flags(), CKF_USER_PIN_LOCKED);
        assert!(c.locked());
        c.success();
        assert_eq!(c.user_flags(), 0);
    }

    /// Max tries 0 = no retry counter: success and `63 00` keep the tries unknown, no flags.
    #[test]
    fn counter_without_retry_counter() {
        let mut c = PinCounter {
            tries_left: None,
            max_tries: 0,
            initialized: true,
        };
        c.uncounted();
        assert_eq!((c.user_flags(), c.so_flags(), c.locked()), (0, 0, false));
        c.success();
        assert_eq!(c.tries_left, None);
        assert_eq!((c.user_flags(), c.locked()), (0, false));
    }

    #[test]
    fn pin_policy() {
        let p = token_backend::PinPolicy::default();
        assert_eq!(check_pin(&p, b"123"), Err(Error::PinLenRange));
        assert_eq!(check_pin(&p, &[b'1'; 17]), Err(Error::PinLenRange));
        check_pin(&p, b"1234").unwrap();
        let p = token_backend::PinPolicy {
            digits_only: true,
            ..p
        };
        assert_eq!(check_pin(&p, b"12a4"), Err(Error::PinInvalid));
    }

    #[test]
    fn new_pins_are_half_width_by_default() {
        let p = token_backend::PinPolicy::default();
        let full = "１２３４５"; // full-width digits, 15 bytes
        assert_eq!(full.len(), 15);
        assert_eq!(
            check_new_pin(&p, full.as_bytes()),
            Err(PinRuleViolation::NotHalfWidth)
        );
        assert_eq!(check_pin(&p, full.as_bytes()), Err(Error::PinInvalid));
        // 18 bytes: the character rule is reported, not the length.
        assert_eq!(
            check_new_pin(&p, "１２３４５６".as_bytes()),
            Err(PinRuleViolation::NotHalfWidth)
        );
        assert_eq!(
            check_new_pin(&p, b"12\t34"),
            Err(PinRuleViolation::NotHalfWidth),
            "a tab is not printable"
        );
        assert_eq!(
            check_new_pin(&p, b"12\x0934"),
            Err(PinRuleViolation::NotHalfWidth)
        );
        assert_eq!(check_new_pin(&p, b"a b~1"), Ok(()));
        assert_eq!(
            check_new_pin(&p, &[b'1', b'2', b'3', 0x7F]),
            Err(PinRuleViolation::NotHalfWidth)
        );
        // Login does not check the character set.
        check_login_pin(&p, full.as_bytes()).unwrap();
        assert_eq!(check_login_pin(&p, b"123"), Err(Error::PinLenRange));
        // An administrator may allow UTF-8.
        let u = token_backend::PinPolicy {
            allow_non_ascii: true,
            ..p.clone()
        };
        check_new_pin(&u, full.as_bytes()).unwrap();
        assert_eq!(
            check_new_pin(&u, &[0xFF, 0xFE, b'1', b'2']),
            Err(PinRuleViolation::NotPrintableUtf8)
        );
        assert_eq!(
            check_new_pin(&u, b"12\n34"),
            Err(PinRuleViolation::NotPrintableUtf8)
        );
        assert_eq!(
            check_new_pin(&u, "12\u{7}34".as_bytes()),
            Err(PinRuleViolation::NotPrintableUtf8)
        );
        assert_eq!(
            check_new_pin(&u, "１２３４５６".as_bytes()),
            Err(PinRuleViolation::Length {
                len: 18,
                min: 4,
                max: 16
            })
        );
    }

    #[test]
    fn violations_name_the_rule() {
        let p = token_backend::PinPolicy::default();
        let v = check_new_pin(&p, b"12").unwrap_err();
        assert_eq!(
            v,
            PinRuleViolation::Length {
                len: 2,
                min: 4,
                max: 16
            }
        );
        assert_eq!(v.error(), Error::PinLenRange);
        assert!(v.to_string().contains("4..16"));
        let d = token_backend::PinPolicy {
            digits_only: true,
            ..p.clone()
        };
        assert_eq!(
            check_new_pin(&d, b"12a4"),
            Err(PinRuleViolation::DigitsOnly)
        );
        let l = token_backend::PinPolicy {
            require_letter: true,
            require_digit: true,
            ..p.clone()
        };
        assert_eq!(
            check_new_pin(&l, b"abcd"),
            Err(PinRuleViolation::NeedsDigit)
        );
        assert_eq!(
            check_new_pin(&l, b"1234"),
            Err(PinRuleViolation::NeedsLetter)
        );
        check_new_pin(&l, b"ab12").unwrap();
    }
}
