//! `EPASS2003_PIN_ALLOW_UTF8=yes`: C_InitToken stores that new PINs may be UTF-8 (settings
//! record byte 5), and a full-width PIN can then be set and used.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::session::UserType;

#[test]
fn administrator_may_allow_utf8_pins() {
    std::env::set_var("EPASS2003_PIN_ALLOW_UTF8", "yes");
    let dir = tempdir();
    let file = dir.path().join("card.state");
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    personalise(&ctx, slot);
    let s = user_session(&ctx, slot);
    s.set_pin(&pin(USER_PIN), &pin("１２３４")).unwrap();
    s.logout().unwrap();
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin("1234")))),
        RvError::PinIncorrect,
        "half-width is another PIN"
    );
    s.login(UserType::User, Some(&pin("１２３４"))).unwrap();
}
