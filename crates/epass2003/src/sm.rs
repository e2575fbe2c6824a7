//! Secure messaging (§3): mutual authentication, session keys, command wrapping and response
//! unwrapping for the 3DES, AES and FIPS variants.
//!
//! One [`SecureChannel`] belongs to one card connection; there is no global state. Response
//! protection is checked: DO99 must equal the outer SW, and the DO8E MAC is verified for DES and
//! AES. **The FIPS response MAC is not verified** (protocol §11.1.1: its algorithm is unknown, no
//! real-token trace exists); a FIPS response is still checked for a well-formed DO87/DO99/DO8E
//! layout and a DO99 equal to the SW.

use crate::apdu::{Command, Response};
use crate::crypto::{self, Cipher};
use crate::error::{Error, Result};
use crate::sw::StatusWord;
use crate::tlv;
use zeroize::Zeroizing;

/// SM cipher variant (§2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// 3DES-2K, SCP01-style derivation, retail MAC.
    Des,
    /// AES-128, SCP01-style derivation, AES-CBC-MAC.
    Aes,
    /// AES-128 with SCP03-style CMAC KDF and CMAC ("FIPS" tokens).
    Fips,
}

impl Variant {
    /// SM block size.
    pub fn block_size(self) -> usize {
        match self {
            Variant::Des => 8,
            _ => 16,
        }
    }
    fn cipher(self) -> Cipher {
        match self {
            Variant::Des => Cipher::Tdes2,
            _ => Cipher::Aes,
        }
    }
}

/// Which MAC to send for the FIPS tries query (`82 01 8k`, no data; §3.4.7, compat §1.2).
///
/// **Choice:** the default is [`FipsTriesQueryMac::Opensc023`]: the form of OpenSC 0.23.0, which
/// evidence (compat page §1.2) says real FIPS tokens check — `AES(S-MAC, ICV ⊕ pad80(CLA' INS P1 P2)
/// ⊕ K2)[0..8]` — but with K2 computed correctly per RFC 4493, not with 0.23.0's buggy sub-key code
/// (which differs for ~1 % of keys; for those sessions a real card computing K2 correctly would
/// reject 0.23.0 anyway, and a card that reproduces the bug is not plausible).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FipsTriesQueryMac {
    /// 0.23.0 form (last CBC step with IV = ICV), RFC 4493 sub-keys. Default.
    #[default]
    Opensc023,
    /// OpenSC master form: plain RFC 4493 CMAC over the 4 header bytes (ICV not used).
    HeaderCmac,
}

/// Static (transport) SM keys (§3.2).
#[derive(Clone)]
pub struct StaticKeys {
    /// K_ENC.
    pub enc: Zeroizing<[u8; 16]>,
    /// K_MAC.
    pub mac: Zeroizing<[u8; 16]>,
}

impl Default for StaticKeys {
    /// OpenSC's fixed keys `01 02 … 10` for both.
    fn default() -> Self {
        let mut k = [0u8; 16];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        StaticKeys {
            enc: Zeroizing::new(k),
            mac: Zeroizing::new(k),
        }
    }
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticKeys(..)")
    }
}

/// First half of mutual authentication: holds the host challenge until the card answers.
pub struct Handshake {
    variant: Variant,
    keys: StaticKeys,
    host_challenge: [u8; 8],
    tries_mac: FipsTriesQueryMac,
}

/// Derivation data for the FIPS KDF (§3.3.2).
fn fips_dd(k: u8, l_bits: u16, h: &[u8; 8], c: &[u8; 8]) -> [u8; 32] {
    let mut dd = [0u8; 32];
    dd[11] = k;
    dd[13..15].copy_from_slice(&l_bits.to_be_bytes());
    dd[15] = 1;
    dd[16..24].copy_from_slice(h);
    dd[24..32].copy_from_slice(c);
    dd
}

impl Handshake {
    /// Start a handshake with a given host challenge `H` (§3.3.1). Production code passes fresh
    /// random bytes; tests pass the §10 value.
    pub fn new(variant: Variant, keys: StaticKeys, host_challenge: [u8; 8]) -> Self {
        Handshake {
            variant,
            keys,
            host_challenge,
            tries_mac: FipsTriesQueryMac::default(),
        }
    }

