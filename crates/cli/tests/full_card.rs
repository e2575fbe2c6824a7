//! A full token: `import` of a PKCS#12 with its chain on a token whose memory runs out fails
//! with exit 11 (`token_full`) and leaves the token exactly as it was (objects and memory),
//! whichever write ran out of memory. The emulated token's capacity is set in its state file.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use epass2003_emu::store::StateFile;
use epass2003_emu::{Card, CardOptions, Variant};
use epass2003_tool::error::Exit;
use epass2003_tool::secrets::{Given, Secret};

/// A blank emulated token in `path` with this capacity.
fn new_token(path: &Path, capacity: u32) {
    let card = Card::new_blank(
        Variant::Aes,
        CardOptions {
            capacity: Some(capacity),
            ..CardOptions::default()
        },
    );
    StateFile::create(path, &card).unwrap();
}

/// The token's memory used, from its state file.
fn used(path: &Path) -> usize {
    StateFile::peek(path).unwrap().memory_used()
}

/// Sets the capacity kept in the state file (no tool run may hold it).
fn set_capacity(path: &Path, bytes: usize) {
    let (mut file, mut card) = StateFile::open(path).unwrap();
    card.set_capacity(Some(bytes as u32)).unwrap();
    file.save(&card.to_state_bytes()).unwrap();
}

fn objects(env: &Env) -> serde_json::Value {
    let o = env.run(&["info", "--json"], Given::default());
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    o.json()["objects"].clone()
}

fn import_chain(env: &Env) -> common::Out {
    let p12 = env.path("client.p12");
    env.run(
        &["import", p12.to_str().unwrap(), "--take", "chain", "--json"],
        user().with(Secret::P12Password, "secret"),
    )
}

#[test]
fn import_on_a_full_token_is_exit_11_and_changes_nothing() {
    if !have_openssl() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let env = Env::new();
    make_pki(env.dir.path(), false);
    new_token(&env.state, 64 * 1024);
    env.init(&[]);

    // Fill the token with EC keys until the memory is full (exit 11).
    set_capacity(&env.state, used(&env.state) + 700);
    let mut keys = 0;
    loop {
        let label = format!("fill {keys}");
        let o = env.run(&["keygen", "--type", "ec-p256", "--label", &label], user());
        if o.exit == Exit::TokenFull {
            assert!(o.stderr.contains("memory is full"), "{}", o.stderr);
            break;
        }
        assert_eq!(o.exit, Exit::Ok, "keygen {keys}: {} {}", o.stdout, o.stderr);
        keys += 1;
        assert!(keys < 8, "the token never filled up");
    }
    assert!(keys >= 1, "not even one key fitted");
    let objs = objects(&env);
    assert_eq!(objs["public_keys"], keys);
    let full = used(&env.state);

    // What the import needs: run it on a copy of the full token with room to spare.
    let spare = Env::new();
    std::fs::copy(&env.state, &spare.state).unwrap();
    std::fs::copy(env.path("client.p12"), spare.path("client.p12")).unwrap();
    set_capacity(&spare.state, 64 * 1024);
    let before_spare = used(&spare.state);
    let o = import_chain(&spare);
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    let need = used(&spare.state) - before_spare;
    assert!(need > 2000, "the import took only {need} bytes");

    // The import fails with exit 11 wherever it runs out: at its first write, or after some of
    // its files were written (they are removed again). Each time the token is as before.
    for free in [0, 100, need / 4, need / 2, 3 * need / 4, need - 1] {
        set_capacity(&env.state, full + free);
        let o = import_chain(&env);
        assert_eq!(
            o.exit,
            Exit::TokenFull,
            "{free} bytes free: {} {}",
            o.stdout,
            o.stderr
        );
        let j = o.json();
        assert_eq!(j["error"]["kind"], "token_full", "{j}");
        assert_eq!(j["error"]["exit_code"], 11);
        assert_eq!(
            objects(&env),
            objs,
            "objects after a full import ({free} free)"
        );
        assert_eq!(
            used(&env.state),
            full,
            "memory after a full import ({free} free)"
        );
    }

    // With exactly enough room the same import succeeds (nothing half-written stands in its
    // way), and the token is then exactly full.
    set_capacity(&env.state, full + need);
    let o = import_chain(&env);
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    let after = objects(&env);
    assert_eq!(after["certificates"], 3);
    assert_eq!(after["public_keys"], keys + 1);
    assert_eq!(used(&env.state), full + need);
}
