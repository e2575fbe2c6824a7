//! EF(AODF), the Authentication Object Directory File (`3F00/5015/4401` on an OpenSC ePass2003).
//!
//! ```text
//! AuthenticationType ::= CHOICE {
//!     pin               AuthenticationObject { PinAttributes },
//!     biometricTemplate [0] …, authKey [1] …, external [2] …, ... }
//! AuthenticationObject {AuthObjectAttributes} ::= PKCS15Object {
//!     CommonAuthenticationObjectAttributes, NULL, AuthObjectAttributes }
//! CommonAuthenticationObjectAttributes ::= SEQUENCE { authId Identifier, ... }
//! PinAttributes ::= SEQUENCE {
//!     pinFlags PinFlags, pinType PinType, minLength INTEGER, storedLength INTEGER,
//!     maxLength INTEGER OPTIONAL, pinReference [0] Reference DEFAULT 0,
//!     padChar OCTET STRING (SIZE(1)) OPTIONAL, lastPinChange GeneralizedTime OPTIONAL,
//!     path Path OPTIONAL, ... }
//! ```
//! (PKCS#15 v1.1 §6.8). Only `pin` is modelled; the other alternatives are kept as
//! [`UnknownEntry`].

use der::asn1::GeneralizedTime;
use der::Tagged as _;
use der::{AnyRef, Encode};

use super::{
    bad_entry_tag, bits_content, ctx_prim, dec_bits, dec_u32, decode_entries, encode_file,
    is_ctx_constructed, push_tlv, tlv, tlv_of, uint_content, value_as, CommonObjectAttributes,
    Cursor, Path, RawObject, UnknownEntry, TAG_BIT_STRING, TAG_ENUMERATED, TAG_GENERALIZED_TIME,
    TAG_INTEGER, TAG_OCTET_STRING, TAG_SEQUENCE,
};
use crate::error::{Error, Result};

super::bit_flags! {
    /// `PinFlags` (PKCS#15 v1.1 §6.8.2).
    PinFlags {
        /// `case-sensitive(0)`.
        CASE_SENSITIVE = 0;
        /// `local(1)`.
        LOCAL = 1;
        /// `change-disabled(2)`.
        CHANGE_DISABLED = 2;
        /// `unblock-disabled(3)`.
        UNBLOCK_DISABLED = 3;
        /// `initialized(4)`.
        INITIALIZED = 4;
        /// `needs-padding(5)`.
        NEEDS_PADDING = 5;
        /// `unblockingPin(6)`.
        UNBLOCKING_PIN = 6;
        /// `soPin(7)`.
        SO_PIN = 7;
        /// `disable-allowed(8)`.
        DISABLE_ALLOWED = 8;
        /// `integrity-protected(9)`.
        INTEGRITY_PROTECTED = 9;
        /// `confidentiality-protected(10)`.
        CONFIDENTIALITY_PROTECTED = 10;
        /// `exchangeRefData(11)`.
        EXCHANGE_REF_DATA = 11;
    }
}

/// `PinType ::= ENUMERATED { bcd, ascii-numeric, utf8, half-nibble-bcd, iso9564-1, ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinType {
    /// `bcd(0)`.
    Bcd,
    /// `ascii-numeric(1)` (OpenSC's ePass2003 profile).
    AsciiNumeric,
    /// `utf8(2)`.
    Utf8,
    /// `half-nibble-bcd(3)`.
    HalfNibbleBcd,
    /// `iso9564-1(4)`.
    Iso9564_1,
}

impl PinType {
    fn from_u32(v: u32) -> Result<Self> {
        Ok(match v {
            0 => Self::Bcd,
            1 => Self::AsciiNumeric,
            2 => Self::Utf8,
            3 => Self::HalfNibbleBcd,
            4 => Self::Iso9564_1,
            _ => {
                return Err(Error::OutOfRange {
                    field: "pinType",
                    value: u64::from(v),
                    allowed: "0..=4",
                })
            }
        })
    }

    /// The ENUMERATED value.
    pub const fn value(self) -> u32 {
        self as u32
    }
}

