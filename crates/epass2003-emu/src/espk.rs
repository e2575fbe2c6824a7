//! The Feitian-middleware ("ENTERSAFE-ESPK") layout as this project lays it out on an emulated
//! card, and the emulator's **factory state**: a token as Feitian's manual says it ships.
//!
//! The layout itself is documented (`feitian-layout-and-new-hardware.md` §A.3–A.7); nothing
//! here was captured from a real token, and where the document is silent the choices are this
//! project's (listed in `docs/protocol-notes.md`, "Feitian-middleware tokens"). The constants
//! and encoders are shared with the host-side test fixture (`pkcs15::espk::fixture`, which
//! builds the same skeleton through the host driver and adds keys and certificates), so both
//! build the same image; `pkcs15::feitian` re-exports the format constants.
//!
//! [`factory_card`] builds the skeleton directly on a [`Card`], by plain command APDUs through
//! the card's own command processing (every file-system and access rule applies; only the
//! secure-messaging wrapping is skipped, as at a personalisation station).

use sha1::{Digest, Sha1};

use crate::card::Card;
use crate::{CardOptions, Variant};

/// FID of the application DF.
pub const APP_DF_FID: u16 = 0x2003;
/// FID of the index EF inside the application DF.
pub const INDEX_FID: u16 = 0x6F01;
/// The DF name (FCI tag 84) of the application DF; on the card it is zero-padded to 16 bytes.
pub const DF_NAME: &[u8] = b"ENTERSAFE-ESPK";
/// Length of one index record.
pub const INDEX_RECORD_LEN: usize = 30;
/// Length of the label at the start of `tokeninfo`.
pub const LABEL_LEN: usize = 32;

