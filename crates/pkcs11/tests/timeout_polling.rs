//! Status polling does not keep a token logged in (`EPASS2003_AUTH_TIMEOUT_SECS=2`): a thread
//! calling C_GetTokenInfo every 0.25 s, and after 2.5 s without a call that uses the login,
//! C_Sign answers CKR_USER_NOT_LOGGED_IN and the session is public. (Its own test binary: the
//! environment variable is read at C_Initialize.)
#![allow(clippy::unwrap_used, clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::SessionState;
use cryptoki_sys::{CKR_USER_NOT_LOGGED_IN, CK_BYTE_PTR, CK_RV, CK_SESSION_HANDLE, CK_ULONG_PTR};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type SignFn = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_BYTE_PTR,
    cryptoki_sys::CK_ULONG,
    CK_BYTE_PTR,
    CK_ULONG_PTR,
) -> CK_RV;

#[test]
fn polling_token_info_does_not_keep_the_login() {
    std::env::set_var("EPASS2003_AUTH_TIMEOUT_SECS", "2");
    let dir = tempdir();
    let file = dir.path().join("card.state");
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    personalise(&ctx, slot);
    let s = user_session(&ctx, slot);
    let (_, key) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::EcParams(vec![
                    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
                ]),
                Attribute::Token(true),
            ],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )
        .unwrap();
    // A signer inside the window stays logged in.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(800));
        s.sign(&Mechanism::EcdsaSha256, key, b"x").unwrap();
    }
    s.sign_init(&Mechanism::EcdsaSha256, key).unwrap();

    // Now only status polling, from another thread, for 2.5 s.
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let ctx = ctx.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                ctx.get_token_info(slot).unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(250));
            }
            n
        })
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Expiry is applied by a status query too: the session already shows public.
    assert_eq!(
        s.get_session_info().unwrap().session_state(),
        SessionState::RwPublic
    );
    stop.store(true, Ordering::Relaxed);
    assert!(poller.join().unwrap() >= 8, "the poller kept polling");

    // C_Sign of the operation started before the timeout.
    let lib = unsafe { libloading::Library::new(lib_path()).unwrap() };
    let c_sign: libloading::Symbol<SignFn> = unsafe { lib.get(b"C_Sign").unwrap() };
    let mut data = *b"x";
    let mut sig = [0u8; 128];
    let mut len = sig.len() as cryptoki_sys::CK_ULONG;
    let rv = unsafe {
        c_sign(
            s.handle(),
            data.as_mut_ptr(),
            data.len() as cryptoki_sys::CK_ULONG,
            sig.as_mut_ptr(),
            &mut len,
        )
    };
    assert_eq!(rv, CKR_USER_NOT_LOGGED_IN);
}
