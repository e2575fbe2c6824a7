//! PKCS#15 DER structures (RSA Laboratories PKCS #15 v1.1 / ISO/IEC 7816-15), one module per
//! file kind, plus the shared productions (`Path`, `CommonObjectAttributes`, `ObjectValue`,
//! `CommonKeyAttributes`, the generic `PKCS15Object`).
//!
//! Decoding is strict DER: the `der` crate parses every TLV header (definite, minimal lengths) and
//! the primitive values; this module adds the PKCS#15 structure on top. Rules:
//!
//! * a directory file (ODF, AODF, PrKDF, …) is the *contents* of a `SEQUENCE OF` entry: entries
//!   back to back, optionally followed by zero padding (OpenSC zero-fills each file up to its size).
//!   A tail of `00` bytes ends the list; any other trailing byte is an error
//!   ([`Error::TrailingData`] / [`Error::Entry`]).
//! * unknown context-specific CHOICE alternatives in a directory file (object types PKCS#15 allows
//!   but this crate does not model) are kept as opaque [`UnknownEntry`] values, not parsed;
//!   malformed known alternatives are errors.
//! * inside a SEQUENCE that PKCS#15 declares extensible (`...`), unknown components after the
//!   known ones are skipped (each must still be a well-formed TLV). They are not re-encoded.
//! * explicit `[n]` wrappers (parameterised types, CHOICEs) must hold exactly one TLV.
//!
//! Encoding always produces DER: `BIT STRING`s with named bits have trailing zero bits removed,
//! `DEFAULT` values are omitted.

pub mod aodf;
pub mod cdf;
pub mod dodf;
pub mod efdir;
pub mod odf;
pub mod prkdf;
pub mod pukdf;
pub mod tokeninfo;

use der::asn1::BitStringRef;
use der::Tagged as _;
use der::{AnyRef, Decode, DecodeValue, Header, Reader, SliceReader};

use crate::error::{Error, Result};

// ---------------------------------------------------------------------------------------------
// Tags (single-octet identifiers; PKCS#15 needs no high tag numbers)

pub(crate) const TAG_BOOLEAN: u8 = 0x01;
pub(crate) const TAG_INTEGER: u8 = 0x02;
pub(crate) const TAG_BIT_STRING: u8 = 0x03;
pub(crate) const TAG_OCTET_STRING: u8 = 0x04;
pub(crate) const TAG_OID: u8 = 0x06;
pub(crate) const TAG_ENUMERATED: u8 = 0x0A;
pub(crate) const TAG_UTF8: u8 = 0x0C;
pub(crate) const TAG_PRINTABLE: u8 = 0x13;
pub(crate) const TAG_GENERALIZED_TIME: u8 = 0x18;
pub(crate) const TAG_SEQUENCE: u8 = 0x30;

/// Context-specific, constructed `[n]`.
pub(crate) const fn ctx_cons(n: u8) -> u8 {
    0xA0 | n
}
/// Context-specific, primitive `[n]`.
pub(crate) const fn ctx_prim(n: u8) -> u8 {
    0x80 | n
}

// ---------------------------------------------------------------------------------------------
// Decoding helpers

