//! A software Feitian ePass2003 (FTCOS) card.
//!
//! The card side of `docs/protocol-notes.md` / the shared protocol document: ATR, GET DATA,
//! SCP01/SCP03-style mutual authentication and secure messaging (3DES, AES, FIPS variants), an
//! ISO 7816-4 file system with FCP/FCI and access conditions, PIN keys with persisted retry
//! counters, and RSA/EC keys generated or imported "on card".
//!
//! Public API (stable; the driver's in-process transport and the `epass2003-emu` binary use it):
//!
//! * [`Card`]: one card. [`Card::new_blank`] makes an erased card of a [`Variant`];
//!   [`Card::power_on`], [`Card::reset`], [`Card::power_off`] model the reader's contact
//!   control (volatile state: SM session, security level, current DF/EF, challenge, MSE is cleared
//!   on power-on and reset); [`Card::atr`]; [`Card::transmit`] takes one command APDU (short or
//!   extended) and returns the full response APDU (data ‖ SW1 SW2).
//! * Persistence: [`Card::to_state_bytes`] / [`Card::from_state_bytes`] (the whole persistent
//!   state, versioned), and [`Card::set_persister`]: a callback that the card calls with the new
//!   state *before* it answers any command that changed persistent state (a retry counter, a file,
//!   a key). [`store::StateFile`] implements it with a lock, a temp file, fsync and rename.
//! * Test hooks ([`hooks::Hooks`]): pull the card after N APDUs, flip a byte in a response,
//!   a latency model, and counters of APDUs and bytes ([`hooks::Counters`]).
//! * [`vpcd`]: attaches a card to pcscd's vpcd virtual reader.
//! * [`espk`]: the Feitian-middleware ("ENTERSAFE-ESPK") layout constants and encoders shared
//!   with the host-side fixture, and [`espk::factory_card`]: a card in the vendor's factory
//!   state.
#![forbid(unsafe_code)]

pub mod apdu;
pub mod card;
pub mod crypto;
pub mod espk;
pub mod fs;
pub mod hooks;
pub mod sm;
pub mod store;
pub mod vpcd;

pub use card::{Card, CardError, CardOptions, SecretKeyInfo, Variant};

/// Entry points for fuzz targets (`fuzz/`; not a stable API). None may panic on any input.
#[doc(hidden)]
pub mod fuzzing {
    use crate::card::{Card, CardOptions, Variant};

    /// The C-APDU parser.
    pub fn apdu(data: &[u8]) {
        let _ = crate::apdu::Command::parse(data);
    }

    /// A session of APDUs against a blank card (stateful): byte 0 picks the variant and plain
    /// mode (every command processed without secure messaging, so the dispatcher is reached),
    /// then each APDU is a length byte and that many bytes. Afterwards the card's state must
    /// survive a save and load, as the state file does.
    pub fn card_session(data: &[u8]) {
        let Some((&mode, mut rest)) = data.split_first() else {
            return;
        };
        let variant = match mode % 3 {
            0 => Variant::Aes,
            1 => Variant::Fips,
            _ => Variant::Des,
        };
        let mut card = Card::new_blank(
            variant,
            CardOptions {
                rng_seed: Some(7),
                plain_mode: mode & 0x80 == 0,
                ..CardOptions::default()
            },
        );
        card.power_on();
        while let Some((&len, tail)) = rest.split_first() {
            let n = usize::from(len).min(tail.len());
            let _ = card.transmit(&tail[..n]);
            rest = &tail[n..];
        }
        let saved = card.to_state_bytes();
        let loaded = Card::from_state_bytes(&saved);
        assert!(
            loaded.is_ok(),
            "a card's own state does not load: {loaded:?}"
        );
    }

    /// The vpcd framing as the reader sends it (2-byte big-endian length, then a control
    /// code or a C-APDU), frame after frame, against a blank card in plain mode.
    pub fn vpcd(data: &[u8]) {
        let mut card = Card::new_blank(
            Variant::Aes,
            CardOptions {
                rng_seed: Some(3),
                plain_mode: true,
                ..CardOptions::default()
            },
        );
        let mut rest = data;
        while rest.len() >= 2 {
            let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let body = &rest[2..];
            let msg = &body[..n.min(body.len())];
            if crate::vpcd::answer(&mut card, msg).is_err() {
                return;
            }
            rest = &body[msg.len()..];
        }
    }

    /// The state-file loader: arbitrary bytes never panic; a state that loads saves to a
    /// state that loads again to the same bytes.
    pub fn state_file(data: &[u8]) {
        if let Ok(card) = Card::from_state_bytes(data) {
            let saved = card.to_state_bytes();
            let again = Card::from_state_bytes(&saved).map(|c| c.to_state_bytes());
            assert_eq!(again.ok(), Some(saved));
        }
    }
}
