//! The state file: the whole persistent state of one emulated card in one file.
//!
//! Format (version 1):
//!
//! ```text
//! EPASS2003-EMU-STATE 1 <body length, decimal> <SHA-256 of body, hex>\n
//! <body: Card::to_state_bytes()>
//! ```
//!
//! * Writes are atomic: the new content goes to `FILE.tmp`, is fsynced, renamed over `FILE`, and
//!   the directory is fsynced. A crash leaves either the old or the new state, never a mix.
//! * A truncated or corrupt file (bad header, wrong length, checksum mismatch, unparsable body) is
//!   a clear [`StoreError`], never a panic and never a silently blank card.
//! * Two processes never use one state file at once: [`StateFile`] holds an exclusive advisory
//!   lock on `FILE.lock` for its lifetime (the lock file, not the state file, because rename
//!   replaces the state file's inode).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use fs2::FileExt;
use sha2::{Digest, Sha256};

use crate::card::{Card, CardError};

/// Magic word at the start of every state file.
const MAGIC: &str = "EPASS2003-EMU-STATE";
/// The header format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Why a state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another handle in this one) holds the state file.
    #[error("state file {0} is in use by another process (lock {0}.lock is held)")]
    Locked(PathBuf),
    /// The file does not exist.
    #[error("state file {0} does not exist (create it with `epass2003-emu new --state {0}`)")]
    NotFound(PathBuf),
    /// The file exists where a new card was to be created.
    #[error("state file {0} already exists; refusing to overwrite a card")]
    Exists(PathBuf),
    /// The file is not a state file, is truncated, or fails its checksum.
    #[error("state file {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The card rejected the body (unknown body version, inconsistent state).
    #[error("state file {path} holds an unusable card: {source}")]
    Card {
        /// The file.
        path: PathBuf,
        /// The card's error.
        source: CardError,
    },
    /// An I/O error.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// An open, locked state file.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    _lock: File,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl StateFile {
    fn lock(path: &Path) -> Result<File, StoreError> {
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(path))?;
        lock.try_lock_exclusive()
            .map_err(|_| StoreError::Locked(path.to_path_buf()))?;
        Ok(lock)
    }

    /// Create a new state file holding `card`. Fails if the file already exists.
    pub fn create(path: &Path, card: &Card) -> Result<StateFile, StoreError> {
        let lock = Self::lock(path)?;
        if path.exists() {
            return Err(StoreError::Exists(path.to_path_buf()));
        }
        let file = StateFile {
            path: path.to_path_buf(),
            _lock: lock,
        };
        file.save(&card.to_state_bytes()).map_err(io_err(path))?;
        Ok(file)
    }

    /// Open and lock an existing state file and load its card.
    pub fn open(path: &Path) -> Result<(StateFile, Card), StoreError> {
        let lock = Self::lock(path)?;
        let card = Self::load(path)?;
        Ok((
            StateFile {
                path: path.to_path_buf(),
                _lock: lock,
            },
            card,
        ))
    }

    /// Load the card in `path` without taking the lock, for read-only inspection while another
    /// process may have it attached (writers replace the file atomically, so a read sees one
    /// consistent state). Changes to the returned card are not saved.
    pub fn peek(path: &Path) -> Result<Card, StoreError> {
        Self::load(path)
    }

    fn load(path: &Path) -> Result<Card, StoreError> {
        let mut raw = Vec::new();
        match File::open(path) {
            Ok(mut f) => f.read_to_end(&mut raw).map_err(io_err(path))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(path.to_path_buf()))
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        let body = decode(&raw).map_err(|reason| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason,
        })?;
        Card::from_state_bytes(body).map_err(|source| StoreError::Card {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Open the state file at `path`, or create a blank card there with `make` if it does not
    /// exist. The lock is taken before the existence check, so two processes racing here end
    /// with one card, not two.
    pub fn open_or_create(
        path: &Path,
        make: impl FnOnce() -> Card,
    ) -> Result<(StateFile, Card), StoreError> {
        match Self::open(path) {
            Err(StoreError::NotFound(_)) => {
                let card = make();
                // `open` released its lock when it failed; `create` takes it again and re-checks.
                let file = Self::create(path, &card)?;
                Ok((file, card))
            }
            other => other,
        }
    }

    /// The path of the state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Atomically replace the file's content with `body` (temp file, fsync, rename, fsync dir).
    pub fn save(&self, body: &[u8]) -> io::Result<()> {
        save_atomic(&self.path, body)
    }

    /// Open `path`, and hand the card a persister that writes every change back atomically
    /// (the lock stays held by the persister for as long as the card lives).
    pub fn open_persistent(path: &Path) -> Result<Card, StoreError> {
        let (file, mut card) = Self::open(path)?;
        card.set_persister(Box::new(move |bytes| file.save(bytes)));
        Ok(card)
    }
}

/// Encode a body with the versioned, checksummed header.
pub fn encode(body: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(body);
    let mut out = format!(
        "{MAGIC} {FORMAT_VERSION} {} {}\n",
        body.len(),
        hex::encode(digest)
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Check the header and return the body.
pub fn decode(raw: &[u8]) -> Result<&[u8], String> {
    let nl = raw
        .iter()
        .take(200)
        .position(|&b| b == b'\n')
        .ok_or_else(|| "no header line (not a state file, or truncated to nothing)".to_string())?;
    let header = std::str::from_utf8(&raw[..nl]).map_err(|_| "header is not text".to_string())?;
    let mut parts = header.split(' ');
    if parts.next() != Some(MAGIC) {
        return Err(format!("header does not start with {MAGIC}"));
    }
    let version: u32 = parts
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "header has no format version".to_string())?;
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version} is not supported (this build reads version {FORMAT_VERSION})"
        ));
    }
    let len: usize = parts
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "header has no body length".to_string())?;
    let digest = parts
        .next()
        .ok_or_else(|| "header has no checksum".to_string())?;
    let body = &raw[nl + 1..];
    if body.len() != len {
        return Err(format!(
            "body is {} bytes but the header says {len} (truncated or appended to)",
            body.len()
        ));
    }
    if hex::encode(Sha256::digest(body)) != digest {
        return Err("checksum mismatch (the file was modified or damaged)".to_string());
    }
    Ok(body)
}

