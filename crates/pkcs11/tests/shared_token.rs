//! One embedded emulated token used by several processes at once (issue 11): processes sign,
//! import objects and list at the same time while this one keeps the module open; two present a
//! wrong PIN at the same moment (the counter ends at exactly max − 2); one is killed (SIGKILL)
//! while it writes, and nothing it was told was written is lost, nor is the file corrupt.
//!
//! The children are this test binary re-executed with `SHARED_TOKEN_ROLE` set (the `child`
//! test below does nothing otherwise).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use epass2003_emu::store::StateFile;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROLE: &str = "SHARED_TOKEN_ROLE";
const DIR: &str = "SHARED_TOKEN_DIR";
const P256: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

fn state(dir: &Path) -> PathBuf {
    dir.join("card.state")
}

fn wait_for(p: &Path, what: &str) {
    let t = Instant::now();
    while !p.exists() {
        assert!(t.elapsed() < Duration::from_secs(60), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn spawn(dir: &Path, role: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(DIR, dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("stderr-{role}"))).unwrap())
        .spawn()
        .unwrap()
}

fn finish(mut c: Child, dir: &Path, role: &str) {
    let status = c.wait().unwrap();
    let err = std::fs::read_to_string(dir.join(format!("stderr-{role}"))).unwrap_or_default();
    assert!(status.success(), "child {role} failed: {err}");
}

fn key(s: &Session) -> ObjectHandle {
    let keys = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(vec![0x51]),
        ])
        .unwrap();
    assert_eq!(keys.len(), 1);
    keys[0]
}

