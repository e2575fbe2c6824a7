//! Readers for tokens personalised by Feitian's own middleware (the "ENTERSAFE-ESPK" / MSCP
//! layout, feitian doc §A): DF `3F00/2003`, the index EF `6F01`, raw PKCS#11 attribute streams in
//! `certNNNN`/`pubkNNNN`/`prvkNNNN`, the `containermap`, `tokeninfo` and `cardid`.
//!
//! **No captured data exists.** Every layout here comes from the public description of OpenSC
//! PR #3835 / issue #3834 (summarised in `feitian-layout-and-new-hardware.md` §A.3–A.6), and all
//! tests use byte strings constructed from that description. Little-endian throughout.
//!
//! Tolerances copied from the documented reader (so that the same cards parse): a trailing
//! partial index record or containermap record is ignored; an attribute stream stops at the first
//! triple that runs past the end (earlier triples are kept, and the stream is marked truncated).

use crate::error::{Error, Result};

/// The layout constants are defined once, beside the emulator's factory builder (which cannot
/// depend on this crate): FID of the application DF, of the index EF, the DF name, the index
/// record length and the label length.
pub use epass2003_emu::espk::{APP_DF_FID, DF_NAME, INDEX_FID, INDEX_RECORD_LEN, LABEL_LEN};
/// Length of the containermap header.
pub const CMAP_HEADER_LEN: usize = 32;
/// Length of one containermap record.
pub const CMAP_RECORD_LEN: usize = 24;

/// True if `name` (FCI tag 84 of DF 2003) is `ENTERSAFE-ESPK` followed only by zero padding.
pub fn is_espk_df_name(name: &[u8]) -> bool {
    name.len() >= DF_NAME.len()
        && name[..DF_NAME.len()] == *DF_NAME
        && name[DF_NAME.len()..].iter().all(|&b| b == 0)
}

fn trim_nul(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

// ---------------------------------------------------------------------------------------------
// Index EF 6F01

/// What an index record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexRecordKind {
    /// FID `FFFF`: a directory-label record.
    DirectoryLabel,
    /// FID `0000` or used size 0: an unused slot.
    Unused,
    /// A file.
    File,
}

/// One 30-byte record of EF `6F01`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndexRecord {
    /// Bytes 0..2: FID (little-endian on the card).
    pub fid: u16,
    /// Bytes 2..12: directory name, NUL padding removed.
    pub directory: Vec<u8>,
    /// Bytes 12..25: file name, NUL padding removed.
    pub name: Vec<u8>,
    /// Byte 25: ACL byte (semantics not published).
    pub acl: u8,
    /// Bytes 26..28: used size.
    pub used_size: u16,
    /// Bytes 28..30: allocated size.
    pub allocated_size: u16,
}

impl IndexRecord {
    /// Decodes exactly one 30-byte record.
    pub fn from_bytes(rec: &[u8]) -> Result<Self> {
        let rec: &[u8; INDEX_RECORD_LEN] = rec.try_into().map_err(|_| Error::BadLength {
            context: "Feitian index record",
            len: rec.len(),
            expected: "30",
        })?;
        Ok(Self {
            fid: u16::from_le_bytes([rec[0], rec[1]]),
            directory: trim_nul(&rec[2..12]).to_vec(),
            name: trim_nul(&rec[12..25]).to_vec(),
            acl: rec[25],
            used_size: u16::from_le_bytes([rec[26], rec[27]]),
            allocated_size: u16::from_le_bytes([rec[28], rec[29]]),
        })
    }

    /// Encodes the record (names longer than their field are an error).
    pub fn to_bytes(&self) -> Result<[u8; INDEX_RECORD_LEN]> {
        if self.directory.len() > 10 || self.name.len() > 13 {
            return Err(Error::BadLength {
                context: "Feitian index record name",
                len: self.directory.len().max(self.name.len()),
                expected: "directory <= 10, file name <= 13",
            });
        }
        epass2003_emu::espk::index_record(
            self.fid,
            &self.directory,
            &self.name,
            self.acl,
            self.used_size,
            self.allocated_size,
        )
        .ok_or(Error::BadLength {
            context: "Feitian index record name",
            len: self.directory.len().max(self.name.len()),
            expected: "directory <= 10, file name <= 13",
        })
    }

