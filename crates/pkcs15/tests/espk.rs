//! The Feitian-middleware (ENTERSAFE-ESPK) backend over the in-process emulator, with card
//! images built by `pkcs15::espk::fixture` from the documented layout (no captured data).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex, OnceLock};

use epass2003::transport::emulator::EmulatorTransport;
use epass2003::{ConnectOptions, Connection};
use epass2003_emu::{Card, CardOptions, Variant};
use pkcs15::backend::{
    BackendError, InitParams, KeyGenSpec, KeyType, KeyUsage, NewObject, ObjectKind, ObjectMeta,
    ObjectRef, PinPolicy, PinRole, RsaKeyImport, TokenBackend,
};
use pkcs15::espk::fixture::{self, Fixture, FixtureSpec, RawFile};
use pkcs15::espk::{EspkOptions, EspkToken, NO_SO, WRITE_PROTECTED};
use pkcs15::feitian::{cka, encode_attributes, Attribute};
use rsa::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};

type Shared = Arc<Mutex<Card>>;
type Token = EspkToken<EmulatorTransport>;

const PIN: &[u8] = b"12345678";

fn blank_card(seed: u64) -> Shared {
    Arc::new(Mutex::new(Card::new_blank(
        Variant::Aes,
        CardOptions {
            rng_seed: Some(seed),
            ..CardOptions::default()
        },
    )))
}

fn connect(card: &Shared) -> Connection<EmulatorTransport> {
    Connection::connect(
        EmulatorTransport::new(card.clone()),
        ConnectOptions::default(),
    )
    .unwrap()
}

fn build(spec: &FixtureSpec, seed: u64) -> (Shared, Fixture) {
    let card = blank_card(seed);
    let mut conn = connect(&card);
    let fx = fixture::build(&mut conn, spec).unwrap();
    (card, fx)
}

/// The standard image, built once (three on-card RSA-1024 key generations) and cloned per test.
fn standard() -> (Shared, Fixture) {
    static IMAGE: OnceLock<(Vec<u8>, Fixture)> = OnceLock::new();
    let (bytes, fx) = IMAGE.get_or_init(|| {
        let (card, fx) = build(&FixtureSpec::standard(), 7);
        let bytes = card.lock().unwrap().to_state_bytes();
        (bytes, fx)
    });
    (
        Arc::new(Mutex::new(Card::from_state_bytes(bytes).unwrap())),
        fx.clone(),
    )
}

fn open(card: &Shared) -> Token {
    EspkToken::open(
        connect(card),
        EspkOptions {
            emulated: true,
            ..EspkOptions::default()
        },
    )
    .unwrap()
}

fn find<'a>(objs: &'a [ObjectMeta], kind: ObjectKind, label: &str) -> Vec<&'a ObjectMeta> {
    objs.iter()
        .filter(|o| o.kind == kind && o.label == label)
        .collect()
}

fn one<'a>(objs: &'a [ObjectMeta], kind: ObjectKind, label: &str) -> &'a ObjectMeta {
    let v = find(objs, kind, label);
    assert_eq!(v.len(), 1, "{kind:?} {label}: {objs:#?}");
    v[0]
}

fn sign_and_verify(t: &mut Token, key: &ObjectMeta, spki: &[u8]) {
    let Some(KeyType::Rsa { bits }) = key.key_type else {
        panic!("not RSA: {key:?}")
    };
    let msg = b"signed on an emulated ESPK token";
    let block = fixture::pkcs1_sha256_block(msg, usize::from(bits / 8));
    let sig = t.rsa_raw(key.reference, &block).unwrap();
    rsa::RsaPublicKey::from_public_key_der(spki)
        .unwrap()
        .verify(
            rsa::Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(msg),
            &sig,
        )
        .unwrap();
}

/// detect(): true on the ESPK image, false on a blank card and on an OpenSC PKCS#15 card;
/// open() refuses a card that is not ESPK.
#[test]
fn detect_espk_blank_and_pkcs15() {
    let (card, _) = standard();
    let mut conn = connect(&card);
    assert!(Token::detect(&mut conn.transaction().unwrap()).unwrap());

    let blank = blank_card(1);
    let mut conn = connect(&blank);
    assert!(!Token::detect(&mut conn.transaction().unwrap()).unwrap());
    assert!(matches!(
        EspkToken::open(conn, EspkOptions::default()),
        Err(BackendError::NotSupported(_))
    ));

    let raw = include_bytes!("fixtures/opensc-onepin-aes.state");
    let body = epass2003_emu::store::decode(raw).unwrap();
    let p15 = Arc::new(Mutex::new(Card::from_state_bytes(body).unwrap()));
    let mut conn = connect(&p15);
    assert!(!Token::detect(&mut conn.transaction().unwrap()).unwrap());
}

