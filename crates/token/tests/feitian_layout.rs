//! Tokens personalised by Feitian's middleware (ENTERSAFE-ESPK) through the token layer
//! (Module → ESPK backend → driver → in-process emulated card): `C_SetPIN` changes the user
//! PIN while the token stays `CKF_WRITE_PROTECTED` and object writes stay refused. The image is
//! built on the emulator by `pkcs15::espk::fixture` from the documented format (no captured
//! vendor data exists).
#![allow(clippy::unwrap_used)]

use cryptoki_sys::*;
use epass2003::transport::emulator::EmulatorTransport;
use epass2003::{ConnectOptions, Connection};
use epass2003_emu::{Card, CardOptions, Variant};
use pkcs15::espk::fixture::{self, FixtureSpec};
use pkcs15::espk::{EspkOptions, EspkToken};
use std::sync::{Arc, Mutex};
use token::config::Config;
use token::module::Module;
use token::readers::{EmulatorReader, Reader};
use token_backend::{ObjectKind, PinRole, TokenLayout};

const PIN: &[u8] = b"12345678";
const NEW: &[u8] = b"new-pin-2026";

fn connect(card: &Arc<Mutex<Card>>) -> Connection<EmulatorTransport> {
    Connection::connect(
        EmulatorTransport::new(card.clone()),
        ConnectOptions::default(),
    )
    .unwrap()
}

fn module(card: &Arc<Mutex<Card>>) -> Module {
    let readers: Vec<Box<dyn Reader>> =
        vec![Box::new(EmulatorReader::in_memory("espk", card.clone()))];
    Module::with_readers(Config::default(), readers)
}

/// Labels of the objects, as the layout reader lists them (kind, label, id).
fn layout_objects(card: &Arc<Mutex<Card>>) -> Vec<(ObjectKind, String, Vec<u8>)> {
    use token_backend::TokenBackend;
    let mut t = EspkToken::open(connect(card), EspkOptions::default()).unwrap();
    let mut v: Vec<_> = t
        .objects()
        .unwrap()
        .into_iter()
        .map(|o| (o.kind, o.label, o.id))
        .collect();
    v.sort_by(|a, b| (format!("{:?}", a.0), &a.1).cmp(&(format!("{:?}", b.0), &b.1)));
    v
}

#[test]
fn set_pin_on_a_feitian_middleware_token() {
    let card = Arc::new(Mutex::new(Card::new_blank(
        Variant::Aes,
        CardOptions {
            rng_seed: Some(31),
            ..CardOptions::default()
        },
    )));
    let spec = FixtureSpec::standard();
    fixture::build(&mut connect(&card), &spec).unwrap();
    let before = layout_objects(&card);
    assert_eq!(
        before.len(),
        8,
        "3 private keys, 3 public keys, 2 certificates"
    );

    let m = module(&card);
    let info = m.token_info(0).unwrap();
    assert_eq!(info.desc.label, spec.label);
    assert_ne!(info.flags & CKF_WRITE_PROTECTED, 0);
    assert_ne!(info.flags & CKF_USER_PIN_INITIALIZED, 0);
    let layout = m.with_token(0, |t, _| Ok(t.card_facts().layout)).unwrap();
    assert_eq!(layout, TokenLayout::FeitianMiddleware);

    // C_SetPIN in a public R/W session: a wrong old PIN costs a try and is reported.
    let h = m
        .open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    assert_eq!(
        m.with_session(h, |t, _| t.set_pin(h, b"00000000", NEW)),
        Err(token::Error::PinIncorrect)
    );
    let st = m.with_token(0, |t, _| t.query_pin(PinRole::User)).unwrap();
    assert_eq!((st.tries_left, st.max_tries), (Some(9), 10));
    // Shorter than the layout's own minimum (8): refused, no try spent.
    assert_eq!(
        m.with_session(h, |t, _| t.set_pin(h, PIN, b"123456")),
        Err(token::Error::PinLenRange)
    );
    m.with_session(h, |t, _| t.set_pin(h, PIN, NEW)).unwrap();
    let st = m.with_token(0, |t, _| t.query_pin(PinRole::User)).unwrap();
    assert_eq!(
        (st.tries_left, st.max_tries),
        (Some(10), 10),
        "counter reset"
    );

    // The old PIN fails, the new one logs in; object writes stay refused.
    assert_eq!(
        m.with_session(h, |t, _| t.login(CKU_USER, PIN)),
        Err(token::Error::PinIncorrect)
    );
    m.with_session(h, |t, _| t.login(CKU_USER, NEW)).unwrap();
    assert_eq!(
        m.with_session(h, |t, _| t.rename(h, "renamed")),
        Err(token::Error::TokenWriteProtected)
    );
    let objs = m.with_session(h, |t, hs| t.list_objects(hs)).unwrap();
    let cert = objs
        .iter()
        .find(|(_, o)| o.kind == ObjectKind::Certificate)
        .unwrap()
        .0;
    // Objects of this layout are not destroyable (CKA_DESTROYABLE false), so PKCS#11's
    // "action prohibited" comes before the token's write protection.
    let r = m.with_session(h, |t, hs| t.destroy_object(hs, h, cert));
    assert!(
        matches!(
            r,
            Err(token::Error::ActionProhibited | token::Error::TokenWriteProtected)
        ),
        "{r:?}"
    );
    // SO operations: none (the admin key is not documented).
    m.with_session(h, |t, _| t.logout()).unwrap();
    let so = m.with_session(h, |t, _| t.login(CKU_SO, NEW));
    assert!(so.is_err(), "{so:?}");
    m.close_session(h).unwrap();
    drop(m);

    // A fresh process: the new PIN logs in and tries are reported; the layout still reads
    // with its own rules (the same objects).
    let m = module(&card);
    let info = m.token_info(0).unwrap();
    assert_eq!(
        info.flags & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_LOCKED),
        0
    );
    let h = m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    m.with_session(h, |t, _| t.login(CKU_USER, NEW)).unwrap();
    m.close_session(h).unwrap();
    drop(m);
    assert_eq!(layout_objects(&card), before);
}
