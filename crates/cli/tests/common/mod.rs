//! Shared harness: run the tool in-process against an emulated token in a temp dir.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use epass2003_tool::error::Exit;
use epass2003_tool::secrets::{Given, Secret};
use epass2003_tool::{run, Runtime};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Env {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    pub now: i64,
    pub lang: epass2003_tool::i18n::Lang,
}

pub struct Out {
    pub exit: Exit,
    pub stdout: String,
    pub stderr: String,
    pub progress: Vec<String>,
}

impl Out {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("token.state");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        Env {
            dir,
            state,
            now,
            lang: epass2003_tool::i18n::Lang::En,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config(&self) -> token::config::Config {
        token::config::Config {
            emulator: vec![self.state.clone()],
            pcsc: false,
            ..token::config::Config::default()
        }
    }

    /// Run with secrets; confirmations are answered `answer`.
    pub fn run_with(&self, args: &[&str], secrets: Given, answer: bool) -> Out {
        let mut secrets = secrets;
        let mut confirm = |_q: &str| answer;
        let mut progress_lines = Vec::new();
        let mut progress = |m: &str| progress_lines.push(m.to_string());
        let mut rt = Runtime {
            config: self.config(),
            secrets: &mut secrets,
            confirm: &mut confirm,
            progress: &mut progress,
            now: self.now,
            lang: self.lang,
            state_dir: Some(self.dir.path().join("xdg").join("epass2003")),
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
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

    pub fn run(&self, args: &[&str], secrets: Given) -> Out {
        self.run_with(args, secrets, false)
    }

    /// A token initialised with user PIN 12345678, SO PIN 87654321 (max tries as given).
    pub fn init(&self, extra: &[&str]) -> Out {
        let mut args = vec!["init", "--yes"];
        if !extra.contains(&"--label") {
            args.extend_from_slice(&["--label", "Test token"]);
        }
        args.extend_from_slice(extra);
        let o = self.run(
            &args,
            Given::default()
                .with(Secret::NewSoPin, SO_PIN)
                .with(Secret::NewUserPin, USER_PIN),
        );
        assert_eq!(o.exit, Exit::Ok, "init: {} {}", o.stdout, o.stderr);
        o
    }
}

/// Key pairs on the token, counted by their public keys (which need no login).
pub fn public_keys(env: &Env) -> u64 {
    env.run(&["info", "--json"], Given::default()).json()["objects"]["public_keys"]
        .as_u64()
        .unwrap()
}

/// The result file of the last life-cycle run.
pub fn result_file(env: &Env) -> String {
    std::fs::read_to_string(env.dir.path().join("xdg/epass2003/result.txt")).unwrap()
}

pub const USER_PIN: &str = "12345678";
pub const SO_PIN: &str = "87654321";

pub fn user() -> Given {
    Given::default().with(Secret::UserPin, USER_PIN)
}

pub fn have_openssl() -> bool {
    Command::new("openssl").arg("version").output().is_ok()
}

/// Run openssl in `dir`; panic with its output on failure.
pub fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA, an intermediate and a client certificate with its key (RSA 2048 or EC P-256), and
/// PKCS#12 files of them: client.p12 (chain, password "secret", modern), legacy.p12 (legacy
/// algorithms), nopass.p12 (empty password).
pub fn make_pki(dir: &Path, ec: bool) {
    let key = |name: &str| {
        if ec {
            openssl(
                dir,
                &[
                    "ecparam",
                    "-genkey",
                    "-name",
                    "prime256v1",
                    "-noout",
                    "-out",
                    name,
                ],
            );
        } else {
            openssl(dir, &["genrsa", "-out", name, "2048"]);
        }
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n[leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(dir, &["genrsa", "-out", "ca.key", "2048"]);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/C=JP/O=Example/CN=Example Root CA",
            "-days",
            "3650",
            "-out",
            "ca.pem",
        ],
    );
    openssl(dir, &["genrsa", "-out", "int.key", "2048"]);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "int.key",
            "-subj",
            "/C=JP/O=Example/CN=Example Issuing CA",
            "-out",
            "int.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "int.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "ca",
            "-out",
            "int.pem",
        ],
    );
    key("client.key");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "client.key",
            "-utf8",
            "-subj",
            "/C=JP/O=Example/CN=山田 太郎/UID=taro",
            "-out",
            "client.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "int.pem",
            "-CAkey",
            "int.key",
            "-CAcreateserial",
            "-days",
            "10",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "leaf",
            "-out",
            "client.pem",
        ],
    );
    let chain = std::fs::read_to_string(dir.join("int.pem")).unwrap()
        + &std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    std::fs::write(dir.join("chain.pem"), chain).unwrap();
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "client.key",
            "-in",
            "client.pem",
            "-certfile",
            "chain.pem",
            "-name",
            "Taro",
            "-passout",
            "pass:secret",
            "-out",
            "client.p12",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-legacy",
            "-inkey",
            "client.key",
            "-in",
            "client.pem",
            "-certfile",
            "chain.pem",
            "-passout",
            "pass:secret",
            "-out",
            "legacy.p12",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "client.key",
            "-in",
            "client.pem",
            "-passout",
            "pass:",
            "-out",
            "nopass.p12",
        ],
    );
    openssl(
        dir,
        &[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            "chain.pem",
            "-outform",
            "DER",
            "-out",
            "chain.p7b",
        ],
    );
}