/// A cursor over the contents of a constructed value (or over a whole file), yielding TLVs parsed
/// by `der`.
pub(crate) struct Cursor<'a> {
    reader: SliceReader<'a>,
    total: usize,
    context: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8], context: &'static str) -> Result<Self> {
        Ok(Self {
            reader: SliceReader::new(bytes)?,
            total: bytes.len(),
            context,
        })
    }

    /// Offset of the next unread byte.
    pub(crate) fn offset(&self) -> usize {
        usize::try_from(u32::from(self.reader.position())).unwrap_or(usize::MAX)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.reader.is_finished()
    }

    /// First byte of the next TLV (its tag), if any.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.reader.peek_byte()
    }

    /// The next TLV, whatever its tag.
    pub(crate) fn any(&mut self) -> Result<AnyRef<'a>> {
        Ok(AnyRef::decode(&mut self.reader)?)
    }

    /// The next TLV, whatever its tag; [`Error::MissingField`] if there is none.
    pub(crate) fn req_any(&mut self, field: &'static str) -> Result<AnyRef<'a>> {
        if self.is_empty() {
            Err(Error::MissingField {
                context: self.context,
                field,
            })
        } else {
            self.any()
        }
    }

    /// The next TLV if it carries `tag`.
    pub(crate) fn opt(&mut self, tag: u8) -> Result<Option<AnyRef<'a>>> {
        if self.peek() == Some(tag) {
            self.any().map(Some)
        } else {
            Ok(None)
        }
    }

    /// The next TLV, which must carry `tag`.
    pub(crate) fn req(&mut self, tag: u8, field: &'static str) -> Result<AnyRef<'a>> {
        match self.peek() {
            Some(t) if t == tag => self.any(),
            Some(_) => {
                let any = self.any()?;
                Err(Error::UnexpectedTag {
                    context: self.context,
                    found: any.tag(),
                })
            }
            None => Err(Error::MissingField {
                context: self.context,
                field,
            }),
        }
    }

    /// Skips extension components (`...`): each must be a well-formed TLV.
    pub(crate) fn skip_extensions(&mut self) -> Result<()> {
        while !self.is_empty() {
            let any = self.any()?;
            tracing::trace!(context = self.context, tag = %any.tag(), "skipping extension component");
        }
        Ok(())
    }

    /// Requires the cursor to be exhausted.
    pub(crate) fn end(self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            let offset = self.offset();
            Err(Error::TrailingData {
                context: self.context,
                offset,
                len: self.total - offset,
            })
        }
    }
}

/// Decodes the value of `any` as `T`, ignoring its tag (used for IMPLICIT tags and after the tag
/// was already matched). The whole value must be consumed.
pub(crate) fn value_as<'a, T: DecodeValue<'a>>(any: AnyRef<'a>) -> Result<T> {
    let mut reader = SliceReader::new(any.value())?;
    let header = Header::new(any.tag(), any.value().len())?;
    let value = T::decode_value(&mut reader, header)?;
    Ok(reader.finish(value)?)
}

