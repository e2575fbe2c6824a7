//! Behavioural tests of the emulated card through a tiny in-test SM host.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use epass2003_emu::{crypto, Card, CardError, CardOptions, Variant};

fn personalised(variant: Variant) -> (Card, Host) {
    let mut card = new_card(variant);
    let mut host = Host::open(&mut card, default_keys(), default_keys());
    personalise(&mut host, &mut card, b"123456", b"12345678");
    (card, host)
}

fn select_path(host: &mut Host, card: &mut Card, path: &[u16]) -> (Vec<u8>, u16) {
    let mut last = (Vec::new(), 0);
    for fid in path {
        last = host.select(card, *fid);
        assert_eq!(last.1, 0x9000, "select {fid:04X}");
    }
    last
}

#[test]
fn get_data_layout_per_variant() {
    for (variant, cc, ff) in [
        (Variant::Des, 0x02, 0x00),
        (Variant::Aes, 0x01, 0x00),
        (Variant::Fips, 0x01, 0x01),
    ] {
        let mut card = new_card(variant);
        let r = card.transmit(&[0x00, 0xCA, 0x01, 0x86, 0x00]).expect("t");
        assert_eq!(r.len(), 37);
        assert_eq!(&r[35..], &[0x90, 0x00]);
        assert_eq!(&r[0..3], &[0x80, 0x01, cc]);
        assert_eq!((r[14], r[16]), (0x84, 0x01));
        assert_eq!(&r[32..35], &[0x87, 0x01, ff]);
        assert_eq!(&r[19..21], &[0x07, 0x55]);
        assert_eq!(&r[21..29], &card.serial());
        let mut host = Host::open(&mut card, default_keys(), default_keys());
        let (serial, sw) = host.cmd(&mut card, 0x00, 0xCA, 0x01, 0x80, &[], Some(0));
        assert_eq!((serial, sw), (card.serial().to_vec(), 0x9000));
    }
}

#[test]
fn atr_status_follows_mf() {
    let mut card = new_card(Variant::Aes);
    assert_eq!(&card.atr()[19..22], &[0, 0, 0]);
    let mut host = Host::open(&mut card, default_keys(), default_keys());
    let (_, sw) = host.cmd(&mut card, 0, 0xE0, 0, 0, &h(MF_FCP), None);
    assert_eq!(sw, 0x9000);
    let a = card.atr();
    assert_eq!(&a[19..22], &[0x03, 0x90, 0x00]);
    assert_eq!(a[1..].iter().fold(0, |x, b| x ^ b), 0);
}

#[test]
fn personalisation_like_opensc_and_pkcs15_reads() {
    for variant in [Variant::Des, Variant::Aes, Variant::Fips] {
        let (mut card, mut host) = personalised(variant);
        // 9F00 = 06 06 (current DF is 5015 after the creates)
        let (fci, sw) = select_path(&mut host, &mut card, &[0x3F00, 0x5015, 0x9F00]);
        assert_eq!(sw, 0x9000);
        assert_eq!(
            &fci[..6],
            &[0x6F, fci.len() as u8 - 2, 0x80, 0x02, 0x00, 0x02]
        );
        assert_eq!(&fci[fci.len() - 3..], &[0x8A, 0x01, 0x05]);
        assert_eq!(
            host.cmd(&mut card, 0, 0xB0, 0, 0, &[], Some(2)),
            (vec![6, 6], 0x9000)
        );
        // AODF was requested as 256 and patched to 0x1300
        let (fci, _) = host.select(&mut card, 0x4401);
        assert_eq!(&fci[2..6], &[0x80, 0x02, 0x13, 0x00]);
        let (d, sw) = host.cmd(&mut card, 0, 0xB0, 0x12, 0xF0, &[], Some(0xD8));
        assert_eq!((d.len(), sw), (0x10, 0x9000), "short read at the end");
        assert_eq!(
            host.cmd(&mut card, 0, 0xB0, 0x13, 0x00, &[], Some(0xD8)).1,
            0x6B00
        );
        // EF.DIR
        select_path(&mut host, &mut card, &[0x3F00, 0x2F00]);
        assert_eq!(
            host.cmd(&mut card, 0, 0xB2, 1, 4, &[], Some(0xD8)).1,
            0x6A83
        );
        let rec = h("61 1F 4F 0C A0 00 00 00 63 50 4B 43 53 2D 31 35 50 07 4F 70 65 6E 53 43 51 04 3F 00 50 15");
        assert_eq!(host.cmd(&mut card, 0, 0xE2, 0, 0, &rec, None).1, 0x9000);
        assert_eq!(
            host.cmd(&mut card, 0, 0xB2, 1, 4, &[], Some(0xD8)),
            (rec.clone(), 0x9000)
        );
        assert_eq!(
            host.cmd(&mut card, 0, 0xB2, 2, 4, &[], Some(0xD8)).1,
            0x6A83
        );
        assert_eq!(
            host.cmd(&mut card, 0, 0xDC, 1, 4, &[0x55; 0x41], None).1,
            0x6700
        );
        assert_eq!(
            host.cmd(&mut card, 0, 0xDC, 1, 4, &[0x55; 0x40], None).1,
            0x9000
        );
        assert_eq!(
            host.cmd(&mut card, 0, 0xB3, 1, 4, &h("54 02 00 2E"), Some(0xD8))
                .1,
            0x6D00,
            "odd INS wrapped"
        );
        // LIST FILES in the MF
        host.select(&mut card, 0x3F00);
        assert_eq!(
            host.cmd(&mut card, 0x80, 0x34, 0, 0, &[], Some(0)),
            (h("5300 2F00 5015"), 0x9000)
        );
        // the 4946 info file, created lazily after a 6A82
        select_path(&mut host, &mut card, &[0x3F00, 0x5015]);
        assert_eq!(host.select(&mut card, 0x4946).1, 0x6A82);
        assert_eq!(host.verify_pin(&mut card, 1, b"123456"), 0x9000);
        let fcp = h("62 16 80 02 00 80 82 02 01 00 83 02 49 46 86 08 90 96 FF 96 FF FF FF FF");
        assert_eq!(host.cmd(&mut card, 0, 0xE0, 0, 0, &fcp, None).1, 0x9000);
        assert_eq!(host.cmd(&mut card, 0, 0xE0, 0, 0, &fcp, None).1, 0x6A89);
        assert_eq!(host.select(&mut card, 0x4946).1, 0x9000);
        assert_eq!(
            host.cmd(&mut card, 0, 0xD6, 0, 0, b"pkcs15onepin", None).1,
            0x9000
        );
        assert_eq!(
            host.cmd(&mut card, 0, 0xD6, 0, 0x7F, b"xx", None).1,
            0x6700,
            "write past end"
        );
        assert_eq!(host.cmd(&mut card, 0, 0xD6, 0, 0x81, b"x", None).1, 0x6B00);
    }
}