    /// Select the FIPS tries-query MAC form (default [`FipsTriesQueryMac::Opensc023`]).
    pub fn with_tries_query_mac(mut self, m: FipsTriesQueryMac) -> Self {
        self.tries_mac = m;
        self
    }

    /// INITIALIZE UPDATE `80 50 00 00 08 H Le` (§3.3.1), sent in plain.
    pub fn initialize_update(&self) -> Command {
        let le = if self.variant == Variant::Fips {
            0x1D
        } else {
            0x1C
        };
        Command::new(0x80, 0x50, 0, 0)
            .with_data(&self.host_challenge)
            .with_le(le)
    }

    /// Process the INITIALIZE UPDATE response data: derive session keys (§3.3.2), verify the card
    /// cryptogram (§3.3.3), and build EXTERNAL AUTHENTICATE (§3.3.4, §3.3.5). The returned channel
    /// becomes valid once the card answers 9000 to the returned command.
    pub fn complete(self, resp: &[u8]) -> Result<(SecureChannel, Command)> {
        let (c_off, want) = if self.variant == Variant::Fips {
            (13, 29)
        } else {
            (12, 28)
        };
        if resp.len() != want {
            return Err(Error::MutualAuth(format!(
                "INITIALIZE UPDATE returned {} bytes, expected {want}",
                resp.len()
            )));
        }
        let mut c = [0u8; 8];
        c.copy_from_slice(&resp[c_off..c_off + 8]);
        let card_crypt = &resp[c_off + 8..c_off + 16];
        let h = self.host_challenge;
        let v = self.variant;
        let (s_enc, s_mac, expect_card, host_crypt) = match v {
            Variant::Des | Variant::Aes => {
                let mut d = [0u8; 16];
                d[0..4].copy_from_slice(&c[4..8]);
                d[4..8].copy_from_slice(&h[0..4]);
                d[8..12].copy_from_slice(&c[0..4]);
                d[12..16].copy_from_slice(&h[4..8]);
                let mut s_enc = Zeroizing::new([0u8; 16]);
                let mut s_mac = Zeroizing::new([0u8; 16]);
                s_enc.copy_from_slice(&crypto::ecb_encrypt(v.cipher(), &self.keys.enc, &d));
                s_mac.copy_from_slice(&crypto::ecb_encrypt(v.cipher(), &self.keys.mac, &d));
                let bs = v.block_size();
                let zero = [0u8; 16];
                let mut hc = h.to_vec();
                hc.extend_from_slice(&c);
                let x = crypto::cbc_encrypt(v.cipher(), &s_enc, &zero, &crypto::pad80(&hc, bs));
                let card: [u8; 8] = x[16..24]
                    .try_into()
                    .map_err(|_| Error::MutualAuth("len".into()))?;
                let mut ch = c.to_vec();
                ch.extend_from_slice(&h);
                let y = crypto::cbc_encrypt(v.cipher(), &s_enc, &zero, &crypto::pad80(&ch, bs));
                let host: [u8; 8] = y[16..24]
                    .try_into()
                    .map_err(|_| Error::MutualAuth("len".into()))?;
                (s_enc, s_mac, card, host)
            }
            Variant::Fips => {
                let s_enc = Zeroizing::new(crypto::cmac(&self.keys.enc, &fips_dd(4, 0x80, &h, &c)));
                let s_mac = Zeroizing::new(crypto::cmac(&self.keys.mac, &fips_dd(6, 0x80, &h, &c)));
                let mut card = [0u8; 8];
                card.copy_from_slice(&crypto::cmac(&s_enc, &fips_dd(0, 0x40, &h, &c))[..8]);
                let mut host = [0u8; 8];
                host.copy_from_slice(&crypto::cmac(&s_enc, &fips_dd(1, 0x40, &h, &c))[..8]);
                (s_enc, s_mac, card, host)
            }
        };
        if !ct_eq(&expect_card, card_crypt) {
            return Err(Error::MutualAuth("card cryptogram mismatch".into()));
        }
        // EXTERNAL AUTHENTICATE MAC (§3.3.5).
        let mut hdr = vec![0x84, 0x82, 0x03, 0x00, 0x10];
        hdr.extend_from_slice(&host_crypt);
        let mac: [u8; 8] = match v {
            Variant::Des => {
                let m = crypto::pad80(&hdr, 8);
                let x = crypto::cbc_encrypt(Cipher::Tdes2, &s_mac, &[0u8; 8], &m);
                x[8..16]
                    .try_into()
                    .map_err(|_| Error::MutualAuth("len".into()))?
            }
            Variant::Aes => {
                let m = crypto::pad80(&hdr, 16);
                let x = crypto::cbc_encrypt(Cipher::Aes, &s_mac, &[0u8; 16], &m);
                x[0..8]
                    .try_into()
                    .map_err(|_| Error::MutualAuth("len".into()))?
            }
            Variant::Fips => crypto::cmac(&s_mac, &hdr)[..8]
                .try_into()
                .map_err(|_| Error::MutualAuth("len".into()))?,
        };
        let mut data = host_crypt.to_vec();
        data.extend_from_slice(&mac);
        let cmd = Command::new(0x84, 0x82, 0x03, 0x00).with_data(&data);
        let mut icv = [0u8; 16];
        icv[..8].copy_from_slice(&mac);
        let ch = SecureChannel {
            variant: v,
            s_enc,
            s_mac,
            icv: Zeroizing::new(icv),
            tries_mac: self.tries_mac,
        };
        Ok((ch, cmd))
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An open SM session: session keys and the shared command/response ICV (§3.4, §3.5).
pub struct SecureChannel {
    variant: Variant,
    s_enc: Zeroizing<[u8; 16]>,
    s_mac: Zeroizing<[u8; 16]>,
    /// DES uses the first 8 bytes.
    icv: Zeroizing<[u8; 16]>,
    tries_mac: FipsTriesQueryMac,
}

impl std::fmt::Debug for SecureChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecureChannel({:?})", self.variant)
    }
}

