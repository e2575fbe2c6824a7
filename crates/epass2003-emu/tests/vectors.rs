//! Protocol §10 test vectors, fed to the card byte for byte.

mod common;
#[path = "data/vectors.rs"]
mod vectors_data;

use common::*;
use epass2003_emu::apdu::Command;
use epass2003_emu::sm::Session;
use epass2003_emu::{Card, CardOptions, Variant};

fn v(table: &[(&str, &str)], i: usize) -> Vec<u8> {
    h(table[i].1)
}

const H: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF];
const C: [u8; 8] = [0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10];
const CHAL: [u8; 16] = [
    0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8,
];

/// A card with the MF (exact §8.3 FCP) and PIN "123456" as kid 1 in the MF, 6/6 tries.
fn vector_card(variant: Variant, k_enc: [u8; 16], k_mac: [u8; 16]) -> Card {
    let opts = CardOptions {
        rng_seed: Some(3),
        fci_life_cycle: false,
        k_enc,
        k_mac,
        ..Default::default()
    };
    let mut card = Card::new_blank(variant, opts);
    let mut host = Host::open(&mut card, k_enc, k_mac);
    let (_, sw) = host.cmd(&mut card, 0, 0xE0, 0, 0, &h(MF_FCP), None);
    assert_eq!(sw, 0x9000);
    let (_, sw) = host.cmd(
        &mut card,
        0x80,
        0xE3,
        0,
        0,
        &install_pin_apdu(1, 0x96, 0x06, b"123456"),
        None,
    );
    assert_eq!(sw, 0x9000);
    card.reset();
    card
}

fn run_card_vectors(variant: Variant, table: &[(&str, &str)], tries_query: Vec<u8>) {
    let k = default_keys();
    let mut card = vector_card(variant, k, k);
    card.hooks_mut()
        .queued_random
        .extend(C.iter().chain(CHAL.iter()));
    // INITIALIZE UPDATE
    assert_eq!(
        card.transmit(&v(table, 0)).expect("t"),
        v(table, 1),
        "INITIALIZE UPDATE response"
    );
    // EXTERNAL AUTHENTICATE
    assert_eq!(
        card.transmit(&v(table, 2)).expect("t"),
        vec![0x90, 0x00],
        "EXTERNAL AUTHENTICATE"
    );
    // 1. SELECT 3F00
    assert_eq!(
        card.transmit(&v(table, 3)).expect("t"),
        v(table, 4),
        "SELECT 3F00"
    );
    // 2. GET CHALLENGE
    assert_eq!(
        card.transmit(&v(table, 5)).expect("t"),
        v(table, 6),
        "GET CHALLENGE"
    );
    // 3. EXTERNAL AUTHENTICATE kid 1
    assert_eq!(
        card.transmit(&v(table, 7)).expect("t"),
        v(table, 8),
        "PIN EXTERNAL AUTHENTICATE"
    );
    // 4. tries query
    assert_eq!(
        card.transmit(&tries_query).expect("t"),
        v(table, 10),
        "tries query"
    );
    // 5. READ BINARY: accepted (MAC ok), no current EF after SELECT 3F00 -> wrapped 6986
    let r = card.transmit(&v(table, 11)).expect("t");
    assert_eq!(&r[r.len() - 2..], &[0x69, 0x86]);
    assert_eq!(&r[..4], &[0x99, 0x02, 0x69, 0x86]);
}

#[test]
fn des_vectors_card_side() {
    run_card_vectors(Variant::Des, vectors_data::DES, v(vectors_data::DES, 9));
}

#[test]
fn aes_vectors_card_side() {
    run_card_vectors(Variant::Aes, vectors_data::AES, v(vectors_data::AES, 9));
}

/// FIPS with OpenSC 0.23.0's tries-query MAC (compat page §1.2/§5).
#[test]
fn fips_vectors_card_side_opensc_023_tries_query() {
    run_card_vectors(
        Variant::Fips,
        vectors_data::FIPS,
        h("0C 82 01 81 0A 8E 08 6E 0F 40 A6 36 1C D5 AE 00"),
    );
}

/// FIPS with the document's (master / RFC 4493) tries-query MAC.
#[test]
fn fips_vectors_card_side_master_tries_query() {
    run_card_vectors(Variant::Fips, vectors_data::FIPS, v(vectors_data::FIPS, 9));
}

#[test]
fn fips_tries_query_with_bad_mac_is_rejected_plain() {
    let k = default_keys();
    let mut card = vector_card(Variant::Fips, k, k);
    card.hooks_mut()
        .queued_random
        .extend(C.iter().chain(CHAL.iter()));
    let t = vectors_data::FIPS;
    for i in [0usize, 2, 3, 5, 7] {
        card.transmit(&v(t, i)).expect("t");
    }
    let r = card
        .transmit(&h("0C 82 01 81 0A 8E 08 6E 0F 40 A6 36 1C D5 AF 00"))
        .expect("t");
    assert_eq!(r, vec![0x69, 0x88]);
}