#[test]
fn wrong_pin_until_locked_then_puk_resets() {
    let (mut card, mut host) = personalised(Variant::Aes);
    select_path(&mut host, &mut card, &[0x3F00, 0x5015]);
    assert_eq!(host.tries(&mut card, 1), 0x63C6);
    for left in (1..=5).rev() {
        assert_eq!(host.verify_pin(&mut card, 1, b"000000"), 0x63C0 | left);
        assert_eq!(host.tries(&mut card, 1), 0x63C0 | left);
    }
    assert_eq!(host.verify_pin(&mut card, 1, b"000000"), 0x6983);
    assert_eq!(
        host.verify_pin(&mut card, 1, b"123456"),
        0x6983,
        "blocked even with the right PIN"
    );
    assert_eq!(host.tries(&mut card, 1), 0x6983);
    // PUK: wrong once, then right; resets kid 1 (default policy)
    assert_eq!(host.verify_pin(&mut card, 2, b"87654321"), 0x63C5);
    assert_eq!(host.verify_pin(&mut card, 2, b"12345678"), 0x9000);
    assert_eq!(host.tries(&mut card, 2), 0x63C6);
    assert_eq!(host.tries(&mut card, 1), 0x63C6);
    assert_eq!(host.verify_pin(&mut card, 1, b"123456"), 0x9000);
    // no such key
    assert_eq!(host.verify_pin(&mut card, 3, b"123456"), 0x6A88);
    // the policy can be switched off
    let mut card2 = Card::new_blank(
        Variant::Aes,
        CardOptions {
            puk_resets_user_pin: false,
            rng_seed: Some(9),
            ..Default::default()
        },
    );
    let mut host2 = Host::open(&mut card2, default_keys(), default_keys());
    personalise(&mut host2, &mut card2, b"1111", b"2222");
    for _ in 0..6 {
        host2.verify_pin(&mut card2, 1, b"9999");
    }
    assert_eq!(host2.verify_pin(&mut card2, 2, b"2222"), 0x9000);
    assert_eq!(host2.tries(&mut card2, 1), 0x6983);
}

