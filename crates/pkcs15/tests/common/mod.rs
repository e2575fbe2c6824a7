//! Shared helpers for the ePass2003 token tests (in-process emulator).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use epass2003::transport::emulator::EmulatorTransport;
use epass2003::{ConnectOptions, Connection};
use epass2003_emu::{Card, CardOptions, Variant};
use pkcs15::backend::{InitParams, KeyType, ObjectKind, ObjectMeta, PinPolicy, TokenBackend};
use pkcs15::card::{Epass2003Token, OpenOptions};
use rsa::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};

pub(crate) type Shared = Arc<Mutex<Card>>;
pub(crate) type Token = Epass2003Token<EmulatorTransport>;

pub(crate) const PIN: &[u8] = b"123456";
pub(crate) const PUK: &[u8] = b"12345678";

pub(crate) fn blank_card(seed: u64) -> Shared {
    Arc::new(Mutex::new(Card::new_blank(
        Variant::Aes,
        CardOptions {
            rng_seed: Some(seed),
            ..CardOptions::default()
        },
    )))
}

/// The card personalised by OpenSC 0.23 `pkcs15-init` (tests/opensc/e2e.sh, AES variant):
/// onepin, PIN 123456, PUK 12345678, RSA-2048 id 01 (sign,decrypt) + certificate id 01,
/// EC P-256 id 02.
pub(crate) fn opensc_card() -> Shared {
    let raw = include_bytes!("../fixtures/opensc-onepin-aes.state");
    let body = epass2003_emu::store::decode(raw).unwrap();
    Arc::new(Mutex::new(Card::from_state_bytes(body).unwrap()))
}

pub(crate) fn clone_card(card: &Shared) -> Shared {
    let bytes = card.lock().unwrap().to_state_bytes();
    Arc::new(Mutex::new(Card::from_state_bytes(&bytes).unwrap()))
}

pub(crate) fn connect(card: &Shared) -> Connection<EmulatorTransport> {
    Connection::connect(
        EmulatorTransport::new(card.clone()),
        ConnectOptions::default(),
    )
    .unwrap()
}

pub(crate) fn open(card: &Shared, cache: Option<std::path::PathBuf>) -> Token {
    Epass2003Token::open(
        connect(card),
        OpenOptions {
            emulated: true,
            cache_dir: cache,
        },
    )
    .unwrap()
}

pub(crate) fn apdus(card: &Shared) -> u64 {
    card.lock().unwrap().counters().apdus
}

pub(crate) fn init_params<'a>(label: &'a str, user: Option<&'a [u8]>) -> InitParams<'a> {
    InitParams {
        label,
        so_pin: PUK,
        user_pin: user,
        user_max_tries: 6,
        so_max_tries: 6,
        user_pin_policy: PinPolicy {
            min_len: 6,
            max_len: 12,
            require_digit: true,
            ..PinPolicy::default()
        },
        so_pin_policy: PinPolicy::default(),
        auth_timeout_minutes: 15,
    }
}

/// A fresh token: init_token with PIN and PUK, logged in as user.
pub(crate) fn initialised(seed: u64) -> (Shared, Token) {
    let card = blank_card(seed);
    let mut t = open(&card, None);
    t.init_token(&init_params("test token", Some(PIN))).unwrap();
    t.login(pkcs15::backend::PinRole::User, PIN).unwrap();
    (card, t)
}

pub(crate) fn find<'a>(objs: &'a [ObjectMeta], kind: ObjectKind, id: &[u8]) -> &'a ObjectMeta {
    objs.iter()
        .find(|o| o.kind == kind && o.id == id)
        .unwrap_or_else(|| panic!("no {kind:?} with id {}", hex::encode(id)))
}

/// PKCS#1 v1.5 type 1 block of SHA-256(msg) for a modulus of `k` bytes.
pub(crate) fn pkcs1_sha256_block(msg: &[u8], k: usize) -> Vec<u8> {
    let prefix = hex::decode("3031300d060960864801650304020105000420").unwrap();
    let mut t = prefix;
    t.extend_from_slice(&Sha256::digest(msg));
    let mut b = vec![0x00, 0x01];
    b.resize(k - t.len() - 1, 0xFF);
    b.push(0x00);
    b.extend_from_slice(&t);
    b
}

/// Signs with the private key `key` and verifies with the public key of the same ID.
pub(crate) fn sign_and_verify(t: &mut Token, key: &ObjectMeta, public: &ObjectMeta) {
    let spki = t.read_value(public.reference).unwrap();
    let msg = b"signed on an emulated ePass2003";
    match key.key_type.unwrap() {
        KeyType::Rsa { bits } => {
            let k = usize::from(bits / 8);
            let sig = t
                .rsa_raw(key.reference, &pkcs1_sha256_block(msg, k))
                .unwrap();
            let pk = rsa::RsaPublicKey::from_public_key_der(&spki).unwrap();
            pk.verify(
                rsa::Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(msg),
                &sig,
            )
            .unwrap();
        }
        KeyType::EcP256 => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            let h = Sha256::digest(msg);
            let sig = t.ecdsa_sign(key.reference, &h).unwrap();
            let vk = p256::ecdsa::VerifyingKey::from_public_key_der(&spki).unwrap();
            let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
            vk.verify_prehash(&h, &sig).unwrap();
        }
    }
}

/// A syntactically valid DER blob standing in for a certificate.
pub(crate) fn fake_cert(tag: u8, len: usize) -> Vec<u8> {
    let mut content = vec![tag; len];
    content[0] = 0x04;
    content[1] = 0x81;
    content[2] = (len - 3) as u8;
    let mut v = vec![0x30, 0x81, len as u8];
    v.extend_from_slice(&content);
    v
}

/// A unique scratch directory.
pub(crate) fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "p15test-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
