//! Typed errors of the PKCS#15 / Feitian object layer.
//!
//! Every parser in this crate returns [`Error`]. It is `Clone + PartialEq` so tests can
//! `assert_eq!` on exact failures (workspace convention §4.5).

use der::Tag;

/// Errors from decoding or encoding on-card objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Malformed DER (bad length, non-canonical value, truncated TLV, …) reported by the `der` crate.
    #[error("DER: {0}")]
    Der(#[from] der::Error),

    /// A tag that is not allowed at this position of a known structure.
    #[error("{context}: unexpected tag {found}")]
    UnexpectedTag {
        /// The ASN.1 production being decoded.
        context: &'static str,
        /// The tag that was found.
        found: Tag,
    },

    /// A mandatory component is absent.
    #[error("{context}: missing mandatory component {field}")]
    MissingField {
        /// The ASN.1 production being decoded.
        context: &'static str,
        /// The component's ASN.1 name.
        field: &'static str,
    },

    /// Bytes after the end of a structure that must end there.
    #[error("{context}: {len} byte(s) of trailing data at offset {offset}")]
    TrailingData {
        /// What was being decoded (a file kind or an ASN.1 production).
        context: &'static str,
        /// Offset of the first unexpected byte.
        offset: usize,
        /// Number of trailing bytes.
        len: usize,
    },

    /// An entry of a directory file (ODF, AODF, PrKDF, …) failed to decode.
    #[error("{file} entry at offset {offset}: {source}")]
    Entry {
        /// Which file.
        file: &'static str,
        /// Offset of the entry's first byte in the file.
        offset: usize,
        /// What went wrong inside the entry.
        source: Box<Error>,
    },

    /// A value is syntactically fine but outside the range this crate (or the format) allows.
    #[error("{field}: value {value} out of range ({allowed})")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// The value found.
        value: u64,
        /// Human-readable description of the allowed range.
        allowed: &'static str,
    },

    /// A text field is not valid UTF-8.
    #[error("{field}: not valid UTF-8")]
    InvalidUtf8 {
        /// Which field.
        field: &'static str,
    },

    /// A binary (non-DER) record has the wrong size.
    #[error("{context}: length {len}, expected {expected}")]
    BadLength {
        /// What was being decoded.
        context: &'static str,
        /// Length found.
        len: usize,
        /// Length (or range) expected, in words.
        expected: &'static str,
    },

    /// Unsupported format version of a versioned record.
    #[error("{context}: unsupported version {version}")]
    UnsupportedVersion {
        /// What was being decoded.
        context: &'static str,
        /// The version byte found.
        version: u8,
    },

    /// A record violates a consistency rule (described in the message).
    #[error("{context}: {reason}")]
    Invalid {
        /// What was being decoded.
        context: &'static str,
        /// Which rule was violated.
        reason: &'static str,
    },
}

/// Result alias used throughout the crate.
pub type Result<T> = core::result::Result<T, Error>;