#[test]
fn current_df_semantics() {
    let (mut card, mut host) = personalised(Variant::Aes);
    select_path(&mut host, &mut card, &[0x3F00, 0x5015, 0x4401]);
    // an EF makes its parent current: siblings and PIN keys are reachable without a SELECT
    assert_eq!(host.select(&mut card, 0x4402).1, 0x9000);
    assert_eq!(host.verify_pin(&mut card, 1, b"123456"), 0x9000);
    // failed SELECT changes nothing: the current EF is still 4402
    assert_eq!(host.select(&mut card, 0x1234).1, 0x6A82);
    assert_eq!(
        host.cmd(&mut card, 0, 0xB0, 0, 0, &[], Some(4)),
        (vec![0; 4], 0x9000)
    );
    // the current DF by its own FID, and its parent
    assert_eq!(host.select(&mut card, 0x5015).1, 0x9000);
    assert_eq!(host.select(&mut card, 0x3F00).1, 0x9000);
    assert_eq!(
        host.select(&mut card, 0x4401).1,
        0x6A82,
        "not a child of the MF"
    );
    select_path(&mut host, &mut card, &[0x5015, 0x4403]);
    assert_eq!(host.select(&mut card, 0x3F00).1, 0x9000);
    select_path(&mut host, &mut card, &[0x5015, 0x4403]);
    // parent of the current DF (5015 -> 3F00) by FID works too
    // DELETE of the current EF clears the current EF only
    assert_eq!(
        host.cmd(&mut card, 0, 0xE4, 0, 0, &[0x44, 0x03], None).1,
        0x9000
    );
    assert_eq!(host.cmd(&mut card, 0, 0xB0, 0, 0, &[], Some(4)).1, 0x6986);
    assert_eq!(
        host.select(&mut card, 0x4404).1,
        0x9000,
        "current DF still 5015"
    );
    assert_eq!(
        host.cmd(&mut card, 0, 0xE4, 0, 0, &[0x44, 0x03], None).1,
        0x6A82
    );
    // SELECT by DF name
    let aid = h("A0 00 00 00 63 50 4B 43 53 2D 31 35");
    host.select(&mut card, 0x3F00);
    let (fci, sw) = host.cmd(&mut card, 0, 0xA4, 0x04, 0x00, &aid, Some(0xD8));
    assert_eq!(sw, 0x9000);
    assert_eq!(fci[0], 0x6F);
    assert_eq!(host.select(&mut card, 0x4404).1, 0x9000);
    // OpenSC 0.23.0's AID probe: wrapped, P2=0C, no DO97 -> wrapped 6A82
    let probe = h("E8 28 BD 08 0F A0 00 00 01 67 45 53 49 47 4E");
    assert_eq!(
        host.cmd(&mut card, 0, 0xA4, 0x04, 0x0C, &probe, None),
        (vec![], 0x6A82)
    );
    assert_eq!(
        host.cmd(&mut card, 0, 0xA4, 0x04, 0x00, &probe, None),
        (vec![], 0x6A82)
    );
    // erase: magic PIN, VERIFY, DELETE 3F00 -> nothing current
    host.select(&mut card, 0x3F00);
    let magic = h("06 01 10 16 16 16 00 0F FF 66 31 32 33 34 35 36 37 38 31 32 33 34 35 36 37 38");
    assert_eq!(
        host.cmd(&mut card, 0x80, 0xE3, 0, 0, &magic, None).1,
        0x9000
    );
    assert_eq!(
        host.cmd(&mut card, 0, 0x20, 0, 1, b"1234567812345678", None)
            .1,
        0x9000
    );
    assert_eq!(
        host.cmd(&mut card, 0, 0xE4, 0, 0, &[0x3F, 0x00], None).1,
        0x9000
    );
    assert_eq!(host.select(&mut card, 0x3F00).1, 0x6A82);
    assert_eq!(host.select(&mut card, 0x5015).1, 0x6A82);
    assert_eq!(&card.atr()[19..22], &[0, 0, 0]);
    // and the card can be personalised again in the same session
    personalise(&mut host, &mut card, b"4321", b"87654321");
    assert_eq!(host.verify_pin(&mut card, 1, b"4321"), 0x9000);
}

#[test]
fn access_conditions_and_sm_rules() {
    let (mut card, mut host) = personalised(Variant::Aes);
    select_path(&mut host, &mut card, &[0x3F00, 0x5015, 0x5031]);
    assert_eq!(
        host.cmd(&mut card, 0, 0xD6, 0, 0, &[1, 2, 3], None).1,
        0x6982
    );
    assert_eq!(
        host.cmd(&mut card, 0, 0xB0, 0, 0, &[], Some(3)).1,
        0x9000,
        "read is free"
    );
    assert_eq!(
        host.cmd(&mut card, 0, 0xE4, 0, 0, &[0x50, 0x31], None).1,
        0x6982
    );
    assert_eq!(host.verify_pin(&mut card, 1, b"123456"), 0x9000);
    assert_eq!(
        host.cmd(&mut card, 0, 0xD6, 0, 0, &[1, 2, 3], None).1,
        0x9000
    );
    assert_eq!(
        host.cmd(&mut card, 0, 0xB0, 0, 0, &[], Some(3)),
        (vec![1, 2, 3], 0x9000)
    );
    // a plain command while SM is required: 69 88 in plain
    assert_eq!(
        card.transmit(&[0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00, 0x00])
            .expect("t"),
        vec![0x69, 0x88]
    );
    // a bad MAC: 69 88 in plain
    let mut a = host.wrap(0, 0xA4, 0, 0, &[0x3F, 0x00], Some(0));
    let n = a.len();
    a[n - 2] ^= 0x01;
    assert_eq!(card.transmit(&a).expect("t"), vec![0x69, 0x88]);
    // a new session (INITIALIZE UPDATE) drops the level
    let mut host = Host::open(&mut card, default_keys(), default_keys());
    select_path(&mut host, &mut card, &[0x3F00, 0x5015, 0x5031]);
    assert_eq!(host.cmd(&mut card, 0, 0xD6, 0, 0, &[9], None).1, 0x6982);
    // change PIN (80 E5) needs level 6 (modify AC 96)
    select_path(&mut host, &mut card, &[0x3F00, 0x5015]);
    let mut upd = vec![0x66];
    upd.extend_from_slice(&crypto::pin_key(b"654321"));
    assert_eq!(
        host.cmd(&mut card, 0x80, 0xE5, 0x04, 0x01, &upd, None).1,
        0x6982
    );
    assert_eq!(host.verify_pin(&mut card, 1, b"123456"), 0x9000);
    assert_eq!(host.verify_pin(&mut card, 1, b"000000"), 0x63C5);
    assert_eq!(
        host.cmd(&mut card, 0x80, 0xE5, 0x04, 0x01, &upd, None).1,
        0x9000
    );
    assert_eq!(host.tries(&mut card, 1), 0x63C6, "counter reset to max");
    assert_eq!(host.verify_pin(&mut card, 1, b"654321"), 0x9000);
    // overwriting the PUK at level 6 (C_InitPIN, compat §2.3) is refused
    let evil = install_pin_apdu(2, 0xB8, 0x08, b"999999");
    assert_eq!(host.cmd(&mut card, 0x80, 0xE3, 0, 0, &evil, None).1, 0x6982);
    let mut host = Host::open(&mut card, default_keys(), default_keys());
    select_path(&mut host, &mut card, &[0x3F00, 0x5015]);
    assert_eq!(
        host.cmd(&mut card, 0x80, 0xE3, 0, 0, &evil, None).1,
        0x6982,
        "without any login"
    );
    assert_eq!(
        host.verify_pin(&mut card, 2, b"12345678"),
        0x9000,
        "PUK unchanged"
    );
    // with the PUK (level 8), replacing the PUK is allowed (modify AC B8)
    assert_eq!(host.cmd(&mut card, 0x80, 0xE3, 0, 0, &evil, None).1, 0x9000);
    // GET CHALLENGE returns 16 bytes
    let (c, sw) = host.cmd(&mut card, 0, 0x84, 0, 0, &[], Some(0x10));
    assert_eq!((c.len(), sw), (16, 0x9000));
}