/// Decodes a non-negative `INTEGER` (or `ENUMERATED`) value that fits in a `u32`.
pub(crate) fn dec_u32(any: AnyRef<'_>, field: &'static str) -> Result<u32> {
    let v = any.value();
    let Some(&first) = v.first() else {
        return Err(der::Error::from(der::ErrorKind::Length { tag: any.tag() }).into());
    };
    if v.len() > 1 && first == 0 && v[1] & 0x80 == 0 {
        return Err(any.tag().non_canonical_error().into());
    }
    if v.len() > 1 && first == 0xFF && v[1] & 0x80 != 0 {
        return Err(any.tag().non_canonical_error().into());
    }
    if first & 0x80 != 0 {
        return Err(Error::OutOfRange {
            field,
            value: 0,
            allowed: "non-negative integer",
        });
    }
    let digits = if first == 0 && v.len() > 1 {
        &v[1..]
    } else {
        v
    };
    if digits.len() > 4 {
        return Err(Error::OutOfRange {
            field,
            value: u64::MAX,
            allowed: "0..=2^32-1",
        });
    }
    Ok(digits
        .iter()
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

/// Decodes a DER `BOOLEAN` value.
pub(crate) fn dec_bool(any: AnyRef<'_>) -> Result<bool> {
    value_as::<bool>(any)
}

/// Decodes a UTF-8 text value (`UTF8String`, or a label under an implicit tag).
pub(crate) fn dec_utf8(any: AnyRef<'_>, field: &'static str) -> Result<String> {
    core::str::from_utf8(any.value())
        .map(str::to_owned)
        .map_err(|_| Error::InvalidUtf8 { field })
}

/// Decodes a `BIT STRING` with named bits into an integer where bit *n* is ASN.1 bit *n*
/// (the first bit of the string is bit 0).
pub(crate) fn dec_bits(any: AnyRef<'_>, field: &'static str) -> Result<u32> {
    let bs: BitStringRef<'_> = value_as(any)?;
    let raw = bs.raw_bytes();
    let unused = bs.unused_bits();
    if let Some(&last) = raw.last() {
        let mask = (1u16 << unused) as u8;
        if last & mask.wrapping_sub(1) != 0 {
            // DER: unused bits must be zero.
            return Err(any.tag().non_canonical_error().into());
        }
    }
    let mut out = 0u32;
    for (i, &byte) in raw.iter().enumerate() {
        for j in 0..8 {
            if byte & (0x80 >> j) != 0 {
                let n = i * 8 + j;
                if n >= 32 {
                    return Err(Error::OutOfRange {
                        field,
                        value: n as u64,
                        allowed: "named bits 0..=31",
                    });
                }
                out |= 1 << n;
            }
        }
    }
    Ok(out)
}

/// Requires `any` to be an explicit wrapper holding exactly one TLV, and returns that TLV.
pub(crate) fn explicit_inner<'a>(any: AnyRef<'a>, context: &'static str) -> Result<AnyRef<'a>> {
    let mut c = Cursor::new(any.value(), context)?;
    let inner = match c.peek() {
        Some(_) => c.any()?,
        None => {
            return Err(Error::MissingField {
                context,
                field: "explicitly tagged value",
            })
        }
    };
    c.end()?;
    Ok(inner)
}

/// The complete encoding (tag, length, value) of a decoded TLV.
pub(crate) fn tlv_of(any: AnyRef<'_>) -> Vec<u8> {
    tlv(any.tag().octet(), any.value())
}

// ---------------------------------------------------------------------------------------------
// Encoding helpers (DER)

/// Appends a TLV with a single-octet tag and a definite, minimal length.
pub(crate) fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// A freshly allocated TLV.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    push_tlv(&mut out, tag, content);
    out
}

/// Contents octets of a non-negative `INTEGER`.
pub(crate) fn uint_content(n: u32) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    let mut out = Vec::with_capacity(5);
    if bytes[skip] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&bytes[skip..]);
    out
}