impl SecureChannel {
    /// Build a channel from known session keys and ICV (tests, fuzzing).
    pub fn from_parts(variant: Variant, s_enc: [u8; 16], s_mac: [u8; 16], icv: [u8; 16]) -> Self {
        SecureChannel {
            variant,
            s_enc: Zeroizing::new(s_enc),
            s_mac: Zeroizing::new(s_mac),
            icv: Zeroizing::new(icv),
            tries_mac: FipsTriesQueryMac::default(),
        }
    }

    /// Select the FIPS tries-query MAC form.
    pub fn set_tries_query_mac(&mut self, m: FipsTriesQueryMac) {
        self.tries_mac = m;
    }

    /// The variant.
    pub fn variant(&self) -> Variant {
        self.variant
    }
    /// Session key S-ENC (for tests).
    pub fn s_enc(&self) -> &[u8; 16] {
        &self.s_enc
    }
    /// Session key S-MAC (for tests).
    pub fn s_mac(&self) -> &[u8; 16] {
        &self.s_mac
    }
    /// Current ICV (8 bytes for DES, 16 for AES/FIPS).
    pub fn icv(&self) -> &[u8] {
        &self.icv[..self.icv_len()]
    }

    fn icv_len(&self) -> usize {
        if self.variant == Variant::Des {
            8
        } else {
            16
        }
    }

    fn inc_icv(&mut self) {
        let n = self.icv_len();
        for i in (0..n).rev() {
            let (v, carry) = self.icv[i].overflowing_add(1);
            self.icv[i] = v;
            if !carry {
                break;
            }
        }
    }

    /// MAC with the current ICV over already padded data (DES: retail MAC; AES: CBC-MAC, first 8
    /// bytes of the last block).
    fn cbc_mac(&self, padded: &[u8]) -> [u8; 8] {
        match self.variant {
            Variant::Des => {
                let mut iv = [0u8; 8];
                iv.copy_from_slice(&self.icv[..8]);
                crypto::retail_mac(&self.s_mac, &iv, padded)
            }
            _ => {
                let x = crypto::cbc_encrypt(Cipher::Aes, &self.s_mac, &self.icv[..], padded);
                let mut m = [0u8; 8];
                m.copy_from_slice(&x[x.len() - 16..x.len() - 8]);
                m
            }
        }
    }

