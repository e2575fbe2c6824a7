//! The card: persistent state, volatile state, and the command dispatcher.
//!
//! Behaviour choices where the documents leave the card's behaviour open are marked
//! "**Choice:**" in the doc comments below. Summary (for `docs/protocol-notes.md`):
//!
//! * SM: the ICV is incremented for every wrapped command before anything else; a bad MAC or
//!   malformed DOs answer `69 88` plain and the session is kept; a wrapped command without a
//!   session answers `69 88` plain. A wrapped command without DO97 gets no response data (Ne=0);
//!   a plain command without Le gets all its data. INITIALIZE UPDATE Le is honoured as Ne.
//!   INITIALIZE UPDATE key diversification data `00 11 … 99`, key info `01 01` / `01 03 00`.
//!   EXTERNAL AUTHENTICATE (SM) without a pending INITIALIZE UPDATE `69 84`, bad cryptogram/MAC
//!   `63 00` (plain). Wrapped `80 50`/`84 82 03` are not handshake commands (`6D 00`).
//! * The current DF is kept across INITIALIZE UPDATE (OpenSC 0.23.0 caches the path); power-on,
//!   reset and reinsertion make the MF current. A created EF becomes the current EF.
//! * ATR version bytes `23 00 25` (DES/AES), `10 52 39` (FIPS). GET DATA 86 tag 85 = `07 55`
//!   ‖ serial; tag 80 = `02` for DES.
//! * PIN keys: P2 bit 7 set = key in the current DF, clear = key in the MF. The GET CHALLENGE
//!   value is single-use (consumed by the next EXTERNAL AUTHENTICATE with data); without one
//!   `69 84`. A key of the wrong type for the command (04 for 82, 06 for 20) is `6A 88`.
//!   Tries query of a blocked key `69 83`. UPDATE SECRET KEY sets max and remaining to the
//!   high nibble of its first data byte.
//! * INSTALL SECRET KEY authorisation: see `Card::install_secret_key` (new kid: the DF's
//!   BSO UPDATE AC; existing kid: that key's modify AC; byte-identical record: no-op).
//! * ACs: `FF` and unknown condition nibbles are "never"; `0x` behaves like `1x`. The SM
//!   requirement of `8x/9x/Ax/Bx` is met by every wrapped command (and by all commands in plain
//!   mode). DELETE uses the file's byte 3, CREATE the parent DF's byte 1, LIST FILES byte 0,
//!   APPEND RECORD byte 2, GENERATE the UPDATE byte (1) of both key EFs, 80 E7 byte 1 of the
//!   private EF (RSA or EC), READ PUBLIC KEY byte 0, PSO byte 2 (CRYPTO) of the private EF.
//! * Files: FCP inner TLVs over 124 bytes are refused (`6A 80`) so the FCI stays < 128 bytes;
//!   transparent EFs up to 0x7FFF bytes; FCP without tag 86 gets ACs `90`×8; SELECT P2=04
//!   returns the same TLVs under `62`; SFI addressing is not supported (`6A 86`); DELETE of the
//!   current DF itself (not the MF) is allowed and makes the parent current; a DF name must be
//!   unique in the card (`6A 8A`). At most 254 records.
//! * Memory: a capacity (default 64 KiB, [`CardOptions::capacity`]) charged as every file's
//!   body plus a 32-byte header ([`FileNode::cost`]); CREATE FILE or APPEND RECORD beyond it
//!   `6A 84` (after the access, exists and name checks); DELETE and erase free it.
//! * Keys: GENERATE RSA 512..=2048 in steps of 32, e = 65537, FDB must match (`69 81`);
//!   RSA key material is kept as n, e, d (no CRT) and PSO uses d alone; EC import (inferred,
//!   not captured): `80 E7 02` point `04 X Y` / `80 E7 03` d (32 bytes) into an FDB 13 EF; MSE needs FDB 11 + alg 84
//!   or FDB 13 + alg 91/92 (`6A 80` otherwise, `6A 88` if the FID is absent); PSO without a
//!   suitable MSE `6A 88`; PSO RSA input longer than the modulus `67 00`; ECDSA input shorter
//!   than 32 bytes is left-padded (same integer), longer is truncated to its leftmost 32 bytes.
//! * DELETE 3F00 resets the security level to 0 and forgets the MSE.
//! * A seeded card re-seeds from SHA-256(seed ‖ state) when loaded, so it does not replay the
//!   challenges of its previous life.
//! * A panic inside command processing is caught: state restored from the last saved bytes,
//!   volatile state cleared, plain `6F 00`.

use std::io;
use std::str::FromStr;
use std::thread;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use tracing::debug;

use crate::apdu::{read_tlv, Command, Response};
use crate::crypto;
use crate::fs::{self, fdb, FileKind, FileNode, KeyMaterial, KeyRecord, SecretBytes};
use crate::hooks::{Counters, Hooks};
use crate::sm::Session;

mod sharing;
pub use sharing::Backing;

/// Version of the serialised state format.
pub const STATE_VERSION: u32 = 1;

/// The SM cipher variant of the token (protocol §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Variant {
    /// 3DES secure messaging (old tokens).
    Des,
    /// AES secure messaging, SCP01-style.
    Aes,
    /// AES "FIPS" secure messaging, SCP03-style KDF and CMAC.
    Fips,
}

/// Error of [`Variant::from_str`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown variant {0:?} (expected des, aes or fips)")]
pub struct UnknownVariant(pub String);

impl FromStr for Variant {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Variant, UnknownVariant> {
        match s.to_ascii_lowercase().as_str() {
            "des" | "3des" => Ok(Variant::Des),
            "aes" => Ok(Variant::Aes),
            "fips" => Ok(Variant::Fips),
            _ => Err(UnknownVariant(s.to_string())),
        }
    }
}

/// Card construction options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardOptions {
    /// Seed for the card's RNG (serial, challenges, key generation). `None`: OS entropy.
    pub rng_seed: Option<u64>,
    /// A successful PUK (kid 2) authentication resets the user PIN's (kid 1, same DF) retry
    /// counter (compat page §1.10/§2.3). Default `true`.
    pub puk_resets_user_pin: bool,
    /// Static SM encryption key. Default `01 02 … 10`.
    pub k_enc: [u8; 16],
    /// Static SM MAC key. Default `01 02 … 10`.
    pub k_mac: [u8; 16],
    /// Report "SM disabled" in GET DATA 86 and process every command in plain (protocol §3.7).
    /// Default `false`.
    pub plain_mode: bool,
    /// Append `8A 01 05` (life cycle "activated") to every FCI. Default `true`. The §10 vectors
    /// were computed without it.
    pub fci_life_cycle: bool,
    /// Memory capacity in bytes, charged as [`FileNode::tree_cost`] of the MF (every file's
    /// body plus [`fs::FILE_OVERHEAD`]); `None`: [`fs::DEFAULT_CAPACITY`] (64 KiB). CREATE FILE
    /// (and APPEND RECORD) that would exceed it answers `6A 84`. Kept in the state file only if
    /// set, so a card without it is stored exactly as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
}

impl Default for CardOptions {
    fn default() -> Self {
        let k: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        CardOptions {
            rng_seed: None,
            puk_resets_user_pin: true,
            k_enc: k,
            k_mac: k,
            plain_mode: false,
            fci_life_cycle: true,
            capacity: None,
        }
    }
}

