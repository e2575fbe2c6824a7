//! Keys, certificates and PKCS#12 files through the tool, against the emulated token.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use epass2003_tool::error::Exit;
use epass2003_tool::secrets::{Given, Secret};

fn count(env: &Env) -> (u64, u64) {
    let j = env.run(&["info", "--json"], Given::default()).json();
    (
        j["objects"]["certificates"].as_u64().unwrap(),
        j["objects"]["public_keys"].as_u64().unwrap(),
    )
}

#[test]
fn import_pfx_with_chain_then_certs_expiring_export_delete() {
    if !have_openssl() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let env = Env::new();
    make_pki(env.dir.path(), false);
    env.init(&[]);
    let p12 = env.path("client.p12");
    let p12 = p12.to_str().unwrap();
    // Wrong password: exit 2, the token unchanged.
    let o = env.run(
        &["import", p12, "--json"],
        user().with(Secret::P12Password, "wrong"),
    );
    assert_eq!(o.exit, Exit::BadInput, "{}", o.stdout);
    assert_eq!(o.json()["error"]["reason"], "wrong_password");
    assert_eq!(count(&env), (0, 0));
    // Damaged file: exit 2, unchanged.
    let mut bytes = std::fs::read(env.path("client.p12")).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(env.path("broken.p12"), &bytes).unwrap();
    let o = env.run(
        &["import", env.path("broken.p12").to_str().unwrap()],
        user().with(Secret::P12Password, "secret"),
    );
    assert_eq!(o.exit, Exit::BadInput, "{}", o.stderr);
    assert_eq!(count(&env), (0, 0));
    // The whole chain, signature-only.
    let o = env.run(
        &[
            "import", p12, "--take", "chain", "--usage", "sign", "--json",
        ],
        user().with(Secret::P12Password, "secret"),
    );
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    let j = o.json();
    assert_eq!(j["imported"][0]["usage"], "sign");
    assert_eq!(j["imported"][0]["ca_certificates"], 2);
    assert_eq!(count(&env), (3, 1));
    // The same key again is refused before any write.
    let o = env.run(&["import", p12], user().with(Secret::P12Password, "secret"));
    assert_eq!(o.exit, Exit::NotPossible, "{}", o.stderr);
    assert_eq!(count(&env), (3, 1));

    // Details a user recognises.
    let j = env
        .run(&["certs", "list", "--json"], Given::default())
        .json();
    let certs = j["certificates"].as_array().unwrap();
    let leaf = certs
        .iter()
        .find(|c| c["private_key_on_token"] == true)
        .expect("leaf with key");
    assert_eq!(leaf["uid"], "taro");
    assert!(
        leaf["subject"].as_str().unwrap().contains("山田 太郎"),
        "{leaf}"
    );
    assert!(leaf["issuer"]
        .as_str()
        .unwrap()
        .contains("Example Issuing CA"));
    let serial = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(env.path("client.pem"))
        .output()
        .unwrap();
    let serial = String::from_utf8(serial.stdout).unwrap();
    let serial = serial.trim().trim_start_matches("serial=").to_lowercase();
    assert_eq!(
        leaf["serial"]
            .as_str()
            .unwrap()
            .replace(':', "")
            .to_lowercase(),
        serial
    );
    let id = leaf["id"].as_str().unwrap().to_string();
    let show = env
        .run(&["certs", "show", "--id", &id], Given::default())
        .stdout;
    assert!(show.contains("UID") && show.contains("taro"), "{show}");
    assert!(show.contains("SHA-256 fingerprint"), "{show}");

    // Expiry: the client certificate is valid for 10 days.
    let o = env.run(&["expiring"], Given::default());
    assert_eq!(o.exit, Exit::Expiring, "{}", o.stdout);
    assert!(o.stdout.contains("EXPIRING"), "{}", o.stdout);
    assert_eq!(
        env.run(&["expiring", "--days", "5"], Given::default()).exit,
        Exit::Ok
    );
    let o = env.run(&["expiring", "--days", "121"], Given::default());
    assert_eq!(o.exit, Exit::BadInput);
    assert!(o.stderr.contains("1..120"));
    let mut later = Env {
        dir: tempfile::tempdir().unwrap(),
        state: env.state.clone(),
        now: env.now,
        lang: env.lang,
    };
    later.now += 11 * 86_400;
    let o = later.run(&["expiring", "--json"], Given::default());
    assert_eq!(o.exit, Exit::Expired);
    assert_eq!(o.json()["expired"].as_array().unwrap().len(), 1);

    // Export: PEM equal to the file's certificate; DER to a file.
    let pem = env
        .run(&["certs", "export", "--id", &id], Given::default())
        .stdout;
    assert_eq!(
        pem.trim(),
        std::fs::read_to_string(env.path("client.pem"))
            .unwrap()
            .trim()
    );
    let der = env.path("out.der");
    let o = env.run(
        &[
            "certs",
            "export",
            "--id",
            &id,
            "--format",
            "der",
            "-o",
            der.to_str().unwrap(),
        ],
        Given::default(),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    assert_eq!(std::fs::read(&der).unwrap()[0], 0x30);

    // Delete: the key pair with its certificate; then everything.
    let o = env.run(&["delete", "key", "--id", &id, "--with-cert"], user());
    assert_eq!(o.exit, Exit::Cancelled, "asks first");
    assert_eq!(count(&env), (3, 1));
    let o = env.run(
        &["delete", "key", "--id", &id, "--with-cert", "--yes"],
        user(),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    assert_eq!(count(&env), (2, 0));
    let o = env.run(&["delete", "all", "--yes"], user());
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    assert_eq!(count(&env), (0, 0));
}

#[test]
fn legacy_and_passwordless_pfx_and_p7b() {
    if !have_openssl() {
        return;
    }
    let env = Env::new();
    make_pki(env.dir.path(), false);
    env.init(&[]);
    // No password: no prompt needed (no P12 password given at all).
    let o = env.run(
        &["import", env.path("nopass.p12").to_str().unwrap()],
        user(),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    assert_eq!(count(&env), (1, 1));
    env.run(&["delete", "all", "--yes"], user());
    let o = env.run(
        &["import", env.path("legacy.p12").to_str().unwrap(), "--json"],
        user().with(Secret::P12Password, "secret"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stdout);
    assert_eq!(o.json()["imported"][0]["usage"], "sign-exchange");
    // P7B: the two CA certificates, stored as authority certificates.
    let o = env.run(
        &["import", env.path("chain.p7b").to_str().unwrap(), "--json"],
        user(),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stdout);
    let j = o.json();
    assert_eq!(j["imported"].as_array().unwrap().len(), 2);
    assert_eq!(j["imported"][0]["authority"], true);
    // Importing them again adds nothing.
    let o = env.run(
        &["import", env.path("chain.pem").to_str().unwrap(), "--json"],
        user(),
    );
    assert_eq!(o.json()["already_present"].as_array().unwrap().len(), 2);
    assert_eq!(count(&env), (3, 1));
    // p12 show.
    let o = env.run(
        &[
            "p12",
            "show",
            env.path("legacy.p12").to_str().unwrap(),
            "--json",
        ],
        Given::default().with(Secret::P12Password, "secret"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stdout);
    assert_eq!(o.json()["certificates"].as_array().unwrap().len(), 3);
}

#[test]
fn ec_pfx_import_and_signing_key_usage() {
    if !have_openssl() {
        return;
    }
    let env = Env::new();
    make_pki(env.dir.path(), true);
    env.init(&[]);
    let o = env.run(
        &["import", env.path("client.p12").to_str().unwrap(), "--json"],
        user().with(Secret::P12Password, "secret"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stdout);
    let j = o.json();
    assert_eq!(j["imported"][0]["key"], "EC P-256");
    assert_eq!(j["imported"][0]["usage"], "sign");
    let id = j["imported"][0]["id"].as_str().unwrap().to_string();
    // The imported key signs a CSR.
    let csr = env.path("ec.csr");
    let o = env.run(
        &[
            "csr",
            "--id",
            &id,
            "--subject",
            "CN=Taro,UID=taro",
            "-o",
            csr.to_str().unwrap(),
        ],
        user(),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    openssl(
        env.dir.path(),
        &["req", "-verify", "-noout", "-in", "ec.csr"],
    );
}

#[test]
fn keygen_csr_signed_by_local_ca_and_cert_finds_its_key() {
    if !have_openssl() {
        return;
    }
    let env = Env::new();
    make_pki(env.dir.path(), false);
    env.init(&[]);
    let o = env.run(
        &["keygen", "--type", "rsa2048", "--label", "mykey", "--json"],
        user(),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    let id = o.json()["id"].as_str().unwrap().to_string();
    let o = env.run(
        &[
            "csr",
            "--id",
            &id,
            "--subject",
            "CN=Hanako Suzuki,UID=hanako,O=Example,C=JP",
            "-o",
            env.path("req.pem").to_str().unwrap(),
        ],
        user(),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    openssl(
        env.dir.path(),
        &["req", "-verify", "-noout", "-in", "req.pem"],
    );
    openssl(
        env.dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            "req.pem",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "365",
            "-out",
            "issued.pem",
        ],
    );
    let o = env.run(
        &["import", env.path("issued.pem").to_str().unwrap(), "--json"],
        user(),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stdout);
    let j = o.json();
    assert_eq!(
        j["imported"][0]["id"],
        id.as_str(),
        "the certificate gets its key's id"
    );
    assert_eq!(j["imported"][0]["label"], "mykey");
    assert_eq!(j["imported"][0]["paired_with_key"], true);
    let j = env
        .run(&["certs", "list", "--json"], Given::default())
        .json();
    assert_eq!(j["certificates"][0]["private_key_on_token"], true);
    assert_eq!(j["certificates"][0]["uid"], "hanako");
}

#[test]
fn p12_password_change_is_atomic_and_follows_policy() {
    if !have_openssl() {
        return;
    }
    let env = Env::new();
    make_pki(env.dir.path(), false);
    let f = env.path("client.p12");
    let fs = f.to_str().unwrap();
    let before = std::fs::read(&f).unwrap();
    let o = env.run(
        &["p12", "passwd", fs],
        Given::default()
            .with(Secret::P12Password, "wrong")
            .with(Secret::NewP12Password, "abcd1234"),
    );
    assert_eq!(o.exit, Exit::BadInput);
    assert_eq!(std::fs::read(&f).unwrap(), before);
    let o = env.run(
        &[
            "p12",
            "passwd",
            fs,
            "--lower-alnum",
            "--min-len",
            "4",
            "--max-len",
            "16",
        ],
        Given::default()
            .with(Secret::P12Password, "secret")
            .with(Secret::NewP12Password, "ABC-def"),
    );
    assert_eq!(o.exit, Exit::BadInput);
    assert!(o.stderr.contains("lower-case"), "{}", o.stderr);
    let o = env.run(
        &[
            "p12",
            "passwd",
            fs,
            "--lower-alnum",
            "--min-len",
            "4",
            "--max-len",
            "16",
        ],
        Given::default()
            .with(Secret::P12Password, "secret")
            .with(Secret::NewP12Password, "abcd1234"),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    openssl(
        env.dir.path(),
        &[
            "pkcs12",
            "-in",
            "client.p12",
            "-passin",
            "pass:abcd1234",
            "-noout",
        ],
    );
}

#[test]
fn into_a_chosen_key_and_replacing_a_certificate_needs_confirmation() {
    if !have_openssl() {
        return;
    }
    let env = Env::new();
    make_pki(env.dir.path(), false);
    env.init(&[]);
    let k1 = env
        .run(&["keygen", "--label", "k1", "--json"], user())
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let k2 = env
        .run(&["keygen", "--label", "k2", "--json"], user())
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let csr = env.path("k1.csr");
    assert_eq!(
        env.run(
            &[
                "csr",
                "--id",
                &k1,
                "--subject",
                "CN=k1",
                "-o",
                csr.to_str().unwrap()
            ],
            user()
        )
        .exit,
        Exit::Ok
    );
    for (days, out) in [("30", "a.pem"), ("60", "b.pem")] {
        openssl(
            env.dir.path(),
            &[
                "x509",
                "-req",
                "-in",
                "k1.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                days,
                "-out",
                out,
            ],
        );
    }
    // --into the wrong key is refused; into the right one works.
    let o = env.run(
        &["import", env.path("a.pem").to_str().unwrap(), "--into", &k2],
        user(),
    );
    assert_eq!(o.exit, Exit::BadInput, "{}", o.stderr);
    let o = env.run(
        &[
            "import",
            env.path("a.pem").to_str().unwrap(),
            "--into",
            &k1,
            "--json",
        ],
        user(),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stdout);
    assert_eq!(o.json()["imported"][0]["id"], k1.as_str());
    // A second certificate of the same key replaces the first only after confirmation.
    let o = env.run(&["import", env.path("b.pem").to_str().unwrap()], user());
    assert_eq!(o.exit, Exit::Cancelled);
    assert_eq!(count(&env).0, 1);
    let o = env.run(
        &[
            "import",
            env.path("b.pem").to_str().unwrap(),
            "--yes",
            "--json",
        ],
        user(),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stdout);
    assert_eq!(o.json()["imported"][0]["replaced"], true);
    let j = env
        .run(&["certs", "list", "--json"], Given::default())
        .json();
    let certs = j["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1);
    assert!(
        certs[0]["days_left"].as_i64().unwrap() > 50,
        "the 60-day certificate is the one kept"
    );
}

#[test]
fn pfx_without_any_password_encoding_imports_without_a_prompt() {
    if !have_openssl() {
        return;
    }
    let env = Env::new();
    make_pki(env.dir.path(), false);
    // No encryption and no MAC at all (the "absent password" form).
    openssl(
        env.dir.path(),
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "client.key",
            "-in",
            "client.pem",
            "-keypbe",
            "NONE",
            "-certpbe",
            "NONE",
            "-nomac",
            "-passout",
            "pass:",
            "-out",
            "plain.p12",
        ],
    );
    env.init(&[]);
    let o = env.run(&["import", env.path("plain.p12").to_str().unwrap()], user());
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    assert_eq!(count(&env), (1, 1));
}
