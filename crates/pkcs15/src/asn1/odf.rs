//! EF(ODF), the Object Directory File (`3F00/5015/5031` on an OpenSC ePass2003).
//!
//! `PKCS15Objects ::= CHOICE { privateKeys [0] PrivateKeys, publicKeys [1] PublicKeys,
//! trustedPublicKeys [2] PublicKeys, secretKeys [3] SecretKeys, certificates [4] Certificates,
//! trustedCertificates [5] Certificates, usefulCertificates [6] Certificates,
//! dataObjects [7] DataObjects, authObjects [8] AuthObjects, ... }` (PKCS#15 v1.1 §6.4), where each
//! alternative is `PathOrObjects ::= CHOICE { path Path, objects [0] …, … }`. A CHOICE under a tag
//! is explicitly tagged, so an entry is `A<n> L { 30 L Path }`. Only the `path` alternative is
//! supported inside (OpenSC writes nothing else).

use der::AnyRef;
use der::Tagged as _;

use super::{
    bad_entry_tag, ctx_cons, decode_entries, encode_file, explicit_inner, is_ctx_constructed, tlv,
    Path, UnknownEntry,
};
use crate::error::{Error, Result};

/// Which directory file an ODF entry points at (the `PKCS15Objects` alternative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OdfKind {
    /// `privateKeys [0]` → PrKDF.
    PrivateKeys,
    /// `publicKeys [1]` → PuKDF.
    PublicKeys,
    /// `trustedPublicKeys [2]` → PuKDF (trusted).
    TrustedPublicKeys,
    /// `secretKeys [3]` → SKDF.
    SecretKeys,
    /// `certificates [4]` → CDF.
    Certificates,
    /// `trustedCertificates [5]` → CDF (trusted).
    TrustedCertificates,
    /// `usefulCertificates [6]` → CDF (useful).
    UsefulCertificates,
    /// `dataObjects [7]` → DODF.
    DataObjects,
    /// `authObjects [8]` → AODF.
    AuthObjects,
}

impl OdfKind {
    /// All kinds, in tag order.
    pub const ALL: [OdfKind; 9] = [
        Self::PrivateKeys,
        Self::PublicKeys,
        Self::TrustedPublicKeys,
        Self::SecretKeys,
        Self::Certificates,
        Self::TrustedCertificates,
        Self::UsefulCertificates,
        Self::DataObjects,
        Self::AuthObjects,
    ];

    /// The context-specific tag number `[n]`.
    pub const fn tag_number(self) -> u8 {
        self as u8
    }

    /// The kind for tag number `n`, if known.
    pub fn from_tag_number(n: u8) -> Option<Self> {
        Self::ALL.get(usize::from(n)).copied()
    }
}

/// One ODF entry: a known kind and the path of its directory file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OdfEntry {
    /// The `PKCS15Objects` alternative.
    pub kind: OdfKind,
    /// Where the directory file is.
    pub path: Path,
}

/// An ODF entry as found in the file: known, or an alternative this crate does not model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OdfRecord {
    /// A known alternative with a `path`.
    Known(OdfEntry),
    /// An unknown alternative (kept verbatim).
    Unknown(UnknownEntry),
}

/// The decoded ODF: its entries in file order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Odf {
    /// Entries in file order.
    pub entries: Vec<OdfRecord>,
}

impl OdfEntry {
    fn decode_any(any: AnyRef<'_>) -> Result<OdfRecord> {
        let tag = any.tag().octet();
        if !is_ctx_constructed(tag) {
            return Err(bad_entry_tag("PKCS15Objects", any));
        }
        let Some(kind) = OdfKind::from_tag_number(tag & 0x1F) else {
            return Ok(OdfRecord::Unknown(UnknownEntry {
                der: super::tlv_of(any),
            }));
        };
        let inner = explicit_inner(any, "PKCS15Objects")?;
        if inner.tag().octet() != super::TAG_SEQUENCE {
            // `objects [0]` or a later PathOrObjects alternative: not supported.
            return Err(Error::UnexpectedTag {
                context: "PathOrObjects",
                found: inner.tag(),
            });
        }
        Ok(OdfRecord::Known(OdfEntry {
            kind,
            path: Path::decode_any(inner)?,
        }))
    }

    /// DER encoding of this entry.
    pub fn to_der(&self) -> Vec<u8> {
        tlv(ctx_cons(self.kind.tag_number()), &self.path.to_der())
    }
}

impl Odf {
    /// Decodes an ODF file body (entries, optional zero padding).
    pub fn from_der(file: &[u8]) -> Result<Self> {
        Ok(Self {
            entries: decode_entries(file, "ODF", OdfEntry::decode_any)?,
        })
    }

    /// Encodes the entries (no padding).
    pub fn to_der(&self) -> Vec<u8> {
        self.entries
            .iter()
            .flat_map(|e| match e {
                OdfRecord::Known(k) => k.to_der(),
                OdfRecord::Unknown(u) => u.der.clone(),
            })
            .collect()
    }