    /// The record's kind.
    pub fn kind(&self) -> IndexRecordKind {
        match self.fid {
            0xFFFF => IndexRecordKind::DirectoryLabel,
            0x0000 => IndexRecordKind::Unused,
            _ if self.used_size == 0 => IndexRecordKind::Unused,
            _ => IndexRecordKind::File,
        }
    }

    /// The file name as text, if ASCII.
    pub fn name_str(&self) -> Option<&str> {
        core::str::from_utf8(&self.name)
            .ok()
            .filter(|s| s.is_ascii())
    }

    /// The object name (`certNNNN`, `pubkNNNN`, `prvkNNNN`), if the file is one.
    pub fn object_name(&self) -> Option<ObjectName> {
        ObjectName::parse(&self.name)
    }
}

/// Decodes the whole index EF: every complete 30-byte record (a trailing partial record is
/// ignored, as the documented reader does).
pub fn parse_index(file: &[u8]) -> Result<Vec<IndexRecord>> {
    file.chunks_exact(INDEX_RECORD_LEN)
        .map(IndexRecord::from_bytes)
        .collect()
}

/// Only the records that describe files (kind [`IndexRecordKind::File`]).
pub fn index_files(file: &[u8]) -> Result<Vec<IndexRecord>> {
    Ok(parse_index(file)?
        .into_iter()
        .filter(|r| r.kind() == IndexRecordKind::File)
        .collect())
}

/// Kind of an object file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectFileKind {
    /// `certNNNN`: a certificate.
    Certificate,
    /// `pubkNNNN`: a public key.
    PublicKey,
    /// `prvkNNNN`: a private key.
    PrivateKey,
}

/// A parsed object file name: 4 letters + 4 decimal digits, exactly 8 characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectName {
    /// Which object kind.
    pub kind: ObjectFileKind,
    /// The number `NNNN` (pairs `pubkNNNN` with `prvkNNNN`).
    pub number: u16,
}

impl ObjectName {
    /// Parses `certNNNN` / `pubkNNNN` / `prvkNNNN`.
    pub fn parse(name: &[u8]) -> Option<Self> {
        if name.len() != 8 || !name[4..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let kind = match &name[..4] {
            b"cert" => ObjectFileKind::Certificate,
            b"pubk" => ObjectFileKind::PublicKey,
            b"prvk" => ObjectFileKind::PrivateKey,
            _ => return None,
        };
        let number = name[4..]
            .iter()
            .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
        Some(Self { kind, number })
    }
}

// ---------------------------------------------------------------------------------------------
// Attribute streams

/// PKCS#11 attribute numbers seen in these streams (standard `CKA_*` values) and the vendor one.
pub mod cka {
    /// `CKA_CLASS`.
    pub const CLASS: u32 = 0x000;
    /// `CKA_TOKEN`.
    pub const TOKEN: u32 = 0x001;
    /// `CKA_PRIVATE`.
    pub const PRIVATE: u32 = 0x002;
    /// `CKA_LABEL`.
    pub const LABEL: u32 = 0x003;
    /// `CKA_VALUE`.
    pub const VALUE: u32 = 0x011;
    /// `CKA_ID`.
    pub const ID: u32 = 0x102;
    /// `CKA_DECRYPT`.
    pub const DECRYPT: u32 = 0x105;
    /// `CKA_UNWRAP`.
    pub const UNWRAP: u32 = 0x107;
    /// `CKA_SIGN`.
    pub const SIGN: u32 = 0x108;
    /// `CKA_SIGN_RECOVER`.
    pub const SIGN_RECOVER: u32 = 0x109;
    /// `CKA_MODULUS`.
    pub const MODULUS: u32 = 0x120;
    /// `CKA_PUBLIC_EXPONENT`.
    pub const PUBLIC_EXPONENT: u32 = 0x122;
    /// Feitian vendor attribute: the card-internal key handle (4 bytes LE).
    pub const VENDOR_KEY_HANDLE: u32 = 0x8000_0100;
}

/// One `(type, value)` triple.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// The `CKA_*` number.
    pub ty: u32,
    /// The raw value.
    pub value: Vec<u8>,
}

