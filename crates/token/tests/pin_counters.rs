//! Retry counters on the real stack (token layer → PKCS#15 backend → driver → in-process
//! emulated ePass2003): max tries 0 ("no retry counter"), the lock state a fresh process sees
//! before any login, and what that costs in APDUs.
#![allow(clippy::unwrap_used)]

use cryptoki_sys::*;
use epass2003_emu::{Card, CardOptions, Variant};
use std::sync::{Arc, Mutex};
use token::config::{Config, InitSettings};
use token::module::Module;
use token::readers::{EmulatorReader, Reader};

const SO: &[u8] = b"12345678";
const USER: &[u8] = b"123456";
const PIN_FLAGS: CK_FLAGS = CKF_USER_PIN_COUNT_LOW
    | CKF_USER_PIN_FINAL_TRY
    | CKF_USER_PIN_LOCKED
    | CKF_SO_PIN_COUNT_LOW
    | CKF_SO_PIN_FINAL_TRY
    | CKF_SO_PIN_LOCKED;

fn apdus(card: &Arc<Mutex<Card>>) -> u64 {
    card.lock().unwrap().counters().apdus
}

fn blank() -> Arc<Mutex<Card>> {
    Arc::new(Mutex::new(Card::new_blank(
        Variant::Aes,
        CardOptions::default(),
    )))
}

/// A brand-new module on `card` (what a fresh process sees).
fn module(card: &Arc<Mutex<Card>>, config: Config) -> Module {
    let readers: Vec<Box<dyn Reader>> = vec![Box::new(EmulatorReader::in_memory(
        "counters",
        card.clone(),
    ))];
    Module::with_readers(config, readers)
}

/// `C_InitToken` + SO login + `C_InitPIN`, with the retry counters given.
fn personalise(card: &Arc<Mutex<Card>>, user_max: u8, so_max: u8) {
    let m = module(
        card,
        Config {
            init: InitSettings {
                user_max_tries: user_max,
                so_max_tries: so_max,
                ..InitSettings::default()
            },
            ..Config::default()
        },
    );
    m.with_token(0, |t, _| t.init_token(SO, "counters"))
        .unwrap();
    let h = m
        .open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    m.with_session(h, |t, _| t.login(CKU_SO, SO)).unwrap();
    m.with_session(h, |t, _| t.init_pin(h, USER)).unwrap();
    m.close_session(h).unwrap();
}

fn login(m: &Module, h: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &[u8]) -> token::Result<()> {
    m.with_session(h, |t, _| t.login(user, pin))
}

#[test]
fn max_tries_zero_never_locks() {
    let card = blank();
    personalise(&card, 0, 10);
    let keys = card.lock().unwrap().secret_keys();
    let user = keys.iter().find(|k| k.key_type == 4 && k.kid == 1).unwrap();
    assert_eq!(user.max_tries, 0, "installed without retry counter");

    let m = module(&card, Config::default());
    assert_eq!(m.token_info(0).unwrap().flags & PIN_FLAGS, 0);
    let h = m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    for i in 0..12 {
        assert_eq!(
            login(&m, h, CKU_USER, b"000000"),
            Err(token::Error::PinIncorrect),
            "wrong PIN #{}",
            i + 1
        );
        assert_eq!(
            m.token_info(0).unwrap().flags & PIN_FLAGS,
            0,
            "no counter flags"
        );
    }
    login(&m, h, CKU_USER, USER).unwrap();
    assert_eq!(m.token_info(0).unwrap().flags & PIN_FLAGS, 0);
    // The card counted nothing.
    let keys = card.lock().unwrap().secret_keys();
    let user = keys.iter().find(|k| k.key_type == 4 && k.kid == 1).unwrap();
    assert_eq!((user.max_tries, user.remaining), (0, 0));

    // A fresh process: still no flags, and the probe costs no APDU for a PIN without counter
    // (only the SO PIN, which has one, is asked).
    let m = module(&card, Config::default());
    let h = m.open_session(0, CKF_SERIAL_SESSION).unwrap(); // opens the token: no probe
    let before = apdus(&card);
    m.token_info(0).unwrap();
    let probe = apdus(&card) - before;
    println!("tries probe with user max 0, SO max 10: {probe} APDUs");
    assert_eq!(probe, 2, "GET CHALLENGE + tries query for the SO PIN only");
    assert_eq!(m.token_info(0).unwrap().flags & PIN_FLAGS, 0);
    login(&m, h, CKU_USER, USER).unwrap();
}

