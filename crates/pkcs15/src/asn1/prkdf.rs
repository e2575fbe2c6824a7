//! EF(PrKDF), the Private Key Directory File (`3F00/5015/4402` on an OpenSC ePass2003).
//!
//! ```text
//! PrivateKeyType ::= CHOICE {
//!     privateRSAKey PrivateKeyObject {PrivateRSAKeyAttributes},
//!     privateECKey  [0] PrivateKeyObject {PrivateECKeyAttributes},
//!     privateDHKey [1] …, privateDSAKey [2] …, privateKEAKey [3] …, ... }
//! PrivateKeyObject {KeyAttributes} ::= PKCS15Object {
//!     CommonKeyAttributes, CommonPrivateKeyAttributes, KeyAttributes }
//! CommonPrivateKeyAttributes ::= SEQUENCE {
//!     subjectName Name OPTIONAL, keyIdentifiers [0] SEQUENCE OF CredentialIdentifier OPTIONAL, ... }
//! PrivateRSAKeyAttributes ::= SEQUENCE {
//!     value ObjectValue {RSAPrivateKey}, modulusLength INTEGER, keyInfo KeyInfo OPTIONAL, ... }
//! PrivateECKeyAttributes ::= SEQUENCE { value ObjectValue {ECPrivateKey}, keyInfo KeyInfo OPTIONAL, ... }
//! ```
//! (PKCS#15 v1.1 §6.6). `privateECKey [0]` tags a SEQUENCE implicitly, so EC entries start with
//! `A0`. OpenSC writes an extra `INTEGER` (the field size in bits) right after the EC `value`;
//! it is decoded as [`EcKeyAttributes::field_size`].
//!
//! On an OpenSC ePass2003 the `value` is the logical path `3F00 5015 29 0n` and `keyReference`
//! is *n* (protocol doc §8.4).

use der::AnyRef;
use der::Tagged as _;

use super::{
    bad_entry_tag, ctx_cons, dec_u32, decode_entries, encode_file, is_ctx_constructed, push_tlv,
    tlv, tlv_of, uint_content, CommonKeyAttributes, CommonObjectAttributes, Cursor, ObjectValue,
    RawObject, UnknownEntry, TAG_INTEGER, TAG_SEQUENCE,
};
use crate::error::{Error, Result};

/// `CommonPrivateKeyAttributes` (PKCS#15 v1.1 §6.6), components kept as DER.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CommonPrivateKeyAttributes {
    /// `subjectName`: complete DER of the X.501 `Name` (a SEQUENCE).
    pub subject_name: Option<Vec<u8>>,
    /// `keyIdentifiers [0]`: complete DER (opaque).
    pub key_identifiers: Option<Vec<u8>>,
}

impl CommonPrivateKeyAttributes {
    fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        const CTX: &str = "CommonPrivateKeyAttributes";
        if any.tag().octet() != TAG_SEQUENCE {
            return Err(Error::UnexpectedTag {
                context: CTX,
                found: any.tag(),
            });
        }
        let mut c = Cursor::new(any.value(), CTX)?;
        let subject_name = c.opt(TAG_SEQUENCE)?.map(tlv_of);
        let key_identifiers = c.opt(ctx_cons(0))?.map(tlv_of);
        c.skip_extensions()?;
        Ok(Self {
            subject_name,
            key_identifiers,
        })
    }

    fn to_der(&self) -> Vec<u8> {
        let mut b = Vec::new();
        for raw in [&self.subject_name, &self.key_identifiers]
            .into_iter()
            .flatten()
        {
            b.extend_from_slice(raw);
        }
        tlv(TAG_SEQUENCE, &b)
    }
}

/// RSA key type attributes, shared by `PrivateRSAKeyAttributes` and `PublicRSAKeyAttributes`
/// (`SEQUENCE { value ObjectValue, modulusLength INTEGER, keyInfo KeyInfo OPTIONAL, ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RsaKeyAttributes {
    /// `value`: where the key is (a path for on-card keys).
    pub value: ObjectValue,
    /// `modulusLength` in bits.
    pub modulus_length: u32,
    /// `keyInfo`: complete DER (opaque; `reference INTEGER` or `paramsAndOps SEQUENCE`).
    pub key_info: Option<Vec<u8>>,
}

impl RsaKeyAttributes {
    pub(crate) fn decode_any(any: AnyRef<'_>, context: &'static str) -> Result<Self> {
        if any.tag().octet() != TAG_SEQUENCE {
            return Err(Error::UnexpectedTag {
                context,
                found: any.tag(),
            });
        }
        let mut c = Cursor::new(any.value(), context)?;
        let value = ObjectValue::decode_any(c.req_any("value")?)?;
        let modulus_length = dec_u32(c.req(TAG_INTEGER, "modulusLength")?, "modulusLength")?;
        let key_info = match c.peek() {
            Some(TAG_INTEGER) | Some(TAG_SEQUENCE) => Some(tlv_of(c.any()?)),
            _ => None,
        };
        c.skip_extensions()?;
        Ok(Self {
            value,
            modulus_length,
            key_info,
        })
    }