/// A decoded attribute stream (`u32 LE type, u32 LE length, value` repeated).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AttributeStream {
    /// The complete triples, in order.
    pub attributes: Vec<Attribute>,
    /// True if parsing stopped early: a triple (or its 8-byte header) ran past the end.
    pub truncated: bool,
}

/// Decodes an attribute stream (the used bytes of a `certNNNN`/`pubkNNNN`/`prvkNNNN` file).
/// Never fails: an overrunning triple ends the stream and sets [`AttributeStream::truncated`].
pub fn parse_attributes(data: &[u8]) -> AttributeStream {
    let mut out = AttributeStream::default();
    let mut rest = data;
    while !rest.is_empty() {
        let Some((header, tail)) = rest.split_first_chunk::<8>() else {
            out.truncated = true;
            break;
        };
        let ty = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let Some(len) = usize::try_from(len).ok().filter(|&l| l <= tail.len()) else {
            out.truncated = true;
            break;
        };
        out.attributes.push(Attribute {
            ty,
            value: tail[..len].to_vec(),
        });
        rest = &tail[len..];
    }
    out
}

/// Encodes attributes as a stream (for tests and the emulator).
pub fn encode_attributes(attrs: &[Attribute]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for a in attrs {
        let len = u32::try_from(a.value.len()).map_err(|_| Error::BadLength {
            context: "attribute value",
            len: a.value.len(),
            expected: "< 2^32",
        })?;
        out.extend_from_slice(&a.ty.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&a.value);
    }
    Ok(out)
}

/// Class of a card-internal key handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyHandleKind {
    /// `0xA000..=0xAFFF`.
    Private,
    /// `0x8000..=0x8FFF`.
    Public,
}

/// Classifies a key handle (`None` if it is in neither documented range).
pub fn key_handle_kind(handle: u32) -> Option<KeyHandleKind> {
    match handle {
        0xA000..=0xAFFF => Some(KeyHandleKind::Private),
        0x8000..=0x8FFF => Some(KeyHandleKind::Public),
        _ => None,
    }
}