/// Errors of the card API (not status words).
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// The card was pulled (by a hook) and has not been reinserted.
    #[error("card removed")]
    Removed,
    /// The state bytes could not be parsed or are inconsistent.
    #[error("corrupt card state: {0}")]
    CorruptState(String),
    /// The state bytes carry a format version this build does not know.
    #[error("unsupported card state version {0} (this build reads version {STATE_VERSION})")]
    UnsupportedVersion(u64),
    /// The persister failed to save a change made through the card API (the change was
    /// rolled back).
    #[error("could not save the card state: {0}")]
    Persist(io::Error),
    /// The shared state cannot be used now (another process holds it too long, or the state
    /// file became unreadable); the reason. No command was processed.
    #[error("card unavailable: {0}")]
    Unavailable(String),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct PersistentState {
    version: u32,
    variant: Variant,
    serial: [u8; 8],
    options: CardOptions,
    mf: Option<FileNode>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MseKind {
    Rsa,
    Ec,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Mse {
    df: Vec<u16>,
    fid: u16,
    kind: MseKind,
}

#[derive(Default)]
struct Volatile {
    session: Option<Session>,
    pending: Option<Session>,
    level: u8,
    cur_df: Option<Vec<u16>>,
    cur_ef: Option<u16>,
    challenge: Option<SecretBytes>,
    mse: Option<Mse>,
}

/// What [`Card::secret_keys`] reports about one installed key (never its value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretKeyInfo {
    /// Path of the DF holding the key, from the MF (`[0x3F00, 0x5015]`).
    pub df: Vec<u16>,
    /// Key type: 01 SM-ENC, 02 SM-MAC, 04 PIN key, 06 plain (magic) PIN.
    pub key_type: u8,
    /// Key id (1 = user PIN, 2 = PUK in OpenSC's layout).
    pub kid: u8,
    /// Maximum tries (0 = no counter).
    pub max_tries: u8,
    /// Tries left.
    pub remaining: u8,
    /// Security level a successful authentication grants.
    pub level: u8,
}

/// The persister callback type of [`Card::set_persister`].
pub type Persister = Box<dyn FnMut(&[u8]) -> io::Result<()> + Send>;

/// One emulated ePass2003 token.
pub struct Card {
    st: PersistentState,
    vol: Volatile,
    rng: StdRng,
    hooks: Hooks,
    counters: Counters,
    removed: bool,
    persister: Option<Persister>,
    /// The shared state store ([`Card::set_backing`]); takes the persister's place.
    backing: Option<Box<dyn Backing>>,
    /// Nesting depth of [`Card::begin_transaction`].
    depth: u32,
    last_saved: Vec<u8>,
    dirty: bool,
    sm_ok: bool,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("variant", &self.st.variant)
            .field("serial", &hex::encode(self.st.serial))
            .field("removed", &self.removed)
            .finish_non_exhaustive()
    }
}

const SW_OK: u16 = 0x9000;

fn sw(v: u16) -> Response {
    Response::sw(v)
}

/// AC check (protocol §4.3): `9x` level ≥ x, `8x` level ≠ x, `Ax` level < x, `Bx` level == x,
/// all four with SM required; `1x` and `0x` level ≥ x without SM. `FF` and anything else:
/// never.
fn ac_satisfied(ac: u8, level: u8, sm: bool) -> bool {
    let x = ac & 0x0F;
    match ac >> 4 {
        0x9 => sm && level >= x,
        0x8 => sm && level != x,
        0xA => sm && level < x,
        0xB => sm && level == x,
        0x1 | 0x0 => level >= x,
        _ => false,
    }
}

fn strip_zeros(v: &[u8]) -> Vec<u8> {
    let first = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    v[first..].to_vec()
}

fn left_pad(v: &[u8], len: usize) -> Vec<u8> {
    if v.len() >= len {
        return v[v.len() - len..].to_vec();
    }
    let mut out = vec![0u8; len - v.len()];
    out.extend_from_slice(v);
    out
}

impl Card {
    /// An erased card (no MF) with a random (or seeded) 8-byte serial.
    pub fn new_blank(variant: Variant, opts: CardOptions) -> Card {
        let mut rng = match opts.rng_seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        let mut serial = [0u8; 8];
        rng.fill_bytes(&mut serial);
        let st = PersistentState {
            version: STATE_VERSION,
            variant,
            serial,
            options: opts,
            mf: None,
        };
        Card::assemble(st, rng)
    }

    /// A card around persistent state `st`: no hooks, zero counters, volatile state cleared, `st`
    /// recorded as the last saved state (the one a failed persist rolls back to).
    fn assemble(st: PersistentState, rng: StdRng) -> Card {
        let mut card = Card {
            st,
            vol: Volatile::default(),
            rng,
            hooks: Hooks::default(),
            counters: Counters::default(),
            removed: false,
            persister: None,
            backing: None,
            depth: 0,
            last_saved: Vec::new(),
            dirty: false,
            sm_ok: false,
        };
        card.last_saved = card.to_state_bytes();
        card.clear_volatile();
        card
    }

    /// The SM variant.
    pub fn variant(&self) -> Variant {
        self.st.variant
    }

    /// The 8-byte serial (GET DATA 01 80).
    pub fn serial(&self) -> [u8; 8] {
        self.st.serial
    }

    /// The 23-byte ATR. Status bytes `03 90 00` when an MF exists, `00 00 00` when erased.
    pub fn atr(&self) -> Vec<u8> {
        if let Some(a) = &self.hooks.foreign_atr {
            return a.clone();
        }
        let ver: [u8; 3] = if self.st.variant == Variant::Fips {
            [0x10, 0x52, 0x39]
        } else {
            [0x23, 0x00, 0x25]
        };
        let status: [u8; 3] = if self.st.mf.is_some() {
            [0x03, 0x90, 0x00]
        } else {
            [0; 3]
        };
        let mut a = vec![
            0x3B, 0x9F, 0x95, 0x81, 0x31, 0xFE, 0x9F, 0x00, 0x66, 0x46, 0x53, 0x05,
        ];
        a.extend_from_slice(&ver);
        a.extend_from_slice(&[0x71, 0xDF, 0x00, 0x00]);
        a.extend_from_slice(&status);
        let tck = a[1..].iter().fold(0u8, |x, b| x ^ b);
        a.push(tck);
        a
    }

    fn clear_volatile(&mut self) {
        self.vol = Volatile::default();
        if self.st.mf.is_some() {
            self.vol.cur_df = Some(vec![0x3F00]);
        }
    }

    /// Power on: clears volatile state (SM session, level, current DF/EF, challenge, MSE).
    pub fn power_on(&mut self) {
        self.clear_volatile();
    }

    /// Warm reset: same as power on.
    pub fn reset(&mut self) {
        self.clear_volatile();
    }

    /// Power off: clears volatile state.
    pub fn power_off(&mut self) {
        self.clear_volatile();
    }

    /// Puts a pulled card back (volatile state cleared, as after power-on).
    pub fn reinsert(&mut self) {
        self.removed = false;
        self.clear_volatile();
    }

    /// The test hooks.
    pub fn hooks_mut(&mut self) -> &mut Hooks {
        &mut self.hooks
    }

    /// Counters since creation or load.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Every installed secret key (PIN keys, PUK, magic PIN, SM keys) with its retry counter,
    /// for inspection by tools and tests. Key values are never exposed.
    pub fn secret_keys(&self) -> Vec<SecretKeyInfo> {
        fn walk(node: &FileNode, path: &mut Vec<u16>, out: &mut Vec<SecretKeyInfo>) {
            if !node.is_df() {
                return;
            }
            path.push(node.fid);
            for k in node.keys() {
                out.push(SecretKeyInfo {
                    df: path.clone(),
                    key_type: k.key_type,
                    kid: k.kid,
                    max_tries: k.max_tries,
                    remaining: k.remaining,
                    level: k.level(),
                });
            }
            for c in node.children() {
                walk(c, path, out);
            }
            path.pop();
        }
        let mut out = Vec::new();
        if let Some(mf) = &self.st.mf {
            walk(mf, &mut Vec::new(), &mut out);
        }
        out
    }

    /// The memory capacity in bytes ([`CardOptions::capacity`], default
    /// [`fs::DEFAULT_CAPACITY`]).
    pub fn capacity(&self) -> usize {
        self.st
            .options
            .capacity
            .map_or(fs::DEFAULT_CAPACITY, |c| c as usize)
    }

    /// The memory the file tree takes now ([`FileNode::tree_cost`] of the MF; 0 when erased).
    /// Derived from the files, so it is always consistent with the state file.
    pub fn memory_used(&self) -> usize {
        self.st.mf.as_ref().map_or(0, FileNode::tree_cost)
    }

    /// The memory left (0 if the capacity was lowered below what is used).
    pub fn memory_free(&self) -> usize {
        self.capacity().saturating_sub(self.memory_used())
    }