fn data_labels(s: &Session) -> Vec<String> {
    let found = s
        .find_objects(&[Attribute::Class(ObjectClass::DATA)])
        .unwrap();
    let mut labels: Vec<String> = found
        .into_iter()
        .map(|o| {
            match s
                .get_attributes(o, &[AttributeType::Label])
                .unwrap()
                .remove(0)
            {
                Attribute::Label(l) => String::from_utf8(l).unwrap(),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    labels.sort();
    labels
}

fn import(s: &Session, label: &str) {
    s.create_object(&[
        Attribute::Class(ObjectClass::DATA),
        Attribute::Token(true),
        Attribute::Label(label.into()),
        Attribute::Value(label.as_bytes().to_vec()),
    ])
    .unwrap();
}

/// The child processes' entry point (a no-op in a normal test run).
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    let file = state(&dir);
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    let (kind, n) = role.split_once('-').unwrap();
    match kind {
        // Log in, say so, then sign and list until told to stop (no second login: a correct
        // PIN would reset the retry counter the wrong-PIN children count down).
        "signer" => {
            let s = user_session(&ctx, slot);
            std::fs::write(dir.join(format!("ready-{role}")), b"").unwrap();
            let k = key(&s);
            let mut signed = 0;
            while signed < 10 || !dir.join("stop").exists() {
                let sig = s.sign(&Mechanism::Ecdsa, k, &[7u8; 32]).unwrap();
                assert_eq!(sig.len(), 64);
                data_labels(&s);
                signed += 1;
            }
        }
        // Log in, then import objects (each listed afterwards), reporting each done import.
        "importer" => {
            let s = user_session(&ctx, slot);
            std::fs::write(dir.join(format!("ready-{role}")), b"").unwrap();
            for i in 0..2 {
                let label = format!("{role}-{i}");
                import(&s, &label);
                assert!(data_labels(&s).contains(&label));
            }
        }
        // Present a wrong PIN when told to, at the same moment as the other one.
        "wrongpin" => {
            let s = ctx.open_rw_session(slot).unwrap();
            wait_for(&dir.join("go"), "go");
            assert_eq!(
                rv(s.login(UserType::User, Some(&pin("000000")))),
                cryptoki::error::RvError::PinIncorrect
            );
        }
        // Create and delete an object without end, appending "created N" / "deleted N" to
        // `done` once the call returned: the parent kills this process at some point.
        "victim" => {
            let s = user_session(&ctx, slot);
            let record = |line: String| {
                let mut done = std::fs::read_to_string(dir.join("done")).unwrap_or_default();
                done.push_str(&line);
                done.push('\n');
                std::fs::write(dir.join("done.tmp"), done).unwrap();
                std::fs::rename(dir.join("done.tmp"), dir.join("done")).unwrap();
            };
            for i in 0.. {
                let label = format!("victim-{i}");
                import(&s, &label);
                record(format!("created {i}"));
                let o = s
                    .find_objects(&[Attribute::Label(label.into_bytes())])
                    .unwrap();
                s.destroy_object(o[0]).unwrap();
                record(format!("deleted {i}"));
            }
        }
        other => panic!("unknown role {other} {n}"),
    }
}

/// The user PIN key's (remaining, max) tries, read from the state file.
fn user_pin_tries(file: &Path) -> Vec<(u8, u8)> {
    StateFile::peek(file)
        .unwrap()
        .secret_keys()
        .into_iter()
        .filter(|k| k.max_tries > 0 && (k.key_type == 0x04 || k.key_type == 0x06))
        .map(|k| (k.remaining, k.max_tries))
        .collect()
}

#[test]
fn processes_share_one_token() {
    if std::env::var_os(ROLE).is_some() {
        return;
    }
    let dir = tempdir();
    let file = state(dir.path());
    // This process keeps the module (and a logged-in session) open all along.
    let ctx = load(&[&file]);
    let slot = ctx.get_slots_with_token().unwrap()[0];
    personalise(&ctx, slot);
    let s = user_session(&ctx, slot);
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[Attribute::EcParams(P256.to_vec()), Attribute::Token(true)],
        &[
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sign(true),
            Attribute::Id(vec![0x51]),
        ],
    )
    .unwrap();
    let tries_before = user_pin_tries(&file);
    assert!(tries_before.iter().all(|(r, m)| r == m), "{tries_before:?}");

    let started = Instant::now();
    let roles = ["signer-1", "signer-2", "importer-1", "importer-2"];
    let busy: Vec<Child> = roles.iter().map(|r| spawn(dir.path(), r)).collect();
    let wrong: Vec<Child> = ["wrongpin-1", "wrongpin-2"]
        .iter()
        .map(|r| spawn(dir.path(), r))
        .collect();
    for r in roles {
        wait_for(&dir.path().join(format!("ready-{r}")), r);
    }
    // Every logged-in child is past its C_Login: the two wrong PINs go at once, while the
    // others keep signing and importing.
    std::fs::write(dir.path().join("go"), b"").unwrap();
    for (c, r) in wrong.into_iter().zip(["wrongpin-1", "wrongpin-2"]) {
        finish(c, dir.path(), r);
    }
    // This process signs meanwhile too, with its own login, untouched by the wrong PINs.
    let sig = s.sign(&Mechanism::Ecdsa, key(&s), &[1u8; 32]).unwrap();
    assert_eq!(sig.len(), 64);
    std::fs::write(dir.path().join("stop"), b"").unwrap();
    for (c, r) in busy.into_iter().zip(roles) {
        finish(c, dir.path(), r);
    }
    // Not one decrement lost: exactly max − 2.
    let tries = user_pin_tries(&file);
    let lowered: Vec<_> = tries.iter().filter(|(r, m)| r != m).collect();
    assert_eq!(lowered.len(), 1, "{tries:?}");
    assert_eq!(lowered[0].0 + 2, lowered[0].1, "{tries:?}");
    // This process sees every other process's objects at its next operation.
    let mut expected: Vec<String> = ["importer-1", "importer-2"]
        .iter()
        .flat_map(|r| (0..2).map(move |i| format!("{r}-{i}")))
        .collect();
    expected.sort();
    assert_eq!(data_labels(&s), expected);
    eprintln!("shared phase: {:?}", started.elapsed());

    // A process killed while it writes: no corrupt state, nothing it completed is lost.
    let victim = spawn(dir.path(), "victim-1");
    let done = dir.path().join("done");
    let t = Instant::now();
    while std::fs::read_to_string(&done)
        .map(|d| d.lines().count())
        .unwrap_or(0)
        < 5
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "victim made no progress"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(7));
    let mut victim = victim;
    victim.kill().unwrap();
    victim.wait().unwrap();
    StateFile::peek(&file).expect("state file intact after SIGKILL");
    // What the victim finished is there; at most the one operation it was killed in (or
    // had not yet recorded) is ahead of its record.
    let last = std::fs::read_to_string(&done).unwrap();
    let last = last.lines().last().unwrap().to_string();
    let (op, n) = last.split_once(' ').unwrap();
    let n: u32 = n.parse().unwrap();
    let victims: Vec<String> = data_labels(&s)
        .into_iter()
        .filter(|l| l.starts_with("victim-"))
        .collect();
    let ok = match op {
        "created" => victims == [format!("victim-{n}")] || victims.is_empty(),
        _ => victims.is_empty() || victims == [format!("victim-{}", n + 1)],
    };
    assert!(ok, "after \"{last}\" the token holds {victims:?}");
    // The token keeps working for this process (the lock died with the victim).
    import(&s, "after-kill");
    assert!(data_labels(&s).contains(&"after-kill".to_string()));
    s.sign(&Mechanism::Ecdsa, key(&s), &[2u8; 32]).unwrap();
    eprintln!("total: {:?}", started.elapsed());
}

#[test]
fn unusable_state_file_is_device_error_reported_once() {
    if std::env::var_os(ROLE).is_some() {
        return;
    }
    let dir = tempdir();
    let file = state(dir.path());
    std::fs::write(&file, b"EPASS2003-EMU-STATE 1 5 00\nhello").unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "corrupt_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, "corrupt-1")
        .env(DIR, dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let lines: Vec<_> = err
        .lines()
        .filter(|l| l.contains("emulated token unavailable"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("corrupt"), "{err}");
}

/// Child of the test above: three calls, each CKR_DEVICE_ERROR.
#[test]
fn corrupt_child() {
    if std::env::var(ROLE).ok().as_deref() != Some("corrupt-1") {
        return;
    }
    let file = state(Path::new(&std::env::var(DIR).unwrap()));
    let ctx = load(&[&file]);
    let slot = ctx.get_all_slots().unwrap()[0];
    for _ in 0..3 {
        assert_eq!(
            rv(ctx.get_token_info(slot)),
            cryptoki::error::RvError::DeviceError
        );
    }
}
