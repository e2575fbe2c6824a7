//! The management tool in-process against the emulated token: every subcommand and its error
//! paths.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use epass2003_tool::error::Exit;
use epass2003_tool::secrets::{Given, Secret};

#[test]
fn info_of_a_blank_then_initialised_token() {
    let env = Env::new();
    let o = env.run(&["info", "--json"], Given::default());
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    let j = o.json();
    assert_eq!(j["initialized"], false);
    assert_eq!(j["layout"], "blank");
    assert_eq!(j["secure_messaging"], "AES");
    assert_eq!(j["emulated"], true);

    env.init(&[
        "--user-max-tries",
        "7",
        "--so-max-tries",
        "3",
        "--timeout",
        "30",
        "--pin-min",
        "6",
        "--pin-max",
        "12",
    ]);
    let j = env.run(&["info", "--json"], Given::default()).json();
    assert_eq!(j["initialized"], true);
    assert_eq!(j["label"], "Test token");
    assert_eq!(j["layout"], "pkcs15");
    assert_eq!(j["user_pin"]["max_tries"], 7);
    assert_eq!(j["user_pin"]["tries_left"], 7);
    assert_eq!(j["so_pin"]["max_tries"], 3);
    assert_eq!(j["so_pin"]["tries_left"], 3);
    assert_eq!(j["user_pin_policy"]["min_len"], 6);
    assert_eq!(j["user_pin_policy"]["max_len"], 12);
    assert_eq!(j["auth_timeout_minutes"], 30);
    assert!(j["memory"].is_null(), "memory is unknown, not invented");
    let text = env.run(&["info"], Given::default()).stdout;
    assert!(text.contains("7 of 7 tries left"), "{text}");
    assert!(text.contains("30 minutes"), "{text}");
}

#[test]
fn init_default_tries_are_ten_and_ranges_are_errors() {
    let env = Env::new();
    for (args, range) in [
        (vec!["--user-max-tries", "11"], "0..10"),
        (vec!["--so-max-tries", "-1"], "0..10"),
        (vec!["--timeout", "700"], "0..600"),
        (vec!["--pin-max", "256"], "1..255"),
        (vec!["--pin-min", "0"], "1..255"),
    ] {
        let mut a = vec!["init", "--yes"];
        a.extend_from_slice(&args);
        let o = env.run(
            &a,
            Given::default()
                .with(Secret::NewSoPin, SO_PIN)
                .with(Secret::NewUserPin, USER_PIN),
        );
        assert_eq!(o.exit, Exit::BadInput, "{args:?}");
        assert!(o.stderr.contains(range), "{args:?}: {}", o.stderr);
    }
    // A label that does not fit in 32 bytes of UTF-8 is refused, not cut.
    let o = env.run(
        &["init", "--yes", "--label", "あいうえおかきくけこさ"],
        Given::default(),
    );
    assert_eq!(o.exit, Exit::BadInput);
    assert!(o.stderr.contains("33 bytes"), "{}", o.stderr);
    // Declining the confirmation changes nothing.
    let o = env.run_with(
        &["init"],
        Given::default()
            .with(Secret::NewSoPin, SO_PIN)
            .with(Secret::NewUserPin, USER_PIN),
        false,
    );
    assert_eq!(o.exit, Exit::Cancelled);
    assert_eq!(
        env.run(&["info", "--json"], Given::default()).json()["initialized"],
        false
    );
    env.init(&[]);
    let j = env.run(&["info", "--json"], Given::default()).json();
    assert_eq!(j["user_pin"]["max_tries"], 10);
    assert_eq!(j["so_pin"]["max_tries"], 10);
    // Re-initialisation needs the current SO PIN; a wrong one costs a try and erases nothing.
    let o = env.run(
        &["init", "--yes", "--json"],
        Given::default()
            .with(Secret::SoPin, "00000000")
            .with(Secret::NewSoPin, SO_PIN)
            .with(Secret::NewUserPin, USER_PIN),
    );
    assert_eq!(o.exit, Exit::WrongPin, "{}", o.stdout);
    assert_eq!(o.json()["error"]["tries_left"], 9);
    assert_eq!(
        env.run(&["info", "--json"], Given::default()).json()["label"],
        "Test token"
    );
}

