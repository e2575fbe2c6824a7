//! New PINs are half-width (printable ASCII) by default: C_SetPIN with full-width digits
//! answers CKR_PIN_INVALID before any APDU, no try is spent, and the old PIN still logs in.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::session::UserType;

#[test]
fn full_width_new_pin_is_refused_without_spending_a_try() {
    let dir = tempdir();
    let file = dir.path().join("card.state");
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    assert_eq!(
        rv(ctx.init_token(slot, &pin("８７６５４３２１"), "x")),
        RvError::PinInvalid,
        "the SO PIN of C_InitToken too"
    );
    personalise(&ctx, slot);
    let s = ctx.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(rv(s.init_pin(&pin("１２３４５６"))), RvError::PinInvalid);
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(
        rv(s.set_pin(&pin(USER_PIN), &pin("１２３４５６"))),
        RvError::PinInvalid
    );
    assert_eq!(
        rv(s.set_pin(&pin(USER_PIN), &pin("１２３４５"))),
        RvError::PinInvalid
    );
    s.logout().unwrap();
    let flags = ctx.get_token_info(slot).unwrap();
    assert!(!flags.user_pin_count_low() && !flags.user_pin_final_try());
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    // A half-width PIN is fine.
    s.set_pin(&pin(USER_PIN), &pin("654321")).unwrap();
}