/// `PinAttributes` (PKCS#15 v1.1 §6.8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinAttributes {
    /// `pinFlags`.
    pub flags: PinFlags,
    /// `pinType`.
    pub pin_type: PinType,
    /// `minLength`.
    pub min_length: u32,
    /// `storedLength`.
    pub stored_length: u32,
    /// `maxLength`.
    pub max_length: Option<u32>,
    /// `pinReference [0]` (DEFAULT 0; `None` = absent, which means 0). OpenSC always writes it.
    pub reference: Option<u32>,
    /// `padChar` (one byte).
    pub pad_char: Option<u8>,
    /// `lastPinChange`.
    pub last_pin_change: Option<GeneralizedTime>,
    /// `path`: the DF the PIN belongs to (OpenSC ePass2003: `3F005015`).
    pub path: Option<Path>,
}

impl PinAttributes {
    /// The effective reference (the DEFAULT applied).
    pub fn effective_reference(&self) -> u32 {
        self.reference.unwrap_or(0)
    }

    fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        const CTX: &str = "PinAttributes";
        if any.tag().octet() != TAG_SEQUENCE {
            return Err(Error::UnexpectedTag {
                context: CTX,
                found: any.tag(),
            });
        }
        let mut c = Cursor::new(any.value(), CTX)?;
        let flags = PinFlags(dec_bits(c.req(TAG_BIT_STRING, "pinFlags")?, "PinFlags")?);
        let pin_type = PinType::from_u32(dec_u32(c.req(TAG_ENUMERATED, "pinType")?, "pinType")?)?;
        let min_length = dec_u32(c.req(TAG_INTEGER, "minLength")?, "minLength")?;
        let stored_length = dec_u32(c.req(TAG_INTEGER, "storedLength")?, "storedLength")?;
        let max_length = c
            .opt(TAG_INTEGER)?
            .map(|a| dec_u32(a, "maxLength"))
            .transpose()?;
        let reference = c
            .opt(ctx_prim(0))?
            .map(|a| dec_u32(a, "pinReference"))
            .transpose()?;
        let pad_char = match c.opt(TAG_OCTET_STRING)? {
            Some(a) => match a.value() {
                [b] => Some(*b),
                v => {
                    return Err(Error::BadLength {
                        context: "padChar",
                        len: v.len(),
                        expected: "1",
                    })
                }
            },
            None => None,
        };
        let last_pin_change = c
            .opt(TAG_GENERALIZED_TIME)?
            .map(value_as::<GeneralizedTime>)
            .transpose()?;
        let path = c.opt(TAG_SEQUENCE)?.map(Path::decode_any).transpose()?;
        c.skip_extensions()?;
        Ok(Self {
            flags,
            pin_type,
            min_length,
            stored_length,
            max_length,
            reference,
            pad_char,
            last_pin_change,
            path,
        })
    }

    fn to_der(&self) -> Result<Vec<u8>> {
        let mut b = tlv(TAG_BIT_STRING, &bits_content(self.flags.0));
        push_tlv(&mut b, TAG_ENUMERATED, &uint_content(self.pin_type.value()));
        push_tlv(&mut b, TAG_INTEGER, &uint_content(self.min_length));
        push_tlv(&mut b, TAG_INTEGER, &uint_content(self.stored_length));
        if let Some(m) = self.max_length {
            push_tlv(&mut b, TAG_INTEGER, &uint_content(m));
        }
        if let Some(r) = self.reference {
            push_tlv(&mut b, ctx_prim(0), &uint_content(r));
        }
        if let Some(p) = self.pad_char {
            push_tlv(&mut b, TAG_OCTET_STRING, &[p]);
        }
        if let Some(t) = &self.last_pin_change {
            b.extend_from_slice(&t.to_der()?);
        }
        if let Some(p) = &self.path {
            b.extend_from_slice(&p.to_der());
        }
        Ok(tlv(TAG_SEQUENCE, &b))
    }
}

/// A PIN authentication object: `AuthenticationObject { PinAttributes }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinObject {
    /// `commonObjectAttributes`.
    pub common: CommonObjectAttributes,
    /// `CommonAuthenticationObjectAttributes.authId`: what other objects name in their `authId`.
    pub auth_id: Vec<u8>,
    /// `typeAttributes` (`PinAttributes`).
    pub attrs: PinAttributes,
}

/// One AODF entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthObject {
    /// `pin`.
    Pin(PinObject),
    /// `biometricTemplate [0]`, `authKey [1]`, `external [2]` or a later alternative (verbatim).
    Unknown(UnknownEntry),
}

