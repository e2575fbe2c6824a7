//! EF(CDF), the Certificate Directory File (`3F00/5015/4404` on an OpenSC ePass2003).
//!
//! ```text
//! CertificateType ::= CHOICE {
//!     x509Certificate CertificateObject {X509CertificateAttributes},
//!     x509AttributeCertificate [0] …, spkiCertificate [1] …, pgpCertificate [2] …,
//!     wtlsCertificate [3] …, x9-68Certificate [4] …, ..., cvCertificate [5] … }
//! CertificateObject {CertAttributes} ::= PKCS15Object {
//!     CommonCertificateAttributes, NULL, CertAttributes }
//! CommonCertificateAttributes ::= SEQUENCE {
//!     iD Identifier, authority BOOLEAN DEFAULT FALSE, identifier CredentialIdentifier OPTIONAL,
//!     certHash [0] OOBCertHash OPTIONAL, ..., trustedUsage [1] Usage OPTIONAL, … }
//! X509CertificateAttributes ::= SEQUENCE {
//!     value ObjectValue {Certificate}, subject Name OPTIONAL, issuer [0] Name OPTIONAL,
//!     serialNumber CertificateSerialNumber OPTIONAL, ... }
//! ```
//! (PKCS#15 v1.1 §6.10). Only `x509Certificate` is modelled. On an OpenSC ePass2003 the value is
//! the path `3F00 5015 31 0n` of a transparent EF with the DER certificate (protocol doc §8.4).

use der::AnyRef;
use der::Tagged as _;

use super::{
    bad_entry_tag, ctx_cons, dec_bool, decode_entries, encode_file, is_ctx_constructed, push_tlv,
    tlv, tlv_of, CommonObjectAttributes, Cursor, ObjectValue, RawObject, UnknownEntry, TAG_BOOLEAN,
    TAG_INTEGER, TAG_OCTET_STRING, TAG_SEQUENCE,
};
use crate::error::{Error, Result};

/// `CommonCertificateAttributes` (components after `certHash` are skipped on decode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CommonCertificateAttributes {
    /// `iD`: equals the `iD` of the matching key objects.
    pub id: Vec<u8>,
    /// `authority` (DEFAULT FALSE; encoded only when true): a CA certificate.
    pub authority: bool,
    /// `identifier`: complete DER (opaque).
    pub identifier: Option<Vec<u8>>,
    /// `certHash [0]`: complete DER (opaque).
    pub cert_hash: Option<Vec<u8>>,
}

impl CommonCertificateAttributes {
    fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        const CTX: &str = "CommonCertificateAttributes";
        if any.tag().octet() != TAG_SEQUENCE {
            return Err(Error::UnexpectedTag {
                context: CTX,
                found: any.tag(),
            });
        }
        let mut c = Cursor::new(any.value(), CTX)?;
        let id = c.req(TAG_OCTET_STRING, "iD")?.value().to_vec();
        let authority = c
            .opt(TAG_BOOLEAN)?
            .map(dec_bool)
            .transpose()?
            .unwrap_or(false);
        let identifier = c.opt(TAG_SEQUENCE)?.map(tlv_of);
        let cert_hash = c.opt(ctx_cons(0))?.map(tlv_of);
        c.skip_extensions()?;
        Ok(Self {
            id,
            authority,
            identifier,
            cert_hash,
        })
    }

    fn to_der(&self) -> Vec<u8> {
        let mut b = tlv(TAG_OCTET_STRING, &self.id);
        if self.authority {
            push_tlv(&mut b, TAG_BOOLEAN, &[0xFF]);
        }
        for raw in [&self.identifier, &self.cert_hash].into_iter().flatten() {
            b.extend_from_slice(raw);
        }
        tlv(TAG_SEQUENCE, &b)
    }
}

