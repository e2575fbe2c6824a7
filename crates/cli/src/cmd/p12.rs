//! `p12 show` and `p12 passwd`: PKCS#12 files as issuers send them. A file with no password
//! (absent or empty) opens without a prompt. The password change is atomic (a new file is
//! written, re-opened and checked, then renamed over the old one). It keeps a way back: the
//! original stays as `FILE.orig` (or the first free `FILE.orig.N`, N = 1..999: a backup is never
//! overwritten), or the new file goes to `--output` and FILE is left alone; only `--in-place`
//! replaces FILE with no backup.

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
    let file = a.file.display().to_string();
    let change_err = |e: pki_files::pkcs12::ChangeError| {
        ToolError::input(t!(
            "err-p12-change",
            file = file.clone(),
            detail = e.to_string()
        ))
    };
    if let Some(out) = &a.output {
        if same_file(&a.file, out) {
            return Err(ToolError::input(t!(
                "err-p12-output-same",
                file = file.clone()
            )));
        }
        let output = out.display().to_string();
        pki_files::pkcs12::change_password_to(&a.file, out, &old, &new).map_err(|e| match e {
            pki_files::pkcs12::ChangeError::Io(io)
                if io.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                ToolError::input(t!("err-p12-output-exists", file = output.clone()))
            }
            e => change_err(e),
        })?;
        return Ok(Report::ok(
            json!({"file": file, "changed": true, "output": output, "backup": null, "in_place": false}),
            t!("p12-written", file = file.clone(), output = output.clone()),
        ));
    }
    if a.in_place {
        pki_files::pkcs12::change_password(&a.file, &old, &new).map_err(change_err)?;
        return Ok(Report::ok(
            json!({"file": file, "changed": true, "output": file, "backup": null, "in_place": true}),
            t!("p12-changed-in-place", file = file.clone()),
        ));
    }
    let backup = keep_original(&a.file)?;
    if let Err(e) = pki_files::pkcs12::change_password(&a.file, &old, &new) {
        // The original is untouched: the backup made for this run is not needed.
        let _ = std::fs::remove_file(&backup);
        return Err(change_err(e));
    }
    let backup = backup.display().to_string();
    Ok(Report::ok(
        json!({"file": file, "changed": true, "output": file, "backup": backup, "in_place": false}),
        t!(
            "p12-changed-backup",
            file = file.clone(),
            backup = backup.clone()
        ),
    ))
}

/// Whether `a` and `b` name the same file (the same path, or the same inode when both exist).
fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    false
}

/// The backup names tried for `path`: `FILE.orig`, then `FILE.orig.1` .. `FILE.orig.999`.
pub fn backup_names(path: &Path) -> impl Iterator<Item = std::path::PathBuf> + '_ {
    (0..1000u32).map(move |n| {
        let mut name = path.as_os_str().to_os_string();
        name.push(".orig");
        if n > 0 {
            name.push(format!(".{n}"));
        }
        std::path::PathBuf::from(name)
    })
}

/// Keep the original file under the first free backup name (never overwriting an earlier
/// backup): a hard link (the same bytes, owner and mode) where the file system allows it, else
/// a copy created 0600.
fn keep_original(path: &Path) -> Result<std::path::PathBuf> {
    let io_err = |p: &Path, e: std::io::Error| {
        ToolError::input(t!(
            "err-p12-backup",
            file = p.display().to_string(),
            detail = e.to_string()
        ))
    };
    for b in backup_names(path) {
        match std::fs::hard_link(path, &b) {
            Ok(()) => return Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => {}
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = match opts.open(&b) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(&b, e)),
        };
        let copied = (|| {
            let data = std::fs::read(path)?;
            std::io::Write::write_all(&mut f, &data)?;
            f.sync_all()
        })();
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&b);
            return Err(io_err(&b, e));
        }
        return Ok(b);
    }
    Err(ToolError::input(t!(
        "err-p12-backups-full",
        file = path.display().to_string()
    )))
}
