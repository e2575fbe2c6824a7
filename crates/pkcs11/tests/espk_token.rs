//! A token personalised by Feitian's middleware (the ENTERSAFE-ESPK layout, which OpenSC cannot
//! read) through the built `.so`: its certificates and keys are listed, the user PIN logs in,
//! its keys sign, every write is refused as write-protected while `C_SetPIN` changes the user
//! PIN, and `C_InitToken` re-initialises it only when given the token's own PIN. The image is built on the emulator from the
//! documented format (no captured vendor data exists), by `pkcs15::espk::fixture`.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use epass2003::transport::emulator::EmulatorTransport;
use epass2003::{ConnectOptions, Connection};
use epass2003_emu::store::StateFile;
use epass2003_emu::{Card, CardOptions, Variant};
use pkcs15::espk::fixture::{self, FixtureSpec};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use std::sync::{Arc, Mutex};

#[test]
fn feitian_middleware_token_through_the_module() {
    // Build the ESPK image on an emulated card and save it as a state file.
    let spec = FixtureSpec::standard();
    let card = Arc::new(Mutex::new(Card::new_blank(
        Variant::Aes,
        CardOptions {
            rng_seed: Some(11),
            ..CardOptions::default()
        },
    )));
    let mut conn = Connection::connect(
        EmulatorTransport::new(card.clone()),
        ConnectOptions::default(),
    )
    .unwrap();
    let fx = fixture::build(&mut conn, &spec).unwrap();
    drop(conn);
    let dir = tempdir();
    let path = dir.path().join("espk.state");
    drop(StateFile::create(&path, &card.lock().unwrap()).unwrap());

    let ctx = load(&[&path]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    let info = ctx.get_token_info(slot).unwrap();
    assert_eq!(info.label(), spec.label);
    assert!(
        info.write_protected(),
        "a Feitian-middleware token is read-only"
    );
    assert!(info.token_initialized());

    let s = ctx.open_rw_session(slot).unwrap();
    let certs = s
        .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
        .unwrap();
    assert_eq!(certs.len(), 2, "certificates are public");
    assert!(s
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .unwrap()
        .is_empty());
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin("00000000")))),
        RvError::PinIncorrect
    );
    s.login(UserType::User, Some(&pin("12345678"))).unwrap();
    let keys = s
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .unwrap();
    assert_eq!(keys.len(), 3);

    // Every key signs on the card; check with the public key the image was built with.
    for k in &fx.keys {
        let id = s
            .find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Modulus(k.modulus.clone()),
            ])
            .unwrap();
        let id = s.get_attributes(id[0], &[AttributeType::Id]).unwrap();
        let Attribute::Id(id) = &id[0] else {
            panic!("no CKA_ID")
        };
        let key = s
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(id.clone()),
            ])
            .unwrap();
        assert_eq!(key.len(), 1, "key {} paired by ID", k.number);
        let sig = s
            .sign(&Mechanism::Sha256RsaPkcs, key[0], b"signed by ESPK")
            .unwrap();
        let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(
            rsa::RsaPublicKey::from_public_key_der(&k.spki).unwrap(),
        );
        vk.verify(
            b"signed by ESPK",
            &rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap(),
        )
        .unwrap();
    }

    // Writes are refused with a clear code.
    assert_eq!(
        rv(s.create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Label("x".into()),
            Attribute::Value(vec![1]),
        ])),
        RvError::TokenWriteProtected
    );
    // The user PIN changes (C_SetPIN) although the token stays write-protected; a new PIN
    // shorter than Feitian's minimum of 8 is refused.
    assert_eq!(
        rv(s.set_pin(&pin("12345678"), &pin("1234567"))),
        RvError::PinLenRange
    );
    s.set_pin(&pin("12345678"), &pin("changed-on-linux"))
        .unwrap();
    s.logout().unwrap();
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin("12345678")))),
        RvError::PinIncorrect
    );
    s.login(UserType::User, Some(&pin("changed-on-linux")))
        .unwrap();
    assert!(ctx.get_token_info(slot).unwrap().write_protected());
    s.logout().unwrap();
    drop(s);

    // Re-initialising needs the token's own (current) PIN.
    assert_eq!(
        rv(ctx.init_token(slot, &pin("00000000"), "new")),
        RvError::PinIncorrect
    );
    ctx.init_token(slot, &pin("changed-on-linux"), "re-initialised")
        .unwrap();
    let info = ctx.get_token_info(slot).unwrap();
    assert_eq!(info.label(), "re-initialised");
    assert!(!info.write_protected());
    let s = ctx.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin("changed-on-linux")))
        .unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert!(
        s.find_objects(&[]).unwrap().is_empty(),
        "the old layout is gone"
    );
}
