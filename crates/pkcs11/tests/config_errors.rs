//! Refused settings through the built `.so`: an out-of-range init setting
//! (`EPASS2003_USER_PIN_MAX_TRIES=11`) makes C_InitToken return CKR_ARGUMENTS_BAD while every
//! other function keeps working; the extremes of the ranges (PIN length 255, max tries 0) work
//! end to end. One test function: the environment is process-wide, and this binary is its own
//! process.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::session::UserType;

#[test]
fn refused_setting_blocks_only_init_token_and_range_extremes_work() {
    let dir = tempdir();

    // 1. Out of range: only C_InitToken refuses.
    std::env::set_var("EPASS2003_USER_PIN_MAX_TRIES", "11");
    let file = dir.path().join("refused.state");
    let ctx = load(&[&file]);
    let slots = ctx.get_all_slots().unwrap();
    assert_eq!(slots.len(), 1);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    ctx.get_slot_info(slot).unwrap();
    ctx.get_token_info(slot).unwrap();
    assert_eq!(
        rv(ctx.init_token(slot, &pin(SO_PIN), "refused")),
        RvError::ArgumentsBad
    );
    let info = ctx.get_token_info(slot).unwrap();
    assert!(!info.token_initialized(), "nothing was written");
    ctx.open_ro_session(slot).unwrap();
    drop(ctx);

    // 2. The extremes: PIN length up to 255, a user PIN without retry counter.
    std::env::set_var("EPASS2003_USER_PIN_MAX_TRIES", "0");
    std::env::set_var("EPASS2003_SO_PIN_MAX_TRIES", "10");
    std::env::set_var("EPASS2003_PIN_MIN_LEN", "4");
    std::env::set_var("EPASS2003_PIN_MAX_LEN", "255");
    let file = dir.path().join("extremes.state");
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    ctx.init_token(slot, &pin(SO_PIN), "extremes").unwrap();
    let info = ctx.get_token_info(slot).unwrap();
    assert_eq!((info.min_pin_length(), info.max_pin_length()), (4, 255));
    let long: String = "7".repeat(255);
    let s = ctx.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(rv(s.init_pin(&pin(&"7".repeat(256)))), RvError::PinLenRange);
    s.init_pin(&pin(&long)).unwrap();
    s.logout().unwrap();
    for _ in 0..12 {
        assert_eq!(
            rv(s.login(UserType::User, Some(&pin("00000000")))),
            RvError::PinIncorrect
        );
    }
    let info = ctx.get_token_info(slot).unwrap();
    assert!(!info.user_pin_locked() && !info.user_pin_final_try() && !info.user_pin_count_low());
    s.login(UserType::User, Some(&pin(&long))).unwrap();
}
