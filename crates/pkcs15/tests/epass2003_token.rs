//! `Epass2003Token` against the in-process emulator: OpenSC-personalised cards, our own
//! personalisation, object writes, PINs, APDU budget.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pkcs15::backend::{
    BackendError, KeyGenSpec, KeyType, KeyUsage, NewObject, ObjectKind, PinRole, RsaKeyImport,
    TokenBackend,
};

/// (1) A card personalised by OpenSC 0.23's pkcs15-init: PIN policy, tries, keys, certificate;
/// RSA and ECDSA signatures verify with the public keys read from the card.
#[test]
fn reads_and_signs_with_an_opensc_personalised_card() {
    let card = opensc_card();
    let mut t = open(&card, None);
    let d = t.describe().unwrap();
    assert!(d.initialized);
    assert_eq!(d.label, "e2e aes");
    assert_eq!(d.manufacturer, "EnterSafe");
    assert_eq!(d.model, "ePass2003 (emulated)");
    assert_eq!(d.serial.len(), 16);
    assert_eq!(
        (d.user_pin_policy.min_len, d.user_pin_policy.max_len),
        (4, 16)
    );
    assert_eq!(d.auth_timeout_minutes, 0);
    let st = t.pin_status(PinRole::User).unwrap();
    assert_eq!(
        (st.tries_left, st.max_tries, st.initialized),
        (Some(6), 6, true)
    );

    let objs = t.objects().unwrap();
    let rsa = find(&objs, ObjectKind::PrivateKey, &[1]).clone();
    let ec = find(&objs, ObjectKind::PrivateKey, &[2]).clone();
    let rsa_pub = find(&objs, ObjectKind::PublicKey, &[1]).clone();
    let ec_pub = find(&objs, ObjectKind::PublicKey, &[2]).clone();
    let cert = find(&objs, ObjectKind::Certificate, &[1]).clone();
    assert_eq!(rsa.key_type, Some(KeyType::Rsa { bits: 2048 }));
    assert!(rsa.usage.sign && rsa.usage.decrypt && rsa.local && rsa.private);
    assert_eq!(ec.key_type, Some(KeyType::EcP256));
    assert!(ec.usage.sign && !ec.usage.decrypt);
    assert_eq!(ec_pub.label, "ec key");

    // The certificate carries the RSA key's SPKI.
    let der = t.read_value(cert.reference).unwrap();
    let spki = t.read_value(rsa_pub.reference).unwrap();
    assert!(der.windows(spki.len()).any(|w| w == spki.as_slice()));

    // References are stable.
    assert_eq!(t.objects().unwrap(), objs);

    t.login(PinRole::User, PIN).unwrap();
    sign_and_verify(&mut t, &rsa, &rsa_pub);
    sign_and_verify(&mut t, &ec, &ec_pub);
    assert_eq!(
        t.login(PinRole::User, b"000000"),
        Err(BackendError::WrongPin { tries_left: 5 })
    );
    t.login(PinRole::User, PIN).unwrap();
    assert_eq!(t.pin_status(PinRole::User).unwrap().tries_left, Some(6));
}