/// Contents octets of a `BIT STRING` with named bits (trailing zero bits removed, X.690 11.2.2).
pub(crate) fn bits_content(bits: u32) -> Vec<u8> {
    if bits == 0 {
        return vec![0];
    }
    let nbits = 32 - bits.leading_zeros() as usize; // highest set bit + 1 (as an ASN.1 bit index)
                                                    // ASN.1 bit n is (1 << n) in `bits`; highest set named bit = nbits-1.
    let nbytes = nbits.div_ceil(8);
    let mut out = vec![(nbytes * 8 - nbits) as u8];
    for i in 0..nbytes {
        let mut byte = 0u8;
        for j in 0..8 {
            let n = i * 8 + j;
            if n < 32 && bits & (1 << n) != 0 {
                byte |= 0x80 >> j;
            }
        }
        out.push(byte);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Flag newtypes

macro_rules! bit_flags {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $flag:ident = $bit:expr;)* }) => {
        $(#[$m])*
        ///
        /// Bit *n* of the inner `u32` is ASN.1 named bit *n* (the first bit of the BIT STRING).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub u32);

        impl $name {
            $($(#[$fm])* pub const $flag: Self = Self(1 << $bit);)*

            /// No flag set.
            pub const EMPTY: Self = Self(0);

            /// The raw bits.
            pub const fn bits(self) -> u32 {
                self.0
            }

            /// True if every bit of `other` is set in `self`.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
        }

        impl core::ops::BitOr for $name {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self(self.0 | rhs.0)
            }
        }
    };
}
pub(crate) use bit_flags;

bit_flags! {
    /// `CommonObjectFlags ::= BIT STRING { private(0), modifiable(1) }` (PKCS#15 v1.1 §6.2).
    ObjectFlags {
        /// `private(0)`: the object may only be accessed after authentication.
        PRIVATE = 0;
        /// `modifiable(1)`.
        MODIFIABLE = 1;
    }
}

bit_flags! {
    /// `KeyUsageFlags` (PKCS#15 v1.1 §6.6).
    KeyUsageFlags {
        /// `encrypt(0)`.
        ENCRYPT = 0;
        /// `decrypt(1)`.
        DECRYPT = 1;
        /// `sign(2)`.
        SIGN = 2;
        /// `signRecover(3)`.
        SIGN_RECOVER = 3;
        /// `wrap(4)`.
        WRAP = 4;
        /// `unwrap(5)`.
        UNWRAP = 5;
        /// `verify(6)`.
        VERIFY = 6;
        /// `verifyRecover(7)`.
        VERIFY_RECOVER = 7;
        /// `derive(8)`.
        DERIVE = 8;
        /// `nonRepudiation(9)`.
        NON_REPUDIATION = 9;
    }
}

bit_flags! {
    /// `KeyAccessFlags` (PKCS#15 v1.1 §6.6).
    KeyAccessFlags {
        /// `sensitive(0)`.
        SENSITIVE = 0;
        /// `extractable(1)`.
        EXTRACTABLE = 1;
        /// `alwaysSensitive(2)`.
        ALWAYS_SENSITIVE = 2;
        /// `neverExtractable(3)`.
        NEVER_EXTRACTABLE = 3;
        /// `local(4)`: generated on the card.
        LOCAL = 4;
    }
}

// ---------------------------------------------------------------------------------------------
// Path

/// `Path ::= SEQUENCE { efidOrPath OCTET STRING, index INTEGER OPTIONAL, length [0] INTEGER OPTIONAL }`
/// (PKCS#15 v1.1 §6.1.3). `index`/`length` address a part of a transparent file.
///
/// Paths on an OpenSC ePass2003 card are absolute (`3F00 5015 …`) and keep the *logical* FID
/// (`…2901`), never the ×0x20-hooked on-card FID (protocol doc §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Path {
    /// `efidOrPath`: a FID or a concatenation of FIDs.
    pub path: Vec<u8>,
    /// `index`: offset of the object inside the file.
    pub index: Option<u32>,
    /// `length [0]`: length of the object inside the file.
    pub length: Option<u32>,
}

impl Path {
    /// A plain path with neither index nor length.
    pub fn new(path: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            index: None,
            length: None,
        }
    }

    pub(crate) fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        if any.tag().octet() != TAG_SEQUENCE {
            return Err(Error::UnexpectedTag {
                context: "Path",
                found: any.tag(),
            });
        }
        let mut c = Cursor::new(any.value(), "Path")?;
        let path = c.req(TAG_OCTET_STRING, "efidOrPath")?.value().to_vec();
        let index = c
            .opt(TAG_INTEGER)?
            .map(|a| dec_u32(a, "Path.index"))
            .transpose()?;
        let length = c
            .opt(ctx_prim(0))?
            .map(|a| dec_u32(a, "Path.length"))
            .transpose()?;
        c.end()?;
        Ok(Self {
            path,
            index,
            length,
        })
    }

    /// DER encoding of this `Path`.
    pub fn to_der(&self) -> Vec<u8> {
        let mut body = tlv(TAG_OCTET_STRING, &self.path);
        if let Some(i) = self.index {
            push_tlv(&mut body, TAG_INTEGER, &uint_content(i));
        }
        if let Some(l) = self.length {
            push_tlv(&mut body, ctx_prim(0), &uint_content(l));
        }
        tlv(TAG_SEQUENCE, &body)
    }

    /// Decodes a DER `Path` (exactly one TLV, nothing after it).
    pub fn from_der(bytes: &[u8]) -> Result<Self> {
        let mut c = Cursor::new(bytes, "Path")?;
        let any = c.any()?;
        c.end()?;
        Self::decode_any(any)
    }
}