    /// Wrap a plain command (§3.4). Increments the ICV first (§3.4.6). Returns the wire bytes.
    pub fn wrap(&mut self, cmd: &Command) -> Result<Vec<u8>> {
        let bs = self.variant.block_size();
        let cla = cmd.cla | 0x0C;
        let mut body = Vec::new();
        if !cmd.data.is_empty() {
            let p = Zeroizing::new(crypto::pad80(&cmd.data, bs));
            let e = crypto::cbc_encrypt(self.variant.cipher(), &self.s_enc, &[0u8; 16], &p);
            let n = e.len() + 1;
            if n <= 0x7F {
                body.extend_from_slice(&[0x87, n as u8]);
            } else if n <= 0xFFFF {
                body.extend_from_slice(&[0x87, 0x82, (n >> 8) as u8, n as u8]);
            } else {
                return Err(Error::InvalidArgument(
                    "command data too long for SM".into(),
                ));
            }
            body.push(0x01);
            body.extend_from_slice(&e);
        }
        let le_val = cmd.le.unwrap_or(0);
        let mut long_le = false;
        if cmd.wants_response() {
            if le_val <= 0x7F {
                body.extend_from_slice(&[0x97, 0x01, le_val as u8]);
            } else {
                long_le = true;
                let v = if le_val >= 65536 { 0 } else { le_val as u16 };
                body.extend_from_slice(&[0x97, 0x02]);
                body.extend_from_slice(&v.to_be_bytes());
            }
        }
        self.inc_icv();
        let tries_query = self.variant == Variant::Fips
            && cmd.ins == 0x82
            && cmd.p1 == 0x01
            && cmd.data.is_empty()
            && !cmd.wants_response();
        let mac: [u8; 8] = if tries_query {
            self.fips_tries_query_mac([cla, cmd.ins, cmd.p1, cmd.p2])
        } else {
            let mut hb = vec![0u8; bs];
            hb[..4].copy_from_slice(&[cla, cmd.ins, cmd.p1, cmd.p2]);
            hb[4] = 0x80;
            match self.variant {
                Variant::Fips => {
                    for (b, i) in hb.iter_mut().zip(self.icv.iter()) {
                        *b ^= *i;
                    }
                    hb.extend_from_slice(&body);
                    let mut m = [0u8; 8];
                    m.copy_from_slice(&crypto::cmac(&self.s_mac, &hb)[..8]);
                    m
                }
                _ => {
                    if !body.is_empty() {
                        hb.extend_from_slice(&crypto::pad80(&body, bs));
                    }
                    self.cbc_mac(&hb)
                }
            }
        };
        body.extend_from_slice(&[0x8E, 0x08]);
        body.extend_from_slice(&mac);
        let ext = body.len() > 255 || long_le;
        let mut out = vec![cla, cmd.ins, cmd.p1, cmd.p2];
        if ext {
            out.push(0);
            out.extend_from_slice(&(body.len() as u16).to_be_bytes());
            out.extend_from_slice(&body);
            let v = match cmd.le {
                Some(l) if l < 65536 => l as u16,
                _ => 0,
            };
            out.extend_from_slice(&v.to_be_bytes());
        } else {
            out.push(body.len() as u8);
            out.extend_from_slice(&body);
            out.push(cmd.le.map(|l| (l & 0xFF) as u8).unwrap_or(0));
        }
        Ok(out)
    }

    fn fips_tries_query_mac(&self, hdr: [u8; 4]) -> [u8; 8] {
        let mut m = [0u8; 8];
        match self.tries_mac {
            FipsTriesQueryMac::HeaderCmac => {
                m.copy_from_slice(&crypto::cmac(&self.s_mac, &hdr)[..8])
            }
            FipsTriesQueryMac::Opensc023 => {
                let (_k1, k2) = crypto::cmac_subkeys(&self.s_mac);
                let mut blk = [0u8; 16];
                blk[..4].copy_from_slice(&hdr);
                blk[4] = 0x80;
                for i in 0..16 {
                    blk[i] ^= k2[i] ^ self.icv[i];
                }
                m.copy_from_slice(&crypto::aes_block(&self.s_mac, &blk)[..8]);
            }
        }
        m
    }