/// describe(): label from tokeninfo, serial from cardid, write-protected with the message, the
/// documented default PIN policy.
#[test]
fn describe_token() {
    let (card, _) = standard();
    let mut t = open(&card);
    let d = t.describe().unwrap();
    assert_eq!(d.label, "Bat-Erdene Dorj");
    assert_eq!(d.serial, "101112131415161718191a1b1c1d1e1f");
    assert_eq!(d.model, "ePass2003 (emulated)");
    assert!(d.initialized);
    assert_eq!(d.write_protected.as_deref(), Some(WRITE_PROTECTED));
    assert_eq!(
        (d.user_pin_policy.min_len, d.user_pin_policy.max_len),
        (4, 255)
    );
}

/// objects(): every pairing rule of §A.5 on the standard image (see FixtureSpec::standard).
#[test]
fn objects_paired_by_the_documented_rules() {
    let (card, fx) = standard();
    let mut t = open(&card);
    let objs = t.objects().unwrap();
    assert_eq!(objs.len(), 3 + 3 + 2, "{objs:#?}");
    for (label, id) in [
        ("Signing key", 1u8),
        ("Current key", 2),
        ("Old container", 3),
    ] {
        let prv = one(&objs, ObjectKind::PrivateKey, label);
        let pubk = one(&objs, ObjectKind::PublicKey, label);
        assert_eq!(prv.id, [id], "{label}: private key ID");
        assert_eq!(pubk.id, [id], "{label}: public key ID");
        assert_eq!(prv.key_type, Some(KeyType::Rsa { bits: 1024 }), "{label}");
        assert_eq!(pubk.key_type, Some(KeyType::Rsa { bits: 1024 }), "{label}");
        assert!(prv.private && !pubk.private);
        assert!(!prv.modifiable && !pubk.modifiable);
        assert_eq!(
            prv.usage,
            KeyUsage {
                sign: true,
                decrypt: true,
                unwrap: true,
                ..KeyUsage::default()
            }
        );
        assert!(pubk.usage.verify && pubk.usage.encrypt);
    }
    // rule 2: the certificate without CKA_ID takes the ID of the key with its modulus
    assert_eq!(one(&objs, ObjectKind::Certificate, "Signing key").id, [1]);
    assert_eq!(one(&objs, ObjectKind::Certificate, "Current key").id, [2]);
    // references are distinct and stable
    let mut refs: Vec<ObjectRef> = objs.iter().map(|o| o.reference).collect();
    refs.dedup();
    assert_eq!(refs.len(), objs.len());
    assert_eq!(t.objects().unwrap(), objs);
    assert_eq!(fx.keys.len(), 3);
}

/// read_value(): certificate DER from CKA_VALUE, public keys as SPKI DER built from
/// modulus/exponent; private keys never.
#[test]
fn read_values() {
    let (card, fx) = standard();
    let mut t = open(&card);
    let objs = t.objects().unwrap();
    for (label, k) in ["Signing key", "Current key", "Old container"]
        .iter()
        .zip(&fx.keys)
    {
        let pubk = one(&objs, ObjectKind::PublicKey, label);
        assert_eq!(t.read_value(pubk.reference).unwrap(), k.spki, "{label}");
        if let Some(der) = &k.cert_der {
            let c = one(&objs, ObjectKind::Certificate, label);
            assert_eq!(&t.read_value(c.reference).unwrap(), der, "{label}");
        }
        let prv = one(&objs, ObjectKind::PrivateKey, label);
        assert!(matches!(
            t.read_value(prv.reference),
            Err(BackendError::NotSupported(_))
        ));
    }
    assert_eq!(
        t.read_value(ObjectRef(999)),
        Err(BackendError::NoSuchObject)
    );
}

