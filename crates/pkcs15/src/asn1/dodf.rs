//! EF(DODF), the Data Object Directory File (`3F00/5015/4405` on an OpenSC ePass2003).
//!
//! ```text
//! DataType ::= CHOICE {
//!     opaqueDO    DataObject {Opaque},
//!     externalIDO [0] DataObject {ExternalIDO},
//!     oidDO       [1] DataObject {OidDO}, ... }
//! DataObject {DataObjectAttributes} ::= PKCS15Object {
//!     CommonDataObjectAttributes, NULL, DataObjectAttributes }
//! CommonDataObjectAttributes ::= SEQUENCE {
//!     applicationName Label OPTIONAL, applicationOID OBJECT IDENTIFIER OPTIONAL, ... }
//! Opaque ::= ObjectValue {OCTET STRING}
//! ```
//! (PKCS#15 v1.1 §6.11). Only `opaqueDO` is modelled (it is what OpenSC writes, with a path to a
//! `33xx`/`34xx` EF).

use der::asn1::ObjectIdentifier;
use der::AnyRef;
use der::Tagged as _;

use super::{
    bad_entry_tag, dec_utf8, decode_entries, encode_file, is_ctx_constructed, push_tlv, tlv,
    tlv_of, value_as, CommonObjectAttributes, Cursor, ObjectValue, RawObject, UnknownEntry,
    TAG_OID, TAG_SEQUENCE, TAG_UTF8,
};
use crate::error::{Error, Result};

/// An opaque data object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataObject {
    /// `commonObjectAttributes` (a private object carries the PIN's `authId`).
    pub common: CommonObjectAttributes,
    /// `CommonDataObjectAttributes.applicationName`.
    pub application_name: Option<String>,
    /// `CommonDataObjectAttributes.applicationOID`.
    pub application_oid: Option<ObjectIdentifier>,
    /// `typeAttributes [1]`: the `Opaque` value (normally a path).
    pub value: ObjectValue,
}

/// One DODF entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DataObjectEntry {
    /// `opaqueDO`.
    Opaque(DataObject),
    /// `externalIDO [0]`, `oidDO [1]` or a later alternative, kept verbatim.
    Unknown(UnknownEntry),
}

impl DataObjectEntry {
    fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        const CTX: &str = "DataType";
        let tag = any.tag().octet();
        if tag != TAG_SEQUENCE {
            return if is_ctx_constructed(tag) {
                Ok(Self::Unknown(UnknownEntry { der: tlv_of(any) }))
            } else {
                Err(bad_entry_tag(CTX, any))
            };
        }
        let raw = RawObject::decode(any.value(), CTX)?;
        if raw.class.tag().octet() != TAG_SEQUENCE {
            return Err(Error::UnexpectedTag {
                context: "CommonDataObjectAttributes",
                found: raw.class.tag(),
            });
        }
        if let Some(sub) = raw.subclass {
            if sub.tag() != der::Tag::Null || !sub.value().is_empty() {
                return Err(Error::UnexpectedTag {
                    context: "DataObject.subClassAttributes",
                    found: sub.tag(),
                });
            }
        }
        let mut c = Cursor::new(raw.class.value(), "CommonDataObjectAttributes")?;
        let application_name = c
            .opt(TAG_UTF8)?
            .map(|a| dec_utf8(a, "applicationName"))
            .transpose()?;
        let application_oid = c
            .opt(TAG_OID)?
            .map(value_as::<ObjectIdentifier>)
            .transpose()?;
        c.skip_extensions()?;
        Ok(Self::Opaque(DataObject {
            common: raw.common,
            application_name,
            application_oid,
            value: ObjectValue::decode_any(raw.type_attrs)?,
        }))
    }

    /// DER encoding of this entry.
    pub fn to_der(&self) -> Vec<u8> {
        match self {
            Self::Opaque(d) => {
                let mut class = Vec::new();
                if let Some(n) = &d.application_name {
                    push_tlv(&mut class, TAG_UTF8, n.as_bytes());
                }
                if let Some(oid) = &d.application_oid {
                    push_tlv(&mut class, TAG_OID, oid.as_bytes());
                }
                RawObject::encode(
                    TAG_SEQUENCE,
                    &d.common,
                    &tlv(TAG_SEQUENCE, &class),
                    None,
                    &d.value.to_der(),
                )
            }
            Self::Unknown(u) => u.der.clone(),
        }
    }
}