impl AuthObject {
    fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        const CTX: &str = "AuthenticationObject";
        let tag = any.tag().octet();
        if tag == TAG_SEQUENCE {
            let raw = RawObject::decode(any.value(), CTX)?;
            if raw.class.tag().octet() != TAG_SEQUENCE {
                return Err(Error::UnexpectedTag {
                    context: "CommonAuthenticationObjectAttributes",
                    found: raw.class.tag(),
                });
            }
            let mut c = Cursor::new(raw.class.value(), "CommonAuthenticationObjectAttributes")?;
            let auth_id = c.req(TAG_OCTET_STRING, "authId")?.value().to_vec();
            c.skip_extensions()?;
            if let Some(sub) = raw.subclass {
                // `NULL` subclass: allowed only as an explicit NULL.
                if sub.tag() != der::Tag::Null || !sub.value().is_empty() {
                    return Err(Error::UnexpectedTag {
                        context: "AuthenticationObject.subClassAttributes",
                        found: sub.tag(),
                    });
                }
            }
            Ok(Self::Pin(PinObject {
                common: raw.common,
                auth_id,
                attrs: PinAttributes::decode_any(raw.type_attrs)?,
            }))
        } else if is_ctx_constructed(tag) {
            Ok(Self::Unknown(UnknownEntry { der: tlv_of(any) }))
        } else {
            Err(bad_entry_tag(CTX, any))
        }
    }

    /// DER encoding of this entry.
    pub fn to_der(&self) -> Result<Vec<u8>> {
        Ok(match self {
            Self::Pin(p) => RawObject::encode(
                TAG_SEQUENCE,
                &p.common,
                &tlv(TAG_SEQUENCE, &tlv(TAG_OCTET_STRING, &p.auth_id)),
                None,
                &p.attrs.to_der()?,
            ),
            Self::Unknown(u) => u.der.clone(),
        })
    }
}

/// The decoded AODF.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Aodf {
    /// Entries in file order.
    pub objects: Vec<AuthObject>,
}

impl Aodf {
    /// Decodes an AODF file body (entries, optional zero padding).
    pub fn from_der(file: &[u8]) -> Result<Self> {
        Ok(Self {
            objects: decode_entries(file, "AODF", AuthObject::decode_any)?,
        })
    }

    /// Encodes the entries (no padding).
    pub fn to_der(&self) -> Result<Vec<u8>> {
        Ok(self
            .objects
            .iter()
            .map(AuthObject::to_der)
            .collect::<Result<Vec<_>>>()?
            .concat())
    }

    /// Encodes and zero-fills to `size` bytes.
    pub fn to_file(&self, size: usize) -> Result<Vec<u8>> {
        encode_file(vec![self.to_der()?], Some(size), "AODF")
    }