// ---------------------------------------------------------------------------------------------
// ObjectValue

/// `ObjectValue {Type} ::= CHOICE { indirect ReferencedValue, direct [0] Type, … }` with
/// `ReferencedValue ::= CHOICE { path Path, url URL }` (PKCS#15 v1.1 §6.1.6).
///
/// Only the `path` and `direct` alternatives are supported; the others (URL, protected values)
/// are errors.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ObjectValue {
    /// `indirect` → `path`: the value lives in a file.
    Indirect(Path),
    /// `direct [0]`: the complete DER encoding of the value, stored inline (explicitly tagged).
    Direct(Vec<u8>),
}

impl ObjectValue {
    pub(crate) fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        match any.tag().octet() {
            TAG_SEQUENCE => Ok(Self::Indirect(Path::decode_any(any)?)),
            t if t == ctx_cons(0) => {
                let inner = explicit_inner(any, "ObjectValue.direct")?;
                Ok(Self::Direct(tlv_of(inner)))
            }
            _ => Err(Error::UnexpectedTag {
                context: "ObjectValue",
                found: any.tag(),
            }),
        }
    }

    pub(crate) fn to_der(&self) -> Vec<u8> {
        match self {
            Self::Indirect(p) => p.to_der(),
            Self::Direct(v) => tlv(ctx_cons(0), v),
        }
    }

    /// The path, when the value is indirect.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Indirect(p) => Some(p),
            Self::Direct(_) => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CommonObjectAttributes

/// `CommonObjectAttributes ::= SEQUENCE { label Label OPTIONAL, flags CommonObjectFlags OPTIONAL,
/// authId Identifier OPTIONAL, ..., userConsent INTEGER OPTIONAL, accessControlRules … OPTIONAL }`
/// (PKCS#15 v1.1 §6.2). `accessControlRules` and later extensions are skipped on decode.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CommonObjectAttributes {
    /// `label` (`UTF8String`).
    pub label: Option<String>,
    /// `flags`.
    pub flags: Option<ObjectFlags>,
    /// `authId`: the `authId` of the authentication object protecting this object.
    pub auth_id: Option<Vec<u8>>,
    /// `userConsent`.
    pub user_consent: Option<u32>,
}

impl CommonObjectAttributes {
    pub(crate) fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        const CTX: &str = "CommonObjectAttributes";
        if any.tag().octet() != TAG_SEQUENCE {
            return Err(Error::UnexpectedTag {
                context: CTX,
                found: any.tag(),
            });
        }
        let mut c = Cursor::new(any.value(), CTX)?;
        let label = c.opt(TAG_UTF8)?.map(|a| dec_utf8(a, "label")).transpose()?;
        let flags = c
            .opt(TAG_BIT_STRING)?
            .map(|a| dec_bits(a, "CommonObjectFlags").map(ObjectFlags))
            .transpose()?;
        let auth_id = c.opt(TAG_OCTET_STRING)?.map(|a| a.value().to_vec());
        let user_consent = c
            .opt(TAG_INTEGER)?
            .map(|a| dec_u32(a, "userConsent"))
            .transpose()?;
        c.skip_extensions()?;
        Ok(Self {
            label,
            flags,
            auth_id,
            user_consent,
        })
    }

    pub(crate) fn to_der(&self) -> Vec<u8> {
        let mut body = Vec::new();
        if let Some(l) = &self.label {
            push_tlv(&mut body, TAG_UTF8, l.as_bytes());
        }
        if let Some(f) = self.flags {
            push_tlv(&mut body, TAG_BIT_STRING, &bits_content(f.0));
        }
        if let Some(a) = &self.auth_id {
            push_tlv(&mut body, TAG_OCTET_STRING, a);
        }
        if let Some(u) = self.user_consent {
            push_tlv(&mut body, TAG_INTEGER, &uint_content(u));
        }
        tlv(TAG_SEQUENCE, &body)
    }
}

