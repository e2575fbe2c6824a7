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
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
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
    /// The path is a symbolic link to nothing: never taken for a missing (blank) card.
    #[error("state file {0} is a symbolic link whose target does not exist")]
    DanglingSymlink(PathBuf),
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

/// The file a state path stands for: a symbolic link is followed (writes go to its target,
/// the link stays), a dangling one is an error.
fn resolve(path: &Path) -> Result<PathBuf, StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::DanglingSymlink(path.to_path_buf()))
            }
            Err(e) => Err(io_err(path)(e)),
        },
        _ => Ok(path.to_path_buf()),
    }
}

/// The state file holds the card's private keys and PIN hashes: say so once if others can
/// read it.
fn warn_if_readable_by_others(path: &Path) {
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "state file readable by others");
            eprintln!(
                "epass2003: warning: the state file {} can be read by other users (it holds the \
                 token's private keys and PIN hashes): chmod 600 it",
                path.display()
            );
        }
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
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_err(path))?;
        lock.try_lock_exclusive()
            .map_err(|_| StoreError::Locked(path.to_path_buf()))?;
        Ok(lock)
    }

    /// Create a new state file holding `card`. Fails if the file already exists.
    pub fn create(path: &Path, card: &Card) -> Result<StateFile, StoreError> {
        let path = &resolve(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io_err(path))?;
            }
        }
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
        let path = &resolve(path)?;
        if !path.exists() {
            // No lock file is made next to a card that does not exist (its folder may not exist
            // either); `create` takes the lock and checks again.
            return Err(StoreError::NotFound(path.to_path_buf()));
        }
        let lock = Self::lock(path)?;
        let card = Self::load(path)?;
        warn_if_readable_by_others(path);
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
        Self::load(&resolve(path)?)
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
            .mode(0o600)
            .open(&tmp)?;
        // A temporary file left by a crash may have other permissions.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
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
    fn private_mode_parent_created_symlink_followed_dangling_refused() {
        let dir = tempfile::tempdir().unwrap();
        // The parent folder is created (0700); the file is 0600, also after a save.
        let p = dir.path().join("new/sub/card.state");
        let f = StateFile::create(&p, &blank()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(p.parent().unwrap()), 0o700);
        f.save(&blank().to_state_bytes()).unwrap();
        assert_eq!(mode(&p), 0o600);
        drop(f);
        // A symlink is written through: the link stays a link, the target gets the content.
        let link = dir.path().join("link.state");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        let (f, card) = StateFile::open(&link).unwrap();
        f.save(&card.to_state_bytes()).unwrap();
        drop(f);
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(StateFile::peek(&link).unwrap().serial(), card.serial());
        // A dangling symlink is an error, never a blank card.
        let dangling = dir.path().join("dangling.state");
        std::os::unix::fs::symlink(dir.path().join("nothing"), &dangling).unwrap();
        assert!(matches!(
            StateFile::open_or_create(&dangling, blank),
            Err(StoreError::DanglingSymlink(_))
        ));
        assert!(!dir.path().join("nothing").exists());
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
