//! Return codes of refused requests through the built `.so` (issue 12.5): a label or value the
//! card cannot hold, a key size it cannot make, an RSA private key whose components disagree,
//! and what the mechanism flags claim.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};

fn rsa_private(k: &rsa::RsaPrivateKey, d: Vec<u8>) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sign(true),
        Attribute::Id(vec![0x42]),
        Attribute::Modulus(k.n().to_bytes_be()),
        Attribute::PublicExponent(k.e().to_bytes_be()),
        Attribute::PrivateExponent(d),
    ]
}

#[test]
fn refused_requests_have_exact_codes() {
    let dir = tempdir();
    let file = dir.path().join("card.state");
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    personalise(&ctx, slot);
    let s = user_session(&ctx, slot);

    // An RSA private key whose d does not belong to n never reaches the card.
    let k = rsa::RsaPrivateKey::new(&mut rand_core(), 1024).unwrap();
    let mut bad = k.d().to_bytes_be();
    bad[7] ^= 0x10;
    assert_eq!(
        rv(s.create_object(&rsa_private(&k, bad))),
        RvError::AttributeValueInvalid
    );
    let found = s
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .unwrap();
    assert!(found.is_empty(), "nothing was stored");
    s.create_object(&rsa_private(&k, k.d().to_bytes_be()))
        .unwrap();

    // Key sizes the card cannot make.
    let gen = |bits: u64| {
        s.generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::Token(true), Attribute::ModulusBits(bits.into())],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )
    };
    for bits in [512, 1536, 3072, 4096] {
        assert_eq!(rv(gen(bits)), RvError::KeySizeRange, "{bits} bits");
    }

    // A 10 KB label: a value the layout cannot hold.
    let label = vec![b'x'; 10 * 1024];
    let data = |label: &[u8], value: Vec<u8>| {
        s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Label(label.to_vec()),
            Attribute::Value(value),
        ])
    };
    assert_eq!(
        rv(data(&label, b"v".to_vec())),
        RvError::AttributeValueInvalid
    );
    assert_eq!(
        rv(s.generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::Token(true), Attribute::ModulusBits(1024.into())],
            &[Attribute::Token(true), Attribute::Label(label.clone())],
        )),
        RvError::AttributeValueInvalid
    );
    // A value no card file can hold (files are at most 32 KiB) ...
    assert_eq!(
        rv(data(b"big", vec![0x5A; 200 * 1024])),
        RvError::AttributeValueInvalid
    );
    // ... and values that fit a file but not the card's memory (the emulator's 64 KiB).
    let mut stored = 0;
    let last = loop {
        match data(b"fill", vec![0x5A; 30 * 1024]) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 3, "64 KiB cannot hold three 30 KiB values");
    };
    assert_eq!(rv::<()>(Err(last)), RvError::DeviceMemory);

    // Mechanism flags: CKF_HW where the card does the private-key operation (README
    // "Mechanisms"); digests and nothing else are host-only.
    for m in ctx.get_mechanism_list(slot).unwrap() {
        let info = ctx.get_mechanism_info(slot, m).unwrap();
        let host_only = [
            MechanismType::SHA1,
            MechanismType::SHA224,
            MechanismType::SHA256,
            MechanismType::SHA384,
            MechanismType::SHA512,
        ]
        .contains(&m);
        assert_eq!(info.hardware(), !host_only, "{m}");
    }
}

fn rand_core() -> impl rsa::rand_core::CryptoRngCore {
    rsa::rand_core::OsRng
}
