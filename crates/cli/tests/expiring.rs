//! `expiring` as a timer runs it: inside the window (7), expired (8), nothing (0); the token
//! absent and the report from the record of tokens seen ("last seen"); the `notify_*` settings
//! and mutes; and the secret sources (precedence, private files, systemd credentials, no
//! source and no terminal = exit 10 at once), the last through the real binary.
#![allow(missing_docs, clippy::unwrap_used)]

mod common;

use common::{have_openssl, make_pki, user, Env, Out, USER_PIN};
use epass2003_tool::error::Exit;
use epass2003_tool::secrets::{Given, Secret};
use epass2003_tool::{run, Runtime};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DAY: i64 = 86_400;

/// Run in-process with a configuration file's text applied; `token` false: no token at all
/// (the emulated token's state file is not configured: what an unplugged token looks like).
fn run_cfg(env: &Env, args: &[&str], conf: &str, token: bool, now: i64) -> Out {
    let mut config = env.config();
    if !token {
        config.emulator = vec![];
    }
    config.apply_file(conf);
    let mut secrets = Given::default();
    let mut confirm = |_: &str| false;
    let mut progress_lines = Vec::new();
    let mut progress = |m: &str| progress_lines.push(m.to_string());
    let mut rt = Runtime {
        config,
        secrets: &mut secrets,
        confirm: &mut confirm,
        progress: &mut progress,
        now,
        lang: env.lang,
        state_dir: Some(state_dir(env)),
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut argv = vec!["epass2003-tool"];
    argv.extend_from_slice(args);
    let exit = run(argv, &mut rt, &mut out, &mut err);
    drop(rt);
    Out {
        exit,
        stdout: String::from_utf8(out).unwrap(),
        stderr: String::from_utf8(err).unwrap(),
        progress: progress_lines,
    }
}

fn state_dir(env: &Env) -> std::path::PathBuf {
    env.dir.path().join("xdg").join("epass2003")
}

/// A token with the client certificate of `make_pki` (valid 10 days from now); its
/// (token serial, CKA_ID, certificate serial).
fn token_with_cert(env: &Env) -> (String, String, String) {
    make_pki(env.dir.path(), true);
    env.init(&[]);
    let p12 = env.path("client.p12");
    let o = env.run(
        &["import", p12.to_str().unwrap()],
        user().with(Secret::P12Password, "secret"),
    );
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    let j = env
        .run(&["certs", "list", "--json"], Given::default())
        .json();
    let c = &j["certificates"][0];
    (
        j["serial"].as_str().unwrap().to_string(),
        c["id"].as_str().unwrap().to_string(),
        c["serial"].as_str().unwrap().to_string(),
    )
}

#[test]
fn window_expired_fresh_then_the_record_when_the_token_is_absent() {
    if !have_openssl() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let env = Env::new();
    let (serial, id, cert_serial) = token_with_cert(&env);
    let now = env.now;

    // Live: inside the 14-day default window -> 7; already expired -> 8; a 5-day window -> 0.
    let o = run_cfg(&env, &["expiring", "--json"], "", true, now);
    assert_eq!(o.exit, Exit::Expiring, "{}", o.stdout);
    let j = o.json();
    assert_eq!(j["source"], "token");
    assert_eq!(j["expiring"][0]["id"], id.as_str());
    assert_eq!(
        run_cfg(&env, &["expiring"], "", true, now + 11 * DAY).exit,
        Exit::Expired
    );
    let o = run_cfg(&env, &["expiring", "--days", "5"], "", true, now);
    assert_eq!(o.exit, Exit::Ok);
    assert!(o.stdout.contains("No certificate"), "{}", o.stdout);

    // The record: 0600 in a 0700 directory, with the token and its certificate.
    let dir = state_dir(&env);
    let file = dir.join("tokens-seen.json");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&dir), 0o700);
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let t = &rec["tokens"][serial.as_str()];
    assert_eq!(t["label"], "Test token");
    assert_eq!(t["certificates"][0]["serial"], cert_serial.as_str());
    assert_eq!(t["certificates"][0]["id"], id.as_str());
    assert_eq!(t["certificates"][0]["subject_cn"], "山田 太郎");
    let seen_date = t["last_seen"].as_str().unwrap().to_string();

    // Token absent: the same exit codes, from the record, saying when it was last seen.
    let o = run_cfg(&env, &["expiring"], "", false, now + DAY);
    assert_eq!(o.exit, Exit::Expiring, "{} {}", o.stdout, o.stderr);
    assert!(o.stdout.contains("not connected"), "{}", o.stdout);
    assert!(
        o.stdout.contains(&format!("last seen {seen_date}")),
        "{}",
        o.stdout
    );
    let o = run_cfg(&env, &["expiring", "--json"], "", false, now + 11 * DAY);
    assert_eq!(o.exit, Exit::Expired);
    let j = o.json();
    assert_eq!(j["source"], "record");
    assert_eq!(j["last_seen"], seen_date.as_str());
    assert_eq!(j["serial"], serial.as_str());
    assert_eq!(j["expired"][0]["last_seen"], seen_date.as_str());
    assert_eq!(
        run_cfg(&env, &["expiring", "--days", "5"], "", false, now).exit,
        Exit::Ok
    );
    // Another serial asked for: not in the record -> no token (5), as before.
    let o = run_cfg(&env, &["expiring", "--serial", "FFFF0000"], "", false, now);
    assert_eq!(o.exit, Exit::NoToken, "{}", o.stderr);
    // A record that is not JSON: reported, replaced, never a crash (no token -> exit 5).
    std::fs::write(&file, b"{\"version\": 1, \"tokens\": [").unwrap();
    let o = run_cfg(&env, &["expiring"], "", false, now);
    assert_eq!(o.exit, Exit::NoToken);
    assert!(
        o.progress.iter().any(|l| l.contains("corrupt")),
        "{:?}",
        o.progress
    );
    // Reading the token again writes a good record.
    assert_eq!(
        run_cfg(&env, &["expiring"], "", true, now).exit,
        Exit::Expiring
    );
    assert_eq!(
        run_cfg(&env, &["expiring"], "", false, now).exit,
        Exit::Expiring
    );
}

