//! `epass2003-emu new --factory`: the binary writes a state file holding a token as Feitian
//! ships it, and the PKCS#11 layer (Module over EmulatorReader on that file) sees label
//! "ePass2003" in Feitian's layout, logs in with the factory user PIN 12345678 and changes it.
//! (`token` is a dev-dependency only: the emulator itself depends on nothing of the host side.)
#![allow(clippy::unwrap_used)]

use std::process::Command;

use cryptoki_sys::*;
use epass2003_emu::store::StateFile;
use pkcs15::backend::{PinRole, TokenLayout};
use token::config::Config;
use token::module::Module;
use token::readers::{EmulatorReader, Reader};

fn emu(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_epass2003-emu"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn new_factory_then_the_token_layer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("factory.state");
    let p = path.to_str().unwrap();
    let out = emu(&["new", "--factory", "--state", p, "--seed", "3"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("factory-state"));
    let info = String::from_utf8_lossy(&emu(&["info", "--state", p]).stdout).into_owned();
    assert!(
        info.contains("3F002003/kid 1 user PIN: tries left 10 of 10"),
        "{info}"
    );
    assert!(
        info.contains("3F002003/kid 2 SO PIN: tries left 10 of 10"),
        "{info}"
    );
    assert!(StateFile::peek(&path).is_ok());

    let readers: Vec<Box<dyn Reader>> = vec![Box::new(EmulatorReader::new(path.clone()))];
    let m = Module::with_readers(Config::default(), readers);
    let ti = m.token_info(0).unwrap();
    assert_eq!(ti.desc.label, "ePass2003");
    assert_eq!(ti.desc.auth_timeout_minutes, 0, "no timeout");
    assert_ne!(ti.flags & CKF_TOKEN_INITIALIZED, 0);
    assert_ne!(ti.flags & CKF_USER_PIN_INITIALIZED, 0);
    assert_ne!(ti.flags & CKF_WRITE_PROTECTED, 0);
    let layout = m.with_token(0, |t, _| Ok(t.card_facts().layout)).unwrap();
    assert_eq!(layout, TokenLayout::FeitianMiddleware);
    let st = m.with_token(0, |t, _| t.query_pin(PinRole::User)).unwrap();
    assert_eq!((st.tries_left, st.max_tries), (Some(10), 10));
    let objs = m.with_token(0, |t, hs| t.list_all_objects(hs)).unwrap();
    assert!(objs.is_empty(), "no keys or certificates at the factory");

    let h = m
        .open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .unwrap();
    m.with_session(h, |t, _| t.login(CKU_USER, b"12345678"))
        .unwrap();
    m.with_session(h, |t, _| t.logout()).unwrap();
    m.with_session(h, |t, _| t.set_pin(h, b"12345678", b"my-own-pin"))
        .unwrap();
    m.close_session(h).unwrap();
    drop(m);

    // A fresh process on the same state file: the new PIN is the one that works.
    let readers: Vec<Box<dyn Reader>> = vec![Box::new(EmulatorReader::new(path.clone()))];
    let m = Module::with_readers(Config::default(), readers);
    let h = m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    assert_eq!(
        m.with_session(h, |t, _| t.login(CKU_USER, b"12345678")),
        Err(token::Error::PinIncorrect)
    );
    m.with_session(h, |t, _| t.login(CKU_USER, b"my-own-pin"))
        .unwrap();
    let info = String::from_utf8_lossy(&emu(&["info", "--state", p]).stdout).into_owned();
    assert!(
        info.contains("kid 1 user PIN: tries left 10 of 10"),
        "{info}"
    );
}
