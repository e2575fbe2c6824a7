//! The result file that management software reads after an `enroll`, `renew` (or `expiring`)
//! run, with the enrolment client's field names and words (issue 15 item 4).
//!
//! Path: `STATE_DIR/result.txt` ([`FILE_NAME`]), replaced atomically (written to a temporary
//! file in the same directory, then renamed), mode 0600 in a 0700 directory. Format: one
//! `Field: value` line per field, in this order; `CN`, `S/N` and `Expires` only on success:
//!
//! ```text
//! Date: 2026-12-03 16:02:29
//! Result: succeeded
//! Code: 0
//! UserID: alice
//! Store: 2003A1B2C3D4
//! CN: alice
//! S/N: 4F1A09
//! Expires: 2027-12-03 16:02:29
//! ```
//!
//! `Result` is one of `succeeded`, `failed`, `canceled`, `no executed` (the manual's words,
//! spelling included); `Code` is [`Exit::manual_code`] (0, 100, 110, 120, 200, 300, 1000);
//! `Date` and `Expires` are UTC. No secret is ever written here.

use crate::error::Exit;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file's name under the state directory.
pub const FILE_NAME: &str = "result.txt";

/// The outcome word of the `Result` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The certificate was issued and stored.
    Succeeded,
    /// Any error.
    Failed,
    /// The user declined or cancelled a prompt.
    Canceled,
    /// Nothing was done (not due).
    NoExecuted,
}

impl Outcome {
    /// The outcome an exit code stands for.
    pub fn from_exit(e: Exit) -> Outcome {
        match e {
            Exit::Ok | Exit::Expiring | Exit::Expired => Outcome::Succeeded,
            Exit::Cancelled => Outcome::Canceled,
            Exit::NotDue => Outcome::NoExecuted,
            _ => Outcome::Failed,
        }
    }
    /// The manual's word.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Canceled => "canceled",
            Outcome::NoExecuted => "no executed",
        }
    }
}

/// The issued certificate, on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The subject's common name.
    pub cn: String,
    /// The serial number, as big-endian bytes.
    pub serial: Vec<u8>,
    /// notAfter, seconds since the Unix epoch.
    pub expires: i64,
}

/// One run's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunResult {
    /// When the run ended (seconds since the Unix epoch).
    pub date: i64,
    /// The exit code of the run (its outcome and manual code follow from it).
    pub exit: Exit,
    /// The user the run was for (the login name).
    pub user_id: String,
    /// The token's serial number (empty when no token was reached).
    pub store: String,
    /// The certificate, when one was issued.
    pub issued: Option<Issued>,
}

/// `YYYY-MM-DD HH:MM:SS`, UTC.
fn date(t: i64) -> String {
    match der::DateTime::from_unix_duration(Duration::from_secs(t.max(0) as u64)) {
        Ok(d) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
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

impl RunResult {
    /// The fields in file order, as (name, value).
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("Date", date(self.date)),
            ("Result", Outcome::from_exit(self.exit).word().to_string()),
            ("Code", self.exit.manual_code().to_string()),
            ("UserID", self.user_id.clone()),
            ("Store", self.store.clone()),
        ];
        if let (Some(i), Outcome::Succeeded) = (&self.issued, Outcome::from_exit(self.exit)) {
            v.push(("CN", i.cn.clone()));
            v.push(("S/N", hex::encode_upper(&i.serial)));
            v.push(("Expires", date(i.expires)));
        }
        v
    }
    /// The file's text.
    pub fn text(&self) -> String {
        self.fields()
            .into_iter()
            .map(|(k, v)| format!("{k}: {}\n", v.replace(['\n', '\r'], " ")))
            .collect()
    }
    /// The same fields as a JSON object (the field names as keys).
    pub fn json(&self) -> Value {
        let mut m = serde_json::Map::new();
        for (k, v) in self.fields() {
            m.insert(k.to_string(), json!(v));
        }
        Value::Object(m)
    }
}

/// The result file's path under `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// Write the result file (atomically: temporary file, then rename). Returns its path.
pub fn write(state_dir: &Path, r: &RunResult) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)?;
    let target = path(state_dir);
    let tmp = state_dir.join(format!(".{FILE_NAME}.{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(r.text().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map(|()| target)
}

/// The user name the `UserID` field carries ($USER, else $LOGNAME, else empty).
pub fn current_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> RunResult {
        RunResult {
            date: 1_764_777_749, // 2025-12-03 16:02:29 UTC
            exit: Exit::Ok,
            user_id: "alice".into(),
            store: "2003A1B2".into(),
            issued: Some(Issued {
                cn: "alice".into(),
                serial: vec![0x4f, 0x1a, 0x09],
                expires: 1_796_313_749,
            }),
        }
    }

    #[test]
    fn success_has_all_fields_in_order() {
        assert_eq!(
            ok().text(),
            "Date: 2025-12-03 16:02:29\nResult: succeeded\nCode: 0\nUserID: alice\n\
             Store: 2003A1B2\nCN: alice\nS/N: 4F1A09\nExpires: 2026-12-03 16:02:29\n"
        );
    }

    #[test]
    fn outcomes_and_codes() {
        for (exit, word, code) in [
            (Exit::NotDue, "no executed", "110"),
            (Exit::Cancelled, "canceled", "120"),
            (Exit::ServerUnreachable, "failed", "200"),
            (Exit::ServerRefused, "failed", "300"),
            (Exit::CaNotTrusted, "failed", "1000"),
        ] {
            let mut r = ok();
            r.exit = exit;
            let t = r.text();
            assert!(t.contains(&format!("Result: {word}\n")), "{t}");
            assert!(t.contains(&format!("Code: {code}\n")), "{t}");
            assert!(!t.contains("CN:"), "no certificate fields on failure: {t}");
            assert_eq!(r.json()["Result"], word);
        }
    }

    #[test]
    fn written_atomically_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("state");
        let p = write(&dir, &ok()).unwrap();
        assert_eq!(p, dir.join("result.txt"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), ok().text());
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dmode, 0o700);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