#[test]
fn ne_is_never_exceeded() {
    let (mut card, mut host) = personalised(Variant::Aes);
    let (d, sw) = host.cmd(&mut card, 0, 0x84, 0, 0, &[], Some(8));
    assert_eq!((d.len(), sw), (8, 0x9000));
    let (d, _) = host.cmd(&mut card, 0, 0xA4, 0, 0, &[0x3F, 0x00], Some(5));
    assert_eq!(d.len(), 5);
    select_path(&mut host, &mut card, &[0x5015, 0x4404]);
    let (d, _) = host.cmd(&mut card, 0, 0xB0, 0, 0, &[], Some(0xD8));
    assert_eq!(d.len(), 0xD8);
    let (d, _) = host.cmd(&mut card, 0, 0xB0, 0, 0, &[], Some(0x11));
    assert_eq!(d.len(), 0x11);
    // plain GET DATA with Le 10
    let r = card.transmit(&[0x00, 0xCA, 0x01, 0x86, 0x10]).expect("t");
    assert_eq!(r.len(), 0x12);
    // wrapped without DO97: no data
    let (d, sw) = host.cmd(&mut card, 0, 0x84, 0, 0, &[], None);
    assert_eq!((d.len(), sw), (0, 0x9000));
}

fn key_file_fcps(idx: u8, rsa_bits: Option<u16>) -> (Vec<u8>, Vec<u8>) {
    let lo = idx * 0x20;
    match rsa_bits {
        Some(bits) => {
            let b = bits.to_be_bytes();
            (
                h(&format!("62 16 82 02 11 00 83 02 29 {lo:02X} 85 02 {:02X} {:02X} 86 08 FF 90 90 90 FF FF FF FF", b[0], b[1])),
                h(&format!("62 1A 82 02 12 00 83 02 30 {lo:02X} 85 02 {:02X} {:02X} 86 08 90 90 90 90 FF FF FF FF 87 02 00 66", b[0], b[1])),
            )
        }
        None => (
            h(&format!("62 16 82 02 13 00 83 02 29 {lo:02X} 85 02 01 00 86 08 FF 90 90 90 FF FF FF FF")),
            h(&format!("62 1A 82 02 14 00 83 02 30 {lo:02X} 85 02 01 00 86 08 90 90 90 90 FF FF FF FF 87 02 00 66")),
        ),
    }
}

