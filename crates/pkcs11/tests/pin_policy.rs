//! A stricter PIN policy chosen by the administrator (`EPASS2003_PIN_MIN_LEN=8`) is written by
//! C_InitToken, reported in CK_TOKEN_INFO and enforced before any APDU.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::session::UserType;

#[test]
fn administrator_policy_is_stored_and_enforced() {
    std::env::set_var("EPASS2003_PIN_MIN_LEN", "8");
    std::env::set_var("EPASS2003_PIN_MAX_LEN", "12");
    let dir = tempdir();
    let file = dir.path().join("card.state");
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    assert_eq!(
        rv(ctx.init_token(slot, &pin("1234567"), "strict")),
        RvError::PinLenRange
    );
    ctx.init_token(slot, &pin("12345678"), "strict").unwrap();
    let info = ctx.get_token_info(slot).unwrap();
    assert_eq!((info.min_pin_length(), info.max_pin_length()), (8, 12));
    let s = ctx.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin("12345678"))).unwrap();
    assert_eq!(rv(s.init_pin(&pin("1234567"))), RvError::PinLenRange);
    assert_eq!(rv(s.init_pin(&pin("1234567890123"))), RvError::PinLenRange);
    s.init_pin(&pin("abcdefgh")).unwrap();
    s.logout().unwrap();
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin("abcdefg")))),
        RvError::PinLenRange
    );
    s.login(UserType::User, Some(&pin("abcdefgh"))).unwrap();
    assert_eq!(
        rv(s.set_pin(&pin("abcdefgh"), &pin("short"))),
        RvError::PinLenRange
    );
}
