//! File identifiers (§4.1), FCI parsing (§4.5) and FCP builders for CREATE FILE (§4.4, §8.3).

use crate::error::{Error, Result};
use crate::tlv;

/// The ×0x20 hook (§4.1): for FIDs whose high byte is 29, 30, 31, 32, 33 or 34, the low byte is
/// multiplied by 0x20 (mod 256) before it goes on the wire. Other FIDs are unchanged.
/// Only logical indices 0–7 are representable; index 8 wraps to 0 (as in OpenSC).
pub fn hook_fid(logical: u16) -> u16 {
    let [hi, lo] = logical.to_be_bytes();
    if is_hooked_range(hi) {
        u16::from_be_bytes([hi, lo.wrapping_mul(0x20)])
    } else {
        logical
    }
}

/// Inverse of [`hook_fid`] for FIDs read back from the card (FCI tag 83): low byte / 0x20.
pub fn unhook_fid(on_card: u16) -> u16 {
    let [hi, lo] = on_card.to_be_bytes();
    if is_hooked_range(hi) {
        u16::from_be_bytes([hi, lo / 0x20])
    } else {
        on_card
    }
}

fn is_hooked_range(hi: u8) -> bool {
    matches!(hi, 0x29 | 0x30..=0x34)
}

/// File type from the FDB (tag 82, first byte; §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// `38` DF (MF or application DF).
    Df,
    /// `01` transparent working EF.
    Transparent,
    /// `02` linear fixed EF.
    LinearFixed,
    /// `04` linear variable EF.
    LinearVariable,
    /// `10` BSO (key container).
    Bso,
    /// `11` RSA private key internal EF.
    RsaPrivate,
    /// `12` RSA public key internal EF.
    RsaPublic,
    /// `13` EC private key internal EF.
    EcPrivate,
    /// `14` EC public key internal EF.
    EcPublic,
    /// Anything else.
    Other(u8),
}

impl FileType {
    /// Decode an FDB.
    pub fn from_fdb(b: u8) -> Self {
        match b {
            0x38 => FileType::Df,
            0x01 => FileType::Transparent,
            0x02 => FileType::LinearFixed,
            0x04 => FileType::LinearVariable,
            0x10 => FileType::Bso,
            0x11 => FileType::RsaPrivate,
            0x12 => FileType::RsaPublic,
            0x13 => FileType::EcPrivate,
            0x14 => FileType::EcPublic,
            o => FileType::Other(o),
        }
    }
    /// Encode as FDB.
    pub fn fdb(self) -> u8 {
        match self {
            FileType::Df => 0x38,
            FileType::Transparent => 0x01,
            FileType::LinearFixed => 0x02,
            FileType::LinearVariable => 0x04,
            FileType::Bso => 0x10,
            FileType::RsaPrivate => 0x11,
            FileType::RsaPublic => 0x12,
            FileType::EcPrivate => 0x13,
            FileType::EcPublic => 0x14,
            FileType::Other(o) => o,
        }
    }
}

/// Parsed FCI returned by SELECT (§4.5). The FID is given both as on the card and un-hooked.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Fci {
    /// FID as stored on the card (tag 83).
    pub fid_on_card: Option<u16>,
    /// Logical FID ([`unhook_fid`] of the on-card FID).
    pub fid: Option<u16>,
    /// File size (tag 80, or first 2 bytes of 81).
    pub size: Option<usize>,
    /// Raw tag 82 value (FDB and following bytes).
    pub descriptor: Vec<u8>,
    /// File type from the FDB.
    pub file_type: Option<FileType>,
    /// DF name (tag 84).
    pub df_name: Option<Vec<u8>>,
    /// Proprietary attributes (tag 85 or A5).
    pub proprietary: Option<Vec<u8>>,
    /// Access-condition bytes (tag 86, §4.3).
    pub access: Option<Vec<u8>>,
    /// Life-cycle byte (tag 8A).
    pub life_cycle: Option<u8>,
}