#[test]
fn settings_window_switches_and_mutes() {
    if !have_openssl() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let env = Env::new();
    let (serial, id, cert_serial) = token_with_cert(&env);
    let now = env.now;
    // notify_days sets the window; --days wins over it.
    assert_eq!(
        run_cfg(&env, &["expiring"], "notify_days = 5\n", true, now).exit,
        Exit::Ok
    );
    assert_eq!(
        run_cfg(
            &env,
            &["expiring", "--days", "30"],
            "notify_days = 5\n",
            true,
            now
        )
        .exit,
        Exit::Expiring
    );
    // Out of range: an error stating the range, not a silent clamp.
    let o = run_cfg(&env, &["expiring"], "notify_days = 121\n", true, now);
    assert_eq!(o.exit, Exit::BadInput);
    assert!(o.stderr.contains("1..=120"), "{}", o.stderr);
    let o = run_cfg(&env, &["expiring", "--days", "0"], "", true, now);
    assert_eq!(o.exit, Exit::BadInput);
    assert!(o.stderr.contains("1..120"), "{}", o.stderr);

    // --notify: one notice naming the renew command (whether a bus shows it is the shell
    // suite's business; here, what would be shown and what is skipped).
    let notices = |conf: &str, now: i64, token: bool| {
        let o = run_cfg(&env, &["expiring", "--notify", "--json"], conf, token, now);
        o.json()["notifications"].as_array().unwrap().clone()
    };
    let n = notices("", now, true);
    assert_eq!(n.len(), 1, "{n:?}");
    let renew = format!("epass2003-tool renew --serial {serial} --id {id}");
    assert!(n[0]["body"].as_str().unwrap().contains(&renew), "{n:?}");
    assert!(n[0]["summary"].as_str().unwrap().contains("expires in"));
    assert_eq!(n[0]["renew_command"], renew.as_str());
    // Muted by certificate serial (any case, colons allowed) or by CKA_ID.
    let colons: Vec<String> = cert_serial
        .to_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    for m in [colons.join(":"), id.clone()] {
        let n = notices(&format!("notify_mute = 77, {m}\n"), now, true);
        assert_eq!(n[0]["skipped"], "muted", "{m}: {n:?}");
        assert_eq!(n[0]["shown"], false);
    }
    // Switched off per kind.
    let n = notices("notify_expiring = off\n", now, true);
    assert_eq!(n[0]["skipped"], "notify_expiring_off");
    let n = notices("notify_expiring = off\n", now + 11 * DAY, true);
    assert!(n[0].get("skipped").is_none(), "expired notices still on");
    assert!(n[0]["summary"].as_str().unwrap().contains("expired"));
    let n = notices("notify_expired = no\n", now + 11 * DAY, false);
    assert_eq!(n[0]["skipped"], "notify_expired_off");
    // From the record, the notice says when the token was last seen.
    let n = notices("", now, false);
    assert!(
        n[0]["body"].as_str().unwrap().contains("last seen"),
        "{n:?}"
    );
    // A mute changes the notice only: the report and the exit code still count it.
    let o = run_cfg(
        &env,
        &["expiring", "--notify"],
        &format!("notify_mute = {id}\n"),
        true,
        now,
    );
    assert_eq!(o.exit, Exit::Expiring);
}

// ------------------------------------------------------------------ secret sources (binary)

