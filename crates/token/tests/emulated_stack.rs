//! The token layer on the real stack (token layer → PKCS#15 backend → driver → in-process
//! emulated ePass2003): the APDUs a fresh process spends from `C_Initialize` to its first
//! signature (in the order `pkcs11-tool --login --sign` makes its calls), PIN flags asked once
//! per open and then learnt from PIN results, and objects written by another token instance becoming visible.
#![allow(clippy::unwrap_used)]

use cryptoki_sys::*;
use epass2003::transport::emulator::EmulatorTransport;
use epass2003::{ConnectOptions, Connection};
use epass2003_emu::{Card, CardOptions, Variant};
use pkcs15::card::{Epass2003Token, OpenOptions};
use std::sync::{Arc, Mutex};
use token::attr::Template;
use token::config::Config;
use token::mechanism::Mechanism;
use token::module::Module;
use token::readers::{EmulatorReader, Reader};
use token_backend::{InitParams, KeyGenSpec, KeyType, KeyUsage, PinPolicy, PinRole, TokenBackend};

fn apdus(card: &Arc<Mutex<Card>>) -> u64 {
    card.lock().unwrap().counters().apdus
}

/// A personalised card: user PIN 123456, one RSA-2048 signing key.
fn personalised() -> Arc<Mutex<Card>> {
    let card = Arc::new(Mutex::new(Card::new_blank(
        Variant::Aes,
        CardOptions::default(),
    )));
    let conn = Connection::connect(
        EmulatorTransport::new(card.clone()),
        ConnectOptions::default(),
    )
    .unwrap();
    let mut t = Epass2003Token::open(
        conn,
        OpenOptions {
            emulated: true,
            cache_dir: None,
        },
    )
    .unwrap();
    t.init_token(&InitParams {
        label: "budget",
        so_pin: b"12345678",
        user_pin: Some(b"123456"),
        user_max_tries: 6,
        so_max_tries: 6,
        user_pin_policy: PinPolicy::default(),
        so_pin_policy: PinPolicy::default(),
        auth_timeout_minutes: 0,
    })
    .unwrap();
    t.login(PinRole::User, b"123456").unwrap();
    t.generate_key_pair(&KeyGenSpec {
        key_type: KeyType::Rsa { bits: 2048 },
        label: "rsa".into(),
        id: None,
        usage: KeyUsage {
            sign: true,
            ..KeyUsage::default()
        },
    })
    .unwrap();
    card
}

fn module(card: &Arc<Mutex<Card>>) -> Module {
    let readers: Vec<Box<dyn Reader>> =
        vec![Box::new(EmulatorReader::in_memory("budget", card.clone()))];
    Module::with_readers(Config::default(), readers)
}

/// Open + login + sign, as `pkcs11-tool --login --sign` does it; returns the APDUs spent.
fn open_login_sign(card: &Arc<Mutex<Card>>, pin: &[u8]) -> (u64, token::Result<Vec<u8>>) {
    let start = apdus(card);
    let m = module(card);
    let slots = m.slot_list(true).unwrap();
    let slot = slots[0];
    m.slot_info(slot).unwrap();
    m.token_info(slot).unwrap();
    let h = m.open_session(slot, CKF_SERIAL_SESSION).unwrap();
    m.token_info(slot).unwrap();
    let r = (|| {
        m.with_session(h, |t, _| t.login(CKU_USER, pin))?;
        let class = Template(vec![(
            CKA_CLASS,
            (CKO_PRIVATE_KEY as CK_ULONG).to_ne_bytes().to_vec(),
        )]);
        let keys = m.with_session(h, |t, hs| t.find(hs, &class))?;
        let key = keys[0];
        m.with_session(h, |t, hs| {
            t.get_attributes(hs, key, &[CKA_KEY_TYPE, CKA_ID, CKA_LABEL])
        })?;
        let mech = Mechanism {
            mechanism: CKM_SHA256_RSA_PKCS,
            params: token::mechanism::MechParams::None,
        };
        m.with_session(h, |t, hs| t.sign_init(hs, h, &mech, key))?;
        m.with_session(h, |t, _| t.sign(h, b"data to sign"))
    })();
    (apdus(card) - start, r)
}

