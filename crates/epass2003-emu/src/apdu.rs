//! Command APDU parsing (short and extended length, ISO 7816-3 cases 1–4).

/// A parsed command APDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Class byte as received.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (empty for cases 1 and 2).
    pub data: Vec<u8>,
    /// Ne, already decoded (`Le = 00` → 256, extended `00 00` → 65536); `None` without Le.
    pub ne: Option<usize>,
    /// Whether extended length fields were used.
    pub extended: bool,
}

impl Drop for Command {
    fn drop(&mut self) {
        // command data may carry PIN keys, cryptograms and private-key components
        zeroize::Zeroize::zeroize(&mut self.data);
    }
}

/// Why an APDU could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError;

impl Command {
    /// Parses a raw command APDU.
    pub fn parse(b: &[u8]) -> Result<Command, ParseError> {
        if b.len() < 4 {
            return Err(ParseError);
        }
        let mut c = Command {
            cla: b[0],
            ins: b[1],
            p1: b[2],
            p2: b[3],
            data: Vec::new(),
            ne: None,
            extended: false,
        };
        let body = &b[4..];
        match body.len() {
            0 => return Ok(c),
            1 => {
                c.ne = Some(if body[0] == 0 { 256 } else { body[0] as usize });
                return Ok(c);
            }
            _ => {}
        }
        if body[0] != 0 {
            let lc = body[0] as usize;
            if body.len() == 1 + lc {
                c.data = body[1..].to_vec();
            } else if body.len() == 2 + lc {
                c.data = body[1..1 + lc].to_vec();
                let le = body[1 + lc];
                c.ne = Some(if le == 0 { 256 } else { le as usize });
            } else {
                return Err(ParseError);
            }
            return Ok(c);
        }
        // extended length
        c.extended = true;
        if body.len() == 3 {
            let le = u16::from_be_bytes([body[1], body[2]]) as usize;
            c.ne = Some(if le == 0 { 65536 } else { le });
            return Ok(c);
        }
        if body.len() < 3 {
            return Err(ParseError);
        }
        let lc = u16::from_be_bytes([body[1], body[2]]) as usize;
        if lc == 0 {
            return Err(ParseError);
        }
        if body.len() == 3 + lc {
            c.data = body[3..].to_vec();
        } else if body.len() == 5 + lc {
            c.data = body[3..3 + lc].to_vec();
            let le = u16::from_be_bytes([body[3 + lc], body[4 + lc]]) as usize;
            c.ne = Some(if le == 0 { 65536 } else { le });
        } else {
            return Err(ParseError);
        }
        Ok(c)
    }
}

/// A response: data and status word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Response data.
    pub data: Vec<u8>,
    /// Status word.
    pub sw: u16,
}

impl Response {
    /// A status-only response.
    pub fn sw(sw: u16) -> Response {
        Response {
            data: Vec::new(),
            sw,
        }
    }
    /// A 9000 response with data.
    pub fn ok(data: Vec<u8>) -> Response {
        Response { data, sw: 0x9000 }
    }
    /// Serialises as data ‖ SW1 SW2.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = self.data.clone();
        v.extend_from_slice(&self.sw.to_be_bytes());
        v
    }
}

/// Reads one BER-TLV (1-byte tag, lengths in 1-byte, `81 xx` or `82 xx xx` form) from `b`.
/// Returns `(tag, value, rest)`.
pub fn read_tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    if b.len() < 2 {
        return None;
    }
    let tag = b[0];
    let (len, hdr) = match b[1] {
        l if l < 0x80 => (l as usize, 2),
        0x81 => (*b.get(2)? as usize, 3),
        0x82 => (u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize, 4),
        _ => return None,
    };
    if b.len() < hdr + len {
        return None;
    }
    Some((tag, &b[hdr..hdr + len], &b[hdr + len..]))
}

/// DER length encoding.
pub fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else if n < 0x100 {
        vec![0x81, n as u8]
    } else {
        vec![0x82, (n >> 8) as u8, n as u8]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_cases() {
        let c = Command::parse(&[0, 0xA4, 0, 0, 2, 0x3F, 0, 0]).expect("c4");
        assert_eq!((c.data.clone(), c.ne), (vec![0x3F, 0], Some(256)));
        let c = Command::parse(&[0x0C, 0x82, 1, 0x81]).expect("c1");
        assert_eq!((c.data.len(), c.ne), (0, None));
        let c = Command::parse(&[0, 0xB0, 0, 0, 0, 0, 2, 0xAA, 0xBB, 0, 0xD8]).expect("c4e");
        assert_eq!(
            (c.data.clone(), c.ne, c.extended),
            (vec![0xAA, 0xBB], Some(0xD8), true)
        );
        let c = Command::parse(&[0, 0xB0, 0, 0, 0, 0, 0]).expect("c2e");
        assert_eq!(c.ne, Some(65536));
        assert!(Command::parse(&[0, 0xB0, 0, 0, 3, 1]).is_err());
        assert!(Command::parse(&[0, 0xB0, 0]).is_err());
    }

    #[test]
    fn tlv_forms() {
        let (t, v, r) = read_tlv(&[0x87, 0x82, 0, 2, 1, 2, 9]).expect("82");
        assert_eq!((t, v, r), (0x87, &[1u8, 2][..], &[9u8][..]));
        let (t, v, _) = read_tlv(&[0x87, 0x81, 1, 5]).expect("81");
        assert_eq!((t, v), (0x87, &[5u8][..]));
        assert!(read_tlv(&[0x87, 3, 1]).is_none());
        assert_eq!(der_len(0xE1), vec![0x81, 0xE1]);
    }
}
