//! Secure-messaging unit tests against the protocol document's §10 vectors and the
//! OpenSC 0.23.0 compatibility page (§1.2).
#![allow(clippy::unwrap_used)]

mod common;
use common::vectors::{ModeVectors, AES, DES, FIPS};
use epass2003::apdu::Command;
use epass2003::commands as cmd;
use epass2003::crypto;
use epass2003::sm::{FipsTriesQueryMac, Handshake, SecureChannel, StaticKeys, Variant};
use epass2003::{Error, StatusWord};
use zeroize::Zeroizing;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

const HOST: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF];
/// §1.2 of the compat page: 0.23.0 tries-query for the §10.4 inputs.
const FIPS_TRIES_023: &str = "0C8201810A8E086E0F40A6361CD5AE00";

fn seven_commands() -> Vec<Command> {
    let key = crypto::pin_key(b"123456");
    let crypt = crypto::pin_cryptogram(&key, &[0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8]);
    let data: Vec<u8> = (0u8..0x7F).collect();
    vec![
        cmd::select_fid(0x3F00),
        cmd::get_challenge(),
        cmd::external_authenticate(1, &crypt),
        cmd::tries_query(1),
        cmd::read_binary(0, 0xD8),
        cmd::update_binary(0, &data),
        cmd::read_public_key(Some(1024), 0x3000),
    ]
}

fn handshake(v: Variant, vec: &ModeVectors) -> SecureChannel {
    let hs = Handshake::new(v, StaticKeys::default(), HOST);
    assert_eq!(
        hs.initialize_update().to_bytes().unwrap(),
        h(vec.init_update),
        "{} INITIALIZE UPDATE",
        vec.name
    );
    let resp = h(vec.init_resp);
    assert_eq!(&resp[resp.len() - 2..], &[0x90, 0x00]);
    let (ch, ea) = hs.complete(&resp[..resp.len() - 2]).unwrap();
    assert_eq!(
        ea.to_bytes().unwrap(),
        h(vec.ext_auth),
        "{} EXTERNAL AUTHENTICATE",
        vec.name
    );
    assert_eq!(ch.s_enc().to_vec(), h(vec.s_enc));
    assert_eq!(ch.s_mac().to_vec(), h(vec.s_mac));
    assert_eq!(ch.icv().to_vec(), h(vec.initial_icv));
    ch
}

fn run_mode(v: Variant, vec: &ModeVectors) {
    let mut ch = handshake(v, vec);
    for (i, c) in seven_commands().iter().enumerate() {
        let wire = ch.wrap(c).unwrap();
        let expect = if v == Variant::Fips && i == 3 {
            h(FIPS_TRIES_023)
        } else {
            h(vec.wrapped[i])
        };
        assert_eq!(
            hex::encode_upper(&wire),
            hex::encode_upper(&expect),
            "{} command {}",
            vec.name,
            i + 1
        );
        if i < 5 {
            let raw = h(vec.wrapped_resp[i]);
            let r = ch.unwrap_response(&raw).unwrap();
            assert_eq!(
                r.data,
                h(vec.plain_resp[i]),
                "{} response {}",
                vec.name,
                i + 1
            );
            let sw = u16::from_be_bytes([raw[raw.len() - 2], raw[raw.len() - 1]]);
            assert_eq!(r.sw.to_u16(), sw);
        }
    }
}

#[test]
fn des_vectors_10_2() {
    run_mode(Variant::Des, &DES);
}

#[test]
fn aes_vectors_10_3() {
    run_mode(Variant::Aes, &AES);
}

#[test]
fn fips_vectors_10_4_with_023_tries_query() {
    run_mode(Variant::Fips, &FIPS);
}

#[test]
fn fips_tries_query_master_form_matches_10_4_step_4() {
    let mut ch = handshake(Variant::Fips, &FIPS);
    ch.set_tries_query_mac(FipsTriesQueryMac::HeaderCmac);
    let cmds = seven_commands();
    for c in &cmds[..3] {
        ch.wrap(c).unwrap();
    }
    assert_eq!(ch.wrap(&cmds[3]).unwrap(), h(FIPS.wrapped[3]));
}

#[test]
fn tries_query_sw_is_structured() {
    let mut ch = handshake(Variant::Aes, &AES);
    let cmds = seven_commands();
    for (i, c) in cmds[..4].iter().enumerate() {
        ch.wrap(c).unwrap();
        let r = ch.unwrap_response(&h(AES.wrapped_resp[i])).unwrap();
        if i == 3 {
            assert_eq!(r.sw, StatusWord::VerifyFail { tries: 6 });
        }
    }
}