/// The user PIN (kid 1 in DF 2003): tries query, wrong PIN → WrongPin with tries left, right PIN
/// → ok and counter reset. No SO.
#[test]
fn login_user_pin() {
    let (card, _) = standard();
    let mut t = open(&card);
    let st = t.pin_status(PinRole::User).unwrap();
    assert_eq!(
        (st.tries_left, st.max_tries, st.initialized),
        (Some(10), 10, true)
    );
    assert_eq!(
        t.login(PinRole::User, b"00000000"),
        Err(BackendError::WrongPin { tries_left: 9 })
    );
    assert_eq!(t.pin_status(PinRole::User).unwrap().tries_left, Some(9));
    t.login(PinRole::User, PIN).unwrap();
    assert_eq!(t.pin_status(PinRole::User).unwrap().tries_left, Some(10));
    assert!(!t.take_login_lost());
    assert!(matches!(
        t.login(PinRole::So, PIN),
        Err(BackendError::NotSupported(_))
    ));
    assert!(!t.pin_status(PinRole::So).unwrap().initialized);
}

/// rsa_raw(): refused before login; after login every key signs (including the one whose prvk
/// object lacks modulus and handle, found through its pubk and the containermap) and the
/// signature verifies with the public key from read_value and with the certificate's key;
/// after logout it is refused again. EC: not supported.
#[test]
fn sign_after_login_and_verify() {
    let (card, fx) = standard();
    let mut t = open(&card);
    let objs = t.objects().unwrap();
    let k1 = one(&objs, ObjectKind::PrivateKey, "Signing key").clone();
    let block = fixture::pkcs1_sha256_block(b"x", 128);
    assert_eq!(
        t.rsa_raw(k1.reference, &block),
        Err(BackendError::NotLoggedIn)
    );
    t.login(PinRole::User, PIN).unwrap();
    for (label, k) in ["Signing key", "Current key", "Old container"]
        .iter()
        .zip(&fx.keys)
    {
        let prv = one(&objs, ObjectKind::PrivateKey, label).clone();
        let pubk = one(&objs, ObjectKind::PublicKey, label);
        let spki = t.read_value(pubk.reference).unwrap();
        sign_and_verify(&mut t, &prv, &spki);
        sign_and_verify(&mut t, &prv, &k.spki);
    }
    assert!(matches!(
        t.rsa_raw(k1.reference, &[1, 2, 3]),
        Err(BackendError::InvalidInput(_))
    ));
    let cert = one(&objs, ObjectKind::Certificate, "Signing key");
    assert!(matches!(
        t.rsa_raw(cert.reference, &block),
        Err(BackendError::InvalidInput(_))
    ));
    assert!(matches!(
        t.ecdsa_sign(k1.reference, &[0; 32]),
        Err(BackendError::NotSupported(_))
    ));
    t.logout().unwrap();
    assert!(!t.take_login_lost(), "our own logout is not a lost login");
    assert_eq!(
        t.rsa_raw(k1.reference, &block),
        Err(BackendError::NotLoggedIn)
    );
}

/// Every object write returns WriteProtected with the message, every SO operation NotSupported
/// with its message; nothing on the card changes.
#[test]
fn every_write_is_write_protected() {
    let (card, _) = standard();
    let before = card.lock().unwrap().to_state_bytes();
    let mut t = open(&card);
    t.login(PinRole::User, PIN).unwrap();
    let r = t.objects().unwrap()[0].reference;
    let wp = BackendError::WriteProtected(WRITE_PROTECTED.into());
    let params = InitParams {
        label: "x",
        so_pin: b"12345678",
        user_pin: Some(b"1234"),
        user_max_tries: 5,
        so_max_tries: 5,
        user_pin_policy: PinPolicy::default(),
        so_pin_policy: PinPolicy::default(),
        auth_timeout_minutes: 0,
    };
    let gen = KeyGenSpec {
        key_type: KeyType::Rsa { bits: 1024 },
        label: "k".into(),
        id: None,
        usage: KeyUsage::default(),
    };
    let import = RsaKeyImport {
        n: vec![1],
        e: vec![3],
        d: vec![1],
        label: "k".into(),
        id: vec![9],
        usage: KeyUsage::default(),
    };
    let cert = NewObject::Certificate {
        der: vec![0x30, 0],
        label: "c".into(),
        id: vec![9],
        authority: false,
    };
    let no_so = BackendError::NotSupported(NO_SO.into());
    assert_eq!(
        t.change_pin(PinRole::So, PIN, b"87654321"),
        Err(no_so.clone())
    );
    assert_eq!(t.init_user_pin(b"87654321"), Err(no_so.clone()));
    assert_eq!(t.init_token(&params), Err(wp.clone()));
    assert_eq!(t.set_label("new"), Err(wp.clone()));
    assert_eq!(t.set_auth_timeout(5), Err(wp.clone()));
    assert_eq!(t.generate_key_pair(&gen), Err(wp.clone()));
    assert_eq!(t.import_rsa_key(&import), Err(wp.clone()));
    assert_eq!(t.create_object(&cert), Err(wp.clone()));
    assert_eq!(t.delete_object(r), Err(wp.clone()));
    assert_eq!(t.update_object(r, Some("l"), None), Err(wp.clone()));
    for m in [&wp, &no_so] {
        let m = m.to_string();
        assert!(m.contains("personalised by Feitian's middleware"), "{m}");
        assert!(m.contains("vendor's tool"), "{m}");
        assert!(m.contains("`epass2003-tool init` (erases it)"), "{m}");
    }
    drop(t);
    // Only volatile state (and the PIN counter, unchanged here) could differ.
    assert_eq!(card.lock().unwrap().to_state_bytes(), before);
}