    /// The PIN objects.
    pub fn pins(&self) -> impl Iterator<Item = &PinObject> {
        self.objects.iter().filter_map(|o| match o {
            AuthObject::Pin(p) => Some(p),
            AuthObject::Unknown(_) => None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::asn1::ObjectFlags;

    /// Constructed by hand from the ASN.1 (not captured): the user PIN OpenSC's onepin profile
    /// creates on an ePass2003 (protocol doc §8.4). Object flags private|modifiable (0x03) are an
    /// assumption about OpenSC's defaults for PIN objects.
    pub(crate) const USER_PIN: &[u8] = &[
        0x30, 0x2F, //
        // CommonObjectAttributes: label "User PIN", flags 03 -> `03 02 06 C0`
        0x30, 0x0E, 0x0C, 0x08, b'U', b's', b'e', b'r', b' ', b'P', b'I', b'N', 0x03, 0x02, 0x06,
        0xC0, // CommonAuthenticationObjectAttributes: authId 01
        0x30, 0x03, 0x04, 0x01, 0x01, //
        // [1] { PinAttributes }
        0xA1, 0x18, 0x30, 0x16, //
        0x03, 0x02, 0x02, 0x4C, // pinFlags local|initialized|needs-padding (0x32)
        0x0A, 0x01, 0x01, // ascii-numeric
        0x02, 0x01, 0x04, // minLength 4
        0x02, 0x01, 0x10, // storedLength 16
        0x02, 0x01, 0x10, // maxLength 16
        0x80, 0x01, 0x01, // pinReference 1
        0x04, 0x01,
        0x00, // padChar 00
              // path 3F005015 would follow here: added below
    ];

    pub(crate) fn user_pin_entry() -> Vec<u8> {
        // Append the path and fix up the three enclosing lengths by hand-computed deltas.
        let path = [0x30, 0x06, 0x04, 0x04, 0x3F, 0x00, 0x50, 0x15];
        let mut v = USER_PIN.to_vec();
        v.extend_from_slice(&path);
        v[1] += 8; // outer SEQUENCE
        v[24] += 8; // [1]
        v[26] += 8; // PinAttributes SEQUENCE
        v
    }

    fn expected_user_pin() -> PinObject {
        PinObject {
            common: CommonObjectAttributes {
                label: Some("User PIN".into()),
                flags: Some(ObjectFlags::PRIVATE | ObjectFlags::MODIFIABLE),
                auth_id: None,
                user_consent: None,
            },
            auth_id: vec![0x01],
            attrs: PinAttributes {
                flags: PinFlags::LOCAL | PinFlags::INITIALIZED | PinFlags::NEEDS_PADDING,
                pin_type: PinType::AsciiNumeric,
                min_length: 4,
                stored_length: 16,
                max_length: Some(16),
                reference: Some(1),
                pad_char: Some(0),
                last_pin_change: None,
                path: Some(Path::new([0x3F, 0x00, 0x50, 0x15])),
            },
        }
    }

    #[test]
    fn decodes_opensc_like_user_pin() {
        let mut file = user_pin_entry();
        assert_eq!(file.len(), 0x37 + 2);
        file.resize(0x1300, 0); // AODF is 0x1300 bytes on the card (§8.1)
        let aodf = Aodf::from_der(&file).unwrap();
        let pins: Vec<_> = aodf.pins().collect();
        assert_eq!(pins, [&expected_user_pin()]);
        assert_eq!(pins[0].attrs.flags.bits(), 0x32);
        assert_eq!(aodf.to_file(0x1300).unwrap(), file);
    }

    #[test]
    fn round_trip_with_unknown_and_time() {
        let mut pin = expected_user_pin();
        pin.attrs.last_pin_change = Some(
            GeneralizedTime::from_unix_duration(core::time::Duration::from_secs(1_000_000_000))
                .unwrap(),
        );
        pin.attrs.reference = None;
        pin.common.auth_id = Some(vec![0x02]);
        pin.common.user_consent = Some(3);
        let aodf = Aodf {
            objects: vec![
                AuthObject::Pin(pin),
                AuthObject::Unknown(UnknownEntry {
                    der: vec![0xA1, 0x02, 0x30, 0x00],
                }),
                AuthObject::Pin(expected_user_pin()),
            ],
        };
        let der = aodf.to_der().unwrap();
        assert_eq!(Aodf::from_der(&der).unwrap(), aodf);
    }

    #[test]
    fn rejects_malformed_pins() {
        // bad pinType value 9
        let mut e = user_pin_entry();
        let pos = e.windows(3).position(|w| w == [0x0A, 0x01, 0x01]).unwrap();
        e[pos + 2] = 9;
        assert!(Aodf::from_der(&e).is_err());
        // padChar of two bytes
        let mut e = user_pin_entry();
        let pos = e.windows(3).position(|w| w == [0x04, 0x01, 0x00]).unwrap();
        e.splice(pos..pos + 3, [0x04, 0x02, 0x00, 0x00]);
        e[1] += 1;
        e[24] += 1;
        e[26] += 1;
        assert!(matches!(
            Aodf::from_der(&e),
            Err(Error::Entry { source, .. }) if matches!(*source, Error::BadLength { context: "padChar", .. })
        ));
        // missing typeAttributes
        assert!(Aodf::from_der(&[0x30, 0x07, 0x30, 0x00, 0x30, 0x03, 0x04, 0x01, 0x01]).is_err());
        // a primitive context tag is not a skippable alternative
        assert!(Aodf::from_der(&[0x81, 0x00]).is_err());
        // unknown constructed alternative is skipped (kept)
        assert_eq!(Aodf::from_der(&[0xA2, 0x00]).unwrap().pins().count(), 0);
    }
}
