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
//! * Any number of processes share one state file, as pcscd shares one real card: access is
//!   serialised per *transaction*, never per process lifetime. [`StateFile::begin`] takes an
//!   exclusive advisory lock on `FILE.lock` (the lock file, not the state file, because rename
//!   replaces the state file's inode), waiting at most [`StateFile::lock_timeout`] (default
//!   [`DEFAULT_LOCK_TIMEOUT`], 10 s), and [`StateFile::end`] releases it. Every save happens
//!   with the lock held, so a read-modify-write (a retry counter decremented by a wrong PIN) is
//!   never lost to another process's write.
//! * Freshness: `begin` reads the header line of the file (one `open` + one short `read`) and
//!   compares it with the header of the state this handle last loaded or saved. The header
//!   carries the body's length and SHA-256, so it names the content exactly: an unchanged card
//!   is never re-read, a changed one is re-read whole and handed back for the card to adopt
//!   ([`crate::Card::set_backing`]).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

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
    /// Another process (or another handle in this one) held the state file's lock for longer
    /// than the wait allows.
    #[error(
        "state file {} is in use: another process held its lock ({}.lock) for more than {:?}",
        .0.display(), .0.display(), .1
    )]
    Locked(PathBuf, Duration),
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

/// How long [`StateFile::begin`] waits for another process's transaction to end by default.
/// Long enough for the slowest card command (an RSA-2048 key generation in a debug build),
/// short enough that an application whose token is wedged by a stopped process gets an error
/// rather than hanging.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// A state file shared with other processes: the lock is taken per transaction
/// ([`StateFile::begin`] / [`StateFile::end`]), not for the handle's lifetime.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    lock: File,
    /// Nesting depth of `begin` (the lock is held while > 0).
    depth: u32,
    /// Header line of the state this handle last loaded or saved.
    seen: Option<Vec<u8>>,
    timeout: Duration,
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

/// Write `line` to stderr unless this process already wrote it (a failing token is reported
/// once, not on every call an application retries). Not protocol state: only a diagnostic.
pub fn report_once(line: &str) {
    static SHOWN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let set = SHOWN.get_or_init(|| Mutex::new(HashSet::new()));
    let first = set
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(line.to_string());
    if first {
        eprintln!("{line}");
    }
}

/// The header line (without the newline) at the start of `raw`, if there is one.
fn header_of(raw: &[u8]) -> Option<&[u8]> {
    raw.iter()
        .take(200)
        .position(|&b| b == b'\n')
        .map(|nl| &raw[..nl])
}