impl AttributeStream {
    /// The first value of attribute `ty`.
    pub fn get(&self, ty: u32) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|a| a.ty == ty)
            .map(|a| a.value.as_slice())
    }

    /// A `CK_BBOOL` attribute: `Some(value[0] != 0)`; an empty value is an error.
    pub fn bool(&self, ty: u32) -> Result<Option<bool>> {
        match self.get(ty) {
            None => Ok(None),
            Some([]) => Err(Error::BadLength {
                context: "CK_BBOOL attribute",
                len: 0,
                expected: ">= 1",
            }),
            Some(v) => Ok(Some(v[0] != 0)),
        }
    }

    /// A 4-byte little-endian integer attribute (e.g. `CKA_CLASS` as a 32-bit `CK_ULONG`).
    pub fn u32_le(&self, ty: u32) -> Result<Option<u32>> {
        match self.get(ty) {
            None => Ok(None),
            Some(v) => {
                let b: [u8; 4] = v.try_into().map_err(|_| Error::BadLength {
                    context: "32-bit attribute",
                    len: v.len(),
                    expected: "4",
                })?;
                Ok(Some(u32::from_le_bytes(b)))
            }
        }
    }

    /// `CKA_LABEL` as text (raw bytes, no terminator; must be UTF-8).
    pub fn label(&self) -> Result<Option<String>> {
        self.get(cka::LABEL)
            .map(|v| {
                String::from_utf8(v.to_vec()).map_err(|_| Error::InvalidUtf8 { field: "CKA_LABEL" })
            })
            .transpose()
    }

    /// `CKA_ID` (absent on some "older containers").
    pub fn id(&self) -> Option<&[u8]> {
        self.get(cka::ID)
    }

    /// `CKA_VALUE` (a certificate's DER).
    pub fn value(&self) -> Option<&[u8]> {
        self.get(cka::VALUE)
    }

    /// `CKA_MODULUS` with leading zero bytes stripped (stored with a leading `00`).
    pub fn modulus(&self) -> Option<&[u8]> {
        self.get(cka::MODULUS).map(|m| {
            let start = m.iter().position(|&b| b != 0).unwrap_or(m.len());
            &m[start..]
        })
    }

    /// Key size in bits derived from the stripped modulus.
    pub fn modulus_bits(&self) -> Option<u32> {
        let m = self.modulus()?;
        let first = *m.first()?;
        let bytes = u32::try_from(m.len()).ok()?;
        Some((bytes - 1) * 8 + (8 - first.leading_zeros()))
    }

    /// `CKA_PUBLIC_EXPONENT`.
    pub fn public_exponent(&self) -> Option<&[u8]> {
        self.get(cka::PUBLIC_EXPONENT)
    }

    /// The vendor key handle (attribute `0x80000100`, 4 bytes LE).
    pub fn key_handle(&self) -> Result<Option<u32>> {
        self.u32_le(cka::VENDOR_KEY_HANDLE)
    }
}

// ---------------------------------------------------------------------------------------------
// containermap

/// One 24-byte containermap record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerRecord {
    /// Bytes 0..4: private key handle (expected `0xA0xx`).
    pub private_handle: u32,
    /// Bytes 4..8: public key handle (expected `0x80xx`).
    pub public_handle: u32,
    /// Bytes 8..24: meaning unknown (zero on the observed card).
    pub spare: [u8; 16],
}

impl ContainerRecord {
    /// True if both handles are in their documented ranges.
    pub fn is_valid(&self) -> bool {
        key_handle_kind(self.private_handle) == Some(KeyHandleKind::Private)
            && key_handle_kind(self.public_handle) == Some(KeyHandleKind::Public)
    }
}

/// The decoded `containermap` file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerMap {
    /// The 32-byte header (content not described publicly).
    pub header: [u8; CMAP_HEADER_LEN],
    /// Records before the first all-zero record (or the end).
    pub records: Vec<ContainerRecord>,
}

impl ContainerMap {
    /// The private handle paired with `public_handle` (only records with valid ranges count).
    pub fn private_for_public(&self, public_handle: u32) -> Option<u32> {
        self.records
            .iter()
            .find(|r| r.is_valid() && r.public_handle == public_handle)
            .map(|r| r.private_handle)
    }

    /// The public handle paired with `private_handle`.
    pub fn public_for_private(&self, private_handle: u32) -> Option<u32> {
        self.records
            .iter()
            .find(|r| r.is_valid() && r.private_handle == private_handle)
            .map(|r| r.public_handle)
    }

    /// Encodes header + records + an all-zero terminator, zero-filled to `size`.
    pub fn to_file(&self, size: usize) -> Result<Vec<u8>> {
        let mut out = self.header.to_vec();
        for r in &self.records {
            out.extend_from_slice(&r.private_handle.to_le_bytes());
            out.extend_from_slice(&r.public_handle.to_le_bytes());
            out.extend_from_slice(&r.spare);
        }
        if out.len() > size {
            return Err(Error::BadLength {
                context: "containermap",
                len: out.len(),
                expected: "at most the file size",
            });
        }
        out.resize(size, 0);
        Ok(out)
    }
}

