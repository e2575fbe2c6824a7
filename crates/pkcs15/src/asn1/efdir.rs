//! EF.DIR (`3F00/2F00`): ISO/IEC 7816-4 application templates, one per record.
//!
//! ```text
//! ApplicationTemplate ::= [APPLICATION 1] SEQUENCE {      -- 61
//!     aid   [APPLICATION 15] OCTET STRING,                -- 4F
//!     label [APPLICATION 16] UTF8String OPTIONAL,         -- 50
//!     path  [APPLICATION 17] OCTET STRING OPTIONAL,       -- 51
//!     ddo   [APPLICATION 19] DDO OPTIONAL,                -- 73
//!     ... }
//! ```
//! (PKCS#15 v1.1 §5.4.1, ISO/IEC 7816-4 §8.2.1.1). OpenSC writes one record on an ePass2003:
//! `61 L { 4F 0C A0 00 00 00 63 50 4B 43 53 2D 31 35 | 50 <label> | 51 04 3F 00 50 15 }`
//! (protocol doc §5.3). Unknown data objects after the known ones are skipped.

use der::AnyRef;
use der::Tagged as _;

use super::{dec_utf8, decode_entries, push_tlv, tlv, tlv_of, Cursor};
use crate::error::{Error, Result};

const TAG_TEMPLATE: u8 = 0x61;
const TAG_AID: u8 = 0x4F;
const TAG_LABEL: u8 = 0x50;
const TAG_PATH: u8 = 0x51;
const TAG_DDO: u8 = 0x73;

/// The PKCS#15 application identifier `A0 00 00 00 63 "PKCS-15"`.
pub const PKCS15_AID: [u8; 12] = [
    0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35,
];

/// One application template (one EF.DIR record).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApplicationTemplate {
    /// `4F`: the application identifier.
    pub aid: Vec<u8>,
    /// `50`: the application label.
    pub label: Option<String>,
    /// `51`: the path of the application DF (raw FIDs, e.g. `3F00 5015`).
    pub path: Option<Vec<u8>>,
    /// `73`: discretionary data objects, complete DER (opaque).
    pub ddo: Option<Vec<u8>>,
}

impl ApplicationTemplate {
    fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        const CTX: &str = "ApplicationTemplate";
        if any.tag().octet() != TAG_TEMPLATE {
            return Err(Error::UnexpectedTag {
                context: CTX,
                found: any.tag(),
            });
        }
        let mut c = Cursor::new(any.value(), CTX)?;
        let aid = c.req(TAG_AID, "aid")?.value().to_vec();
        if aid.is_empty() || aid.len() > 16 {
            return Err(Error::BadLength {
                context: "ApplicationTemplate.aid",
                len: aid.len(),
                expected: "1..=16",
            });
        }
        let label = c
            .opt(TAG_LABEL)?
            .map(|a| dec_utf8(a, "label"))
            .transpose()?;
        let path = c.opt(TAG_PATH)?.map(|a| a.value().to_vec());
        let ddo = c.opt(TAG_DDO)?.map(tlv_of);
        c.skip_extensions()?;
        Ok(Self {
            aid,
            label,
            path,
            ddo,
        })
    }

    /// Decodes one EF.DIR record: exactly one template, nothing after it.
    pub fn from_record(record: &[u8]) -> Result<Self> {
        let mut c = Cursor::new(record, "EF.DIR record")?;
        let any = c.any()?;
        c.end()?;
        Self::decode_any(any)
    }

    /// Encodes one EF.DIR record.
    pub fn to_record(&self) -> Vec<u8> {
        let mut b = tlv(TAG_AID, &self.aid);
        if let Some(l) = &self.label {
            push_tlv(&mut b, TAG_LABEL, l.as_bytes());
        }
        if let Some(p) = &self.path {
            push_tlv(&mut b, TAG_PATH, p);
        }
        if let Some(d) = &self.ddo {
            b.extend_from_slice(d);
        }
        tlv(TAG_TEMPLATE, &b)
    }

    /// Decodes a *transparent* EF.DIR (templates back to back, optional zero padding).
    pub fn from_transparent(file: &[u8]) -> Result<Vec<Self>> {
        decode_entries(file, "EF.DIR", Self::decode_any)
    }

    /// True if this is the PKCS#15 application.
    pub fn is_pkcs15(&self) -> bool {
        self.aid == PKCS15_AID
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Constructed by hand (not captured) from the record layout in protocol doc §5.3, with
    /// OpenSC's default application label "OpenSC Card" (an assumption).
    pub(crate) fn record() -> Vec<u8> {
        let mut v = vec![0x61, 0x00, 0x4F, 0x0C];
        v.extend_from_slice(&PKCS15_AID);
        v.extend_from_slice(&[0x50, 0x0B]);
        v.extend_from_slice(b"OpenSC Card");
        v.extend_from_slice(&[0x51, 0x04, 0x3F, 0x00, 0x50, 0x15]);
        v[1] = (v.len() - 2) as u8;
        v
    }

    #[test]
    fn decodes_opensc_like_record() {
        let t = ApplicationTemplate::from_record(&record()).unwrap();
        assert!(t.is_pkcs15());
        assert_eq!(t.label.as_deref(), Some("OpenSC Card"));
        assert_eq!(t.path.as_deref(), Some(&[0x3F, 0x00, 0x50, 0x15][..]));
        assert_eq!(t.to_record(), record());
        assert!(
            record().len() <= 0x40,
            "must fit the 0x40-byte record limit"
        );
    }

    #[test]
    fn round_trip_and_transparent() {
        let t = ApplicationTemplate {
            aid: vec![0xA0, 0x01],
            label: None,
            path: None,
            ddo: Some(vec![0x73, 0x02, 0x80, 0x00]),
        };
        assert_eq!(ApplicationTemplate::from_record(&t.to_record()).unwrap(), t);
        let mut file = record();
        file.extend_from_slice(&t.to_record());
        file.resize(112, 0);
        let all = ApplicationTemplate::from_transparent(&file).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1], t);
    }

    #[test]
    fn rejects_malformed() {
        // padding is not allowed inside a record
        let mut r = record();
        r.push(0);
        assert!(ApplicationTemplate::from_record(&r).is_err());
        // missing AID
        assert!(ApplicationTemplate::from_record(&[0x61, 0x02, 0x50, 0x00]).is_err());
        // empty AID
        assert!(ApplicationTemplate::from_record(&[0x61, 0x02, 0x4F, 0x00]).is_err());
        // wrong outer tag
        assert!(ApplicationTemplate::from_record(&[0x30, 0x02, 0x4F, 0x00]).is_err());
    }
}
