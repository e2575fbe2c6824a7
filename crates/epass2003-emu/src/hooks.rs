//! Test hooks: card removal, response corruption, latency, deterministic randomness, counters.

use std::collections::VecDeque;
use std::time::Duration;

/// Artificial delays, applied with `thread::sleep`. All zero by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyModel {
    /// Added to every processed APDU.
    pub per_apdu: Duration,
    /// Added to every RSA private-key operation (PSO 80 86).
    pub per_rsa_op: Duration,
    /// Added to every RSA key generation.
    pub per_rsa_keygen: Duration,
    /// Added to every EC operation (ECDSA signature, EC key generation).
    pub per_ec_op: Duration,
}

/// Hooks that tests (and the emulator binary) can set on a card.
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    /// Process this many more APDUs, then the next `transmit` returns `Err(Removed)` without
    /// processing it. The card stays removed until `Card::reinsert`.
    pub pull_after: Option<u64>,
    /// `(apdu index, byte offset)`: XOR `0x01` into that byte of that R-APDU. The index counts
    /// processed APDUs from 0 since the card was created or loaded.
    pub flip_response_byte: Option<(u64, usize)>,
    /// Artificial latency.
    pub latency: LatencyModel,
    /// Bytes consumed before the RNG for card challenges (INITIALIZE UPDATE) and GET CHALLENGE.
    pub queued_random: VecDeque<u8>,
    /// Play a card of another kind: present this ATR instead of the ePass2003's and answer
    /// every command `6E 00` (class not supported), for hosts' "not an ePass2003" paths.
    pub foreign_atr: Option<Vec<u8>>,
}

/// Traffic and operation counters since the card was created or loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Processed APDUs.
    pub apdus: u64,
    /// Command bytes received.
    pub bytes_in: u64,
    /// Response bytes sent (including SW).
    pub bytes_out: u64,
    /// RSA private-key operations.
    pub rsa_ops: u64,
    /// EC signatures.
    pub ec_ops: u64,
    /// Key pair generations (RSA and EC).
    pub keygens: u64,
}
