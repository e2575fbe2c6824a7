//! Plain command and response APDUs (ISO 7816-4 short and extended framing).

use crate::error::{Error, Result};
use crate::sw::{Ins, StatusWord};

/// A plain (unwrapped) command APDU.
///
/// `le` is the raw Le value: `None` = no Le, `Some(0)` = "Le byte 00" (up to 256, or 65536 when
/// extended), `Some(n)` = n bytes. `expect_response` marks commands that are case 1/3 in plain but
/// read data back, so they get a DO97 `97 01 00` when wrapped (§3.4.5).
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// CLA.
    pub cla: u8,
    /// INS.
    pub ins: u8,
    /// P1.
    pub p1: u8,
    /// P2.
    pub p2: u8,
    /// Command data.
    pub data: Vec<u8>,
    /// Raw Le (see type docs).
    pub le: Option<u32>,
    /// Response data expected although `le` is `None` (§3.4.5).
    pub expect_response: bool,
    /// Force extended framing in plain (PSO DECIPHER, §5.18).
    pub force_extended: bool,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print data: it may carry PINs or keys.
        write!(
            f,
            "Command({:02X} {:02X} {:02X} {:02X}, lc={}, le={:?})",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le
        )
    }
}

impl Drop for Command {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.data);
    }
}

impl Command {
    /// A command without data or Le.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
            expect_response: false,
            force_extended: false,
        }
    }
    /// Set command data.
    pub fn with_data(mut self, data: &[u8]) -> Self {
        self.data = data.to_vec();
        self
    }
    /// Set Le (raw value, 0 = "00").
    pub fn with_le(mut self, le: u32) -> Self {
        self.le = Some(le);
        self
    }
    /// Mark as response-expecting without a plain Le (§3.4.5).
    pub fn expecting_response(mut self) -> Self {
        self.expect_response = true;
        self
    }
    /// Force extended framing in plain.
    pub fn extended(mut self) -> Self {
        self.force_extended = true;
        self
    }
    /// The instruction as an open enum.
    pub fn ins(&self) -> Ins {
        Ins::from_u8(self.ins)
    }
    /// Whether a response body is expected (Le present or `expect_response`).
    pub fn wants_response(&self) -> bool {
        self.le.is_some() || self.expect_response
    }

    /// Encode in plain (no SM), choosing short or extended framing.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        encode(
            [self.cla, self.ins, self.p1, self.p2],
            &self.data,
            self.le,
            self.force_extended,
        )
    }
}

/// Encode a header, data and raw Le, using extended framing if needed or forced.
pub(crate) fn encode(
    hdr: [u8; 4],
    data: &[u8],
    le: Option<u32>,
    force_ext: bool,
) -> Result<Vec<u8>> {
    if data.len() > 65535 {
        return Err(Error::InvalidArgument(
            "command data longer than 65535 bytes".into(),
        ));
    }
    let ext = force_ext || data.len() > 255 || le.is_some_and(|l| l > 256);
    let mut out = Vec::with_capacity(data.len() + 9);
    out.extend_from_slice(&hdr);
    if ext {
        out.push(0);
        if !data.is_empty() {
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        if let Some(le) = le {
            let v = if le >= 65536 { 0 } else { le as u16 };
            out.extend_from_slice(&v.to_be_bytes());
        }
        if data.is_empty() && le.is_none() {
            out.pop();
        }
    } else {
        if !data.is_empty() {
            out.push(data.len() as u8);
            out.extend_from_slice(data);
        }
        if let Some(le) = le {
            out.push((le & 0xFF) as u8);
        }
    }
    Ok(out)
}

/// A plain response: data and status word.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Response {
    /// Response data (empty unless the SW is 9000 under SM).
    pub data: Vec<u8>,
    /// Status word.
    pub sw: StatusWord,
}

impl Response {
    /// Split raw R-APDU bytes into data and SW.
    pub fn from_bytes(raw: &[u8]) -> Result<Self> {
        if raw.len() < 2 {
            return Err(Error::Malformed(format!("response of {} bytes", raw.len())));
        }
        let (d, sw) = raw.split_at(raw.len() - 2);
        Ok(Response {
            data: d.to_vec(),
            sw: StatusWord::from_bytes(sw[0], sw[1]),
        })
    }
    /// `Ok(data)` for 9000, otherwise the mapped error (§7).
    pub fn into_result(self) -> Result<Vec<u8>> {
        if self.sw.is_success() {
            Ok(self.data)
        } else {
            Err(Error::from_sw(self.sw))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing() {
        let c = Command::new(0, 0xA4, 0, 0).with_data(&[0x3F, 0]).with_le(0);
        assert_eq!(c.to_bytes().unwrap(), vec![0, 0xA4, 0, 0, 2, 0x3F, 0, 0]);
        let c = Command::new(0, 0x2A, 0x80, 0x86)
            .with_data(&[7; 256])
            .with_le(0)
            .extended();
        let b = c.to_bytes().unwrap();
        assert_eq!(&b[..7], &[0, 0x2A, 0x80, 0x86, 0, 1, 0]);
        assert_eq!(&b[263..], &[0, 0]);
        assert_eq!(
            Command::new(0, 0x82, 1, 0x81).to_bytes().unwrap(),
            vec![0, 0x82, 1, 0x81]
        );
    }
}