/// Decodes a `containermap` file: a 32-byte header, then 24-byte records up to the first
/// all-zero record. A trailing partial record is ignored (the observed 1024-byte file ends with
/// 8 such bytes: 32 + 41·24 = 1016).
pub fn parse_containermap(file: &[u8]) -> Result<ContainerMap> {
    let Some((header, body)) = file.split_first_chunk::<CMAP_HEADER_LEN>() else {
        return Err(Error::BadLength {
            context: "containermap",
            len: file.len(),
            expected: "at least the 32-byte header",
        });
    };
    let mut records = Vec::new();
    for rec in body.chunks_exact(CMAP_RECORD_LEN) {
        if rec.iter().all(|&b| b == 0) {
            break;
        }
        let mut spare = [0u8; 16];
        spare.copy_from_slice(&rec[8..]);
        records.push(ContainerRecord {
            private_handle: u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]),
            public_handle: u32::from_le_bytes([rec[4], rec[5], rec[6], rec[7]]),
            spare,
        });
    }
    Ok(ContainerMap {
        header: *header,
        records,
    })
}

// ---------------------------------------------------------------------------------------------
// tokeninfo / cardid

/// The token label: the first 32 bytes of `tokeninfo`, ASCII, space-padded (trailing spaces and
/// NULs removed). Files shorter than 32 bytes are an error.
pub fn parse_token_label(tokeninfo: &[u8]) -> Result<String> {
    let field = tokeninfo.get(..LABEL_LEN).ok_or(Error::BadLength {
        context: "Feitian tokeninfo",
        len: tokeninfo.len(),
        expected: "at least 32 bytes",
    })?;
    let end = field
        .iter()
        .rposition(|&b| b != b' ' && b != 0)
        .map_or(0, |p| p + 1);
    String::from_utf8(field[..end].to_vec()).map_err(|_| Error::InvalidUtf8 {
        field: "Feitian token label",
    })
}

