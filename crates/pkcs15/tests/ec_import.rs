//! EC P-256 private-key import onto the emulated ePass2003 (`80 E7 02/03` into an FDB 13 EF,
//! an inferred APDU, `docs/protocol-notes.md`): list, sign, verify with p256, usage written to
//! the PrKDF and read back by a new connection, validation before any APDU.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use pkcs15::backend::{
    BackendError, EcKeyImport, KeyType, KeyUsage, ObjectKind, PinRole, TokenBackend,
};
use rand::SeedableRng;
use sha2::{Digest, Sha256};

pub(crate) fn ec_import(seed: u64, label: &str, id: &[u8], usage: KeyUsage) -> EcKeyImport {
    let sk = p256::SecretKey::random(&mut rand::rngs::StdRng::seed_from_u64(seed));
    EcKeyImport {
        d: sk.to_bytes().into(),
        point: sk.public_key().to_encoded_point(false).as_bytes().to_vec(),
        label: label.into(),
        id: id.to_vec(),
        usage,
    }
}

fn sign_only() -> KeyUsage {
    KeyUsage {
        sign: true,
        ..KeyUsage::default()
    }
}

#[test]
fn import_list_sign_verify_and_reread() {
    let (card, mut t) = initialised(31);
    let key = ec_import(1, "imported ec", &[0xE1], sign_only());
    let meta = t.import_ec_key(&key).unwrap();
    assert_eq!(meta.kind, ObjectKind::PrivateKey);
    assert_eq!(meta.key_type, Some(KeyType::EcP256));
    assert_eq!(meta.usage, sign_only());
    assert!(!meta.local, "an imported key is not CKA_LOCAL");
    let objs = t.objects().unwrap();
    let prk = find(&objs, ObjectKind::PrivateKey, &[0xE1]).clone();
    let puk = find(&objs, ObjectKind::PublicKey, &[0xE1]).clone();
    assert_eq!(puk.label, "imported ec");
    // the public key object is an SPKI holding the imported point
    let spki = t.read_value(puk.reference).unwrap();
    use p256::pkcs8::DecodePublicKey;
    let pk = p256::PublicKey::from_public_key_der(&spki).unwrap();
    assert_eq!(pk.to_encoded_point(false).as_bytes(), key.point.as_slice());
    sign_and_verify(&mut t, &prk, &puk);
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&key.point).unwrap();
    let hash = Sha256::digest(b"raw hash");
    let sig = t.ecdsa_sign(prk.reference, &hash).unwrap();
    vk.verify_prehash(&hash, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
        .unwrap();
    drop(t);
    // A new connection re-reads the PrKDF: the usage asked for is what is stored.
    let mut t2 = open(&card, None);
    let objs = t2.objects().unwrap();
    let prk2 = find(&objs, ObjectKind::PrivateKey, &[0xE1]);
    assert_eq!(prk2.usage, sign_only());
    assert_eq!(prk2.key_type, Some(KeyType::EcP256));
    let puk2 = find(&objs, ObjectKind::PublicKey, &[0xE1]);
    assert!(puk2.usage.verify && !puk2.usage.encrypt);
}

#[test]
fn usage_sign_and_derive_is_kept() {
    let (card, mut t) = initialised(32);
    let usage = KeyUsage {
        sign: true,
        derive: true,
        ..KeyUsage::default()
    };
    t.import_ec_key(&ec_import(2, "sd", &[0xE2], usage))
        .unwrap();
    let derive_only = KeyUsage {
        derive: true,
        ..KeyUsage::default()
    };
    t.import_ec_key(&ec_import(3, "d", &[0xE3], derive_only))
        .unwrap();
    drop(t);
    let mut t2 = open(&card, None);
    let objs = t2.objects().unwrap();
    assert_eq!(find(&objs, ObjectKind::PrivateKey, &[0xE2]).usage, usage);
    assert_eq!(
        find(&objs, ObjectKind::PrivateKey, &[0xE3]).usage,
        derive_only
    );
}

#[test]
fn invalid_keys_are_refused_before_any_apdu() {
    let (card, mut t) = initialised(33);
    let good = ec_import(4, "k", &[0xE4], sign_only());
    let other = ec_import(5, "k", &[0xE4], sign_only());
    let mut mismatch = ec_import(4, "k", &[0xE4], sign_only());
    mismatch.point = other.point.clone();
    let mut zero = ec_import(4, "k", &[0xE4], sign_only());
    zero.d = [0; 32];
    let mut order = ec_import(4, "k", &[0xE4], sign_only());
    order.d = hex::decode("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551")
        .unwrap()
        .try_into()
        .unwrap();
    let mut compressed = ec_import(4, "k", &[0xE4], sign_only());
    compressed.point = good.point[..33].to_vec();
    compressed.point[0] = 0x02 | (good.point[64] & 1);
    let mut decrypt = ec_import(4, "k", &[0xE4], sign_only());
    decrypt.usage.decrypt = true;
    let mut unwrap = ec_import(4, "k", &[0xE4], sign_only());
    unwrap.usage.unwrap = true;
    let before = apdus(&card);
    for (what, k) in [
        ("mismatch", &mismatch),
        ("zero", &zero),
        ("order", &order),
        ("compressed", &compressed),
        ("decrypt", &decrypt),
        ("unwrap", &unwrap),
    ] {
        assert!(
            matches!(t.import_ec_key(k), Err(BackendError::InvalidInput(_))),
            "{what}"
        );
    }
    assert_eq!(apdus(&card), before, "no APDU for an invalid key");
    assert!(t.objects().unwrap().is_empty());
    t.import_ec_key(&good).unwrap();
}

#[test]
fn import_needs_the_user_pin() {
    let (card, t) = initialised(34);
    drop(t);
    let mut t = open(&card, None);
    let r = t.import_ec_key(&ec_import(6, "k", &[0xE6], sign_only()));
    assert!(r.is_err(), "imported without login: {r:?}");
    t.login(PinRole::User, PIN).unwrap();
    let objs = t.objects().unwrap();
    assert!(objs.is_empty(), "nothing listed after a refused import");
    t.import_ec_key(&ec_import(6, "k", &[0xE6], sign_only()))
        .unwrap();
}

/// On the card personalised by OpenSC the imported key goes beside OpenSC's keys, which keep
/// their usage (read from OpenSC's PrKDF) and keep signing.
#[test]
fn import_onto_an_opensc_card() {
    let card = opensc_card();
    let mut t = open(&card, None);
    t.login(PinRole::User, PIN).unwrap();
    let objs = t.objects().unwrap();
    let rsa = find(&objs, ObjectKind::PrivateKey, &[0x01]).clone();
    assert!(rsa.usage.sign && rsa.usage.decrypt && rsa.usage.unwrap);
    let ec = find(&objs, ObjectKind::PrivateKey, &[0x02]).clone();
    assert!(ec.usage.sign && !ec.usage.decrypt);
    t.import_ec_key(&ec_import(7, "third", &[0x03], sign_only()))
        .unwrap();
    let objs = t.objects().unwrap();
    for id in [[0x01], [0x02], [0x03]] {
        let prk = find(&objs, ObjectKind::PrivateKey, &id).clone();
        let puk = find(&objs, ObjectKind::PublicKey, &id).clone();
        sign_and_verify(&mut t, &prk, &puk);
    }
}
