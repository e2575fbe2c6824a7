//! File formats used by the ePass2003 management tool and (later) by a "PKCS#12 file as a
//! token" backend of the PKCS#11 library.
//!
//! * [`pkcs12`]: read legacy and modern PKCS#12 (`.p12` / `.pfx`) files, write modern ones,
//!   change their password atomically.
//! * [`certs`]: certificates from DER, PEM (one or many blocks) and P7B (DER or PEM).
//! * [`details`]: human-readable facts about a certificate (names, serial, fingerprints,
//!   validity, key usage, key type).
//! * [`csr`]: parse an RFC 4514 subject string and build a PKCS#10 request whose signature is
//!   made by a caller-supplied closure (the private key lives on a card).
//!
//! This crate depends on no card crate; everything here works on bytes and files.
#![forbid(unsafe_code)]

pub mod certs;
pub mod csr;
pub mod details;
mod names;
pub mod pkcs12;

/// Errors of the certificate, details and CSR functions (PKCS#12 has its own [`pkcs12::Error`]).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input is not in the expected format, or is damaged.
    #[error("invalid data: {0}")]
    Format(String),
    /// The input is well-formed but uses something this crate does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The signing callback failed or returned a signature that does not verify.
    #[error("signature failed: {0}")]
    Signature(String),
}

impl From<der::Error> for Error {
    fn from(e: der::Error) -> Self {
        Error::Format(e.to_string())
    }
}

/// Text of an upper-case colon-separated hex string ("AB:CD:01").
pub(crate) fn hex_colon(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// PEM blocks in a text: (label, decoded bytes) for each well-formed block, in order.
///
/// Text outside the blocks (OpenSSL's "subject=..." / "Bag Attributes" lines) is ignored.
pub(crate) fn pem_blocks(data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let text = std::str::from_utf8(data).map_err(|_| "PEM text is not UTF-8".to_string())?;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let after_begin = &block["-----BEGIN ".len()..];
        let label_end = after_begin
            .find("-----")
            .ok_or_else(|| "unterminated PEM BEGIN line".to_string())?;
        let label = &after_begin[..label_end];
        let end_marker = format!("-----END {label}-----");
        let end = block
            .find(&end_marker)
            .ok_or_else(|| format!("PEM block \"{label}\" has no END line"))?;
        let whole = &block[..end + end_marker.len()];
        let (got_label, der) = pem_rfc7468::decode_vec(whole.as_bytes())
            .map_err(|e| format!("PEM block \"{label}\": {e}"))?;
        out.push((got_label.to_string(), der));
        rest = &block[end + end_marker.len()..];
    }
    Ok(out)
}

/// Does the data look like PEM text (starts, after white space, with a BEGIN line)?
pub(crate) fn looks_like_pem(data: &[u8]) -> bool {
    let trimmed = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&data[..0], |i| &data[i..]);
    trimmed.starts_with(b"-----BEGIN ")
        || (std::str::from_utf8(data).is_ok() && data.windows(11).any(|w| w == b"-----BEGIN "))
}