#[test]
fn generate_rsa_and_ec_then_sign_and_verify() {
    use rsa::traits::PublicKeyParts;
    use sha2::{Digest, Sha256};
    let (mut card, mut host) = personalised(Variant::Aes);
    select_path(&mut host, &mut card, &[0x3F00, 0x5015]);
    // RSA-1024, index 1
    let (pv, pb) = key_file_fcps(1, Some(1024));
    assert_eq!(host.cmd(&mut card, 0, 0xE0, 0, 0, &pv, None).1, 0x9000);
    assert_eq!(host.cmd(&mut card, 0, 0xE0, 0, 0, &pb, None).1, 0x9000);
    assert_eq!(
        host.cmd(&mut card, 0, 0x46, 0, 0, &h("01 04 00 29 20 30 20"), None)
            .1,
        0x9000
    );
    let (n, sw) = host.cmd(&mut card, 0x80, 0xB4, 0x02, 0x00, &[0x30, 0x20], Some(0));
    assert_eq!((n.len(), sw), (128, 0x9000));
    let public = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&n),
        rsa::BigUint::from(65537u32),
    )
    .expect("pub");
    assert_eq!(public.size(), 128);
    assert_eq!(
        host.cmd(
            &mut card,
            0,
            0x22,
            0x41,
            0xB8,
            &h("80 01 84 81 02 29 20"),
            None
        )
        .1,
        0x9000
    );
    let digest = Sha256::digest(b"hello");
    let mut em = vec![0x00, 0x01];
    let prefix = h("30 31 30 0d 06 09 60 86 48 01 65 03 04 02 01 05 00 04 20");
    em.resize(em.len() + 128 - 3 - prefix.len() - 32, 0xFF);
    em.push(0);
    em.extend_from_slice(&prefix);
    em.extend_from_slice(&digest);
    let (sig, sw) = host.cmd(&mut card, 0, 0x2A, 0x80, 0x86, &em, Some(0));
    assert_eq!((sig.len(), sw), (128, 0x9000));
    public
        .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, &sig)
        .expect("RSA signature verifies");
    assert_eq!(
        host.cmd(&mut card, 0, 0x2A, 0x80, 0x86, &[0xFF; 128], Some(0))
            .1,
        0x6A80,
        "input >= n"
    );
    // EC P-256, index 2
    let (pv, pb) = key_file_fcps(2, None);
    assert_eq!(host.cmd(&mut card, 0, 0xE0, 0, 0, &pv, None).1, 0x9000);
    assert_eq!(host.cmd(&mut card, 0, 0xE0, 0, 0, &pb, None).1, 0x9000);
    assert_eq!(
        host.cmd(&mut card, 0, 0x46, 0, 0, &h("02 01 00 29 40 30 40"), None)
            .1,
        0x9000
    );
    let (pt, sw) = host.cmd(&mut card, 0x80, 0xB4, 0x00, 0x00, &[0x30, 0x40], Some(0));
    assert_eq!((pt.len(), sw), (68, 0x9000));
    assert_eq!((pt[0], pt[1], pt[34], pt[35]), (0x58, 0x20, 0x59, 0x20));
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(&pt[2..34]);
    sec1.extend_from_slice(&pt[36..68]);
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).expect("point");
    assert_eq!(
        host.cmd(
            &mut card,
            0,
            0x22,
            0x41,
            0xB6,
            &h("80 01 92 81 02 29 40"),
            None
        )
        .1,
        0x9000
    );
    let hash = Sha256::digest(b"abc");
    let (sig, sw) = host.cmd(&mut card, 0, 0x2A, 0x9E, 0x9A, &hash, Some(0));
    assert_eq!((sig.len(), sw), (64, 0x9000));
    let sig = p256::ecdsa::Signature::from_slice(&sig).expect("sig");
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    vk.verify_prehash(&hash, &sig).expect("ECDSA verifies");
    // PSO RSA with an EC environment -> error, wrapped
    assert_eq!(
        host.cmd(&mut card, 0, 0x2A, 0x80, 0x86, &em, Some(0)).1,
        0x6A88
    );
    // the public-key EF can be deleted and replaced; the private key keeps working
    assert_eq!(
        host.cmd(&mut card, 0, 0xE4, 0, 0, &[0x30, 0x40], None).1,
        0x9000
    );
    let (sig2, sw) = host.cmd(&mut card, 0, 0x2A, 0x9E, 0x9A, &hash, Some(0));
    assert_eq!(sw, 0x9000);
    vk.verify_prehash(
        &hash,
        &p256::ecdsa::Signature::from_slice(&sig2).expect("sig"),
    )
    .expect("verifies");
    let c = card.counters();
    assert_eq!((c.keygens, c.rsa_ops, c.ec_ops), (2, 1, 2));
}

#[test]
fn rsa_import_with_n_and_d_only() {
    use rand::SeedableRng;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let key = rsa::RsaPrivateKey::new(&mut rng, 1024).expect("key");
    let (mut card, mut host) = personalised(Variant::Des);
    select_path(&mut host, &mut card, &[0x3F00, 0x5015]);
    let (pv, _) = key_file_fcps(3, Some(1024));
    assert_eq!(host.cmd(&mut card, 0, 0xE0, 0, 0, &pv, None).1, 0x9000);
    let mut n = vec![0x29, 0x60];
    n.extend_from_slice(&key.n().to_bytes_be());
    let mut d = vec![0x29, 0x60];
    d.extend_from_slice(&key.d().to_bytes_be());
    assert_eq!(
        host.cmd(&mut card, 0x80, 0xE7, 0x02, 0x00, &n, None).1,
        0x9000
    );
    assert_eq!(
        host.cmd(&mut card, 0x80, 0xE7, 0x03, 0x00, &d, None).1,
        0x9000
    );
    assert_eq!(
        host.cmd(
            &mut card,
            0,
            0x22,
            0x41,
            0xB8,
            &h("80 01 84 81 02 29 60"),
            None
        )
        .1,
        0x9000
    );
    let x = rsa::BigUint::from(0x1234_5678u32);
    let (y, sw) = host.cmd(&mut card, 0, 0x2A, 0x80, 0x86, &x.to_bytes_be(), Some(0));
    assert_eq!(
        (y.len(), sw),
        (128, 0x9000),
        "full modulus length with leading zeros"
    );
    let back = rsa::BigUint::from_bytes_be(&y).modpow(key.e(), key.n());
    assert_eq!(back, x);
    // wrong key type for MSE EC
    assert_eq!(
        host.cmd(
            &mut card,
            0,
            0x22,
            0x41,
            0xB6,
            &h("80 01 92 81 02 29 60"),
            None
        )
        .1,
        0x6A80
    );
}

#[test]
fn persistence_round_trip() {
    let (mut card, mut host) = personalised(Variant::Fips);
    select_path(&mut host, &mut card, &[0x3F00, 0x5015]);
    assert_eq!(host.verify_pin(&mut card, 1, b"bad!"), 0x63C5);
    let bytes = card.to_state_bytes();
    let mut card2 = Card::from_state_bytes(&bytes).expect("load");
    assert_eq!(card2.serial(), card.serial());
    assert_eq!(card2.variant(), Variant::Fips);
    assert_eq!(card2.counters().apdus, 0);
    assert_eq!(card2.to_state_bytes(), bytes);
    let mut host2 = Host::open(&mut card2, default_keys(), default_keys());
    select_path(&mut host2, &mut card2, &[0x3F00, 0x5015]);
    assert_eq!(
        host2.tries(&mut card2, 1),
        0x63C5,
        "the wrong PIN was persisted"
    );
    assert_eq!(host2.verify_pin(&mut card2, 1, b"123456"), 0x9000);
    let (_, sw) = select_path(&mut host2, &mut card2, &[0x9F00]);
    assert_eq!(sw, 0x9000);
    assert_eq!(
        host2.cmd(&mut card2, 0, 0xB0, 0, 0, &[], Some(2)),
        (vec![6, 6], 0x9000)
    );
    // volatile state is not persisted
    let text = String::from_utf8(bytes).expect("json");
    assert!(text.contains("\"version\":1"));
}

