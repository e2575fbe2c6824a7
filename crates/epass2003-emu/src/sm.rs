//! Secure messaging, card side: mutual authentication (protocol §3.3), command unwrapping
//! (§3.8) and response wrapping (§3.5).

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::apdu::{der_len, read_tlv, Command};
use crate::card::Variant;
use crate::crypto::{self, SubkeyQuirk};

/// Key diversification data returned by INITIALIZE UPDATE (unknown meaning; the vectors' value).
pub const KDD: [u8; 10] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99];

/// Session keys and ICV of one SM session (or of a pending handshake).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Session {
    #[zeroize(skip)]
    variant: Variant,
    s_enc: [u8; 16],
    s_mac: [u8; 16],
    icv: Vec<u8>,
    host_chal: [u8; 8],
    card_chal: [u8; 8],
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("variant", &self.variant)
            .finish_non_exhaustive()
    }
}

/// Why a wrapped command was rejected before dispatch (answered `69 88` in plain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmError {
    /// Malformed or missing SM data objects.
    Malformed,
    /// Wrong MAC.
    BadMac,
}

fn dd(k: u8, l: u16, h: &[u8; 8], c: &[u8; 8]) -> [u8; 32] {
    let mut d = [0u8; 32];
    d[11] = k;
    d[13..15].copy_from_slice(&l.to_be_bytes());
    d[15] = 0x01;
    d[16..24].copy_from_slice(h);
    d[24..32].copy_from_slice(c);
    d
}

fn arr16(v: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(&v[..16]);
    a
}

fn arr8(v: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    a.copy_from_slice(&v[..8]);
    a
}

impl Session {
    /// Derives the session keys from the static keys and both challenges (§3.3.2).
    pub fn derive(
        variant: Variant,
        k_enc: &[u8; 16],
        k_mac: &[u8; 16],
        h: [u8; 8],
        c: [u8; 8],
    ) -> Session {
        let (s_enc, s_mac) = match variant {
            Variant::Des | Variant::Aes => {
                let mut d = [0u8; 16];
                d[0..4].copy_from_slice(&c[4..8]);
                d[4..8].copy_from_slice(&h[0..4]);
                d[8..12].copy_from_slice(&c[0..4]);
                d[12..16].copy_from_slice(&h[4..8]);
                if variant == Variant::Des {
                    (
                        arr16(&crypto::tdes2_ecb_enc(k_enc, &d)),
                        arr16(&crypto::tdes2_ecb_enc(k_mac, &d)),
                    )
                } else {
                    (
                        arr16(&crypto::aes_ecb_enc(k_enc, &d)),
                        arr16(&crypto::aes_ecb_enc(k_mac, &d)),
                    )
                }
            }
            Variant::Fips => (
                crypto::cmac(k_enc, &dd(0x04, 0x80, &h, &c)),
                crypto::cmac(k_mac, &dd(0x06, 0x80, &h, &c)),
            ),
        };
        Session {
            variant,
            s_enc,
            s_mac,
            icv: Vec::new(),
            host_chal: h,
            card_chal: c,
        }
    }

    fn bs(&self) -> usize {
        if self.variant == Variant::Des {
            8
        } else {
            16
        }
    }

    fn cbc_enc(&self, data: &[u8]) -> Vec<u8> {
        match self.variant {
            Variant::Des => crypto::tdes2_cbc_enc(&self.s_enc, &[0; 8], data),
            _ => crypto::aes_cbc_enc(&self.s_enc, &[0; 16], data),
        }
    }

    fn cbc_dec(&self, data: &[u8]) -> Vec<u8> {
        match self.variant {
            Variant::Des => crypto::tdes2_cbc_dec(&self.s_enc, &[0; 8], data),
            _ => crypto::aes_cbc_dec(&self.s_enc, &[0; 16], data),
        }
    }

    /// Cryptogram over `a ‖ b` (§3.3.3/§3.3.4, DES and AES).
    fn scp01_cryptogram(&self, a: &[u8; 8], b: &[u8; 8]) -> [u8; 8] {
        let mut m = a.to_vec();
        m.extend_from_slice(b);
        let x = self.cbc_enc(&crypto::pad80(&m, self.bs()));
        arr8(&x[16..24])
    }

    /// The card cryptogram returned by INITIALIZE UPDATE.
    pub fn card_cryptogram(&self) -> [u8; 8] {
        match self.variant {
            Variant::Fips => crypto::cmac8(
                &self.s_enc,
                &dd(0x00, 0x40, &self.host_chal, &self.card_chal),
            ),
            _ => self.scp01_cryptogram(&self.host_chal, &self.card_chal),
        }
    }

    /// The host cryptogram the card expects in EXTERNAL AUTHENTICATE.
    pub fn host_cryptogram(&self) -> [u8; 8] {
        match self.variant {
            Variant::Fips => crypto::cmac8(
                &self.s_enc,
                &dd(0x01, 0x40, &self.host_chal, &self.card_chal),
            ),
            _ => self.scp01_cryptogram(&self.card_chal, &self.host_chal),
        }
    }

