//! The inactivity timeout through the built `.so` (`EPASS2003_AUTH_TIMEOUT_SECS=1`): signing
//! restarts the clock; after expiry every session of the token is public again and
//! a new C_Login works.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::{SessionState, UserType};
use std::time::Duration;

#[test]
fn authentication_timeout_expires_and_relogin_works() {
    std::env::set_var("EPASS2003_AUTH_TIMEOUT_SECS", "1");
    let dir = tempdir();
    let file = dir.path().join("card.state");
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    personalise(&ctx, slot);
    let s = user_session(&ctx, slot);
    let other = ctx.open_ro_session(slot).unwrap();
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
    // Activity keeps the login alive past the timeout.
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(400));
        s.sign(&Mechanism::EcdsaSha256, key, b"x").unwrap();
    }
    assert_eq!(
        other.get_session_info().unwrap().session_state(),
        SessionState::RoUser
    );
    // Idle beyond the timeout: both sessions are public again.
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(
        rv(s.sign(&Mechanism::EcdsaSha256, key, b"x")),
        RvError::KeyHandleInvalid
    );
    assert_eq!(
        other.get_session_info().unwrap().session_state(),
        SessionState::RoPublic
    );
    assert!(other
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .unwrap()
        .is_empty());
    assert_eq!(rv(s.logout()), RvError::UserNotLoggedIn);
    // A new login works (the card's security state was reset, so it really verifies).
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin("000000")))),
        RvError::PinIncorrect
    );
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.sign(&Mechanism::EcdsaSha256, key, b"x").unwrap();
}
