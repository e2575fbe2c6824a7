//! EF(PuKDF), the Public Key Directory File (`3F00/5015/4403` on an OpenSC ePass2003).
//!
//! ```text
//! PublicKeyType ::= CHOICE {
//!     publicRSAKey PublicKeyObject {PublicRSAKeyAttributes},
//!     publicECKey  [0] PublicKeyObject {PublicECKeyAttributes},
//!     publicDHKey [1] …, publicDSAKey [2] …, publicKEAKey [3] …, ... }
//! PublicKeyObject {KeyAttributes} ::= PKCS15Object {
//!     CommonKeyAttributes, CommonPublicKeyAttributes, KeyAttributes }
//! CommonPublicKeyAttributes ::= SEQUENCE { subjectName Name OPTIONAL, ..., trustedUsage [0] Usage OPTIONAL }
//! PublicRSAKeyAttributes ::= SEQUENCE {
//!     value ObjectValue {RSAPublicKeyChoice}, modulusLength INTEGER, keyInfo KeyInfo OPTIONAL, ... }
//! PublicECKeyAttributes ::= SEQUENCE { value ObjectValue {ECPoint}, keyInfo KeyInfo OPTIONAL, ... }
//! ```
//! (PKCS#15 v1.1 §6.7). The type attributes reuse [`RsaKeyAttributes`] and [`EcKeyAttributes`].
//! On an OpenSC ePass2003 the value is the path `3F00 5015 30 0n` of a transparent EF holding
//! `RSAPublicKey` (RSA) or `SubjectPublicKeyInfo` (EC) (protocol doc §8.4).

use der::AnyRef;
use der::Tagged as _;

use super::prkdf::{EcKeyAttributes, RsaKeyAttributes};
use super::{
    bad_entry_tag, ctx_cons, decode_entries, encode_file, is_ctx_constructed, tlv_of,
    CommonKeyAttributes, CommonObjectAttributes, RawObject, UnknownEntry, TAG_SEQUENCE,
};
use crate::error::{Error, Result};

/// The algorithm-specific part of a public key object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PublicKeyKind {
    /// `publicRSAKey`.
    Rsa(RsaKeyAttributes),
    /// `publicECKey [0]`.
    Ec(EcKeyAttributes),
}

/// A public key object (`PublicKeyObject {…}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    /// `commonObjectAttributes`.
    pub common: CommonObjectAttributes,
    /// `classAttributes` (`CommonKeyAttributes`).
    pub key: CommonKeyAttributes,
    /// `subClassAttributes [0]` (`CommonPublicKeyAttributes`), complete DER of its SEQUENCE.
    pub public: Option<Vec<u8>>,
    /// `typeAttributes [1]`.
    pub kind: PublicKeyKind,
}

/// One PuKDF entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PublicKeyEntry {
    /// An RSA or EC key.
    Key(PublicKey),
    /// Another alternative, kept verbatim.
    Unknown(UnknownEntry),
}

impl PublicKeyEntry {
    fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        const CTX: &str = "PublicKeyType";
        let tag = any.tag().octet();
        let is_ec = tag == ctx_cons(0);
        if tag != TAG_SEQUENCE && !is_ec {
            return if is_ctx_constructed(tag) {
                Ok(Self::Unknown(UnknownEntry { der: tlv_of(any) }))
            } else {
                Err(bad_entry_tag(CTX, any))
            };
        }
        let raw = RawObject::decode(any.value(), CTX)?;
        let key = CommonKeyAttributes::decode_any(raw.class)?;
        let public = match raw.subclass {
            Some(s) if s.tag().octet() == TAG_SEQUENCE => Some(tlv_of(s)),
            Some(s) => {
                return Err(Error::UnexpectedTag {
                    context: "CommonPublicKeyAttributes",
                    found: s.tag(),
                })
            }
            None => None,
        };
        let kind = if is_ec {
            PublicKeyKind::Ec(EcKeyAttributes::decode_any(
                raw.type_attrs,
                "PublicECKeyAttributes",
            )?)
        } else {
            PublicKeyKind::Rsa(RsaKeyAttributes::decode_any(
                raw.type_attrs,
                "PublicRSAKeyAttributes",
            )?)
        };
        Ok(Self::Key(PublicKey {
            common: raw.common,
            key,
            public,
            kind,
        }))
    }

    /// DER encoding of this entry.
    pub fn to_der(&self) -> Vec<u8> {
        match self {
            Self::Key(k) => {
                let (tag, type_attrs) = match &k.kind {
                    PublicKeyKind::Rsa(a) => (TAG_SEQUENCE, a.to_der()),
                    PublicKeyKind::Ec(a) => (ctx_cons(0), a.to_der()),
                };
                RawObject::encode(
                    tag,
                    &k.common,
                    &k.key.to_der(),
                    k.public.as_deref(),
                    &type_attrs,
                )
            }
            Self::Unknown(u) => u.der.clone(),
        }
    }
}

/// The decoded PuKDF.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Pukdf {
    /// Entries in file order.
    pub entries: Vec<PublicKeyEntry>,
}

