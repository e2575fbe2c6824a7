//! `Epass2003Token::init_token` refuses out-of-range values (stating the range) instead of
//! changing them, before any APDU; max tries 0 installs PIN keys without retry counter.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use pkcs15::backend::{BackendError, PinPolicy, PinRole, TokenBackend};

type Change = Box<dyn Fn(&mut pkcs15::backend::InitParams<'_>)>;

#[test]
fn out_of_range_init_values_are_refused_before_any_apdu() {
    let card = blank_card(7);
    let mut t = open(&card, None);
    let cases: Vec<(&str, Change, &str)> = vec![
        (
            "user_max_tries",
            Box::new(|p| p.user_max_tries = 11),
            "0..=10",
        ),
        ("so_max_tries", Box::new(|p| p.so_max_tries = 15), "0..=10"),
        (
            "auth_timeout_minutes",
            Box::new(|p| p.auth_timeout_minutes = 601),
            "0..=600",
        ),
        (
            "so_pin_min_len",
            Box::new(|p| p.so_pin_policy.min_len = 0),
            ">= 1",
        ),
        (
            "maximum length below minimum",
            Box::new(|p| {
                p.user_pin_policy = PinPolicy {
                    min_len: 9,
                    max_len: 8,
                    ..PinPolicy::default()
                }
            }),
            "",
        ),
    ];
    for (field, change, range) in cases {
        let mut p = init_params("ranges", Some(PIN));
        change(&mut p);
        let before = apdus(&card);
        match t.init_token(&p) {
            Err(BackendError::InvalidInput(m)) => {
                assert!(m.contains(field) && m.contains(range), "{field}: {m}")
            }
            other => panic!("{field}: {other:?}"),
        }
        assert_eq!(apdus(&card), before, "{field}: no APDU");
    }
}

#[test]
fn max_tries_zero_and_ten_are_installed_as_given() {
    let card = blank_card(8);
    let mut t = open(&card, None);
    let mut p = init_params("zero", Some(PIN));
    p.user_max_tries = 0;
    p.so_max_tries = 10;
    t.init_token(&p).unwrap();
    let keys = card.lock().unwrap().secret_keys();
    let tries = |kid| {
        let k = keys
            .iter()
            .find(|k| k.key_type == 4 && k.kid == kid)
            .unwrap();
        (k.max_tries, k.remaining)
    };
    assert_eq!((tries(1), tries(2)), ((0, 0), (10, 10)));
    // A wrong PIN without counter: WrongPinNoCounter, repeatedly, and nothing is counted.
    for _ in 0..12 {
        assert_eq!(
            t.login(PinRole::User, b"654321"),
            Err(BackendError::WrongPinNoCounter)
        );
    }
    // The status asks nothing for a PIN without counter.
    let before = apdus(&card);
    let s = t.pin_status(PinRole::User).unwrap();
    assert_eq!((s.tries_left, s.max_tries, apdus(&card)), (None, 0, before));
    let s = t.pin_status(PinRole::So).unwrap();
    assert_eq!((s.tries_left, s.max_tries), (Some(10), 10));
    t.login(PinRole::User, PIN).unwrap();
}