    /// The full INITIALIZE UPDATE response data (28 or 29 bytes).
    pub fn init_update_response(&self) -> Vec<u8> {
        let mut r = KDD.to_vec();
        match self.variant {
            Variant::Fips => r.extend_from_slice(&[0x01, 0x03, 0x00]),
            _ => r.extend_from_slice(&[0x01, 0x01]),
        }
        r.extend_from_slice(&self.card_chal);
        r.extend_from_slice(&self.card_cryptogram());
        r
    }

    /// MAC of the EXTERNAL AUTHENTICATE command over `hdr5 ‖ host cryptogram` (§3.3.5).
    pub fn ext_auth_mac(&self, hdr5_hc: &[u8]) -> [u8; 8] {
        match self.variant {
            Variant::Des => {
                let mut m = hdr5_hc.to_vec();
                m.extend_from_slice(&[0x80, 0, 0]);
                let x = crypto::tdes2_cbc_enc(&self.s_mac, &[0; 8], &m);
                arr8(&x[8..16])
            }
            Variant::Aes => {
                let mut m = hdr5_hc.to_vec();
                m.extend_from_slice(&[0x80, 0, 0]);
                let x = crypto::aes_cbc_enc(&self.s_mac, &[0; 16], &m);
                arr8(&x[..8])
            }
            Variant::Fips => crypto::cmac8(&self.s_mac, hdr5_hc),
        }
    }

    /// Checks EXTERNAL AUTHENTICATE `84 82 03 00 10 HC MAC`; on success sets the initial ICV.
    pub fn check_external_authenticate(&mut self, cmd: &Command) -> bool {
        if cmd.data.len() != 16 {
            return false;
        }
        let hc = &cmd.data[..8];
        let mac = &cmd.data[8..];
        if !crypto::ct_eq(hc, &self.host_cryptogram()) {
            return false;
        }
        let mut m = vec![cmd.cla, cmd.ins, cmd.p1, cmd.p2, 0x10];
        m.extend_from_slice(hc);
        if !crypto::ct_eq(mac, &self.ext_auth_mac(&m)) {
            return false;
        }
        self.icv = mac.to_vec();
        if self.variant != Variant::Des {
            self.icv.extend_from_slice(&[0; 8]);
        }
        true
    }

    /// Session keys `(S-ENC, S-MAC)`; for in-process test hosts only.
    #[doc(hidden)]
    pub fn keys(&self) -> (&[u8; 16], &[u8; 16]) {
        (&self.s_enc, &self.s_mac)
    }

    /// The current ICV (for tests and diagnostics).
    pub fn icv(&self) -> &[u8] {
        &self.icv
    }

    fn inc_icv(&mut self) {
        for b in self.icv.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
    }

    fn command_mac(&self, hdr: [u8; 4], body: &[u8]) -> [u8; 8] {
        let bs = self.bs();
        let mut hb = vec![0u8; bs];
        hb[..4].copy_from_slice(&hdr);
        hb[4] = 0x80;
        match self.variant {
            Variant::Des | Variant::Aes => {
                let mut m = hb;
                if !body.is_empty() {
                    m.extend_from_slice(&crypto::pad80(body, bs));
                }
                if self.variant == Variant::Des {
                    crypto::retail_mac(&self.s_mac, &self.icv, &m)
                } else {
                    let x = crypto::aes_cbc_enc(&self.s_mac, &self.icv, &m);
                    arr8(&x[x.len() - 16..])
                }
            }
            Variant::Fips => {
                let mut m = hb;
                for (a, b) in m.iter_mut().zip(&self.icv) {
                    *a ^= *b;
                }
                m.extend_from_slice(body);
                crypto::cmac8(&self.s_mac, &m)
            }
        }
    }

    /// Accepts the FIPS tries-query MAC in any of four forms (compat page §2.2): the 0.23.0
    /// form (CBC last step with the ICV) with correct RFC 4493 sub-keys, which is what a real
    /// card that computes its sub-keys correctly checks and what our driver sends; the same
    /// with OpenSC 0.23.0's buggy "> 0x80" sub-key test (it differs for about 1 % of session
    /// keys: a real card would refuse 0.23.0 in those sessions; the emulator accepts it so
    /// OpenSC interop tests do not flake); master (ECB, "& 0x80"); and RFC 4493 CMAC — all
    /// over `CLA' INS P1 P2` (plus DO97 zero bytes, never sent).
    fn fips_case1_mac_ok(&self, hdr: [u8; 4], body: &[u8], mac: &[u8]) -> bool {
        let mut m = hdr.to_vec();
        m.resize(4 + body.len(), 0);
        let v023_card =
            crypto::opensc_cmac8(&self.s_mac, &m, Some(&self.icv), SubkeyQuirk::Rfc4493);
        let v023 = crypto::opensc_cmac8(&self.s_mac, &m, Some(&self.icv), SubkeyQuirk::Gt80);
        let vmaster = crypto::opensc_cmac8(&self.s_mac, &m, None, SubkeyQuirk::TopBit);
        let rfc = crypto::cmac8(&self.s_mac, &m);
        let hit = |v: Option<[u8; 8]>| v.map(|v| crypto::ct_eq(&v, mac)).unwrap_or(false);
        hit(v023_card) || hit(v023) || hit(vmaster) || crypto::ct_eq(&rfc, mac)
    }