#[test]
fn first_signature_apdu_budget() {
    let card = personalised();
    let (n, sig) = open_login_sign(&card, b"123456");
    assert_eq!(sig.unwrap().len(), 256);
    println!("APDUs from C_Initialize to the first signature: {n}");
    // The card's directory is read in full at open (the emulated slot has no on-disk
    // directory cache): 24 APDUs; login 2, sign 2. Measured 28 while the tries were never
    // asked before a PIN was presented; 32 since the first C_GetTokenInfo asks the tries of
    // both PINs once per open (GET CHALLENGE + tries query each, no try spent), so that a fresh
    // process shows CKF_*_PIN_LOCKED/FINAL_TRY/COUNT_LOW (tests/pin_counters.rs). Later
    // counters come from the PIN results only: the second C_GetTokenInfo above costs nothing.
    assert!(n <= 32, "open + login + sign cost {n} APDUs");
}

/// The deferred tries query does not make CK_TOKEN_INFO untruthful once a PIN was presented.
#[test]
fn pin_flags_follow_a_failed_login_in_a_fresh_process() {
    let card = personalised();
    let (_, r) = open_login_sign(&card, b"000000");
    assert_eq!(r, Err(token::Error::PinIncorrect));
    let m = module(&card);
    let h = m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    assert_eq!(
        m.with_session(h, |t, _| t.login(CKU_USER, b"000001")),
        Err(token::Error::PinIncorrect)
    );
    let flags = m.token_info(0).unwrap().flags;
    assert_ne!(flags & CKF_USER_PIN_COUNT_LOW, 0);
    assert_eq!(flags & CKF_USER_PIN_LOCKED, 0);
    m.with_session(h, |t, _| t.login(CKU_USER, b"123456"))
        .unwrap();
    assert_eq!(m.token_info(0).unwrap().flags & CKF_USER_PIN_COUNT_LOW, 0);
}

