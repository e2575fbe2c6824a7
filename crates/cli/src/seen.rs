//! The record of tokens seen: each token whose certificates the tool read (serial, label, when)
//! and those certificates (subject, CN, serial, not-after, CKA_ID, label), so that `expiring`
//! can warn about a token that is not plugged in ("last seen DATE").
//!
//! One JSON file, [`path`] = `STATE_DIR/tokens-seen.json` (`$XDG_STATE_HOME/epass2003` or
//! `~/.local/state/epass2003`): the directory is created 0700, the file 0600, written to a
//! temporary file, synced and renamed over the old one (a crash leaves the old record or the
//! new, never half of one). A record that cannot be read back (corrupt, another format) is
//! reported, kept as `tokens-seen.json.corrupt` and replaced; it never stops a command. No
//! secret is in it: only what any application can read from the token without a PIN.

use crate::t;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The record's format version.
pub const VERSION: u32 = 1;

/// One certificate as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertSeen {
    /// The object's label.
    pub label: String,
    /// CKA_ID, lower-case hex.
    pub id: String,
    /// The subject, one line.
    pub subject: String,
    /// The subject's CN (empty if none).
    pub subject_cn: String,
    /// Serial number, upper-case hex (as `openssl x509 -serial`).
    pub serial: String,
    /// End of validity, Unix seconds.
    pub not_after_unix: i64,
    /// End of validity, `2026-12-03 12:00:00 UTC`.
    pub not_after: String,
}

/// One token as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSeen {
    /// The token's serial.
    pub serial: String,
    /// Its label.
    pub label: String,
    /// When its certificates were last read, Unix seconds.
    pub last_seen_unix: i64,
    /// The same, `2026-12-03 12:00:00 UTC`.
    pub last_seen: String,
    /// Its certificates then.
    pub certificates: Vec<CertSeen>,
}

/// The whole record, by token serial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// [`VERSION`].
    pub version: u32,
    /// Tokens by serial.
    pub tokens: BTreeMap<String, TokenSeen>,
    /// Where the certificates `enroll` / `renew` stored came from, by [`enrolled_key`]: what
    /// `renew --serial S --id I` (the command a notice names) needs without more options.
    #[serde(default)]
    pub enrolled: BTreeMap<String, EnrolledFrom>,
    /// Requests the CA answered PENDING, by [`enrolled_key`] of the requesting key: what
    /// `enroll --poll` and `enroll --withdraw` need.
    #[serde(default)]
    pub pending: BTreeMap<String, PendingRequest>,
}

/// A request the CA holds for approval (RFC 8894 §3.3.3). Nothing secret: the request itself
/// is not kept (its challenge password is a secret), only what a CertPoll needs (the
/// transaction id, the subject, the certificate and key that signed it) and what to do
/// when the certificate comes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// The token's serial.
    pub serial: String,
    /// CKA_ID (hex) of the key pair the certificate is for.
    pub key_id: String,
    /// Its SubjectPublicKeyInfo, DER hex (the issued certificate must carry it).
    pub spki: String,
    /// Whether that key pair was generated for this request (deleted when the request is
    /// withdrawn or refused).
    pub new_key: bool,
    /// The transactionID.
    pub transaction_id: String,
    /// "PKCSReq" or "RenewalReq".
    pub request: String,
    /// The CA it was sent to.
    pub url: String,
    /// The fingerprint of the CA certificate trusted then.
    pub ca_fingerprint: String,
    /// The `--cacert` file given for an https:// URL (absolute path), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cacert: Option<String>,
    /// The subject, one line.
    pub subject: String,
    /// The subject, DER hex (what the CertPoll names).
    pub subject_der: String,
    /// The certificate that signed the request, DER hex (a poll is signed by the same).
    pub signer_cert: String,
    /// CKA_ID (hex) of the key that signed it.
    pub signer_key_id: String,
    /// The label for the certificate.
    pub label: String,
    /// Store the CA's certificates too (`--chain`).
    pub chain: bool,
    /// For a renewal: CKA_ID (hex) of the certificate it replaces.
    pub replaces: Option<String>,
    /// When the CA first answered PENDING, Unix seconds.
    pub since_unix: i64,
    /// The same, `2026-12-03 12:00:00 UTC`.
    pub since: String,
}

/// The pending requests of token `serial`.
pub fn pending_of(state_dir: &Path, serial: &str) -> Vec<PendingRequest> {
    load(state_dir)
        .0
        .pending
        .into_values()
        .filter(|p| p.serial == serial)
        .collect()
}

/// Keep `p` (replacing an older record for the same key). Best effort: the warnings to show.
pub fn remember_pending(state_dir: &Path, p: PendingRequest) -> Vec<String> {
    update(state_dir, |r| {
        r.pending.insert(enrolled_key(&p.serial, &p.key_id), p);
    })
}

/// Forget the pending request for key `key_id` on `serial`.
pub fn forget_pending(state_dir: &Path, serial: &str, key_id: &str) -> Vec<String> {
    update(state_dir, |r| {
        r.pending.remove(&enrolled_key(serial, key_id));
    })
}

/// Load, change and save the record; the warnings to show.
fn update(state_dir: &Path, f: impl FnOnce(&mut Record)) -> Vec<String> {
    let (mut r, warn) = load(state_dir);
    let mut warnings: Vec<String> = warn.into_iter().collect();
    f(&mut r);
    if let Err(e) = save(state_dir, &r) {
        warnings.push(t!(
            "seen-not-written",
            file = path(state_dir).display().to_string(),
            detail = e.to_string()
        ));
    }
    warnings
}