/// (2) init_token + generate + store: the full object life cycle on a blank card.
#[test]
fn init_generate_store_delete_roundtrip() {
    let card = blank_card(7);
    let mut t = open(&card, None);
    assert!(!t.describe().unwrap().initialized);
    t.init_token(&init_params("my token", Some(PIN))).unwrap();
    let d = t.describe().unwrap();
    assert_eq!(d.label, "my token");
    assert_eq!(d.auth_timeout_minutes, 15);
    assert_eq!(
        (d.user_pin_policy.min_len, d.user_pin_policy.max_len),
        (6, 12)
    );
    assert!(d.user_pin_policy.require_digit);
    assert!(t.objects().unwrap().is_empty());
    assert_eq!(t.pin_status(PinRole::So).unwrap().tries_left, Some(6));

    // Writes need the PIN (directory ACs 96).
    let cert = fake_cert(0x11, 200);
    let new_cert = NewObject::Certificate {
        der: cert.clone(),
        label: "cert".into(),
        id: vec![0xAA],
        authority: false,
    };
    assert_eq!(t.create_object(&new_cert), Err(BackendError::NotLoggedIn));
    t.login(PinRole::User, PIN).unwrap();

    let usage = KeyUsage {
        sign: true,
        decrypt: true,
        ..KeyUsage::default()
    };
    let (rsa, rsa_pub) = t
        .generate_key_pair(&KeyGenSpec {
            key_type: KeyType::Rsa { bits: 1024 },
            label: "rsa".into(),
            id: None,
            usage,
        })
        .unwrap();
    assert_eq!(rsa.id.len(), 20, "SHA-1 of the modulus");
    assert_eq!(rsa.id, rsa_pub.id);
    assert!(rsa.local);
    let (ec, ec_pub) = t
        .generate_key_pair(&KeyGenSpec {
            key_type: KeyType::EcP256,
            label: "ec".into(),
            id: Some(vec![2]),
            usage: KeyUsage {
                sign: true,
                ..KeyUsage::default()
            },
        })
        .unwrap();
    sign_and_verify(&mut t, &rsa, &rsa_pub);
    sign_and_verify(&mut t, &ec, &ec_pub);

    let c = t.create_object(&new_cert).unwrap();
    assert_eq!(t.read_value(c.reference).unwrap(), cert);
    let pubd = t
        .create_object(&NewObject::Data {
            label: "pub".into(),
            application: "app".into(),
            value: b"hello".to_vec(),
            private: false,
        })
        .unwrap();
    let privd = t
        .create_object(&NewObject::Data {
            label: "secret".into(),
            application: "app".into(),
            value: b"s3cret".to_vec(),
            private: true,
        })
        .unwrap();
    assert!(privd.private && !pubd.private);
    assert_eq!(pubd.application.as_deref(), Some("app"));
    assert_eq!(t.read_value(privd.reference).unwrap(), b"s3cret");

    // Import an RSA key (host-generated) and use it.
    let mut rng = rand::rngs::OsRng;
    let sk = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    let imported = t
        .import_rsa_key(&RsaKeyImport {
            n: sk.n().to_bytes_be(),
            e: sk.e().to_bytes_be(),
            d: sk.d().to_bytes_be(),
            label: "imported".into(),
            id: vec![9],
            usage,
        })
        .unwrap();
    assert!(!imported.local);
    let objs = t.objects().unwrap();
    let ipub = find(&objs, ObjectKind::PublicKey, &[9]).clone();
    sign_and_verify(&mut t, &imported, &ipub);

    // A second process sees the same objects; a new process is not logged in.
    let mut t2 = open(&card, None);
    let objs2 = t2.objects().unwrap();
    let labels = |o: &[pkcs15::backend::ObjectMeta]| {
        let mut v: Vec<_> = o
            .iter()
            .map(|m| (m.kind as u8, m.label.clone(), m.id.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(labels(&objs2), labels(&objs));
    let privd2 = objs2.iter().find(|o| o.label == "secret").unwrap();
    assert_eq!(
        t2.read_value(privd2.reference),
        Err(BackendError::NotLoggedIn)
    );
    drop(t2);
    // The second connection's handshake ended our SM session (one session per card): the next
    // command re-authenticates and the login is reported lost.
    assert_eq!(
        t.update_object(c.reference, Some("x"), None),
        Err(BackendError::NotLoggedIn)
    );
    assert!(t.take_login_lost());
    t.login(PinRole::User, PIN).unwrap();

    // Rename, re-ID, delete.
    let c2 = t
        .update_object(c.reference, Some("renamed"), Some(&[0xBB]))
        .unwrap();
    assert_eq!(
        (c2.label.as_str(), c2.id.as_slice()),
        ("renamed", &[0xBB][..])
    );
    assert_eq!(c2.reference, c.reference);
    t.delete_object(pubd.reference).unwrap();
    t.delete_object(ec.reference).unwrap();
    assert_eq!(
        t.read_value(pubd.reference),
        Err(BackendError::NoSuchObject)
    );
    let objs = t.objects().unwrap();
    assert!(objs
        .iter()
        .all(|o| o.label != "pub" && o.reference != ec.reference));
    // The freed index is reused.
    let (ec2, _) = t
        .generate_key_pair(&KeyGenSpec {
            key_type: KeyType::EcP256,
            label: "ec2".into(),
            id: None,
            usage: KeyUsage {
                sign: true,
                ..KeyUsage::default()
            },
        })
        .unwrap();
    assert_eq!(ec2.id.len(), 20);

    t.set_label("relabelled").unwrap();
    t.set_auth_timeout(30).unwrap();
    let mut t3 = open(&card, None);
    let d = t3.describe().unwrap();
    assert_eq!(
        (d.label.as_str(), d.auth_timeout_minutes),
        ("relabelled", 30)
    );

    // PIN change and unblock through the PUK.
    t.change_pin(PinRole::User, PIN, b"654321").unwrap();
    t.logout().unwrap();
    assert!(!t.take_login_lost(), "our own logout is not a lost login");
    assert!(matches!(
        t.login(PinRole::User, PIN),
        Err(BackendError::WrongPin { .. })
    ));
    t.login(PinRole::So, PUK).unwrap();
    t.init_user_pin(PIN).unwrap();
    t.logout().unwrap();
    t.login(PinRole::User, PIN).unwrap();
    assert_eq!(t.random(40).unwrap().len(), 40);
}

/// init_token without a user PIN: the PIN object is "not initialised" until the SO sets it.
#[test]
fn init_without_user_pin_then_init_pin() {
    let card = blank_card(8);
    let mut t = open(&card, None);
    t.init_token(&init_params("no pin", None)).unwrap();
    let st = t.pin_status(PinRole::User).unwrap();
    assert!(!st.initialized);
    assert!(matches!(
        t.login(PinRole::User, PUK),
        Err(BackendError::WrongPin { .. })
    ));
    t.login(PinRole::So, PUK).unwrap();
    t.init_user_pin(PIN).unwrap();
    assert!(t.pin_status(PinRole::User).unwrap().initialized);
    let mut t2 = open(&card, None);
    assert!(t2.pin_status(PinRole::User).unwrap().initialized);
    t2.login(PinRole::User, PIN).unwrap();
}

/// Only 8 key slots (the ×0x20 FID hook): the 9th key pair is NoMemory.
#[test]
fn ninth_key_is_no_memory() {
    let (_card, mut t) = initialised(9);
    let spec = KeyGenSpec {
        key_type: KeyType::EcP256,
        label: "k".into(),
        id: None,
        usage: KeyUsage {
            sign: true,
            ..KeyUsage::default()
        },
    };
    for i in 0..8 {
        t.generate_key_pair(&spec)
            .unwrap_or_else(|e| panic!("key {i}: {e:?}"));
    }
    assert_eq!(t.generate_key_pair(&spec), Err(BackendError::NoMemory));
}

/// (6) APDU counts: open + first signature (cold, with and without the directory cache) and a
/// further signature (warm).
#[test]
fn apdu_budget() {
    let card = opensc_card();
    let cache = scratch("budget");
    // An OpenSC card has no settings EF (so it is never cached): give it one through a write.
    {
        let mut t = open(&card, Some(cache.clone()));
        t.login(PinRole::User, PIN).unwrap();
        t.set_auth_timeout(5).unwrap();
    }
    let mut report = Vec::new();
    for (name, cache_dir) in [("no cache", None), ("cache", Some(cache.clone()))] {
        let before = apdus(&card);
        let mut t = open(&card, cache_dir);
        let objs = t.objects().unwrap();
        let key = find(&objs, ObjectKind::PrivateKey, &[2]).clone();
        let opened = apdus(&card);
        t.ecdsa_sign(key.reference, &[0x11; 32]).unwrap();
        let cold = apdus(&card) - before;
        let b = apdus(&card);
        t.ecdsa_sign(key.reference, &[0x22; 32]).unwrap();
        let warm = apdus(&card) - b;
        let rsa = find(&objs, ObjectKind::PrivateKey, &[1]).clone();
        let b = apdus(&card);
        t.rsa_raw(rsa.reference, &pkcs1_sha256_block(b"x", 256))
            .unwrap();
        let warm_rsa = apdus(&card) - b;
        report.push(format!(
            "{name}: open {} APDUs, open + first signature (cold) {cold}, warm ECDSA {warm}, warm RSA {warm_rsa}",
            opened - before
        ));
        assert_eq!(warm, 2, "warm signature = MSE + PSO");
        assert_eq!(warm_rsa, 2);
        if cache_dir_is_some(name) {
            assert!(t.cache_hit());
            assert!(cold <= 11, "cold with cache: {cold}");
        }
    }
    for r in &report {
        println!("APDU budget: {r}");
    }
    let _ = std::fs::remove_dir_all(cache);
}

fn cache_dir_is_some(name: &str) -> bool {
    name == "cache"
}

/// Two long-lived "processes" writing alternately: each write starts from the card's current
/// directory (TokenInfo + change counter checked first), so neither overwrites the other's entry.
#[test]
fn two_writers_do_not_clobber_each_other() {
    let (card, mut a) = initialised(12);
    let mut b = open(&card, None);
    a.objects().unwrap();
    b.objects().unwrap();
    let cert = |label: &str, id: u8| NewObject::Certificate {
        der: fake_cert(0x11, 200),
        label: label.into(),
        id: vec![id],
        authority: false,
    };
    b.login(PinRole::User, PIN).unwrap();
    b.create_object(&cert("from b", 1)).unwrap();
    // b's handshake ended a's session: a logs in again and writes.
    assert!(a.login(PinRole::User, PIN).is_ok());
    a.create_object(&cert("from a", 2)).unwrap();
    b.login(PinRole::User, PIN).unwrap();
    b.set_auth_timeout(3).unwrap();
    a.login(PinRole::User, PIN).unwrap();
    a.set_label("a's label").unwrap();
    let mut c = open(&card, None);
    let labels: Vec<_> = c.objects().unwrap().into_iter().map(|o| o.label).collect();
    assert!(labels.contains(&"from a".to_string()) && labels.contains(&"from b".to_string()));
    let d = c.describe().unwrap();
    assert_eq!((d.label.as_str(), d.auth_timeout_minutes), ("a's label", 3));
    assert!(b.refresh_if_changed().unwrap());
    assert_eq!(b.objects().unwrap().len(), 2);
    assert!(!b.refresh_if_changed().unwrap());
}