    pub(crate) fn to_der(&self) -> Vec<u8> {
        let mut b = self.value.to_der();
        push_tlv(&mut b, TAG_INTEGER, &uint_content(self.modulus_length));
        if let Some(k) = &self.key_info {
            b.extend_from_slice(k);
        }
        tlv(TAG_SEQUENCE, &b)
    }
}

/// EC key type attributes, shared by `PrivateECKeyAttributes` and `PublicECKeyAttributes`
/// (`SEQUENCE { value ObjectValue, [fieldSize INTEGER — OpenSC], keyInfo KeyInfo OPTIONAL, ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EcKeyAttributes {
    /// `value`: where the key is.
    pub value: ObjectValue,
    /// Field size in bits (256 for P-256): the INTEGER OpenSC writes after `value`.
    pub field_size: Option<u32>,
    /// `keyInfo`: complete DER (opaque).
    pub key_info: Option<Vec<u8>>,
}

impl EcKeyAttributes {
    pub(crate) fn decode_any(any: AnyRef<'_>, context: &'static str) -> Result<Self> {
        if any.tag().octet() != TAG_SEQUENCE {
            return Err(Error::UnexpectedTag {
                context,
                found: any.tag(),
            });
        }
        let mut c = Cursor::new(any.value(), context)?;
        let value = ObjectValue::decode_any(c.req_any("value")?)?;
        let field_size = c
            .opt(TAG_INTEGER)?
            .map(|a| dec_u32(a, "fieldSize"))
            .transpose()?;
        let key_info = match c.peek() {
            Some(TAG_INTEGER) | Some(TAG_SEQUENCE) => Some(tlv_of(c.any()?)),
            _ => None,
        };
        c.skip_extensions()?;
        Ok(Self {
            value,
            field_size,
            key_info,
        })
    }

    pub(crate) fn to_der(&self) -> Vec<u8> {
        let mut b = self.value.to_der();
        if let Some(f) = self.field_size {
            push_tlv(&mut b, TAG_INTEGER, &uint_content(f));
        }
        if let Some(k) = &self.key_info {
            b.extend_from_slice(k);
        }
        tlv(TAG_SEQUENCE, &b)
    }
}

/// The algorithm-specific part of a private key object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PrivateKeyKind {
    /// `privateRSAKey`.
    Rsa(RsaKeyAttributes),
    /// `privateECKey [0]`.
    Ec(EcKeyAttributes),
}

/// A private key object (`PrivateKeyObject {…}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrivateKey {
    /// `commonObjectAttributes` (label, flags, authId of the PIN).
    pub common: CommonObjectAttributes,
    /// `classAttributes` (`CommonKeyAttributes`).
    pub key: CommonKeyAttributes,
    /// `subClassAttributes [0]` (`CommonPrivateKeyAttributes`).
    pub private: Option<CommonPrivateKeyAttributes>,
    /// `typeAttributes [1]`.
    pub kind: PrivateKeyKind,
}

/// One PrKDF entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
// A directory holds a handful of entries; boxing the common case would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum PrivateKeyEntry {
    /// An RSA or EC key.
    Key(PrivateKey),
    /// Another alternative (DH, DSA, KEA, GOST, …), kept verbatim.
    Unknown(UnknownEntry),
}

impl PrivateKeyEntry {
    fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        const CTX: &str = "PrivateKeyType";
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
        let private = raw
            .subclass
            .map(CommonPrivateKeyAttributes::decode_any)
            .transpose()?;
        let kind = if is_ec {
            PrivateKeyKind::Ec(EcKeyAttributes::decode_any(
                raw.type_attrs,
                "PrivateECKeyAttributes",
            )?)
        } else {
            PrivateKeyKind::Rsa(RsaKeyAttributes::decode_any(
                raw.type_attrs,
                "PrivateRSAKeyAttributes",
            )?)
        };
        Ok(Self::Key(PrivateKey {
            common: raw.common,
            key,
            private,
            kind,
        }))
    }

    /// DER encoding of this entry.
    pub fn to_der(&self) -> Vec<u8> {
        match self {
            Self::Key(k) => {
                let (tag, type_attrs) = match &k.kind {
                    PrivateKeyKind::Rsa(a) => (TAG_SEQUENCE, a.to_der()),
                    PrivateKeyKind::Ec(a) => (ctx_cons(0), a.to_der()),
                };
                let sub = k.private.as_ref().map(CommonPrivateKeyAttributes::to_der);
                RawObject::encode(tag, &k.common, &k.key.to_der(), sub.as_deref(), &type_attrs)
            }
            Self::Unknown(u) => u.der.clone(),
        }
    }
}