#[test]
fn rfc4493_header_cmac_anomaly_key_10_7() {
    let mut smac = [0u8; 16];
    smac[14] = 0x01;
    smac[15] = 0x4C;
    let mut ch = SecureChannel::from_parts(Variant::Fips, [0; 16], smac, [0; 16]);
    ch.set_tries_query_mac(FipsTriesQueryMac::HeaderCmac);
    let w = ch.wrap(&cmd::tries_query(1)).unwrap();
    assert_eq!(&w[7..15], &h("B711171510E72E5B")[..]);
}

fn tamper_rejected(v: Variant, vec: &ModeVectors, idx: usize) {
    let mut ch = handshake(v, vec);
    ch.wrap(&seven_commands()[0]).unwrap();
    let mut raw = h(vec.wrapped_resp[0]);
    raw[idx] ^= 0x01;
    let e = ch.unwrap_response(&raw).unwrap_err();
    assert!(matches!(e, Error::SmVerification(_)), "{e:?}");
}

#[test]
fn tampered_responses_rejected_des_aes() {
    for (v, vec) in [(Variant::Des, &DES), (Variant::Aes, &AES)] {
        let n = h(vec.wrapped_resp[0]).len();
        tamper_rejected(v, vec, 5); // ciphertext
        tamper_rejected(v, vec, n - 4); // MAC
        tamper_rejected(v, vec, n - 1); // outer SW != DO99
    }
}

#[test]
fn fips_response_mac_not_checked_but_do99_is() {
    let raw = h(FIPS.wrapped_resp[0]);
    let n = raw.len();
    let mut ch = handshake(Variant::Fips, &FIPS);
    ch.wrap(&seven_commands()[0]).unwrap();
    let mut t = raw.clone();
    t[n - 4] ^= 1; // MAC byte: accepted (§11.1.1)
    assert!(ch.unwrap_response(&t).is_ok());
    tamper_rejected(Variant::Fips, &FIPS, n - 1);
}

#[test]
fn unprotected_answer_is_sm_error() {
    let mut ch = handshake(Variant::Aes, &AES);
    ch.wrap(&seven_commands()[0]).unwrap();
    assert!(matches!(
        ch.unwrap_response(&[0x69, 0x88]),
        Err(Error::SmVerification(_))
    ));
}

#[test]
fn one_byte_do87_length_form_accepted_3_5_5() {
    // FIPS (no MAC check) lets us rewrite 87 81 E1 into the non-DER 87 E1 form.
    let mut ch = handshake(Variant::Fips, &FIPS);
    let cmds = seven_commands();
    for c in &cmds[..4] {
        ch.wrap(c).unwrap();
    }
    ch.wrap(&cmds[4]).unwrap();
    let der = h(FIPS.wrapped_resp[4]);
    assert_eq!(&der[..3], &[0x87, 0x81, 0xE1]);
    let mut raw = vec![0x87, 0xE1];
    raw.extend_from_slice(&der[3..]);
    let r = ch.unwrap_response(&raw).unwrap();
    assert_eq!(r.data, h(FIPS.plain_resp[4]));
}

#[test]
fn distinct_static_keys_10_5() {
    let mut enc = [0u8; 16];
    let mut mac = [0u8; 16];
    for i in 0..16 {
        enc[i] = 0x40 + i as u8;
        mac[i] = 0x50 + i as u8;
    }
    let rows = [
        (
            Variant::Des,
            "D26D6092E18DDF456EB4637FF287A342",
            "C0F143E66587067CABCC919B63124CC3",
            "6A2B36CA700E5A2D",
            "8482030010 62B8AAE6281B8C99 7EBF140CAD8F437F",
            "0CA4000018870901646932 24A014F6E6970100 8E089BF50F2040871C5F00",
        ),
        (
            Variant::Aes,
            "2F096DEDE8CEEE5D38BA383649C1D181",
            "AFA39852E7D4E9C00332BE5C676519FE",
            "2FA4D7A4D0CE9986",
            "8482030010 845D4CC12DD032A7 DC382EFD5816FF58",
            "0CA4000020871101 2809D48DEAEAE83CC707FB85E4228A1E 970100 8E08A187835 6AD3119AC00",
        ),
        (
            Variant::Fips,
            "148053BCA67D4CE8846C68387A0C8192",
            "895E9B15228F32A9236F903A96B17DD4",
            "D1E700CE46D971F8",
            "8482030010 1EC790FE82EA57CE 38F51E70D8AFA0A2",
            "0CA4000020871101 326793F77137D4F072FBACE57D846F23 970100 8E08700E758D173E332200",
        ),
    ];
    for (v, senc, smac, card, ea, sel) in rows {
        let mut resp = h("00112233445566778899");
        resp.extend(if v == Variant::Fips {
            h("010300")
        } else {
            h("0101")
        });
        resp.extend(h("FEDCBA9876543210"));
        resp.extend(h(card));
        let keys = StaticKeys {
            enc: Zeroizing::new(enc),
            mac: Zeroizing::new(mac),
        };
        let (mut ch, cmd_ea) = Handshake::new(v, keys, HOST).complete(&resp).unwrap();
        assert_eq!(ch.s_enc().to_vec(), h(senc), "{v:?}");
        assert_eq!(ch.s_mac().to_vec(), h(smac), "{v:?}");
        assert_eq!(cmd_ea.to_bytes().unwrap(), h(ea), "{v:?}");
        assert_eq!(ch.wrap(&cmd::select_fid(0x3F00)).unwrap(), h(sel), "{v:?}");
    }
}