/// The serial shown for a `cardid` file: lower-case hex of its bytes, at most 32 characters.
pub fn serial_from_cardid(cardid: &[u8]) -> String {
    hex::encode(&cardid[..cardid.len().min(16)])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // All byte strings below are constructed from the documented layouts; none is captured.

    fn index_rec(fid: u16, dir: &[u8], name: &[u8], used: u16, alloc: u16) -> Vec<u8> {
        let mut r = vec![0u8; 30];
        r[0..2].copy_from_slice(&fid.to_le_bytes());
        r[2..2 + dir.len()].copy_from_slice(dir);
        r[12..12 + name.len()].copy_from_slice(name);
        r[25] = 0x11;
        r[26..28].copy_from_slice(&used.to_le_bytes());
        r[28..30].copy_from_slice(&alloc.to_le_bytes());
        r
    }

    #[test]
    fn df_name() {
        assert!(is_espk_df_name(b"ENTERSAFE-ESPK\0\0"));
        assert!(is_espk_df_name(b"ENTERSAFE-ESPK"));
        assert!(!is_espk_df_name(b"ENTERSAFE-ESPKX\0"));
        assert!(!is_espk_df_name(b"ENTERSAFE-ESP"));
    }

    #[test]
    fn index_parsing() {
        let mut f = index_rec(0xFFFF, b"mscp", b"", 0, 0);
        f.extend(index_rec(0x2480, b"mscp", b"cert0001", 1364, 1400));
        f.extend(index_rec(0x0000, b"", b"", 0, 0));
        f.extend(index_rec(0x2A00, b"tkinfdir", b"tokeninfo", 0, 64)); // used 0 = unused
        f.extend(index_rec(0x2B00, b"internal", b"containermap", 1024, 1024));
        f.extend([0xAA; 7]); // trailing partial record: ignored
        let all = parse_index(&f).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all[0].kind(), IndexRecordKind::DirectoryLabel);
        assert_eq!(all[2].kind(), IndexRecordKind::Unused);
        assert_eq!(all[3].kind(), IndexRecordKind::Unused);
        let files = index_files(&f).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].fid, 0x2480);
        assert_eq!(files[0].directory, b"mscp");
        assert_eq!(
            files[0].object_name(),
            Some(ObjectName {
                kind: ObjectFileKind::Certificate,
                number: 1
            })
        );
        assert_eq!(files[0].used_size, 1364);
        assert_eq!(files[0].allocated_size, 1400);
        assert_eq!(files[0].acl, 0x11);
        assert_eq!(files[1].name_str(), Some("containermap"));
        assert_eq!(files[1].object_name(), None);
        // round trip
        for r in &all {
            assert_eq!(&IndexRecord::from_bytes(&r.to_bytes().unwrap()).unwrap(), r);
        }
        assert!(IndexRecord::from_bytes(&[0; 29]).is_err());
    }

    #[test]
    fn object_names() {
        assert_eq!(
            ObjectName::parse(b"prvk0042"),
            Some(ObjectName {
                kind: ObjectFileKind::PrivateKey,
                number: 42
            })
        );
        assert_eq!(ObjectName::parse(b"pubk9999").map(|n| n.number), Some(9999));
        for bad in [
            &b"cert001"[..],
            b"cert00011",
            b"cert00a1",
            b"CERT0001",
            b"keys0001",
        ] {
            assert_eq!(ObjectName::parse(bad), None);
        }
    }

    fn prvk_stream() -> Vec<u8> {
        let mut modulus = vec![0x00, 0xC3];
        modulus.extend([0x5A; 255]); // 2048-bit modulus with the leading 00 → 257 bytes
        encode_attributes(&[
            Attribute {
                ty: cka::CLASS,
                value: 3u32.to_le_bytes().to_vec(),
            },
            Attribute {
                ty: cka::LABEL,
                value: b"my key".to_vec(),
            },
            Attribute {
                ty: cka::ID,
                value: vec![0x01, 0x02],
            },
            Attribute {
                ty: cka::DECRYPT,
                value: vec![1],
            },
            Attribute {
                ty: cka::SIGN,
                value: vec![1],
            },
            Attribute {
                ty: cka::UNWRAP,
                value: vec![0],
            },
            Attribute {
                ty: cka::MODULUS,
                value: modulus,
            },
            Attribute {
                ty: cka::PUBLIC_EXPONENT,
                value: vec![0x01, 0x00, 0x01],
            },
            Attribute {
                ty: cka::VENDOR_KEY_HANDLE,
                value: 0xA020u32.to_le_bytes().to_vec(),
            },
        ])
        .unwrap()
    }

    #[test]
    fn attribute_stream() {
        let bytes = prvk_stream();
        // exact first triple bytes: type 0 LE, length 4 LE, value 3 LE
        assert_eq!(&bytes[..12], &[0, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0]);
        let s = parse_attributes(&bytes);
        assert!(!s.truncated);
        assert_eq!(s.attributes.len(), 9);
        assert_eq!(s.u32_le(cka::CLASS).unwrap(), Some(3));
        assert_eq!(s.label().unwrap().as_deref(), Some("my key"));
        assert_eq!(s.id(), Some(&[1u8, 2][..]));
        assert_eq!(s.bool(cka::SIGN).unwrap(), Some(true));
        assert_eq!(s.bool(cka::UNWRAP).unwrap(), Some(false));
        assert_eq!(s.bool(cka::SIGN_RECOVER).unwrap(), None);
        assert_eq!(s.modulus().map(<[u8]>::len), Some(256));
        assert_eq!(s.modulus_bits(), Some(2048));
        assert_eq!(s.public_exponent(), Some(&[1u8, 0, 1][..]));
        assert_eq!(s.key_handle().unwrap(), Some(0xA020));
        assert_eq!(key_handle_kind(0xA020), Some(KeyHandleKind::Private));
        assert_eq!(key_handle_kind(0x8040), Some(KeyHandleKind::Public));
        assert_eq!(key_handle_kind(0x2900), None);
        assert_eq!(encode_attributes(&s.attributes).unwrap(), bytes);
    }

    #[test]
    fn attribute_stream_truncation_and_errors() {
        let bytes = prvk_stream();
        // cut inside the last triple's value: the first 8 triples survive
        let s = parse_attributes(&bytes[..bytes.len() - 1]);
        assert!(s.truncated);
        assert_eq!(s.attributes.len(), 8);
        // a declared length of 0xFFFFFFFF
        let mut b = encode_attributes(&[Attribute {
            ty: cka::LABEL,
            value: b"x".to_vec(),
        }])
        .unwrap();
        b.extend_from_slice(&[0x11, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x30]);
        let s = parse_attributes(&b);
        assert!(s.truncated);
        assert_eq!(s.attributes.len(), 1);
        // partial header
        let s = parse_attributes(&[1, 2, 3]);
        assert!(s.truncated && s.attributes.is_empty());
        assert_eq!(parse_attributes(&[]), AttributeStream::default());
        // typed accessors reject wrong sizes
        let s = parse_attributes(
            &encode_attributes(&[
                Attribute {
                    ty: cka::VENDOR_KEY_HANDLE,
                    value: vec![0x20, 0xA0],
                },
                Attribute {
                    ty: cka::SIGN,
                    value: vec![],
                },
                Attribute {
                    ty: cka::LABEL,
                    value: vec![0xFF],
                },
            ])
            .unwrap(),
        );
        assert!(s.key_handle().is_err());
        assert!(s.bool(cka::SIGN).is_err());
        assert!(s.label().is_err());
    }

    #[test]
    fn containermap() {
        let mut f = vec![0x5Cu8; 32]; // header: arbitrary bytes
        for (p, q) in [(0xA020u32, 0x8020u32), (0xA040, 0x8040), (0x1234, 0x8060)] {
            f.extend(p.to_le_bytes());
            f.extend(q.to_le_bytes());
            f.extend([0u8; 16]);
        }
        f.resize(1024, 0);
        let m = parse_containermap(&f).unwrap();
        assert_eq!(m.records.len(), 3);
        assert_eq!(m.private_for_public(0x8040), Some(0xA040));
        assert_eq!(m.public_for_private(0xA020), Some(0x8020));
        assert_eq!(
            m.private_for_public(0x8060),
            None,
            "out-of-range private handle ignored"
        );
        assert!(!m.records[2].is_valid());
        assert_eq!(m.to_file(1024).unwrap(), f);
        // a record after the all-zero terminator is not read
        let mut g = f.clone();
        g[32 + 24 * 4] = 0x60;
        g[32 + 24 * 4 + 1] = 0xA0;
        assert_eq!(parse_containermap(&g).unwrap().records.len(), 3);
        // header only / too short
        assert!(parse_containermap(&f[..32]).unwrap().records.is_empty());
        assert!(parse_containermap(&f[..31]).is_err());
        // trailing partial record ignored
        assert_eq!(
            parse_containermap(&f[..32 + 24 + 10])
                .unwrap()
                .records
                .len(),
            1
        );
    }

    #[test]
    fn label_and_serial() {
        let mut t = b"Bat-Erdene Dorj".to_vec();
        t.resize(32, b' ');
        t.extend([0x01, 0x02, 0x03]); // rest of tokeninfo: not described
        assert_eq!(parse_token_label(&t).unwrap(), "Bat-Erdene Dorj");
        assert_eq!(parse_token_label(&[b' '; 32]).unwrap(), "");
        assert!(parse_token_label(&t[..31]).is_err());
        let id: Vec<u8> = (0u8..16).collect();
        assert_eq!(serial_from_cardid(&id), "000102030405060708090a0b0c0d0e0f");
        assert_eq!(serial_from_cardid(&[0xAB; 20]).len(), 32);
    }
}
