//! Interop steps against a real stack (pcscd + vpcd + emulated card), driven by
//! `tests/opensc/interop.sh`. Ignored by default; each test is one step:
//!
//! * `interop_read_opensc_card`: the card in `EPASS2003_TEST_READER` was personalised by
//!   OpenSC's `pkcs15-init` (onepin, PIN 123456, RSA-2048 id 01 with a certificate, EC id 02):
//!   read the policy, tries, keys and certificate, sign with both keys, verify in Rust.
//! * `interop_personalise`: init_token + generate RSA-2048 (id 11) and EC P-256 (id 12); writes
//!   the RSA public key (SPKI DER) to `$EPASS2003_TEST_OUT/rust-rsa-pub.der`.
//! * `interop_store_certificate`: stores `$EPASS2003_TEST_OUT/rust-user.der` as certificate id 11.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use epass2003::transport::pcsc::PcscContext;
use epass2003::transport::Transport;
use epass2003::{ConnectOptions, Connection};
use pkcs15::backend::{
    InitParams, KeyGenSpec, KeyType, KeyUsage, NewObject, ObjectKind, ObjectMeta, PinPolicy,
    PinRole, TokenBackend,
};
use pkcs15::card::{Epass2003Token, OpenOptions};
use rsa::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};

const PIN: &[u8] = b"123456";
const PUK: &[u8] = b"12345678";

fn token() -> Epass2003Token<Box<dyn Transport>> {
    let reader = std::env::var("EPASS2003_TEST_READER").expect("EPASS2003_TEST_READER");
    let ctx = PcscContext::establish().unwrap();
    let t: Box<dyn Transport> = Box::new(ctx.connect(&reader).unwrap());
    let conn = Connection::connect(t, ConnectOptions::default()).unwrap();
    Epass2003Token::open(
        conn,
        OpenOptions {
            emulated: true,
            cache_dir: None,
        },
    )
    .unwrap()
}

fn out_dir() -> std::path::PathBuf {
    std::env::var_os("EPASS2003_TEST_OUT")
        .expect("EPASS2003_TEST_OUT")
        .into()
}

fn find(objs: &[ObjectMeta], kind: ObjectKind, id: &[u8]) -> ObjectMeta {
    objs.iter()
        .find(|o| o.kind == kind && o.id == id)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind:?} id {}", hex::encode(id)))
}

fn sign_verify<T: Transport>(t: &mut Epass2003Token<T>, key: &ObjectMeta, public: &ObjectMeta) {
    let spki = t.read_value(public.reference).unwrap();
    let msg = b"interop";
    let h = Sha256::digest(msg);
    match key.key_type.unwrap() {
        KeyType::Rsa { bits } => {
            let mut t_ = hex::decode("3031300d060960864801650304020105000420").unwrap();
            t_.extend_from_slice(&h);
            let k = usize::from(bits / 8);
            let mut b = vec![0, 1];
            b.resize(k - t_.len() - 1, 0xFF);
            b.push(0);
            b.extend_from_slice(&t_);
            let sig = t.rsa_raw(key.reference, &b).unwrap();
            rsa::RsaPublicKey::from_public_key_der(&spki)
                .unwrap()
                .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &h, &sig)
                .unwrap();
        }
        KeyType::EcP256 => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            let sig = t.ecdsa_sign(key.reference, &h).unwrap();
            p256::ecdsa::VerifyingKey::from_public_key_der(&spki)
                .unwrap()
                .verify_prehash(&h, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
                .unwrap();
        }
    }
}

#[test]
#[ignore = "needs pcscd + vpcd + an OpenSC-personalised emulated card (tests/opensc/interop.sh)"]
fn interop_read_opensc_card() {
    let mut t = token();
    let d = t.describe().unwrap();
    assert!(d.initialized);
    assert_eq!(
        (d.user_pin_policy.min_len, d.user_pin_policy.max_len),
        (4, 16)
    );
    let st = t.pin_status(PinRole::User).unwrap();
    assert_eq!((st.tries_left, st.max_tries), (Some(6), 6));
    let objs = t.objects().unwrap();
    let rsa = find(&objs, ObjectKind::PrivateKey, &[1]);
    let ec = find(&objs, ObjectKind::PrivateKey, &[2]);
    assert_eq!(rsa.key_type, Some(KeyType::Rsa { bits: 2048 }));
    assert_eq!(ec.key_type, Some(KeyType::EcP256));
    let rsa_pub = find(&objs, ObjectKind::PublicKey, &[1]);
    let ec_pub = find(&objs, ObjectKind::PublicKey, &[2]);
    let cert = find(&objs, ObjectKind::Certificate, &[1]);
    let der = t.read_value(cert.reference).unwrap();
    let spki = t.read_value(rsa_pub.reference).unwrap();
    assert!(der.windows(spki.len()).any(|w| w == spki.as_slice()));
    t.login(PinRole::User, PIN).unwrap();
    sign_verify(&mut t, &rsa, &rsa_pub);
    sign_verify(&mut t, &ec, &ec_pub);
    println!("read and signed with the OpenSC-personalised token: {d:?}");
}