// ---------------------------------------------------------------------------------------------
// CommonKeyAttributes (shared by PrKDF and PuKDF)

/// `CommonKeyAttributes ::= SEQUENCE { iD Identifier, usage KeyUsageFlags, native BOOLEAN DEFAULT
/// TRUE, accessFlags KeyAccessFlags OPTIONAL, keyReference Reference OPTIONAL, startDate … OPTIONAL,
/// endDate [0] … OPTIONAL, ... }` (PKCS#15 v1.1 §6.6). Dates and extensions are skipped on decode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommonKeyAttributes {
    /// `iD`: links a private key, its public key and certificate.
    pub id: Vec<u8>,
    /// `usage`.
    pub usage: KeyUsageFlags,
    /// `native` (DEFAULT TRUE, omitted from the encoding when true, as OpenSC does).
    pub native: bool,
    /// `accessFlags`.
    pub access_flags: Option<KeyAccessFlags>,
    /// `keyReference`: the card's reference for the key.
    pub key_reference: Option<u32>,
}

impl CommonKeyAttributes {
    pub(crate) fn decode_any(any: AnyRef<'_>) -> Result<Self> {
        const CTX: &str = "CommonKeyAttributes";
        if any.tag().octet() != TAG_SEQUENCE {
            return Err(Error::UnexpectedTag {
                context: CTX,
                found: any.tag(),
            });
        }
        let mut c = Cursor::new(any.value(), CTX)?;
        let id = c.req(TAG_OCTET_STRING, "iD")?.value().to_vec();
        let usage = KeyUsageFlags(dec_bits(c.req(TAG_BIT_STRING, "usage")?, "KeyUsageFlags")?);
        let native = c
            .opt(TAG_BOOLEAN)?
            .map(dec_bool)
            .transpose()?
            .unwrap_or(true);
        let access_flags = c
            .opt(TAG_BIT_STRING)?
            .map(|a| dec_bits(a, "KeyAccessFlags").map(KeyAccessFlags))
            .transpose()?;
        let key_reference = c
            .opt(TAG_INTEGER)?
            .map(|a| dec_u32(a, "keyReference"))
            .transpose()?;
        c.skip_extensions()?;
        Ok(Self {
            id,
            usage,
            native,
            access_flags,
            key_reference,
        })
    }

    pub(crate) fn to_der(&self) -> Vec<u8> {
        let mut body = tlv(TAG_OCTET_STRING, &self.id);
        push_tlv(&mut body, TAG_BIT_STRING, &bits_content(self.usage.0));
        if !self.native {
            push_tlv(&mut body, TAG_BOOLEAN, &[0x00]);
        }
        if let Some(f) = self.access_flags {
            push_tlv(&mut body, TAG_BIT_STRING, &bits_content(f.0));
        }
        if let Some(r) = self.key_reference {
            push_tlv(&mut body, TAG_INTEGER, &uint_content(r));
        }
        tlv(TAG_SEQUENCE, &body)
    }
}

// ---------------------------------------------------------------------------------------------
// Generic PKCS15Object

/// The four parts of `PKCS15Object {ClassAttributes, SubClassAttributes, TypeAttributes} ::=
/// SEQUENCE { commonObjectAttributes, classAttributes, subClassAttributes [0] OPTIONAL,
/// typeAttributes [1] }`. `[0]` and `[1]` wrap parameter types and are therefore EXPLICIT
/// (X.680 §31.2.7), which is also how OpenSC encodes them.
pub(crate) struct RawObject<'a> {
    pub(crate) common: CommonObjectAttributes,
    pub(crate) class: AnyRef<'a>,
    pub(crate) subclass: Option<AnyRef<'a>>,
    pub(crate) type_attrs: AnyRef<'a>,
}

