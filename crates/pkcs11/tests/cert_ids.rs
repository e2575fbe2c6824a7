//! C_CreateObject of a certificate without CKA_ID (as `pkcs11-tool --write-object` does):
//! it gets the CKA_ID of the key pair with the same public key, else SHA-1 of the modulus.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use sha1::{Digest, Sha1};

fn id_of(s: &Session, o: ObjectHandle) -> Vec<u8> {
    match s.get_attributes(o, &[AttributeType::Id]).unwrap().remove(0) {
        Attribute::Id(v) => v,
        other => panic!("{other:?}"),
    }
}

fn write_cert(s: &Session, der: Vec<u8>) -> ObjectHandle {
    s.create_object(&[
        Attribute::Class(ObjectClass::CERTIFICATE),
        Attribute::CertificateType(CertificateType::X_509),
        Attribute::Token(true),
        Attribute::Label(b"cert".to_vec()),
        Attribute::Value(der),
    ])
    .unwrap()
}

#[test]
fn certificate_without_id_gets_its_keys_id() {
    let dir = tempdir();
    let file = dir.path().join("card.state");
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    personalise(&ctx, slot);
    let s = user_session(&ctx, slot);
    // Without CKA_ID: the key pair's id is SHA-1 of its modulus.
    let (public, private) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ModulusBits(1024.into()), Attribute::Token(true)],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )
        .unwrap();
    let n = match s
        .get_attributes(public, &[AttributeType::Modulus])
        .unwrap()
        .remove(0)
    {
        Attribute::Modulus(n) => n,
        other => panic!("{other:?}"),
    };
    let key_id = id_of(&s, private);
    assert_eq!(key_id, Sha1::digest(&n).to_vec());
    // With a CKA_ID of its own.
    let (public2, _) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[Attribute::ModulusBits(1024.into()), Attribute::Token(true)],
            &[
                Attribute::Token(true),
                Attribute::Sign(true),
                Attribute::Id(vec![0x42]),
            ],
        )
        .unwrap();
    let spki = |o| match s
        .get_attributes(o, &[AttributeType::PublicKeyInfo])
        .unwrap()
        .remove(0)
    {
        Attribute::PublicKeyInfo(v) => v,
        other => panic!("{other:?}"),
    };
    let c = write_cert(&s, cert_for(&spki(public)));
    assert_eq!(id_of(&s, c), key_id);
    let c2 = write_cert(&s, cert_for(&spki(public2)));
    assert_eq!(id_of(&s, c2), vec![0x42]);
    // The certificate and the key now find each other by id.
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(vec![0x42]),
        ])
        .unwrap();
    assert_eq!(found.len(), 1);

    // A certificate for a key that is not on the token: SHA-1 of its modulus.
    let other = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    let other_spki = {
        use rsa::pkcs8::EncodePublicKey;
        other
            .to_public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec()
    };
    let c3 = write_cert(&s, cert_for(&other_spki));
    let other_n = {
        use rsa::traits::PublicKeyParts;
        other.n().to_bytes_be()
    };
    assert_eq!(id_of(&s, c3), Sha1::digest(&other_n).to_vec());
}