impl StateFile {
    /// A handle on `path` (already resolved) with its lock file open; the lock is not taken.
    fn handle(path: &Path) -> Result<StateFile, StoreError> {
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io_err(path))?;
        Ok(StateFile {
            path: path.to_path_buf(),
            lock,
            depth: 0,
            seen: None,
            timeout: DEFAULT_LOCK_TIMEOUT,
        })
    }

    /// Take the lock, waiting at most `self.timeout` for another process to release it.
    fn acquire(&mut self) -> Result<(), StoreError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match self.lock.try_lock_exclusive() {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == fs2::lock_contended_error().raw_os_error() => {}
                Err(e) => return Err(io_err(&self.path)(e)),
            }
            let waited = start.elapsed();
            if waited >= self.timeout {
                return Err(StoreError::Locked(self.path.clone(), self.timeout));
            }
            std::thread::sleep(pause.min(self.timeout - waited));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    fn release(&mut self) {
        let _ = FileExt::unlock(&self.lock);
    }

    /// Run `f` inside one transaction (lock taken and released around it).
    fn locked<R>(
        &mut self,
        f: impl FnOnce(&mut StateFile) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.depth += 1;
        if self.depth == 1 {
            if let Err(e) = self.acquire() {
                self.depth = 0;
                return Err(e);
            }
        }
        let r = f(self);
        self.end();
        r
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
        let mut file = Self::handle(path)?;
        file.locked(|f| f.create_locked(card))?;
        Ok(file)
    }

    fn create_locked(&mut self, card: &Card) -> Result<(), StoreError> {
        if self.path.exists() {
            return Err(StoreError::Exists(self.path.clone()));
        }
        let path = self.path.clone();
        self.save(&card.to_state_bytes()).map_err(io_err(&path))
    }

    /// Open an existing state file and load its card (the lock is taken only while reading).
    pub fn open(path: &Path) -> Result<(StateFile, Card), StoreError> {
        let path = &resolve(path)?;
        if !path.exists() {
            // No lock file is made next to a card that does not exist (its folder may not exist
            // either); `create` takes the lock and checks again.
            return Err(StoreError::NotFound(path.to_path_buf()));
        }
        let mut file = Self::handle(path)?;
        let card = file.locked(|f| f.load_locked())?;
        warn_if_readable_by_others(path);
        Ok((file, card))
    }

    fn load_locked(&mut self) -> Result<Card, StoreError> {
        let raw = Self::read_raw(&self.path)?;
        let card = Self::parse(&self.path, &raw)?;
        self.seen = header_of(&raw).map(<[u8]>::to_vec);
        Ok(card)
    }

    /// Load the card in `path` without taking the lock, for read-only inspection while other
    /// processes use it (writers replace the file atomically, so a read sees one consistent
    /// state). Changes to the returned card are not saved.
    pub fn peek(path: &Path) -> Result<Card, StoreError> {
        let path = &resolve(path)?;
        Self::parse(path, &Self::read_raw(path)?)
    }

    fn read_raw(path: &Path) -> Result<Vec<u8>, StoreError> {
        let mut raw = Vec::new();
        match File::open(path) {
            Ok(mut f) => f.read_to_end(&mut raw).map_err(io_err(path))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(path.to_path_buf()))
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        Ok(raw)
    }

    fn body<'a>(path: &Path, raw: &'a [u8]) -> Result<&'a [u8], StoreError> {
        decode(raw).map_err(|reason| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason,
        })
    }

    fn parse(path: &Path, raw: &[u8]) -> Result<Card, StoreError> {
        Card::from_state_bytes(Self::body(path, raw)?).map_err(|source| StoreError::Card {
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
        let path = &resolve(path)?;
        if path.exists() {
            return Self::open(path);
        }
        match Self::create(path, &make()) {
            // Another process created it between our check and our lock: use theirs.
            Err(StoreError::Exists(_)) => Self::open(path),
            Ok(mut file) => {
                let card = file.locked(|f| f.load_locked())?;
                Ok((file, card))
            }
            Err(e) => Err(e),
        }
    }

    /// The path of the state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long [`StateFile::begin`] waits for another process's transaction.
    pub fn lock_timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets the wait of [`StateFile::begin`] (tests; the default is [`DEFAULT_LOCK_TIMEOUT`]).
    pub fn set_lock_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Begin a transaction: take the lock (waiting at most [`StateFile::lock_timeout`]) and
    /// check whether another process changed the card since this handle last loaded or saved
    /// it. `Ok(Some(body))`: the current state, to adopt; `Ok(None)`: unchanged (only the
    /// header line was read). Transactions nest; the lock is held until the matching number of
    /// [`StateFile::end`] calls. On error the lock is not held.
    pub fn begin(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        self.depth += 1;
        if self.depth > 1 {
            return Ok(None);
        }
        if let Err(e) = self.acquire() {
            self.depth = 0;
            return Err(e);
        }
        let r = self.fresh_body();
        if r.is_err() {
            self.depth = 0;
            self.release();
        }
        r
    }

    fn fresh_body(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path.clone();
        let mut head = [0u8; 256];
        let n = {
            let mut f = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(StoreError::NotFound(path))
                }
                Err(e) => return Err(io_err(&path)(e)),
            };
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..]).map_err(io_err(&path))? {
                    0 => break,
                    k => n += k,
                }
            }
            n
        };
        if let (Some(h), Some(seen)) = (header_of(&head[..n]), &self.seen) {
            if h == seen.as_slice() {
                return Ok(None);
            }
        }
        let raw = Self::read_raw(&path)?;
        let body = Self::body(&path, &raw)?.to_vec();
        self.seen = header_of(&raw).map(<[u8]>::to_vec);
        Ok(Some(body))
    }

    /// End a transaction begun with [`StateFile::begin`] (the lock is released when the
    /// outermost one ends). Extra calls are harmless.
    pub fn end(&mut self) {
        if self.depth == 0 {
            return;
        }
        self.depth -= 1;
        if self.depth == 0 {
            self.release();
        }
    }

    /// Atomically replace the file's content with `body` (temp file, fsync, rename, fsync dir).
    /// Outside a transaction the lock is taken for the write.
    pub fn save(&mut self, body: &[u8]) -> io::Result<()> {
        if self.depth == 0 {
            return self
                .locked(|f| {
                    let path = f.path.clone();
                    f.save(body).map_err(io_err(&path))
                })
                .map_err(|e| match e {
                    StoreError::Io { source, .. } => source,
                    other => io::Error::other(other.to_string()),
                });
        }
        let encoded = encode(body);
        save_atomic(&self.path, &encoded)?;
        self.seen = header_of(&encoded).map(<[u8]>::to_vec);
        Ok(())
    }

    /// Open `path` and hand the card this file as its backing: every transaction (or every
    /// APDU outside one) takes the lock, adopts other processes' changes and saves its own.
    pub fn open_persistent(path: &Path) -> Result<Card, StoreError> {
        let (file, mut card) = Self::open(path)?;
        card.set_backing(Box::new(file));
        Ok(card)
    }
}

