//! `enroll` and `renew` against Debian's real SCEP server (micromdm's `/usr/bin/scepserver`,
//! package `scep`) started here on 127.0.0.1, onto the in-process emulated token: the key
//! pair generated on the card, the request signed and the reply decrypted there.
//!
//! The CA issues 10-day certificates, so a fresh one is inside the default 14-day notice
//! window (renew is due) and outside a 5-day one (renew is "not due", exit 12).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use epass2003_tool::error::Exit;
use epass2003_tool::secrets::{Given, Secret};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SERVER: &str = "/usr/bin/scepserver";
const CHALLENGE: &str = "one-time-Challenge-42";

/// A running scepserver (killed on drop) over a depot that outlives restarts.
struct Server {
    child: Option<Child>,
    port: u16,
    depot: std::path::PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Option<Server> {
        if !Path::new(SERVER).exists() {
            eprintln!("SKIP: {SERVER} is missing (Debian package scep)");
            return None;
        }
        let depot = dir.join("depot");
        let st = Command::new(SERVER)
            .args(["ca", "-init", "-keySize", "2048", "-depot"])
            .arg(&depot)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "scepserver ca -init failed");
        let mut s = Server {
            child: None,
            port: 0,
            depot,
        };
        s.restart();
        Some(s)
    }

    fn restart(&mut self) {
        self.stop();
        self.port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(SERVER)
            .arg("-depot")
            .arg(&self.depot)
            .args(["-port", &self.port.to_string(), "-challenge", CHALLENGE])
            .args(["-allowrenew", "0", "-crtvalid", "10"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "scepserver did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/scep", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn with_challenge(c: &str) -> Given {
    user().with(Secret::Challenge, c)
}

/// (serial, id) of each certificate on the token, in order.
fn certs(env: &Env) -> Vec<(String, String, bool)> {
    let j = env
        .run(&["certs", "list", "--json"], Given::default())
        .json();
    j["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["serial"].as_str().unwrap().to_string(),
                c["id"].as_str().unwrap().to_string(),
                c["private_key_on_token"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

#[test]
fn enrol_renew_and_every_refusal_against_a_real_scep_server() {
    let env = Env::new();
    let Some(mut srv) = Server::start(env.dir.path()) else {
        return;
    };
    env.init(&[]);
    let url = srv.url();
    let enrol = |extra: &[&str], secrets: Given| {
        let mut args = vec!["--json", "enroll", "--url", &url, "--cn", "Taro Yamada"];
        args.extend_from_slice(extra);
        env.run(&args, secrets)
    };

    // Nobody to ask and no fingerprint: refused before anything is written.
    let o = enrol(&[], with_challenge(CHALLENGE));
    assert_eq!(o.exit, Exit::CaNotTrusted, "{}", o.stdout);
    let fp = o.json()["error"]["ca_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fp.len(), 64, "{fp}");
    let o = enrol(
        &["--ca-fingerprint", &"00".repeat(32)],
        with_challenge(CHALLENGE),
    );
    assert_eq!(o.exit, Exit::CaNotTrusted, "{}", o.stdout);
    assert!(certs(&env).is_empty());
    assert_eq!(public_keys(&env), 0);

    // A wrong challenge: the server's refusal, and the generated key is gone again.
    let o = enrol(&["--ca-fingerprint", &fp], with_challenge("wrong"));
    assert_eq!(o.exit, Exit::ServerRefused, "{}", o.stdout);
    assert_eq!(o.json()["error"]["kind"], "server_refused");
    assert!(
        o.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{}",
        o.stdout
    );
    assert!(certs(&env).is_empty());
    assert_eq!(
        public_keys(&env),
        0,
        "the key pair of a refused request is deleted"
    );
    assert!(result_file(&env).contains("Result: failed\nCode: 300\n"));

    // Interactively: the fingerprint is shown and the answer is yes. With the CA chain.
    let mut args = vec![
        "--json",
        "enroll",
        "--url",
        &url,
        "--cn",
        "Taro Yamada",
        "--chain",
    ];
    args.extend_from_slice(&["--email", "taro@example.jp"]);
    let o = env.run_with(&args, with_challenge(CHALLENGE), true);
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    let j = o.json();
    assert_eq!(j["issued"]["cn"], "Taro Yamada");
    assert_eq!(j["request"], "PKCSReq");
    assert_eq!(j["ca_fingerprint"], fp.as_str());
    let id1 = j["id"].as_str().unwrap().to_string();
    let serial1 = j["issued"]["serial"].as_str().unwrap().to_string();
    let on = certs(&env);
    assert_eq!(on.len(), 2, "the issued certificate and the CA's: {on:?}");
    assert!(on.contains(&(serial1.clone(), id1.clone(), true)), "{on:?}");
    let text = result_file(&env);
    assert!(text.contains("Result: succeeded\n"), "{text}");
    assert!(text.contains("CN: Taro Yamada\n"), "{text}");
    assert!(text.contains(&format!("S/N: {serial1}\n")), "{text}");
    assert!(text.contains("Expires: "), "{text}");
    assert_eq!(j["result"]["CN"], "Taro Yamada");

    // Renew: outside a 5-day window it is not due and nothing changes (no PIN needed).
    let renew = |extra: &[&str], secrets: Given| {
        let mut args = vec!["--json", "renew", "--url", &url, "--ca-fingerprint", &fp];
        args.extend_from_slice(extra);
        env.run(&args, secrets)
    };
    let o = renew(&["--days", "5", "--id", &id1], Given::default());
    assert_eq!(o.exit, Exit::NotDue, "{}", o.stdout);
    assert_eq!(o.json()["due"], false);
    assert!(result_file(&env).contains("Result: no executed\nCode: 110\n"));
    let o = renew(&["--days", "121"], Given::default());
    assert_eq!(o.exit, Exit::BadInput, "{}", o.stdout);
    assert_eq!(certs(&env).len(), 2);

    // Due in the default 14-day window: a new key pair, the old certificate and key removed.
    let o = renew(&[], with_challenge(CHALLENGE));
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    let j = o.json();
    assert_eq!(j["new_key"], true);
    assert_eq!(
        j["request"], "RenewalReq",
        "the server offers Renewal: signed by the old key"
    );
    assert_eq!(j["replaced"]["removed"], true);
    let id2 = j["id"].as_str().unwrap().to_string();
    let serial2 = j["issued"]["serial"].as_str().unwrap().to_string();
    assert_ne!(id2, id1);
    assert_ne!(serial2, serial1);
    let on = certs(&env);
    assert_eq!(on.len(), 2, "{on:?}");
    assert!(on.contains(&(serial2.clone(), id2.clone(), true)), "{on:?}");
    assert!(!on.iter().any(|c| c.1 == id1), "{on:?}");
    assert_eq!(public_keys(&env), 1, "the old key pair is gone");

    // Renew reusing the key (forced), with no --url and no --ca-fingerprint: the command a
    // notice names (`renew --serial S --id I`) finds both in the record of the enrolment.
    let serial = env.run(&["--json", "info"], Given::default()).json()["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let o = env.run(
        &[
            "--json",
            "renew",
            "--serial",
            &serial,
            "--id",
            &id2,
            "--force",
            "--reuse-key",
        ],
        with_challenge(CHALLENGE),
    );
    assert_eq!(o.exit, Exit::Ok, "{} {}", o.stdout, o.stderr);
    let j = o.json();
    assert_eq!(j["new_key"], false);
    assert_eq!(j["id"], id2.as_str());
    let serial3 = j["issued"]["serial"].as_str().unwrap().to_string();
    assert_ne!(serial3, serial2);
    let on = certs(&env);
    assert!(on.contains(&(serial3.clone(), id2.clone(), true)), "{on:?}");
    assert_eq!(on.len(), 2, "{on:?}");
    assert_eq!(public_keys(&env), 1);
    // A certificate the tool did not enrol, with no --url: a clear error.
    let ca_id = on.iter().find(|c| !c.2).unwrap().1.clone();
    let o = env.run(
        &["--json", "renew", "--force", "--id", &ca_id],
        with_challenge(CHALLENGE),
    );
    assert_eq!(o.exit, Exit::BadInput, "{}", o.stdout);
    assert!(o.stdout.contains("--url"), "{}", o.stdout);
    // --reuse-key with a key type is refused by the command line.
    let o = renew(
        &["--reuse-key", "--type", "rsa1024"],
        with_challenge(CHALLENGE),
    );
    assert_eq!(o.exit, Exit::BadInput);

    // A full token: whichever write runs out of memory (the new key pair, the certificate),
    // the renewal fails with exit 11 and the token is exactly as it was (objects and
    // memory); with room enough it succeeds.
    let used = || {
        epass2003_emu::store::StateFile::peek(&env.state)
            .unwrap()
            .memory_used()
    };
    let set_capacity = |bytes: usize| {
        let (mut file, mut card) = epass2003_emu::store::StateFile::open(&env.state).unwrap();
        card.set_capacity(Some(bytes as u32)).unwrap();
        file.save(&card.to_state_bytes()).unwrap();
    };
    let mut full = 0;
    for extra in (0..=6000).step_by(500) {
        let (before, mem) = (certs(&env), used());
        set_capacity(mem + extra);
        let o = renew(&["--force"], with_challenge(CHALLENGE));
        if o.exit == Exit::Ok {
            break;
        }
        assert_eq!(o.exit, Exit::TokenFull, "{}", o.stdout);
        assert_eq!(certs(&env), before, "with {extra} bytes free");
        assert_eq!(used(), mem, "with {extra} bytes free");
        assert_eq!(public_keys(&env), 1);
        full += 1;
    }
    assert!(full > 0, "the first renewal had no room");
    set_capacity(used() + 1_000_000);
    let on = certs(&env);

    // The server stopped: a clear error, exit 14, and the token as it was.
    srv.stop();
    let o = renew(&["--force"], with_challenge(CHALLENGE));
    assert_eq!(o.exit, Exit::ServerUnreachable, "{}", o.stdout);
    assert_eq!(certs(&env), on);
    assert_eq!(public_keys(&env), 1);
    assert!(result_file(&env).contains("Code: 200\n"));

    // EC: refused before the network (the reply is encrypted to the requesting key).
    let o = enrol(
        &["--type", "ec-p256", "--ca-fingerprint", &fp],
        with_challenge(CHALLENGE),
    );
    assert_eq!(o.exit, Exit::NotPossible, "{}", o.stdout);
    assert_eq!(public_keys(&env), 1);
}

#[test]
fn the_server_stopped_between_the_ca_and_the_request_leaves_nothing() {
    // The CA answers GetCACaps/GetCACert from a tiny HTTP proxy, then the proxy drops the
    // PKIOperation: the key pair generated meanwhile must be deleted again.
    let env = Env::new();
    let Some(srv) = Server::start(env.dir.path()) else {
        return;
    };
    env.init(&[]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = srv.port;
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { break };
            let mut buf = vec![0u8; 65536];
            let n = c.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            if head.contains("PKIOperation") {
                drop(c); // mid-way: the connection goes, no answer
                continue;
            }
            let mut u = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
            let req = head.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
            u.write_all(req.as_bytes()).unwrap();
            let mut reply = Vec::new();
            let _ = u.read_to_end(&mut reply);
            let _ = c.write_all(&reply);
        }
    });
    let url = format!("http://127.0.0.1:{port}/scep");
    let o = env.run_with(
        &["--json", "enroll", "--url", &url, "--cn", "Hanako"],
        with_challenge(CHALLENGE),
        true,
    );
    assert!(
        matches!(o.exit, Exit::ServerUnreachable | Exit::ServerRefused),
        "{:?} {}",
        o.exit,
        o.stdout
    );
    assert!(certs(&env).is_empty());
    assert_eq!(public_keys(&env), 0, "the new key pair was deleted again");
}
