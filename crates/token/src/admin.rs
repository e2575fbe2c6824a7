//! What the management tool (`crates/cli`) needs beyond the PKCS#11 calls, with the same policy
//! the library enforces: typed object listing, the card's tries query, rename and timeout
//! changes that keep the objects, and initialisation with every parameter (user PIN, maximum
//! tries, PIN policies, timeout) instead of the configuration `C_InitToken` uses.
//!
//! Every method here goes through the same checks as its PKCS#11 counterpart: PIN policy
//! before any APDU, R/W session and login where the card needs them, counters updated from the
//! card's answers.

use crate::error::{Error, Result};
use crate::login::{check_pin, LoginState, PinCounter};
use crate::token::{Handles, Token};
use cryptoki_sys::{CK_OBJECT_HANDLE, CK_SESSION_HANDLE};
use token_backend::{CardFacts, InitParams, ObjectMeta, PinRole, PinStatus, TokenDescription};

/// Longest token label PKCS#11 can carry (`CK_TOKEN_INFO.label`): 32 bytes of UTF-8.
pub const MAX_LABEL_BYTES: usize = 32;

/// Check a token label: at most 32 bytes of UTF-8, no control characters. A label whose UTF-8
/// does not fit is refused (never cut in the middle of a character).
pub fn check_label(label: &str) -> std::result::Result<(), String> {
    if label.len() > MAX_LABEL_BYTES {
        return Err(format!(
            "the label is {} bytes of UTF-8; at most {MAX_LABEL_BYTES} fit",
            label.len()
        ));
    }
    if label.chars().any(char::is_control) {
        return Err("the label contains a control character".into());
    }
    Ok(())
}

/// Everything an initialisation writes, and how it is authorised.
pub struct InitSpec<'a> {
    /// What is written (label, new PINs, maximum tries, policies, timeout).
    pub params: InitParams<'a>,
    /// The token's current SO PIN, needed to re-initialise an initialised token.
    pub current_so_pin: Option<&'a [u8]>,
    /// Erase with the card's own erase, without the current SO PIN: the way out for a token
    /// whose SO PIN is unknown or locked (everything on it is lost).
    pub erase: bool,
}

/// Largest maximum-tries value the vendor tool offers (and this project accepts).
pub const MAX_TRIES_LIMIT: u8 = 10;
/// Longest inactivity timeout, minutes.
pub const MAX_TIMEOUT_MINUTES: u16 = 600;

impl Token {
    /// What the token said of itself when it was opened (or last changed).
    pub fn description(&self) -> &TokenDescription {
        &self.desc
    }

    /// Variant, layout and ATR (no APDU).
    pub fn card_facts(&mut self) -> CardFacts {
        self.backend.card_facts()
    }

    /// Ask the card how many tries a PIN has left (no try is spent) and remember the answer
    /// for the `CKF_*_PIN_*` flags.
    pub fn query_pin(&mut self, role: PinRole) -> Result<PinStatus> {
        if !self.desc.initialized {
            return Ok(PinStatus {
                tries_left: None,
                max_tries: 0,
                initialized: false,
            });
        }
        let s = self.backend.pin_status(role).map_err(|e| self.be(e))?;
        *self.counter(role) = PinCounter::from_status(&s);
        Ok(s)
    }

    /// The tries left as the last PIN result told them (no APDU): after a wrong PIN the card's
    /// answer already said how many are left.
    pub fn known_tries_left(&self, role: PinRole) -> Option<u8> {
        match role {
            PinRole::User => self.user_pin.tries_left,
            PinRole::So => self.so_pin.tries_left,
        }
    }

    /// The visible objects with their handles (re-reads the directory if another process
    /// changed the token).
    pub fn list_objects(
        &mut self,
        handles: &Handles,
    ) -> Result<Vec<(CK_OBJECT_HANDLE, ObjectMeta)>> {
        self.refresh_objects(handles)?;
        self.ensure_objects(handles)?;
        let login = self.login;
        Ok(self
            .entries()
            .iter()
            .filter(|e| !e.meta.private || matches!(login, LoginState::User { .. }))
            .map(|e| (e.handle, e.meta.clone()))
            .collect())
    }

    /// Metadata of every object, private ones included: the directory files are readable
    /// without a PIN (OpenSC lists private keys without one too); values of private objects
    /// still need the login. The tool uses it to tell whether a certificate's key is on the
    /// token.
    pub fn list_all_objects(
        &mut self,
        handles: &Handles,
    ) -> Result<Vec<(CK_OBJECT_HANDLE, ObjectMeta)>> {
        self.refresh_objects(handles)?;
        self.ensure_objects(handles)?;
        Ok(self
            .entries()
            .iter()
            .map(|e| (e.handle, e.meta.clone()))
            .collect())
    }

    /// The value of a visible object: certificate DER, public key SPKI DER, data value.
    pub fn object_value(&mut self, handles: &Handles, o: CK_OBJECT_HANDLE) -> Result<Vec<u8>> {
        let i = self.index(handles, o)?;
        if self.entries()[i].meta.kind == token_backend::ObjectKind::PrivateKey {
            return Err(Error::AttributeSensitive);
        }
        self.value(i)
    }

