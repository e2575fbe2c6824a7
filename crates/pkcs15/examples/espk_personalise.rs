//! Writes an emulated token personalised in Feitian's own middleware layout (ENTERSAFE-ESPK),
//! with one RSA key pair generated on the card and a certificate for it issued by an external
//! command (a test CA): what a user whose token was enrolled with the vendor's Windows middleware
//! has. Built by `pkcs15::espk::fixture` from the documented layout (nothing captured from a
//! real token). For tests (`tests/browsers/browsers.sh`); the library reads such a token
//! read-only, so this is the way objects get onto it.
//!
//! ```text
//! cargo run --release -p pkcs15 --example espk_personalise -- \
//!     --state FILE [--label TOKEN_LABEL] [--key-label LABEL] [--bits 1024|2048] --issuer-cmd CMD
//! ```
//!
//! `CMD` runs under `sh -c` with the new key's SubjectPublicKeyInfo (DER) on stdin and
//! `ESPK_KEY_LABEL` in its environment; it prints the certificate (DER) on stdout. The user PIN
//! is `EPASS2003_PIN`, else the vendor's factory default `12345678`. The state file must not
//! exist yet.
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use epass2003::transport::emulator::EmulatorTransport;
use epass2003::{ConnectOptions, Connection, Error};
use epass2003_emu::espk::defaults;
use epass2003_emu::store::StateFile;
use epass2003_emu::{Card, CardOptions, Variant};
use pkcs15::espk::fixture::{self, FixtureSpec, KeySpec};
use zeroize::Zeroizing;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    state: PathBuf,
    label: String,
    key_label: String,
    bits: u16,
    issuer_cmd: String,
}

fn args() -> Res<Args> {
    let mut state = None;
    let mut label = defaults::LABEL.to_string();
    let mut key_label = "Feitian key".to_string();
    let mut bits = 2048;
    let mut issuer_cmd = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a}: value missing"));
        match a.as_str() {
            "--state" => state = Some(PathBuf::from(value()?)),
            "--label" => label = value()?,
            "--key-label" => key_label = value()?,
            "--bits" => {
                bits = match value()?.as_str() {
                    "1024" => 1024,
                    "2048" => 2048,
                    other => return Err(format!("--bits {other}: allowed 1024 or 2048").into()),
                }
            }
            "--issuer-cmd" => issuer_cmd = Some(value()?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    Ok(Args {
        state: state.ok_or("--state FILE is required")?,
        label,
        key_label,
        bits,
        issuer_cmd: issuer_cmd.ok_or("--issuer-cmd CMD is required")?,
    })
}

/// Runs the issuer command: SPKI on stdin, certificate DER on stdout.
fn issue(cmd: &str, key_label: &str, spki: &[u8]) -> Result<Vec<u8>, Error> {
    let fail = |what: String| Error::InvalidArgument(format!("issuer command: {what}"));
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("ESPK_KEY_LABEL", key_label)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    child
        .stdin
        .take()
        .ok_or_else(|| fail("no stdin".into()))?
        .write_all(spki)
        .map_err(|e| fail(e.to_string()))?;
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(format!("exited with {}", out.status)));
    }
    if out.stdout.first() != Some(&0x30) {
        return Err(fail("did not print a DER certificate".into()));
    }
    Ok(out.stdout)
}

fn main() -> Res<()> {
    let a = args()?;
    if a.state.exists() {
        return Err(format!("{} exists; not overwritten", a.state.display()).into());
    }
    let pin = Zeroizing::new(
        std::env::var("EPASS2003_PIN")
            .map(String::into_bytes)
            .unwrap_or_else(|_| defaults::USER_PIN.to_vec()),
    );
    let card = Arc::new(Mutex::new(Card::new_blank(
        Variant::Aes,
        CardOptions::default(),
    )));
    let serial = card.lock().map_err(|_| "card lock poisoned")?.serial();
    let mut cardid = serial.to_vec();
    cardid.resize(16, 0);
    let mut key = KeySpec::complete(1, 1, &a.key_label, &[0x01]);
    key.bits = a.bits;
    let spec = FixtureSpec {
        label: a.label.clone(),
        cardid: Some(cardid),
        pin: pin.to_vec(),
        pin_max_tries: defaults::MAX_TRIES,
        keys: vec![key],
        extra_files: Vec::new(),
    };
    let mut conn = Connection::connect(
        EmulatorTransport::new(card.clone()),
        ConnectOptions::default(),
    )?;
    let fx = fixture::build_with_issuer(&mut conn, &spec, &mut |k, spki| {
        issue(&a.issuer_cmd, &k.label, spki).map(Some)
    })?;
    drop(conn);
    let card = card.lock().map_err(|_| "card lock poisoned")?;
    drop(StateFile::create(&a.state, &card)?);
    let hex: String = serial.iter().map(|b| format!("{b:02x}")).collect();
    println!(
        "created Feitian-layout (ENTERSAFE-ESPK) token \"{}\", serial {hex}, in {}: RSA-{} key \"{}\" generated on the card, certificate of {} bytes",
        a.label,
        a.state.display(),
        a.bits,
        a.key_label,
        fx.keys[0].cert_der.as_ref().map_or(0, Vec::len),
    );
    Ok(())
}