/// The decoded PrKDF.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Prkdf {
    /// Entries in file order.
    pub entries: Vec<PrivateKeyEntry>,
}

impl Prkdf {
    /// Decodes a PrKDF file body (entries, optional zero padding).
    pub fn from_der(file: &[u8]) -> Result<Self> {
        Ok(Self {
            entries: decode_entries(file, "PrKDF", PrivateKeyEntry::decode_any)?,
        })
    }

    /// Encodes the entries (no padding).
    pub fn to_der(&self) -> Vec<u8> {
        self.entries
            .iter()
            .flat_map(PrivateKeyEntry::to_der)
            .collect()
    }

    /// Encodes and zero-fills to `size` bytes.
    pub fn to_file(&self, size: usize) -> Result<Vec<u8>> {
        encode_file(vec![self.to_der()], Some(size), "PrKDF")
    }

    /// The RSA and EC keys.
    pub fn keys(&self) -> impl Iterator<Item = &PrivateKey> {
        self.entries.iter().filter_map(|e| match e {
            PrivateKeyEntry::Key(k) => Some(k),
            PrivateKeyEntry::Unknown(_) => None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::asn1::{KeyAccessFlags, KeyUsageFlags, ObjectFlags, Path};

    /// A 20-byte ID (OpenSC's "mozilla" style: SHA-1 of the modulus; here a made-up value).
    pub(crate) const ID: [u8; 20] = [
        0x5A, 0x1B, 0x2C, 0x3D, 0x4E, 0x5F, 0x60, 0x71, 0x82, 0x93, 0xA4, 0xB5, 0xC6, 0xD7, 0xE8,
        0xF9, 0x0A, 0x1B, 0x2C, 0x3D,
    ];

    /// Constructed by hand from the ASN.1 (not captured): an RSA-2048 key as OpenSC's pkcs15-init
    /// is expected to write it on an ePass2003 (§8.4): label "Private Key", flags
    /// private|modifiable, authId 01, usage sign, native omitted (DEFAULT TRUE), access flags
    /// sensitive|alwaysSensitive|neverExtract|local, keyReference 0, path 3F0050152900, 2048 bits.
    pub(crate) fn rsa_entry() -> Vec<u8> {
        let mut v = vec![0x30, 0x4B];
        // CommonObjectAttributes (0x14 bytes of content)
        v.extend_from_slice(&[0x30, 0x14, 0x0C, 0x0B]);
        v.extend_from_slice(b"Private Key");
        v.extend_from_slice(&[0x03, 0x02, 0x06, 0xC0, 0x04, 0x01, 0x01]);
        // CommonKeyAttributes: id(22) usage(4) access(4) keyRef(3) = 33 = 0x21
        v.extend_from_slice(&[0x30, 0x21, 0x04, 0x14]);
        v.extend_from_slice(&ID);
        v.extend_from_slice(&[0x03, 0x02, 0x05, 0x20]); // sign
        v.extend_from_slice(&[0x03, 0x02, 0x03, 0xB8]); // sensitive|alwaysSensitive|neverExtract|local
        v.extend_from_slice(&[0x02, 0x01, 0x00]); // keyReference 0
                                                  // [1] { PrivateRSAKeyAttributes { Path, 2048 } }
        v.extend_from_slice(&[0xA1, 0x10, 0x30, 0x0E]);
        v.extend_from_slice(&[0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0x50, 0x15, 0x29, 0x00]);
        v.extend_from_slice(&[0x02, 0x02, 0x08, 0x00]);
        assert_eq!(v.len(), 0x4B + 2);
        v
    }

    /// Constructed by hand (not captured): an EC P-256 key at index 2 (path 3F0050152902, key
    /// reference 2), `privateECKey [0]`, with OpenSC's field-size INTEGER 256.
    pub(crate) fn ec_entry() -> Vec<u8> {
        let mut v = vec![0xA0, 0x4B];
        v.extend_from_slice(&[0x30, 0x14, 0x0C, 0x0B]);
        v.extend_from_slice(b"Private Key");
        v.extend_from_slice(&[0x03, 0x02, 0x06, 0xC0, 0x04, 0x01, 0x01]);
        v.extend_from_slice(&[0x30, 0x21, 0x04, 0x14]);
        v.extend_from_slice(&ID);
        v.extend_from_slice(&[0x03, 0x02, 0x05, 0x20]);
        v.extend_from_slice(&[0x03, 0x02, 0x03, 0xB8]);
        v.extend_from_slice(&[0x02, 0x01, 0x02]);
        v.extend_from_slice(&[0xA1, 0x10, 0x30, 0x0E]);
        v.extend_from_slice(&[0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0x50, 0x15, 0x29, 0x02]);
        v.extend_from_slice(&[0x02, 0x02, 0x01, 0x00]);
        v[1] = (v.len() - 2) as u8;
        v
    }

    fn common() -> CommonObjectAttributes {
        CommonObjectAttributes {
            label: Some("Private Key".into()),
            flags: Some(ObjectFlags::PRIVATE | ObjectFlags::MODIFIABLE),
            auth_id: Some(vec![0x01]),
            user_consent: None,
        }
    }

    fn key_attrs(reference: u32) -> CommonKeyAttributes {
        CommonKeyAttributes {
            id: ID.to_vec(),
            usage: KeyUsageFlags::SIGN,
            native: true,
            access_flags: Some(
                KeyAccessFlags::SENSITIVE
                    | KeyAccessFlags::ALWAYS_SENSITIVE
                    | KeyAccessFlags::NEVER_EXTRACTABLE
                    | KeyAccessFlags::LOCAL,
            ),
            key_reference: Some(reference),
        }
    }

    #[test]
    fn decodes_opensc_like_rsa_and_ec() {
        let mut file = rsa_entry();
        file.extend_from_slice(&ec_entry());
        file.resize(1024, 0);
        let prkdf = Prkdf::from_der(&file).unwrap();
        let keys: Vec<_> = prkdf.keys().collect();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            *keys[0],
            PrivateKey {
                common: common(),
                key: key_attrs(0),
                private: None,
                kind: PrivateKeyKind::Rsa(RsaKeyAttributes {
                    value: ObjectValue::Indirect(Path::new([0x3F, 0x00, 0x50, 0x15, 0x29, 0x00])),
                    modulus_length: 2048,
                    key_info: None,
                }),
            }
        );
        assert_eq!(
            keys[1].kind,
            PrivateKeyKind::Ec(EcKeyAttributes {
                value: ObjectValue::Indirect(Path::new([0x3F, 0x00, 0x50, 0x15, 0x29, 0x02])),
                field_size: Some(256),
                key_info: None,
            })
        );
        assert_eq!(keys[1].key.key_reference, Some(2));
        assert_eq!(prkdf.to_file(1024).unwrap(), file);
    }

    #[test]
    fn round_trip_all_options() {
        let mut k = PrivateKey {
            common: common(),
            key: key_attrs(7),
            private: Some(CommonPrivateKeyAttributes {
                subject_name: Some(vec![0x30, 0x00]),
                key_identifiers: Some(vec![0xA0, 0x00]),
            }),
            kind: PrivateKeyKind::Rsa(RsaKeyAttributes {
                value: ObjectValue::Indirect(Path {
                    path: vec![0x29, 0x01],
                    index: Some(0),
                    length: Some(10),
                }),
                modulus_length: 1024,
                key_info: Some(vec![0x02, 0x01, 0x05]),
            }),
        };
        k.key.native = false;
        k.key.usage = KeyUsageFlags::DECRYPT | KeyUsageFlags::NON_REPUDIATION;
        let ec = PrivateKey {
            kind: PrivateKeyKind::Ec(EcKeyAttributes {
                value: ObjectValue::Direct(vec![0x04, 0x01, 0xAA]),
                field_size: None,
                key_info: Some(vec![0x30, 0x00]),
            }),
            ..k.clone()
        };
        let prkdf = Prkdf {
            entries: vec![
                PrivateKeyEntry::Key(k),
                PrivateKeyEntry::Unknown(UnknownEntry {
                    der: vec![0xA2, 0x01, 0x00],
                }),
                PrivateKeyEntry::Key(ec),
            ],
        };
        assert_eq!(Prkdf::from_der(&prkdf.to_der()).unwrap(), prkdf);
    }

    #[test]
    fn rejects_malformed_keys() {
        // modulusLength missing
        let mut e = rsa_entry();
        e.truncate(e.len() - 4);
        e[1] -= 4;
        let n = e.len();
        e[n - 13] -= 4; // [1]
        e[n - 11] -= 4; // SEQUENCE
        assert!(Prkdf::from_der(&e).is_err());
        // negative keyReference
        let mut e = rsa_entry();
        let pos = e.windows(3).position(|w| w == [0x02, 0x01, 0x00]).unwrap();
        e[pos + 2] = 0xFF;
        assert!(Prkdf::from_der(&e).is_err());
        // native BOOLEAN not DER (0x01)
        let mut e = rsa_entry();
        let pos = e
            .windows(4)
            .position(|w| w == [0x03, 0x02, 0x03, 0xB8])
            .unwrap();
        e.splice(pos..pos, [0x01, 0x01, 0x01]);
        e[1] += 3;
        e[25] += 3;
        assert!(Prkdf::from_der(&e).is_err());
        // garbage after an entry (not zero padding)
        let mut e = rsa_entry();
        e.push(0x05);
        assert!(Prkdf::from_der(&e).is_err());
    }
}
