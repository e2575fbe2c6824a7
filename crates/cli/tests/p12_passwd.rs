//! `p12 passwd` keeps a way back: FILE.orig (never overwritten: FILE.orig.1, ...), `--output`,
//! or only with `--in-place` no backup at all.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use epass2003_tool::error::Exit;
use epass2003_tool::secrets::{Given, Secret};
use std::path::Path;

fn change(old: &str, new: &str) -> Given {
    Given::default()
        .with(Secret::P12Password, old)
        .with(Secret::NewP12Password, new)
}

/// openssl opens `file` (in `dir`) with `pass`.
fn opens(dir: &Path, file: &str, pass: &str) -> bool {
    std::process::Command::new("openssl")
        .args(["pkcs12", "-in", file, "-passin"])
        .arg(format!("pass:{pass}"))
        .args(["-noout"])
        .current_dir(dir)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn default_keeps_the_original_as_orig_and_never_overwrites_a_backup() {
    assert!(have_openssl(), "openssl is needed for this test");
    let env = Env::new();
    let d = env.dir.path();
    make_pki(d, false);
    let f = env.path("client.p12");
    let fs = f.to_str().unwrap();
    let original = std::fs::read(&f).unwrap();

    let o = env.run(
        &["p12", "passwd", fs, "--json"],
        change("secret", "first-1"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    let j = o.json();
    let orig = env.path("client.p12.orig");
    assert_eq!(j["backup"], orig.to_str().unwrap());
    assert_eq!(j["in_place"], false);
    assert_eq!(j["output"], fs);
    assert_eq!(
        std::fs::read(&orig).unwrap(),
        original,
        "the backup is the old file"
    );
    assert!(opens(d, "client.p12", "first-1"));
    assert!(!opens(d, "client.p12", "secret"));
    assert!(opens(d, "client.p12.orig", "secret"));

    // A second change: the first backup stays, the new one is FILE.orig.1; the text says where.
    let after_first = std::fs::read(&f).unwrap();
    let o = env.run(&["p12", "passwd", fs], change("first-1", "second-2"));
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    let orig1 = env.path("client.p12.orig.1");
    assert!(
        o.stdout.contains(orig1.to_str().unwrap()),
        "the text names the backup: {}",
        o.stdout
    );
    assert_eq!(
        std::fs::read(&orig).unwrap(),
        original,
        "FILE.orig untouched"
    );
    assert_eq!(std::fs::read(&orig1).unwrap(), after_first);
    assert!(opens(d, "client.p12", "second-2"));

    // A failing change (wrong old password) leaves no backup behind and the file as it was.
    let before = std::fs::read(&f).unwrap();
    let o = env.run(&["p12", "passwd", fs], change("wrong", "third-3"));
    assert_eq!(o.exit, Exit::BadInput);
    assert!(!env.path("client.p12.orig.2").exists());
    assert_eq!(std::fs::read(&f).unwrap(), before);

    // --in-place: no new backup.
    let o = env.run(
        &["p12", "passwd", fs, "--in-place", "--json"],
        change("second-2", "fourth-4"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    let j = o.json();
    assert!(j["backup"].is_null());
    assert_eq!(j["in_place"], true);
    assert!(!env.path("client.p12.orig.2").exists());
    assert!(opens(d, "client.p12", "fourth-4"));
}

#[test]
fn output_leaves_the_file_alone_and_never_overwrites() {
    assert!(have_openssl(), "openssl is needed for this test");
    let env = Env::new();
    let d = env.dir.path();
    make_pki(d, false);
    let f = env.path("client.p12");
    let fs = f.to_str().unwrap();
    let original = std::fs::read(&f).unwrap();
    let out = env.path("new.p12");
    let outs = out.to_str().unwrap();

    let o = env.run(
        &["p12", "passwd", fs, "--output", outs, "--json"],
        change("secret", "newpass1"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    let j = o.json();
    assert_eq!(j["output"], outs);
    assert!(j["backup"].is_null());
    assert_eq!(std::fs::read(&f).unwrap(), original);
    assert!(!env.path("client.p12.orig").exists(), "no backup needed");
    assert!(opens(d, "new.p12", "newpass1"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // An existing --output is refused and stays as it was.
    let kept = std::fs::read(&out).unwrap();
    let o = env.run(
        &["p12", "passwd", fs, "-o", outs],
        change("secret", "other-22"),
    );
    assert_eq!(o.exit, Exit::BadInput);
    assert!(o.stderr.contains("never overwritten"), "{}", o.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), kept);
    // No temporary file is left in the directory.
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // --output naming the file itself is refused (that is --in-place).
    let o = env.run(
        &["p12", "passwd", fs, "--output", fs],
        change("secret", "other-22"),
    );
    assert_eq!(o.exit, Exit::BadInput);
    assert!(o.stderr.contains("--in-place"), "{}", o.stderr);
    assert_eq!(std::fs::read(&f).unwrap(), original);

    // --output and --in-place together are a usage error.
    let o = env.run(
        &["p12", "passwd", fs, "--output", "x.p12", "--in-place"],
        change("secret", "other-22"),
    );
    assert_eq!(o.exit, Exit::BadInput, "{}", o.stderr);
    assert_eq!(std::fs::read(&f).unwrap(), original);
}

#[test]
fn japanese_message_names_the_backup() {
    assert!(have_openssl(), "openssl is needed for this test");
    let mut env = Env::new();
    env.lang = epass2003_tool::i18n::Lang::Ja;
    make_pki(env.dir.path(), false);
    let f = env.path("client.p12");
    let o = env.run(
        &["p12", "passwd", f.to_str().unwrap()],
        change("secret", "newpass1"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    assert!(
        o.stdout.contains("元のファイルは") && o.stdout.contains("client.p12.orig"),
        "{}",
        o.stdout
    );
}
