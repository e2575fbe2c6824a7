//! Parsers and the whole card dialogue never panic on arbitrary card answers (fuzz smoke test;
//! the same entry points are exported in `epass2003::fuzzing` for cargo-fuzz targets).
#![allow(clippy::unwrap_used)]

use epass2003::transport::replay::ReplayTransport;
use epass2003::{ConnectOptions, Connection};
use rand::{Rng, RngCore, SeedableRng};

#[test]
fn random_inputs_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2003);
    for _ in 0..20_000 {
        let len = rng.gen_range(0..300);
        let mut buf = vec![0u8; len];
        rng.fill_bytes(&mut buf);
        // Bias towards plausible structure.
        if len > 4 && rng.gen_bool(0.5) {
            buf[0] = [0x6F, 0x87, 0x99, 0x62][rng.gen_range(0..4)];
            buf[1] = [0x81, 0x82, 0x10, 0xE1, 0x02][rng.gen_range(0..5)];
        }
        epass2003::fuzzing::fci(&buf);
        epass2003::fuzzing::tlv(&buf);
        epass2003::fuzzing::sm_unwrap(&buf);
    }
}

#[test]
fn random_replays_never_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let caps = hex::decode(
        "80010181021DD4820100830200008401018 50A07552E6F44EB001A0003860100870101 9000"
            .replace(' ', ""),
    )
    .unwrap();
    for i in 0..2_000 {
        let mut rec = Vec::new();
        let atr = [0x3B, 0x9F];
        rec.extend_from_slice(&(atr.len() as u16).to_be_bytes());
        rec.extend_from_slice(&atr);
        if i % 3 != 0 {
            // Every third replay with SM off (84 01 00), so random answers reach the parsers.
            let mut c = caps.clone();
            if i % 3 == 2 {
                c[16] = 0x00;
            }
            rec.extend_from_slice(&(c.len() as u16).to_be_bytes());
            rec.extend_from_slice(&c);
        }
        for _ in 0..rng.gen_range(0..12) {
            let n = rng.gen_range(0..64);
            let mut r = vec![0u8; n];
            rng.fill_bytes(&mut r);
            if n >= 2 && rng.gen_bool(0.5) {
                r[n - 2] = 0x90;
                r[n - 1] = 0x00;
            }
            rec.extend_from_slice(&(n as u16).to_be_bytes());
            rec.extend_from_slice(&r);
        }
        let t = ReplayTransport::from_bytes(&rec).unwrap();
        if let Ok(mut conn) = Connection::connect(t, ConnectOptions::default()) {
            if let Ok(mut s) = conn.transaction() {
                let _ = s.select_path(&[0x5015, 0x5031]);
                let _ = s.read_binary(0, 500);
                let _ = s.verify_pin(1, b"123456");
                let _ = s.read_ec_public_key(0x3002);
            }
        }
    }
}