/// `X509CertificateAttributes` (components after `serialNumber` are skipped on decode).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct X509CertificateAttributes {
    /// `value`: a path to the DER certificate, or the certificate itself (`direct [0]`).
    pub value: ObjectValue,
    /// `subject`: complete DER of the `Name`.
    pub subject: Option<Vec<u8>>,
    /// `issuer [0]`: complete DER (explicitly tagged `Name`).
    pub issuer: Option<Vec<u8>>,
    /// `serialNumber`: complete DER of the INTEGER.
    pub serial_number: Option<Vec<u8>>,
}

impl X509CertificateAttributes {
    fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        const CTX: &str = "X509CertificateAttributes";
        if any.tag().octet() != TAG_SEQUENCE {
            return Err(Error::UnexpectedTag {
                context: CTX,
                found: any.tag(),
            });
        }
        let mut c = Cursor::new(any.value(), CTX)?;
        let value = ObjectValue::decode_any(c.req_any("value")?)?;
        let subject = c.opt(TAG_SEQUENCE)?.map(tlv_of);
        let issuer = c.opt(ctx_cons(0))?.map(tlv_of);
        let serial_number = c.opt(TAG_INTEGER)?.map(tlv_of);
        c.skip_extensions()?;
        Ok(Self {
            value,
            subject,
            issuer,
            serial_number,
        })
    }

    fn to_der(&self) -> Vec<u8> {
        let mut b = self.value.to_der();
        for raw in [&self.subject, &self.issuer, &self.serial_number]
            .into_iter()
            .flatten()
        {
            b.extend_from_slice(raw);
        }
        tlv(TAG_SEQUENCE, &b)
    }
}

/// An X.509 certificate object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Certificate {
    /// `commonObjectAttributes`.
    pub common: CommonObjectAttributes,
    /// `classAttributes`.
    pub cert: CommonCertificateAttributes,
    /// `typeAttributes [1]`.
    pub x509: X509CertificateAttributes,
}

/// One CDF entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
// A directory holds a handful of entries; boxing the common case would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum CertificateEntry {
    /// `x509Certificate`.
    X509(Certificate),
    /// Another certificate type, kept verbatim.
    Unknown(UnknownEntry),
}

impl CertificateEntry {
    fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        const CTX: &str = "CertificateType";
        let tag = any.tag().octet();
        if tag != TAG_SEQUENCE {
            return if is_ctx_constructed(tag) {
                Ok(Self::Unknown(UnknownEntry { der: tlv_of(any) }))
            } else {
                Err(bad_entry_tag(CTX, any))
            };
        }
        let raw = RawObject::decode(any.value(), CTX)?;
        if let Some(sub) = raw.subclass {
            if sub.tag() != der::Tag::Null || !sub.value().is_empty() {
                return Err(Error::UnexpectedTag {
                    context: "CertificateObject.subClassAttributes",
                    found: sub.tag(),
                });
            }
        }
        Ok(Self::X509(Certificate {
            common: raw.common,
            cert: CommonCertificateAttributes::decode_any(raw.class)?,
            x509: X509CertificateAttributes::decode_any(raw.type_attrs)?,
        }))
    }

    /// DER encoding of this entry.
    pub fn to_der(&self) -> Vec<u8> {
        match self {
            Self::X509(c) => RawObject::encode(
                TAG_SEQUENCE,
                &c.common,
                &c.cert.to_der(),
                None,
                &c.x509.to_der(),
            ),
            Self::Unknown(u) => u.der.clone(),
        }
    }
}

/// The decoded CDF.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Cdf {
    /// Entries in file order.
    pub entries: Vec<CertificateEntry>,
}

impl Cdf {
    /// Decodes a CDF file body (entries, optional zero padding).
    pub fn from_der(file: &[u8]) -> Result<Self> {
        Ok(Self {
            entries: decode_entries(file, "CDF", CertificateEntry::decode_any)?,
        })
    }

    /// Encodes the entries (no padding).
    pub fn to_der(&self) -> Vec<u8> {
        self.entries
            .iter()
            .flat_map(CertificateEntry::to_der)
            .collect()
    }

    /// Encodes and zero-fills to `size` bytes.
    pub fn to_file(&self, size: usize) -> Result<Vec<u8>> {
        encode_file(vec![self.to_der()], Some(size), "CDF")
    }

