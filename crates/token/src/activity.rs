//! What restarts the inactivity timeout — the one place that decides it.
//!
//! The vendor rule is "log out after N minutes without an operation". An operation here is a
//! call that **uses the login**: polling the token's status is not one, or an application that
//! shows "token present" every second would keep the token logged in forever.
//!
//! * **Every call** that reaches a token or a session first runs [`Token::expire`] (from
//!   [`crate::module::Module::with_token`] / `with_session`): a lost card security state or an
//!   elapsed timeout drops the login to public *before* the call runs, so a status query after
//!   the timeout already shows the public state (`CKS_RO/RW_PUBLIC_SESSION`, no private
//!   objects).
//! * **Only** the operations listed in [`LoginUse`] restart the clock, by calling
//!   [`Token::used_login`] once they got past their login check. Nothing else touches it:
//!   `C_GetSlotInfo`, `C_GetTokenInfo`, `C_GetSessionInfo`, `C_GetMechanism*`,
//!   `C_WaitForSlotEvent`, `C_OpenSession`/`C_CloseSession`, finding or reading **public**
//!   objects, verification and encryption with public keys, digests and random numbers.
//!
//! An operation active when the login ends (signature, decryption) is dropped; the next call
//! of that operation answers `CKR_USER_NOT_LOGGED_IN` (once), so the application learns why.

use super::Token;
use crate::login::LoginState;

/// The operations that use the login, and so restart the inactivity clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginUse {
    /// `C_Login` itself (the clock starts at the successful verification).
    Login,
    /// `C_SignInit`/`C_Sign`/`C_SignUpdate`/`C_SignFinal` with a private key.
    Sign,
    /// `C_DecryptInit`/`C_Decrypt`/`C_DecryptUpdate`/`C_DecryptFinal` with a private key.
    Decrypt,
    /// A private object was found, read (attributes, size) or used (e.g. as a verification key).
    PrivateObject,
    /// `C_GenerateKeyPair`.
    GenerateKey,
    /// `C_CreateObject`, `C_DestroyObject`, `C_SetAttributeValue` in a logged-in session.
    WriteObject,
    /// `C_SetPIN` and `C_InitPIN` while logged in.
    SetPin,
}

impl Token {
    /// Start of every call: apply a lost card security state and the inactivity timeout.
    /// Does **not** restart the clock (see the module documentation).
    pub fn expire(&mut self) {
        if self.backend.take_login_lost() && self.login != LoginState::Public {
            tracing::info!("card security state lost; back to public");
            self.drop_login();
        }
        let now = self.config.clock.now();
        let (s, expired) = self.login.expire(now, self.timeout());
        if expired {
            tracing::info!("authentication timeout; back to public");
            let _ = self.backend.logout();
            self.login = s;
            self.clear_private_ops();
        }
    }

    /// The operation `why` used the login: restart the inactivity clock (no-op when public).
    pub(crate) fn used_login(&mut self, why: LoginUse) {
        if self.login != LoginState::Public {
            tracing::trace!(?why, "inactivity clock restarted");
            self.login = self.login.touch(self.config.clock.now());
        }
    }
}
