//! A tiny host for tests: SM handshake, command wrapping and response unwrapping.
#![allow(dead_code, missing_docs, unreachable_pub, clippy::too_many_arguments)]

use epass2003_emu::crypto;
use epass2003_emu::sm::Session;
use epass2003_emu::{Card, CardOptions, Variant};

pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("hex")
}

pub const MF_FCP: &str = "62 26 82 02 38 00 83 02 3F 00 84 0E 65 6E 74 65 72 73 61 66 65 2D 66 69 70 73 85 02 00 7F 86 08 90 90 FF 90 FF FF FF FF";

pub fn sw_of(r: &[u8]) -> u16 {
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

pub struct Host {
    pub variant: Variant,
    s_enc: [u8; 16],
    s_mac: [u8; 16],
    pub icv: Vec<u8>,
}

impl Host {
    /// Runs INITIALIZE UPDATE + EXTERNAL AUTHENTICATE against the card.
    pub fn open(card: &mut Card, k_enc: [u8; 16], k_mac: [u8; 16]) -> Host {
        let variant = card.variant();
        let hc: [u8; 8] = [0xBF, 0xC3, 0x29, 0x11, 0xC7, 0x18, 0xC3, 0x40];
        let le = if variant == Variant::Fips { 0x1D } else { 0x1C };
        let mut cmd = vec![0x80, 0x50, 0, 0, 8];
        cmd.extend_from_slice(&hc);
        cmd.push(le);
        let r = card.transmit(&cmd).expect("transmit");
        assert_eq!(sw_of(&r), 0x9000, "INITIALIZE UPDATE");
        let off = if variant == Variant::Fips { 13 } else { 12 };
        let mut c = [0u8; 8];
        c.copy_from_slice(&r[off..off + 8]);
        let s = Session::derive(variant, &k_enc, &k_mac, hc, c);
        assert_eq!(
            &r[off + 8..off + 16],
            &s.card_cryptogram(),
            "card cryptogram"
        );
        let mut ea = vec![0x84, 0x82, 0x03, 0x00, 0x10];
        ea.extend_from_slice(&s.host_cryptogram());
        let mac = s.ext_auth_mac(&ea);
        ea.extend_from_slice(&mac);
        let r = card.transmit(&ea).expect("transmit");
        assert_eq!(r, vec![0x90, 0x00], "EXTERNAL AUTHENTICATE");
        let mut icv = mac.to_vec();
        if variant != Variant::Des {
            icv.extend_from_slice(&[0; 8]);
        }
        let (e, m) = s.keys();
        Host {
            variant,
            s_enc: *e,
            s_mac: *m,
            icv,
        }
    }

    fn bs(&self) -> usize {
        if self.variant == Variant::Des {
            8
        } else {
            16
        }
    }

    fn inc(&mut self) {
        for b in self.icv.iter_mut().rev() {
            let (v, c) = b.overflowing_add(1);
            *b = v;
            if !c {
                break;
            }
        }
    }

    fn enc(&self, d: &[u8]) -> Vec<u8> {
        if self.variant == Variant::Des {
            crypto::tdes2_cbc_enc(&self.s_enc, &[0; 8], d)
        } else {
            crypto::aes_cbc_enc(&self.s_enc, &[0; 16], d)
        }
    }

    fn dec(&self, d: &[u8]) -> Vec<u8> {
        if self.variant == Variant::Des {
            crypto::tdes2_cbc_dec(&self.s_enc, &[0; 8], d)
        } else {
            crypto::aes_cbc_dec(&self.s_enc, &[0; 16], d)
        }
    }

    fn mac(&self, m: &[u8]) -> [u8; 8] {
        match self.variant {
            Variant::Des => crypto::retail_mac(&self.s_mac, &self.icv, &crypto::pad80(m, 8)),
            Variant::Aes => {
                let x = crypto::aes_cbc_enc(&self.s_mac, &self.icv, &crypto::pad80(m, 16));
                let mut o = [0u8; 8];
                o.copy_from_slice(&x[x.len() - 16..x.len() - 8]);
                o
            }
            Variant::Fips => crypto::cmac8(&self.s_mac, m),
        }
    }

    /// Wraps a plain command; `le = None` means no response expected (no DO97).
    pub fn wrap(
        &mut self,
        cla: u8,
        ins: u8,
        p1: u8,
        p2: u8,
        data: &[u8],
        le: Option<usize>,
    ) -> Vec<u8> {
        let bs = self.bs();
        let cla = cla | 0x0C;
        let mut do87 = Vec::new();
        if !data.is_empty() {
            let e = self.enc(&crypto::pad80(data, bs));
            let n = e.len() + 1;
            do87.push(0x87);
            if e.len() > 0x7E {
                do87.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
            } else {
                do87.push(n as u8);
            }
            do87.push(1);
            do87.extend_from_slice(&e);
        }
        let mut do97 = Vec::new();
        if let Some(le) = le {
            if le > 0x7F {
                do97 = vec![0x97, 2, (le >> 8) as u8, le as u8];
            } else {
                do97 = vec![0x97, 1, le as u8];
            }
        }
        self.inc();
        let mut body = do87.clone();
        body.extend_from_slice(&do97);
        let mut hb = vec![0u8; bs];
        hb[..4].copy_from_slice(&[cla, ins, p1, p2]);
        hb[4] = 0x80;
        let mac = match self.variant {
            Variant::Fips if ins == 0x82 && p1 == 0x01 && data.is_empty() => {
                let mut m = vec![cla, ins, p1, p2];
                m.resize(4 + body.len(), 0);
                crypto::cmac8(&self.s_mac, &m)
            }
            Variant::Fips => {
                let mut m: Vec<u8> = hb.iter().zip(&self.icv).map(|(a, b)| a ^ b).collect();
                m.extend_from_slice(&body);
                crypto::cmac8(&self.s_mac, &m)
            }
            _ => {
                let mut m = hb;
                if !body.is_empty() {
                    m.extend_from_slice(&crypto::pad80(&body, bs));
                }
                if self.variant == Variant::Des {
                    crypto::retail_mac(&self.s_mac, &self.icv, &m)
                } else {
                    let x = crypto::aes_cbc_enc(&self.s_mac, &self.icv, &m);
                    let mut o = [0u8; 8];
                    o.copy_from_slice(&x[x.len() - 16..x.len() - 8]);
                    o
                }
            }
        };
        let mut payload = body;
        payload.extend_from_slice(&[0x8E, 0x08]);
        payload.extend_from_slice(&mac);
        let le_out = le.unwrap_or(0);
        let ext = payload.len() > 255 || do97.len() == 4;
        let mut apdu = vec![cla, ins, p1, p2];
        if ext {
            apdu.extend_from_slice(&[0, (payload.len() >> 8) as u8, payload.len() as u8]);
            apdu.extend_from_slice(&payload);
            apdu.extend_from_slice(&[(le_out >> 8) as u8, le_out as u8]);
        } else {
            apdu.push(payload.len() as u8);
            apdu.extend_from_slice(&payload);
            apdu.push(le_out as u8);
        }
        apdu
    }

    /// Checks and unwraps a wrapped response; panics if it is not properly wrapped.
    pub fn unwrap(&self, r: &[u8]) -> (Vec<u8>, u16) {
        assert!(
            r.len() >= 16,
            "response too short to be wrapped: {}",
            hex::encode(r)
        );
        let sw = sw_of(r);
        let body = &r[..r.len() - 2];
        let pos8e = body.len() - 10;
        assert_eq!(&body[pos8e..pos8e + 2], &[0x8E, 0x08]);
        let before = &body[..pos8e];
        if self.variant != Variant::Fips {
            assert_eq!(&body[pos8e + 2..], &self.mac(before), "response MAC");
        } else {
            let mut m = self.icv.clone();
            m.extend_from_slice(before);
            assert_eq!(
                &body[pos8e + 2..],
                &crypto::cmac8(&self.s_mac, &m),
                "FIPS response MAC"
            );
        }
        assert_eq!(
            &before[before.len() - 4..],
            &[0x99, 0x02, (sw >> 8) as u8, sw as u8],
            "DO99"
        );
        let mut data = Vec::new();
        if before.len() > 4 {
            assert_eq!(sw, 0x9000, "DO87 only with 9000");
            let (tag, val, rest) = epass2003_emu::apdu::read_tlv(before).expect("DO87");
            assert_eq!(tag, 0x87);
            assert_eq!(rest.len(), 4);
            assert_eq!(val[0], 1);
            // DER length check
            let der = epass2003_emu::apdu::der_len(val.len());
            assert_eq!(&before[1..1 + der.len()], &der[..], "DER length");
            data = crypto::unpad80(&self.dec(&val[1..])).expect("padding");
        }
        (data, sw)
    }

    pub fn cmd(
        &mut self,
        card: &mut Card,
        cla: u8,
        ins: u8,
        p1: u8,
        p2: u8,
        data: &[u8],
        le: Option<usize>,
    ) -> (Vec<u8>, u16) {
        let a = self.wrap(cla, ins, p1, p2, data, le);
        let r = card.transmit(&a).expect("transmit");
        self.unwrap(&r)
    }

    pub fn select(&mut self, card: &mut Card, fid: u16) -> (Vec<u8>, u16) {
        self.cmd(card, 0x00, 0xA4, 0x00, 0x00, &fid.to_be_bytes(), Some(0))
    }

    pub fn verify_pin(&mut self, card: &mut Card, kid: u8, pin: &[u8]) -> u16 {
        let (ch, sw) = self.cmd(card, 0x00, 0x84, 0, 0, &[], Some(0x10));
        assert_eq!(sw, 0x9000);
        let k = crypto::pin_key(pin);
        let crypt = crypto::tdes3_cbc_enc(&k, &[0; 8], &ch[..8]);
        self.cmd(card, 0x00, 0x82, 0x01, 0x80 | kid, &crypt, None).1
    }

    pub fn tries(&mut self, card: &mut Card, kid: u8) -> u16 {
        self.cmd(card, 0x00, 0x82, 0x01, 0x80 | kid, &[], None).1
    }
}

pub fn default_keys() -> [u8; 16] {
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
}

pub fn new_card(variant: Variant) -> Card {
    Card::new_blank(
        variant,
        CardOptions {
            rng_seed: Some(7),
            ..Default::default()
        },
    )
}

pub fn install_pin_apdu(kid: u8, modify_ac: u8, level: u8, pin: &[u8]) -> Vec<u8> {
    let mut d = vec![
        0x04, kid, 0x90, modify_ac, 0x98, 0x98, 0x00, level, 0xFF, 0x66,
    ];
    d.extend_from_slice(&crypto::pin_key(pin));
    d
}

/// The §8.3 onepin personalisation: MF, BSO 5300, EF.DIR, DF 5015, BSO 5301, 9F00, PKCS#15
/// files, then user PIN (kid 1) and PUK (kid 2) in 5015.
pub fn personalise(host: &mut Host, card: &mut Card, pin: &[u8], puk: &[u8]) {
    let creates = [
        MF_FCP,
        "62 15 82 02 10 00 83 02 53 00 85 01 04 86 08 90 FF FF 9F FF FF FF FF",
        "62 15 82 05 04 00 00 40 00 83 02 2F 00 86 08 90 90 90 90 FF FF FF FF",
        "62 24 82 02 38 00 83 02 50 15 84 0C A0 00 00 00 63 50 4B 43 53 2D 31 35 85 02 00 7F 86 08 90 90 FF 90 FF FF FF FF",
        "62 15 82 02 10 00 83 02 53 01 85 01 20 86 08 90 FF FF 9F FF FF FF FF",
        "62 16 80 02 00 02 82 02 01 00 83 02 9F 00 86 08 90 90 FF 90 FF FF FF FF",
        "62 16 80 02 02 00 82 02 01 00 83 02 50 31 86 08 90 96 FF 96 FF FF FF FF",
        "62 16 80 02 00 80 82 02 01 00 83 02 50 32 86 08 90 96 FF 96 FF FF FF FF",
        "62 16 80 02 00 80 82 02 01 00 83 02 50 33 86 08 90 96 FF 96 FF FF FF FF",
        "62 16 80 02 13 00 82 02 01 00 83 02 44 01 86 08 90 96 FF 96 FF FF FF FF",
        "62 16 80 02 04 00 82 02 01 00 83 02 44 02 86 08 90 96 FF 96 FF FF FF FF",
        "62 16 80 02 04 00 82 02 01 00 83 02 44 03 86 08 90 96 FF 96 FF FF FF FF",
        "62 16 80 02 08 00 82 02 01 00 83 02 44 04 86 08 90 96 FF 96 FF FF FF FF",
        "62 16 80 02 13 00 82 02 01 00 83 02 44 05 86 08 90 96 FF 96 FF FF FF FF",
    ];
    for (i, c) in creates.iter().enumerate() {
        let (_, sw) = host.cmd(card, 0x00, 0xE0, 0, 0, &h(c), None);
        assert_eq!(sw, 0x9000, "create #{i}");
        if i == 5 {
            // 9F00 written right after creation (it is the current EF)
            let (_, sw) = host.cmd(card, 0x00, 0xD6, 0, 0, &[6, 6], None);
            assert_eq!(sw, 0x9000);
        }
    }
    let (_, sw) = host.cmd(
        card,
        0x80,
        0xE3,
        0,
        0,
        &install_pin_apdu(1, 0x96, 0x06, pin),
        None,
    );
    assert_eq!(sw, 0x9000, "install user PIN");
    let (_, sw) = host.cmd(
        card,
        0x80,
        0xE3,
        0,
        0,
        &install_pin_apdu(2, 0xB8, 0x08, puk),
        None,
    );
    assert_eq!(sw, 0x9000, "install PUK");
}