fn ul(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

fn find_data(m: &Module, h: CK_SESSION_HANDLE) -> Vec<CK_OBJECT_HANDLE> {
    let t = Template(vec![(CKA_CLASS, ul(CKO_DATA))]);
    m.with_session(h, |tok, hs| tok.find(hs, &t)).unwrap()
}

/// A data object created through one token instance (another process, in effect: its own
/// connection and object cache) shows in the other at its next C_FindObjectsInit; objects that
/// did not change keep their handles.
#[test]
fn objects_created_elsewhere_show_at_find_objects_init() {
    let card = personalised();
    let a = module(&card);
    let b = module(&card);
    let ha = a
        .open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    let hb = b.open_session(0, CKF_SERIAL_SESSION).unwrap();
    assert!(find_data(&b, hb).is_empty());
    let all = Template(vec![]);
    let before = b.with_session(hb, |t, hs| t.find(hs, &all)).unwrap();
    assert!(!before.is_empty());

    a.with_session(ha, |t, _| t.login(CKU_USER, b"123456"))
        .unwrap();
    let new = Template(vec![
        (CKA_CLASS, ul(CKO_DATA)),
        (CKA_TOKEN, vec![1]),
        (CKA_LABEL, b"from a".to_vec()),
        (CKA_APPLICATION, b"test".to_vec()),
        (CKA_VALUE, b"hello".to_vec()),
    ]);
    a.with_session(ha, |t, hs| t.create_object(hs, ha, &new))
        .unwrap();

    let found = find_data(&b, hb);
    assert_eq!(found.len(), 1, "B does not see A's data object");
    let v = b
        .with_session(hb, |t, hs| t.get_attributes(hs, found[0], &[CKA_VALUE]))
        .unwrap();
    assert_eq!(v, vec![token::attr::AttrValue::Value(b"hello".to_vec())]);
    let after = b.with_session(hb, |t, hs| t.find(hs, &all)).unwrap();
    for h in &before {
        assert!(
            after.contains(h),
            "handle {h} of an unchanged object changed"
        );
    }
    assert_eq!(after.len(), before.len() + 1);
}

/// NSS's pk12util: import an RSA private key (we write its public half too), then create the
/// public key itself. The second public key is the first one, not a duplicate.
#[test]
fn public_key_created_after_import_is_not_duplicated() {
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    let card = personalised();
    let m = module(&card);
    let h = m
        .open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    m.with_session(h, |t, _| t.login(CKU_USER, b"123456"))
        .unwrap();
    let host = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    let (n, e) = (host.n().to_bytes_be(), host.e().to_bytes_be());
    let private = Template(vec![
        (CKA_CLASS, ul(CKO_PRIVATE_KEY)),
        (CKA_KEY_TYPE, ul(CKK_RSA)),
        (CKA_TOKEN, vec![1]),
        (CKA_PRIVATE, vec![1]),
        (CKA_LABEL, b"p12".to_vec()),
        (CKA_ID, vec![0x12]),
        (CKA_MODULUS, n.clone()),
        (CKA_PUBLIC_EXPONENT, e.clone()),
        (CKA_PRIVATE_EXPONENT, host.d().to_bytes_be()),
    ]);
    m.with_session(h, |t, hs| t.create_object(hs, h, &private))
        .unwrap();
    let pubs_with = |id: u8| {
        let t = Template(vec![(CKA_CLASS, ul(CKO_PUBLIC_KEY)), (CKA_ID, vec![id])]);
        m.with_session(h, |tok, hs| tok.find(hs, &t)).unwrap()
    };
    let existing = pubs_with(0x12);
    assert_eq!(existing.len(), 1);

    let public = |id: u8| {
        Template(vec![
            (CKA_CLASS, ul(CKO_PUBLIC_KEY)),
            (CKA_KEY_TYPE, ul(CKK_RSA)),
            (CKA_TOKEN, vec![1]),
            (CKA_LABEL, b"p12".to_vec()),
            (CKA_ID, vec![id]),
            (CKA_MODULUS, n.clone()),
            (CKA_PUBLIC_EXPONENT, e.clone()),
        ])
    };
    let start = apdus(&card);
    let again = m
        .with_session(h, |t, hs| t.create_object(hs, h, &public(0x12)))
        .unwrap();
    assert_eq!(again, existing[0], "the existing public key's handle");
    assert_eq!(pubs_with(0x12), existing, "a duplicate was written");
    println!(
        "duplicate public key: {} APDUs, nothing written",
        apdus(&card) - start
    );

    // Another identifier is another object.
    let other = m
        .with_session(h, |t, hs| t.create_object(hs, h, &public(0x13)))
        .unwrap();
    assert_ne!(other, existing[0]);
    assert_eq!(pubs_with(0x13), vec![other]);
}

/// The management tool's path: `Token::import_private_key` with a typed EC P-256 key and a
/// usage; the usage is reported, re-read by a fresh module, and enforced.
#[test]
fn typed_ec_import_usage_is_recorded_and_enforced() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use token::token::{KeyImport, PrivateKeyMaterial};
    let card = personalised();
    let sk = p256::SecretKey::random(&mut rand::thread_rng());
    let point = sk.public_key().to_encoded_point(false).as_bytes().to_vec();
    let import = |usage: KeyUsage, id: u8, point: Vec<u8>| KeyImport {
        material: PrivateKeyMaterial::EcP256 {
            d: zeroize::Zeroizing::new(sk.to_bytes().into()),
            point,
        },
        label: format!("ec {id}"),
        id: vec![id],
        usage,
    };
    let derive_only = KeyUsage {
        derive: true,
        ..KeyUsage::default()
    };
    let sign_only = KeyUsage {
        sign: true,
        ..KeyUsage::default()
    };
    let (k_derive, k_sign) = {
        let m = module(&card);
        let slot = m.slot_list(true).unwrap()[0];
        let ro = m.open_session(slot, CKF_SERIAL_SESSION).unwrap();
        let h = m
            .open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
            .unwrap();
        // not logged in
        let r = m.with_session(h, |t, hs| {
            t.import_private_key(hs, h, &import(sign_only, 1, point.clone()))
        });
        assert_eq!(r.unwrap_err(), token::Error::UserNotLoggedIn);
        m.with_session(h, |t, _| t.login(CKU_USER, b"123456"))
            .unwrap();
        // read-only session
        let r = m.with_session(ro, |t, hs| {
            t.import_private_key(hs, ro, &import(sign_only, 1, point.clone()))
        });
        assert_eq!(r.unwrap_err(), token::Error::SessionReadOnly);
        // a point that is not d·G, and decrypt on an EC key
        let mut wrong = point.clone();
        wrong[64] ^= 1;
        let r = m.with_session(h, |t, hs| {
            t.import_private_key(hs, h, &import(sign_only, 1, wrong))
        });
        assert_eq!(r.unwrap_err(), token::Error::TemplateInconsistent);
        let mut dec = sign_only;
        dec.decrypt = true;
        let r = m.with_session(h, |t, hs| {
            t.import_private_key(hs, h, &import(dec, 1, point.clone()))
        });
        assert_eq!(r.unwrap_err(), token::Error::TemplateInconsistent);
        let kd = m
            .with_session(h, |t, hs| {
                t.import_private_key(hs, h, &import(derive_only, 1, point.clone()))
            })
            .unwrap();
        let ks = m
            .with_session(h, |t, hs| {
                t.import_private_key(hs, h, &import(sign_only, 2, point.clone()))
            })
            .unwrap();
        (kd, ks)
    };
    let _ = (k_derive, k_sign);
    // A fresh module re-reads the usage from the card.
    let m = module(&card);
    let slot = m.slot_list(true).unwrap()[0];
    let h = m.open_session(slot, CKF_SERIAL_SESSION).unwrap();
    m.with_session(h, |t, _| t.login(CKU_USER, b"123456"))
        .unwrap();
    let find = |id: u8| {
        let tpl = Template(vec![
            (
                CKA_CLASS,
                (CKO_PRIVATE_KEY as CK_ULONG).to_ne_bytes().to_vec(),
            ),
            (CKA_ID, vec![id]),
        ]);
        let keys = m.with_session(h, |t, hs| t.find(hs, &tpl)).unwrap();
        assert_eq!(keys.len(), 1, "one key with id {id}");
        keys[0]
    };
    let attrs = |k| {
        m.with_session(h, |t, hs| {
            t.get_attributes(hs, k, &[CKA_SIGN, CKA_DECRYPT, CKA_UNWRAP, CKA_DERIVE])
        })
        .unwrap()
    };
    use token::attr::AttrValue::Value;
    let (t, f) = (vec![CK_TRUE], vec![CK_FALSE]);
    let kd = find(1);
    assert_eq!(
        attrs(kd),
        vec![
            Value(f.clone()),
            Value(f.clone()),
            Value(f.clone()),
            Value(t.clone())
        ]
    );
    let ks = find(2);
    assert_eq!(
        attrs(ks),
        vec![
            Value(t.clone()),
            Value(f.clone()),
            Value(f.clone()),
            Value(f.clone())
        ]
    );
    let ecdsa = Mechanism {
        mechanism: CKM_ECDSA,
        params: token::mechanism::MechParams::None,
    };
    let r = m.with_session(h, |t, hs| t.sign_init(hs, h, &ecdsa, kd));
    assert_eq!(r.unwrap_err(), token::Error::KeyFunctionNotPermitted);
    m.with_session(h, |t, hs| t.sign_init(hs, h, &ecdsa, ks))
        .unwrap();
    let hash = [0x5A; 32];
    let sig = m.with_session(h, |t, _| t.sign(h, &hash)).unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    vk.verify_prehash(&hash, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
        .unwrap();
}

/// CKM_RSA_X_509 input that is not below the modulus is bad data (CKR_DATA_INVALID), not a
/// device error; a ciphertext not below the modulus is CKR_ENCRYPTED_DATA_INVALID.
#[test]
fn raw_rsa_input_not_below_the_modulus_is_bad_data() {
    let card = personalised();
    let m = module(&card);
    let h = m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    m.with_session(h, |t, _| t.login(CKU_USER, b"123456"))
        .unwrap();
    let class = Template(vec![(
        CKA_CLASS,
        (CKO_PRIVATE_KEY as CK_ULONG).to_ne_bytes().to_vec(),
    )]);
    let key = m.with_session(h, |t, hs| t.find(hs, &class)).unwrap()[0];
    let mech = Mechanism {
        mechanism: CKM_RSA_X_509,
        params: token::mechanism::MechParams::None,
    };
    m.with_session(h, |t, hs| t.sign_init(hs, h, &mech, key))
        .unwrap();
    let r = m.with_session(h, |t, _| t.sign(h, &[0xFF; 256]));
    assert_eq!(r, Err(token::Error::DataInvalid));
    // The session still works: a small input signs.
    m.with_session(h, |t, hs| t.sign_init(hs, h, &mech, key))
        .unwrap();
    let sig = m.with_session(h, |t, _| t.sign(h, &[0x01; 32])).unwrap();
    assert_eq!(sig.len(), 256);
}

/// A certificate object's derived attributes (PKCS#11 3.0 §4.6.3) are answered from its
/// value, against OpenSSL's figures for the fixture chain: CKA_CHECK_VALUE (SHA-1 of the DER,
/// 3 bytes), CKA_HASH_OF_SUBJECT_PUBLIC_KEY (= the subject key identifier OpenSSL wrote),
/// CKA_START_DATE / CKA_END_DATE, and CKA_HASH_OF_ISSUER_PUBLIC_KEY once the issuer is on the
/// token (= the authority key identifier). A template that gives one with another value is
/// refused, never accepted and dropped.
#[test]
fn certificate_derived_attributes() {
    use der::{DecodePem, Encode};
    use token::attr::AttrValue::Value;
    let der = |pem: &str| {
        x509_cert::Certificate::from_pem(pem)
            .unwrap()
            .to_der()
            .unwrap()
    };
    let leaf = der(include_str!("../../pki-files/tests/fixtures/leaf.pem"));
    let int = der(include_str!("../../pki-files/tests/fixtures/int.pem"));
    let root = der(include_str!("../../pki-files/tests/fixtures/ca.pem"));
    let card = personalised();
    let m = module(&card);
    let h = m
        .open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    m.with_session(h, |t, _| t.login(CKU_USER, b"123456"))
        .unwrap();
    let cert = |value: &[u8], extra: Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>| {
        let mut v = vec![
            (CKA_CLASS, token::attr::ul(CKO_CERTIFICATE)),
            (CKA_TOKEN, vec![1]),
            (CKA_CERTIFICATE_TYPE, token::attr::ul(CKC_X_509)),
            (CKA_VALUE, value.to_vec()),
        ];
        v.extend(extra);
        Template(v)
    };
    let hex = |s: &str| hex::decode(s.replace(':', "")).unwrap();
    let hl = m
        .with_session(h, |t, hs| t.create_object(hs, h, &cert(&leaf, vec![])))
        .unwrap();
    let get = |o, ty| {
        m.with_session(h, |t, hs| t.get_attributes(hs, o, &[ty]))
            .unwrap()
            .remove(0)
    };
    assert_eq!(get(hl, CKA_CHECK_VALUE), Value(hex("e0f6a9")));
    assert_eq!(
        get(hl, CKA_HASH_OF_SUBJECT_PUBLIC_KEY),
        Value(hex(
            "CE:B3:55:98:64:43:41:1D:32:C3:A2:F4:B8:FD:4A:7A:A6:42:6F:36"
        ))
    );
    assert_eq!(get(hl, CKA_START_DATE), Value(b"20261203".to_vec()));
    assert_eq!(get(hl, CKA_END_DATE), Value(b"20290307".to_vec()));
    assert_eq!(
        get(hl, CKA_NAME_HASH_ALGORITHM),
        Value(token::attr::ul(CKM_SHA_1))
    );
    // The issuer is not on the token yet: unknown.
    assert_eq!(get(hl, CKA_HASH_OF_ISSUER_PUBLIC_KEY), Value(Vec::new()));
    m.with_session(h, |t, hs| t.create_object(hs, h, &cert(&int, vec![])))
        .unwrap();
    assert_eq!(
        get(hl, CKA_HASH_OF_ISSUER_PUBLIC_KEY),
        Value(hex(
            "59:24:2E:42:80:ED:D8:72:9A:A8:83:EC:A1:2A:D3:A3:1D:A6:BF:4E"
        ))
    );
    // Given values: the right ones are accepted, another is refused.
    for (ty, bad) in [
        (CKA_CHECK_VALUE, hex("000000")),
        (CKA_START_DATE, b"20200101".to_vec()),
        (CKA_HASH_OF_SUBJECT_PUBLIC_KEY, vec![0; 20]),
        (CKA_HASH_OF_ISSUER_PUBLIC_KEY, vec![0; 20]),
    ] {
        let r = m.with_session(h, |t, hs| {
            t.create_object(hs, h, &cert(&root, vec![(ty, bad)]))
        });
        assert_eq!(r, Err(token::Error::TemplateInconsistent), "{ty:#x}");
    }
    let ok = cert(
        &root,
        vec![
            (CKA_CHECK_VALUE, hex("46db5f")),
            (CKA_END_DATE, b"20361130".to_vec()),
            (
                CKA_HASH_OF_ISSUER_PUBLIC_KEY,
                hex("AF:9F:F6:9D:D7:19:E2:CB:80:1E:70:15:E5:51:73:90:9D:81:86:EC"),
            ),
        ],
    );
    m.with_session(h, |t, hs| t.create_object(hs, h, &ok))
        .unwrap();
}