impl<'a> RawObject<'a> {
    /// Decodes the *contents* of a PKCS15Object (the outer tag was matched by the caller).
    pub(crate) fn decode(contents: &'a [u8], context: &'static str) -> Result<Self> {
        let mut c = Cursor::new(contents, context)?;
        let common =
            CommonObjectAttributes::decode_any(c.req(TAG_SEQUENCE, "commonObjectAttributes")?)?;
        let class = c.req_any("classAttributes")?;
        let subclass = c
            .opt(ctx_cons(0))?
            .map(|a| explicit_inner(a, context))
            .transpose()?;
        let type_attrs = explicit_inner(c.req(ctx_cons(1), "typeAttributes")?, context)?;
        c.end()?;
        Ok(Self {
            common,
            class,
            subclass,
            type_attrs,
        })
    }

    /// Encodes a PKCS15Object under `outer_tag` from already-encoded parts.
    pub(crate) fn encode(
        outer_tag: u8,
        common: &CommonObjectAttributes,
        class: &[u8],
        subclass: Option<&[u8]>,
        type_attrs: &[u8],
    ) -> Vec<u8> {
        let mut body = common.to_der();
        body.extend_from_slice(class);
        if let Some(s) = subclass {
            push_tlv(&mut body, ctx_cons(0), s);
        }
        push_tlv(&mut body, ctx_cons(1), type_attrs);
        tlv(outer_tag, &body)
    }
}

// ---------------------------------------------------------------------------------------------
// Directory files

/// A directory-file entry whose CHOICE alternative this crate does not model (e.g. a DSA key in a
/// PrKDF). It is kept verbatim so that a rewrite of the file preserves it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnknownEntry {
    /// The entry's complete DER encoding (tag, length, value).
    pub der: Vec<u8>,
}

impl UnknownEntry {
    /// The entry's tag octet.
    pub fn tag(&self) -> u8 {
        self.der.first().copied().unwrap_or(0)
    }
}

/// Splits a directory file into its entries, applying the zero-padding rule, and decodes each
/// with `f` (which sees the entry TLV). Errors are wrapped in [`Error::Entry`] with the offset.
pub(crate) fn decode_entries<'a, T>(
    file: &'a [u8],
    kind: &'static str,
    mut f: impl FnMut(AnyRef<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut c = Cursor::new(file, kind)?;
    let mut out = Vec::new();
    while let Some(first) = c.peek() {
        let offset = c.offset();
        if first == 0x00 {
            // Zero padding ends the list; everything after must be zero too.
            let rest = &file[offset..];
            if let Some(pos) = rest.iter().position(|&b| b != 0) {
                return Err(Error::TrailingData {
                    context: kind,
                    offset: offset + pos,
                    len: rest.len() - pos,
                });
            }
            break;
        }
        let wrap = |e: Error| Error::Entry {
            file: kind,
            offset,
            source: Box::new(e),
        };
        let any = c.any().map_err(wrap)?;
        out.push(f(any).map_err(wrap)?);
    }
    Ok(out)
}

/// Is `tag` a context-specific constructed tag (an unknown CHOICE alternative we may skip)?
pub(crate) fn is_ctx_constructed(tag: u8) -> bool {
    tag & 0xE0 == 0xA0
}

/// The error for an entry tag that is neither a known alternative nor a skippable one.
pub(crate) fn bad_entry_tag(context: &'static str, any: AnyRef<'_>) -> Error {
    Error::UnexpectedTag {
        context,
        found: any.tag(),
    }
}