/// Locks the user PIN (and brings the SO PIN to its final try) with one module; a brand-new
/// module reports it in CK_TOKEN_INFO before any login.
#[test]
fn fresh_module_sees_locked_final_try_and_count_low() {
    let card = blank();
    personalise(&card, 3, 3);
    let m = module(&card, Config::default());
    let h = m
        .open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();

    // One wrong user PIN: COUNT_LOW in a fresh module.
    assert_eq!(
        login(&m, h, CKU_USER, b"000000"),
        Err(token::Error::PinIncorrect)
    );
    let flags = module(&card, Config::default())
        .token_info(0)
        .unwrap()
        .flags;
    assert_eq!(flags & PIN_FLAGS, CKF_USER_PIN_COUNT_LOW);

    // Two: FINAL_TRY (and COUNT_LOW).
    assert_eq!(
        login(&m, h, CKU_USER, b"000000"),
        Err(token::Error::PinIncorrect)
    );
    let flags = module(&card, Config::default())
        .token_info(0)
        .unwrap()
        .flags;
    assert_eq!(
        flags & PIN_FLAGS,
        CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY
    );

    // Three: LOCKED. Plus two wrong SO PINs: SO FINAL_TRY.
    assert_eq!(
        login(&m, h, CKU_USER, b"000000"),
        Err(token::Error::PinLocked)
    );
    for _ in 0..2 {
        assert_eq!(
            login(&m, h, CKU_SO, b"00000000"),
            Err(token::Error::PinIncorrect)
        );
    }
    drop(m);
    let fresh = module(&card, Config::default());
    let flags = fresh.token_info(0).unwrap().flags;
    assert_eq!(
        flags & PIN_FLAGS,
        CKF_USER_PIN_LOCKED | CKF_SO_PIN_COUNT_LOW | CKF_SO_PIN_FINAL_TRY
    );
    // Asked once per open: a second C_GetTokenInfo costs nothing.
    let before = apdus(&card);
    assert_eq!(fresh.token_info(0).unwrap().flags, flags);
    assert_eq!(apdus(&card), before);
    // The locked PIN is refused without spending a try; the SO unblocks it.
    let h = fresh
        .open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    assert_eq!(
        login(&fresh, h, CKU_USER, USER),
        Err(token::Error::PinLocked)
    );
    login(&fresh, h, CKU_SO, SO).unwrap();
    fresh.with_session(h, |t, _| t.init_pin(h, USER)).unwrap();
    fresh.with_session(h, |t, _| t.logout()).unwrap();
    assert_eq!(fresh.token_info(0).unwrap().flags & PIN_FLAGS, 0);
    let flags = module(&card, Config::default())
        .token_info(0)
        .unwrap()
        .flags;
    assert_eq!(flags & PIN_FLAGS, 0, "a fresh module agrees");
}

/// What the probe costs, and that a process that logs in before asking CK_TOKEN_INFO does not
/// pay for the user PIN's query.
#[test]
fn probe_cost() {
    let card = blank();
    personalise(&card, 10, 10);
    let m = module(&card, Config::default());
    let opened = apdus(&card);
    m.open_session(0, CKF_SERIAL_SESSION).unwrap(); // opens the token: no probe
    println!("token open (fresh module): {} APDUs", apdus(&card) - opened);
    let before = apdus(&card);
    m.token_info(0).unwrap();
    let both = apdus(&card) - before;
    println!("first C_GetTokenInfo of a fresh process, both PINs asked: {both} APDUs");
    let before = apdus(&card);
    m.token_info(0).unwrap();
    assert_eq!(apdus(&card) - before, 0);

    assert_eq!(both, 4, "GET CHALLENGE + tries query, per PIN");
    let m = module(&card, Config::default());
    let h = m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    login(&m, h, CKU_USER, USER).unwrap();
    let before = apdus(&card);
    m.token_info(0).unwrap();
    let so_only = apdus(&card) - before;
    println!("first C_GetTokenInfo after C_Login (SO PIN asked only): {so_only} APDUs");
    assert!(so_only < both, "{so_only} < {both}");
}
