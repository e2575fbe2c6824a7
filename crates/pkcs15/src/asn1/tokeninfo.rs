//! EF(TokenInfo) (`3F00/5015/5032` on an OpenSC ePass2003).
//!
//! ```text
//! TokenInfo ::= SEQUENCE {
//!     version             INTEGER {v1(0)} (v1,...),
//!     serialNumber        OCTET STRING,
//!     manufacturerID      Label OPTIONAL,
//!     label               [0] Label OPTIONAL,
//!     tokenflags          TokenFlags,
//!     seInfo              SEQUENCE OF SecurityEnvironmentInfo OPTIONAL,
//!     recordInfo          [1] RecordInfo OPTIONAL,
//!     supportedAlgorithms [2] SEQUENCE OF AlgorithmInfo OPTIONAL,
//!     ...,
//!     issuerId            [3] Label OPTIONAL,
//!     holderId            [4] Label OPTIONAL,
//!     lastUpdate          LastUpdate OPTIONAL,
//!     preferredLanguage   PrintableString OPTIONAL
//! }
//! ```
//! (PKCS#15 v1.1 §6.9). `seInfo`, `recordInfo` and `supportedAlgorithms` are kept as opaque DER;
//! `lastUpdate` is supported in its `generalizedTime` alternative only; components after
//! `preferredLanguage` (e.g. ISO 7816-15 `profileIndication`) are skipped.
//!
//! The file is one SEQUENCE followed by optional zero padding (OpenSC writes 128 bytes).

use der::asn1::GeneralizedTime;
use der::Encode;

use super::{
    bits_content, ctx_cons, ctx_prim, dec_bits, dec_u32, dec_utf8, push_tlv, tlv, uint_content,
    value_as, Cursor, TAG_BIT_STRING, TAG_GENERALIZED_TIME, TAG_INTEGER, TAG_OCTET_STRING,
    TAG_PRINTABLE, TAG_SEQUENCE, TAG_UTF8,
};
use crate::error::{Error, Result};

super::bit_flags! {
    /// `TokenFlags ::= BIT STRING { readonly(0), loginRequired(1), prnGeneration(2),
    /// eidCompliant(3) }` (PKCS#15 v1.1 §6.9).
    TokenFlags {
        /// `readonly(0)`.
        READONLY = 0;
        /// `loginRequired(1)`.
        LOGIN_REQUIRED = 1;
        /// `prnGeneration(2)`: the token has a random number generator.
        PRN_GENERATION = 2;
        /// `eidCompliant(3)`.
        EID_COMPLIANT = 3;
    }
}

/// The decoded `TokenInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// `version` (0 = v1).
    pub version: u32,
    /// `serialNumber`. OpenSC stores the *hex text* of the chip serial here (ASCII bytes).
    pub serial_number: Vec<u8>,
    /// `manufacturerID` (OpenSC on ePass2003: `"EnterSafe"`).
    pub manufacturer_id: Option<String>,
    /// `label [0]`.
    pub label: Option<String>,
    /// `tokenflags`.
    pub token_flags: TokenFlags,
    /// `seInfo`, complete DER (opaque).
    pub se_info: Option<Vec<u8>>,
    /// `recordInfo [1]`, complete DER (opaque).
    pub record_info: Option<Vec<u8>>,
    /// `supportedAlgorithms [2]`, complete DER (opaque).
    pub supported_algorithms: Option<Vec<u8>>,
    /// `issuerId [3]`.
    pub issuer_id: Option<String>,
    /// `holderId [4]`.
    pub holder_id: Option<String>,
    /// `lastUpdate` (`generalizedTime` alternative).
    pub last_update: Option<GeneralizedTime>,
    /// `preferredLanguage`.
    pub preferred_language: Option<String>,
}

impl TokenInfo {
    /// A TokenInfo with only the mandatory components and optional text fields.
    pub fn new(
        serial_number: impl Into<Vec<u8>>,
        manufacturer_id: Option<String>,
        label: Option<String>,
    ) -> Self {
        Self {
            version: 0,
            serial_number: serial_number.into(),
            manufacturer_id,
            label,
            token_flags: TokenFlags::EMPTY,
            se_info: None,
            record_info: None,
            supported_algorithms: None,
            issuer_id: None,
            holder_id: None,
            last_update: None,
            preferred_language: None,
        }
    }