/// Encodes a directory file: the entries back to back, zero-padded to `pad_to` bytes if given.
/// Returns an error if the entries do not fit.
pub(crate) fn encode_file(
    entries: Vec<Vec<u8>>,
    pad_to: Option<usize>,
    kind: &'static str,
) -> Result<Vec<u8>> {
    let mut out: Vec<u8> = entries.concat();
    if let Some(size) = pad_to {
        if out.len() > size {
            return Err(Error::BadLength {
                context: kind,
                len: out.len(),
                expected: "at most the file size",
            });
        }
        out.resize(size, 0);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bits_round_trip_and_der_minimal() {
        // PIN flags 0x32 = local(1) | initialized(4) | needs-padding(5) -> 03 02 02 4C
        assert_eq!(bits_content(0x32), vec![0x02, 0x4C]);
        // access flags sensitive|alwaysSensitive|neverExtract|local = 0x1D -> 03 B8
        assert_eq!(bits_content(0x1D), vec![0x03, 0xB8]);
        assert_eq!(bits_content(0), vec![0x00]);
        assert_eq!(bits_content(1 << 9), vec![0x06, 0x00, 0x40]);
        for v in [0u32, 1, 0x32, 0x1D, 0x3FF, 0x8000_0001, u32::MAX] {
            let der = tlv(TAG_BIT_STRING, &bits_content(v));
            let any = AnyRef::try_from(der.as_slice()).unwrap();
            assert_eq!(dec_bits(any, "t").unwrap(), v);
        }
    }

    #[test]
    fn bits_reject_nonzero_padding() {
        let der = [0x03, 0x02, 0x02, 0x4D];
        let any = AnyRef::try_from(&der[..]).unwrap();
        assert!(dec_bits(any, "t").is_err());
    }

    #[test]
    fn uint_round_trip_and_strictness() {
        for v in [
            0u32,
            1,
            0x7F,
            0x80,
            0xFF,
            0x100,
            2048,
            0x7FFF_FFFF,
            u32::MAX,
        ] {
            let der = tlv(TAG_INTEGER, &uint_content(v));
            let any = AnyRef::try_from(der.as_slice()).unwrap();
            assert_eq!(dec_u32(any, "t").unwrap(), v);
        }
        for bad in [
            &[0x02, 0x00][..],
            &[0x02, 0x01, 0x80],
            &[0x02, 0x02, 0x00, 0x01],
            &[0x02, 0x05, 0x01, 0, 0, 0, 0],
        ] {
            let any = AnyRef::try_from(bad).unwrap();
            assert!(dec_u32(any, "t").is_err(), "{bad:02X?}");
        }
    }

    #[test]
    fn path_round_trip() {
        let p = Path {
            path: vec![0x3F, 0x00, 0x50, 0x15, 0x29, 0x00],
            index: Some(5),
            length: Some(300),
        };
        assert_eq!(Path::from_der(&p.to_der()).unwrap(), p);
        let plain = Path::new([0x3F, 0x00, 0x50, 0x15]);
        assert_eq!(
            plain.to_der(),
            vec![0x30, 0x06, 0x04, 0x04, 0x3F, 0x00, 0x50, 0x15]
        );
        assert_eq!(Path::from_der(&plain.to_der()).unwrap(), plain);
    }

    #[test]
    fn path_rejects_trailing_and_bad_length() {
        // extra component inside Path
        assert!(Path::from_der(&[0x30, 0x05, 0x04, 0x01, 0x3F, 0x05, 0x00]).is_err());
        // declared length longer than the data
        assert!(Path::from_der(&[0x30, 0x07, 0x04, 0x04, 0x3F, 0x00, 0x50, 0x15]).is_err());
        // non-minimal length encoding
        assert!(Path::from_der(&[0x30, 0x81, 0x03, 0x04, 0x01, 0x3F]).is_err());
        // data after the Path
        assert!(Path::from_der(&[0x30, 0x03, 0x04, 0x01, 0x3F, 0x00]).is_err());
    }

    #[test]
    fn long_lengths_encode_minimally() {
        let content = vec![0xAB; 300];
        let t = tlv(TAG_OCTET_STRING, &content);
        assert_eq!(&t[..4], &[0x04, 0x82, 0x01, 0x2C]);
        let any = AnyRef::try_from(t.as_slice()).unwrap();
        assert_eq!(any.value(), &content[..]);
    }
}