impl crate::card::Backing for StateFile {
    fn begin(&mut self) -> Result<Option<Vec<u8>>, String> {
        StateFile::begin(self).map_err(|e| {
            let msg = format!("epass2003: emulated token unavailable: {e}");
            tracing::warn!("{msg}");
            report_once(&msg);
            e.to_string()
        })
    }
    fn save(&mut self, bytes: &[u8]) -> io::Result<()> {
        StateFile::save(self, bytes)
    }
    fn end(&mut self) {
        StateFile::end(self)
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

fn save_atomic(path: &Path, encoded: &[u8]) -> io::Result<()> {
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
        f.write_all(encoded)?;
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
        let mut f = StateFile::create(&p, &blank()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o600);
        assert_eq!(mode(p.parent().unwrap()), 0o700);
        f.save(&blank().to_state_bytes()).unwrap();
        assert_eq!(mode(&p), 0o600);
        drop(f);
        // A symlink is written through: the link stays a link, the target gets the content.
        let link = dir.path().join("link.state");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        let (mut f, card) = StateFile::open(&link).unwrap();
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
    fn handles_share_the_file_locked_per_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("card.state");
        let mut first = StateFile::create(&p, &blank()).unwrap();
        // A second opener is not refused: the lock is taken per transaction only.
        let (mut second, _) = StateFile::open(&p).unwrap();
        assert_eq!(first.begin().unwrap(), None, "unchanged: header only");
        second.set_lock_timeout(Duration::from_millis(50));
        let t = Instant::now();
        assert!(matches!(second.begin(), Err(StoreError::Locked(_, _))));
        assert!(t.elapsed() >= Duration::from_millis(50));
        let msg = second.begin().unwrap_err().to_string();
        assert!(msg.contains("more than 50ms"), "{msg}");
        // A write by the first is seen by the second at its next transaction, once.
        first.save(b"{\"new\": 1}").unwrap();
        first.end();
        assert_eq!(
            second.begin().unwrap().as_deref(),
            Some(&b"{\"new\": 1}"[..])
        );
        second.end();
        assert_eq!(second.begin().unwrap(), None);
        second.end();
        // Its own save is not re-read; a save outside a transaction takes the lock itself.
        second.save(b"{}").unwrap();
        assert_eq!(second.begin().unwrap(), None);
        second.end();
        assert_eq!(first.begin().unwrap().as_deref(), Some(&b"{}"[..]));
        first.end();
        // A corrupt file is an error at the next transaction, and the lock is not kept.
        std::fs::write(&p, b"garbage").unwrap();
        assert!(matches!(first.begin(), Err(StoreError::Corrupt { .. })));
        second.set_lock_timeout(Duration::ZERO);
        assert!(matches!(second.begin(), Err(StoreError::Corrupt { .. })));
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
        let mut f = StateFile::create(&p, &blank()).unwrap();
        f.save(b"{}").unwrap();
        assert!(!dir.path().join("card.state.tmp").exists());
        assert_eq!(decode(&std::fs::read(&p).unwrap()).unwrap(), b"{}");
    }
}