#[test]
fn corrupt_state_is_an_error_not_a_panic() {
    assert!(matches!(
        Card::from_state_bytes(b"garbage"),
        Err(CardError::CorruptState(_))
    ));
    assert!(matches!(
        Card::from_state_bytes(b""),
        Err(CardError::CorruptState(_))
    ));
    assert!(matches!(
        Card::from_state_bytes(b"{\"version\":99}"),
        Err(CardError::UnsupportedVersion(99))
    ));
    assert!(matches!(
        Card::from_state_bytes(b"{\"version\":1}"),
        Err(CardError::CorruptState(_))
    ));
    let (card, _) = personalised(Variant::Aes);
    let bytes = card.to_state_bytes();
    for cut in [1usize, 10, bytes.len() / 2, bytes.len() - 1] {
        assert!(Card::from_state_bytes(&bytes[..cut]).is_err());
    }
    let wrong_root =
        String::from_utf8(bytes.clone())
            .expect("utf8")
            .replacen("\"fid\":16128", "\"fid\":1", 1);
    assert!(Card::from_state_bytes(wrong_root.as_bytes()).is_err());
    // byte flips never panic
    for i in (0..bytes.len()).step_by(97) {
        let mut b = bytes.clone();
        b[i] ^= 0x55;
        let _ = Card::from_state_bytes(&b);
    }
}

#[test]
fn persister_runs_before_the_answer_and_failures_roll_back() {
    let (mut card, mut host) = personalised(Variant::Aes);
    select_path(&mut host, &mut card, &[0x3F00, 0x5015]);
    let saved: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
    let s2 = saved.clone();
    card.set_persister(Box::new(move |b: &[u8]| {
        s2.lock().expect("lock").push(b.to_vec());
        Ok(())
    }));
    assert_eq!(host.tries(&mut card, 1), 0x63C6);
    assert_eq!(
        saved.lock().expect("lock").len(),
        0,
        "a tries query changes nothing"
    );
    assert_eq!(host.verify_pin(&mut card, 1, b"wrong"), 0x63C5);
    let snap = saved
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("persisted");
    let mut copy = Card::from_state_bytes(&snap).expect("load");
    let mut h2 = Host::open(&mut copy, default_keys(), default_keys());
    select_path(&mut h2, &mut copy, &[0x3F00, 0x5015]);
    assert_eq!(
        h2.tries(&mut copy, 1),
        0x63C5,
        "the decrement was saved before the 63C5"
    );
    // failing persister: state rolls back, 65 81 (wrapped)
    card.set_persister(Box::new(|_b: &[u8]| {
        Err(std::io::Error::other("disk full"))
    }));
    assert_eq!(host.verify_pin(&mut card, 1, b"wrong"), 0x6581);
    let fcp = h("62 16 80 02 00 10 82 02 01 00 83 02 77 77 86 08 90 90 FF 90 FF FF FF FF");
    assert_eq!(host.cmd(&mut card, 0, 0xE0, 0, 0, &fcp, None).1, 0x6581);
    assert_eq!(
        host.verify_pin(&mut card, 1, b"123456"),
        0x6581,
        "a counter reset would be a change too"
    );
    card.set_persister(Box::new(|_b: &[u8]| Ok(())));
    assert_eq!(
        host.tries(&mut card, 1),
        0x63C5,
        "the failed attempts were rolled back"
    );
    assert_eq!(
        host.select(&mut card, 0x7777).1,
        0x6A82,
        "the create was rolled back"
    );
    // the failed login did not raise the level
    assert_eq!(host.select(&mut card, 0x5031).1, 0x9000);
    assert_eq!(host.cmd(&mut card, 0, 0xD6, 0, 0, &[1], None).1, 0x6982);
}

#[test]
fn pull_hook_removes_the_card_until_reinserted() {
    let (mut card, mut host) = personalised(Variant::Aes);
    card.hooks_mut().pull_after = Some(2);
    assert_eq!(host.select(&mut card, 0x3F00).1, 0x9000);
    assert_eq!(host.select(&mut card, 0x5015).1, 0x9000);
    let a = host.wrap(0, 0xA4, 0, 0, &[0x3F, 0x00], Some(0));
    assert!(matches!(card.transmit(&a), Err(CardError::Removed)));
    assert!(matches!(
        card.transmit(&[0x00, 0xCA, 0x01, 0x86, 0x00]),
        Err(CardError::Removed)
    ));
    let before = card.counters().apdus;
    card.reinsert();
    assert_eq!(card.counters().apdus, before);
    // the session is gone after reinsertion
    let a = host.wrap(0, 0xA4, 0, 0, &[0x3F, 0x00], Some(0));
    assert_eq!(card.transmit(&a).expect("t"), vec![0x69, 0x88]);
    let mut host = Host::open(&mut card, default_keys(), default_keys());
    assert_eq!(host.select(&mut card, 0x3F00).1, 0x9000);
}

