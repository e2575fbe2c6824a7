//! The whole command set, run against any transport (emulator or PC/SC).

use epass2003::card::Mode;
use epass2003::commands::{KeyAlgorithm, KeyRecord};
use epass2003::fci::{Fcp, FileType};
use epass2003::transport::Transport;
use epass2003::{CardSession, ConnectOptions, Connection, Error};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, Pkcs1v15Encrypt, Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

pub(crate) const AID: &[u8] = &[
    0xA0, 0x00, 0x00, 0x00, 0x63, 0x50, 0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35,
];
const DF_AC: [u8; 8] = [0x90, 0x90, 0xFF, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
const BSO_AC: [u8; 8] = [0x90, 0xFF, 0xFF, 0x9F, 0xFF, 0xFF, 0xFF, 0xFF];
const FREE_AC: [u8; 8] = [0x90, 0x90, 0x90, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
const EF_FREE: [u8; 8] = [0x90, 0x90, 0xFF, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
pub(crate) const EF_PIN: [u8; 8] = [0x90, 0x96, 0xFF, 0x96, 0xFF, 0xFF, 0xFF, 0xFF];
const PRIV_AC: [u8; 8] = [0xFF, 0x90, 0x90, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
pub(crate) const PIN: &[u8] = b"123456";
pub(crate) const PUK: &[u8] = b"12345678";

pub(crate) fn connect<T: Transport>(t: T) -> Connection<T> {
    Connection::connect(t, ConnectOptions::default()).expect("connect")
}

/// Erase and personalise like §8.5 (onepin).
pub(crate) fn personalise(s: &mut CardSession<'_>) {
    s.erase_card().expect("erase");
    assert_eq!(s.select_fid(0x3F00).unwrap_err(), Error::FileNotFound);
    s.create_file(&Fcp::df(0x3F00, b"entersafe-fips", DF_AC).unwrap())
        .expect("create MF");
    s.create_file(&Fcp::bso(0x5300, 4, BSO_AC).unwrap())
        .expect("BSO 5300");
    s.create_file(&Fcp::linear(0x2F00, true, FREE_AC).unwrap())
        .expect("EF.DIR");
    s.create_file(&Fcp::df(0x5015, AID, DF_AC).unwrap())
        .expect("DF 5015");
    s.create_file(&Fcp::bso(0x5301, 0x20, BSO_AC).unwrap())
        .expect("BSO 5301");
    s.create_file(&Fcp::transparent(0x9F00, 2, EF_FREE).unwrap())
        .expect("9F00");
    s.select_path(&[0x5015, 0x9F00]).expect("select 9F00");
    s.update_binary(0, &[6, 6]).expect("write 9F00");
    s.select_path(&[0x5015]).expect("select 5015");
    for (fid, size) in [
        (0x5031u16, 512u16),
        (0x5032, 128),
        (0x5033, 128),
        (0x4401, 256),
        (0x4402, 1024),
        (0x4403, 1024),
        (0x4404, 2048),
        (0x4405, 256),
    ] {
        s.create_file(&Fcp::transparent(fid, size, EF_PIN).unwrap())
            .expect("create EF");
    }
    s.install_secret_key(&KeyRecord::user_pin(PIN, 6))
        .expect("install PIN");
    s.install_secret_key(&KeyRecord::puk(PUK, 6))
        .expect("install PUK");
}

fn files_and_records(s: &mut CardSession<'_>) {
    let serial = s.get_serial().expect("serial");
    assert_eq!(serial.len(), 8);
    let mf = s.select_fid(0x3F00).unwrap();
    assert_eq!(mf.file_type, Some(FileType::Df));
    assert_eq!(mf.df_name.as_deref(), Some(&b"entersafe-fips"[..]));
    let df = s.select_df_name(AID).expect("select by name");
    assert_eq!(df.fid, Some(0x5015));
    let fci = s.select_path(&[0x5015, 0x9F00]).unwrap();
    assert_eq!(fci.size, Some(2));
    assert_eq!(s.read_binary(0, 2).unwrap(), vec![6, 6]);
    // Protected EF: update needs the user PIN.
    let odf = s.select_path(&[0x5015, 0x5031]).unwrap();
    assert_eq!(odf.size, Some(512));
    let data: Vec<u8> = (0..500u32).map(|i| (i * 7) as u8).collect();
    assert_eq!(
        s.update_binary(0, &data).unwrap_err(),
        Error::SecurityStatus
    );
    s.verify_pin(1, PIN).expect("verify");
    assert_eq!(s.pin_tries_left(1).unwrap(), 6);
    s.update_binary(0, &data).expect("update 500 bytes");
    assert_eq!(s.read_binary(0, 512).unwrap()[..500], data[..]);
    assert_eq!(s.read_binary(10, 300).unwrap(), data[10..310].to_vec());
    // Records (EF.DIR).
    s.select_path(&[0x2F00]).unwrap();
    assert_eq!(
        s.read_record(1).unwrap_err(),
        Error::Sw(epass2003::StatusWord::RecordNotFound)
    );
    let rec = [
        &[0x61, 0x16, 0x4F, 0x0C][..],
        AID,
        &[0x51, 0x04, 0x3F, 0x00, 0x50, 0x15],
    ]
    .concat();
    s.append_record(&rec).unwrap();
    assert_eq!(s.read_record(1).unwrap(), rec);
    let mut rec2 = rec.clone();
    rec2[5] = 0x01;
    s.update_record(1, &rec2).unwrap();
    assert_eq!(s.read_record(1).unwrap(), rec2);
    // Create, list, delete.
    s.select_path(&[0x5015]).unwrap();
    s.create_file(&Fcp::transparent(0x3400, 100, FREE_AC).unwrap())
        .unwrap();
    let listed = s.list_files().expect("list files");
    assert!(
        listed.contains(&0x3400) && listed.contains(&0x5031),
        "{listed:04X?}"
    );
    s.select_path(&[0x5015, 0x3400]).unwrap();
    s.delete_file(0x3400).unwrap();
    s.select_path(&[0x5015]).unwrap();
    assert_eq!(s.select_fid(0x3400).unwrap_err(), Error::FileNotFound);
    let ch1 = s.get_challenge().unwrap();
    let ch2 = s.get_challenge().unwrap();
    assert_ne!(ch1, ch2);
}

fn pins(s: &mut CardSession<'_>) {
    s.select_path(&[0x5015]).unwrap();
    assert_eq!(
        s.verify_pin(1, b"000000").unwrap_err(),
        Error::WrongPin { tries_left: 5 }
    );
    assert_eq!(s.pin_tries_left(1).unwrap(), 5);
    s.verify_pin(1, PIN).unwrap();
    assert_eq!(s.pin_tries_left(1).unwrap(), 6);
    for left in (1..6).rev() {
        assert_eq!(
            s.verify_pin(1, b"999999").unwrap_err(),
            Error::WrongPin { tries_left: left }
        );
    }
    assert_eq!(s.verify_pin(1, b"999999").unwrap_err(), Error::PinBlocked);
    assert_eq!(s.verify_pin(1, PIN).unwrap_err(), Error::PinBlocked);
    assert_eq!(s.pin_tries_left(1).unwrap(), 0);
    // Unblock with the PUK (the emulator resets the user PIN counter, compat §2.3).
    s.verify_pin(2, PUK).expect("PUK");
    s.verify_pin(1, PIN).expect("PIN after unblock");
    // Change PIN (old PIN verified first, §6.3), then use the new one.
    s.change_pin(1, 6, b"654321").expect("change pin");
    assert_eq!(
        s.verify_pin(1, PIN).unwrap_err(),
        Error::WrongPin { tries_left: 5 }
    );
    s.verify_pin(1, b"654321").unwrap();
    s.change_pin(1, 6, PIN).unwrap();
    s.verify_pin(1, PIN).unwrap();
}

fn rsa_pub(n: &[u8]) -> RsaPublicKey {
    RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from(65537u32)).unwrap()
}

fn pkcs1_sign_block(hash: &[u8], k: usize) -> Vec<u8> {
    let prefix: &[u8] = &[
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    let t = [prefix, hash].concat();
    let mut em = vec![0x00, 0x01];
    em.resize(k - t.len() - 1, 0xFF);
    em.push(0);
    em.extend(t);
    em
}

fn rsa_sign_decrypt(s: &mut CardSession<'_>, priv_fid: u16, n: &[u8]) {
    let pk = rsa_pub(n);
    let hash = Sha256::digest(b"hello epass2003");
    let sig = s
        .rsa_raw(priv_fid, &pkcs1_sign_block(&hash, n.len()))
        .expect("rsa sign");
    assert_eq!(sig.len(), n.len());
    pk.verify(Pkcs1v15Sign::new::<Sha256>(), &hash, &sig)
        .expect("signature verifies");
    let ct = pk
        .encrypt(&mut rand::thread_rng(), Pkcs1v15Encrypt, b"secret message")
        .unwrap();
    let em = s.rsa_raw(priv_fid, &ct).expect("rsa decipher");
    assert_eq!(em[0..2], [0, 2]);
    let z = em[2..].iter().position(|&b| b == 0).unwrap() + 3;
    assert_eq!(&em[z..], b"secret message");
}

fn keys(s: &mut CardSession<'_>, rsa_bits: u16) {
    s.select_path(&[0x5015]).unwrap();
    s.verify_pin(1, PIN).unwrap();
    // RSA generated on card, index 0.
    s.create_file(&Fcp::private_key(0x2900, rsa_bits, PRIV_AC).unwrap())
        .unwrap();
    s.create_file(&Fcp::public_key(0x3000, rsa_bits, FREE_AC).unwrap())
        .unwrap();
    s.generate_key_pair(KeyAlgorithm::Rsa(rsa_bits), 0x2900, 0x3000)
        .expect("generate RSA");
    let n = s
        .read_rsa_public_key(0x3000, rsa_bits)
        .expect("read modulus");
    assert_eq!(n.len(), usize::from(rsa_bits / 8));
    assert!(n[0] & 0x80 != 0);
    rsa_sign_decrypt(s, 0x2900, &n);
    // EC P-256, index 2 (on-card 2940/3040).
    s.create_file(&Fcp::private_key(0x2902, 256, PRIV_AC).unwrap())
        .unwrap();
    s.create_file(&Fcp::public_key(0x3002, 256, FREE_AC).unwrap())
        .unwrap();
    s.generate_key_pair(KeyAlgorithm::EcP256, 0x2902, 0x3002)
        .expect("generate EC");
    let point = s.read_ec_public_key(0x3002).expect("read EC point");
    assert_eq!(point.len(), 65);
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    for msg in [&b"abc"[..], b"another message"] {
        let hash = Sha256::digest(msg);
        let sig = s.ecdsa_sign(0x2902, &hash).expect("ecdsa");
        let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
        vk.verify_prehash(&hash, &sig).expect("ECDSA verifies");
    }
    let h1 = sha1_like();
    let sig = s.ecdsa_sign(0x2902, &h1).expect("ecdsa sha1-size");
    let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
    vk.verify_prehash(&h1, &sig)
        .expect("ECDSA over 20 bytes verifies");
    // RSA import (80 E7), index 1.
    let key = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
    let (kn, kd) = (key.n().to_bytes_be(), key.d().to_bytes_be());
    s.create_file(&Fcp::private_key(0x2901, 1024, PRIV_AC).unwrap())
        .unwrap();
    s.import_rsa_key(0x2901, &kn, &kd).expect("import RSA");
    rsa_sign_decrypt(s, 0x2901, &kn);
    // EC P-256 import (80 E7 02 point, 03 d; inferred APDU), index 4.
    let sk = p256::SecretKey::random(&mut rand::thread_rng());
    let point = {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        sk.public_key().to_encoded_point(false).as_bytes().to_vec()
    };
    s.create_file(&Fcp::private_key(0x2904, 256, PRIV_AC).unwrap())
        .unwrap();
    assert!(matches!(
        s.import_ec_key(0x2904, &sk.to_bytes()[1..], &point),
        Err(Error::InvalidArgument(_))
    ));
    s.import_ec_key(0x2904, &sk.to_bytes(), &point)
        .expect("import EC");
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    let hash = Sha256::digest(b"imported EC key");
    let sig = s
        .ecdsa_sign(0x2904, &hash)
        .expect("ecdsa with imported key");
    vk.verify_prehash(&hash, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
        .expect("ECDSA with the imported key verifies");
}

/// RSA-2048 on-card generation, sign and decipher: exercises extended framing both ways
/// (wrapped PSO with Lc' > 255, 256-byte modulus / results in responses over 256 bytes).
pub(crate) fn rsa_2048(s: &mut CardSession<'_>) {
    s.select_path(&[0x5015]).unwrap();
    s.create_file(&Fcp::private_key(0x2903, 2048, PRIV_AC).unwrap())
        .unwrap();
    s.create_file(&Fcp::public_key(0x3003, 2048, FREE_AC).unwrap())
        .unwrap();
    s.generate_key_pair(KeyAlgorithm::Rsa(2048), 0x2903, 0x3003)
        .expect("generate RSA-2048");
    let n = s
        .read_rsa_public_key(0x3003, 2048)
        .expect("read 256-byte modulus");
    assert_eq!(n.len(), 256);
    rsa_sign_decrypt(s, 0x2903, &n);
}

fn sha1_like() -> Vec<u8> {
    Sha256::digest(b"twenty")[..20].to_vec()
}

/// Personalise, exercise every command, erase. `rsa_bits` for the on-card keygen.
pub(crate) fn full_suite<T: Transport>(conn: &mut Connection<T>, rsa_bits: u16) {
    assert!(matches!(conn.mode(), Mode::Sm(_) | Mode::Plain));
    let mut s = conn.transaction().expect("transaction");
    personalise(&mut s);
    files_and_records(&mut s);
    pins(&mut s);
    keys(&mut s, rsa_bits);
    // Logout: a new SM session drops the security level.
    if matches!(s.mode(), Mode::Sm(_)) {
        s.logout().unwrap();
        assert!(s.take_login_lost());
        s.select_path(&[0x5015, 0x5031]).unwrap();
        assert_eq!(s.update_binary(0, &[1]).unwrap_err(), Error::SecurityStatus);
    }
    s.erase_card().expect("erase");
    assert_eq!(s.select_fid(0x3F00).unwrap_err(), Error::FileNotFound);
    s.end().unwrap();
}
