//! Prints the APDUs an open + first signature (cold) and a further signature (warm) cost on an
//! emulated ePass2003, with and without the directory cache.
//!
//! `cargo run --release -p pkcs15 --example apdu_budget`
use std::sync::{Arc, Mutex};

use epass2003::transport::emulator::EmulatorTransport;
use epass2003::{ConnectOptions, Connection};
use epass2003_emu::{Card, CardOptions, Variant};
use pkcs15::backend::{
    InitParams, KeyGenSpec, KeyType, KeyUsage, PinPolicy, PinRole, TokenBackend,
};
use pkcs15::card::{Epass2003Token, OpenOptions};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn open(
    card: &Arc<Mutex<Card>>,
    cache: Option<std::path::PathBuf>,
) -> Res<Epass2003Token<EmulatorTransport>> {
    let conn = Connection::connect(
        EmulatorTransport::new(card.clone()),
        ConnectOptions::default(),
    )?;
    Ok(Epass2003Token::open(
        conn,
        OpenOptions {
            emulated: true,
            cache_dir: cache,
        },
    )?)
}

fn apdus(card: &Arc<Mutex<Card>>) -> u64 {
    card.lock().map(|c| c.counters().apdus).unwrap_or(0)
}

fn main() -> Res<()> {
    let card = Arc::new(Mutex::new(Card::new_blank(
        Variant::Aes,
        CardOptions::default(),
    )));
    let cache = std::env::temp_dir().join(format!("apdu-budget-{}", std::process::id()));
    {
        let mut t = open(&card, None)?;
        t.init_token(&InitParams {
            label: "budget",
            so_pin: b"12345678",
            user_pin: Some(b"123456"),
            user_max_tries: 6,
            so_max_tries: 6,
            user_pin_policy: PinPolicy::default(),
            so_pin_policy: PinPolicy::default(),
            auth_timeout_minutes: 0,
        })?;
        t.login(PinRole::User, b"123456")?;
        for (kt, label) in [
            (KeyType::Rsa { bits: 2048 }, "rsa"),
            (KeyType::EcP256, "ec"),
        ] {
            t.generate_key_pair(&KeyGenSpec {
                key_type: kt,
                label: label.into(),
                id: None,
                usage: KeyUsage {
                    sign: true,
                    ..KeyUsage::default()
                },
            })?;
        }
    }
    drop(open(&card, Some(cache.clone()))?); // fills the cache
    for (name, dir) in [("without cache", None), ("with cache", Some(cache.clone()))] {
        for kt in [KeyType::Rsa { bits: 2048 }, KeyType::EcP256] {
            let start = apdus(&card);
            let mut t = open(&card, dir.clone())?;
            let opened = apdus(&card);
            let key = t
                .objects()?
                .into_iter()
                .find(|o| {
                    o.key_type == Some(kt) && o.kind == pkcs15::backend::ObjectKind::PrivateKey
                })
                .ok_or("no key")?;
            let sign = |t: &mut Epass2003Token<EmulatorTransport>| -> Res<()> {
                match kt {
                    KeyType::Rsa { .. } => {
                        let mut block = vec![0u8; 256];
                        block[1] = 1;
                        t.rsa_raw(key.reference, &block)?;
                    }
                    KeyType::EcP256 => {
                        t.ecdsa_sign(key.reference, &[7; 32])?;
                    }
                }
                Ok(())
            };
            sign(&mut t)?;
            let cold = apdus(&card) - start;
            let b = apdus(&card);
            sign(&mut t)?;
            let warm = apdus(&card) - b;
            println!(
                "{name:14} {kt:?}: open {} APDUs, open + first signature (cold) {cold}, further signature (warm) {warm}",
                opened - start
            );
        }
    }
    let _ = std::fs::remove_dir_all(cache);
    Ok(())
}