    /// Rename the token; its objects stay. Needs an R/W session and the user or SO logged in
    /// (the card protects the token-info file with the user PIN).
    pub fn rename(&mut self, h: CK_SESSION_HANDLE, label: &str) -> Result<()> {
        self.require_rw(h)?;
        self.check_writable()?;
        check_label(label).map_err(|_| Error::ArgumentsBad("label longer than 32 bytes"))?;
        if self.login == LoginState::Public {
            return Err(Error::UserNotLoggedIn);
        }
        self.backend.set_label(label).map_err(|e| self.be(e))?;
        self.desc = self.backend.describe().map_err(|e| self.be(e))?;
        Ok(())
    }

    /// Change the stored inactivity timeout (minutes, 0..=600). Needs an R/W session and a
    /// login.
    pub fn set_auth_timeout(&mut self, h: CK_SESSION_HANDLE, minutes: u16) -> Result<()> {
        self.require_rw(h)?;
        self.check_writable()?;
        if minutes > MAX_TIMEOUT_MINUTES {
            return Err(Error::ArgumentsBad("timeout above 600 minutes"));
        }
        if self.login == LoginState::Public {
            return Err(Error::UserNotLoggedIn);
        }
        self.backend
            .set_auth_timeout(minutes)
            .map_err(|e| self.be(e))?;
        self.desc = self.backend.describe().map_err(|e| self.be(e))?;
        Ok(())
    }

    /// Unblock (or reset) the user PIN with the SO PIN: log in as SO, set the new user PIN
    /// (which resets its counter), log out. No session may be open but the caller's R/W one.
    pub fn unblock_user_pin(
        &mut self,
        h: CK_SESSION_HANDLE,
        so_pin: &[u8],
        new_user_pin: &[u8],
    ) -> Result<()> {
        self.require_rw(h)?;
        check_pin(&self.desc.user_pin_policy, new_user_pin)?;
        if self.login != LoginState::Public {
            self.logout()?;
        }
        self.login(cryptoki_sys::CKU_SO, so_pin)?;
        let r = self.init_pin(h, new_user_pin);
        let _ = self.logout();
        r
    }

    /// Erase the token and create a fresh layout with every parameter given. An initialised
    /// token needs its current SO PIN (verified first: a wrong one costs a try and erases
    /// nothing).
    pub fn initialize(&mut self, spec: &InitSpec<'_>) -> Result<()> {
        if !self.sessions.is_empty() {
            return Err(Error::SessionExists);
        }
        if self.desc.write_protected.is_some() && !self.desc.initialized {
            return Err(Error::TokenWriteProtected);
        }
        check_label(spec.params.label)
            .map_err(|_| Error::ArgumentsBad("label longer than 32 bytes"))?;
        if spec.params.user_max_tries > MAX_TRIES_LIMIT
            || spec.params.so_max_tries > MAX_TRIES_LIMIT
        {
            return Err(Error::ArgumentsBad("maximum tries out of range 0..10"));
        }
        if spec.params.auth_timeout_minutes > MAX_TIMEOUT_MINUTES {
            return Err(Error::ArgumentsBad("timeout out of range 0..600 minutes"));
        }
        check_pin(&spec.params.so_pin_policy, spec.params.so_pin)?;
        if let Some(u) = spec.params.user_pin {
            check_pin(&spec.params.user_pin_policy, u)?;
        }
        if spec.erase {
            self.backend
                .erase_and_init(&spec.params)
                .map_err(|e| self.be(e))?;
            return self.after_init();
        }
        if self.desc.initialized && self.so_pin.initialized {
            let cur = spec.current_so_pin.ok_or(Error::UserNotLoggedIn)?;
            if self.so_pin.locked() {
                return Err(Error::PinLocked);
            }
            let r = self.backend.login(PinRole::So, cur);
            self.pin_result(PinRole::So, r)?;
        } else if self.desc.write_protected.is_some() {
            // Feitian-middleware token: its user PIN authorises re-initialisation (glue.rs).
            // The layout's init path takes that PIN as the new SO PIN; change it afterwards.
            let cur = spec.current_so_pin.ok_or(Error::UserNotLoggedIn)?;
            let params = InitParams {
                so_pin: cur,
                ..spec.params.clone()
            };
            self.finish_init(&params)?;
            if cur != spec.params.so_pin {
                let r = self
                    .backend
                    .change_pin(PinRole::So, cur, spec.params.so_pin);
                self.pin_result(PinRole::So, r)?;
                let _ = self.backend.logout();
            }
            return Ok(());
        }
        self.finish_init(&spec.params)
    }

    fn finish_init(&mut self, params: &InitParams<'_>) -> Result<()> {
        self.backend.init_token(params).map_err(|e| self.be(e))?;
        self.after_init()
    }

    /// Back to the public state with a fresh description after an initialisation.
    pub(crate) fn after_init(&mut self) -> Result<()> {
        self.login = LoginState::Public;
        let _ = self.backend.logout();
        self.desc = self.backend.describe().map_err(|e| self.be(e))?;
        self.objects = None;
        self.refresh_counters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(check_label("ePass2003").is_ok());
        assert!(check_label("経理部トークン").is_ok());
        // 11 x 3 = 33 bytes: refused, never cut.
        let long = "あいうえおかきくけこさ";
        assert_eq!(long.len(), 33);
        assert!(check_label(long).unwrap_err().contains("33 bytes"));
        assert!(check_label(&"a".repeat(32)).is_ok());
        assert!(check_label(&"a".repeat(33)).is_err());
        assert!(check_label("a\nb").is_err());
    }
}