    /// Encodes the entries and zero-fills to `size` bytes (the file size), as OpenSC does.
    pub fn to_file(&self, size: usize) -> Result<Vec<u8>> {
        encode_file(vec![self.to_der()], Some(size), "ODF")
    }

    /// The known entries.
    pub fn known(&self) -> impl Iterator<Item = &OdfEntry> {
        self.entries.iter().filter_map(|e| match e {
            OdfRecord::Known(k) => Some(k),
            OdfRecord::Unknown(_) => None,
        })
    }

    /// Paths of every directory file of `kind`, in file order.
    pub fn paths(&self, kind: OdfKind) -> impl Iterator<Item = &Path> {
        self.known()
            .filter(move |e| e.kind == kind)
            .map(|e| &e.path)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Constructed by hand (not captured): the ODF of an OpenSC onepin card after keygen and
    /// certificate storage, full paths under 3F00/5015, zero padding after the entries.
    pub(crate) fn opensc_like_odf() -> Vec<u8> {
        let mut f = vec![
            0xA8, 0x0A, 0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0x50, 0x15, 0x44, 0x01, // AODF
            0xA0, 0x0A, 0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0x50, 0x15, 0x44, 0x02, // PrKDF
            0xA1, 0x0A, 0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0x50, 0x15, 0x44, 0x03, // PuKDF
            0xA4, 0x0A, 0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0x50, 0x15, 0x44, 0x04, // CDF
            0xA7, 0x0A, 0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0x50, 0x15, 0x44, 0x05, // DODF
        ];
        f.resize(512, 0);
        f
    }

    #[test]
    fn decodes_opensc_like_odf() {
        let odf = Odf::from_der(&opensc_like_odf()).unwrap();
        let kinds: Vec<_> = odf.known().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                OdfKind::AuthObjects,
                OdfKind::PrivateKeys,
                OdfKind::PublicKeys,
                OdfKind::Certificates,
                OdfKind::DataObjects
            ]
        );
        let p = odf.paths(OdfKind::PrivateKeys).next().unwrap();
        assert_eq!(p.path, [0x3F, 0x00, 0x50, 0x15, 0x44, 0x02]);
        assert_eq!(odf.to_file(512).unwrap(), opensc_like_odf());
    }

    #[test]
    fn round_trip_all_kinds_and_unknown() {
        let mut entries: Vec<OdfRecord> = OdfKind::ALL
            .iter()
            .enumerate()
            .map(|(i, &kind)| {
                OdfRecord::Known(OdfEntry {
                    kind,
                    path: Path::new([0x44, i as u8]),
                })
            })
            .collect();
        // [9] is not a PKCS#15 v1.1 alternative: kept verbatim.
        entries.push(OdfRecord::Unknown(UnknownEntry {
            der: vec![0xA9, 0x06, 0x30, 0x04, 0x04, 0x02, 0x44, 0x09],
        }));
        let odf = Odf { entries };
        assert_eq!(Odf::from_der(&odf.to_der()).unwrap(), odf);
    }

    #[test]
    fn strictness() {
        // empty / all-zero file: no entries
        assert_eq!(Odf::from_der(&[]).unwrap(), Odf::default());
        assert_eq!(Odf::from_der(&[0; 16]).unwrap(), Odf::default());
        // non-zero byte in the padding
        let mut f = opensc_like_odf();
        f[300] = 0xFF;
        assert!(matches!(
            Odf::from_der(&f),
            Err(Error::TrailingData { offset: 300, .. })
        ));
        // 0xFF padding is not zero padding
        let mut f = opensc_like_odf();
        f.truncate(60);
        f.extend_from_slice(&[0xFF; 4]);
        assert!(Odf::from_der(&f).is_err());
        // a universal tag where an entry should be
        assert!(matches!(
            Odf::from_der(&[0x30, 0x00]),
            Err(Error::Entry { offset: 0, .. })
        ));
        // known alternative with a malformed Path (extra byte inside the wrapper)
        assert!(Odf::from_der(&[0xA0, 0x06, 0x30, 0x04, 0x04, 0x01, 0x44, 0x05]).is_err());
        assert!(Odf::from_der(&[0xA0, 0x06, 0x30, 0x03, 0x04, 0x01, 0x44, 0x00]).is_err());
        // truncated entry
        assert!(Odf::from_der(&[0xA0, 0x0A, 0x30, 0x08, 0x04]).is_err());
        // `objects [0]` inside a known alternative: unsupported, error
        assert!(Odf::from_der(&[0xA0, 0x02, 0xA0, 0x00]).is_err());
        // file too small for the entries
        assert!(Odf::from_der(&opensc_like_odf())
            .unwrap()
            .to_file(10)
            .is_err());
    }
}