    /// The serial number as text, if it is printable ASCII (as OpenSC writes it).
    pub fn serial_text(&self) -> Option<&str> {
        core::str::from_utf8(&self.serial_number)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_graphic()))
    }

    /// Decodes a TokenInfo file body: one SEQUENCE, optional zero padding.
    pub fn from_der(file: &[u8]) -> Result<Self> {
        const CTX: &str = "TokenInfo";
        let mut outer = Cursor::new(file, CTX)?;
        let seq = outer.req(TAG_SEQUENCE, "TokenInfo")?;
        let end = outer.offset();
        if let Some(pos) = file[end..].iter().position(|&b| b != 0) {
            return Err(Error::TrailingData {
                context: CTX,
                offset: end + pos,
                len: file.len() - end - pos,
            });
        }

        let mut c = Cursor::new(seq.value(), CTX)?;
        let version = dec_u32(c.req(TAG_INTEGER, "version")?, "version")?;
        let serial_number = c.req(TAG_OCTET_STRING, "serialNumber")?.value().to_vec();
        let manufacturer_id = c
            .opt(TAG_UTF8)?
            .map(|a| dec_utf8(a, "manufacturerID"))
            .transpose()?;
        let label = c
            .opt(ctx_prim(0))?
            .map(|a| dec_utf8(a, "label"))
            .transpose()?;
        let token_flags = TokenFlags(dec_bits(
            c.req(TAG_BIT_STRING, "tokenflags")?,
            "TokenFlags",
        )?);
        let se_info = c.opt(TAG_SEQUENCE)?.map(super::tlv_of);
        let record_info = c.opt(ctx_cons(1))?.map(super::tlv_of);
        let supported_algorithms = c.opt(ctx_cons(2))?.map(super::tlv_of);
        let issuer_id = c
            .opt(ctx_prim(3))?
            .map(|a| dec_utf8(a, "issuerId"))
            .transpose()?;
        let holder_id = c
            .opt(ctx_prim(4))?
            .map(|a| dec_utf8(a, "holderId"))
            .transpose()?;
        let last_update = c
            .opt(TAG_GENERALIZED_TIME)?
            .map(value_as::<GeneralizedTime>)
            .transpose()?;
        let preferred_language = c
            .opt(TAG_PRINTABLE)?
            .map(|a| {
                value_as::<der::asn1::PrintableStringRef<'_>>(a).map(|s| s.as_str().to_owned())
            })
            .transpose()?;
        c.skip_extensions()?;
        Ok(Self {
            version,
            serial_number,
            manufacturer_id,
            label,
            token_flags,
            se_info,
            record_info,
            supported_algorithms,
            issuer_id,
            holder_id,
            last_update,
            preferred_language,
        })
    }

    /// DER encoding (no padding).
    pub fn to_der(&self) -> Result<Vec<u8>> {
        let mut b = tlv(TAG_INTEGER, &uint_content(self.version));
        push_tlv(&mut b, TAG_OCTET_STRING, &self.serial_number);
        if let Some(m) = &self.manufacturer_id {
            push_tlv(&mut b, TAG_UTF8, m.as_bytes());
        }
        if let Some(l) = &self.label {
            push_tlv(&mut b, ctx_prim(0), l.as_bytes());
        }
        push_tlv(&mut b, TAG_BIT_STRING, &bits_content(self.token_flags.0));
        for raw in [&self.se_info, &self.record_info, &self.supported_algorithms]
            .into_iter()
            .flatten()
        {
            b.extend_from_slice(raw);
        }
        if let Some(s) = &self.issuer_id {
            push_tlv(&mut b, ctx_prim(3), s.as_bytes());
        }
        if let Some(s) = &self.holder_id {
            push_tlv(&mut b, ctx_prim(4), s.as_bytes());
        }
        if let Some(t) = &self.last_update {
            b.extend_from_slice(&t.to_der()?);
        }
        if let Some(s) = &self.preferred_language {
            b.extend_from_slice(&der::asn1::PrintableStringRef::new(s)?.to_der()?);
        }
        Ok(tlv(TAG_SEQUENCE, &b))
    }

    /// DER encoding zero-filled to the file size (OpenSC: 128 bytes).
    pub fn to_file(&self, size: usize) -> Result<Vec<u8>> {
        super::encode_file(vec![self.to_der()?], Some(size), "TokenInfo")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Constructed by hand from the ASN.1 (not captured from OpenSC): version 0, serial = hex text
    /// of an 8-byte chip serial, manufacturer "EnterSafe", label [0] "My Token", flags
    /// prnGeneration|eidCompliant (0x0C → `03 02 04 30`), zero padding to 128 bytes.
    pub(crate) fn opensc_like() -> Vec<u8> {
        let mut f = vec![0x30, 0x2E, 0x02, 0x01, 0x00, 0x04, 0x10];
        f.extend_from_slice(b"2e6f44eb001a0001");
        f.extend_from_slice(&[0x0C, 0x09]);
        f.extend_from_slice(b"EnterSafe");
        f.extend_from_slice(&[0x80, 0x08]);
        f.extend_from_slice(b"My Token");
        f.extend_from_slice(&[0x03, 0x02, 0x04, 0x30]);
        assert_eq!(f.len(), 0x2E + 2);
        f.resize(128, 0);
        f
    }

    #[test]
    fn decodes_opensc_like_tokeninfo() {
        let ti = TokenInfo::from_der(&opensc_like()).unwrap();
        assert_eq!(ti.version, 0);
        assert_eq!(ti.serial_text(), Some("2e6f44eb001a0001"));
        assert_eq!(ti.manufacturer_id.as_deref(), Some("EnterSafe"));
        assert_eq!(ti.label.as_deref(), Some("My Token"));
        assert_eq!(
            ti.token_flags,
            TokenFlags::PRN_GENERATION | TokenFlags::EID_COMPLIANT
        );
        assert_eq!(ti.to_file(128).unwrap(), opensc_like());
    }

    #[test]
    fn round_trip_full() {
        let mut ti = TokenInfo::new(
            b"0123456789abcdef".to_vec(),
            Some("EnterSafe".into()),
            Some("label ü".into()),
        );
        ti.token_flags = TokenFlags::LOGIN_REQUIRED | TokenFlags::PRN_GENERATION;
        ti.se_info = Some(vec![0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x01]);
        ti.record_info = Some(vec![0xA1, 0x00]);
        ti.supported_algorithms = Some(vec![0xA2, 0x02, 0x30, 0x00]);
        ti.issuer_id = Some("issuer".into());
        ti.holder_id = Some("holder".into());
        ti.last_update = Some(
            GeneralizedTime::from_unix_duration(core::time::Duration::from_secs(1_700_000_000))
                .unwrap(),
        );
        ti.preferred_language = Some("en".into());
        let der = ti.to_der().unwrap();
        assert_eq!(TokenInfo::from_der(&der).unwrap(), ti);
    }

    #[test]
    fn skips_extensions_and_rejects_garbage() {
        // A trailing unknown component ([5] profileIndication-like) inside the SEQUENCE is skipped.
        let ti = TokenInfo::new(b"01".to_vec(), None, None);
        let mut der = ti.to_der().unwrap();
        der.extend_from_slice(&[0xA5, 0x00]);
        der[1] += 2;
        assert_eq!(TokenInfo::from_der(&der).unwrap(), ti);
        // Missing tokenflags.
        assert!(matches!(
            TokenInfo::from_der(&[0x30, 0x05, 0x02, 0x01, 0x00, 0x04, 0x00]),
            Err(Error::MissingField {
                field: "tokenflags",
                ..
            })
        ));
        // Non-zero byte after the SEQUENCE.
        let mut f = opensc_like();
        f[100] = 1;
        assert!(matches!(
            TokenInfo::from_der(&f),
            Err(Error::TrailingData { offset: 100, .. })
        ));
        // Wrong length (one too long).
        let mut f = opensc_like();
        f[1] = 0x2F;
        f.truncate(0x30);
        assert!(TokenInfo::from_der(&f).is_err());
        // Empty file.
        assert!(TokenInfo::from_der(&[]).is_err());
    }
}