#[test]
fn flip_hook_and_counters() {
    let mut card = new_card(Variant::Aes);
    let get = [0x00, 0xCA, 0x01, 0x86, 0x00];
    let clean = card.transmit(&get).expect("t");
    let idx = card.counters().apdus;
    card.hooks_mut().flip_response_byte = Some((idx, 3));
    let flipped = card.transmit(&get).expect("t");
    assert_eq!(flipped[3], clean[3] ^ 0x01);
    assert_eq!(flipped[..3], clean[..3]);
    assert_eq!(card.transmit(&get).expect("t"), clean, "only that APDU");
    let c = card.counters();
    assert_eq!(c.apdus, 3);
    assert_eq!(c.bytes_in, 15);
    assert_eq!(c.bytes_out, 3 * 37);
}

#[test]
fn erased_card_answers_6a82_and_plain_errors() {
    let mut card = new_card(Variant::Des);
    let mut host = Host::open(&mut card, default_keys(), default_keys());
    assert_eq!(host.select(&mut card, 0x3F00).1, 0x6A82);
    assert_eq!(host.cmd(&mut card, 0, 0xB0, 0, 0, &[], Some(4)).1, 0x6986);
    assert_eq!(host.cmd(&mut card, 0, 0xFF, 0, 0, &[], None).1, 0x6D00);
    // EXTERNAL AUTHENTICATE without INITIALIZE UPDATE
    assert_eq!(
        card.transmit(&[
            0x84, 0x82, 0x03, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ])
        .expect("t"),
        vec![0x69, 0x84]
    );
    // garbage APDU
    assert_eq!(card.transmit(&[0x00]).expect("t"), vec![0x67, 0x00]);
}

#[test]
fn plain_mode_card() {
    let mut card = Card::new_blank(
        Variant::Aes,
        CardOptions {
            plain_mode: true,
            rng_seed: Some(1),
            ..Default::default()
        },
    );
    let r = card.transmit(&[0x00, 0xCA, 0x01, 0x86, 0x00]).expect("t");
    assert_eq!((r[14], r[16]), (0x84, 0x00));
    let mut c = vec![0x00, 0xE0, 0x00, 0x00, 0x28];
    c.extend_from_slice(&h(MF_FCP));
    assert_eq!(card.transmit(&c).expect("t"), vec![0x90, 0x00]);
    let r = card
        .transmit(&[0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00, 0x00])
        .expect("t");
    assert_eq!(r[0], 0x6F);
}

#[test]
fn seeded_card_does_not_replay_challenges_after_reload() {
    let mut card = new_card(Variant::Aes);
    let bytes = card.to_state_bytes();
    let iu = [0x80, 0x50, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0x1C];
    let first = card.transmit(&iu).expect("t");
    let mut a = Card::from_state_bytes(&bytes).expect("load");
    let mut b = Card::from_state_bytes(&bytes).expect("load");
    let ra = a.transmit(&iu).expect("t");
    assert_eq!(
        ra,
        b.transmit(&iu).expect("t"),
        "deterministic for the same state"
    );
    assert_ne!(
        &ra[12..20],
        &first[12..20],
        "but not a replay of the original card"
    );
    assert_ne!(&ra[12..20], &card.serial()[..]);
}

#[test]
fn latency_hook_and_interrupted_erase_can_be_repeated() {
    let (mut card, mut host) = personalised(Variant::Aes);
    card.hooks_mut().latency.per_apdu = std::time::Duration::from_millis(15);
    let t = std::time::Instant::now();
    host.select(&mut card, 0x3F00);
    assert!(t.elapsed() >= std::time::Duration::from_millis(15));
    card.hooks_mut().latency.per_apdu = std::time::Duration::ZERO;
    // erase interrupted after the magic-PIN install: the identical re-install is a no-op
    let magic = h("06 01 10 16 16 16 00 0F FF 66 31 32 33 34 35 36 37 38 31 32 33 34 35 36 37 38");
    assert_eq!(
        host.cmd(&mut card, 0x80, 0xE3, 0, 0, &magic, None).1,
        0x9000
    );
    let mut host = Host::open(&mut card, default_keys(), default_keys());
    assert_eq!(host.select(&mut card, 0x3F00).1, 0x9000);
    assert_eq!(
        host.cmd(&mut card, 0x80, 0xE3, 0, 0, &magic, None).1,
        0x9000
    );
    // ...but a different magic PIN needs level >= 6 (modify AC 16)
    let mut other = magic.clone();
    other[10] = b'9';
    assert_eq!(
        host.cmd(&mut card, 0x80, 0xE3, 0, 0, &other, None).1,
        0x6982
    );
    // wrong magic PIN counts down
    assert_eq!(
        host.cmd(&mut card, 0, 0x20, 0, 1, b"0000000000000000", None)
            .1,
        0x63C5
    );
    assert_eq!(
        host.cmd(&mut card, 0, 0x20, 0, 1, b"1234567812345678", None)
            .1,
        0x9000
    );
    assert_eq!(
        host.cmd(&mut card, 0, 0xE4, 0, 0, &[0x3F, 0x00], None).1,
        0x9000
    );
    assert_eq!(host.select(&mut card, 0x3F00).1, 0x6A82);
}

