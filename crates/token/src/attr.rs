//! Typed access to attribute templates, the value encodings of the ABI, and the declarative
//! attribute policy (which attributes are sensitive, which may be set after creation).

use crate::error::{Error, Result};
use cryptoki_sys::*;

/// An attribute type (`CKA_*`).
pub type AttrType = CK_ATTRIBUTE_TYPE;

/// A caller's template, values copied out of the caller's memory at the boundary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Template(pub Vec<(AttrType, Vec<u8>)>);

impl Template {
    /// The raw value of `ty`, if present (the last one wins).
    pub fn raw(&self, ty: AttrType) -> Option<&[u8]> {
        self.0
            .iter()
            .rev()
            .find(|(t, _)| *t == ty)
            .map(|(_, v)| v.as_slice())
    }
    /// A `CK_BBOOL` attribute.
    pub fn bool(&self, ty: AttrType) -> Result<Option<bool>> {
        match self.raw(ty) {
            None => Ok(None),
            Some([b]) => Ok(Some(*b != 0)),
            Some(_) => Err(Error::AttributeValueInvalid),
        }
    }
    /// A `CK_ULONG` attribute.
    pub fn ulong(&self, ty: AttrType) -> Result<Option<CK_ULONG>> {
        match self.raw(ty) {
            None => Ok(None),
            Some(v) => {
                let arr: [u8; std::mem::size_of::<CK_ULONG>()] =
                    v.try_into().map_err(|_| Error::AttributeValueInvalid)?;
                Ok(Some(CK_ULONG::from_ne_bytes(arr)))
            }
        }
    }
    /// A UTF-8 attribute (labels).
    pub fn string(&self, ty: AttrType) -> Result<Option<String>> {
        match self.raw(ty) {
            None => Ok(None),
            Some(v) => String::from_utf8(v.to_vec())
                .map(Some)
                .map_err(|_| Error::AttributeValueInvalid),
        }
    }
    /// Byte-string attribute.
    pub fn bytes(&self, ty: AttrType) -> Option<Vec<u8>> {
        self.raw(ty).map(<[u8]>::to_vec)
    }
    /// Attribute types present.
    pub fn types(&self) -> impl Iterator<Item = AttrType> + '_ {
        self.0.iter().map(|(t, _)| *t)
    }
}

/// Encode a `CK_BBOOL`.
pub fn b(v: bool) -> Vec<u8> {
    vec![if v { CK_TRUE } else { CK_FALSE }]
}

/// Encode a `CK_ULONG` (native endianness and width).
pub fn ul(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// The outcome of reading one attribute (`C_GetAttributeValue` keeps going past failures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    /// The value.
    Value(Vec<u8>),
    /// `CKR_ATTRIBUTE_SENSITIVE`.
    Sensitive,
    /// `CKR_ATTRIBUTE_TYPE_INVALID`.
    Invalid,
}

/// Attributes of a private key whose value never leaves the card (policy: sensitive).
pub const SENSITIVE_PRIVATE: &[AttrType] = &[
    CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1,
    CKA_PRIME_2,
    CKA_EXPONENT_1,
    CKA_EXPONENT_2,
    CKA_COEFFICIENT,
    CKA_VALUE,
];

/// Attributes `C_SetAttributeValue` may change (stored on the card).
pub const SETTABLE: &[AttrType] = &[CKA_LABEL, CKA_ID];

/// Attributes whose value may be given at creation but are fixed by the token (the template
/// value must agree with ours or the call fails with `CKR_TEMPLATE_INCONSISTENT`).
pub const FIXED_TRUE_ON_PRIVATE: &[AttrType] = &[CKA_SENSITIVE, CKA_NEVER_EXTRACTABLE];
