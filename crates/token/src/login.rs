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
use pkcs15::backend::PinRole;
use std::time::{Duration, Instant};

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
    pub fn from_status(s: &pkcs15::backend::PinStatus) -> Self {
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

/// Check a PIN against a policy before any APDU. `Err(PinLenRange)` for the length,
/// `Err(PinInvalid)` for the character rules.
pub fn check_pin(policy: &pkcs15::backend::PinPolicy, pin: &[u8]) -> Result<()> {
    if pin.len() < usize::from(policy.min_len) || pin.len() > usize::from(policy.max_len) {
        return Err(Error::PinLenRange);
    }
    if policy.digits_only && !pin.iter().all(u8::is_ascii_digit) {
        return Err(Error::PinInvalid);
    }
    if policy.require_digit && !pin.iter().any(u8::is_ascii_digit) {
        return Err(Error::PinInvalid);
    }
    if policy.require_letter && !pin.iter().any(u8::is_ascii_alphabetic) {
        return Err(Error::PinInvalid);
    }
    Ok(())
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
        let p = pkcs15::backend::PinPolicy::default();
        assert_eq!(check_pin(&p, b"123"), Err(Error::PinLenRange));
        assert_eq!(check_pin(&p, &[b'1'; 17]), Err(Error::PinLenRange));
        check_pin(&p, b"1234").unwrap();
        let p = pkcs15::backend::PinPolicy {
            digits_only: true,
            ..p
        };
        assert_eq!(check_pin(&p, b"12a4"), Err(Error::PinInvalid));
    }
}
