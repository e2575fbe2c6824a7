//! The main job through the built `.so` over the emulated ePass2003: initialise, generate keys
//! on the card, sign with every mechanism (checked independently with RustCrypto), decrypt,
//! certificates, attribute semantics, visibility, random, and many threads on one token.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use rsa::traits::SignatureScheme;
use std::sync::Arc;

fn rsa_public(s: &Session, h: ObjectHandle) -> rsa::RsaPublicKey {
    let a = s
        .get_attributes(h, &[AttributeType::Modulus, AttributeType::PublicExponent])
        .unwrap();
    let (mut n, mut e) = (vec![], vec![]);
    for x in a {
        match x {
            Attribute::Modulus(v) => n = v,
            Attribute::PublicExponent(v) => e = v,
            _ => {}
        }
    }
    rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&n),
        rsa::BigUint::from_bytes_be(&e),
    )
    .unwrap()
}

#[test]
fn emulated_token_end_to_end() {
    let dir = tempdir();
    let file = dir.path().join("card.state");
    let ctx = load(&[&file]);
    let slots = ctx.get_slots_with_token().unwrap();
    assert_eq!(slots.len(), 1);
    let slot = slots[0];

    // A blank card is an uninitialised token, and says it is emulated.
    let info = ctx.get_token_info(slot).unwrap();
    assert!(!info.token_initialized());
    assert!(info.model().contains("emul"), "model {:?}", info.model());
    let sinfo = ctx.get_slot_info(slot).unwrap();
    assert!(sinfo.slot_description().contains("emulated"));

    personalise(&ctx, slot);
    let info = ctx.get_token_info(slot).unwrap();
    assert!(info.token_initialized() && info.user_pin_initialized() && info.login_required());
    assert_eq!(info.label(), "test token");
    assert_eq!((info.min_pin_length(), info.max_pin_length()), (4, 16));

    // Mechanisms are card-backed (CKF_HW).
    let mechs = ctx.get_mechanism_list(slot).unwrap();
    assert!(
        mechs.contains(&MechanismType::RSA_PKCS_PSS)
            && mechs.contains(&MechanismType::ECDSA_SHA256)
    );
    assert!(ctx
        .get_mechanism_info(slot, MechanismType::RSA_PKCS)
        .unwrap()
        .hardware());

    let s = user_session(&ctx, slot);
    let (rpub, rpriv) = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::ModulusBits(2048.into()),
                Attribute::Token(true),
                Attribute::Label(b"rsa".to_vec()),
                Attribute::Id(vec![1]),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sign(true),
                Attribute::Decrypt(true),
                Attribute::Id(vec![1]),
            ],
        )
        .unwrap();
    let p256_oid = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let (epub, epriv) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::EcParams(p256_oid.clone()),
                Attribute::Token(true),
                Attribute::Label(b"ec".to_vec()),
                Attribute::Id(vec![2]),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sign(true),
                Attribute::Id(vec![2]),
            ],
        )
        .unwrap();
    assert_ne!(rpub, rpriv);

    // Private keys: never extractable, sensitive, modulus available for NSS/GnuTLS.
    let want = [
        AttributeType::Sensitive,
        AttributeType::Extractable,
        AttributeType::AlwaysSensitive,
        AttributeType::NeverExtractable,
        AttributeType::Local,
    ];
    let a = s.get_attributes(rpriv, &want).unwrap();
    assert!(a.contains(&Attribute::Sensitive(true)) && a.contains(&Attribute::Extractable(false)));
    assert!(a.contains(&Attribute::NeverExtractable(true)) && a.contains(&Attribute::Local(true)));
    let key = rsa_public(&s, rpriv);
    assert_eq!(rsa_public(&s, rpub), key);
    // A sensitive attribute is reported as such, and the others still come back.
    let a = s
        .get_attributes(
            rpriv,
            &[AttributeType::PrivateExponent, AttributeType::Label],
        )
        .unwrap();
    assert_eq!(a, vec![Attribute::Label(b"rsa".to_vec())]);
    let ec = s
        .get_attributes(epriv, &[AttributeType::EcPoint, AttributeType::EcParams])
        .unwrap();
    assert!(ec.contains(&Attribute::EcParams(p256_oid.clone())));
    let point = ec
        .iter()
        .find_map(|a| {
            if let Attribute::EcPoint(p) = a {
                Some(p.clone())
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(
        &point[..3],
        &[0x04, 0x41, 0x04],
        "CKA_EC_POINT is a DER OCTET STRING"
    );
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point[2..]).unwrap();

    let data = b"The quick brown fox".to_vec();
    use sha2::Digest;
    let h256 = sha2::Sha256::digest(&data).to_vec();

    // PKCS#1 v1.5, hashed on the host.
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, rpriv, &data).unwrap();
    key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &h256, &sig)
        .unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, rpub, &data, &sig)
        .unwrap();
    assert_eq!(
        rv(s.verify(&Mechanism::Sha256RsaPkcs, rpub, b"other", &sig)),
        RvError::SignatureInvalid
    );
    for m in [
        Mechanism::Sha1RsaPkcs,
        Mechanism::Sha224RsaPkcs,
        Mechanism::Sha384RsaPkcs,
        Mechanism::Sha512RsaPkcs,
    ] {
        let sig = s.sign(&m, rpriv, &data).unwrap();
        s.verify(&m, rpub, &data, &sig).unwrap();
    }
    // Raw PKCS#1 over a DigestInfo, and raw RSA.
    let mut di = vec![
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    di.extend_from_slice(&h256);
    let sig2 = s.sign(&Mechanism::RsaPkcs, rpriv, &di).unwrap();
    assert_eq!(sig2, sig, "PKCS#1 v1.5 is deterministic");
    let x = s.sign(&Mechanism::RsaX509, rpriv, &[1, 2, 3]).unwrap();
    assert_eq!(x.len(), 256);
    s.verify(&Mechanism::RsaX509, rpub, &[1, 2, 3], &x).unwrap();

    // PSS (TLS 1.3), raw and hashed.
    let pss = PkcsPssParams {
        hash_alg: MechanismType::SHA256,
        mgf: PkcsMgfType::MGF1_SHA256,
        s_len: 32.into(),
    };
    let sig = s.sign(&Mechanism::RsaPkcsPss(pss), rpriv, &h256).unwrap();
    rsa::pss::Pss::new::<sha2::Sha256>()
        .verify(&key, &h256, &sig)
        .unwrap();
    let sig = s
        .sign(&Mechanism::Sha256RsaPkcsPss(pss), rpriv, &data)
        .unwrap();
    rsa::pss::Pss::new::<sha2::Sha256>()
        .verify(&key, &h256, &sig)
        .unwrap();
    s.verify(&Mechanism::Sha256RsaPkcsPss(pss), rpub, &data, &sig)
        .unwrap();
    let pss384 = PkcsPssParams {
        hash_alg: MechanismType::SHA384,
        mgf: PkcsMgfType::MGF1_SHA384,
        s_len: 48.into(),
    };
    let sig = s
        .sign(&Mechanism::Sha384RsaPkcsPss(pss384), rpriv, &data)
        .unwrap();
    s.verify(&Mechanism::Sha384RsaPkcsPss(pss384), rpub, &data, &sig)
        .unwrap();
    // Mechanism parameter mismatch.
    assert_eq!(
        rv(s.sign(&Mechanism::Sha256RsaPkcsPss(pss384), rpriv, &data)),
        RvError::MechanismParamInvalid
    );

    // ECDSA, raw and hashed.
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let sig = s.sign(&Mechanism::Ecdsa, epriv, &h256).unwrap();
    vk.verify_prehash(&h256, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
        .unwrap();
    let sig = s.sign(&Mechanism::EcdsaSha256, epriv, &data).unwrap();
    vk.verify_prehash(&h256, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
        .unwrap();
    s.verify(&Mechanism::EcdsaSha256, epub, &data, &sig)
        .unwrap();
    for m in [
        Mechanism::EcdsaSha1,
        Mechanism::EcdsaSha384,
        Mechanism::EcdsaSha512,
    ] {
        let sig = s.sign(&m, epriv, &data).unwrap();
        s.verify(&m, epub, &data, &sig).unwrap();
    }
    assert_eq!(
        rv(s.sign(&Mechanism::Ecdsa, rpriv, &h256)),
        RvError::KeyTypeInconsistent
    );
    assert_eq!(
        rv(s.decrypt(&Mechanism::RsaPkcs, epriv, &[0; 64])),
        RvError::KeyTypeInconsistent
    );

    // Multi-part signing.
    s.sign_init(&Mechanism::Sha256RsaPkcs, rpriv).unwrap();
    s.sign_update(&data[..5]).unwrap();
    s.sign_update(&data[5..]).unwrap();
    let sig = s.sign_final().unwrap();
    key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &h256, &sig)
        .unwrap();

    // Decryption on the card: PKCS#1 v1.5 and OAEP, encrypted on the host.
    let mut rng = rand_core_rng();
    let ct = key
        .encrypt(&mut rng, rsa::Pkcs1v15Encrypt, b"secret")
        .unwrap();
    assert_eq!(
        s.decrypt(&Mechanism::RsaPkcs, rpriv, &ct).unwrap(),
        b"secret"
    );
    let ct = key
        .encrypt(&mut rng, rsa::Oaep::new::<sha2::Sha256>(), b"oaep secret")
        .unwrap();
    let oaep = PkcsOaepParams::new(
        MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    );
    assert_eq!(
        s.decrypt(&Mechanism::RsaPkcsOaep(oaep), rpriv, &ct)
            .unwrap(),
        b"oaep secret"
    );
    let ct = s.encrypt(&Mechanism::RsaPkcs, rpub, b"round trip").unwrap();
    assert_eq!(
        s.decrypt(&Mechanism::RsaPkcs, rpriv, &ct).unwrap(),
        b"round trip"
    );
    assert_eq!(
        rv(s.decrypt(&Mechanism::RsaPkcs, rpriv, &[1, 2, 3])),
        RvError::EncryptedDataLenRange
    );

    // Certificates.
    let der = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/test-cert.der"
    ))
    .unwrap();
    let cert = s
        .create_object(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
            Attribute::Token(true),
            Attribute::Value(der.clone()),
            Attribute::Label(b"my cert".to_vec()),
            Attribute::Id(vec![2]),
        ])
        .unwrap();
    let a = s
        .get_attributes(
            cert,
            &[
                AttributeType::Value,
                AttributeType::Subject,
                AttributeType::Issuer,
                AttributeType::SerialNumber,
                AttributeType::CertificateType,
            ],
        )
        .unwrap();
    assert!(a.contains(&Attribute::Value(der.clone())));
    let subject = a
        .iter()
        .find_map(|x| {
            if let Attribute::Subject(v) = x {
                Some(v.clone())
            } else {
                None
            }
        })
        .unwrap();
    assert!(subject.windows(14).any(|w| w == b"epass2003 test"));
    assert!(a
        .iter()
        .any(|x| matches!(x, Attribute::SerialNumber(v) if v[0] == 0x02)));
    // The key with the same id now has the certificate's subject.
    let a = s.get_attributes(epriv, &[AttributeType::Subject]).unwrap();
    assert_eq!(a, vec![Attribute::Subject(subject.clone())]);
    // Set label, find, destroy.
    s.update_attributes(cert, &[Attribute::Label(b"renamed".to_vec())])
        .unwrap();
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::Label(b"renamed".to_vec()),
        ])
        .unwrap();
    assert_eq!(found, vec![cert]);
    assert_eq!(
        rv(s.update_attributes(cert, &[Attribute::Value(vec![1])])),
        RvError::AttributeReadOnly
    );

    // Data object.
    let data_obj = s
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Application(b"app".to_vec()),
            Attribute::Value(b"payload".to_vec()),
            Attribute::Label(b"d".to_vec()),
        ])
        .unwrap();
    assert_eq!(
        s.get_attributes(data_obj, &[AttributeType::Value]).unwrap(),
        vec![Attribute::Value(b"payload".to_vec())]
    );
    s.destroy_object(data_obj).unwrap();
    assert_eq!(
        rv(s.get_attributes(data_obj, &[AttributeType::Label])),
        RvError::ObjectHandleInvalid
    );

    // Import an RSA private key (and its public half) made on the host.
    let host = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    let imported = s
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::Label(b"imported".to_vec()),
            Attribute::Id(vec![9]),
            Attribute::Modulus(host.n().to_bytes_be()),
            Attribute::PublicExponent(host.e().to_bytes_be()),
            Attribute::PrivateExponent(host.d().to_bytes_be()),
        ])
        .unwrap();
    let a = s
        .get_attributes(
            imported,
            &[
                AttributeType::Local,
                AttributeType::AlwaysSensitive,
                AttributeType::Modulus,
            ],
        )
        .unwrap();
    assert!(a.contains(&Attribute::Local(false)) && a.contains(&Attribute::AlwaysSensitive(false)));
    assert!(a.contains(&Attribute::Modulus(host.n().to_bytes_be())));
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, imported, &data).unwrap();
    host.to_public_key()
        .verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &h256, &sig)
        .unwrap();
    // Its public half is an object too.
    let pubs = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Id(vec![9]),
        ])
        .unwrap();
    assert_eq!(pubs.len(), 1);
    // Importing an extractable key is refused.
    let r = s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Extractable(true),
        Attribute::Modulus(host.n().to_bytes_be()),
        Attribute::PublicExponent(host.e().to_bytes_be()),
        Attribute::PrivateExponent(host.d().to_bytes_be()),
    ]);
    assert_eq!(rv(r), RvError::TemplateInconsistent);
    // A public key object from host values.
    let pk = s
        .create_object(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
            Attribute::Token(true),
            Attribute::Label(b"pub only".to_vec()),
            Attribute::Id(vec![10]),
            Attribute::Modulus(host.n().to_bytes_be()),
            Attribute::PublicExponent(host.e().to_bytes_be()),
        ])
        .unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, pk, &data, &sig)
        .unwrap();

    // Random from the card.
    let r = s.generate_random_vec(300).unwrap();
    assert_eq!(r.len(), 300);
    assert_ne!(r, vec![0u8; 300]);

    // Visibility: public objects before login, private keys only after.
    s.logout().unwrap();
    let ro = ctx.open_ro_session(slot).unwrap();
    let keys = ro
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .unwrap();
    assert!(keys.is_empty());
    let certs = ro
        .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
        .unwrap();
    assert_eq!(certs.len(), 1);
    let pubs = ro
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::RSA),
        ])
        .unwrap();
    assert!(pubs.contains(&rpub) && pubs.len() == 3, "{pubs:?}");
    assert_eq!(
        rv(ro.sign(&Mechanism::Sha256RsaPkcs, rpriv, &data)),
        RvError::KeyHandleInvalid
    );
    drop(ro);

    // Many threads signing on one token, each with its own session.
    let s = user_session(&ctx, slot);
    let ctx = Arc::new(ctx);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let ctx = ctx.clone();
            let key = key.clone();
            std::thread::spawn(move || {
                let s = ctx.open_ro_session(slot).unwrap();
                for j in 0..4 {
                    let msg = format!("thread {i} message {j}");
                    let sig = s
                        .sign(&Mechanism::Sha256RsaPkcs, rpriv, msg.as_bytes())
                        .unwrap();
                    let h = sha2::Sha256::digest(msg.as_bytes());
                    key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &h, &sig)
                        .unwrap();
                    let sig = s
                        .sign(&Mechanism::EcdsaSha256, epriv, msg.as_bytes())
                        .unwrap();
                    s.verify(&Mechanism::EcdsaSha256, epub, msg.as_bytes(), &sig)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(s);
    let _ = UserType::User;
}

fn rand_core_rng() -> impl rsa::rand_core::CryptoRngCore {
    rsa::rand_core::OsRng
}