impl Fci {
    /// Parse a SELECT response. It must start with `6F` (§4.5).
    pub fn parse(data: &[u8]) -> Result<Fci> {
        let outer = tlv::parse_one(data, 0)?;
        if outer.tag != 0x6F {
            return Err(Error::Malformed(format!(
                "FCI starts with {:02X}, expected 6F",
                outer.tag
            )));
        }
        let inner = &data[outer.value_start..outer.end];
        let mut f = Fci::default();
        for t in tlv::parse_all(inner)? {
            let v = &inner[t.value_start..t.end];
            match t.tag {
                0x83 if v.len() == 2 => {
                    let raw = u16::from_be_bytes([v[0], v[1]]);
                    f.fid_on_card = Some(raw);
                    f.fid = Some(unhook_fid(raw));
                }
                0x80 if v.len() == 1 => f.size = Some(usize::from(v[0])),
                0x80 if v.len() == 2 => {
                    f.size = Some(usize::from(u16::from_be_bytes([v[0], v[1]])))
                }
                0x81 if v.len() >= 2 && f.size.is_none() => {
                    f.size = Some(usize::from(u16::from_be_bytes([v[0], v[1]])))
                }
                0x82 if !v.is_empty() => {
                    f.descriptor = v.to_vec();
                    f.file_type = Some(FileType::from_fdb(v[0]));
                }
                0x84 => f.df_name = Some(v.to_vec()),
                0x85 | 0xA5 => f.proprietary = Some(v.to_vec()),
                0x86 => f.access = Some(v.to_vec()),
                0x8A if v.len() == 1 => f.life_cycle = Some(v[0]),
                _ => {}
            }
        }
        if f.file_type.is_none() && f.df_name.is_some() {
            f.file_type = Some(FileType::Df);
        }
        Ok(f)
    }
}

/// AC byte values OpenSC writes (§4.3).
pub mod ac {
    /// Free (SM, level ≥ 0).
    pub const FREE: u8 = 0x90;
    /// User PIN (SM, level ≥ 6).
    pub const USER: u8 = 0x96;
    /// SO/PUK (SM, level ≥ 8).
    pub const SO: u8 = 0x98;
    /// Never (level F).
    pub const NEVER: u8 = 0x9F;
    /// Unused slot.
    pub const UNUSED: u8 = 0xFF;
}

/// An FCP for CREATE FILE, built by typed constructors that reproduce §8.3 byte for byte.
/// (The OpenSC quirk that turns a 256-byte transparent EF into 0x1300 bytes is deliberately not
/// reproduced, §4.4: a size of 256 is sent as `80 02 01 00`.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fcp {
    inner: Vec<u8>,
}

impl Fcp {
    fn finish(inner: Vec<u8>) -> Result<Fcp> {
        if inner.len() > 0x7F {
            return Err(Error::InvalidArgument("FCP longer than 127 bytes".into()));
        }
        Ok(Fcp { inner })
    }

    /// DF: `82 02 38 00, 83 FID, 84 name, 85 02 00 7F, 86 AC` (§4.4). The name is mandatory (1–16 bytes).
    pub fn df(fid: u16, name: &[u8], ac: [u8; 8]) -> Result<Fcp> {
        if name.is_empty() || name.len() > 16 {
            return Err(Error::InvalidArgument(
                "DF name must be 1..=16 bytes".into(),
            ));
        }
        let mut v = Vec::new();
        tlv::push(&mut v, 0x82, &[0x38, 0x00]);
        tlv::push(&mut v, 0x83, &hook_fid(fid).to_be_bytes());
        tlv::push(&mut v, 0x84, name);
        tlv::push(&mut v, 0x85, &[0x00, 0x7F]);
        tlv::push(&mut v, 0x86, &ac);
        Self::finish(v)
    }

    /// Transparent EF: `80 size, 82 02 01 00, 83 FID, 86 AC`.
    pub fn transparent(fid: u16, size: u16, ac: [u8; 8]) -> Result<Fcp> {
        let mut v = Vec::new();
        tlv::push(&mut v, 0x80, &size.to_be_bytes());
        tlv::push(&mut v, 0x82, &[0x01, 0x00]);
        tlv::push(&mut v, 0x83, &hook_fid(fid).to_be_bytes());
        tlv::push(&mut v, 0x86, &ac);
        Self::finish(v)
    }