fn tool(env: &Env, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_epass2003-tool"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("EPASS2003_EMULATOR", &env.state)
        .env("EPASS2003_PCSC", "0")
        .env("EPASS2003_CONF", "/dev/null")
        .env("LANG", "C")
        .env("XDG_STATE_HOME", env.dir.path().join("xdg"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn exit_of(c: &mut Command) -> (i32, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout),
    )
}

fn private_file(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn secret_sources_precedence_and_no_source_no_terminal() {
    let env = Env::new();
    env.init(&[]);
    // Every command that needs a secret, with no source and no terminal: exit 10 at once,
    // the message naming the sources.
    for args in [
        &["rename", "x"][..],
        &["pin", "change"],
        &["pin", "unblock"],
        &["keygen", "--label", "k"],
        &["init", "--yes"],
    ] {
        let t0 = Instant::now();
        let (code, text) = exit_of(&mut tool(&env, args));
        assert_eq!(code, 10, "{args:?}: {text}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{args:?} hung");
        for s in ["EPASS2003_", "--secrets-file", "CREDENTIALS_DIRECTORY"] {
            assert!(text.contains(s), "{args:?}: {text}");
        }
    }
    // --secrets-file: refused while others may read it; used when private.
    let f = env.path("pin.txt");
    private_file(&f, &format!("{USER_PIN}\n"), 0o644);
    let (code, text) = exit_of(&mut tool(
        &env,
        &["rename", "a", "--secrets-file", f.to_str().unwrap()],
    ));
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("chmod 600") && text.contains("0644"),
        "{text}"
    );
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, text) = exit_of(&mut tool(
        &env,
        &["rename", "from-file", "--secrets-file", f.to_str().unwrap()],
    ));
    assert_eq!(code, 0, "{text}");
    // A systemd credential.
    let creds = env.path("creds");
    std::fs::create_dir(&creds).unwrap();
    private_file(
        &creds.join("epass2003-pin"),
        &format!("{USER_PIN}\n"),
        0o400,
    );
    let (code, text) =
        exit_of(tool(&env, &["rename", "from-cred"]).env("CREDENTIALS_DIRECTORY", &creds));
    assert_eq!(code, 0, "{text}");
    // Precedence: the variable before the file and the credential (a wrong PIN there is
    // used, and is exit 3)...
    let (code, text) = exit_of(
        tool(
            &env,
            &["rename", "y", "--secrets-file", f.to_str().unwrap()],
        )
        .env("CREDENTIALS_DIRECTORY", &creds)
        .env("EPASS2003_PIN", "99999999"),
    );
    assert_eq!(code, 3, "{text}");
    // ... and the file before the credential.
    private_file(&env.path("bad.txt"), "99999999\n", 0o600);
    let (code, text) = exit_of(
        tool(
            &env,
            &[
                "rename",
                "z",
                "--secrets-file",
                env.path("bad.txt").to_str().unwrap(),
            ],
        )
        .env("CREDENTIALS_DIRECTORY", &creds),
    );
    assert_eq!(code, 3, "{text}");
    // A file that ends before the secret asked for: said so (exit 2).
    private_file(&env.path("empty.txt"), "", 0o600);
    let (code, text) = exit_of(&mut tool(
        &env,
        &[
            "rename",
            "w",
            "--secrets-file",
            env.path("empty.txt").to_str().unwrap(),
        ],
    ));
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("ended before"), "{text}");
    let label = env.run(&["info", "--json"], Given::default()).json()["label"].clone();
    assert_eq!(label, "from-cred");
}

#[test]
fn available_says_whether_a_pin_needs_no_prompt() {
    use epass2003_tool::secrets::{Interactive, SecretSource};
    // Given (what tests and callers with the secret use).
    let g = Given::default().with(Secret::UserPin, "1");
    assert!(g.available(Secret::UserPin));
    assert!(!g.available(Secret::SoPin));
    // A private file: available; the secrets come line by line in the order asked.
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("s");
    private_file(&f, "first\nsecond\n", 0o600);
    let mut i = Interactive::with_sources(None, Some(&f)).unwrap();
    assert!(i.available(Secret::NewP12Password));
    assert_eq!(
        i.get(Secret::NewP12Password).unwrap().unwrap().as_str(),
        "first"
    );
    assert_eq!(
        i.get(Secret::NewP12Password).unwrap().unwrap().as_str(),
        "second"
    );
    assert!(i.get(Secret::NewP12Password).is_err());
    // fd and file together: refused.
    assert!(Interactive::with_sources(Some(0), Some(&f)).is_err());
    assert_eq!(Secret::UserPin.credential(), "epass2003-pin");
    assert_eq!(Secret::SoPin.credential(), "epass2003-so-pin");
}

#[test]
fn every_expiring_run_leaves_a_result_file_for_management_software() {
    if !have_openssl() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let env = Env::new();
    let (serial, _id, _cert_serial) = token_with_cert(&env);
    let file = state_dir(&env).join("result.txt");
    let read = || std::fs::read_to_string(&file).unwrap();

    let o = run_cfg(&env, &["expiring", "--json"], "", true, env.now);
    assert_eq!(o.exit, Exit::Expiring);
    let text = read();
    assert!(text.contains("Result: succeeded\n"), "{text}");
    assert!(text.contains("Code: 0\n"), "{text}");
    assert!(text.contains(&format!("Store: {serial}\n")), "{text}");
    assert!(text.starts_with("Date: "), "{text}");
    assert_eq!(o.json()["result"]["Store"], serial.as_str());
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A bad option: failed, the manual's "bad command" code, and the file says so.
    let o = run_cfg(&env, &["expiring", "--days", "0"], "", true, env.now);
    assert_eq!(o.exit, Exit::BadInput);
    let text = read();
    assert!(text.contains("Result: failed\n"), "{text}");
    assert!(text.contains("Code: 100\n"), "{text}");
}