    /// The X.509 certificates.
    pub fn certificates(&self) -> impl Iterator<Item = &Certificate> {
        self.entries.iter().filter_map(|e| match e {
            CertificateEntry::X509(c) => Some(c),
            CertificateEntry::Unknown(_) => None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::asn1::prkdf::tests::ID;
    use crate::asn1::{ObjectFlags, Path};

    /// Constructed by hand from the ASN.1 (not captured): a user certificate as OpenSC's
    /// `--store-certificate` is expected to write it: label "Certificate", flags modifiable,
    /// iD = the key's ID, authority omitted (FALSE), path 3F0050153100.
    pub(crate) fn cert_entry() -> Vec<u8> {
        let mut v = vec![0x30, 0x00];
        v.extend_from_slice(&[0x30, 0x11, 0x0C, 0x0B]);
        v.extend_from_slice(b"Certificate");
        v.extend_from_slice(&[0x03, 0x02, 0x06, 0x40]);
        v.extend_from_slice(&[0x30, 0x16, 0x04, 0x14]);
        v.extend_from_slice(&ID);
        v.extend_from_slice(&[0xA1, 0x0C, 0x30, 0x0A]);
        v.extend_from_slice(&[0x30, 0x08, 0x04, 0x06, 0x3F, 0x00, 0x50, 0x15, 0x31, 0x00]);
        v[1] = (v.len() - 2) as u8;
        v
    }

    #[test]
    fn decodes_opensc_like_certificate() {
        let mut file = cert_entry();
        file.resize(2048, 0);
        let cdf = Cdf::from_der(&file).unwrap();
        let certs: Vec<_> = cdf.certificates().collect();
        assert_eq!(
            *certs[0],
            Certificate {
                common: CommonObjectAttributes {
                    label: Some("Certificate".into()),
                    flags: Some(ObjectFlags::MODIFIABLE),
                    auth_id: None,
                    user_consent: None,
                },
                cert: CommonCertificateAttributes {
                    id: ID.to_vec(),
                    ..Default::default()
                },
                x509: X509CertificateAttributes {
                    value: ObjectValue::Indirect(Path::new([0x3F, 0x00, 0x50, 0x15, 0x31, 0x00])),
                    subject: None,
                    issuer: None,
                    serial_number: None,
                },
            }
        );
        assert_eq!(cdf.to_file(2048).unwrap(), file);
    }

    #[test]
    fn round_trip_direct_and_authority() {
        let c = Certificate {
            common: CommonObjectAttributes::default(),
            cert: CommonCertificateAttributes {
                id: vec![0x45],
                authority: true,
                identifier: Some(vec![0x30, 0x00]),
                cert_hash: Some(vec![0xA0, 0x00]),
            },
            x509: X509CertificateAttributes {
                value: ObjectValue::Direct(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
                subject: Some(vec![0x30, 0x00]),
                issuer: Some(vec![0xA0, 0x02, 0x30, 0x00]),
                serial_number: Some(vec![0x02, 0x01, 0x07]),
            },
        };
        let cdf = Cdf {
            entries: vec![
                CertificateEntry::X509(c),
                CertificateEntry::Unknown(UnknownEntry {
                    der: vec![0xA5, 0x00],
                }),
            ],
        };
        assert_eq!(Cdf::from_der(&cdf.to_der()).unwrap(), cdf);
    }

    #[test]
    fn rejects_malformed() {
        // value is an unsupported ObjectValue alternative (a URL, PrintableString)
        let mut e = cert_entry();
        let n = e.len();
        e.splice(
            n - 10..n,
            [0x13, 0x08, b'h', b't', b't', b'p', b':', b'/', b'/', b'x'],
        );
        assert!(Cdf::from_der(&e).is_err());
        // missing iD
        assert!(Cdf::from_der(&[
            0x30, 0x0A, 0x30, 0x00, 0x30, 0x00, 0xA1, 0x04, 0x30, 0x02, 0x30, 0x00
        ])
        .is_err());
    }
}