    /// Sets the memory capacity (`None`: the default, 64 KiB) and saves it through the
    /// persister, if one is set (a failed save restores the old value). Files already on the
    /// card stay even if they exceed the new capacity; only later creations are refused.
    pub fn set_capacity(&mut self, bytes: Option<u32>) -> Result<(), CardError> {
        // A shared card adopts what other processes wrote first, then makes the change.
        self.begin_transaction()?;
        let prev = std::mem::replace(&mut self.st.options.capacity, bytes);
        let state = self.to_state_bytes();
        let r = self.persist(&state);
        self.end_transaction();
        if let Err(e) = r {
            self.st.options.capacity = prev;
            return Err(CardError::Persist(e));
        }
        self.last_saved = state;
        Ok(())
    }

    /// Whether `extra` more bytes fit.
    fn fits(&self, extra: usize) -> bool {
        self.memory_used().saturating_add(extra) <= self.capacity()
    }

    /// Sets the callback that makes state changes durable. It is called with
    /// [`Card::to_state_bytes`] before the answer to any command that changed persistent state;
    /// if it fails, the change is rolled back and the command answers `65 81`.
    pub fn set_persister(&mut self, p: Persister) {
        self.persister = Some(p);
    }

    /// The whole persistent state (JSON with a `version` field).
    pub fn to_state_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.st).unwrap_or_default()
    }

    /// Loads a card from [`Card::to_state_bytes`] output. Never panics.
    pub fn from_state_bytes(bytes: &[u8]) -> Result<Card, CardError> {
        let st = Self::parse_state(bytes)?;
        // A seeded card loaded from a state file must not replay the challenges of the card it
        // was created as (or of its previous load): mix the seed with the loaded state.
        let rng = match st.options.rng_seed {
            Some(s) => {
                use sha2::{Digest, Sha256};
                let mut h = Sha256::new();
                h.update(s.to_le_bytes());
                h.update(bytes);
                StdRng::from_seed(h.finalize().into())
            }
            None => StdRng::from_entropy(),
        };
        Ok(Card::assemble(st, rng))
    }

    /// Parses and checks [`Card::to_state_bytes`] output.
    fn parse_state(bytes: &[u8]) -> Result<PersistentState, CardError> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| CardError::CorruptState(e.to_string()))?;
        let ver = v
            .get("version")
            .and_then(|x| x.as_u64())
            .ok_or_else(|| CardError::CorruptState("missing version field".into()))?;
        if ver != STATE_VERSION as u64 {
            return Err(CardError::UnsupportedVersion(ver));
        }
        let st: PersistentState =
            serde_json::from_value(v).map_err(|e| CardError::CorruptState(e.to_string()))?;
        if let Some(mf) = &st.mf {
            if mf.fid != 0x3F00 || !mf.is_df() {
                return Err(CardError::CorruptState("root is not a DF 3F00".into()));
            }
        }
        Ok(st)
    }

    /// Processes one command APDU and returns data ‖ SW1 SW2. A shared card
    /// ([`Card::set_backing`]) outside a transaction makes the APDU its own transaction.
    pub fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, CardError> {
        if self.backing.is_some() && self.depth == 0 && !self.removed {
            self.begin_transaction()?;
            let r = self.transmit_in_transaction(capdu);
            self.end_transaction();
            return r;
        }
        self.transmit_in_transaction(capdu)
    }

    fn transmit_in_transaction(&mut self, capdu: &[u8]) -> Result<Vec<u8>, CardError> {
        if self.removed {
            return Err(CardError::Removed);
        }
        if self.hooks.foreign_atr.is_some() {
            return Ok(vec![0x6E, 0x00]);
        }
        if let Some(n) = self.hooks.pull_after {
            if n == 0 {
                self.hooks.pull_after = None;
                self.removed = true;
                self.clear_volatile();
                return Err(CardError::Removed);
            }
            self.hooks.pull_after = Some(n - 1);
        }
        if !self.hooks.latency.per_apdu.is_zero() {
            thread::sleep(self.hooks.latency.per_apdu);
        }
        let index = self.counters.apdus;
        self.counters.apdus += 1;
        self.counters.bytes_in += capdu.len() as u64;
        let mut r =
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.process(capdu))) {
                Ok(r) => r,
                Err(_) => {
                    // Safety net: never let a bug take the host down. Restore the last saved state.
                    if let Ok(st) = serde_json::from_slice::<PersistentState>(&self.last_saved) {
                        self.st = st;
                    }
                    self.clear_volatile();
                    vec![0x6F, 0x00]
                }
            };
        if let Some((i, off)) = self.hooks.flip_response_byte {
            if i == index && off < r.len() {
                r[off] ^= 0x01;
            }
        }
        self.counters.bytes_out += r.len() as u64;
        Ok(r)
    }

    fn process(&mut self, raw: &[u8]) -> Vec<u8> {
        let cmd = match Command::parse(raw) {
            Ok(c) => c,
            Err(_) => {
                debug!(len = raw.len(), "unparsable APDU -> 6700");
                return sw(0x6700).to_bytes();
            }
        };
        let sm_on = !self.st.options.plain_mode;
        let wrapped = sm_on && cmd.cla & 0x0C == 0x0C;
        if wrapped {
            let plain = match self.vol.session.as_mut() {
                None => {
                    debug!(
                        cla = cmd.cla,
                        ins = cmd.ins,
                        "wrapped command without session -> 6988"
                    );
                    return sw(0x6988).to_bytes();
                }
                Some(s) => match s.unwrap_command(&cmd) {
                    Ok(p) => p,
                    Err(e) => {
                        debug!(cla = cmd.cla, ins = cmd.ins, err = ?e, "SM check failed -> 6988 (plain)");
                        return sw(0x6988).to_bytes();
                    }
                },
            };
            let mut resp = self.execute(&plain, true, true);
            let ne = plain.ne.unwrap_or(0);
            resp.data.truncate(ne);
            debug!(
                cla = cmd.cla,
                ins = cmd.ins,
                p1 = cmd.p1,
                p2 = cmd.p2,
                sw = format_args!("{:04X}", resp.sw),
                "wrapped"
            );
            match self.vol.session.as_ref() {
                Some(s) => s.wrap_response(&resp.data, resp.sw),
                // The command itself ended the session (cannot happen today); answer plain.
                None => sw(resp.sw).to_bytes(),
            }
        } else {
            let handshake = (cmd.ins == 0xCA && cmd.p1 == 0x01 && cmd.p2 == 0x86)
                || (cmd.cla == 0x80 && cmd.ins == 0x50)
                || (cmd.cla == 0x84 && cmd.ins == 0x82);
            if sm_on && !handshake {
                debug!(
                    cla = cmd.cla,
                    ins = cmd.ins,
                    "plain command while SM required -> 6988"
                );
                return sw(0x6988).to_bytes();
            }
            let mut resp = self.execute(&cmd, !sm_on, false);
            if let Some(ne) = cmd.ne {
                resp.data.truncate(ne);
            }
            debug!(
                cla = cmd.cla,
                ins = cmd.ins,
                p1 = cmd.p1,
                p2 = cmd.p2,
                sw = format_args!("{:04X}", resp.sw),
                "plain"
            );
            resp.to_bytes()
        }
    }

    /// Personalisation (crate-internal, [`crate::espk::factory_card`]): runs one plain command
    /// APDU as if it had arrived under secure messaging. Every file-system and access rule
    /// applies; only the SM wrapping is skipped. Returns the status word.
    pub(crate) fn execute_personalisation(&mut self, capdu: &[u8]) -> u16 {
        match Command::parse(capdu) {
            Ok(c) => self.execute(&c, true, false).sw,
            Err(_) => 0x6700,
        }
    }

    /// Runs a plain command, then makes any persistent change durable (or rolls it back).
    fn execute(&mut self, cmd: &Command, sm_ok: bool, wrapped: bool) -> Response {
        let saved_level = self.vol.level;
        let saved_df = self.vol.cur_df.clone();
        let saved_ef = self.vol.cur_ef;
        let saved_mse = self.vol.mse.clone();
        self.dirty = false;
        self.sm_ok = sm_ok;
        let mut resp = self.dispatch(cmd, wrapped);
        if self.dirty {
            self.dirty = false;
            let bytes = self.to_state_bytes();
            let ok = self.persist(&bytes).is_ok();
            if ok {
                self.last_saved = bytes;
            } else {
                debug!("persister failed: rolling back, 6581");
                if let Ok(st) = serde_json::from_slice::<PersistentState>(&self.last_saved) {
                    self.st = st;
                }
                self.vol.level = saved_level;
                self.vol.cur_df = saved_df;
                self.vol.cur_ef = saved_ef;
                self.vol.mse = saved_mse;
                resp = sw(0x6581);
            }
        }
        resp
    }

    fn dispatch(&mut self, c: &Command, wrapped: bool) -> Response {
        match c.ins {
            0xCA => self.get_data(c),
            0x50 if !wrapped && c.cla == 0x80 => self.initialize_update(c),
            0x82 if !wrapped && c.cla == 0x84 => self.sm_external_authenticate(c),
            0x82 => self.pin_external_authenticate(c),
            0xA4 => self.select(c),
            0xB0 => self.read_binary(c),
            0xD6 => self.update_binary(c),
            0xB2 => self.read_record(c),
            0xDC => self.update_record(c),
            0xE2 => self.append_record(c),
            0xE0 => self.create_file(c),
            0xE4 => self.delete_file(c),
            0x34 => self.list_files(c),
            0x84 => self.get_challenge(c),
            0xE3 => self.install_secret_key(c),
            0xE5 => self.update_secret_key(c),
            0x20 => self.verify(c),
            0x46 => self.generate(c),
            0xB4 => self.read_public_key(c),
            0xE7 => self.write_key_component(c),
            0x22 => self.mse(c),
            0x2A => self.pso(c),
            _ => sw(0x6D00),
        }
    }

    // ----------------------------------------------------------------- helpers

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.hooks.queued_random.pop_front() {
                Some(b) => out.push(b),
                None => break,
            }
        }
        let have = out.len();
        out.resize(n, 0);
        self.rng.fill_bytes(&mut out[have..]);
        out
    }

    fn ac_ok(&self, ac: u8) -> bool {
        ac_satisfied(ac, self.vol.level, self.sm_ok)
    }

    fn cur_df(&self) -> Option<&FileNode> {
        let mf = self.st.mf.as_ref()?;
        fs::node_at(mf, self.vol.cur_df.as_ref()?)
    }

    fn cur_df_mut(&mut self) -> Option<&mut FileNode> {
        let path = self.vol.cur_df.clone()?;
        let mf = self.st.mf.as_mut()?;
        fs::node_at_mut(mf, &path)
    }

    fn cur_ef(&self) -> Option<&FileNode> {
        let fid = self.vol.cur_ef?;
        self.cur_df()?.child(fid)
    }

    fn cur_ef_mut(&mut self) -> Option<&mut FileNode> {
        let fid = self.vol.cur_ef?;
        self.cur_df_mut()?.child_mut(fid)
    }

    /// Path of the DF that holds key `kid` for a P2 byte: bit 7 set = the current DF
    /// ("local"), clear = the MF. **Choice:** the documents only show local references for PIN
    /// keys and kid 01 with the MF current for the magic PIN; both work with this rule.
    fn key_df_path(&self, p2: u8) -> Option<Vec<u16>> {
        if p2 & 0x80 != 0 {
            self.vol.cur_df.clone()
        } else {
            self.st.mf.as_ref().map(|_| vec![0x3F00])
        }
    }

    fn key_mut(&mut self, path: &[u16], kid: u8) -> Option<&mut KeyRecord> {
        let mf = self.st.mf.as_mut()?;
        fs::node_at_mut(mf, path)?
            .keys_mut()?
            .iter_mut()
            .find(|k| k.kid == kid)
    }

    // ----------------------------------------------------------------- commands

    fn get_data(&mut self, c: &Command) -> Response {
        if c.p1 != 0x01 {
            return sw(0x6A86);
        }
        match c.p2 {
            0x86 => {
                let v = self.st.variant;
                let cc = if v == Variant::Des { 0x02 } else { 0x01 };
                let ss = if self.st.options.plain_mode {
                    0x00
                } else {
                    0x01
                };
                let ff = if v == Variant::Fips { 0x01 } else { 0x00 };
                let mut r = vec![
                    0x80, 0x01, cc, 0x81, 0x02, 0x1D, 0xD4, 0x82, 0x01, 0x00, 0x83, 0x02, 0x00,
                    0x00,
                ];
                r.extend_from_slice(&[0x84, 0x01, ss, 0x85, 0x0A, 0x07, 0x55]);
                r.extend_from_slice(&self.st.serial);
                r.extend_from_slice(&[0x86, 0x01, 0x00, 0x87, 0x01, ff]);
                Response::ok(r)
            }
            0x80 => Response::ok(self.st.serial.to_vec()),
            _ => sw(0x6A88),
        }
    }

    /// INITIALIZE UPDATE: abandons any session and clears the security level.
    fn initialize_update(&mut self, c: &Command) -> Response {
        self.vol.session = None;
        self.vol.pending = None;
        self.vol.level = 0;
        if c.data.len() != 8 {
            return sw(0x6700);
        }
        let mut h = [0u8; 8];
        h.copy_from_slice(&c.data);
        let cc = self.random_bytes(8);
        let mut card_chal = [0u8; 8];
        card_chal.copy_from_slice(&cc);
        let s = Session::derive(
            self.st.variant,
            &self.st.options.k_enc,
            &self.st.options.k_mac,
            h,
            card_chal,
        );
        let r = s.init_update_response();
        self.vol.pending = Some(s);
        Response::ok(r)
    }

    /// EXTERNAL AUTHENTICATE of the SM handshake. **Choice:** without a pending INITIALIZE
    /// UPDATE `69 84`; bad cryptogram or MAC `63 00` (plain; the pending handshake is dropped).
    fn sm_external_authenticate(&mut self, c: &Command) -> Response {
        let Some(mut s) = self.vol.pending.take() else {
            return sw(0x6984);
        };
        if c.p1 != 0x03 || c.p2 != 0x00 {
            return sw(0x6A86);
        }
        if !s.check_external_authenticate(c) {
            return sw(0x6300);
        }
        self.vol.session = Some(s);
        self.vol.level = 0;
        sw(SW_OK)
    }

    fn select(&mut self, c: &Command) -> Response {
        let want_fci = match c.p2 {
            0x00 => Some(true),
            0x04 => Some(false),
            0x0C => None,
            _ => return sw(0x6A86),
        };
        let Some(mf) = self.st.mf.as_ref() else {
            return sw(0x6A82);
        };
        let path: Vec<u16> = match c.p1 {
            0x00 => {
                let fid = match c.data.len() {
                    0 => 0x3F00,
                    2 => u16::from_be_bytes([c.data[0], c.data[1]]),
                    _ => return sw(0x6700),
                };
                if fid == 0x3F00 {
                    vec![0x3F00]
                } else {
                    let Some(cur) = self.vol.cur_df.clone() else {
                        return sw(0x6A82);
                    };
                    let Some(cur_node) = fs::node_at(mf, &cur) else {
                        return sw(0x6A82);
                    };
                    if cur.last() == Some(&fid) {
                        cur
                    } else if cur_node.child(fid).is_some() {
                        let mut p = cur;
                        p.push(fid);
                        p
                    } else if cur.len() >= 2 && cur[cur.len() - 2] == fid {
                        cur[..cur.len() - 1].to_vec()
                    } else {
                        return sw(0x6A82);
                    }
                }
            }
            0x04 => {
                if c.data.is_empty() || c.data.len() > 16 {
                    return sw(0x6A82);
                }
                match fs::find_df_by_name(mf, &c.data) {
                    Some(p) => p,
                    None => return sw(0x6A82),
                }
            }
            _ => return sw(0x6A86),
        };
        let Some(node) = fs::node_at(mf, &path) else {
            return sw(0x6A82);
        };
        let data = match want_fci {
            Some(true) => node.fci(self.st.options.fci_life_cycle),
            Some(false) => {
                let mut f = node.fci(self.st.options.fci_life_cycle);
                f[0] = 0x62;
                f
            }
            None => Vec::new(),
        };
        if node.is_df() {
            self.vol.cur_df = Some(path);
            self.vol.cur_ef = None;
        } else {
            let fid = node.fid;
            self.vol.cur_df = Some(path[..path.len() - 1].to_vec());
            self.vol.cur_ef = Some(fid);
        }
        Response::ok(data)
    }

    /// READ BINARY. **Choice:** offset inside the file: `min(Ne, size − off)` bytes with 9000;
    /// at or past the end `6B 00`; SFI addressing (P1 bit 7) `6A 86`.
    fn read_binary(&mut self, c: &Command) -> Response {
        if c.p1 & 0x80 != 0 {
            return sw(0x6A86);
        }
        let off = u16::from_be_bytes([c.p1, c.p2]) as usize;
        let Some(ef) = self.cur_ef() else {
            return sw(0x6986);
        };
        let FileKind::Transparent { data } = &ef.kind else {
            return sw(0x6981);
        };
        if !self.ac_ok(ef.acs[0]) {
            return sw(0x6982);
        }
        if off >= data.len() {
            return sw(0x6B00);
        }
        let n = c.ne.unwrap_or(256).min(data.len() - off);
        Response::ok(data[off..off + n].to_vec())
    }

    /// UPDATE BINARY. **Choice:** offset past the end `6B 00`, data running past the end `67 00`.
    fn update_binary(&mut self, c: &Command) -> Response {
        if c.p1 & 0x80 != 0 {
            return sw(0x6A86);
        }
        let off = u16::from_be_bytes([c.p1, c.p2]) as usize;
        if c.data.is_empty() {
            return sw(0x6700);
        }
        let sm_level = (self.vol.level, self.sm_ok);
        let Some(ef) = self.cur_ef_mut() else {
            return sw(0x6986);
        };
        let ac = ef.acs[1];
        let FileKind::Transparent { data } = &mut ef.kind else {
            return sw(0x6981);
        };
        if !ac_satisfied(ac, sm_level.0, sm_level.1) {
            return sw(0x6982);
        }
        if off > data.len() {
            return sw(0x6B00);
        }
        if off + c.data.len() > data.len() {
            return sw(0x6700);
        }
        data[off..off + c.data.len()].copy_from_slice(&c.data);
        self.dirty = true;
        sw(SW_OK)
    }

    fn read_record(&mut self, c: &Command) -> Response {
        if c.p2 != 0x04 {
            return sw(0x6A86);
        }
        let Some(ef) = self.cur_ef() else {
            return sw(0x6986);
        };
        let FileKind::Linear { records, .. } = &ef.kind else {
            return sw(0x6981);
        };
        if !self.ac_ok(ef.acs[0]) {
            return sw(0x6982);
        }
        let n = c.p1 as usize;
        if n == 0 || n > records.len() {
            return sw(0x6A83);
        }
        let r = &records[n - 1];
        let len = c.ne.unwrap_or(256).min(r.len());
        Response::ok(r[..len].to_vec())
    }

    fn update_record(&mut self, c: &Command) -> Response {
        if c.p2 != 0x04 {
            return sw(0x6A86);
        }
        let (level, smok) = (self.vol.level, self.sm_ok);
        let Some(ef) = self.cur_ef_mut() else {
            return sw(0x6986);
        };
        let ac = ef.acs[1];
        let FileKind::Linear { records, max_rec } = &mut ef.kind else {
            return sw(0x6981);
        };
        if !ac_satisfied(ac, level, smok) {
            return sw(0x6982);
        }
        let n = c.p1 as usize;
        if n == 0 || n > records.len() {
            return sw(0x6A83);
        }
        if c.data.is_empty() || c.data.len() > *max_rec {
            return sw(0x6700);
        }
        records[n - 1] = c.data.clone();
        self.dirty = true;
        sw(SW_OK)
    }

    fn append_record(&mut self, c: &Command) -> Response {
        if c.p1 != 0 || c.p2 != 0 {
            return sw(0x6A86);
        }
        let (level, smok) = (self.vol.level, self.sm_ok);
        let Some(ef) = self.cur_ef_mut() else {
            return sw(0x6986);
        };
        let ac = ef.acs[2];
        let FileKind::Linear { records, max_rec } = &mut ef.kind else {
            return sw(0x6981);
        };
        if !ac_satisfied(ac, level, smok) {
            return sw(0x6982);
        }
        if c.data.is_empty() || c.data.len() > *max_rec {
            return sw(0x6700);
        }
        if records.len() >= 254 {
            return sw(0x6A84);
        }
        let len = c.data.len();
        if !self.fits(len) {
            return sw(0x6A84);
        }
        let Some(FileKind::Linear { records, .. }) = self.cur_ef_mut().map(|ef| &mut ef.kind)
        else {
            return sw(0x6981);
        };
        records.push(c.data.clone());
        self.dirty = true;
        sw(SW_OK)
    }

    /// CREATE FILE in the current DF. A created DF becomes the current DF; a created EF
    /// becomes the current EF (**choice**, ISO 7816-9) and the current DF does not change.
    fn create_file(&mut self, c: &Command) -> Response {
        if c.p1 != 0 || c.p2 != 0 {
            return sw(0x6A86);
        }
        let node = match FileNode::from_fcp(&c.data) {
            Ok(n) => n,
            Err(fs::FcpError::Bad) => return sw(0x6A80),
            Err(fs::FcpError::TooLarge) => return sw(0x6A84),
        };
        if self.st.mf.is_none() {
            if node.fid != 0x3F00 || !node.is_df() {
                return sw(0x6A82);
            }
            if !self.fits(node.cost()) {
                return sw(0x6A84);
            }
            self.st.mf = Some(node);
            self.vol.cur_df = Some(vec![0x3F00]);
            self.vol.cur_ef = None;
            self.dirty = true;
            return sw(SW_OK);
        }
        if node.fid == 0x3F00 {
            return sw(0x6A89);
        }
        let Some(path) = self.vol.cur_df.clone() else {
            return sw(0x6A82);
        };
        let Some(parent) = self.cur_df() else {
            return sw(0x6A82);
        };
        if !self.ac_ok(parent.acs[1]) {
            return sw(0x6982);
        }
        if parent.fid == node.fid || parent.child(node.fid).is_some() {
            return sw(0x6A89);
        }
        if let Some(name) = node.df_name() {
            if !name.is_empty()
                && self
                    .st
                    .mf
                    .as_ref()
                    .map(|m| fs::df_name_exists(m, name))
                    .unwrap_or(false)
            {
                return sw(0x6A8A);
            }
        }
        // **Choice:** the memory check comes after the access and name checks (a file that
        // exists is `6A 89` even on a full card).
        if !self.fits(node.cost()) {
            return sw(0x6A84);
        }
        let fid = node.fid;
        let is_df = node.is_df();
        let Some(children) = self.cur_df_mut().and_then(|p| p.children_mut()) else {
            return sw(0x6A82);
        };
        children.push(node);
        if is_df {
            let mut p = path;
            p.push(fid);
            self.vol.cur_df = Some(p);
            self.vol.cur_ef = None;
        } else {
            self.vol.cur_ef = Some(fid);
        }
        self.dirty = true;
        sw(SW_OK)
    }

    /// DELETE FILE: a child of the current DF (or the current DF itself); `3F00` erases the
    /// whole card (every file and every key, including the magic PIN), after which nothing is
    /// current and the security level is 0. The SM session survives.
    fn delete_file(&mut self, c: &Command) -> Response {
        if c.p1 != 0 || c.p2 != 0 {
            return sw(0x6A86);
        }
        if c.data.len() != 2 {
            return sw(0x6700);
        }
        let fid = u16::from_be_bytes([c.data[0], c.data[1]]);
        let Some(mf) = self.st.mf.as_ref() else {
            return sw(0x6A82);
        };
        if fid == 0x3F00 {
            if !self.ac_ok(mf.acs[3]) {
                return sw(0x6982);
            }
            self.st.mf = None;
            self.vol.cur_df = None;
            self.vol.cur_ef = None;
            self.vol.mse = None;
            self.vol.level = 0;
            self.dirty = true;
            return sw(SW_OK);
        }
        let Some(path) = self.vol.cur_df.clone() else {
            return sw(0x6A82);
        };
        let Some(df) = self.cur_df() else {
            return sw(0x6A82);
        };
        if let Some(child) = df.child(fid) {
            if !self.ac_ok(child.acs[3]) {
                return sw(0x6982);
            }
            if let Some(ch) = self.cur_df_mut().and_then(|d| d.children_mut()) {
                ch.retain(|f| f.fid != fid);
            }
            if self.vol.cur_ef == Some(fid) {
                self.vol.cur_ef = None;
            }
            self.dirty = true;
            return sw(SW_OK);
        }
        if df.fid == fid && path.len() >= 2 {
            if !self.ac_ok(df.acs[3]) {
                return sw(0x6982);
            }
            let parent_path = path[..path.len() - 1].to_vec();
            if let Some(ch) = self
                .st
                .mf
                .as_mut()
                .and_then(|m| fs::node_at_mut(m, &parent_path))
                .and_then(|p| p.children_mut())
            {
                ch.retain(|f| f.fid != fid);
            }
            self.vol.cur_df = Some(parent_path);
            self.vol.cur_ef = None;
            self.dirty = true;
            return sw(SW_OK);
        }
        sw(0x6A82)
    }

    /// LIST FILES: the 2-byte FIDs of the current DF's children, in creation order.
    fn list_files(&mut self, _c: &Command) -> Response {
        let Some(df) = self.cur_df() else {
            return sw(0x6986);
        };
        if !self.ac_ok(df.acs[0]) {
            return sw(0x6982);
        }
        let mut out = Vec::new();
        for ch in df.children() {
            out.extend_from_slice(&ch.fid.to_be_bytes());
        }
        Response::ok(out)
    }

    /// GET CHALLENGE: 16 bytes (at most Ne are returned), remembered for EXTERNAL AUTHENTICATE.
    fn get_challenge(&mut self, c: &Command) -> Response {
        if c.p1 != 0 || c.p2 != 0 {
            return sw(0x6A86);
        }
        let ch = self.random_bytes(16);
        self.vol.challenge = Some(SecretBytes(ch.clone()));
        Response::ok(ch)
    }

    /// INSTALL SECRET KEY into the current DF; `(DF, kid)` replaces.
    ///
    /// **Choice (authorisation rule):** the install is allowed when
    /// * the current DF has no key with that kid yet, and the DF's BSO (its first BSO child, if
    ///   any) has an UPDATE AC (byte 0) that the current state satisfies — OpenSC's BSOs carry
    ///   `90`, so personalisation right after CREATE DF works; or
    /// * a key with that kid exists and the current state satisfies **that existing key's
    ///   modify AC** (record byte 3): user PIN `96` needs level ≥ 6, PUK `B8` needs exactly
    ///   level 8 — so overwriting the PUK without PUK authentication (compat §2.3) is refused
    ///   with `69 82`; or
    /// * the new record is byte-identical to the existing one (counter included): a no-op,
    ///   which lets an interrupted erase (magic PIN left in the MF) be repeated.
    fn install_secret_key(&mut self, c: &Command) -> Response {
        let d = &c.data;
        if d.len() < 11 {
            return sw(0x6700);
        }
        let key_type = d[0];
        let value = &d[10..];
        let ok_len = match key_type {
            0x01 | 0x02 => value.len() == 16,
            0x04 => value.len() == 24,
            0x06 => (1..=16).contains(&value.len()),
            _ => return sw(0x6A80),
        };
        if !ok_len {
            return sw(0x6700);
        }
        let mut attrs = [0u8; 7];
        attrs.copy_from_slice(&d[2..9]);
        let rec = KeyRecord {
            key_type,
            kid: d[1],
            attrs,
            max_tries: d[9] >> 4,
            remaining: d[9] & 0x0F,
            value: SecretBytes(value.to_vec()),
        };
        let Some(df) = self.cur_df() else {
            return sw(0x6A82);
        };
        match df.keys().iter().find(|k| k.kid == rec.kid) {
            Some(existing) => {
                if *existing != rec && !self.ac_ok(existing.modify_ac()) {
                    return sw(0x6982);
                }
            }
            None => {
                if let Some(bso) = df.children().iter().find(|f| f.fdb == fdb::BSO) {
                    if !self.ac_ok(bso.acs[0]) {
                        return sw(0x6982);
                    }
                }
            }
        }
        let Some(keys) = self.cur_df_mut().and_then(|d| d.keys_mut()) else {
            return sw(0x6A82);
        };
        match keys.iter_mut().find(|k| k.kid == rec.kid) {
            Some(k) => *k = rec,
            None => keys.push(rec),
        }
        self.dirty = true;
        sw(SW_OK)
    }

    /// UPDATE SECRET KEY `80 E5 <type> <kid>`: replaces the value, sets max tries and the
    /// counter to the high nibble of data byte 0. Needs the key's modify AC.
    fn update_secret_key(&mut self, c: &Command) -> Response {
        if c.data.len() < 2 {
            return sw(0x6700);
        }
        let (level, smok) = (self.vol.level, self.sm_ok);
        let Some(keys) = self.cur_df_mut().and_then(|d| d.keys_mut()) else {
            return sw(0x6A88);
        };
        let Some(k) = keys
            .iter_mut()
            .find(|k| k.kid == c.p2 && k.key_type == c.p1)
        else {
            return sw(0x6A88);
        };
        if !ac_satisfied(k.modify_ac(), level, smok) {
            return sw(0x6982);
        }
        let value = &c.data[1..];
        let ok_len = match k.key_type {
            0x01 | 0x02 => value.len() == 16,
            0x04 => value.len() == 24,
            _ => (1..=16).contains(&value.len()),
        };
        if !ok_len {
            return sw(0x6700);
        }
        let max = c.data[0] >> 4;
        k.max_tries = max;
        k.remaining = max;
        k.value = SecretBytes(value.to_vec());
        self.dirty = true;
        sw(SW_OK)
    }

    /// Shared verification logic for PIN EXTERNAL AUTHENTICATE and VERIFY.
    fn authenticate_key(&mut self, c: &Command, want_type: u8) -> Response {
        let kid = c.p2 & 0x7F;
        let Some(path) = self.key_df_path(c.p2) else {
            return sw(0x6A88);
        };
        let (level, smok) = (self.vol.level, self.sm_ok);
        let Some(key) = self.key_mut(&path, kid) else {
            return sw(0x6A88);
        };
        if key.key_type != want_type {
            return sw(0x6A88);
        }
        if !ac_satisfied(key.use_ac(), level, smok) {
            return sw(0x6982);
        }
        if c.data.is_empty() {
            // tries query: counter unchanged
            if key.blocked() {
                return sw(0x6983);
            }
            return sw(0x63C0 | key.remaining.min(15) as u16);
        }
        if key.blocked() {
            return sw(0x6983);
        }
        let key_level = key.level();
        let good = if want_type == 0x04 {
            if c.data.len() != 8 {
                return sw(0x6700);
            }
            let Some(ch) = self.vol.challenge.take() else {
                return sw(0x6984);
            };
            let Some(key) = self.key_mut(&path, kid) else {
                return sw(0x6A88);
            };
            let Ok(k24) = <[u8; 24]>::try_from(key.value.0.as_slice()) else {
                return sw(0x6A88);
            };
            let expect = crypto::tdes3_cbc_enc(&k24, &[0; 8], &ch.0[..8]);
            crypto::ct_eq(&expect, &c.data)
        } else {
            crypto::ct_eq(&key.value.0, &c.data)
        };
        let Some(key) = self.key_mut(&path, kid) else {
            return sw(0x6A88);
        };
        if good {
            if key.remaining != key.max_tries {
                key.remaining = key.max_tries;
                self.dirty = true;
            }
            self.vol.level = self.vol.level.max(key_level);
            if kid == 2 && want_type == 0x04 && self.st.options.puk_resets_user_pin {
                if let Some(user) = self.key_mut(&path, 1) {
                    if user.remaining != user.max_tries {
                        user.remaining = user.max_tries;
                        self.dirty = true;
                    }
                }
            }
            sw(SW_OK)
        } else {
            if key.max_tries == 0 {
                return sw(0x6300);
            }
            key.remaining = key.remaining.saturating_sub(1);
            let left = key.remaining;
            self.dirty = true;
            if left == 0 {
                sw(0x6983)
            } else {
                sw(0x63C0 | left.min(15) as u16)
            }
        }
    }

    /// EXTERNAL AUTHENTICATE with a PIN key (`00 82 01 8k`), or the tries query without data.
    /// **Choice:** no GET CHALLENGE since the last attempt `69 84`; the challenge is single-use.
    fn pin_external_authenticate(&mut self, c: &Command) -> Response {
        if c.p1 != 0x01 {
            return sw(0x6A86);
        }
        self.authenticate_key(c, 0x04)
    }

    /// VERIFY of the plain (type 06) "magic PIN".
    fn verify(&mut self, c: &Command) -> Response {
        if c.p1 != 0x00 {
            return sw(0x6A86);
        }
        self.authenticate_key(c, 0x06)
    }

    fn generate(&mut self, c: &Command) -> Response {
        let d = &c.data;
        if d.len() != 7 {
            return sw(0x6700);
        }
        let alg = d[0];
        let bits = u16::from_be_bytes([d[1], d[2]]) as usize;
        let priv_fid = u16::from_be_bytes([d[3], d[4]]);
        let pub_fid = u16::from_be_bytes([d[5], d[6]]);
        let Some(df) = self.cur_df() else {
            return sw(0x6A82);
        };
        let (Some(pv), Some(pb)) = (df.child(priv_fid), df.child(pub_fid)) else {
            return sw(0x6A82);
        };
        let (want_priv, want_pub) = match alg {
            0x01 => {
                if !(512..=2048).contains(&bits) || bits & 31 != 0 {
                    return sw(0x6A80);
                }
                (fdb::RSA_PRIV, fdb::RSA_PUB)
            }
            0x02 => {
                if bits != 256 {
                    return sw(0x6A80);
                }
                (fdb::EC_PRIV, fdb::EC_PUB)
            }
            _ => return sw(0x6A80),
        };
        if pv.fdb != want_priv || pb.fdb != want_pub {
            return sw(0x6981);
        }
        if !self.ac_ok(pv.acs[1]) || !self.ac_ok(pb.acs[1]) {
            return sw(0x6982);
        }
        let (priv_mat, pub_mat) = if alg == 0x01 {
            if !self.hooks.latency.per_rsa_keygen.is_zero() {
                thread::sleep(self.hooks.latency.per_rsa_keygen);
            }
            use rsa::traits::{PrivateKeyParts, PublicKeyParts};
            let Ok(k) = rsa::RsaPrivateKey::new_with_exp(
                &mut self.rng,
                bits,
                &rsa::BigUint::from(65537u32),
            ) else {
                return sw(0x6F00);
            };
            let n = k.n().to_bytes_be();
            let e = k.e().to_bytes_be();
            let dd = k.d().to_bytes_be();
            (
                KeyMaterial {
                    n: Some(n.clone()),
                    e: Some(e.clone()),
                    d: Some(SecretBytes(dd)),
                    ..Default::default()
                },
                KeyMaterial {
                    n: Some(n),
                    e: Some(e),
                    ..Default::default()
                },
            )
        } else {
            if !self.hooks.latency.per_ec_op.is_zero() {
                thread::sleep(self.hooks.latency.per_ec_op);
            }
            let sk = p256::SecretKey::random(&mut self.rng);
            let pt = sk.public_key();
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            let enc = pt.to_encoded_point(false);
            let xy = enc.as_bytes()[1..].to_vec();
            let dbytes = sk.to_bytes().to_vec();
            (
                KeyMaterial {
                    ec_d: Some(SecretBytes(dbytes)),
                    ec_xy: Some(xy.clone()),
                    ..Default::default()
                },
                KeyMaterial {
                    ec_xy: Some(xy),
                    ..Default::default()
                },
            )
        };
        self.counters.keygens += 1;
        let Some(df) = self.cur_df_mut() else {
            return sw(0x6A82);
        };
        if let Some(FileNode {
            kind: FileKind::Key { material, .. },
            ..
        }) = df.child_mut(priv_fid)
        {
            *material = priv_mat;
        }
        if let Some(FileNode {
            kind: FileKind::Key { material, .. },
            ..
        }) = df.child_mut(pub_fid)
        {
            *material = pub_mat;
        }
        self.dirty = true;
        sw(SW_OK)
    }

    /// READ PUBLIC KEY: RSA (P1 02) the modulus, exactly keybits/8 bytes; EC (P1 00)
    /// `58 20 X 59 20 Y` with 32-byte coordinates.
    fn read_public_key(&mut self, c: &Command) -> Response {
        if c.data.len() != 2 {
            return sw(0x6700);
        }
        let fid = u16::from_be_bytes([c.data[0], c.data[1]]);
        let Some(f) = self.cur_df().and_then(|d| d.child(fid)) else {
            return sw(0x6A82);
        };
        let FileKind::Key { material, bits } = &f.kind else {
            return sw(0x6981);
        };
        if !self.ac_ok(f.acs[0]) {
            return sw(0x6982);
        }
        match c.p1 {
            // exactly keybits/8 bytes: left-pad an (imported) modulus shorter than the file's size
            0x02 => match &material.n {
                Some(n) => Response::ok(left_pad(n, n.len().max(*bits as usize / 8))),
                None => sw(0x6A88),
            },
            0x00 => match &material.ec_xy {
                Some(xy) if xy.len() == 64 => {
                    let mut r = vec![0x58, 0x20];
                    r.extend_from_slice(&xy[..32]);
                    r.extend_from_slice(&[0x59, 0x20]);
                    r.extend_from_slice(&xy[32..]);
                    Response::ok(r)
                }
                _ => sw(0x6A88),
            },
            _ => sw(0x6A86),
        }
    }

    /// WRITE KEY COMPONENT `80 E7 02|03 00 FID value` into a private-key EF of the current DF.
    ///
    /// * RSA EF (FDB 11, protocol §5.16): 02 = n, 03 = d (big-endian, leading zeros ignored).
    ///   The key is usable once both are present; e is not needed.
    /// * EC EF (FDB 13). **Inference, not captured from a real card** (OpenSC never imports EC
    ///   keys, §5.21; see `docs/protocol-notes.md`): the same component numbers by meaning,
    ///   02 = public part (the P-256 point `04 ‖ X ‖ Y`, 65 bytes), 03 = private part (the scalar
    ///   d, exactly 32 bytes big-endian). A wrong length is `67 00`; a point off the curve or
    ///   d outside `1..n-1` is `6A 80`. Writing the point starts a new key (a previous d is
    ///   forgotten); the card does not check that d matches the point (the host does).
    ///
    /// Other FDBs `69 81`; the EF's UPDATE AC (byte 1) gates both forms (`69 82`).
    fn write_key_component(&mut self, c: &Command) -> Response {
        if c.data.len() < 3 {
            return sw(0x6700);
        }
        if c.p1 != 0x02 && c.p1 != 0x03 {
            return sw(0x6A86);
        }
        let fid = u16::from_be_bytes([c.data[0], c.data[1]]);
        let raw = &c.data[2..];
        let (level, smok) = (self.vol.level, self.sm_ok);
        let Some(f) = self.cur_df_mut().and_then(|d| d.child_mut(fid)) else {
            return sw(0x6A82);
        };
        if f.fdb != fdb::RSA_PRIV && f.fdb != fdb::EC_PRIV {
            return sw(0x6981);
        }
        if !ac_satisfied(f.acs[1], level, smok) {
            return sw(0x6982);
        }
        let is_ec = f.fdb == fdb::EC_PRIV;
        let FileKind::Key { material, .. } = &mut f.kind else {
            return sw(0x6981);
        };
        if is_ec {
            if c.p1 == 0x02 {
                if raw.len() != 65 {
                    return sw(0x6700);
                }
                if raw[0] != 0x04 || p256::PublicKey::from_sec1_bytes(raw).is_err() {
                    return sw(0x6A80);
                }
                material.ec_xy = Some(raw[1..].to_vec());
                material.ec_d = None;
            } else {
                if raw.len() != 32 {
                    return sw(0x6700);
                }
                if p256::SecretKey::from_slice(raw).is_err() {
                    return sw(0x6A80);
                }
                material.ec_d = Some(SecretBytes(raw.to_vec()));
            }
            material.n = None;
            material.e = None;
            material.d = None;
        } else {
            let value = strip_zeros(raw);
            if value.is_empty() || value.len() > 256 {
                return sw(0x6A80);
            }
            material.ec_d = None;
            material.ec_xy = None;
            if c.p1 == 0x02 {
                material.n = Some(value);
            } else {
                material.d = Some(SecretBytes(value));
            }
        }
        self.dirty = true;
        sw(SW_OK)
    }

    /// MSE SET `00 22 41 B8|B6 80 01 alg 81 02 FID`: selects a key EF of the current DF.
    /// RSA (B8) needs FDB 11 and alg 84; EC (B6) FDB 13 and alg 91/92. `00 22 F3 ..` (RESTORE)
    /// is accepted as a no-op.
    fn mse(&mut self, c: &Command) -> Response {
        if c.p1 == 0xF3 {
            return sw(SW_OK);
        }
        if c.p1 != 0x41 || (c.p2 != 0xB8 && c.p2 != 0xB6) {
            return sw(0x6A86);
        }
        let mut alg = None;
        let mut fid = None;
        let mut r: &[u8] = &c.data;
        while !r.is_empty() {
            let Some((t, v, rr)) = read_tlv(r) else {
                return sw(0x6A80);
            };
            match (t, v.len()) {
                (0x80, 1) => alg = Some(v[0]),
                (0x81, 2) => fid = Some(u16::from_be_bytes([v[0], v[1]])),
                _ => {}
            }
            r = rr;
        }
        let (Some(alg), Some(fid)) = (alg, fid) else {
            return sw(0x6A80);
        };
        let Some(path) = self.vol.cur_df.clone() else {
            return sw(0x6A88);
        };
        let Some(f) = self.cur_df().and_then(|d| d.child(fid)) else {
            return sw(0x6A88);
        };
        let kind = match c.p2 {
            0xB8 if f.fdb == fdb::RSA_PRIV && alg == 0x84 => MseKind::Rsa,
            0xB6 if f.fdb == fdb::EC_PRIV && (alg == 0x91 || alg == 0x92) => MseKind::Ec,
            _ => return sw(0x6A80),
        };
        self.vol.mse = Some(Mse {
            df: path,
            fid,
            kind,
        });
        sw(SW_OK)
    }

    fn mse_key(&self, kind: MseKind) -> Option<&FileNode> {
        let m = self.vol.mse.as_ref()?;
        if m.kind != kind {
            return None;
        }
        fs::node_at(self.st.mf.as_ref()?, &m.df)?.child(m.fid)
    }

    /// PSO: `80 86` raw RSA with the MSE-selected key (input < n, else `6A 80`; output is the
    /// full modulus length); `9E 9A` ECDSA P-256 over the given hash (leftmost 256 bits),
    /// raw `r ‖ s`. The key's CRYPTO AC (byte 2) is honoured as stored.
    fn pso(&mut self, c: &Command) -> Response {
        match (c.p1, c.p2) {
            (0x80, 0x86) => {
                let Some(f) = self.mse_key(MseKind::Rsa) else {
                    return sw(0x6A88);
                };
                let FileKind::Key { material, .. } = &f.kind else {
                    return sw(0x6A88);
                };
                let (Some(n), Some(d)) = (&material.n, &material.d) else {
                    return sw(0x6A88);
                };
                if !self.ac_ok(f.acs[2]) {
                    return sw(0x6982);
                }
                let k = n.len();
                if c.data.is_empty() || c.data.len() > k {
                    return sw(0x6700);
                }
                let nn = rsa::BigUint::from_bytes_be(n);
                let x = rsa::BigUint::from_bytes_be(&c.data);
                if nn <= rsa::BigUint::from(1u32) || x >= nn {
                    return sw(0x6A80);
                }
                let mut dd = rsa::BigUint::from_bytes_be(&d.0);
                if !self.hooks.latency.per_rsa_op.is_zero() {
                    thread::sleep(self.hooks.latency.per_rsa_op);
                }
                let y = x.modpow(&dd, &nn);
                {
                    use zeroize::Zeroize;
                    dd.zeroize();
                }
                self.counters.rsa_ops += 1;
                Response::ok(left_pad(&y.to_bytes_be(), k))
            }
            (0x9E, 0x9A) => {
                let Some(f) = self.mse_key(MseKind::Ec) else {
                    return sw(0x6A88);
                };
                let FileKind::Key { material, .. } = &f.kind else {
                    return sw(0x6A88);
                };
                let Some(dsec) = &material.ec_d else {
                    return sw(0x6A88);
                };
                if !self.ac_ok(f.acs[2]) {
                    return sw(0x6982);
                }
                if c.data.is_empty() {
                    return sw(0x6700);
                }
                let Ok(sk) = p256::ecdsa::SigningKey::from_slice(&dsec.0) else {
                    return sw(0x6A88);
                };
                let e = if c.data.len() >= 32 {
                    c.data[..32].to_vec()
                } else {
                    left_pad(&c.data, 32)
                };
                if !self.hooks.latency.per_ec_op.is_zero() {
                    thread::sleep(self.hooks.latency.per_ec_op);
                }
                use p256::ecdsa::signature::hazmat::PrehashSigner;
                let sig: Result<p256::ecdsa::Signature, _> = sk.sign_prehash(&e);
                let Ok(sig) = sig else {
                    return sw(0x6F00);
                };
                self.counters.ec_ops += 1;
                Response::ok(sig.to_bytes().to_vec())
            }
            _ => sw(0x6A86),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atr_and_tck() {
        let c = Card::new_blank(
            Variant::Aes,
            CardOptions {
                rng_seed: Some(1),
                ..Default::default()
            },
        );
        let a = c.atr();
        assert_eq!(a.len(), 23);
        assert_eq!(&a[19..22], &[0, 0, 0]);
        assert_eq!(a[1..].iter().fold(0u8, |x, b| x ^ b), 0);
        // known real ATR "...05 23 00 25 71 DF 00 00 03 90 00 96"
        let mut known = a.clone();
        known[19..22].copy_from_slice(&[0x03, 0x90, 0x00]);
        let tck = known[1..22].iter().fold(0u8, |x, b| x ^ b);
        assert_eq!(tck, 0x96);
        let mut known0 = a;
        known0[22] = 0;
        assert_eq!(known0[1..22].iter().fold(0u8, |x, b| x ^ b), 0x05);
    }

    #[test]
    fn ac_rules() {
        assert!(ac_satisfied(0x90, 0, true));
        assert!(!ac_satisfied(0x90, 0, false));
        assert!(ac_satisfied(0x96, 6, true));
        assert!(!ac_satisfied(0x96, 0, true));
        assert!(ac_satisfied(0xB8, 8, true));
        assert!(!ac_satisfied(0xB8, 6, true));
        assert!(!ac_satisfied(0xB8, 0x0F, true));
        assert!(ac_satisfied(0xA6, 0, true));
        assert!(ac_satisfied(0x86, 0, true));
        assert!(!ac_satisfied(0x86, 6, true));
        assert!(ac_satisfied(0x10, 0, false));
        assert!(ac_satisfied(0x16, 6, false));
        assert!(!ac_satisfied(0xFF, 0x0F, true));
        assert!(ac_satisfied(0x9F, 0x0F, true));
    }

    #[test]
    fn variant_from_str() {
        assert_eq!("aes".parse::<Variant>().ok(), Some(Variant::Aes));
        assert_eq!("FIPS".parse::<Variant>().ok(), Some(Variant::Fips));
        assert_eq!("des".parse::<Variant>().ok(), Some(Variant::Des));
        assert!("x".parse::<Variant>().is_err());
    }

    #[test]
    fn card_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Card>();
    }
}