/// The decoded DODF.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Dodf {
    /// Entries in file order.
    pub entries: Vec<DataObjectEntry>,
}

impl Dodf {
    /// Decodes a DODF file body (entries, optional zero padding).
    pub fn from_der(file: &[u8]) -> Result<Self> {
        Ok(Self {
            entries: decode_entries(file, "DODF", DataObjectEntry::decode_any)?,
        })
    }

    /// Encodes the entries (no padding).
    pub fn to_der(&self) -> Vec<u8> {
        self.entries
            .iter()
            .flat_map(DataObjectEntry::to_der)
            .collect()
    }

    /// Encodes and zero-fills to `size` bytes.
    pub fn to_file(&self, size: usize) -> Result<Vec<u8>> {
        encode_file(vec![self.to_der()], Some(size), "DODF")
    }

    /// The opaque data objects.
    pub fn objects(&self) -> impl Iterator<Item = &DataObject> {
        self.entries.iter().filter_map(|e| match e {
            DataObjectEntry::Opaque(d) => Some(d),
            DataObjectEntry::Unknown(_) => None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::asn1::{ObjectFlags, Path};

    /// Constructed by hand from the ASN.1 (not captured): a private data object as
    /// `pkcs15-init --store-data-object` is expected to write it: label "secret", flags
    /// private|modifiable, authId 01, application "app", OID 1.2.3.4, path 3F0050153400.
    pub(crate) fn data_entry() -> Vec<u8> {
        let mut v = vec![0x30, 0x00];
        v.extend_from_slice(&[0x30, 0x0F, 0x0C, 0x06]);
        v.extend_from_slice(b"secret");
        v.extend_from_slice(&[0x03, 0x02, 0x06, 0xC0, 0x04, 0x01, 0x01]);
        v.extend_from_slice(&[
            0x30, 0x0A, 0x0C, 0x03, b'a', b'p', b'p', 0x06, 0x03, 0x2A, 0x03, 0x04,
        ]);
        v.extend_from_slice(&[0xA1, 0x0A]);
        v.extend_from_slice(&[0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0x50, 0x15, 0x34, 0x00]);
        v[1] = (v.len() - 2) as u8;
        v
    }

    #[test]
    fn decodes_opensc_like_data_object() {
        let mut file = data_entry();
        file.resize(0x1300, 0);
        let dodf = Dodf::from_der(&file).unwrap();
        let objs: Vec<_> = dodf.objects().collect();
        assert_eq!(
            *objs[0],
            DataObject {
                common: CommonObjectAttributes {
                    label: Some("secret".into()),
                    flags: Some(ObjectFlags::PRIVATE | ObjectFlags::MODIFIABLE),
                    auth_id: Some(vec![1]),
                    user_consent: None,
                },
                application_name: Some("app".into()),
                application_oid: Some(ObjectIdentifier::new_unwrap("1.2.3.4")),
                value: ObjectValue::Indirect(Path::new([0x3F, 0x00, 0x50, 0x15, 0x34, 0x00])),
            }
        );
        assert_eq!(dodf.to_file(0x1300).unwrap(), file);
    }

    #[test]
    fn round_trip_minimal_and_unknown() {
        let dodf = Dodf {
            entries: vec![
                DataObjectEntry::Opaque(DataObject {
                    common: CommonObjectAttributes::default(),
                    application_name: None,
                    application_oid: None,
                    value: ObjectValue::Direct(vec![0x04, 0x02, 0x01, 0x02]),
                }),
                DataObjectEntry::Unknown(UnknownEntry {
                    der: vec![0xA1, 0x00],
                }),
            ],
        };
        assert_eq!(Dodf::from_der(&dodf.to_der()).unwrap(), dodf);
    }

    #[test]
    fn rejects_bad_oid() {
        let mut e = data_entry();
        let pos = e.windows(2).position(|w| w == [0x06, 0x03]).unwrap();
        e[pos + 2] = 0x80; // non-minimal OID arc encoding
        assert!(Dodf::from_der(&e).is_err());
    }
}