#[test]
fn pin_change_wrong_pin_lock_and_unblock() {
    let env = Env::new();
    env.init(&["--user-max-tries", "3", "--so-max-tries", "2"]);
    // Policy and "must differ" before any APDU.
    let o = env.run(
        &["pin", "change"],
        user().with(Secret::NewUserPin, USER_PIN),
    );
    assert_eq!(o.exit, Exit::BadInput);
    assert!(o.stderr.contains("differ"), "{}", o.stderr);
    let o = env.run(&["pin", "change"], user().with(Secret::NewUserPin, "12"));
    assert_eq!(o.exit, Exit::BadInput);
    assert!(o.stderr.contains("4..16"), "{}", o.stderr);
    // Wrong old PIN: exit 3, tries left from the card.
    let o = env.run(
        &["pin", "change", "--json"],
        Given::default()
            .with(Secret::UserPin, "99999999")
            .with(Secret::NewUserPin, "11112222"),
    );
    assert_eq!(o.exit, Exit::WrongPin);
    let j = o.json();
    assert_eq!(j["error"]["tries_left"], 2);
    assert!(j["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2 tries left"));
    assert!(!j["error"]["serial"].as_str().unwrap().is_empty());
    // Success, with a strength rating.
    let o = env.run(
        &["pin", "change", "--json"],
        user().with(Secret::NewUserPin, "Tanaka-2026!"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stdout);
    assert_eq!(o.json()["strength"], "high");
    // Lock it: three wrong PINs.
    for _ in 0..3 {
        env.run(
            &["pin", "change"],
            Given::default()
                .with(Secret::UserPin, "00000000")
                .with(Secret::NewUserPin, "11112222"),
        );
    }
    let j = env.run(&["info", "--json"], Given::default()).json();
    assert_eq!(j["user_pin"]["locked"], true, "{j}");
    let o = env.run(
        &["pin", "change"],
        Given::default()
            .with(Secret::UserPin, "Tanaka-2026!")
            .with(Secret::NewUserPin, "11112222"),
    );
    assert_eq!(o.exit, Exit::PinLocked);
    assert!(o.stderr.contains("pin unblock"), "{}", o.stderr);
    // Unblock with the SO PIN; the new PIN then works.
    let o = env.run(
        &["pin", "unblock"],
        Given::default()
            .with(Secret::SoPin, SO_PIN)
            .with(Secret::NewUserPin, "55556666"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    let o = env.run(
        &["rename", "Unblocked"],
        Given::default().with(Secret::UserPin, "55556666"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    // Lock the SO PIN: the message says what it means.
    for _ in 0..2 {
        env.run(
            &["pin", "unblock"],
            Given::default()
                .with(Secret::SoPin, "00000000")
                .with(Secret::NewUserPin, "55556666"),
        );
    }
    let o = env.run(
        &["pin", "change-so"],
        Given::default()
            .with(Secret::SoPin, SO_PIN)
            .with(Secret::NewSoPin, "11112222"),
    );
    assert_eq!(o.exit, Exit::PinLocked);
    assert!(
        o.stderr.contains("no longer be administered"),
        "{}",
        o.stderr
    );
    let text = env.run(&["info"], Given::default()).stdout;
    assert!(text.contains("SO PIN is locked"), "{text}");
}

#[test]
fn change_so_pin() {
    let env = Env::new();
    env.init(&[]);
    let o = env.run(
        &["pin", "change-so"],
        Given::default()
            .with(Secret::SoPin, SO_PIN)
            .with(Secret::NewSoPin, "13572468"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    let o = env.run(
        &["pin", "unblock"],
        Given::default()
            .with(Secret::SoPin, SO_PIN)
            .with(Secret::NewUserPin, "55556666"),
    );
    assert_eq!(o.exit, Exit::WrongPin, "the old SO PIN no longer works");
    let o = env.run(
        &["pin", "unblock"],
        Given::default()
            .with(Secret::SoPin, "13572468")
            .with(Secret::NewUserPin, "55556666"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
}

#[test]
fn rename_keeps_objects_and_takes_japanese() {
    let env = Env::new();
    env.init(&[]);
    let o = env.run(&["keygen", "--type", "ec-p256", "--label", "k1"], user());
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    let o = env.run(&["rename", "経理部のトークン"], user());
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    let j = env.run(&["info", "--json"], Given::default()).json();
    assert_eq!(j["label"], "経理部のトークン");
    assert_eq!(j["objects"]["public_keys"], 1);
    let o = env.run(&["rename", &"x".repeat(33)], user());
    assert_eq!(o.exit, Exit::BadInput);
    let o = env.run(
        &["rename", "abc"],
        Given::default().with(Secret::UserPin, "00000000"),
    );
    assert_eq!(o.exit, Exit::WrongPin);
}

#[test]
fn timeout_setting_and_range() {
    let env = Env::new();
    env.init(&[]);
    let o = env.run(&["timeout", "601"], user());
    assert_eq!(o.exit, Exit::BadInput);
    assert!(o.stderr.contains("0..600"));
    assert_eq!(env.run(&["timeout", "15"], user()).exit, Exit::Ok);
    assert_eq!(
        env.run(&["info", "--json"], Given::default()).json()["auth_timeout_minutes"],
        15
    );
}

#[test]
fn blank_token_and_missing_secrets() {
    let env = Env::new();
    // A blank token has no PIN to change: said plainly, with its own exit code.
    let o = env.run(
        &["pin", "change"],
        user().with(Secret::NewUserPin, "11112222"),
    );
    assert_eq!(o.exit, Exit::NotPossible, "{}", o.stderr);
    env.init(&[]);
    // No terminal and no variable: the error names the variable to set.
    let o = env.run(&["rename", "x"], Given::default());
    assert_eq!(o.exit, Exit::Cancelled);
    assert!(o.stderr.contains("EPASS2003_PIN"), "{}", o.stderr);
    let o = env.run(
        &["pin", "strength", "--json"],
        Given::default().with(Secret::NewUserPin, "1234"),
    );
    assert_eq!(o.json()["strength"], "low");
}

#[test]
fn no_token_anywhere() {
    use epass2003_tool::{run, Runtime};
    let mut secrets = Given::default();
    let mut confirm = |_: &str| false;
    let mut progress = |_: &str| {};
    let mut rt = Runtime {
        config: token::config::Config {
            emulator: vec![],
            pcsc: false,
            ..token::config::Config::default()
        },
        secrets: &mut secrets,
        confirm: &mut confirm,
        progress: &mut progress,
        now: 0,
        lang: epass2003_tool::i18n::Lang::En,
        state_dir: None,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = run(["epass2003-tool", "info"], &mut rt, &mut out, &mut err);
    assert_eq!(exit, Exit::NoToken);
    let err = String::from_utf8(err).unwrap();
    assert!(err.contains("pcscd"), "{err}");
}

#[test]
fn japanese_messages_same_json_and_exit_codes() {
    let mut env = Env::new();
    env.lang = epass2003_tool::i18n::Lang::Ja;
    env.init(&["--user-max-tries", "5"]);
    let text = env.run(&["info"], Given::default()).stdout;
    assert!(text.contains("残り 5 回 / 最大 5 回"), "{text}");
    assert!(text.contains("ユーザー PIN"), "{text}");
    let o = env.run(
        &["rename", "x"],
        Given::default().with(Secret::UserPin, "00000000"),
    );
    assert_eq!(o.exit, Exit::WrongPin);
    assert!(
        o.stderr.contains("正しくありません") && o.stderr.contains("4 回"),
        "{}",
        o.stderr
    );
    // JSON keys and kinds do not change with the language.
    let o = env.run(
        &["rename", "x", "--json"],
        Given::default().with(Secret::UserPin, "00000000"),
    );
    let j = o.json();
    assert_eq!(j["error"]["kind"], "wrong_pin");
    assert_eq!(j["error"]["tries_left"], 3);
    let o = env.run(&["init", "--yes", "--timeout", "601"], Given::default());
    assert_eq!(o.exit, Exit::BadInput);
    assert!(
        o.stderr.contains("範囲外") && o.stderr.contains("0..600"),
        "{}",
        o.stderr
    );
}

#[test]
fn full_width_pins_are_refused_before_any_apdu() {
    for lang in [
        epass2003_tool::i18n::Lang::En,
        epass2003_tool::i18n::Lang::Ja,
    ] {
        let mut env = Env::new();
        env.lang = lang;
        env.init(&[]);
        let o = env.run(
            &["pin", "change", "--json"],
            user().with(Secret::NewUserPin, "１２３４５"),
        );
        assert_eq!(o.exit, Exit::BadInput, "{}", o.stdout);
        let j = o.json();
        assert_eq!(j["error"]["rule"], "half_width");
        let msg = j["error"]["message"].as_str().unwrap().to_string();
        match lang {
            epass2003_tool::i18n::Lang::En => assert!(
                msg.contains("half-width letters, digits and symbols"),
                "{msg}"
            ),
            epass2003_tool::i18n::Lang::Ja => assert!(msg.contains("半角"), "{msg}"),
        }
        // No try was spent, the old PIN still works.
        let j = env.run(&["info", "--json"], Given::default()).json();
        assert_eq!(j["user_pin"]["tries_left"], 10);
        let o = env.run(
            &["init", "--yes"],
            Given::default()
                .with(Secret::SoPin, SO_PIN)
                .with(Secret::NewSoPin, "ＡＢＣＤ1234")
                .with(Secret::NewUserPin, USER_PIN),
        );
        assert_eq!(o.exit, Exit::BadInput);
    }
}

#[test]
fn erase_is_the_way_out_of_a_locked_so_pin() {
    let env = Env::new();
    env.init(&["--so-max-tries", "2", "--label", "経理"]);
    for _ in 0..2 {
        env.run(
            &["pin", "unblock"],
            Given::default()
                .with(Secret::SoPin, "00000000")
                .with(Secret::NewUserPin, "55556666"),
        );
    }
    // A normal init refuses: the SO PIN is locked, and the message names the way out.
    let o = env.run(
        &["init", "--yes"],
        Given::default()
            .with(Secret::SoPin, SO_PIN)
            .with(Secret::NewSoPin, SO_PIN)
            .with(Secret::NewUserPin, USER_PIN),
    );
    assert_eq!(o.exit, Exit::PinLocked);
    assert!(o.stderr.contains("init --erase"), "{}", o.stderr);
    // --erase asks for confirmation, then needs no current SO PIN.
    let o = env.run(
        &["init", "--erase"],
        Given::default()
            .with(Secret::NewSoPin, "11112222")
            .with(Secret::NewUserPin, "33334444"),
    );
    assert_eq!(o.exit, Exit::Cancelled);
    let o = env.run(
        &["init", "--erase", "--yes", "--json"],
        Given::default()
            .with(Secret::NewSoPin, "11112222")
            .with(Secret::NewUserPin, "33334444"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stdout);
    let j = o.json();
    assert_eq!(j["erased_without_so_pin"], true);
    assert_eq!(
        j["label"], "経理",
        "init keeps the current label unless one is given"
    );
    let j = env.run(&["info", "--json"], Given::default()).json();
    assert_eq!(j["so_pin"]["locked"], false);
    assert_eq!(j["so_pin"]["tries_left"], 10);
    assert_eq!(
        env.run(
            &["rename", "new"],
            Given::default().with(Secret::UserPin, "33334444")
        )
        .exit,
        Exit::Ok
    );
}

#[test]
fn blank_token_gets_the_default_label() {
    let env = Env::new();
    let o = env.run(
        &["init", "--yes", "--json"],
        Given::default()
            .with(Secret::NewSoPin, SO_PIN)
            .with(Secret::NewUserPin, USER_PIN),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stdout);
    assert_eq!(o.json()["label"], "ePass2003");
}

#[test]
fn diag_bundle_has_what_a_help_desk_needs_and_no_secrets() {
    let env = Env::new();
    env.init(&[]);
    let o = env.run(
        &["pin", "change"],
        user().with(Secret::NewUserPin, "Zq7-secret-PIN"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    // A failed command is the "last result".
    let o = env.run(
        &["rename", "x"],
        Given::default().with(Secret::UserPin, "Wrong-9876"),
    );
    assert_eq!(o.exit, Exit::WrongPin);
    let out = env.path("diag.json");
    // The real binary, in its own process: the debug trace must not depend on what other
    // tests of this process do with tracing at the same time.
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_epass2003-tool"))
        .args(["diag", "-o", out.to_str().unwrap()])
        .env("EPASS2003_EMULATOR", &env.state)
        .env("EPASS2003_PCSC", "0")
        .env("EPASS2003_CONF", "/dev/null")
        .env("XDG_STATE_HOME", env.path("xdg"))
        .env_remove("EPASS2003_LOG")
        .status()
        .unwrap();
    assert!(st.success(), "{st}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let j: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["token_info"]["initialized"], true, "{j}");
    assert_eq!(j["token_info"]["layout"], "pkcs15");
    assert!(
        j["token_info"]["atr"].as_str().unwrap().starts_with("3b"),
        "{j}"
    );
    assert_eq!(j["last_result"]["kind"], "wrong_pin");
    assert_eq!(j["last_result"]["command"], "rename");
    assert!(!j["slots"].as_array().unwrap().is_empty());
    assert!(
        j["trace_of_info"].as_array().unwrap().len() > 3,
        "a debug trace: {j}"
    );
    for secret in [USER_PIN, SO_PIN, "Zq7-secret-PIN", "Wrong-9876"] {
        assert!(!text.contains(secret), "{secret} leaked into the bundle");
        // Nor its hex form (a PIN in an APDU dump).
        assert!(
            !text.to_lowercase().contains(&hex::encode(secret)),
            "{secret} (hex) leaked"
        );
    }
}

#[test]
fn vendor_issued_token_pin_change_and_refusals() {
    use epass2003_emu::store::StateFile;
    use epass2003_emu::{espk, CardOptions, Variant};
    let env = Env::new();
    let card = espk::factory_card(
        Variant::Aes,
        CardOptions::default(),
        &espk::Factory::default(),
    )
    .unwrap();
    drop(StateFile::create(&env.state, &card).unwrap());
    let j = env.run(&["info", "--json"], Given::default()).json();
    assert_eq!(j["layout"], "feitian", "{j}");
    assert_eq!(j["label"], "ePass2003");
    // The owner changes the factory PIN (the layout's policy: at least 8 characters).
    let o = env.run(
        &["pin", "change"],
        Given::default()
            .with(Secret::UserPin, "12345678")
            .with(Secret::NewUserPin, "short"),
    );
    assert_eq!(o.exit, Exit::BadInput, "{}", o.stderr);
    let o = env.run(
        &["pin", "change"],
        Given::default()
            .with(Secret::UserPin, "12345678")
            .with(Secret::NewUserPin, "Yamada-2026"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    let o = env.run(
        &["pin", "change", "--json"],
        Given::default()
            .with(Secret::UserPin, "12345678")
            .with(Secret::NewUserPin, "Other-2026"),
    );
    assert_eq!(o.exit, Exit::WrongPin, "{}", o.stdout);
    // Writes are refused with their own exit code and a message naming the layout.
    let o = env.run(
        &["rename", "x"],
        Given::default().with(Secret::UserPin, "Yamada-2026"),
    );
    assert_eq!(o.exit, Exit::NotPossible, "{}", o.stderr);
    assert!(o.stderr.contains("Feitian"), "{}", o.stderr);
    // The way out is an erase (everything lost), which needs no PIN.
    let o = env.run(
        &["init", "--erase", "--yes"],
        Given::default()
            .with(Secret::NewSoPin, SO_PIN)
            .with(Secret::NewUserPin, USER_PIN),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    assert_eq!(
        env.run(&["info", "--json"], Given::default()).json()["layout"],
        "pkcs15"
    );
}

#[test]
fn locked_message_is_shown_with_pin_locked_errors() {
    use epass2003_tool::{run, Runtime};
    let env = Env::new();
    env.init(&["--user-max-tries", "1"]);
    env.run(
        &["rename", "x"],
        Given::default().with(Secret::UserPin, "00000000"),
    );
    let mut secrets = user();
    let mut confirm = |_: &str| false;
    let mut progress = |_: &str| {};
    let mut config = env.config();
    config.locked_message = Some("Call the help desk: 03-1234-5678".into());
    let mut rt = Runtime {
        config,
        secrets: &mut secrets,
        confirm: &mut confirm,
        progress: &mut progress,
        now: env.now,
        lang: epass2003_tool::i18n::Lang::En,
        state_dir: None,
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let exit = run(
        ["epass2003-tool", "rename", "y", "--json"],
        &mut rt,
        &mut out,
        &mut err,
    );
    assert_eq!(exit, Exit::PinLocked);
    let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("03-1234-5678"),
        "{j}"
    );
    assert_eq!(
        j["error"]["locked_message"],
        "Call the help desk: 03-1234-5678"
    );
}
