//! FCP builders are byte-identical with the CREATE FILE APDUs of §8.3.
#![allow(clippy::unwrap_used)]

use epass2003::commands as cmd;
use epass2003::fci::Fcp;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

const DF: [u8; 8] = [0x90, 0x90, 0xFF, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
const BSO: [u8; 8] = [0x90, 0xFF, 0xFF, 0x9F, 0xFF, 0xFF, 0xFF, 0xFF];
const FREE4: [u8; 8] = [0x90, 0x90, 0x90, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
const PIN_EF: [u8; 8] = [0x90, 0x96, 0xFF, 0x96, 0xFF, 0xFF, 0xFF, 0xFF];
const PRIV: [u8; 8] = [0xFF, 0x90, 0x90, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];

#[test]
fn create_apdus_8_3() {
    let aid = h("A000000063504B43532D3135");
    let cases: Vec<(Fcp, &str)> = vec![
        (Fcp::df(0x3F00, b"entersafe-fips", DF).unwrap(), "00 E0 00 00 28 62 26 82 02 38 00 83 02 3F 00 84 0E 65 6E 74 65 72 73 61 66 65 2D 66 69 70 73 85 02 00 7F 86 08 90 90 FF 90 FF FF FF FF"),
        (Fcp::bso(0x5300, 4, BSO).unwrap(), "00 E0 00 00 17 62 15 82 02 10 00 83 02 53 00 85 01 04 86 08 90 FF FF 9F FF FF FF FF"),
        (Fcp::linear(0x2F00, true, FREE4).unwrap(), "00 E0 00 00 17 62 15 82 05 04 00 00 40 00 83 02 2F 00 86 08 90 90 90 90 FF FF FF FF"),
        (Fcp::df(0x5015, &aid, DF).unwrap(), "00 E0 00 00 26 62 24 82 02 38 00 83 02 50 15 84 0C A0 00 00 00 63 50 4B 43 53 2D 31 35 85 02 00 7F 86 08 90 90 FF 90 FF FF FF FF"),
        (Fcp::bso(0x5301, 0x20, BSO).unwrap(), "00 E0 00 00 17 62 15 82 02 10 00 83 02 53 01 85 01 20 86 08 90 FF FF 9F FF FF FF FF"),
        (Fcp::transparent(0x9F00, 2, DF).unwrap(), "00 E0 00 00 18 62 16 80 02 00 02 82 02 01 00 83 02 9F 00 86 08 90 90 FF 90 FF FF FF FF"),
        (Fcp::transparent(0x5031, 512, PIN_EF).unwrap(), "00 E0 00 00 18 62 16 80 02 02 00 82 02 01 00 83 02 50 31 86 08 90 96 FF 96 FF FF FF FF"),
        (Fcp::transparent(0x5032, 128, PIN_EF).unwrap(), "00 E0 00 00 18 62 16 80 02 00 80 82 02 01 00 83 02 50 32 86 08 90 96 FF 96 FF FF FF FF"),
        // §8.3 shows 0x1300 for AODF (OpenSC's 256-byte quirk); we send what the caller asks.
        (Fcp::transparent(0x4401, 0x1300, PIN_EF).unwrap(), "00 E0 00 00 18 62 16 80 02 13 00 82 02 01 00 83 02 44 01 86 08 90 96 FF 96 FF FF FF FF"),
        (Fcp::transparent(0x4404, 2048, PIN_EF).unwrap(), "00 E0 00 00 18 62 16 80 02 08 00 82 02 01 00 83 02 44 04 86 08 90 96 FF 96 FF FF FF FF"),
        (Fcp::private_key(0x2901, 2048, PRIV).unwrap(), "00 E0 00 00 18 62 16 82 02 11 00 83 02 29 20 85 02 08 00 86 08 FF 90 90 90 FF FF FF FF"),
        (Fcp::public_key(0x3001, 2048, FREE4).unwrap(), "00 E0 00 00 1C 62 1A 82 02 12 00 83 02 30 20 85 02 08 00 86 08 90 90 90 90 FF FF FF FF 87 02 00 66"),
        (Fcp::private_key(0x2902, 256, PRIV).unwrap(), "00 E0 00 00 18 62 16 82 02 13 00 83 02 29 40 85 02 01 00 86 08 FF 90 90 90 FF FF FF FF"),
        (Fcp::public_key(0x3002, 256, FREE4).unwrap(), "00 E0 00 00 1C 62 1A 82 02 14 00 83 02 30 40 85 02 01 00 86 08 90 90 90 90 FF FF FF FF 87 02 00 66"),
        (Fcp::transparent(0x3101, 1234, DF).unwrap(), "00 E0 00 00 18 62 16 80 02 04 D2 82 02 01 00 83 02 31 20 86 08 90 90 FF 90 FF FF FF FF"),
        (Fcp::transparent(0x3400, 100, [0x96, 0x96, 0xFF, 0x9F, 0xFF, 0xFF, 0xFF, 0xFF]).unwrap(), "00 E0 00 00 18 62 16 80 02 00 64 82 02 01 00 83 02 34 00 86 08 96 96 FF 9F FF FF FF FF"),
    ];
    for (fcp, want) in cases {
        assert_eq!(
            cmd::create_file(&fcp).to_bytes().unwrap(),
            h(want),
            "{want}"
        );
    }
}

#[test]
fn fcp_rejects_bad_input() {
    assert!(Fcp::df(0x5015, b"", DF).is_err());
    assert!(Fcp::df(0x5015, &[0u8; 17], DF).is_err());
}