    /// Check and unwrap a protected response (§3.5) with the ICV of the last wrapped command.
    /// Accepts both DO87 length forms (§3.5.5). Data is returned only for SW 9000.
    pub fn unwrap_response(&mut self, raw: &[u8]) -> Result<Response> {
        let smerr = |m: &str| Error::SmVerification(m.to_string());
        if raw.len() < 2 {
            return Err(smerr("response shorter than SW"));
        }
        let (body, swb) = raw.split_at(raw.len() - 2);
        let sw = StatusWord::from_bytes(swb[0], swb[1]);
        if body.len() < 14 {
            return Err(Error::SmVerification(format!(
                "unprotected response, SW {sw}"
            )));
        }
        let layout = parse_layout_der(body)
            .or_else(|| parse_layout_raw_len(body))
            .ok_or_else(|| smerr("malformed response data objects"))?;
        if body[layout.do99.value_start..layout.do99.end] != swb[..] {
            return Err(smerr("DO99 does not match SW"));
        }
        if self.variant != Variant::Fips {
            let bs = self.variant.block_size();
            let m = crypto::pad80(&body[..layout.do8e.start], bs);
            let expect = self.cbc_mac(&m);
            if !ct_eq(&expect, &body[layout.do8e.value_start..layout.do8e.end]) {
                return Err(smerr("response MAC mismatch"));
            }
        }
        let mut data = Vec::new();
        if sw.is_success() {
            if let Some(d) = layout.do87 {
                let v = &body[d.value_start..d.end];
                if v.first() != Some(&0x01) {
                    return Err(smerr("DO87 padding indicator is not 01"));
                }
                let plain = Zeroizing::new(
                    crypto::cbc_decrypt(self.variant.cipher(), &self.s_enc, &v[1..])
                        .ok_or_else(|| smerr("DO87 length not a block multiple"))?,
                );
                data = crypto::unpad80(&plain)
                    .ok_or_else(|| smerr("bad DO87 padding"))?
                    .to_vec();
            }
        }
        Ok(Response { data, sw })
    }
}

struct Layout {
    do87: Option<tlv::Tlv>,
    do99: tlv::Tlv,
    do8e: tlv::Tlv,
}

fn layout_from(tlvs: &[tlv::Tlv], len: usize) -> Option<Layout> {
    let (do87, rest) = match tlvs.first() {
        Some(t) if t.tag == 0x87 => (Some(*t), &tlvs[1..]),
        _ => (None, tlvs),
    };
    if rest.len() != 2 {
        return None;
    }
    let (do99, do8e) = (rest[0], rest[1]);
    (do99.tag == 0x99
        && do99.end - do99.value_start == 2
        && do8e.tag == 0x8E
        && do8e.end - do8e.value_start == 8
        && do8e.end == len)
        .then_some(Layout { do87, do99, do8e })
}

fn parse_layout_der(body: &[u8]) -> Option<Layout> {
    layout_from(&tlv::parse_all(body).ok()?, body.len())
}

/// Fallback for firmware that sends `87 LL 01 …` with a raw one-byte LL ≥ 0x80 (§3.5.5).
fn parse_layout_raw_len(body: &[u8]) -> Option<Layout> {
    if body.first() != Some(&0x87) || body.len() < 3 || body[2] != 0x01 {
        return None;
    }
    let len = usize::from(body[1]);
    let end = 2 + len;
    if end > body.len() {
        return None;
    }
    let d = tlv::Tlv {
        tag: 0x87,
        start: 0,
        value_start: 2,
        end,
    };
    let mut tlvs = vec![d];
    tlvs.extend(
        tlv::parse_all(&body[end..])
            .ok()?
            .into_iter()
            .map(|t| tlv::Tlv {
                tag: t.tag,
                start: t.start + end,
                value_start: t.value_start + end,
                end: t.end + end,
            }),
    );
    layout_from(&tlvs, body.len())
}

/// Encode a command in plain (SM off, §3.7).
pub fn plain(cmd: &Command) -> Result<Vec<u8>> {
    cmd.to_bytes()
}