/// Steps 1–7 at the SM layer: command unwrapping (incl. `87 82` DO87, extended framing,
/// CLA 8C) and response wrapping (incl. `87 81` DO87) byte for byte.
fn run_sm_vectors(variant: Variant, t: &[(&str, &str)]) {
    let k = default_keys();
    let mut s = Session::derive(variant, &k, &k, H, C);
    let init = v(t, 1);
    assert_eq!(s.init_update_response(), init[..init.len() - 2].to_vec());
    let ea = Command::parse(&v(t, 2)).expect("parse");
    assert!(s.check_external_authenticate(&ea));
    let fci = h(&MF_FCP.replace("62 26", "6F 26"));
    let rb: Vec<u8> = (0..216u32).map(|i| (i * 7 % 256) as u8).collect();
    let steps: [(usize, Option<usize>, Vec<u8>, u16); 4] = [
        (3, Some(4), fci, 0x9000),
        (5, Some(6), CHAL.to_vec(), 0x9000),
        (7, Some(8), vec![], 0x9000),
        (9, Some(10), vec![], 0x63C6),
    ];
    for (ci, ri, data, sw) in steps {
        let p = s
            .unwrap_command(&Command::parse(&v(t, ci)).expect("parse"))
            .expect("unwrap");
        if ci == 3 {
            assert_eq!(
                (p.cla, p.ins, p.data.clone(), p.ne),
                (0x00, 0xA4, vec![0x3F, 0x00], Some(256))
            );
        }
        if ci == 7 {
            assert_eq!(p.data, h("C7 2C 84 6A 1F 3D F2 72"));
        }
        assert_eq!(
            s.wrap_response(&data, sw),
            v(t, ri.expect("r")),
            "step {ci}"
        );
    }
    // 5. READ BINARY 216 -> 87 81 response
    let p = s
        .unwrap_command(&Command::parse(&v(t, 11)).expect("parse"))
        .expect("unwrap");
    assert_eq!((p.ins, p.ne, p.data.len()), (0xB0, Some(216), 0));
    assert_eq!(
        s.wrap_response(&rb, 0x9000),
        v(t, 12),
        "READ BINARY response"
    );
    // 6. UPDATE BINARY 127 bytes (87 82 command form)
    let p = s
        .unwrap_command(&Command::parse(&v(t, 13)).expect("parse"))
        .expect("unwrap");
    assert_eq!(
        (p.ins, p.data.clone(), p.ne),
        (0xD6, (0..0x7Fu8).collect::<Vec<u8>>(), None)
    );
    // 7. READ PUBLIC KEY (CLA 8C)
    let p = s
        .unwrap_command(&Command::parse(&v(t, 14)).expect("parse"))
        .expect("unwrap");
    assert_eq!(
        (p.cla, p.ins, p.p1, p.data.clone(), p.ne),
        (0x80, 0xB4, 0x02, vec![0x30, 0x00], Some(256))
    );
}

#[test]
fn des_vectors_sm_layer() {
    run_sm_vectors(Variant::Des, vectors_data::DES);
}

#[test]
fn aes_vectors_sm_layer() {
    run_sm_vectors(Variant::Aes, vectors_data::AES);
}

#[test]
fn fips_vectors_sm_layer() {
    run_sm_vectors(Variant::Fips, vectors_data::FIPS);
}

/// §10.5: distinct static keys; card cryptogram, handshake and the first wrapped SELECT.
#[test]
fn distinct_key_handshakes() {
    let k_enc: [u8; 16] = core::array::from_fn(|i| 0x40 + i as u8);
    let k_mac: [u8; 16] = core::array::from_fn(|i| 0x50 + i as u8);
    let cases = [
        (Variant::Des, "6A 2B 36 CA 70 0E 5A 2D", "84 82 03 00 10 62 B8 AA E6 28 1B 8C 99 7E BF 14 0C AD 8F 43 7F",
         "0C A4 00 00 18 87 09 01 64 69 32 24 A0 14 F6 E6 97 01 00 8E 08 9B F5 0F 20 40 87 1C 5F 00"),
        (Variant::Aes, "2F A4 D7 A4 D0 CE 99 86", "84 82 03 00 10 84 5D 4C C1 2D D0 32 A7 DC 38 2E FD 58 16 FF 58",
         "0C A4 00 00 20 87 11 01 28 09 D4 8D EA EA E8 3C C7 07 FB 85 E4 22 8A 1E 97 01 00 8E 08 A1 87 83 56 AD 31 19 AC 00"),
        (Variant::Fips, "D1 E7 00 CE 46 D9 71 F8", "84 82 03 00 10 1E C7 90 FE 82 EA 57 CE 38 F5 1E 70 D8 AF A0 A2",
         "0C A4 00 00 20 87 11 01 32 67 93 F7 71 37 D4 F0 72 FB AC E5 7D 84 6F 23 97 01 00 8E 08 70 0E 75 8D 17 3E 33 22 00"),
    ];
    for (variant, cc, ea, sel) in cases {
        let mut card = vector_card(variant, k_enc, k_mac);
        card.hooks_mut().queued_random.extend(C.iter());
        let le = if variant == Variant::Fips { 0x1D } else { 0x1C };
        let mut iu = vec![0x80, 0x50, 0, 0, 8];
        iu.extend_from_slice(&H);
        iu.push(le);
        let r = card.transmit(&iu).expect("t");
        let off = if variant == Variant::Fips { 21 } else { 20 };
        assert_eq!(&r[off..off + 8], &h(cc)[..], "{variant:?} card cryptogram");
        assert_eq!(
            card.transmit(&h(ea)).expect("t"),
            vec![0x90, 0x00],
            "{variant:?} ext auth"
        );
        let r = card.transmit(&h(sel)).expect("t");
        assert_eq!(&r[r.len() - 2..], &[0x90, 0x00], "{variant:?} select");
        assert_eq!(r[0], 0x87);
        // the swapped-key handshake must fail
        card.hooks_mut().queued_random.extend(C.iter());
        card.transmit(&iu).expect("t");
        let mut bad = h(ea);
        bad[6] ^= 1;
        assert_eq!(card.transmit(&bad).expect("t"), vec![0x63, 0x00]);
    }
}
