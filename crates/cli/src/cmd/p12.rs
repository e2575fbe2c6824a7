//! `p12 show` and `p12 passwd`: PKCS#12 files as issuers send them. A file with no password
//! (absent or empty) opens without a prompt. The password change is atomic (a new file is
//! written, re-opened and checked, then renamed over the old one).

use super::in_range;
use crate::cli::{P12File, P12Passwd};
use crate::error::{Exit, Result, ToolError};
use crate::output::Report;
use crate::secrets::{need, Secret};
use crate::{t, Runtime};
use pki_files::pkcs12::{Contents, Error as P12Error};
use serde_json::{json, Value};
use std::path::Path;
use zeroize::Zeroizing;

/// Map a PKCS#12 error.
pub fn p12_error(path: &Path, e: P12Error) -> ToolError {
    match e {
        P12Error::WrongPassword => {
            ToolError::input(t!("err-p12-password", file = path.display().to_string()))
                .with("reason", "wrong_password")
        }
        P12Error::Damaged(m) => ToolError::input(t!(
            "err-p12-damaged",
            file = path.display().to_string(),
            detail = m
        ))
        .with("reason", "damaged"),
        P12Error::Unsupported(m) => ToolError::new(
            Exit::NotPossible,
            t!(
                "err-p12-unsupported",
                file = path.display().to_string(),
                detail = m
            ),
        ),
    }
}

/// Read and open a PKCS#12 file: first without a password (absent or empty), then with the
/// password from the secret source. Returns the contents and the password that worked.
pub fn open(path: &Path, rt: &mut Runtime<'_>) -> Result<(Contents, Zeroizing<String>)> {
    let data = std::fs::read(path).map_err(|e| {
        ToolError::input(t!(
            "err-file",
            file = path.display().to_string(),
            detail = e.to_string()
        ))
    })?;
    match pki_files::pkcs12::parse(&data, "") {
        Ok(c) => return Ok((c, Zeroizing::new(String::new()))),
        Err(P12Error::WrongPassword) => {}
        Err(e) => return Err(p12_error(path, e)),
    }
    let pw = need(rt.secrets, Secret::P12Password)?;
    let c = pki_files::pkcs12::parse(&data, &pw).map_err(|e| p12_error(path, e))?;
    Ok((c, pw))
}

fn contents_json(c: &Contents) -> Value {
    let keys: Vec<Value> = c
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            json!({
                "index": i,
                "type": k.key.describe(),
                "friendly_name": k.friendly_name,
                "local_key_id": k.local_key_id.as_ref().map(hex::encode),
                "certificate": c.end_entity(i).and_then(|b| pki_files::details::cert_details(&b.der).ok()).map(|d| d.subject_str),
            })
        })
        .collect();
    let certs: Vec<Value> = c
        .certs
        .iter()
        .map(|b| match pki_files::details::cert_details(&b.der) {
            Ok(d) => json!({
                "subject": d.subject_str, "issuer": d.issuer_str, "serial": d.serial_hex,
                "not_before": d.not_before_str, "not_after": d.not_after_str,
                "sha256_fingerprint": d.sha256_fingerprint, "ca": d.is_ca,
                "friendly_name": b.friendly_name,
            }),
            Err(e) => json!({"error": e.to_string()}),
        })
        .collect();
    json!({"encryption": c.encryption, "mac": c.mac, "keys": keys, "certificates": certs})
}

/// Run `p12 show`.
pub fn show(rt: &mut Runtime<'_>, a: &P12File) -> Result<Report> {
    let (c, _) = open(&a.file, rt)?;
    let mut text = format!(
        "{}\n",
        t!(
            "p12-summary",
            file = a.file.display().to_string(),
            keys = c.keys.len(),
            certs = c.certs.len(),
            encryption = &c.encryption,
            mac = c.mac.clone().unwrap_or_else(|| t!("word-none"))
        )
    );
    for (i, k) in c.keys.iter().enumerate() {
        text.push_str(&format!(
            "{} {i}: {}{}\n",
            t!("word-key"),
            k.key.describe(),
            k.friendly_name
                .as_ref()
                .map(|n| format!(" \"{n}\""))
                .unwrap_or_default()
        ));
    }
    for b in &c.certs {
        match pki_files::details::cert_details(&b.der) {
            Ok(d) => {
                text.push_str(&format!(
                    "{}{}:\n",
                    t!("kind-certificate"),
                    if d.is_ca { " (CA)" } else { "" }
                ));
                text.push_str(&super::certs::details_text(&d, rt.now));
            }
            Err(e) => text.push_str(&format!(
                "{}: {} ({e})\n",
                t!("kind-certificate"),
                t!("certs-unreadable")
            )),
        }
    }
    let mut js = contents_json(&c);
    if let Value::Object(m) = &mut js {
        m.insert("file".into(), json!(a.file.display().to_string()));
    }
    Ok(Report::ok(js, text))
}

/// Run `p12 passwd`.
pub fn passwd(rt: &mut Runtime<'_>, a: &P12Passwd) -> Result<Report> {
    let min = in_range("--min-len", a.min_len, 0, 1024)? as usize;
    let max = in_range("--max-len", a.max_len, 0, 1024)? as usize;
    if max != 0 && min > max {
        return Err(ToolError::input(format!(
            "--min-len {min} is larger than --max-len {max}"
        )));
    }
    let (_, old) = open(&a.file, rt)?;
    let new = need(rt.secrets, Secret::NewP12Password)?;
    let n = new.chars().count();
    if n < min || (max != 0 && n > max) {
        return Err(ToolError::input(t!(
            "err-p12-policy-len",
            n = n,
            min = min,
            max = if max == 0 {
                "∞".to_string()
            } else {
                max.to_string()
            }
        )));
    }
    if !a.allow_utf8 && !token::login::is_half_width(new.as_bytes()) {
        return Err(ToolError::input(t!(
            "err-pin-halfwidth",
            who = t!("secret-new-p12-password")
        )));
    }
    if a.lower_alnum
        && !new
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return Err(ToolError::input(t!("err-p12-lower-alnum")));
    }
    if *new == *old {
        return Err(ToolError::input(t!("err-p12-same")));
    }
    pki_files::pkcs12::change_password(&a.file, &old, &new)
        .map_err(|e| ToolError::input(format!("{}: {e}", a.file.display())))?;
    Ok(Report::ok(
        json!({"file": a.file.display().to_string(), "changed": true}),
        t!("p12-changed", file = a.file.display().to_string()),
    ))
}