#[test]
#[ignore = "needs pcscd + vpcd + an emulated card (tests/opensc/interop.sh)"]
fn interop_personalise() {
    let mut t = token();
    t.init_token(&InitParams {
        label: "rust interop",
        so_pin: PUK,
        user_pin: Some(PIN),
        user_max_tries: 6,
        so_max_tries: 6,
        user_pin_policy: PinPolicy::default(),
        so_pin_policy: PinPolicy::default(),
        auth_timeout_minutes: 0,
    })
    .unwrap();
    t.login(PinRole::User, PIN).unwrap();
    let (rsa, rsa_pub) = t
        .generate_key_pair(&KeyGenSpec {
            key_type: KeyType::Rsa { bits: 2048 },
            label: "rust rsa".into(),
            id: Some(vec![0x11]),
            usage: KeyUsage {
                sign: true,
                decrypt: true,
                ..KeyUsage::default()
            },
        })
        .unwrap();
    let (ec, ec_pub) = t
        .generate_key_pair(&KeyGenSpec {
            key_type: KeyType::EcP256,
            label: "rust ec".into(),
            id: Some(vec![0x12]),
            usage: KeyUsage {
                sign: true,
                ..KeyUsage::default()
            },
        })
        .unwrap();
    sign_verify(&mut t, &rsa, &rsa_pub);
    sign_verify(&mut t, &ec, &ec_pub);
    let spki = t.read_value(rsa_pub.reference).unwrap();
    std::fs::write(out_dir().join("rust-rsa-pub.der"), spki).unwrap();
}

#[test]
#[ignore = "needs pcscd + vpcd + the card from interop_personalise (tests/opensc/interop.sh)"]
fn interop_store_certificate() {
    let der = std::fs::read(out_dir().join("rust-user.der")).unwrap();
    let mut t = token();
    t.login(PinRole::User, PIN).unwrap();
    let c = t
        .create_object(&NewObject::Certificate {
            der: der.clone(),
            label: "rust cert".into(),
            id: vec![0x11],
            authority: false,
        })
        .unwrap();
    assert_eq!(t.read_value(c.reference).unwrap(), der);
}

#[test]
#[ignore = "needs pcscd + vpcd + the card from interop_personalise after pkcs15-init added a key"]
fn interop_reread_after_opensc() {
    let mut t = token();
    let objs = t.objects().unwrap();
    for label in ["rust rsa", "rust ec", "rust cert", "opensc ec"] {
        assert!(objs.iter().any(|o| o.label == label), "{label} missing");
    }
    let ec = find(&objs, ObjectKind::PrivateKey, &[0x13]);
    let ec_pub = find(&objs, ObjectKind::PublicKey, &[0x13]);
    t.login(PinRole::User, PIN).unwrap();
    sign_verify(&mut t, &ec, &ec_pub);
    // Our crate keeps writing after OpenSC did.
    t.set_label("rust again").unwrap();
    assert_eq!(t.describe().unwrap().label, "rust again");
}

#[test]
#[ignore = "needs pcscd + vpcd + the card from interop_personalise (tests/opensc/interop.sh)"]
fn interop_shadow_switch() {
    let mut t = token();
    t.login(PinRole::User, PIN).unwrap();
    let label = |i: u8| format!("data object {i} with a long label to fill the DODF quickly..");
    for i in 0..5u8 {
        t.create_object(&NewObject::Data {
            label: label(i),
            application: "interop".into(),
            value: vec![i; 8],
            private: false,
        })
        .unwrap();
    }
    // Removing the first entry rewrites > 232 bytes: the DODF moves to its shadow file.
    let first = t
        .objects()
        .unwrap()
        .into_iter()
        .find(|o| o.label == label(0))
        .unwrap();
    t.delete_object(first.reference).unwrap();
    let n = t
        .objects()
        .unwrap()
        .iter()
        .filter(|o| o.kind == ObjectKind::Data)
        .count();
    assert_eq!(n, 4);
}

#[test]
#[ignore = "needs pcscd + vpcd + the card after interop_shadow_switch and pkcs15-init --store-data"]
fn interop_reread_data() {
    let mut t = token();
    let labels: Vec<_> = t.objects().unwrap().into_iter().map(|o| o.label).collect();
    assert!(labels.iter().any(|l| l == "opensc data"), "{labels:?}");
    assert_eq!(
        labels
            .iter()
            .filter(|l| l.starts_with("data object"))
            .count(),
        4
    );
}