fn save_atomic(path: &Path, body: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&tmp)?;
        f.write_all(&encode(body))?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{CardOptions, Variant};

    fn blank() -> Card {
        Card::new_blank(Variant::Aes, CardOptions::default())
    }

    #[test]
    fn create_open_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("card.state");
        let card = blank();
        let serial = card.serial();
        drop(StateFile::create(&p, &card).unwrap());
        let (_f, loaded) = StateFile::open(&p).unwrap();
        assert_eq!(loaded.serial(), serial);
        assert_eq!(loaded.variant(), Variant::Aes);
    }

    #[test]
    fn second_opener_is_refused_while_locked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("card.state");
        let first = StateFile::create(&p, &blank()).unwrap();
        assert!(matches!(StateFile::open(&p), Err(StoreError::Locked(_))));
        drop(first);
        assert!(StateFile::open(&p).is_ok());
    }

    #[test]
    fn create_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("card.state");
        drop(StateFile::create(&p, &blank()).unwrap());
        assert!(matches!(
            StateFile::create(&p, &blank()),
            Err(StoreError::Exists(_))
        ));
    }

    #[test]
    fn truncated_and_corrupt_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("card.state");
        drop(StateFile::create(&p, &blank()).unwrap());
        let good = std::fs::read(&p).unwrap();
        // Every truncation point is an error, never a panic or a blank card.
        for cut in [0, 5, 30, good.len() / 2, good.len() - 1] {
            std::fs::write(&p, &good[..cut]).unwrap();
            match StateFile::open(&p) {
                Err(StoreError::Corrupt { .. }) => {}
                other => panic!("cut at {cut}: expected Corrupt, got {other:?}"),
            }
        }
        // A flipped byte in the body fails the checksum.
        let mut bad = good.clone();
        let last = bad.len() - 2;
        bad[last] ^= 0x20;
        std::fs::write(&p, &bad).unwrap();
        let err = StateFile::open(&p).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        // An unknown format version is named.
        let body = decode(&good).unwrap();
        let mut v2 = format!("{MAGIC} 2 {} x\n", body.len()).into_bytes();
        v2.extend_from_slice(body);
        std::fs::write(&p, &v2).unwrap();
        let err = StateFile::open(&p).unwrap_err().to_string();
        assert!(err.contains("version 2"), "{err}");
    }

    #[test]
    fn valid_header_with_garbage_body_is_a_card_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("card.state");
        std::fs::write(&p, encode(b"{\"not\": \"a card\"}")).unwrap();
        assert!(matches!(StateFile::open(&p), Err(StoreError::Card { .. })));
    }

    #[test]
    fn missing_file_is_not_found_and_open_or_create_makes_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("card.state");
        assert!(matches!(StateFile::open(&p), Err(StoreError::NotFound(_))));
        let (_f, card) = StateFile::open_or_create(&p, blank).unwrap();
        drop(_f);
        let (_g, again) = StateFile::open(&p).unwrap();
        assert_eq!(card.serial(), again.serial());
    }

    #[test]
    fn save_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("card.state");
        let f = StateFile::create(&p, &blank()).unwrap();
        f.save(b"{}").unwrap();
        assert!(!dir.path().join("card.state.tmp").exists());
        assert_eq!(decode(&std::fs::read(&p).unwrap()).unwrap(), b"{}");
    }
}