/// The CA a certificate on a token was enrolled from (nothing secret: the URL and the CA's
/// fingerprint that was checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolledFrom {
    /// The SCEP URL.
    pub url: String,
    /// The SHA-256 fingerprint of the CA certificate trusted then (upper-case hex).
    pub ca_fingerprint: String,
    /// The `--cacert` file given for an https:// URL (absolute path), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cacert: Option<String>,
}

/// The key of [`Record::enrolled`]: token serial and CKA_ID (hex).
pub fn enrolled_key(serial: &str, id_hex: &str) -> String {
    format!("{serial}/{id_hex}")
}

/// Where the certificate `id_hex` on token `serial` was enrolled from, if this tool did it.
pub fn enrolled_from(state_dir: &Path, serial: &str, id_hex: &str) -> Option<EnrolledFrom> {
    load(state_dir)
        .0
        .enrolled
        .get(&enrolled_key(serial, id_hex))
        .cloned()
}

/// Remember that the certificate `id_hex` on `serial` came from `from` (and forget
/// `replaced`, the id of the certificate it renewed). Best effort: the warnings to show.
pub fn remember_enrolment(
    state_dir: &Path,
    serial: &str,
    id_hex: &str,
    from: EnrolledFrom,
    replaced: Option<&str>,
) -> Vec<String> {
    update(state_dir, |r| {
        if let Some(old) = replaced {
            r.enrolled.remove(&enrolled_key(serial, old));
        }
        r.enrolled.insert(enrolled_key(serial, id_hex), from);
    })
}

impl Default for Record {
    fn default() -> Self {
        Record {
            version: VERSION,
            tokens: BTreeMap::new(),
            enrolled: BTreeMap::new(),
            pending: BTreeMap::new(),
        }
    }
}

/// Where the record lives.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("tokens-seen.json")
}

/// A date as the record and the messages show it.
pub fn date(t: i64) -> String {
    match der::DateTime::from_unix_duration(std::time::Duration::from_secs(t.max(0) as u64)) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minutes(),
            d.seconds()
        ),
        Err(_) => t.to_string(),
    }
}

/// Read the record. A missing file is an empty record; one that cannot be read or parsed is
/// an empty record and a warning (for the user: what happened and that it will be replaced).
pub fn load(state_dir: &Path) -> (Record, Option<String>) {
    let p = path(state_dir);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Record::default(), None),
        Err(e) => {
            return (
                Record::default(),
                Some(t!(
                    "seen-unreadable",
                    file = p.display().to_string(),
                    detail = e.to_string()
                )),
            )
        }
    };
    match serde_json::from_slice::<Record>(&bytes) {
        Ok(r) if r.version == VERSION => (r, None),
        Ok(r) => (
            Record::default(),
            Some(t!(
                "seen-corrupt",
                file = p.display().to_string(),
                detail = format!("version {}", r.version)
            )),
        ),
        Err(e) => {
            // Keep the bad file for a look, then start afresh.
            let _ = std::fs::rename(&p, state_dir.join("tokens-seen.json.corrupt"));
            (
                Record::default(),
                Some(t!(
                    "seen-corrupt",
                    file = p.display().to_string(),
                    detail = e.to_string()
                )),
            )
        }
    }
}

/// Write the record atomically (0700 directory, 0600 file, temp + fsync + rename).
pub fn save(state_dir: &Path, r: &Record) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if !state_dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)?;
    }
    // A directory made by an older version (or by hand) gets 0700 too.
    let _ = std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(0o700));
    let p = path(state_dir);
    let tmp = state_dir.join(format!(".tokens-seen.json.{}", std::process::id()));
    let data = serde_json::to_vec_pretty(r).map_err(std::io::Error::other)?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&data)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &p)?;
        if let Ok(d) = std::fs::File::open(state_dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    let r = write();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Remember `token` (replacing what was known of it); the warnings to show (a corrupt record
/// replaced, a record that could not be written). Best effort: never an error.
pub fn remember(state_dir: &Path, token: TokenSeen) -> Vec<String> {
    update(state_dir, |r| {
        r.tokens.insert(token.serial.clone(), token);
    })
}

/// The subject's CN, if any.
pub fn cn(d: &pki_files::details::CertDetails) -> String {
    d.subject
        .iter()
        .flat_map(|r| r.attrs.iter())
        .find(|(k, _)| k == "CN")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn token(serial: &str) -> TokenSeen {
        TokenSeen {
            serial: serial.into(),
            label: "Test".into(),
            last_seen_unix: 1_800_000_000,
            last_seen: date(1_800_000_000),
            certificates: vec![CertSeen {
                label: "Taro".into(),
                id: "01ab".into(),
                subject: "CN=Taro".into(),
                subject_cn: "Taro".into(),
                serial: "1F".into(),
                not_after_unix: 1_800_086_400,
                not_after: date(1_800_086_400),
            }],
        }
    }

    #[test]
    fn written_private_atomically_and_read_back() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("state/epass2003");
        assert!(remember(&dir, token("A1")).is_empty());
        assert!(remember(&dir, token("B2")).is_empty());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path(&dir)), 0o600);
        let (r, w) = load(&dir);
        assert!(w.is_none());
        assert_eq!(r.tokens.len(), 2);
        assert_eq!(r.tokens["A1"], token("A1"));
        assert_eq!(date(0), "1970-01-01 00:00:00 UTC");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn corrupt_record_is_reported_kept_and_replaced() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_path_buf();
        std::fs::write(path(&dir), b"{ not json").unwrap();
        let (r, w) = load(&dir);
        assert!(r.tokens.is_empty());
        assert!(w.unwrap().contains("tokens-seen.json"));
        assert!(dir.join("tokens-seen.json.corrupt").exists());
        std::fs::write(path(&dir), b"{ not json").unwrap();
        let warnings = remember(&dir, token("A1"));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(load(&dir).0.tokens.len(), 1);
    }
}
