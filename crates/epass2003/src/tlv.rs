//! Minimal BER-TLV walking (one-byte tags, lengths `xx`, `81 xx`, `82 xx xx`).

use crate::error::{Error, Result};

/// One TLV: tag, value range within the parsed buffer, and where the TLV started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv {
    /// One-byte tag.
    pub tag: u8,
    /// Offset of the tag byte.
    pub start: usize,
    /// Offset of the first value byte.
    pub value_start: usize,
    /// Offset one past the last value byte.
    pub end: usize,
}

/// Parse one TLV at `pos` with DER/BER length forms.
pub fn parse_one(buf: &[u8], pos: usize) -> Result<Tlv> {
    let bad = || Error::Malformed(format!("bad TLV at offset {pos}"));
    let tag = *buf.get(pos).ok_or_else(bad)?;
    let l0 = *buf.get(pos + 1).ok_or_else(bad)?;
    let (len, hdr) = match l0 {
        0..=0x7F => (usize::from(l0), 2),
        0x81 => (usize::from(*buf.get(pos + 2).ok_or_else(bad)?), 3),
        0x82 => {
            let hi = *buf.get(pos + 2).ok_or_else(bad)?;
            let lo = *buf.get(pos + 3).ok_or_else(bad)?;
            (usize::from(u16::from_be_bytes([hi, lo])), 4)
        }
        _ => return Err(bad()),
    };
    let value_start = pos + hdr;
    let end = value_start.checked_add(len).ok_or_else(bad)?;
    if end > buf.len() {
        return Err(bad());
    }
    Ok(Tlv {
        tag,
        start: pos,
        value_start,
        end,
    })
}

/// Parse a whole buffer as a sequence of TLVs.
pub fn parse_all(buf: &[u8]) -> Result<Vec<Tlv>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let t = parse_one(buf, pos)?;
        pos = t.end;
        out.push(t);
    }
    Ok(out)
}

/// Append a TLV with a DER length (used for building FCPs).
pub fn push(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    match value.len() {
        0..=0x7F => out.push(value.len() as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, value.len() as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(value);
}
