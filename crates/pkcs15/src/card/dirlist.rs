//! Directory files as lists of DER entries, and pull-safe edits of them.
//!
//! A PKCS#15 directory file (ODF, AODF, PrKDF, PuKDF, CDF, DODF) is a run of DER entries followed
//! by zero padding. Both OpenSC and this module stop at the first `00` (or `FF`) tag byte, so
//! whatever lies after that byte is invisible.
//!
//! **Write technique (pull-safe ordering).** Every edit is expressed as "new bytes for the range
//! `[start, end)`" where `start` is the offset of the first entry that changes (for an append: the
//! current end of the list, which holds the `00` terminator). The range is written with UPDATE
//! BINARY in chunks of at most [`CHUNK`] bytes **from the last chunk to the first**, so the
//! chunk holding `start` goes last:
//!
//! * append: until the last APDU, offset `start` still holds `00`, so every reader sees the old
//!   list; the last APDU makes the new entry visible at once. Entries this crate writes are kept
//!   below [`CHUNK`] bytes (label and ID limits), so an append is a single APDU anyway.
//! * remove / replace: when the changed range fits in one APDU, the single UPDATE BINARY is
//!   atomic. When it does not (more than 232 bytes of entries after the one being changed), the
//!   caller uses a shadow copy instead (`card::rewrite_dir`): the complete new list goes into an
//!   unreferenced shadow file, then one UPDATE BINARY switches the ODF entry's path to it, then
//!   the old file is deleted.
//!
//! Card-side atomicity of one UPDATE BINARY is assumed (the emulator applies a command
//! completely or not at all; the real card is an EEPROM card with a transaction buffer).

/// UPDATE BINARY chunk size used by the driver (§5.2).
pub const CHUNK: usize = 232;

/// Result of scanning a (possibly partial) directory file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// The list ends at `end` (the offset of the terminator or of the end of the file); `spans`
    /// are the entries' `[start, end)` ranges.
    Done {
        /// Entry ranges.
        spans: Vec<(usize, usize)>,
        /// Offset after the last entry.
        end: usize,
    },
    /// More bytes are needed (an entry runs past the bytes read so far).
    NeedMore,
}

/// Parses one DER header at `off`: returns (header length, content length).
fn header(buf: &[u8], off: usize) -> Option<Result<(usize, usize), ()>> {
    let first = *buf.get(off + 1)?;
    if first < 0x80 {
        return Some(Ok((2, usize::from(first))));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 3 {
        return Some(Err(()));
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | usize::from(*buf.get(off + 2 + i)?);
    }
    Some(Ok((2 + n, len)))
}

/// Scans `buf` (the first bytes of a file of `file_size` bytes). `complete` is true when `buf`
/// is the whole file. A malformed header ends the list there (like a terminator): a reader never
/// fails on a file this crate may have half-written, and the strict parser then checks each
/// entry.
pub fn scan(buf: &[u8], file_size: usize) -> Scan {
    let complete = buf.len() >= file_size;
    let limit = buf.len().min(file_size);
    let mut spans = Vec::new();
    let mut off = 0;
    loop {
        if off >= limit {
            if complete || off >= file_size {
                return Scan::Done { spans, end: off };
            }
            return Scan::NeedMore;
        }
        let tag = buf[off];
        if tag == 0x00 || tag == 0xFF {
            return Scan::Done { spans, end: off };
        }
        match header(&buf[..limit], off) {
            None if complete => return Scan::Done { spans, end: off },
            None => return Scan::NeedMore,
            Some(Err(())) => return Scan::Done { spans, end: off },
            Some(Ok((h, l))) => {
                let e = off + h + l;
                if e > file_size {
                    // Cannot be a complete entry: treat as the end of the list.
                    return Scan::Done { spans, end: off };
                }
                if e > limit {
                    return Scan::NeedMore;
                }
                spans.push((off, e));
                off = e;
            }
        }
    }
}

/// One planned UPDATE BINARY: offset and bytes.
pub type Write = (usize, Vec<u8>);

/// Plans the writes that replace `[start, old_end)` of a file with `new` (zero-padded to cover
/// the old range), last chunk first. Returns an empty plan when nothing changes.
pub fn plan(start: usize, old_end: usize, new: &[u8], file_size: usize) -> Option<Vec<Write>> {
    let mut bytes = new.to_vec();
    let cover = old_end.saturating_sub(start);
    if bytes.len() < cover {
        bytes.resize(cover, 0);
    }
    if start + bytes.len() > file_size {
        return None;
    }
    // Keep a terminator after the new list if there is room (it is already zero: the file was
    // zero-filled and every edit zero-fills the range it vacates).
    let mut out: Vec<Write> = bytes
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, c)| (start + i * CHUNK, c.to_vec()))
        .collect();
    out.reverse();
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn scan_stops_at_terminator_and_ignores_tail() {
        let f = [0x30, 0x01, 0xAA, 0x30, 0x00, 0x00, 0x30, 0x05, 1, 2];
        assert_eq!(
            scan(&f, 10),
            Scan::Done {
                spans: vec![(0, 3), (3, 5)],
                end: 5
            }
        );
        assert_eq!(scan(&f[..2], 10), Scan::NeedMore);
        // An entry that cannot fit the file ends the list.
        assert_eq!(
            scan(&[0x30, 0x20, 0], 3),
            Scan::Done {
                spans: vec![],
                end: 0
            }
        );
    }

    #[test]
    fn plan_is_tail_first() {
        let p = plan(10, 10, &[7u8; 300], 1024).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].0, 10 + CHUNK);
        assert_eq!(p[1].0, 10);
        let p = plan(0, 50, &[1u8; 10], 64).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].1.len(), 50);
        assert!(plan(60, 60, &[1u8; 10], 64).is_none());
    }
}
