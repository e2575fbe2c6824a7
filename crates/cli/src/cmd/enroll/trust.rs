//! `enroll --trust-ca user|system`: after a successful enrolment, put the SCEP CA's
//! certificate (the one whose fingerprint was checked) into a trust store, so that servers
//! with certificates from the same CA are trusted, once a person confirmed it (or `--yes`).
//!
//! * `user`: the user's shared NSS database `~/.pki/nssdb` (Chromium, and the NSS tools),
//!   created if missing, with `certutil -A -t "C,,"` (a CA for TLS servers only);
//! * `system` (root): Debian's `/usr/local/share/ca-certificates/NAME.crt` and
//!   `update-ca-certificates`, else p11-kit's `trust anchor --store` (the RPM family).
//!
//! Each step's outcome is reported; none of them changes the enrolment's outcome.

use super::Ca;
use crate::cli::TrustStore;
use crate::{t, Runtime};
use der::Encode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A name for the CA in a store: its CN (or subject) and the start of its fingerprint.
fn nickname(cn: &str, fingerprint: &str) -> String {
    format!("{cn} ({})", &fingerprint[..fingerprint.len().min(16)])
}

/// The file name of the CA in Debian's local CA directory (letters, digits, `-` only).
pub(crate) fn debian_file_name(cn: &str, fingerprint: &str) -> String {
    let mut s: String = cn
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.truncate(40);
    format!(
        "epass2003-{}-{}.crt",
        s.trim_matches('-'),
        &fingerprint[..fingerprint.len().min(16)]
    )
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} {}: {}",
            cmd.get_program(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The user's NSS database (`$HOME/.pki/nssdb`), created if missing.
fn user_nss(home: &Path, der_file: &Path, nick: &str) -> Result<PathBuf, String> {
    let db = home.join(".pki/nssdb");
    if !db.join("cert9.db").exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&db)
            .map_err(|e| format!("{}: {e}", db.display()))?;
        run(Command::new("certutil")
            .args(["-N", "--empty-password", "-d"])
            .arg(format!("sql:{}", db.display())))?;
    }
    run(Command::new("certutil")
        .args(["-A", "-t", "C,,", "-n", nick, "-d"])
        .arg(format!("sql:{}", db.display()))
        .arg("-i")
        .arg(der_file))?;
    Ok(db)
}

/// The system's trust: Debian's local CA directory, else p11-kit.
fn system(pem: &str, file_name: &str, tmp_pem: &Path) -> Result<String, String> {
    let debian = Path::new("/usr/local/share/ca-certificates");
    if Path::new("/usr/sbin/update-ca-certificates").exists() && debian.is_dir() {
        let f = debian.join(file_name);
        std::fs::write(&f, pem).map_err(|e| format!("{}: {e}", f.display()))?;
        run(&mut Command::new("/usr/sbin/update-ca-certificates"))?;
        return Ok(f.display().to_string());
    }
    run(Command::new("trust")
        .args(["anchor", "--store"])
        .arg(tmp_pem))?;
    Ok("p11-kit (trust anchor --store)".into())
}

/// Put the CA of `ca` into `store` after confirmation; the JSON of what was done.
pub(super) fn trust_ca(rt: &mut Runtime<'_>, yes: bool, ca: &Ca, store: TrustStore) -> Value {
    let cert = ca.certs.ca();
    let Ok(der) = cert.to_der() else {
        return json!({"done": false, "error": "the CA certificate does not encode"});
    };
    let subject = cert.tbs_certificate.subject.to_string();
    let cn = pki_files::details::common_name(&der).unwrap_or_else(|| subject.clone());
    let where_ = match store {
        TrustStore::User => t!("trust-store-user"),
        TrustStore::System => t!("trust-store-system"),
    };
    let q = t!(
        "trust-ca-confirm",
        subject = &subject,
        fingerprint = &ca.fingerprint,
        store = &where_
    );
    if !yes && !(rt.confirm)(&q) {
        (rt.progress)(&t!("trust-ca-skipped"));
        return json!({"done": false, "reason": "not_confirmed"});
    }
    let pem = pki_files::csr::to_pem("CERTIFICATE", &der);
    let dir = match tempfile_dir() {
        Ok(d) => d,
        Err(e) => return json!({"done": false, "error": e}),
    };
    let (der_file, pem_file) = (dir.join("ca.der"), dir.join("ca.pem"));
    let written = std::fs::write(&der_file, &der).and_then(|_| std::fs::write(&pem_file, &pem));
    let result = match written {
        Err(e) => Err(e.to_string()),
        Ok(()) => match store {
            TrustStore::User => match std::env::var_os("HOME") {
                Some(h) => user_nss(Path::new(&h), &der_file, &nickname(&cn, &ca.fingerprint))
                    .map(|p| p.display().to_string()),
                None => Err("HOME is not set".into()),
            },
            TrustStore::System => system(&pem, &debian_file_name(&cn, &ca.fingerprint), &pem_file),
        },
    };
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(place) => {
            (rt.progress)(&t!("trust-ca-done", subject = &subject, place = &place));
            json!({"done": true, "store": where_, "place": place})
        }
        Err(e) => {
            (rt.progress)(&t!("trust-ca-failed", detail = &e));
            json!({"done": false, "store": where_, "error": e})
        }
    }
}

/// A private temporary directory (0700) for the certificate files handed to the tools.
fn tempfile_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let mut n = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut n);
    let d = std::env::temp_dir().join(format!("epass2003-trust-{}", hex::encode(n)));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&d)
        .map_err(|e| format!("{}: {e}", d.display()))?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_the_stores() {
        let fp = "3F9AC2".repeat(10);
        assert_eq!(
            debian_file_name("Example Issuing CA/2026", &fp),
            "epass2003-Example-Issuing-CA-2026-3F9AC23F9AC23F9A.crt"
        );
        assert_eq!(
            debian_file_name("日本CA", &fp),
            "epass2003-CA-3F9AC23F9AC23F9A.crt"
        );
        assert_eq!(nickname("CA", "AB"), "CA (AB)");
    }
}