    /// Linear EF (variable if `variable`, else fixed), max record length 0x40, no size tag.
    pub fn linear(fid: u16, variable: bool, ac: [u8; 8]) -> Result<Fcp> {
        let mut v = Vec::new();
        tlv::push(
            &mut v,
            0x82,
            &[if variable { 0x04 } else { 0x02 }, 0x00, 0x00, 0x40, 0x00],
        );
        tlv::push(&mut v, 0x83, &hook_fid(fid).to_be_bytes());
        tlv::push(&mut v, 0x86, &ac);
        Self::finish(v)
    }

    /// BSO (key container): `82 02 10 00, 83 FID, 85 01 size, 86 AC`.
    pub fn bso(fid: u16, size: u8, ac: [u8; 8]) -> Result<Fcp> {
        let mut v = Vec::new();
        tlv::push(&mut v, 0x82, &[0x10, 0x00]);
        tlv::push(&mut v, 0x83, &hook_fid(fid).to_be_bytes());
        tlv::push(&mut v, 0x85, &[size]);
        tlv::push(&mut v, 0x86, &ac);
        Self::finish(v)
    }

    /// Private-key internal EF (`11` RSA or `13` EC; EC iff `bits == 256`).
    pub fn private_key(fid: u16, bits: u16, ac: [u8; 8]) -> Result<Fcp> {
        let fdb = if bits == 256 { 0x13 } else { 0x11 };
        let mut v = Vec::new();
        tlv::push(&mut v, 0x82, &[fdb, 0x00]);
        tlv::push(&mut v, 0x83, &hook_fid(fid).to_be_bytes());
        tlv::push(&mut v, 0x85, &bits.to_be_bytes());
        tlv::push(&mut v, 0x86, &ac);
        Self::finish(v)
    }

    /// Public-key internal EF (`12` RSA or `14` EC), with the trailing `87 02 00 66`.
    pub fn public_key(fid: u16, bits: u16, ac: [u8; 8]) -> Result<Fcp> {
        let fdb = if bits == 256 { 0x14 } else { 0x12 };
        let mut v = Vec::new();
        tlv::push(&mut v, 0x82, &[fdb, 0x00]);
        tlv::push(&mut v, 0x83, &hook_fid(fid).to_be_bytes());
        tlv::push(&mut v, 0x85, &bits.to_be_bytes());
        tlv::push(&mut v, 0x86, &ac);
        tlv::push(&mut v, 0x87, &[0x00, 0x66]);
        Self::finish(v)
    }

    /// The complete `62 L …` template sent as CREATE FILE data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0x62, self.inner.len() as u8];
        out.extend_from_slice(&self.inner);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook() {
        assert_eq!(hook_fid(0x2901), 0x2920);
        assert_eq!(hook_fid(0x3002), 0x3040);
        assert_eq!(hook_fid(0x3407), 0x34E0);
        assert_eq!(hook_fid(0x2908), 0x2900);
        assert_eq!(hook_fid(0x2A01), 0x2A01);
        assert_eq!(hook_fid(0x5015), 0x5015);
        assert_eq!(unhook_fid(0x2940), 0x2902);
        for i in 0..8u16 {
            assert_eq!(unhook_fid(hook_fid(0x3100 | i)), 0x3100 | i);
        }
    }

    #[test]
    fn fci_mf() {
        let d = hex::decode(
            "6F2682023800830 23F00840E656E7465727361666 52D6669707385020 07F86089090FF90FFFFFFFF"
                .replace(' ', ""),
        )
        .unwrap();
        let f = Fci::parse(&d).unwrap();
        assert_eq!(f.fid, Some(0x3F00));
        assert_eq!(f.file_type, Some(FileType::Df));
        assert_eq!(f.df_name.as_deref(), Some(&b"entersafe-fips"[..]));
        assert_eq!(
            f.access.as_deref(),
            Some(&[0x90, 0x90, 0xFF, 0x90, 0xFF, 0xFF, 0xFF, 0xFF][..])
        );
        assert!(Fci::parse(&[0x62, 0]).is_err());
    }
}
