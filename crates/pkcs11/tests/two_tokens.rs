//! Two emulated tokens at once (`EPASS2003_EMULATOR=A:B`): independent slots, logins and keys,
//! used concurrently from several threads.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType};
use cryptoki::session::UserType;
use std::sync::Arc;

#[test]
fn two_tokens_concurrently() {
    let dir = tempdir();
    let a = dir.path().join("a.state");
    let b = dir.path().join("b.state");
    let ctx = Arc::new(load(&[&a, &b]));
    let slots = ctx.get_slots_with_token().unwrap();
    assert_eq!(slots.len(), 2);
    let mut keys = Vec::new();
    for (i, &slot) in slots.iter().enumerate() {
        personalise(&ctx, slot);
        let s = user_session(&ctx, slot);
        let label = format!("key{i}").into_bytes();
        let (_, k) = s
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &[
                    Attribute::ModulusBits(1024.into()),
                    Attribute::Token(true),
                    Attribute::Label(label.clone()),
                ],
                &[
                    Attribute::Token(true),
                    Attribute::Sign(true),
                    Attribute::Label(label),
                ],
            )
            .unwrap();
        keys.push(k);
        // Keep the login alive for the threads below.
        std::mem::forget(s);
    }
    assert_ne!(
        ctx.get_token_info(slots[0]).unwrap().serial_number(),
        ctx.get_token_info(slots[1]).unwrap().serial_number()
    );
    // A handle of one token is not valid on the other.
    let s0 = ctx.open_ro_session(slots[0]).unwrap();
    assert_eq!(
        rv(s0.get_attributes(keys[1], &[AttributeType::Label])),
        RvError::ObjectHandleInvalid
    );
    drop(s0);

    let threads: Vec<_> = (0..6)
        .map(|i| {
            let ctx = ctx.clone();
            let slot = slots[i % 2];
            let key = keys[i % 2];
            std::thread::spawn(move || {
                let s = ctx.open_ro_session(slot).unwrap();
                for j in 0..3 {
                    let msg = format!("{i}/{j}");
                    let sig = s
                        .sign(&Mechanism::Sha256RsaPkcs, key, msg.as_bytes())
                        .unwrap();
                    s.verify(&Mechanism::Sha256RsaPkcs, key, msg.as_bytes(), &sig)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Logging out of one token leaves the other logged in.
    let s0 = ctx.open_ro_session(slots[0]).unwrap();
    s0.logout().unwrap();
    let s1 = ctx.open_ro_session(slots[1]).unwrap();
    assert_eq!(
        rv(s1.login(UserType::User, Some(&pin(USER_PIN)))),
        RvError::UserAlreadyLoggedIn
    );
    assert_eq!(
        rv(s0.sign(&Mechanism::Sha256RsaPkcs, keys[0], b"x")),
        RvError::KeyHandleInvalid
    );
    s1.sign(&Mechanism::Sha256RsaPkcs, keys[1], b"x").unwrap();
}