#[test]
fn bad_card_cryptogram_fails_handshake() {
    let mut resp = h(DES.init_resp);
    resp.truncate(resp.len() - 2);
    resp[25] ^= 1;
    let e = Handshake::new(Variant::Des, StaticKeys::default(), HOST)
        .complete(&resp)
        .err()
        .unwrap();
    assert!(matches!(e, Error::MutualAuth(_)));
}

#[test]
fn plain_apdus_10_6_and_5() {
    let r = cmd::install_secret_key(&cmd::KeyRecord::user_pin(b"123456", 6));
    assert_eq!(
        r.to_bytes().unwrap(),
        h("80E300002204019096989800 06FF66 7C4A8D09CA3762AF61E59520943DC26494F8941B00000006")
    );
    let r = cmd::install_secret_key(&cmd::KeyRecord::puk(b"12345678", 6));
    assert_eq!(
        r.to_bytes().unwrap(),
        h("80E30000220402 90B8989800 08FF66 7C222FB2927D828AF22F592134E8932480637C0D00000008")
    );
    assert_eq!(
        cmd::update_pin_key(1, 6, b"654321").to_bytes().unwrap(),
        h("80E5040119 66 DD5FEF9C1C1DA1394D6D34B248C51BE2AD74084000000006")
    );
    let mut k = [0u8; 16];
    for (i, b) in k.iter_mut().enumerate() {
        *b = i as u8 + 1;
    }
    assert_eq!(
        cmd::install_secret_key(&cmd::KeyRecord::sm_key(1, &k))
            .to_bytes()
            .unwrap(),
        h("80E300001A01009090000000 00FF00 0102030405060708090A0B0C0D0E0F10")
    );
    assert_eq!(
        cmd::install_secret_key(&cmd::KeyRecord::magic_pin())
            .to_bytes()
            .unwrap(),
        h("80E300001A 06 01 10 16 16 16 00 0F FF 66 31323334353637383132333435363738")
    );
    assert_eq!(
        cmd::verify(1, cmd::MAGIC_PIN).to_bytes().unwrap(),
        h("0020000110 31323334353637383132333435363738")
    );
    assert_eq!(
        cmd::delete_file(0x3F00).to_bytes().unwrap(),
        h("00E40000023F00")
    );
    assert_eq!(
        cmd::generate_key_pair(cmd::KeyAlgorithm::Rsa(2048), 0x2900, 0x3000)
            .to_bytes()
            .unwrap(),
        h("00460000070108002900 3000")
    );
    assert_eq!(
        cmd::generate_key_pair(cmd::KeyAlgorithm::EcP256, 0x2902, 0x3002)
            .to_bytes()
            .unwrap(),
        h("00460000070201002940 3040")
    );
    assert_eq!(
        cmd::mse_set(cmd::SecurityEnv::RsaRaw, 0x2901)
            .to_bytes()
            .unwrap(),
        h("002241B807800184810229 20")
    );
    assert_eq!(
        cmd::mse_set(cmd::SecurityEnv::EcdsaSha256, 0x2902)
            .to_bytes()
            .unwrap(),
        h("002241B607800192810229 40")
    );
    assert_eq!(
        cmd::write_key_component(2, 0x2900, &h("C102030405060708"))
            .to_bytes()
            .unwrap(),
        h("80E702000A2900C102030405060708")
    );
    assert_eq!(
        cmd::write_key_component(3, 0x2900, &h("5102030405060709"))
            .to_bytes()
            .unwrap(),
        h("80E703000A29005102030405060709")
    );
    let sha = h("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
    assert_eq!(
        cmd::pso_ecdsa(&sha).to_bytes().unwrap(),
        [h("002A9E9A20"), sha].concat()
    );
    assert_eq!(cmd::get_serial().to_bytes().unwrap(), h("00CA018000"));
    assert_eq!(cmd::get_capabilities().to_bytes().unwrap(), h("00CA018600"));
    let pso = cmd::pso_rsa_raw(&[0x11; 256]).to_bytes().unwrap();
    assert_eq!(&pso[..7], &h("002A8086000100")[..]);
}
