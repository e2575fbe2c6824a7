//! Typed driver errors (conventions §4 item 5).

use crate::sw::StatusWord;

/// Result alias for the driver.
pub type Result<T> = std::result::Result<T, Error>;

/// Every way a card operation can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The card answered with a status word that has no more specific variant here.
    #[error("card returned status {0}")]
    Sw(StatusWord),
    /// PIN (key) authentication failed; `tries_left` attempts remain (SW `63Cx`, §5.12).
    #[error("wrong PIN, {tries_left} tries left")]
    WrongPin {
        /// Remaining attempts reported by the card.
        tries_left: u8,
    },
    /// PIN (key) authentication failed, and the key keeps no retry counter: SW `63 00` (max
    /// tries 0 at INSTALL SECRET KEY, §5.10 byte 9; the attempt is not counted and never
    /// blocks). Tries left are unknown/unlimited.
    #[error("wrong PIN (the key has no retry counter)")]
    WrongPinNoCounter,
    /// The PIN or key is blocked (SW `6983`).
    #[error("PIN blocked")]
    PinBlocked,
    /// File or application not found (SW `6A82`).
    #[error("file not found")]
    FileNotFound,
    /// Security status not satisfied (SW `6982`).
    #[error("security status not satisfied")]
    SecurityStatus,
    /// The card was removed (or pulled mid-exchange).
    #[error("card removed")]
    Removed,
    /// The card was reset by someone else; the SM session and login state are gone.
    #[error("card was reset")]
    CardReset,
    /// A protected response failed verification (MAC, DO99/SW mismatch, malformed DOs), or the
    /// card answered a wrapped command in plain.
    #[error("secure messaging verification failed: {0}")]
    SmVerification(String),
    /// Mutual authentication (§3.3) failed.
    #[error("mutual authentication failed: {0}")]
    MutualAuth(String),
    /// Error reported by the transport layer (PC/SC, replay, ...).
    #[error("transport error: {0}")]
    Transport(String),
    /// The card's answer could not be parsed.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The caller passed an argument the protocol cannot express.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The card received a PIN attempt but its answer could not be verified (secure-messaging
    /// failure on the response). The attempt may have been counted, so it is not resent: the
    /// session has been re-established; ask the card for the tries left.
    #[error(
        "the outcome of the PIN attempt is unknown (its answer failed verification); not retried"
    )]
    PinOutcomeUnknown,
    /// The operation is not supported by the protocol or by this card.
    #[error("not supported: {0}")]
    NotSupported(String),
}

impl Error {
    /// Map a non-success status word to the most specific error (§7).
    pub fn from_sw(sw: StatusWord) -> Error {
        match sw {
            StatusWord::FileNotFound => Error::FileNotFound,
            StatusWord::SecurityStatusNotSatisfied => Error::SecurityStatus,
            StatusWord::AuthMethodBlocked => Error::PinBlocked,
            StatusWord::VerifyFail { tries } => Error::WrongPin { tries_left: tries },
            other => Error::Sw(other),
        }
    }

    /// True for the conditions that mean "the SM session is lost" (§3.6): SW `6985`/`6988` or an
    /// SM verification failure.
    pub fn is_session_loss(&self) -> bool {
        matches!(
            self,
            Error::SmVerification(_)
                | Error::CardReset
                | Error::Sw(StatusWord::ConditionsNotSatisfied)
                | Error::Sw(StatusWord::SmDataIncorrect)
        )
    }
}
