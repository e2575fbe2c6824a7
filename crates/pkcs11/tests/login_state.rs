//! The login state machine through the built `.so`: retry counters → token flags, lockout,
//! SO unblock with C_InitPIN, C_SetPIN policy, PIN length checked before any APDU, and the
//! session/login rules of PKCS#11.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use cryptoki::error::RvError;
use cryptoki::session::UserType;

#[test]
fn login_state_machine() {
    let dir = tempdir();
    let file = dir.path().join("card.state");
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];

    // Not initialised: no user PIN to log in with.
    {
        let s = ctx.open_rw_session(slot).unwrap();
        assert_eq!(
            rv(s.login(UserType::User, Some(&pin(USER_PIN)))),
            RvError::UserPinNotInitialized
        );
        // C_InitToken refuses while a session is open.
        assert_eq!(
            rv(ctx.init_token(slot, &pin(SO_PIN), "x")),
            RvError::SessionExists
        );
    }
    // SO PIN outside the policy (4..16).
    assert_eq!(
        rv(ctx.init_token(slot, &pin("123"), "x")),
        RvError::PinLenRange
    );
    personalise(&ctx, slot);
    // Re-initialisation needs the current SO PIN.
    assert_eq!(
        rv(ctx.init_token(slot, &pin("99999999"), "x")),
        RvError::PinIncorrect
    );
    let info = ctx.get_token_info(slot).unwrap();
    assert!(info.so_pin_count_low());
    ctx.init_token(slot, &pin(SO_PIN), "again").unwrap();
    let info = ctx.get_token_info(slot).unwrap();
    assert!(
        !info.so_pin_count_low(),
        "a successful SO login restores the flags"
    );
    assert!(!info.user_pin_initialized());
    let s = ctx.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.logout().unwrap();

    // PIN length is checked before any APDU: the counter does not move.
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin("12")))),
        RvError::PinLenRange
    );
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin(&"1".repeat(17))))),
        RvError::PinLenRange
    );
    let info = ctx.get_token_info(slot).unwrap();
    assert!(!info.user_pin_count_low() && !info.user_pin_final_try() && !info.user_pin_locked());

    // Wrong PINs: count low, final try, locked.
    let mut final_seen = false;
    loop {
        let r = rv(s.login(UserType::User, Some(&pin("000000"))));
        let info = ctx.get_token_info(slot).unwrap();
        if r == RvError::PinLocked {
            assert!(info.user_pin_locked());
            assert!(!info.user_pin_final_try());
            break;
        }
        assert_eq!(r, RvError::PinIncorrect);
        assert!(info.user_pin_count_low());
        final_seen |= info.user_pin_final_try();
    }
    assert!(
        final_seen,
        "CKF_USER_PIN_FINAL_TRY was shown before the lock"
    );
    // Locked: even the right PIN is refused.
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin(USER_PIN)))),
        RvError::PinLocked
    );

    // The SO unblocks with C_InitPIN; a read-only session blocks SO login.
    {
        let ro = ctx.open_ro_session(slot).unwrap();
        assert_eq!(
            rv(s.login(UserType::So, Some(&pin(SO_PIN)))),
            RvError::SessionReadOnlyExists
        );
        drop(ro);
    }
    // A wrong SO PIN sets the SO flags; the right one clears them.
    assert_eq!(
        rv(s.login(UserType::So, Some(&pin("11112222")))),
        RvError::PinIncorrect
    );
    assert!(ctx.get_token_info(slot).unwrap().so_pin_count_low());
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert!(!ctx.get_token_info(slot).unwrap().so_pin_count_low());
    assert_eq!(
        rv(s.login(UserType::So, Some(&pin(SO_PIN)))),
        RvError::UserAlreadyLoggedIn
    );
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin(USER_PIN)))),
        RvError::UserAnotherAlreadyLoggedIn
    );
    assert_eq!(
        rv(ctx.open_ro_session(slot)),
        RvError::SessionReadWriteSoExists
    );
    assert_eq!(rv(s.init_pin(&pin("12"))), RvError::PinLenRange);
    s.init_pin(&pin("24682468")).unwrap();
    s.logout().unwrap();
    assert_eq!(rv(s.logout()), RvError::UserNotLoggedIn);
    let info = ctx.get_token_info(slot).unwrap();
    assert!(!info.user_pin_locked() && !info.user_pin_count_low());
    s.login(UserType::User, Some(&pin("24682468"))).unwrap();

    // C_SetPIN (user): new PIN within policy and different from the old one.
    assert_eq!(
        rv(s.set_pin(&pin("24682468"), &pin("24682468"))),
        RvError::PinInvalid
    );
    assert_eq!(
        rv(s.set_pin(&pin("24682468"), &pin("123"))),
        RvError::PinLenRange
    );
    assert_eq!(
        rv(s.set_pin(&pin("99999999"), &pin("13571357"))),
        RvError::PinIncorrect
    );
    assert!(ctx.get_token_info(slot).unwrap().user_pin_count_low());
    s.set_pin(&pin("24682468"), &pin("13571357")).unwrap();
    assert!(!ctx.get_token_info(slot).unwrap().user_pin_count_low());
    s.logout().unwrap();
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin("24682468")))),
        RvError::PinIncorrect
    );
    s.login(UserType::User, Some(&pin("13571357"))).unwrap();
    s.logout().unwrap();

    // C_SetPIN (SO), and read-only sessions cannot change PINs.
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.set_pin(&pin(SO_PIN), &pin("11223344")).unwrap();
    s.logout().unwrap();
    s.login(UserType::So, Some(&pin("11223344"))).unwrap();
    s.logout().unwrap();
    let ro = ctx.open_ro_session(slot).unwrap();
    assert_eq!(
        rv(ro.set_pin(&pin("13571357"), &pin("24242424"))),
        RvError::SessionReadOnly
    );
}
