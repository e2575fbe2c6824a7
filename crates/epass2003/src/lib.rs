//! Host-side driver for the Feitian ePass2003 (FTCOS) card OS.
//!
//! Layers, bottom up (section numbers refer to `docs/epass2003-protocol.md`):
//!
//! * [`transport`] — the [`transport::Transport`] trait with a transaction guard
//!   ([`transport::Exchange`]), implemented for PC/SC, the in-process emulator (feature
//!   `emulator`) and a replay/recorder pair.
//! * [`apdu`], [`sw`], [`tlv`] — command/response encoding, open enums for INS and status words.
//! * [`crypto`], [`sm`] — the secure-messaging channel (§3): mutual authentication, session keys,
//!   command wrapping and checked response unwrapping for the 3DES, AES and FIPS variants.
//! * [`fci`] — FID hook (§4.1), FCI parsing (§4.5), FCP builders (§4.4, §8.3).
//! * [`card`] — [`card::Connection`] (one per card connection, owns the SM state) and
//!   [`card::CardSession`] (one transaction; every card command is a typed method on it).
//!
//! Response MACs are verified for 3DES and AES. For FIPS tokens the response MAC is **not**
//! verified (protocol §11.1.1: its algorithm is unknown); DO99 is still checked against the SW.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod apdu;
pub mod card;
pub mod commands;
pub mod crypto;
pub mod error;
pub mod fci;
pub mod sm;
pub mod sw;
pub mod tlv;
pub mod transport;

pub use card::{CardSession, ConnectOptions, Connection};
pub use error::Error;
pub use sm::Variant;
pub use sw::StatusWord;

/// Entry points for fuzz targets (not a stable API).
#[doc(hidden)]
pub mod fuzzing {
    /// Parse an FCI; must never panic.
    pub fn fci(data: &[u8]) {
        let _ = crate::fci::Fci::parse(data);
    }
    /// Split a response APDU and map its status word; must never panic.
    pub fn response(data: &[u8]) {
        if let Ok(r) = crate::apdu::Response::from_bytes(data) {
            let _ = r.into_result();
        }
    }
    /// Walk a BER TLV list; must never panic.
    pub fn tlv(data: &[u8]) {
        let _ = crate::tlv::parse_all(data);
    }
    /// Unwrap an arbitrary response with a fixed AES session; must never panic.
    pub fn sm_unwrap(data: &[u8]) {
        let mut ch = crate::sm::SecureChannel::from_parts(
            crate::sm::Variant::Aes,
            [1u8; 16],
            [2u8; 16],
            [0u8; 16],
        );
        let _ = ch.unwrap_response(data);
    }
}