fn cert_stream(label: &str, id: Option<&[u8]>, der: &[u8]) -> Vec<u8> {
    let mut a = vec![
        Attribute {
            ty: cka::CLASS,
            value: 1u32.to_le_bytes().to_vec(),
        },
        Attribute {
            ty: cka::LABEL,
            value: label.as_bytes().to_vec(),
        },
    ];
    if let Some(id) = id {
        a.push(Attribute {
            ty: cka::ID,
            value: id.to_vec(),
        });
    }
    a.push(Attribute {
        ty: cka::VALUE,
        value: der.to_vec(),
    });
    encode_attributes(&a).unwrap()
}

/// Damaged object files: a truncated triple keeps the complete attributes (label) and the
/// missing value is a Corrupt error naming the file; a prvk with no handle anywhere is listed
/// and rsa_raw names it; a garbage file does not panic; objects without any ID get synthetic
/// F0 nn IDs; a token without cardid takes the chip serial.
#[test]
fn damaged_files_do_not_panic() {
    let der = vec![0x30, 0x03, 0x02, 0x01, 0x05]; // not a certificate: no modulus, so no pairing
    let mut truncated = cert_stream("Cut", Some(&[0x44]), &der);
    truncated.truncate(truncated.len() - 2);
    let prvk_alone = encode_attributes(&[Attribute {
        ty: cka::LABEL,
        value: b"Lonely".to_vec(),
    }])
    .unwrap();
    let spec = FixtureSpec {
        label: "".into(),
        cardid: None,
        pin: PIN.to_vec(),
        pin_max_tries: 3,
        keys: Vec::new(),
        extra_files: vec![
            RawFile {
                directory: "mscp".into(),
                name: "cert0009".into(),
                data: truncated,
            },
            RawFile {
                directory: "mscp".into(),
                name: "cert0010".into(),
                data: cert_stream("Orphan", None, &der),
            },
            RawFile {
                directory: "mscp".into(),
                name: "prvk0007".into(),
                data: prvk_alone,
            },
            RawFile {
                directory: "mscp".into(),
                name: "pubk0006".into(),
                data: vec![0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F, 1, 2],
            },
            RawFile {
                directory: "mscp".into(),
                name: "notes".into(),
                data: vec![0xAA; 5],
            },
        ],
    };
    let (card, _) = build(&spec, 3);
    let mut t = open(&card);
    let d = t.describe().unwrap();
    assert_eq!(d.label, "ePass2003", "empty tokeninfo label → default");
    let chip = hex::encode(card.lock().unwrap().serial());
    assert_eq!(d.serial, chip, "no cardid → GET DATA serial");

    let objs = t.objects().unwrap();
    assert_eq!(objs.len(), 4, "{objs:#?}");
    let cut = one(&objs, ObjectKind::Certificate, "Cut");
    assert_eq!(cut.id, [0x44], "complete triples before the cut are kept");
    match t.read_value(cut.reference) {
        Err(BackendError::Corrupt(m)) => assert!(m.contains("cert0009"), "{m}"),
        other => panic!("{other:?}"),
    }
    let orphan = one(&objs, ObjectKind::Certificate, "Orphan");
    assert_eq!(t.read_value(orphan.reference).unwrap(), der);
    let lonely = one(&objs, ObjectKind::PrivateKey, "Lonely");
    let garbage = one(&objs, ObjectKind::PublicKey, "");
    let mut synthetic = vec![orphan.id.clone(), lonely.id.clone(), garbage.id.clone()];
    synthetic.sort();
    assert_eq!(synthetic, [vec![0xF0, 1], vec![0xF0, 2], vec![0xF0, 3]]);
    match t.read_value(garbage.reference) {
        Err(BackendError::Corrupt(m)) => assert!(m.contains("pubk0006"), "{m}"),
        other => panic!("{other:?}"),
    }
    t.login(PinRole::User, PIN).unwrap();
    match t.rsa_raw(lonely.reference, &[0; 128]) {
        Err(BackendError::Corrupt(m)) => assert!(m.contains("prvk0007"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// Rule 1 needs the containermap for the handle: a prvk without modulus and handle whose pair is
/// not in the containermap is still listed (modulus and ID from its pubk by modulus), but
/// rsa_raw names the file instead of guessing a handle.
#[test]
fn current_generation_key_without_containermap_entry() {
    let mut k = fixture::KeySpec::complete(2, 2, "Unmapped", &[0x02]);
    k.prvk_id = false;
    k.prvk_modulus_and_handle = false;
    k.in_containermap = false;
    k.cert = None;
    let spec = FixtureSpec {
        keys: vec![k],
        ..FixtureSpec::standard()
    };
    let (card, _) = build(&spec, 11);
    let mut t = open(&card);
    let objs = t.objects().unwrap();
    let prv = one(&objs, ObjectKind::PrivateKey, "Unmapped").clone();
    assert_eq!(prv.id, [0x02]);
    assert_eq!(prv.key_type, Some(KeyType::Rsa { bits: 1024 }));
    t.login(PinRole::User, PIN).unwrap();
    match t.rsa_raw(prv.reference, &fixture::pkcs1_sha256_block(b"m", 128)) {
        Err(BackendError::Corrupt(m)) => assert!(m.contains("prvk0002"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// random(): GET CHALLENGE in 16-byte pieces.
#[test]
fn random_bytes() {
    let (card, _) = standard();
    let mut t = open(&card);
    let r = t.random(40).unwrap();
    assert_eq!(r.len(), 40);
    assert_ne!(r, vec![0; 40]);
    assert!(t.random(0).unwrap().is_empty());
}

/// Re-initialising: the token layer takes the connection back and lets the PKCS#15 backend
/// erase the card and create PKCS#15; afterwards the card is no longer ESPK.
#[test]
fn reinitialise_through_the_pkcs15_backend() {
    let (card, _) = standard();
    let t = open(&card);
    let conn = t.into_connection();
    let mut p15 = pkcs15::card::Epass2003Token::open(
        conn,
        pkcs15::card::OpenOptions {
            emulated: true,
            cache_dir: None,
        },
    )
    .unwrap();
    p15.init_token(&InitParams {
        label: "re-initialised",
        so_pin: b"87654321",
        user_pin: Some(b"123456"),
        user_max_tries: 5,
        so_max_tries: 5,
        user_pin_policy: PinPolicy::default(),
        so_pin_policy: PinPolicy::default(),
        auth_timeout_minutes: 0,
    })
    .unwrap();
    assert_eq!(p15.describe().unwrap().label, "re-initialised");
    assert!(p15.objects().unwrap().is_empty());
    let mut conn = connect(&card);
    assert!(!Token::detect(&mut conn.transaction().unwrap()).unwrap());
}

/// The user PIN changes (verify old, UPDATE SECRET KEY with the card's own maximum): a wrong old
/// PIN costs a try and changes nothing; a new PIN shorter than Feitian's 8 is refused before any
/// APDU; afterwards the old PIN fails, the new one logs in and signs, the maximum stays 10, and
/// the token still reads with the layout's rules (same objects, same values).
#[test]
fn change_user_pin() {
    let (card, fx) = standard();
    let mut t = open(&card);
    let before = t.objects().unwrap();
    assert_eq!(
        t.change_pin(PinRole::User, b"00000000", b"87654321"),
        Err(BackendError::WrongPin { tries_left: 9 })
    );
    let apdus = card.lock().unwrap().counters().apdus;
    assert!(matches!(
        t.change_pin(PinRole::User, PIN, b"1234567"),
        Err(BackendError::PinLenRange(_))
    ));
    assert_eq!(card.lock().unwrap().counters().apdus, apdus, "no APDU");
    t.change_pin(PinRole::User, PIN, b"87654321").unwrap();
    let st = t.pin_status(PinRole::User).unwrap();
    assert_eq!((st.tries_left, st.max_tries), (Some(10), 10));
    drop(t);

    // The card keeps the same maximum (10 of 10 in its key record).
    let keys = card.lock().unwrap().secret_keys();
    let k = keys.iter().find(|k| k.kid == 1 && k.key_type == 4).unwrap();
    assert_eq!((k.max_tries, k.remaining), (10, 10));

    let mut t = open(&card);
    assert_eq!(t.objects().unwrap(), before);
    assert_eq!(
        t.login(PinRole::User, PIN),
        Err(BackendError::WrongPin { tries_left: 9 })
    );
    t.login(PinRole::User, b"87654321").unwrap();
    let prv = one(&before, ObjectKind::PrivateKey, "Signing key").clone();
    sign_and_verify(&mut t, &prv, &fx.keys[0].spki);
    assert_eq!(t.pin_status(PinRole::User).unwrap().tries_left, Some(10));
}

/// The maximum written back is the card's, not the assumed 10: a layout whose PIN key has
/// 5 tries keeps 5 after a change.
#[test]
fn change_user_pin_keeps_the_cards_maximum() {
    let mut spec = FixtureSpec::standard();
    spec.keys.clear();
    spec.pin_max_tries = 5;
    let (card, _) = build(&spec, 21);
    let mut t = open(&card);
    assert_eq!(
        t.pin_status(PinRole::User).unwrap().max_tries,
        10,
        "assumed"
    );
    t.change_pin(PinRole::User, PIN, b"abcdefgh").unwrap();
    let st = t.pin_status(PinRole::User).unwrap();
    assert_eq!(
        (st.tries_left, st.max_tries),
        (Some(5), 5),
        "read from the card"
    );
    let keys = card.lock().unwrap().secret_keys();
    let k = keys.iter().find(|k| k.kid == 1 && k.key_type == 4).unwrap();
    assert_eq!((k.max_tries, k.remaining), (5, 5));
}

/// build_with_issuer(): the issuer gets the SPKI of the key generated on the card and its
/// certificate is the one stored (and read back); where it answers None the fixture's own
/// self-signed certificate is stored.
#[test]
fn certificates_from_an_issuer() {
    let mut spec = FixtureSpec::standard();
    spec.keys.truncate(2);
    let card = blank_card(21);
    let mut conn = connect(&card);
    let mut seen = Vec::new();
    let fx = fixture::build_with_issuer(&mut conn, &spec, &mut |k, spki| {
        seen.push((k.label.clone(), spki.to_vec()));
        // A stand-in DER blob tagged with the SPKI's hash: stored as given, never parsed.
        Ok((k.number == 1).then(|| {
            let mut der = vec![0x30, 0x22, 0x04, 0x20];
            der.extend_from_slice(&Sha256::digest(spki));
            der
        }))
    })
    .unwrap();
    drop(conn);
    assert_eq!(seen.len(), 2, "asked once per key with a certificate");
    assert_eq!(
        seen[0],
        ("Signing key".to_string(), fx.keys[0].spki.clone())
    );
    assert_eq!(seen[1].1, fx.keys[1].spki);
    let issued = fx.keys[0].cert_der.clone().unwrap();
    assert_eq!(&issued[4..], Sha256::digest(&fx.keys[0].spki).as_slice());
    let own = fx.keys[1].cert_der.clone().unwrap();
    assert_ne!(own[..4], issued[..4], "the self-signed fallback");

    let mut t = open(&card);
    let objs = t.objects().unwrap();
    let c = one(&objs, ObjectKind::Certificate, "Signing key");
    assert_eq!(t.read_value(c.reference).unwrap(), issued);
    let c = one(&objs, ObjectKind::Certificate, "Current key");
    assert_eq!(t.read_value(c.reference).unwrap(), own);
}
