//! Requests a CA holds for an administrator's approval (RFC 8894 PENDING): the tool keeps the
//! key on the token and a record, `enroll --poll` finishes the request once the CA approved
//! it, `enroll --withdraw` abandons it, `certs list` shows it, a refused one has its key
//! deleted, and a pending renewal replaces the old certificate when it is finally issued.
//!
//! Debian's scepserver cannot hold a request, so the CA is the scep crate's test CA (feature
//! `testca`): a real HTTP server on 127.0.0.1 reading the messages as a CA does (signatures,
//! envelope, challenge, the poll's signer) with an approve / reject switch.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use epass2003_tool::error::Exit;
use epass2003_tool::secrets::{Given, Secret};
use scep::testca::TestCa;

const CHALLENGE: &str = "approve-me-7";

fn with_challenge() -> Given {
    user().with(Secret::Challenge, CHALLENGE)
}

fn list(env: &Env) -> serde_json::Value {
    env.run(&["--json", "certs", "list"], Given::default())
        .json()
}

#[test]
fn pending_polled_to_success_withdrawn_refused_and_a_pending_renewal() {
    let env = Env::new();
    env.init(&[]);
    let ca = TestCa::start("Approving CA", Some(CHALLENGE), 10).unwrap();
    ca.hold(true);
    let url = ca.url();
    let fp = ca.fingerprint();
    let enrol = |cn: &str| {
        env.run(
            &[
                "--json",
                "enroll",
                "--url",
                &url,
                "--ca-fingerprint",
                &fp,
                "--cn",
                cn,
            ],
            with_challenge(),
        )
    };

    // PENDING: exit 13, the key stays, the request is recorded and listed.
    let o = enrol("Hanako Sato");
    assert_eq!(o.exit, Exit::Pending, "{} {}", o.stdout, o.stderr);
    let j = o.json();
    assert_eq!(j["pending"], true);
    assert_eq!(j["recorded"], true);
    assert_eq!(j["request"], "PKCSReq");
    let txid = j["transaction_id"].as_str().unwrap().to_string();
    let key_id = j["key_id"].as_str().unwrap().to_string();
    assert_eq!(ca.waiting(), vec![txid.clone()]);
    assert_eq!(public_keys(&env), 1, "the key pair stays on the token");
    let l = list(&env);
    assert_eq!(l["certificates"].as_array().unwrap().len(), 0);
    assert_eq!(l["pending"][0]["transaction_id"], txid.as_str());
    assert_eq!(l["pending"][0]["key_id"], key_id.as_str());
    assert_eq!(l["pending"][0]["subject"], "CN=Hanako Sato");
    let text = env.run(&["certs", "list"], Given::default()).stdout;
    assert!(
        text.contains("Pending request") && text.contains(&txid),
        "{text}"
    );
    assert!(result_file(&env).contains("Result: failed\n"));

    // Polled before approval: still pending (no URL needed: the record has it).
    let o = env.run(&["--json", "enroll", "--poll"], user());
    assert_eq!(o.exit, Exit::Pending, "{} {}", o.stdout, o.stderr);
    assert_eq!(ca.seen(), ["19", "20"]);

    // Approved, polled: the certificate is stored with the key; the record is gone.
    assert!(ca.approve(&txid));
    let o = env.run(&["--json", "enroll", "--poll"], user());
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    let j = o.json();
    assert_eq!(j["polled"], true);
    assert_eq!(j["id"], key_id.as_str());
    assert_eq!(j["issued"]["cn"], "Hanako Sato");
    let serial1 = j["issued"]["serial"].as_str().unwrap().to_string();
    assert_eq!(ca.seen(), ["19", "20", "20"]);
    let l = list(&env);
    assert_eq!(l["pending"].as_array().unwrap().len(), 0);
    let c = &l["certificates"][0];
    assert_eq!(c["id"], key_id.as_str());
    assert_eq!(c["private_key_on_token"], true);
    assert!(result_file(&env).contains("Result: succeeded\n"));
    assert!(result_file(&env).contains("CN: Hanako Sato\n"));
    // Nothing left to poll.
    let o = env.run(&["--json", "enroll", "--poll"], user());
    assert_eq!(o.exit, Exit::NotPossible, "{}", o.stdout);

    // Withdrawn: the key pair made for it is deleted, the record too.
    let o = enrol("Withdrawn One");
    assert_eq!(o.exit, Exit::Pending, "{}", o.stdout);
    let wid = o.json()["key_id"].as_str().unwrap().to_string();
    assert_eq!(public_keys(&env), 2);
    let o = env.run(&["--json", "enroll", "--withdraw", "--id", &wid], user());
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    assert_eq!(o.json()["key_deleted"], true);
    assert_eq!(public_keys(&env), 1);
    assert_eq!(list(&env)["pending"].as_array().unwrap().len(), 0);
    // --id without --poll / --withdraw is refused by the command line.
    let o = env.run(&["enroll", "--id", &wid], user());
    assert_eq!(o.exit, Exit::BadInput);

    // Refused by the CA on a poll: exit 15, the key pair made for it deleted.
    let o = enrol("Refused One");
    assert_eq!(o.exit, Exit::Pending, "{}", o.stdout);
    let rtx = o.json()["transaction_id"].as_str().unwrap().to_string();
    assert!(ca.reject(&rtx));
    let o = env.run(&["--json", "enroll", "--poll"], user());
    assert_eq!(o.exit, Exit::ServerRefused, "{}", o.stdout);
    assert_eq!(o.json()["error"]["fail_info"], "badRequest");
    assert_eq!(o.json()["error"]["key_deleted"], true);
    assert_eq!(public_keys(&env), 1);
    assert_eq!(list(&env)["pending"].as_array().unwrap().len(), 0);

    // A renewal held for approval: the old certificate stays until the new one comes; a
    // second `renew` reports the pending one instead of sending another request.
    let o = env.run(
        &["--json", "renew", "--force", "--id", &key_id],
        with_challenge(),
    );
    assert_eq!(o.exit, Exit::Pending, "{} {}", o.stdout, o.stderr);
    let j = o.json();
    assert_eq!(j["request"], "RenewalReq");
    assert_eq!(j["replaces"], key_id.as_str());
    let new_id = j["key_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, key_id);
    let ntx = j["transaction_id"].as_str().unwrap().to_string();
    let sent = ca.seen().len();
    let o = env.run(
        &["--json", "renew", "--force", "--id", &key_id],
        with_challenge(),
    );
    assert_eq!(o.exit, Exit::Pending, "{}", o.stdout);
    assert_eq!(o.json()["transaction_id"], ntx.as_str());
    assert_eq!(ca.seen().len(), sent, "no second request was sent");
    assert_eq!(public_keys(&env), 2);
    assert_eq!(list(&env)["certificates"][0]["serial"], serial1.as_str());
    assert!(ca.approve(&ntx));
    let o = env.run(&["--json", "enroll", "--poll"], user());
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    let j = o.json();
    assert_eq!(j["request"], "RenewalReq");
    assert_eq!(j["replaced"]["removed"], true);
    let l = list(&env);
    let certs = l["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1, "{l}");
    assert_eq!(certs[0]["id"], new_id.as_str());
    assert_ne!(certs[0]["serial"], serial1.as_str());
    assert_eq!(
        public_keys(&env),
        1,
        "the old key pair went with the old certificate"
    );
    // The renewed certificate renews again from the record (URL and fingerprint).
    ca.hold(false);
    let o = env.run(&["--json", "renew", "--force"], with_challenge());
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    assert_eq!(ca.seen().last(), Some(&"17"));

    // `enroll` for a subject the token already holds a valid certificate for from this CA
    // renews that one (RenewalReq, signed by it); --new enrols a second.
    let o = enrol("Hanako Sato");
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    assert_eq!(o.json()["renewed_existing"], true);
    assert_eq!(o.json()["request"], "RenewalReq");
    assert_eq!(list(&env)["certificates"].as_array().unwrap().len(), 1);
    assert_eq!(public_keys(&env), 1);
    let o = env.run(
        &[
            "--json",
            "enroll",
            "--url",
            &url,
            "--ca-fingerprint",
            &fp,
            "--cn",
            "Hanako Sato",
            "--new",
        ],
        with_challenge(),
    );
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    assert_eq!(o.json()["request"], "PKCSReq");
    assert_eq!(list(&env)["certificates"].as_array().unwrap().len(), 2);
    // The host name as the CN (a device certificate).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let o = env.run(
        &[
            "--json",
            "enroll",
            "--url",
            &url,
            "--ca-fingerprint",
            &fp,
            "--host-cn",
        ],
        with_challenge(),
    );
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    assert_eq!(o.json()["issued"]["cn"], host.trim());
    assert_eq!(public_keys(&env), 3);

    // --trust-ca user: the CA into the user's NSS database (~/.pki/nssdb, made here), after
    // confirmation; not confirmed, nothing is added.
    let home = env.path("home");
    std::env::set_var("HOME", &home);
    let trusting = |yes: bool, cn: &str| {
        let mut args = vec!["--json"];
        if yes {
            args.push("--yes");
        }
        args.extend_from_slice(&[
            "enroll",
            "--url",
            &url,
            "--ca-fingerprint",
            &fp,
            "--cn",
            cn,
            "--trust-ca",
            "user",
        ]);
        env.run(&args, with_challenge())
    };
    let o = trusting(false, "Not Trusting");
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    assert_eq!(o.json()["trust_ca"]["reason"], "not_confirmed");
    assert!(!home.join(".pki/nssdb").exists());
    let o = trusting(true, "Trusting");
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    assert_eq!(o.json()["trust_ca"]["done"], true, "{}", o.stdout);
    let l = std::process::Command::new("certutil")
        .args(["-L", "-d"])
        .arg(format!("sql:{}", home.join(".pki/nssdb").display()))
        .output()
        .expect("certutil (Debian package libnss3-tools)");
    let listing = String::from_utf8_lossy(&l.stdout);
    let line = listing
        .lines()
        .find(|l| l.starts_with("Approving CA ("))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(line.trim_end().ends_with("C,,"), "{line}");
    assert_eq!(public_keys(&env), 5);

    // A --cacert file that cannot be used: a clear error before anything is sent.
    std::fs::write(env.path("junk.pem"), b"not a certificate").unwrap();
    let https = url.replace("http://", "https://");
    for f in [env.path("junk.pem"), env.path("missing.pem")] {
        let f = f.display().to_string();
        let o = env.run(
            &[
                "--json",
                "enroll",
                "--url",
                &https,
                "--ca-fingerprint",
                &fp,
                "--cacert",
                &f,
                "--host-cn",
            ],
            with_challenge(),
        );
        assert_eq!(o.exit, Exit::BadInput, "{}", o.stdout);
        assert!(o.stdout.contains(&f), "{}", o.stdout);
    }
    // The test CA speaks plain HTTP: over https:// the handshake fails, reported as TLS.
    let o = env.run(
        &[
            "--json",
            "enroll",
            "--url",
            &https,
            "--ca-fingerprint",
            &fp,
            "--cn",
            "x",
        ],
        with_challenge(),
    );
    assert_eq!(o.exit, Exit::ServerUnreachable, "{}", o.stdout);
    assert_eq!(public_keys(&env), 5);
}
