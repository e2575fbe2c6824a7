//! No secret in a trace, at the most verbose level: a whole life cycle (initialisation with
//! PINs, login, a private data object written and read, an RSA key imported, a raw RSA
//! "decryption", a PIN change) runs under a TRACE subscriber, and the trace is searched for each
//! secret in ASCII, hex (both cases) and base64. One test in its own binary: the subscriber is
//! the process's global default, so nothing else runs at the same time.
#![allow(clippy::unwrap_used)]

use base64ct::{Base64, Encoding};
use epass2003::transport::emulator::EmulatorTransport;
use epass2003::{ConnectOptions, Connection};
use epass2003_emu::{Card, CardOptions, Variant};
use pkcs15::backend::{
    InitParams, KeyUsage, NewObject, ObjectKind, PinPolicy, PinRole, RsaKeyImport, TokenBackend,
};
use pkcs15::card::{Epass2003Token, OpenOptions};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_trace_of_a_whole_life_cycle_holds_no_secret() {
    let buf = Buf::default();
    let w = buf.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || w.clone())
        .init();

    let user_pin = b"Secret-PIN-7391";
    let new_pin = b"Other-PIN-2846";
    let so_pin = b"SO-Secret-5820";
    let private_value = b"the private data object's secret value 0123456789";
    let card = Arc::new(Mutex::new(Card::new_blank(
        Variant::Aes,
        CardOptions::default(),
    )));
    let conn =
        Connection::connect(EmulatorTransport::new(card), ConnectOptions::default()).unwrap();
    let mut t = Epass2003Token::open(
        conn,
        OpenOptions {
            emulated: true,
            cache_dir: None,
        },
    )
    .unwrap();
    t.init_token(&InitParams {
        label: "trace",
        so_pin,
        user_pin: Some(user_pin),
        user_max_tries: 10,
        so_max_tries: 10,
        user_pin_policy: PinPolicy::default(),
        so_pin_policy: PinPolicy::default(),
        auth_timeout_minutes: 0,
    })
    .unwrap();
    t.login(PinRole::User, user_pin).unwrap();
    let data = t
        .create_object(&NewObject::Data {
            label: "secret".into(),
            application: "test".into(),
            value: private_value.to_vec(),
            private: true,
        })
        .unwrap();
    assert_eq!(t.read_value(data.reference).unwrap(), private_value);

    let mut rng = rand::thread_rng();
    let key = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
    let d = key.d().to_bytes_be();
    let meta = t
        .import_rsa_key(&RsaKeyImport {
            n: key.n().to_bytes_be(),
            e: key.e().to_bytes_be(),
            d: d.clone(),
            label: "rsa".into(),
            id: vec![1],
            usage: KeyUsage {
                sign: true,
                decrypt: true,
                ..KeyUsage::default()
            },
        })
        .unwrap();
    assert_eq!(meta.kind, ObjectKind::PrivateKey);
    // A "ciphertext" whose decryption is a known plaintext block (a premaster secret, say).
    let mut plain = vec![0u8; 128];
    plain[1] = 2;
    plain[80..].copy_from_slice(&[0x5A; 48]);
    let m = rsa::BigUint::from_bytes_be(&plain);
    let c = m.modpow(key.e(), key.n()).to_bytes_be();
    let mut block = vec![0u8; 128 - c.len()];
    block.extend_from_slice(&c);
    let out = t.rsa_raw(meta.reference, &block).unwrap();
    assert_eq!(out, plain);
    t.change_pin(PinRole::User, user_pin, new_pin).unwrap();
    t.login(PinRole::User, new_pin).unwrap();

    let trace = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        trace.contains("C-APDU"),
        "the trace is on: {}",
        &trace[..trace.len().min(500)]
    );
    let pin_key = |p: &[u8]| {
        use sha1::{Digest, Sha1};
        let mut k = Sha1::digest(p).to_vec();
        k.extend_from_slice(&(p.len() as u32).to_be_bytes());
        k
    };
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("user PIN", user_pin.to_vec()),
        ("new PIN", new_pin.to_vec()),
        ("SO PIN", so_pin.to_vec()),
        ("user PIN key", pin_key(user_pin)),
        ("SO PIN key", pin_key(so_pin)),
        ("private data", private_value.to_vec()),
        ("RSA d (leading bytes)", d[..24].to_vec()),
        ("decrypted block (tail)", plain[80..].to_vec()),
    ];
    let lower = trace.to_lowercase();
    for (what, s) in &secrets {
        if let Ok(text) = std::str::from_utf8(s) {
            assert!(!trace.contains(text), "{what} in the trace (ASCII)");
        }
        assert!(
            !lower.contains(&hex::encode(s)),
            "{what} in the trace (hex)"
        );
        let b64 = Base64::encode_string(s);
        assert!(
            !trace.contains(&b64[..b64.len().min(20)]),
            "{what} in the trace (base64)"
        );
    }
}