/// EC private-key import `80 E7 02|03` into an FDB 13 EF (an inferred APDU, see
/// `docs/protocol-notes.md`): point then d, then MSE B6 + PSO 9E9A signs like a generated key,
/// also after a state-file round trip. Wrong EF type, bad lengths, bad values and the EF's
/// UPDATE AC are refused.
#[test]
fn ec_import_point_and_d_then_sign_and_persist() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use rand::SeedableRng;
    use sha2::{Digest, Sha256};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let sk = p256::SecretKey::random(&mut rng);
    let point = sk.public_key().to_encoded_point(false).as_bytes().to_vec();
    let d = sk.to_bytes().to_vec();
    let with_fid = |fid: [u8; 2], v: &[u8]| {
        let mut x = fid.to_vec();
        x.extend_from_slice(v);
        x
    };
    let (mut card, mut host) = personalised(Variant::Aes);
    select_path(&mut host, &mut card, &[0x3F00, 0x5015]);
    // index 4: an EC private EF whose UPDATE AC needs the user PIN (as our PKCS#15 layer writes).
    let pv = h("62 16 82 02 13 00 83 02 29 80 85 02 01 00 86 08 FF 96 90 96 FF FF FF FF");
    assert_eq!(host.cmd(&mut card, 0, 0xE0, 0, 0, &pv, None).1, 0x9000);
    let (_, pb) = key_file_fcps(4, None);
    assert_eq!(host.cmd(&mut card, 0, 0xE0, 0, 0, &pb, None).1, 0x9000);
    let fid = [0x29, 0x80];
    let e7 = |host: &mut Host, card: &mut Card, p1: u8, data: &[u8]| {
        host.cmd(card, 0x80, 0xE7, p1, 0x00, data, None).1
    };
    // access condition: no user PIN yet
    assert_eq!(
        e7(&mut host, &mut card, 0x02, &with_fid(fid, &point)),
        0x6982
    );
    assert_eq!(e7(&mut host, &mut card, 0x03, &with_fid(fid, &d)), 0x6982);
    assert_eq!(host.verify_pin(&mut card, 1, b"123456"), 0x9000);
    // wrong EF type: the EC public-key EF, and a missing EF
    assert_eq!(
        e7(&mut host, &mut card, 0x02, &with_fid([0x30, 0x80], &point)),
        0x6981
    );
    assert_eq!(
        e7(&mut host, &mut card, 0x03, &with_fid([0x29, 0xA0], &d)),
        0x6A82
    );
    // bad lengths
    assert_eq!(
        e7(&mut host, &mut card, 0x02, &with_fid(fid, &point[1..])),
        0x6700
    );
    assert_eq!(
        e7(&mut host, &mut card, 0x03, &with_fid(fid, &d[1..])),
        0x6700
    );
    assert_eq!(e7(&mut host, &mut card, 0x03, &[0x29]), 0x6700);
    // bad values: compressed-point prefix, point off the curve, d = 0, d = n
    let mut p2 = point.clone();
    p2[0] = 0x02;
    assert_eq!(e7(&mut host, &mut card, 0x02, &with_fid(fid, &p2)), 0x6A80);
    let mut p3 = point.clone();
    p3[64] ^= 1;
    assert_eq!(e7(&mut host, &mut card, 0x02, &with_fid(fid, &p3)), 0x6A80);
    assert_eq!(
        e7(&mut host, &mut card, 0x03, &with_fid(fid, &[0; 32])),
        0x6A80
    );
    let order = h("FFFFFFFF 00000000 FFFFFFFF FFFFFFFF BCE6FAAD A7179E84 F3B9CAC2 FC632551");
    assert_eq!(
        e7(&mut host, &mut card, 0x03, &with_fid(fid, &order)),
        0x6A80
    );
    // unknown component
    assert_eq!(e7(&mut host, &mut card, 0x04, &with_fid(fid, &d)), 0x6A86);
    // the key is not usable before d is written
    let mse = h("80 01 92 81 02 29 80");
    assert_eq!(
        e7(&mut host, &mut card, 0x02, &with_fid(fid, &point)),
        0x9000
    );
    assert_eq!(
        host.cmd(&mut card, 0, 0x22, 0x41, 0xB6, &mse, None).1,
        0x9000
    );
    let hash = Sha256::digest(b"imported");
    assert_eq!(
        host.cmd(&mut card, 0, 0x2A, 0x9E, 0x9A, &hash, Some(0)).1,
        0x6A88
    );
    assert_eq!(e7(&mut host, &mut card, 0x03, &with_fid(fid, &d)), 0x9000);
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).expect("point");
    let (sig, sw) = host.cmd(&mut card, 0, 0x2A, 0x9E, 0x9A, &hash, Some(0));
    assert_eq!((sig.len(), sw), (64, 0x9000));
    vk.verify_prehash(
        &hash,
        &p256::ecdsa::Signature::from_slice(&sig).expect("sig"),
    )
    .expect("ECDSA with the imported key verifies");
    // an RSA MSE on the EC EF is refused
    assert_eq!(
        host.cmd(
            &mut card,
            0,
            0x22,
            0x41,
            0xB8,
            &h("80 01 84 81 02 29 80"),
            None
        )
        .1,
        0x6A80
    );
    // persisted in the state file
    let bytes = card.to_state_bytes();
    let mut card2 = Card::from_state_bytes(&bytes).expect("load");
    let mut host2 = Host::open(&mut card2, default_keys(), default_keys());
    select_path(&mut host2, &mut card2, &[0x3F00, 0x5015]);
    assert_eq!(
        host2.cmd(&mut card2, 0, 0x22, 0x41, 0xB6, &mse, None).1,
        0x9000
    );
    let (sig, sw) = host2.cmd(&mut card2, 0, 0x2A, 0x9E, 0x9A, &hash, Some(0));
    assert_eq!(sw, 0x9000);
    vk.verify_prehash(
        &hash,
        &p256::ecdsa::Signature::from_slice(&sig).expect("sig"),
    )
    .expect("verifies after reload");
}