    /// Unwraps a wrapped command (§3.8 steps 2–6). The ICV is incremented first, for every
    /// wrapped command, so the card stays in step with the host even when it rejects one.
    /// Returns the plain command (CLA with `0C` cleared, Ne from DO97 or `None`).
    pub fn unwrap_command(&mut self, cmd: &Command) -> Result<Command, SmError> {
        self.inc_icv();
        let mut rest: &[u8] = &cmd.data;
        let mut do87: Option<&[u8]> = None;
        let mut do97: Option<&[u8]> = None;
        let mut body_len = 0usize;
        let mut mac: Option<&[u8]> = None;
        while !rest.is_empty() {
            let (tag, val, r) = read_tlv(rest).ok_or(SmError::Malformed)?;
            match tag {
                0x87 if do87.is_none() && do97.is_none() && mac.is_none() => {
                    do87 = Some(val);
                    body_len = cmd.data.len() - r.len();
                }
                0x97 if do97.is_none() && mac.is_none() => {
                    do97 = Some(val);
                    body_len = cmd.data.len() - r.len();
                }
                0x8E if mac.is_none() => mac = Some(val),
                _ => return Err(SmError::Malformed),
            }
            rest = r;
        }
        let mac = mac.ok_or(SmError::Malformed)?;
        if mac.len() != 8 {
            return Err(SmError::Malformed);
        }
        let body = &cmd.data[..body_len];
        let hdr = [cmd.cla, cmd.ins, cmd.p1, cmd.p2];
        let ok =
            if self.variant == Variant::Fips && cmd.ins == 0x82 && cmd.p1 == 0x01 && do87.is_none()
            {
                self.fips_case1_mac_ok(hdr, body, mac)
            } else {
                crypto::ct_eq(&self.command_mac(hdr, body), mac)
            };
        if !ok {
            return Err(SmError::BadMac);
        }
        let mut data = Vec::new();
        if let Some(v) = do87 {
            if v.len() < 1 + self.bs() || v[0] != 0x01 || (v.len() - 1) % self.bs() != 0 {
                return Err(SmError::Malformed);
            }
            let p = self.cbc_dec(&v[1..]);
            data = crypto::unpad80(&p).ok_or(SmError::Malformed)?;
        }
        let ne = match do97 {
            None => None,
            Some([0]) => Some(256),
            Some([n]) => Some(*n as usize),
            Some([0, 0]) => Some(65536),
            Some([a, b]) => Some(u16::from_be_bytes([*a, *b]) as usize),
            Some(_) => return Err(SmError::Malformed),
        };
        Ok(Command {
            cla: cmd.cla & !0x0C,
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
            data,
            ne,
            extended: cmd.extended,
        })
    }

    /// Wraps a response (§3.5): `[DO87] ‖ DO99 ‖ DO8E ‖ SW`. DO87 only for 9000 with data.
    pub fn wrap_response(&self, data: &[u8], sw: u16) -> Vec<u8> {
        let mut r = Vec::new();
        if sw == 0x9000 && !data.is_empty() {
            let e = self.cbc_enc(&crypto::pad80(data, self.bs()));
            r.push(0x87);
            r.extend_from_slice(&der_len(e.len() + 1));
            r.push(0x01);
            r.extend_from_slice(&e);
        }
        r.extend_from_slice(&[0x99, 0x02]);
        r.extend_from_slice(&sw.to_be_bytes());
        let mac = match self.variant {
            Variant::Des => crypto::retail_mac(&self.s_mac, &self.icv, &crypto::pad80(&r, 8)),
            Variant::Aes => {
                let x = crypto::aes_cbc_enc(&self.s_mac, &self.icv, &crypto::pad80(&r, 16));
                arr8(&x[x.len() - 16..])
            }
            Variant::Fips => {
                // Invented (protocol §3.5.4): CMAC8(S-MAC, ICV ‖ DO87 ‖ DO99).
                let mut m = self.icv.clone();
                m.extend_from_slice(&r);
                crypto::cmac8(&self.s_mac, &m)
            }
        };
        r.extend_from_slice(&[0x8E, 0x08]);
        r.extend_from_slice(&mac);
        r.extend_from_slice(&sw.to_be_bytes());
        r
    }
}