impl Pukdf {
    /// Decodes a PuKDF file body (entries, optional zero padding).
    pub fn from_der(file: &[u8]) -> Result<Self> {
        Ok(Self {
            entries: decode_entries(file, "PuKDF", PublicKeyEntry::decode_any)?,
        })
    }

    /// Encodes the entries (no padding).
    pub fn to_der(&self) -> Vec<u8> {
        self.entries
            .iter()
            .flat_map(PublicKeyEntry::to_der)
            .collect()
    }

    /// Encodes and zero-fills to `size` bytes.
    pub fn to_file(&self, size: usize) -> Result<Vec<u8>> {
        encode_file(vec![self.to_der()], Some(size), "PuKDF")
    }

    /// The RSA and EC keys.
    pub fn keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.entries.iter().filter_map(|e| match e {
            PublicKeyEntry::Key(k) => Some(k),
            PublicKeyEntry::Unknown(_) => None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::asn1::prkdf::tests::ID;
    use crate::asn1::{KeyUsageFlags, ObjectFlags, ObjectValue, Path};

    /// Constructed by hand from the ASN.1 (not captured): the RSA-2048 public key object OpenSC is
    /// expected to write after keygen: label "Public Key", flags modifiable (0x02 → `03 02 06 40`),
    /// no authId, usage verify (bit 6 → `03 02 01 02`), keyReference 0, path 3F0050153000.
    pub(crate) fn rsa_pub_entry() -> Vec<u8> {
        let mut v = vec![0x30, 0x00];
        v.extend_from_slice(&[0x30, 0x10, 0x0C, 0x0A]);
        v.extend_from_slice(b"Public Key");
        v.extend_from_slice(&[0x03, 0x02, 0x06, 0x40]);
        // CommonKeyAttributes: id(22) usage(4) keyRef(3) = 29 = 0x1D
        v.extend_from_slice(&[0x30, 0x1D, 0x04, 0x14]);
        v.extend_from_slice(&ID);
        v.extend_from_slice(&[0x03, 0x02, 0x01, 0x02]);
        v.extend_from_slice(&[0x02, 0x01, 0x00]);
        v.extend_from_slice(&[0xA1, 0x10, 0x30, 0x0E]);
        v.extend_from_slice(&[0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0x50, 0x15, 0x30, 0x00]);
        v.extend_from_slice(&[0x02, 0x02, 0x08, 0x00]);
        v[1] = (v.len() - 2) as u8;
        v
    }

    #[test]
    fn decodes_opensc_like_rsa_public_key() {
        let mut file = rsa_pub_entry();
        file.resize(1024, 0);
        let pukdf = Pukdf::from_der(&file).unwrap();
        let keys: Vec<_> = pukdf.keys().collect();
        assert_eq!(keys.len(), 1);
        let k = keys[0];
        assert_eq!(k.common.label.as_deref(), Some("Public Key"));
        assert_eq!(k.common.flags, Some(ObjectFlags::MODIFIABLE));
        assert_eq!(k.key.usage, KeyUsageFlags::VERIFY);
        assert_eq!(k.key.id, ID);
        assert_eq!(
            k.kind,
            PublicKeyKind::Rsa(RsaKeyAttributes {
                value: ObjectValue::Indirect(Path::new([0x3F, 0x00, 0x50, 0x15, 0x30, 0x00])),
                modulus_length: 2048,
                key_info: None,
            })
        );
        assert_eq!(pukdf.to_file(1024).unwrap(), file);
    }

    #[test]
    fn round_trip_rsa_ec_unknown() {
        let base = Pukdf::from_der(&rsa_pub_entry()).unwrap();
        let PublicKeyEntry::Key(rsa) = base.entries[0].clone() else {
            panic!("not a key")
        };
        let ec = PublicKey {
            public: Some(vec![0x30, 0x02, 0x30, 0x00]),
            kind: PublicKeyKind::Ec(EcKeyAttributes {
                value: ObjectValue::Indirect(Path::new([0x3F, 0x00, 0x50, 0x15, 0x30, 0x01])),
                field_size: Some(256),
                key_info: None,
            }),
            ..rsa.clone()
        };
        let pukdf = Pukdf {
            entries: vec![
                PublicKeyEntry::Key(rsa),
                PublicKeyEntry::Key(ec),
                PublicKeyEntry::Unknown(UnknownEntry {
                    der: vec![0xA2, 0x00],
                }),
            ],
        };
        assert_eq!(Pukdf::from_der(&pukdf.to_der()).unwrap(), pukdf);
    }

    #[test]
    fn rejects_malformed() {
        // subclass that is not a SEQUENCE
        let mut e = rsa_pub_entry();
        let pos = e.iter().position(|&b| b == 0xA1).unwrap();
        e.splice(pos..pos, [0xA0, 0x02, 0x05, 0x00]);
        e[1] += 4;
        assert!(Pukdf::from_der(&e).is_err());
        // an OCTET STRING entry
        assert!(Pukdf::from_der(&[0x04, 0x00]).is_err());
    }
}