/// MF name (the real one is unknown; a real ESPK token answers 6A82 to SELECT "entersafe-fips").
pub const MF_NAME: &[u8] = b"ESPK-MF";
/// ACs of the MF and DF 2003 (inferred): create and delete under SM.
pub const AC_DF: [u8; 8] = [0x90, 0x90, 0xFF, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
/// ACs of the index and the listed files (inferred): read and update under SM.
pub const AC_EF: [u8; 8] = [0x90, 0x90, 0xFF, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
/// ACs of a private-key EF (inferred): PSO needs the user PIN.
pub const AC_PRIV_KEY: [u8; 8] = [0xFF, 0x90, 0x96, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
/// ACs of a public-key EF (inferred).
pub const AC_PUB_KEY: [u8; 8] = [0x90, 0x90, 0x90, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
/// FID of `tokeninfo` (not documented: the reader finds files through the index).
pub const TOKENINFO_FID: u16 = 0x4001;
/// FID of `cardid`.
pub const CARDID_FID: u16 = 0x4002;
/// FID of `containermap`.
pub const CONTAINERMAP_FID: u16 = 0x4003;
/// FID of the first object file (`prvkNNNN`/`pubkNNNN`/`certNNNN`).
pub const FIRST_OBJECT_FID: u16 = 0x4101;
/// Size of `tokeninfo`: the label (32 bytes, space-padded), then 32 zero bytes.
pub const TOKENINFO_LEN: usize = 64;
/// Size of `containermap` (as on the reference card, §A.5).
pub const CONTAINERMAP_LEN: usize = 1024;
/// Each listed EF is created this much larger than its used size (so readers must honour the
/// index's used size).
pub const EF_SLACK: u16 = 32;
/// Directory-label records (`FFFF`) at the start of the index.
pub const DIRECTORIES: [&str; 3] = ["mscp", "tkinfdir", "internal"];
/// Unused 30-byte slots at the end of the index.
pub const INDEX_UNUSED_SLOTS: usize = 2;

/// The factory defaults of Feitian's ePass2003 manual (`Factory::default()`).
pub mod defaults {
    /// Token label.
    pub const LABEL: &str = "ePass2003";
    /// User PIN.
    pub const USER_PIN: &[u8] = b"12345678";
    /// SO PIN.
    pub const SO_PIN: &[u8] = b"entersafe";
    /// Maximum tries of either PIN.
    pub const MAX_TRIES: u8 = 10;
}

/// Encodes one index record (§A.3): FID LE, directory (10 bytes), file name (13 bytes), ACL
/// byte, used and allocated size LE. `None` if a name is longer than its field.
pub fn index_record(
    fid: u16,
    directory: &[u8],
    name: &[u8],
    acl: u8,
    used: u16,
    allocated: u16,
) -> Option<[u8; INDEX_RECORD_LEN]> {
    if directory.len() > 10 || name.len() > 13 {
        return None;
    }
    let mut b = [0u8; INDEX_RECORD_LEN];
    b[0..2].copy_from_slice(&fid.to_le_bytes());
    b[2..2 + directory.len()].copy_from_slice(directory);
    b[12..12 + name.len()].copy_from_slice(name);
    b[25] = acl;
    b[26..28].copy_from_slice(&used.to_le_bytes());
    b[28..30].copy_from_slice(&allocated.to_le_bytes());
    Some(b)
}

/// The `tokeninfo` file for `label`: the label space-padded to 32 bytes, then 32 zero bytes
/// (the rest of the real file is not described). `None` if the label is longer than 32 bytes.
pub fn tokeninfo(label: &str) -> Option<Vec<u8>> {
    let mut v = label.as_bytes().to_vec();
    if v.len() > LABEL_LEN {
        return None;
    }
    v.resize(LABEL_LEN, b' ');
    v.resize(TOKENINFO_LEN, 0);
    Some(v)
}

/// The index EF for `files` (records in order): the directory labels, the files, the unused
/// slots. `None` if a record does not encode.
pub fn index_file(files: &[[u8; INDEX_RECORD_LEN]]) -> Option<Vec<u8>> {
    let mut v = Vec::new();
    for d in DIRECTORIES {
        v.extend_from_slice(&index_record(0xFFFF, d.as_bytes(), b"", 0, 0, 0)?);
    }
    for f in files {
        v.extend_from_slice(f);
    }
    v.resize(v.len() + INDEX_UNUSED_SLOTS * INDEX_RECORD_LEN, 0);
    Some(v)
}

/// FCP of a DF, as the host driver sends it: `82 02 38 00, 83 FID, 84 name, 85 02 00 7F, 86 AC`.
fn fcp_df(fid: u16, name: &[u8], ac: [u8; 8]) -> Vec<u8> {
    let mut v = vec![0x82, 0x02, 0x38, 0x00, 0x83, 0x02];
    v.extend_from_slice(&fid.to_be_bytes());
    v.extend_from_slice(&[0x84, name.len() as u8]);
    v.extend_from_slice(name);
    v.extend_from_slice(&[0x85, 0x02, 0x00, 0x7F, 0x86, 0x08]);
    v.extend_from_slice(&ac);
    wrap62(v)
}

/// FCP of a transparent EF: `80 size, 82 02 01 00, 83 FID, 86 AC`.
fn fcp_transparent(fid: u16, size: u16, ac: [u8; 8]) -> Vec<u8> {
    let mut v = vec![0x80, 0x02];
    v.extend_from_slice(&size.to_be_bytes());
    v.extend_from_slice(&[0x82, 0x02, 0x01, 0x00, 0x83, 0x02]);
    v.extend_from_slice(&fid.to_be_bytes());
    v.extend_from_slice(&[0x86, 0x08]);
    v.extend_from_slice(&ac);
    wrap62(v)
}

fn wrap62(inner: Vec<u8>) -> Vec<u8> {
    let mut v = vec![0x62, inner.len() as u8];
    v.extend(inner);
    v
}

/// The 24-byte PIN key: SHA-1(PIN) ‖ length as big-endian u32 (protocol §6.1).
fn pin_key(pin: &[u8]) -> Vec<u8> {
    let mut k = Sha1::digest(pin).to_vec();
    k.extend_from_slice(&(pin.len() as u32).to_be_bytes());
    k
}

/// INSTALL SECRET KEY data for a PIN key (§5.10), laid out as OpenSC installs its user PIN
/// (`modify 96, level 06`) and PUK (`modify B8, level 08`).
fn pin_record(kid: u8, pin: &[u8], modify_ac: u8, level: u8, max_tries: u8) -> Vec<u8> {
    let t = max_tries.min(15);
    let mut v = vec![
        0x04,
        kid,
        0x90,
        modify_ac,
        0x98,
        0x98,
        0x00,
        level,
        0xFF,
        (t << 4) | t,
    ];
    v.extend_from_slice(&pin_key(pin));
    v
}

/// What [`factory_card`] puts on the card. `Default` is the vendor's factory state.
#[derive(Clone, PartialEq, Eq)]
pub struct Factory {
    /// Label in `tokeninfo` (≤ 32 bytes).
    pub label: String,
    /// User PIN (PIN key kid 1 in DF 2003).
    pub user_pin: Vec<u8>,
    /// SO PIN (PIN key kid 2 in DF 2003; where Feitian keeps it is not documented).
    pub so_pin: Vec<u8>,
    /// Maximum tries of the user PIN (0..=15).
    pub user_max_tries: u8,
    /// Maximum tries of the SO PIN (0..=15).
    pub so_max_tries: u8,
}

impl std::fmt::Debug for Factory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Factory")
            .field("label", &self.label)
            .field("user_max_tries", &self.user_max_tries)
            .field("so_max_tries", &self.so_max_tries)
            .finish_non_exhaustive()
    }
}

impl Default for Factory {
    fn default() -> Self {
        Factory {
            label: defaults::LABEL.into(),
            user_pin: defaults::USER_PIN.to_vec(),
            so_pin: defaults::SO_PIN.to_vec(),
            user_max_tries: defaults::MAX_TRIES,
            so_max_tries: defaults::MAX_TRIES,
        }
    }
}

/// Why [`factory_card`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactoryError {
    /// A parameter out of range.
    #[error("{0}")]
    Invalid(&'static str),
    /// The card refused a personalisation command.
    #[error("the card answered {sw:04X} to {step}")]
    Card {
        /// What was being done.
        step: &'static str,
        /// The status word.
        sw: u16,
    },
}

fn run(card: &mut Card, step: &'static str, apdu: Vec<u8>) -> Result<(), FactoryError> {
    match card.execute_personalisation(&apdu) {
        0x9000 => Ok(()),
        sw => Err(FactoryError::Card { step, sw }),
    }
}

fn apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Result<Vec<u8>, FactoryError> {
    let lc = u8::try_from(data.len()).map_err(|_| FactoryError::Invalid("command too long"))?;
    let mut v = vec![cla, ins, p1, p2, lc];
    v.extend_from_slice(data);
    Ok(v)
}

/// Create a transparent EF in the current DF and write `data` into it (UPDATE BINARY in
/// chunks of 0xE8 bytes, the driver's maximum).
fn create_and_fill(
    card: &mut Card,
    step: &'static str,
    fid: u16,
    size: u16,
    data: &[u8],
) -> Result<(), FactoryError> {
    run(
        card,
        step,
        apdu(0x00, 0xE0, 0, 0, &fcp_transparent(fid, size, AC_EF))?,
    )?;
    for (i, chunk) in data.chunks(0xE8).enumerate() {
        let off = u16::try_from(i * 0xE8).map_err(|_| FactoryError::Invalid("file too large"))?;
        let [hi, lo] = off.to_be_bytes();
        run(card, step, apdu(0x00, 0xD6, hi, lo, chunk)?)?;
    }
    Ok(())
}

/// A new card of `variant` in the factory state `f`: MF, DF 2003 "ENTERSAFE-ESPK", the user PIN
/// (kid 1) and SO PIN (kid 2, inferred) as PIN keys, `tokeninfo` with the label, `cardid`
/// (the chip serial followed by 8 zero bytes: inferred), an empty `containermap`, and the index
/// listing them. No keys or certificates. Power-on state afterwards.
pub fn factory_card(
    variant: Variant,
    opts: CardOptions,
    f: &Factory,
) -> Result<Card, FactoryError> {
    if f.user_max_tries > 15 || f.so_max_tries > 15 {
        return Err(FactoryError::Invalid("maximum tries above 15"));
    }
    if f.user_pin.is_empty() || f.so_pin.is_empty() {
        return Err(FactoryError::Invalid("empty PIN"));
    }
    let tokeninfo =
        tokeninfo(&f.label).ok_or(FactoryError::Invalid("label longer than 32 bytes"))?;
    let mut card = Card::new_blank(variant, opts);
    let mut cardid = card.serial().to_vec();
    cardid.resize(16, 0);

    run(
        &mut card,
        "CREATE FILE 3F00",
        apdu(0x00, 0xE0, 0, 0, &fcp_df(0x3F00, MF_NAME, AC_DF))?,
    )?;
    let mut df_name = DF_NAME.to_vec();
    df_name.resize(16, 0);
    run(
        &mut card,
        "CREATE FILE 2003",
        apdu(0x00, 0xE0, 0, 0, &fcp_df(APP_DF_FID, &df_name, AC_DF))?,
    )?;
    run(
        &mut card,
        "INSTALL SECRET KEY (user PIN)",
        apdu(
            0x80,
            0xE3,
            0,
            0,
            &pin_record(1, &f.user_pin, 0x96, 0x06, f.user_max_tries),
        )?,
    )?;
    run(
        &mut card,
        "INSTALL SECRET KEY (SO PIN)",
        apdu(
            0x80,
            0xE3,
            0,
            0,
            &pin_record(2, &f.so_pin, 0xB8, 0x08, f.so_max_tries),
        )?,
    )?;

    let cmap = vec![0u8; CONTAINERMAP_LEN];
    let files: [(u16, &str, &str, &[u8]); 3] = [
        (TOKENINFO_FID, "tkinfdir", "tokeninfo", &tokeninfo),
        (CARDID_FID, "mscp", "cardid", &cardid),
        (CONTAINERMAP_FID, "internal", "containermap", &cmap),
    ];
    let mut records = Vec::new();
    for (fid, dir, name, data) in files {
        let used =
            u16::try_from(data.len()).map_err(|_| FactoryError::Invalid("file too large"))?;
        let alloc = used.saturating_add(EF_SLACK);
        create_and_fill(&mut card, "writing a listed file", fid, alloc, data)?;
        records.push(
            index_record(fid, dir.as_bytes(), name.as_bytes(), 0, used, alloc)
                .ok_or(FactoryError::Invalid("index record"))?,
        );
    }
    let index = index_file(&records).ok_or(FactoryError::Invalid("index record"))?;
    let len = u16::try_from(index.len()).map_err(|_| FactoryError::Invalid("index too large"))?;
    create_and_fill(&mut card, "writing the index 6F01", INDEX_FID, len, &index)?;
    card.power_on();
    Ok(card)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn factory_state() {
        let card = factory_card(Variant::Aes, CardOptions::default(), &Factory::default()).unwrap();
        let keys = card.secret_keys();
        let k = |kid: u8| {
            keys.iter()
                .find(|k| k.kid == kid && k.key_type == 4)
                .unwrap()
        };
        assert_eq!((k(1).max_tries, k(1).remaining, k(1).level), (10, 10, 6));
        assert_eq!((k(2).max_tries, k(2).remaining, k(2).level), (10, 10, 8));
        assert!(keys.iter().all(|k| k.df == [0x3F00, APP_DF_FID]));
        assert_eq!(&card.atr()[19..22], &[0x03, 0x90, 0x00], "personalised");
    }

    #[test]
    fn encoders() {
        let r = index_record(0x4001, b"tkinfdir", b"tokeninfo", 0, 64, 96).unwrap();
        assert_eq!(&r[0..2], &[0x01, 0x40]);
        assert_eq!(&r[2..10], b"tkinfdir");
        assert_eq!(&r[12..21], b"tokeninfo");
        assert_eq!(&r[26..30], &[64, 0, 96, 0]);
        assert!(index_record(1, b"12345678901", b"", 0, 0, 0).is_none());
        let t = tokeninfo("ePass2003").unwrap();
        assert_eq!(&t[..12], b"ePass2003   ");
        assert_eq!(t.len(), TOKENINFO_LEN);
        assert!(tokeninfo(&"x".repeat(33)).is_none());
        assert_eq!(
            index_file(&[r]).unwrap().len(),
            (DIRECTORIES.len() + 1 + INDEX_UNUSED_SLOTS) * INDEX_RECORD_LEN
        );
    }
}
