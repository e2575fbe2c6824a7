//! [`Epass2003Token`]: the ePass2003 with OpenSC's PKCS#15 layout (`pkcs15+onepin`), read and
//! write, implementing [`TokenBackend`].
//!
//! * Layout and entry shapes: [`layout`] (protocol doc §8, checked against a card personalised
//!   by OpenSC 0.23's `pkcs15-init`).
//! * Pull-safe directory edits: [`dirlist`] (the technique is described there). Every write
//!   operation runs in this order: (1) bump the change counter in the settings EF, (2) create and
//!   fill the object's file(s), (3) list the object (append to the directory file; for a key
//!   pair the PrKDF entry first, then the PuKDF entry), so an object is listed only once its file
//!   is complete. A deletion unlists first and deletes the file afterwards.
//! * Directory cache: [`cache`].
//!
//! Decisions (see also the report in the module docs of each item):
//! * `init_token` with `user_pin: None` installs PIN kid 1 with a random, never-disclosed
//!   16-byte value and writes the AODF PIN object **without** the PKCS#15 `initialized` flag;
//!   [`TokenBackend::init_user_pin`] (SO = PUK logged in) sets the real PIN and the flag. OpenSC
//!   still finds the usual onepin PIN object.
//! * APDU economy: the current DF is tracked; a signature with `5015` already current is two
//!   APDUs (MSE + PSO). If the card was reset behind our back, the MSE fails and the operation is
//!   retried once after selecting `3F00/5015`.

pub mod cache;
pub mod dirlist;
pub mod layout;

use std::collections::HashMap;
use std::path::PathBuf;

use epass2003::commands::{KeyAlgorithm, KeyRecord};
use epass2003::fci::Fcp;
use epass2003::transport::Transport;
use epass2003::{CardSession, Connection};
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use crate::asn1::aodf::{Aodf, AuthObject, PinFlags};
use crate::asn1::cdf::{Cdf, CertificateEntry};
use crate::asn1::dodf::{DataObjectEntry, Dodf};
use crate::asn1::efdir::{ApplicationTemplate, PKCS15_AID};
use crate::asn1::odf::{Odf, OdfEntry, OdfKind, OdfRecord};
use crate::asn1::prkdf::{PrivateKeyEntry, PrivateKeyKind, Prkdf};
use crate::asn1::pukdf::{PublicKeyEntry, PublicKeyKind, Pukdf};
use crate::asn1::tokeninfo::{TokenFlags, TokenInfo};
use crate::asn1::{KeyAccessFlags, ObjectFlags, ObjectValue};
use crate::backend::{
    BackendError, EcKeyImport, InitParams, KeyGenSpec, KeyType, KeyUsage, NewObject, ObjectKind,
    ObjectMeta, ObjectRef, PinPolicy, PinRole, PinStatus, Result, RsaKeyImport, TokenBackend,
    TokenDescription,
};
use crate::settings::{self, CharClasses, TokenSettings};
use layout::*;

/// Longest label / ID this crate writes (keeps every entry it appends below one APDU).
pub const MAX_LABEL: usize = 64;
/// Longest object ID this crate writes.
pub const MAX_ID: usize = 64;

/// A driver error in the terms of the backend interface (the interface crate knows no card).
pub fn card_error(e: epass2003::Error) -> BackendError {
    {
        use epass2003::Error as E;
        match e {
            E::WrongPin { tries_left } => BackendError::WrongPin { tries_left },
            E::WrongPinNoCounter => BackendError::WrongPinNoCounter,
            E::PinBlocked => BackendError::PinLocked,
            E::SecurityStatus => BackendError::NotLoggedIn,
            E::Removed | E::CardReset => BackendError::Removed,
            E::FileNotFound => BackendError::NoSuchObject,
            E::Sw(sw) if sw.to_u16() == 0x6A84 => BackendError::NoMemory,
            E::NotSupported(s) => BackendError::NotSupported(s),
            E::InvalidArgument(s) => BackendError::InvalidInput(s),
            other => BackendError::Device(other.to_string()),
        }
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::Corrupt(format!("{what}: {e}"))
}

/// Options for [`Epass2003Token::open`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The card is the software emulator: the model reads "ePass2003 (emulated)".
    pub emulated: bool,
    /// Directory for the on-disk directory cache; `None` disables it. See
    /// [`cache::default_dir`].
    pub cache_dir: Option<PathBuf>,
}

/// A file's size and the bytes read from its start (for a directory file: at least the entry
/// list and its terminator).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileImage {
    /// Logical FID (in `5015`).
    pub fid: u16,
    /// File size from the FCI.
    pub size: usize,
    /// Bytes read from offset 0.
    pub data: Vec<u8>,
}

impl FileImage {
    fn scan(&self) -> (Vec<(usize, usize)>, usize) {
        match dirlist::scan(&self.data, self.size) {
            dirlist::Scan::Done { spans, end } => (spans, end),
            dirlist::Scan::NeedMore => (Vec::new(), 0),
        }
    }
}

/// Everything read at open (and what the cache stores).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// GET DATA serial (8 bytes).
    pub serial: Vec<u8>,
    /// TokenInfo file bytes.
    pub tokeninfo: Vec<u8>,
    /// Settings EF bytes, if the file exists.
    pub settings: Option<Vec<u8>>,
    /// 9F00: user and SO max tries.
    pub max_tries: [u8; 2],
    /// ODF.
    pub odf: FileImage,
    /// AODF.
    pub aodf: Option<FileImage>,
    /// PrKDF.
    pub prkdf: Option<FileImage>,
    /// PuKDF.
    pub pukdf: Option<FileImage>,
    /// CDF.
    pub cdf: Option<FileImage>,
    /// DODF.
    pub dodf: Option<FileImage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Prkdf,
    Pukdf,
    Cdf,
    Dodf,
}

impl Dir {
    fn default_fid(self) -> u16 {
        match self {
            Dir::Prkdf => PRKDF,
            Dir::Pukdf => PUKDF,
            Dir::Cdf => CDF,
            Dir::Dodf => DODF,
        }
    }
    fn odf_kind(self) -> OdfKind {
        match self {
            Dir::Prkdf => OdfKind::PrivateKeys,
            Dir::Pukdf => OdfKind::PublicKeys,
            Dir::Cdf => OdfKind::Certificates,
            Dir::Dodf => OdfKind::DataObjects,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Dir::Prkdf => "PrKDF",
            Dir::Pukdf => "PuKDF",
            Dir::Cdf => "CDF",
            Dir::Dodf => "DODF",
        }
    }
}

impl Snapshot {
    fn dir(&self, d: Dir) -> Option<&FileImage> {
        match d {
            Dir::Prkdf => self.prkdf.as_ref(),
            Dir::Pukdf => self.pukdf.as_ref(),
            Dir::Cdf => self.cdf.as_ref(),
            Dir::Dodf => self.dodf.as_ref(),
        }
    }
    fn dir_mut(&mut self, d: Dir) -> &mut Option<FileImage> {
        match d {
            Dir::Prkdf => &mut self.prkdf,
            Dir::Pukdf => &mut self.pukdf,
            Dir::Cdf => &mut self.cdf,
            Dir::Dodf => &mut self.dodf,
        }
    }
    fn settings_parsed(&self) -> Option<TokenSettings> {
        self.settings
            .as_deref()
            .and_then(|b| TokenSettings::from_bytes(b).ok())
    }
    fn token_info(&self) -> Result<TokenInfo> {
        let len = split_tlv(&self.tokeninfo)
            .map(|t| t.2)
            .ok_or_else(|| corrupt("TokenInfo", "empty"))?;
        TokenInfo::from_der(&self.tokeninfo[..len]).map_err(|e| corrupt("TokenInfo", e))
    }
    fn user_pin(&self) -> Option<crate::asn1::aodf::PinObject> {
        let a = self.aodf.as_ref()?;
        let (_, end) = a.scan();
        let aodf = Aodf::from_der(&a.data[..end]).ok()?;
        let pins: Vec<_> = aodf.pins().cloned().collect();
        pins.iter()
            .find(|p| p.attrs.effective_reference() == 1)
            .or(pins.first())
            .cloned()
    }
}

/// One listed object, with what is needed to use or edit it.
#[derive(Debug, Clone)]
struct Obj {
    meta: ObjectMeta,
    dir: Dir,
    /// Entry range in the directory file.
    span: (usize, usize),
    /// Logical FID of the value file.
    fid: Option<u16>,
    /// Direct value (PuKDF / DODF `direct`).
    direct: Option<Vec<u8>>,
    /// Path index / length (a value inside a file).
    index: Option<u32>,
    length: Option<u32>,
}

/// An ePass2003 with OpenSC's PKCS#15 layout.
pub struct Epass2003Token<T: Transport> {
    conn: Connection<T>,
    opts: OpenOptions,
    snap: Option<Snapshot>,
    loaded: bool,
    in_app_df: bool,
    last_reauth: u64,
    refs: HashMap<(u8, Vec<u8>), u32>,
    next_ref: u32,
    login_lost: bool,
    /// Whether the last open used the on-disk cache (for tests and diagnostics).
    cache_hit: bool,
}

fn kind_code(k: ObjectKind) -> u8 {
    match k {
        ObjectKind::Certificate => 0,
        ObjectKind::PublicKey => 1,
        ObjectKind::PrivateKey => 2,
        ObjectKind::Data => 3,
    }
}

/// Selects `fid` in `5015`, selecting the DF first when it is not known to be current.
fn sel(s: &mut CardSession<'_>, in_app: &mut bool, fid: u16) -> Result<epass2003::fci::Fci> {
    if *in_app {
        match s.select_fid(fid) {
            Ok(f) => return Ok(f),
            Err(epass2003::Error::FileNotFound) => {}
            Err(e) => {
                *in_app = false;
                return Err(card_error(e));
            }
        }
    }
    *in_app = false;
    s.select_path(&[0x3F00, APP_DF]).map_err(card_error)?;
    *in_app = true;
    s.select_fid(fid).map_err(card_error)
}

fn enter_app(s: &mut CardSession<'_>, in_app: &mut bool) -> Result<()> {
    if !*in_app {
        s.select_path(&[0x3F00, APP_DF]).map_err(card_error)?;
        *in_app = true;
    }
    Ok(())
}

/// Reads a whole transparent EF of `5015`; `None` if absent.
fn read_opt(s: &mut CardSession<'_>, in_app: &mut bool, fid: u16) -> Result<Option<Vec<u8>>> {
    let fci = match sel(s, in_app, fid) {
        Ok(f) => f,
        Err(BackendError::NoSuchObject) => return Ok(None),
        Err(e) => return Err(e),
    };
    let size = fci.size.unwrap_or(0);
    Ok(Some(s.read_binary(0, size).map_err(card_error)?))
}

/// Reads a directory file up to (and including) its terminator.
fn read_list(s: &mut CardSession<'_>, in_app: &mut bool, fid: u16) -> Result<Option<FileImage>> {
    let fci = match sel(s, in_app, fid) {
        Ok(f) => f,
        Err(BackendError::NoSuchObject) => return Ok(None),
        Err(e) => return Err(e),
    };
    let size = fci.size.unwrap_or(0);
    let mut data = Vec::new();
    while data.len() < size {
        let n = (size - data.len()).min(epass2003::commands::READ_CHUNK);
        let chunk = s.read_binary(data.len() as u16, n).map_err(card_error)?;
        if chunk.is_empty() {
            break;
        }
        data.extend_from_slice(&chunk);
        if let dirlist::Scan::Done { end, .. } = dirlist::scan(&data, size) {
            if end < data.len() || data.len() >= size {
                break;
            }
        }
    }
    Ok(Some(FileImage { fid, size, data }))
}

/// Writes `[start, old_end)` of a directory file with `new` (pull-safe order, see [`dirlist`]).
fn edit_list(
    s: &mut CardSession<'_>,
    in_app: &mut bool,
    img: &mut FileImage,
    start: usize,
    old_end: usize,
    new: &[u8],
) -> Result<()> {
    // Zero any stale non-zero bytes seen after the list as well.
    let stale_end = img
        .data
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |p| p + 1)
        .max(old_end);
    let plan = dirlist::plan(start, stale_end, new, img.size).ok_or(BackendError::NoMemory)?;
    sel(s, in_app, img.fid)?;
    for (off, bytes) in &plan {
        s.update_binary(*off as u16, bytes).map_err(card_error)?;
    }
    for (off, bytes) in plan.iter().rev() {
        if img.data.len() < off + bytes.len() {
            img.data.resize(off + bytes.len(), 0);
        }
        img.data[*off..off + bytes.len()].copy_from_slice(bytes);
    }
    // The list now ends at `start + new.len()`; keep its terminator byte in the image (bytes
    // never read are zero: the file was zero-filled and every edit zero-fills what it vacates).
    let want = (start + new.len() + 1).min(img.size);
    if img.data.len() < want {
        img.data.resize(want, 0);
    }
    Ok(())
}

fn check_text(what: &str, s: &[u8], max: usize) -> Result<()> {
    if s.len() > max {
        return Err(BackendError::InvalidInput(format!(
            "{what} longer than {max} bytes"
        )));
    }
    Ok(())
}

/// A maximum-tries value for INSTALL SECRET KEY, or `InvalidInput` stating the range.
fn check_max_tries(field: &str, n: u8) -> Result<u8> {
    if crate::backend::MAX_TRIES_RANGE.contains(&n) {
        Ok(n)
    } else {
        Err(BackendError::InvalidInput(format!(
            "{field} = {n}: out of range, allowed {}..={} (0 = no retry counter)",
            crate::backend::MAX_TRIES_RANGE.start(),
            crate::backend::MAX_TRIES_RANGE.end()
        )))
    }
}

fn settings_policy(p: &settings::PinPolicy) -> PinPolicy {
    PinPolicy {
        min_len: p.min_len,
        max_len: p.max_len,
        require_digit: p.required.contains(CharClasses::DIGITS),
        require_letter: p.required.contains(CharClasses::LOWER)
            || p.required.contains(CharClasses::UPPER),
        digits_only: p.allowed == CharClasses::DIGITS,
        allow_non_ascii: false,
    }
}

fn to_settings_policy(p: &PinPolicy) -> settings::PinPolicy {
    let mut required = 0u8;
    if p.require_digit {
        required |= CharClasses::DIGITS.0;
    }
    // "Some letter" cannot be expressed by the settings record (it requires each class it
    // lists); it is not stored.
    // Lengths as given: `TokenSettings::validate` refuses 0 or max < min (no silent fix).
    settings::PinPolicy {
        min_len: p.min_len,
        max_len: p.max_len,
        required: CharClasses(required),
        allowed: if p.digits_only {
            CharClasses::DIGITS
        } else {
            CharClasses::ALL
        },
    }
}

use layout::split_tlv;

impl<T: Transport> Epass2003Token<T> {
    /// Opens a token on an established connection. Reads the directory (or validates the
    /// on-disk cache) right away; a card without `3F00/5015` opens as "not initialised".
    pub fn open(conn: Connection<T>, opts: OpenOptions) -> Result<Self> {
        let last_reauth = conn.reauth_count();
        let mut t = Epass2003Token {
            conn,
            opts,
            snap: None,
            loaded: false,
            in_app_df: false,
            last_reauth,
            refs: HashMap::new(),
            next_ref: 1,
            login_lost: false,
            cache_hit: false,
        };
        t.load()?;
        Ok(t)
    }

    /// Whether the directory came from the on-disk cache at the last (re)load.
    pub fn cache_hit(&self) -> bool {
        self.cache_hit
    }

    /// Gives the connection back.
    pub fn into_connection(self) -> Connection<T> {
        self.conn
    }

    /// The connection (e.g. for the transport).
    pub fn connection_mut(&mut self) -> &mut Connection<T> {
        &mut self.conn
    }

    /// Re-reads TokenInfo and the settings record (4 APDUs when `5015` is current) and re-reads
    /// the directory if either changed, i.e. if another process wrote to the card (this crate
    /// bumps the settings change counter; OpenSC rewrites TokenInfo). Every write operation calls
    /// it first, so a long-lived process never edits a directory from a stale image. The PKCS#11
    /// layer may call it when it wants fresh object lists (e.g. at C_FindObjectsInit). Returns
    /// whether the directory was re-read.
    pub fn refresh_if_changed(&mut self) -> Result<bool> {
        if !self.loaded || self.snap.is_none() {
            self.load()?;
            return Ok(true);
        }
        self.sync_reauth();
        let (ti, st) = {
            let in_app = &mut self.in_app_df;
            let mut s = self.conn.transaction().map_err(card_error)?;
            let ti = read_opt(&mut s, in_app, TOKENINFO)?;
            let st = read_opt(&mut s, in_app, SETTINGS)?;
            (ti, st)
        };
        let unchanged = self
            .snap
            .as_ref()
            .is_some_and(|snap| ti.as_ref() == Some(&snap.tokeninfo) && st == snap.settings);
        if unchanged {
            return Ok(false);
        }
        self.load()?;
        Ok(true)
    }

    fn sync_reauth(&mut self) {
        let rc = self.conn.reauth_count();
        if rc != self.last_reauth {
            self.last_reauth = rc;
            self.in_app_df = false;
        }
    }

    fn cache_key(snap: &Snapshot) -> Option<Vec<u8>> {
        snap.token_info().ok().map(|ti| ti.serial_number)
    }

    /// Reads the directory (or takes it from the cache).
    fn load(&mut self) -> Result<()> {
        self.sync_reauth();
        self.loaded = false;
        self.snap = None;
        self.cache_hit = false;
        let cache_dir = self.opts.cache_dir.clone();
        let in_app = &mut self.in_app_df;
        let mut s = self.conn.transaction().map_err(card_error)?;
        *in_app = false;
        match s.select_path(&[0x3F00, APP_DF]) {
            Ok(_) => *in_app = true,
            Err(epass2003::Error::FileNotFound) => {
                self.loaded = true;
                return Ok(());
            }
            Err(e) => return Err(card_error(e)),
        }
        let tokeninfo =
            read_opt(&mut s, in_app, TOKENINFO)?.ok_or_else(|| corrupt("TokenInfo", "missing"))?;
        let settings = read_opt(&mut s, in_app, SETTINGS)?;
        let mut partial = Snapshot {
            tokeninfo,
            settings,
            ..Snapshot::default()
        };
        let key = Self::cache_key(&partial);
        if let (Some(dir), Some(key)) = (&cache_dir, &key) {
            if let Some(c) = cache::load(dir, key) {
                if partial.settings.is_some()
                    && c.settings == partial.settings
                    && c.tokeninfo == partial.tokeninfo
                {
                    drop(s);
                    self.snap = Some(c);
                    self.loaded = true;
                    self.cache_hit = true;
                    return Ok(());
                }
            }
        }
        partial.serial = s.get_serial().map_err(card_error)?;
        partial.max_tries = match read_opt(&mut s, in_app, MAXPIN)? {
            Some(b) if b.len() >= 2 => [b[0], b[1]],
            _ => [6, 6],
        };
        partial.odf = read_list(&mut s, in_app, ODF)?.ok_or_else(|| corrupt("ODF", "missing"))?;
        let (_, end) = partial.odf.scan();
        let odf = Odf::from_der(&partial.odf.data[..end]).map_err(|e| corrupt("ODF", e))?;
        let first = |k: OdfKind| odf.paths(k).next().and_then(path_fid);
        if let Some(f) = first(OdfKind::AuthObjects) {
            partial.aodf = read_list(&mut s, in_app, f)?;
        }
        for d in [Dir::Prkdf, Dir::Pukdf, Dir::Cdf, Dir::Dodf] {
            if let Some(f) = first(d.odf_kind()) {
                *partial.dir_mut(d) = read_list(&mut s, in_app, f)?;
            }
        }
        drop(s);
        self.snap = Some(partial);
        self.loaded = true;
        self.store_cache();
        Ok(())
    }

    /// Writes the snapshot to the cache, unless TokenInfo was changed by OpenSC within the last
    /// [`cache::FRESH_SECS`] seconds (its one-second `lastUpdate` resolution could hide a
    /// second change in the same second) or the card has no settings EF.
    fn store_cache(&self) {
        let (Some(dir), Some(snap)) = (&self.opts.cache_dir, &self.snap) else {
            return;
        };
        let Some(key) = Self::cache_key(snap) else {
            return;
        };
        if snap.settings.is_none() {
            cache::remove(dir, &key);
            return;
        }
        if let Ok(ti) = snap.token_info() {
            if let Some(lu) = ti.last_update {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let t = lu.to_unix_duration();
                if t + std::time::Duration::from_secs(cache::FRESH_SECS) > now {
                    cache::remove(dir, &key);
                    return;
                }
            }
        }
        cache::store(dir, &key, snap);
    }

    fn drop_cache(&self) {
        if let (Some(dir), Some(snap)) = (&self.opts.cache_dir, &self.snap) {
            if let Some(key) = Self::cache_key(snap) {
                cache::remove(dir, &key);
            }
        }
    }

    fn ensure_loaded(&mut self) -> Result<()> {
        if !self.loaded {
            self.load()?;
        }
        Ok(())
    }

    fn snap(&mut self) -> Result<&Snapshot> {
        self.ensure_loaded()?;
        self.snap.as_ref().ok_or(BackendError::NotInitialized)
    }

    fn reference(&mut self, kind: ObjectKind, key: Vec<u8>) -> ObjectRef {
        let k = (kind_code(kind), key);
        if let Some(r) = self.refs.get(&k) {
            return ObjectRef(*r);
        }
        let r = self.next_ref;
        self.next_ref += 1;
        self.refs.insert(k, r);
        ObjectRef(r)
    }

    /// Parses the four object directories.
    fn index(&mut self) -> Result<Vec<Obj>> {
        let snap = match self.snap() {
            Ok(s) => s.clone(),
            Err(BackendError::NotInitialized) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for d in [Dir::Prkdf, Dir::Pukdf, Dir::Cdf, Dir::Dodf] {
            let Some(img) = snap.dir(d) else { continue };
            let (spans, _) = img.scan();
            for span in spans {
                let bytes = &img.data[span.0..span.1];
                let parsed = self
                    .parse_entry(d, bytes)
                    .map_err(|e| corrupt(d.name(), format!("entry at {}: {e}", span.0)))?;
                if let Some(mut o) = parsed {
                    o.span = span;
                    let key = match (&o.fid, &o.direct) {
                        (Some(f), _) => f.to_be_bytes().to_vec(),
                        (None, Some(v)) => v.clone(),
                        _ => bytes.to_vec(),
                    };
                    o.meta.reference = self.reference(o.meta.kind, key);
                    out.push(o);
                }
            }
        }
        Ok(out)
    }

    fn parse_entry(&self, d: Dir, bytes: &[u8]) -> crate::Result<Option<Obj>> {
        let mut meta = ObjectMeta {
            reference: ObjectRef(0),
            kind: ObjectKind::Data,
            label: String::new(),
            id: Vec::new(),
            private: false,
            modifiable: true,
            key_type: None,
            usage: KeyUsage::default(),
            local: false,
            application: None,
        };
        let mut obj = Obj {
            meta: meta.clone(),
            dir: d,
            span: (0, 0),
            fid: None,
            direct: None,
            index: None,
            length: None,
        };
        let set_value = |obj: &mut Obj, v: &ObjectValue| match v {
            ObjectValue::Indirect(p) => {
                obj.fid = path_fid(p);
                obj.index = p.index;
                obj.length = p.length;
            }
            ObjectValue::Direct(v) => obj.direct = Some(v.clone()),
        };
        let is_private = |c: &crate::asn1::CommonObjectAttributes| {
            c.auth_id.is_some() || c.flags.is_some_and(|f| f.contains(ObjectFlags::PRIVATE))
        };
        match d {
            Dir::Prkdf => {
                let f = Prkdf::from_der(bytes)?;
                let Some(PrivateKeyEntry::Key(k)) = f.entries.into_iter().next() else {
                    return Ok(None);
                };
                meta.kind = ObjectKind::PrivateKey;
                meta.label = k.common.label.clone().unwrap_or_default();
                meta.id = k.key.id.clone();
                meta.private = true;
                meta.usage = usage_from(k.key.usage);
                meta.local = k
                    .key
                    .access_flags
                    .is_some_and(|a| a.contains(KeyAccessFlags::LOCAL));
                match &k.kind {
                    PrivateKeyKind::Rsa(a) => {
                        meta.key_type = Some(KeyType::Rsa {
                            bits: a.modulus_length as u16,
                        });
                        set_value(&mut obj, &a.value);
                    }
                    PrivateKeyKind::Ec(a) => {
                        meta.key_type = Some(KeyType::EcP256);
                        set_value(&mut obj, &a.value);
                    }
                }
                if obj.fid.is_none() {
                    obj.fid = k.key.key_reference.map(|r| 0x2900 | (r as u16 & 0xFF));
                }
            }
            Dir::Pukdf => {
                let f = Pukdf::from_der(bytes)?;
                let Some(PublicKeyEntry::Key(k)) = f.entries.into_iter().next() else {
                    return Ok(None);
                };
                meta.kind = ObjectKind::PublicKey;
                meta.label = k.common.label.clone().unwrap_or_default();
                meta.id = k.key.id.clone();
                meta.private = is_private(&k.common);
                meta.usage = usage_from(k.key.usage);
                meta.local = k
                    .key
                    .access_flags
                    .is_some_and(|a| a.contains(KeyAccessFlags::LOCAL));
                match &k.kind {
                    PublicKeyKind::Rsa(a) => {
                        meta.key_type = Some(KeyType::Rsa {
                            bits: a.modulus_length as u16,
                        });
                        set_value(&mut obj, &a.value);
                    }
                    PublicKeyKind::Ec(a) => {
                        meta.key_type = Some(KeyType::EcP256);
                        set_value(&mut obj, &a.value);
                    }
                }
            }
            Dir::Cdf => {
                let f = Cdf::from_der(bytes)?;
                let Some(CertificateEntry::X509(c)) = f.entries.into_iter().next() else {
                    return Ok(None);
                };
                meta.kind = ObjectKind::Certificate;
                meta.label = c.common.label.clone().unwrap_or_default();
                meta.id = c.cert.id.clone();
                meta.private = is_private(&c.common);
                set_value(&mut obj, &c.x509.value);
            }
            Dir::Dodf => {
                let f = Dodf::from_der(bytes)?;
                let Some(DataObjectEntry::Opaque(o)) = f.entries.into_iter().next() else {
                    return Ok(None);
                };
                meta.kind = ObjectKind::Data;
                meta.label = o.common.label.clone().unwrap_or_default();
                meta.private = is_private(&o.common);
                meta.application = o.application_name.clone();
                set_value(&mut obj, &o.value);
            }
        }
        obj.meta = meta;
        Ok(Some(obj))
    }

    fn find(&mut self, r: ObjectRef) -> Result<Obj> {
        self.index()?
            .into_iter()
            .find(|o| o.meta.reference == r)
            .ok_or(BackendError::NoSuchObject)
    }

    /// First index 0..8 whose logical FIDs `hi 0n` are unused by listed objects, for every `hi`.
    fn free_index(&mut self, his: &[u8]) -> Result<u8> {
        let used: Vec<u16> = self.index()?.iter().filter_map(|o| o.fid).collect();
        (0u8..8)
            .find(|n| {
                his.iter()
                    .all(|hi| !used.contains(&u16::from_be_bytes([*hi, *n])))
            })
            .ok_or(BackendError::NoMemory)
    }

    /// After a write that ran out of memory (`6A 84`): removes what it left at `fids`, its
    /// own FIDs (free before it started): an object it managed to list is deleted as an object,
    /// an unlisted file is deleted quietly. So a full card keeps the memory and the objects it
    /// had. Best effort: the caller reports the original `NoMemory` whatever happens here.
    fn undo_full(&mut self, fids: &[u16]) {
        let listed: Vec<ObjectRef> = match self.index() {
            Ok(objs) => objs
                .iter()
                .filter(|o| o.fid.is_some_and(|f| fids.contains(&f)))
                .map(|o| o.meta.reference)
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "token full: could not re-read the directory to undo");
                return;
            }
        };
        for r in listed {
            if let Err(e) = self.delete_object(r) {
                tracing::warn!(error = %e, "token full: a half-written object stays listed");
            }
        }
        let res = self.write_op(|s, in_app, _snap| {
            for fid in fids {
                delete_quiet(s, in_app, *fid)?;
            }
            Ok(())
        });
        if let Err(e) = res {
            tracing::warn!(error = %e, "token full: unlisted files of the failed write stay");
        }
    }

    /// [`Self::write_op`] for a write that creates the files `fids` (free before it starts):
    /// if the card runs out of memory, what it left there is removed ([`Self::undo_full`]) and
    /// `NoMemory` is reported.
    fn write_new(
        &mut self,
        fids: &[u16],
        f: impl FnOnce(&mut CardSession<'_>, &mut bool, &mut Snapshot) -> Result<()>,
    ) -> Result<()> {
        let res = self.write_op(f);
        if res == Err(BackendError::NoMemory) {
            self.undo_full(fids);
        }
        res
    }

    /// Runs a write operation: loads, opens a transaction, bumps the change counter, runs `f`,
    /// and refreshes the cache. On failure the in-memory directory is dropped (re-read on the
    /// next call) and the cache file removed.
    fn write_op<R>(
        &mut self,
        f: impl FnOnce(&mut CardSession<'_>, &mut bool, &mut Snapshot) -> Result<R>,
    ) -> Result<R> {
        self.ensure_loaded()?;
        self.sync_reauth();
        let mut snap = self.snap.clone().ok_or(BackendError::NotInitialized)?;
        let in_app = &mut self.in_app_df;
        let res = (|| {
            let mut s = self.conn.transaction().map_err(card_error)?;
            bump_counter(&mut s, in_app, &mut snap, |_| {})?;
            f(&mut s, in_app, &mut snap)
        })();
        match res {
            Ok(r) => {
                self.snap = Some(snap);
                self.store_cache();
                Ok(r)
            }
            Err(e) => {
                self.drop_cache();
                self.loaded = false;
                self.in_app_df = false;
                Err(e)
            }
        }
    }

    fn meta_of(&mut self, d: Dir, fid: u16) -> Result<ObjectMeta> {
        self.index()?
            .into_iter()
            .find(|o| o.dir == d && o.fid == Some(fid))
            .map(|o| o.meta)
            .ok_or_else(|| corrupt(d.name(), "new entry not found"))
    }

    fn key_fid(&mut self, key: ObjectRef, ec: bool) -> Result<u16> {
        let o = self.find(key)?;
        if o.meta.kind != ObjectKind::PrivateKey {
            return Err(BackendError::InvalidInput("not a private key".into()));
        }
        let is_ec = o.meta.key_type == Some(KeyType::EcP256);
        if is_ec != ec {
            return Err(BackendError::InvalidInput("wrong key type".into()));
        }
        o.fid.ok_or_else(|| corrupt("PrKDF", "key without path"))
    }

    /// Runs a private-key operation with the fewest APDUs: no SELECT when `5015` is current;
    /// one retry after selecting it if the card lost track (reset, other process).
    fn key_op<R>(
        &mut self,
        mut f: impl FnMut(&mut CardSession<'_>) -> std::result::Result<R, epass2003::Error>,
    ) -> Result<R> {
        self.sync_reauth();
        let in_app = &mut self.in_app_df;
        let mut s = self.conn.transaction().map_err(card_error)?;
        let was = *in_app;
        enter_app(&mut s, in_app)?;
        match f(&mut s) {
            Ok(r) => Ok(r),
            Err(e) if was && !matches!(e, epass2003::Error::Removed) => {
                tracing::debug!(error = %e, "key operation failed; reselecting 5015 and retrying");
                *in_app = false;
                enter_app(&mut s, in_app)?;
                Ok(f(&mut s).map_err(card_error)?)
            }
            Err(e) => {
                if matches!(e, epass2003::Error::Removed) {
                    *in_app = false;
                }
                Err(card_error(e))
            }
        }
    }
}

/// Rewrites the settings EF with the counter bumped (creating the EF if missing); `change`
/// edits the record first.
fn bump_counter(
    s: &mut CardSession<'_>,
    in_app: &mut bool,
    snap: &mut Snapshot,
    change: impl FnOnce(&mut TokenSettings),
) -> Result<()> {
    let mut st = snap.settings_parsed().unwrap_or_default();
    change(&mut st);
    let st = st.bumped();
    let size = settings::SUGGESTED_FILE_SIZE;
    let bytes = st
        .to_file(size)
        .map_err(|e| BackendError::InvalidInput(e.to_string()))?;
    if snap.settings.is_none() {
        enter_app(s, in_app)?;
        let fcp = Fcp::transparent(SETTINGS, size as u16, AC_P15).map_err(card_error)?;
        match s.create_file(&fcp) {
            Ok(()) => {}
            Err(epass2003::Error::Sw(sw)) if sw.to_u16() == 0x6A89 => {}
            Err(e) => return Err(card_error(e)),
        }
    }
    sel(s, in_app, SETTINGS)?;
    // Only the 20-byte record changes (the padding is already zero on a file we created).
    s.update_binary(0, &bytes[..settings::RECORD_LEN])
        .map_err(card_error)?;
    snap.settings = Some(bytes);
    Ok(())
}

/// Appends an entry to a directory file.
fn append_entry(
    s: &mut CardSession<'_>,
    in_app: &mut bool,
    img: &mut FileImage,
    entry: &[u8],
) -> Result<()> {
    let (_, end) = img.scan();
    edit_list(s, in_app, img, end, end, entry)
}

/// Replaces (or with `None` removes) the entry at `span`.
fn replace_entry(
    s: &mut CardSession<'_>,
    in_app: &mut bool,
    img: &mut FileImage,
    span: (usize, usize),
    entry: Option<&[u8]>,
) -> Result<()> {
    let (_, end) = img.scan();
    let mut new = entry.map(<[u8]>::to_vec).unwrap_or_default();
    new.extend_from_slice(&img.data[span.1..end]);
    // Skip the unchanged head of the new bytes (a rename changes only the entry).
    let old = &img.data[span.0..end];
    let common = new.iter().zip(old).take_while(|(a, b)| a == b).count();
    if common == new.len() && new.len() == old.len() {
        return Ok(());
    }
    edit_list(s, in_app, img, span.0 + common, end, &new[common..])
}

/// The shadow of a directory file (see [`rewrite_dir`]): `4401..4405` ↔ `4419..441D` (low five
/// bits `19..1D`, unused by OpenSC's layout and by the settings EF).
fn shadow_fid(fid: u16) -> Option<u16> {
    match fid {
        0x4401..=0x4405 => Some(fid + 0x18),
        0x4419..=0x441D => Some(fid - 0x18),
        _ => None,
    }
}

/// Replaces (or with `None` removes) the entry at `span` of directory `d`.
///
/// When the bytes to rewrite fit one UPDATE BINARY, the file is edited in place (atomic). When
/// they do not, a **shadow copy** is used: the complete new list is written to the directory's
/// shadow file (not referenced by anything, so invisible), then the ODF entry is switched to the
/// shadow with one UPDATE BINARY (its path differs in one byte), then the old file is deleted. A
/// pull at any point leaves the ODF pointing at a complete old or complete new list.
fn rewrite_dir(
    s: &mut CardSession<'_>,
    in_app: &mut bool,
    snap: &mut Snapshot,
    d: Dir,
    span: (usize, usize),
    entry: Option<&[u8]>,
) -> Result<()> {
    let mut img = snap
        .dir(d)
        .cloned()
        .ok_or_else(|| corrupt(d.name(), "missing"))?;
    let (_, end) = img.scan();
    let mut new = entry.map(<[u8]>::to_vec).unwrap_or_default();
    new.extend_from_slice(&img.data[span.1..end]);
    let old = &img.data[span.0..end];
    let common = new.iter().zip(old).take_while(|(a, b)| a == b).count();
    let span_len = (new.len().max(old.len())) - common;
    let shadow = shadow_fid(img.fid);
    if span_len <= dirlist::CHUNK || shadow.is_none() {
        replace_entry(s, in_app, &mut img, span, entry)?;
        *snap.dir_mut(d) = Some(img);
        return Ok(());
    }
    let shadow = shadow.unwrap_or(img.fid);
    let mut content = img.data[..span.0].to_vec();
    content.extend_from_slice(&new);
    // 1. The new list, complete, in the (unreferenced) shadow file.
    delete_quiet(s, in_app, shadow)?;
    s.create_file(&Fcp::transparent(shadow, img.size as u16, AC_P15).map_err(card_error)?)
        .map_err(card_error)?;
    sel(s, in_app, shadow)?;
    s.update_binary(0, &content).map_err(card_error)?;
    // 2. Switch the ODF entry (one byte of the path changes: one APDU).
    let mut odf = snap.odf.clone();
    let (spans, _) = odf.scan();
    let mut switched = false;
    for sp in spans {
        let Ok(f) = Odf::from_der(&odf.data[sp.0..sp.1]) else {
            continue;
        };
        let Some(OdfRecord::Known(e)) = f.entries.first() else {
            continue;
        };
        if path_fid(&e.path) != Some(img.fid) {
            continue;
        }
        let mut path = e.path.clone();
        let n = path.path.len();
        path.path[n - 2..].copy_from_slice(&shadow.to_be_bytes());
        let der = OdfEntry { kind: e.kind, path }.to_der();
        replace_entry(s, in_app, &mut odf, sp, Some(&der))?;
        switched = true;
        break;
    }
    if !switched {
        return Err(corrupt("ODF", "directory file not listed"));
    }
    snap.odf = odf;
    let old_fid = img.fid;
    let mut data = content;
    if data.len() < img.size {
        data.push(0);
    }
    *snap.dir_mut(d) = Some(FileImage {
        fid: shadow,
        size: img.size,
        data,
    });
    // 3. Retire the old file (a leftover is deleted by the next shadow write).
    if let Err(e) = delete_quiet(s, in_app, old_fid) {
        if e == BackendError::Removed {
            return Err(e);
        }
        tracing::warn!(error = %e, old_fid, "old directory file not deleted");
    }
    Ok(())
}

/// Makes sure the snapshot has directory file `d` listed in the ODF (creating the file and the
/// ODF entry if needed: file first, then the ODF entry).
fn ensure_dir(
    s: &mut CardSession<'_>,
    in_app: &mut bool,
    snap: &mut Snapshot,
    d: Dir,
) -> Result<()> {
    if snap.dir(d).is_some() {
        return Ok(());
    }
    let fid = d.default_fid();
    let img = match read_list(s, in_app, fid)? {
        Some(i) => i,
        None => {
            enter_app(s, in_app)?;
            let size: u16 = if d == Dir::Cdf { 2048 } else { 1024 };
            s.create_file(&Fcp::transparent(fid, size, AC_P15).map_err(card_error)?)
                .map_err(card_error)?;
            FileImage {
                fid,
                size: usize::from(size),
                data: Vec::new(),
            }
        }
    };
    // A file not listed in the ODF is invisible; clear leftovers before listing it.
    let mut img = img;
    let (spans, _) = img.scan();
    if !spans.is_empty() {
        let (_, end) = img.scan();
        edit_list(s, in_app, &mut img, 0, end, &[])?;
    }
    let entry = OdfEntry {
        kind: d.odf_kind(),
        path: abs_path(fid),
    }
    .to_der();
    let mut odf = snap.odf.clone();
    append_entry(s, in_app, &mut odf, &entry)?;
    snap.odf = odf;
    *snap.dir_mut(d) = Some(img);
    Ok(())
}

/// Deletes a file of `5015`, ignoring "not found".
fn delete_quiet(s: &mut CardSession<'_>, in_app: &mut bool, fid: u16) -> Result<()> {
    enter_app(s, in_app)?;
    match s.delete_file(fid) {
        Ok(()) | Err(epass2003::Error::FileNotFound) => Ok(()),
        Err(e) => Err(card_error(e)),
    }
}

/// Creates a transparent EF in `5015` holding `value` (a stale file of that FID is deleted).
fn write_value_file(
    s: &mut CardSession<'_>,
    in_app: &mut bool,
    fid: u16,
    value: &[u8],
    ac: [u8; 8],
) -> Result<()> {
    delete_quiet(s, in_app, fid)?;
    let size = u16::try_from(value.len().max(1))
        .ok()
        .filter(|n| *n <= 0x7FFF)
        .ok_or_else(|| BackendError::InvalidInput("value too large".into()))?;
    s.create_file(&Fcp::transparent(fid, size, ac).map_err(card_error)?)
        .map_err(card_error)?;
    sel(s, in_app, fid)?;
    if !value.is_empty() {
        s.update_binary(0, value).map_err(card_error)?;
    }
    Ok(())
}

fn list_in(
    s: &mut CardSession<'_>,
    in_app: &mut bool,
    snap: &mut Snapshot,
    d: Dir,
    entry: &[u8],
) -> Result<()> {
    ensure_dir(s, in_app, snap, d)?;
    let mut img = snap
        .dir(d)
        .cloned()
        .ok_or_else(|| corrupt(d.name(), "missing"))?;
    append_entry(s, in_app, &mut img, entry)?;
    *snap.dir_mut(d) = Some(img);
    Ok(())
}

impl<T: Transport> TokenBackend for Epass2003Token<T> {
    fn describe(&mut self) -> Result<TokenDescription> {
        self.ensure_loaded()?;
        let model = if self.opts.emulated {
            "ePass2003 (emulated)"
        } else {
            "ePass2003"
        };
        let Some(snap) = self.snap.clone() else {
            let serial = {
                let mut s = self.conn.transaction().map_err(card_error)?;
                s.get_serial().map_err(card_error)?
            };
            return Ok(TokenDescription {
                label: String::new(),
                serial: hex::encode(serial),
                manufacturer: "EnterSafe".into(),
                model: model.into(),
                hardware_version: (0, 0),
                firmware_version: (0, 0),
                initialized: false,
                write_protected: None,
                user_pin_policy: PinPolicy::default(),
                so_pin_policy: PinPolicy::default(),
                auth_timeout_minutes: 0,
                memory: None,
            });
        };
        let ti = snap.token_info()?;
        let settings = snap.settings_parsed();
        let user_pin_policy = match (&settings, snap.user_pin()) {
            (Some(st), _) => PinPolicy {
                allow_non_ascii: st.user_pin_non_ascii,
                ..settings_policy(&st.user_pin)
            },
            (None, Some(p)) => PinPolicy {
                min_len: p.attrs.min_length.min(255) as u8,
                max_len: p.attrs.max_length.unwrap_or(16).min(255) as u8,
                ..PinPolicy::default()
            },
            (None, None) => PinPolicy::default(),
        };
        let so_pin_policy = match &settings {
            Some(st) => PinPolicy {
                min_len: st.so_pin_min_len,
                max_len: st.so_pin_max_len,
                allow_non_ascii: st.so_pin_non_ascii,
                ..PinPolicy::default()
            },
            None => PinPolicy::default(),
        };
        Ok(TokenDescription {
            label: ti.label.clone().unwrap_or_default(),
            serial: hex::encode(&snap.serial),
            manufacturer: ti
                .manufacturer_id
                .clone()
                .unwrap_or_else(|| "EnterSafe".into()),
            model: model.into(),
            hardware_version: (0, 0),
            firmware_version: (0, 0),
            initialized: true,
            write_protected: None,
            user_pin_policy,
            so_pin_policy,
            auth_timeout_minutes: settings.map_or(0, |s| s.auth_timeout_minutes),
            memory: None,
        })
    }

    /// [`Epass2003Token::refresh_if_changed`]: 4 APDUs when nothing changed.
    fn refresh(&mut self) -> Result<bool> {
        self.refresh_if_changed()
    }

    /// From the connection and the directory already read: no APDU.
    fn card_facts(&mut self) -> crate::backend::CardFacts {
        let layout = if self.snap.is_some() {
            crate::backend::TokenLayout::Pkcs15
        } else if self.loaded {
            crate::backend::TokenLayout::Blank
        } else {
            crate::backend::TokenLayout::Unknown
        };
        crate::backend::CardFacts {
            secure_messaging: Some(self.conn.mode().name().to_string()),
            layout,
            atr: self.conn.atr(),
        }
    }

    /// From the directory image: no APDU.
    fn pin_info(&mut self, role: PinRole) -> Result<PinStatus> {
        let snap = self.snap()?;
        let max_tries = match role {
            PinRole::User => snap.max_tries[0],
            PinRole::So => snap.max_tries[1],
        };
        let initialized = match role {
            PinRole::User => snap
                .user_pin()
                .is_some_and(|p| p.attrs.flags.contains(PinFlags::INITIALIZED)),
            PinRole::So => true,
        };
        Ok(PinStatus {
            tries_left: None,
            max_tries,
            initialized,
        })
    }

    fn pin_status(&mut self, role: PinRole) -> Result<PinStatus> {
        let PinStatus {
            max_tries: max,
            initialized,
            ..
        } = self.pin_info(role)?;
        if max == 0 {
            // No retry counter (9F00 byte 0): the card counts nothing, and its tries query
            // would answer with a zero nibble that reads as "blocked". Nothing to ask.
            return Ok(PinStatus {
                tries_left: None,
                max_tries: 0,
                initialized,
            });
        }
        let kid = match role {
            PinRole::User => 1,
            PinRole::So => 2,
        };
        self.sync_reauth();
        let in_app = &mut self.in_app_df;
        let mut s = self.conn.transaction().map_err(card_error)?;
        enter_app(&mut s, in_app)?;
        let tries = match s.pin_tries_left(kid) {
            Ok(t) => Some(t),
            Err(epass2003::Error::Removed) => return Err(BackendError::Removed),
            Err(e) => {
                tracing::debug!(error = %e, "tries query failed");
                None
            }
        };
        Ok(PinStatus {
            tries_left: tries,
            max_tries: max,
            initialized,
        })
    }

    fn login(&mut self, role: PinRole, pin: &[u8]) -> Result<()> {
        self.snap()?;
        let kid = if role == PinRole::User { 1 } else { 2 };
        self.sync_reauth();
        let in_app = &mut self.in_app_df;
        let mut s = self.conn.transaction().map_err(card_error)?;
        enter_app(&mut s, in_app)?;
        s.verify_pin(kid, pin).map_err(card_error)?;
        Ok(())
    }

    fn logout(&mut self) -> Result<()> {
        {
            let mut s = self.conn.transaction().map_err(card_error)?;
            match s.logout() {
                Ok(()) | Err(epass2003::Error::NotSupported(_)) => {}
                Err(e) => return Err(card_error(e)),
            }
        }
        // Our own logout is not a "login lost behind our back".
        let _ = self.conn.take_login_lost();
        self.in_app_df = false;
        self.last_reauth = self.conn.reauth_count();
        Ok(())
    }

    fn change_pin(&mut self, role: PinRole, old: &[u8], new: &[u8]) -> Result<()> {
        let snap = self.snap()?.clone();
        let (kid, max) = match role {
            PinRole::User => (1, snap.max_tries[0]),
            PinRole::So => (2, snap.max_tries[1]),
        };
        self.sync_reauth();
        let in_app = &mut self.in_app_df;
        let mut s = self.conn.transaction().map_err(card_error)?;
        enter_app(&mut s, in_app)?;
        s.verify_pin(kid, old).map_err(card_error)?;
        s.change_pin(kid, max, new).map_err(card_error)?;
        Ok(())
    }

    fn init_user_pin(&mut self, new_pin: &[u8]) -> Result<()> {
        self.refresh_if_changed()?;
        let snap = self.snap()?.clone();
        let max = snap.max_tries[0];
        let pin_flagged = snap
            .user_pin()
            .is_some_and(|p| p.attrs.flags.contains(PinFlags::INITIALIZED));
        {
            self.sync_reauth();
            let in_app = &mut self.in_app_df;
            let mut s = self.conn.transaction().map_err(card_error)?;
            enter_app(&mut s, in_app)?;
            s.change_pin(1, max, new_pin).map_err(card_error)?;
        }
        if !pin_flagged {
            // Mark the PIN object initialised (rewrite the AODF entry in place).
            self.write_op(|s, in_app, snap| {
                let Some(mut img) = snap.aodf.clone() else {
                    return Ok(());
                };
                let (spans, end) = img.scan();
                let aodf = Aodf::from_der(&img.data[..end]).map_err(|e| corrupt("AODF", e))?;
                for (i, obj) in aodf.objects.iter().enumerate() {
                    if let AuthObject::Pin(p) = obj {
                        if p.attrs.effective_reference() != 1 {
                            continue;
                        }
                        let mut p = p.clone();
                        p.attrs.flags = p.attrs.flags | PinFlags::INITIALIZED;
                        let der = AuthObject::Pin(p)
                            .to_der()
                            .map_err(|e| corrupt("AODF", e))?;
                        replace_entry(s, in_app, &mut img, spans[i], Some(&der))?;
                        break;
                    }
                }
                snap.aodf = Some(img);
                Ok(())
            })?;
        }
        Ok(())
    }

    fn init_token(&mut self, p: &InitParams<'_>) -> Result<()> {
        check_text("label", p.label.as_bytes(), 32)?;
        let user_max = check_max_tries("user_max_tries", p.user_max_tries)?;
        let so_max = check_max_tries("so_max_tries", p.so_max_tries)?;
        let st = TokenSettings {
            auth_timeout_minutes: p.auth_timeout_minutes,
            user_pin: to_settings_policy(&p.user_pin_policy),
            so_pin_min_len: p.so_pin_policy.min_len,
            so_pin_max_len: p.so_pin_policy.max_len,
            change_counter: 0,
            user_pin_non_ascii: p.user_pin_policy.allow_non_ascii,
            so_pin_non_ascii: p.so_pin_policy.allow_non_ascii,
        };
        st.validate()
            .map_err(|e| BackendError::InvalidInput(e.to_string()))?;
        self.drop_cache();
        self.in_app_df = false;
        self.loaded = false;
        self.refs.clear();
        {
            let mut s = self.conn.transaction().map_err(card_error)?;
            s.erase_card().map_err(card_error)?;
            s.create_file(&Fcp::df(0x3F00, MF_NAME, AC_DF).map_err(card_error)?)
                .map_err(card_error)?;
            s.create_file(&Fcp::bso(0x5300, 4, AC_BSO).map_err(card_error)?)
                .map_err(card_error)?;
            s.create_file(&Fcp::linear(EF_DIR, true, AC_EFDIR).map_err(card_error)?)
                .map_err(card_error)?;
            s.create_file(&Fcp::df(APP_DF, &PKCS15_AID, AC_DF).map_err(card_error)?)
                .map_err(card_error)?;
            s.create_file(&Fcp::bso(0x5301, 0x20, AC_BSO).map_err(card_error)?)
                .map_err(card_error)?;
            s.create_file(&Fcp::transparent(MAXPIN, 2, AC_FREE_EF).map_err(card_error)?)
                .map_err(card_error)?;
            s.select_path(&[0x3F00, APP_DF, MAXPIN])
                .map_err(card_error)?;
            s.update_binary(0, &[user_max, so_max])
                .map_err(card_error)?;
            for (fid, size) in P15_FILES {
                s.create_file(&Fcp::transparent(fid, size, AC_P15).map_err(card_error)?)
                    .map_err(card_error)?;
            }
            let random_pin: Zeroizing<[u8; 16]> = Zeroizing::new(rand::random());
            let user_pin: &[u8] = p.user_pin.unwrap_or(&random_pin[..]);
            s.install_secret_key(&KeyRecord::user_pin(user_pin, user_max))
                .map_err(card_error)?;
            s.install_secret_key(&KeyRecord::puk(p.so_pin, so_max))
                .map_err(card_error)?;
            let serial = s.get_serial().map_err(card_error)?;
            // DELETE 3F00 dropped the security level; the directory files need the user level
            // (AC 96), reached with the PIN just installed (as pkcs15-init does, compat §2.5).
            s.verify_pin(1, user_pin).map_err(card_error)?;

            let mut in_app = true;
            let mut put = |s: &mut CardSession<'_>, fid: u16, data: &[u8]| -> Result<()> {
                sel(s, &mut in_app, fid)?;
                s.update_binary(0, data).map_err(card_error)
            };
            put(&mut s, INFO, &info_file())?;
            let pin = pin_entry(
                p.user_pin_policy.min_len,
                p.user_pin_policy.max_len,
                p.user_pin.is_some(),
            )
            .map_err(|e| BackendError::InvalidInput(e.to_string()))?;
            put(&mut s, AODF, &pin)?;
            let odf = Odf {
                entries: [
                    (OdfKind::AuthObjects, AODF),
                    (OdfKind::PrivateKeys, PRKDF),
                    (OdfKind::PublicKeys, PUKDF),
                    (OdfKind::Certificates, CDF),
                    (OdfKind::DataObjects, DODF),
                ]
                .into_iter()
                .map(|(kind, fid)| {
                    OdfRecord::Known(OdfEntry {
                        kind,
                        path: abs_path(fid),
                    })
                })
                .collect(),
            };
            put(&mut s, ODF, &odf.to_der())?;
            let mut ti = TokenInfo::new(
                serial.clone(),
                Some("EnterSafe".into()),
                Some(p.label.to_string()),
            );
            ti.token_flags = TokenFlags::EID_COMPLIANT;
            let ti = ti
                .to_der()
                .map_err(|e| BackendError::InvalidInput(e.to_string()))?;
            put(&mut s, TOKENINFO, &ti)?;
            let stb = st
                .to_bytes()
                .map_err(|e| BackendError::InvalidInput(e.to_string()))?;
            put(&mut s, SETTINGS, &stb)?;
            s.select_path(&[0x3F00, EF_DIR]).map_err(card_error)?;
            let mut label = p.label.to_string();
            while label.len() > 36 {
                label.pop();
            }
            let rec = ApplicationTemplate {
                aid: PKCS15_AID.to_vec(),
                label: Some(label),
                path: Some(vec![0x3F, 0x00, 0x50, 0x15]),
                ddo: None,
            }
            .to_record();
            s.append_record(&rec).map_err(card_error)?;
            // Drop the erase level (F) the session still holds.
            match s.logout() {
                Ok(()) | Err(epass2003::Error::NotSupported(_)) => {}
                Err(e) => return Err(card_error(e)),
            }
        }
        let _ = self.conn.take_login_lost();
        self.last_reauth = self.conn.reauth_count();
        self.in_app_df = false;
        self.load()
    }

    fn set_label(&mut self, label: &str) -> Result<()> {
        self.refresh_if_changed()?;
        check_text("label", label.as_bytes(), 32)?;
        self.write_op(|s, in_app, snap| {
            let mut ti = snap.token_info()?;
            ti.label = Some(label.to_string());
            let mut der = ti
                .to_der()
                .map_err(|e| BackendError::InvalidInput(e.to_string()))?;
            let old_len = split_tlv(&snap.tokeninfo).map_or(0, |t| t.2);
            if der.len() > dirlist::CHUNK || der.len() > snap.tokeninfo.len().max(128) {
                return Err(BackendError::NoMemory);
            }
            // One UPDATE BINARY (atomic): new TokenInfo, zeroing the old tail.
            if der.len() < old_len {
                der.resize(old_len, 0);
            }
            sel(s, in_app, TOKENINFO)?;
            s.update_binary(0, &der).map_err(card_error)?;
            let n = der.len().min(snap.tokeninfo.len());
            snap.tokeninfo[..n].copy_from_slice(&der[..n]);
            Ok(())
        })
    }

    fn set_auth_timeout(&mut self, minutes: u16) -> Result<()> {
        if minutes > settings::MAX_AUTH_TIMEOUT_MINUTES {
            return Err(BackendError::InvalidInput(
                "timeout above 600 minutes".into(),
            ));
        }
        self.refresh_if_changed()?;
        self.sync_reauth();
        let mut snap = self.snap.clone().ok_or(BackendError::NotInitialized)?;
        let in_app = &mut self.in_app_df;
        let res = (|| {
            let mut s = self.conn.transaction().map_err(card_error)?;
            bump_counter(&mut s, in_app, &mut snap, |st| {
                st.auth_timeout_minutes = minutes;
            })
        })();
        match res {
            Ok(()) => {
                self.snap = Some(snap);
                self.store_cache();
                Ok(())
            }
            Err(e) => {
                self.drop_cache();
                self.loaded = false;
                Err(e)
            }
        }
    }

    fn objects(&mut self) -> Result<Vec<ObjectMeta>> {
        Ok(self.index()?.into_iter().map(|o| o.meta).collect())
    }

    fn read_value(&mut self, object: ObjectRef) -> Result<Vec<u8>> {
        let o = self.find(object)?;
        if o.meta.kind == ObjectKind::PrivateKey {
            return Err(BackendError::NotSupported(
                "private keys cannot be read".into(),
            ));
        }
        let raw = match (&o.direct, o.fid) {
            (Some(v), _) => v.clone(),
            (None, Some(fid)) => {
                self.sync_reauth();
                let in_app = &mut self.in_app_df;
                let mut s = self.conn.transaction().map_err(card_error)?;
                let fci = sel(&mut s, in_app, fid).map_err(|e| match e {
                    BackendError::NoSuchObject => corrupt("object file", "missing"),
                    e => e,
                })?;
                let size = fci.size.unwrap_or(0);
                let off = o.index.unwrap_or(0) as usize;
                let len = o.length.map_or(size.saturating_sub(off), |l| l as usize);
                if len == 0 {
                    return Ok(Vec::new());
                }
                s.read_binary(off as u16, len).map_err(card_error)?
            }
            (None, None) => return Err(corrupt("directory", "object without value")),
        };
        match o.meta.kind {
            ObjectKind::Certificate => {
                let n = split_tlv(&raw)
                    .map(|t| t.2)
                    .ok_or_else(|| corrupt("certificate", "not DER"))?;
                Ok(raw[..n].to_vec())
            }
            ObjectKind::PublicKey => {
                let (_, content, n) =
                    split_tlv(&raw).ok_or_else(|| corrupt("public key", "not DER"))?;
                let der = &raw[..n];
                // RSAPublicKey (SEQUENCE { INTEGER … }) or SubjectPublicKeyInfo.
                if content.first() == Some(&0x02) {
                    Ok(rsa_spki(der))
                } else {
                    Ok(der.to_vec())
                }
            }
            _ => Ok(raw),
        }
    }

    fn generate_key_pair(&mut self, spec: &KeyGenSpec) -> Result<(ObjectMeta, ObjectMeta)> {
        self.refresh_if_changed()?;
        check_text("label", spec.label.as_bytes(), MAX_LABEL)?;
        if let Some(id) = &spec.id {
            check_text("id", id, MAX_ID)?;
        }
        let (alg, rsa_bits) = match spec.key_type {
            KeyType::Rsa { bits } if (1024..=2048).contains(&bits) && bits.is_multiple_of(32) => {
                (KeyAlgorithm::Rsa(bits), Some(bits))
            }
            KeyType::Rsa { bits } => {
                return Err(BackendError::NotSupported(format!("RSA-{bits}")));
            }
            KeyType::EcP256 => (KeyAlgorithm::EcP256, None),
        };
        let n = self.free_index(&[0x29, 0x30])?;
        let priv_fid = 0x2900 | u16::from(n);
        let pub_fid = 0x3000 | u16::from(n);
        let spec = spec.clone();
        self.write_new(&[priv_fid, pub_fid], move |s, in_app, snap| {
            enter_app(s, in_app)?;
            delete_quiet(s, in_app, priv_fid)?;
            delete_quiet(s, in_app, pub_fid)?;
            let bits = alg.bits();
            s.create_file(&Fcp::private_key(priv_fid, bits, AC_PRIV_KEY).map_err(card_error)?)
                .map_err(card_error)?;
            s.create_file(&Fcp::public_key(pub_fid, bits, AC_PUB_KEY).map_err(card_error)?)
                .map_err(card_error)?;
            s.generate_key_pair(alg, priv_fid, pub_fid)
                .map_err(card_error)?;
            let (pub_der, id) = match rsa_bits {
                Some(b) => {
                    let m = s.read_rsa_public_key(pub_fid, b).map_err(card_error)?;
                    let id = Sha1::digest(&m).to_vec();
                    (rsa_public_key(&m, &[0x01, 0x00, 0x01]), id)
                }
                None => {
                    let p = s.read_ec_public_key(pub_fid).map_err(card_error)?;
                    // NSS's derivation (SHA-1 of the uncompressed point), so that a certificate
                    // NSS imports with its derived CKA_ID pairs with this key. Keys generated
                    // before keep their stored ids: pairing always uses the stored ids.
                    let id = Sha1::digest(&p).to_vec();
                    (ec_spki(&p), id)
                }
            };
            let id = spec.id.clone().unwrap_or(id);
            // The internal public-key EF is replaced by a transparent EF with the DER (§8.5).
            write_value_file(s, in_app, pub_fid, &pub_der, AC_FREE_EF)?;
            let prk = private_key_entry(&spec.label, &id, &spec.usage, n, rsa_bits, true);
            list_in(s, in_app, snap, Dir::Prkdf, &prk)?;
            let puk = public_key_entry(
                &spec.label,
                &id,
                public_usage(&spec.usage, rsa_bits.is_some()),
                pub_fid,
                rsa_bits,
            );
            list_in(s, in_app, snap, Dir::Pukdf, &puk)?;
            Ok(())
        })?;
        Ok((
            self.meta_of(Dir::Prkdf, priv_fid)?,
            self.meta_of(Dir::Pukdf, pub_fid)?,
        ))
    }

    fn import_rsa_key(&mut self, key: &RsaKeyImport) -> Result<ObjectMeta> {
        self.refresh_if_changed()?;
        check_text("label", key.label.as_bytes(), MAX_LABEL)?;
        check_text("id", &key.id, MAX_ID)?;
        let n_bytes = {
            let skip = key.n.iter().take_while(|&&b| b == 0).count();
            key.n[skip..].to_vec()
        };
        let bits = (n_bytes.len() * 8) as u16;
        if !(1024..=2048).contains(&bits) || !bits.is_multiple_of(32) {
            return Err(BackendError::NotSupported(format!("RSA-{bits} import")));
        }
        let n = self.free_index(&[0x29, 0x30])?;
        let priv_fid = 0x2900 | u16::from(n);
        let pub_fid = 0x3000 | u16::from(n);
        self.write_new(&[priv_fid, pub_fid], |s, in_app, snap| {
            enter_app(s, in_app)?;
            delete_quiet(s, in_app, priv_fid)?;
            s.create_file(&Fcp::private_key(priv_fid, bits, AC_PRIV_KEY).map_err(card_error)?)
                .map_err(card_error)?;
            s.import_rsa_key(priv_fid, &n_bytes, &key.d)
                .map_err(card_error)?;
            let pub_der = rsa_public_key(&n_bytes, &key.e);
            write_value_file(s, in_app, pub_fid, &pub_der, AC_FREE_EF)?;
            let prk = private_key_entry(&key.label, &key.id, &key.usage, n, Some(bits), false);
            list_in(s, in_app, snap, Dir::Prkdf, &prk)?;
            let puk = public_key_entry(
                &key.label,
                &key.id,
                public_usage(&key.usage, true),
                pub_fid,
                Some(bits),
            );
            list_in(s, in_app, snap, Dir::Pukdf, &puk)?;
            Ok(())
        })?;
        self.meta_of(Dir::Prkdf, priv_fid)
    }

    /// Same pull-safe order as [`Self::import_rsa_key`]: (re)create the private-key EF and
    /// write the key (`80 E7`, inferred for EC, `docs/protocol-notes.md`), write the public key
    /// as an SPKI file (as for generated EC keys), then list the PrKDF entry and the PuKDF
    /// entry. A card pulled before the PrKDF write leaves only unlisted files, reused by the
    /// next write at that index.
    fn import_ec_key(&mut self, key: &EcKeyImport) -> Result<ObjectMeta> {
        key.validate()?;
        check_text("label", key.label.as_bytes(), MAX_LABEL)?;
        check_text("id", &key.id, MAX_ID)?;
        self.refresh_if_changed()?;
        let n = self.free_index(&[0x29, 0x30])?;
        let priv_fid = 0x2900 | u16::from(n);
        let pub_fid = 0x3000 | u16::from(n);
        self.write_new(&[priv_fid, pub_fid], |s, in_app, snap| {
            enter_app(s, in_app)?;
            delete_quiet(s, in_app, priv_fid)?;
            s.create_file(&Fcp::private_key(priv_fid, 256, AC_PRIV_KEY).map_err(card_error)?)
                .map_err(card_error)?;
            s.import_ec_key(priv_fid, &key.d, &key.point)
                .map_err(card_error)?;
            write_value_file(s, in_app, pub_fid, &ec_spki(&key.point), AC_FREE_EF)?;
            let prk = private_key_entry(&key.label, &key.id, &key.usage, n, None, false);
            list_in(s, in_app, snap, Dir::Prkdf, &prk)?;
            let puk = public_key_entry(
                &key.label,
                &key.id,
                public_usage(&key.usage, false),
                pub_fid,
                None,
            );
            list_in(s, in_app, snap, Dir::Pukdf, &puk)?;
            Ok(())
        })?;
        self.meta_of(Dir::Prkdf, priv_fid)
    }

    fn create_object(&mut self, object: &NewObject) -> Result<ObjectMeta> {
        self.refresh_if_changed()?;
        let (dir, fid, value, ac, entry) = match object {
            NewObject::Certificate {
                der,
                label,
                id,
                authority,
            } => {
                check_text("label", label.as_bytes(), MAX_LABEL)?;
                check_text("id", id, MAX_ID)?;
                if split_tlv(der).map(|t| t.2) != Some(der.len()) {
                    return Err(BackendError::InvalidInput("certificate is not DER".into()));
                }
                let fid = 0x3100 | u16::from(self.free_index(&[0x31])?);
                (
                    Dir::Cdf,
                    fid,
                    der.clone(),
                    AC_FREE_EF,
                    certificate_entry(label, id, *authority, fid),
                )
            }
            NewObject::PublicKey { spki, label, id } => {
                check_text("label", label.as_bytes(), MAX_LABEL)?;
                check_text("id", id, MAX_ID)?;
                let key = parse_spki(spki).ok_or_else(|| {
                    BackendError::InvalidInput("unsupported public key (RSA or P-256 SPKI)".into())
                })?;
                let fid = 0x3000 | u16::from(self.free_index(&[0x29, 0x30])?);
                let usage = public_usage(
                    &KeyUsage {
                        verify: true,
                        encrypt: true,
                        ..KeyUsage::default()
                    },
                    true,
                );
                match key {
                    SpkiKey::Rsa { der, n } => {
                        let bits = (n.len() * 8) as u16;
                        (
                            Dir::Pukdf,
                            fid,
                            der,
                            AC_FREE_EF,
                            public_key_entry(label, id, usage, fid, Some(bits)),
                        )
                    }
                    SpkiKey::EcP256 { .. } => (
                        Dir::Pukdf,
                        fid,
                        spki.clone(),
                        AC_FREE_EF,
                        public_key_entry(label, id, KeyUsageFlagsExt::verify_only(), fid, None),
                    ),
                }
            }
            NewObject::Data {
                label,
                application,
                value,
                private,
            } => {
                check_text("label", label.as_bytes(), MAX_LABEL)?;
                check_text("application", application.as_bytes(), MAX_LABEL)?;
                let hi = if *private { 0x34 } else { 0x33 };
                let fid = u16::from(hi) << 8 | u16::from(self.free_index(&[hi])?);
                let ac = if *private { AC_PRIVATE_DATA } else { AC_P15 };
                (
                    Dir::Dodf,
                    fid,
                    value.clone(),
                    ac,
                    data_entry(label, application, *private, fid, value.len()),
                )
            }
        };
        self.write_new(&[fid], |s, in_app, snap| {
            write_value_file(s, in_app, fid, &value, ac)?;
            list_in(s, in_app, snap, dir, &entry)
        })?;
        self.meta_of(dir, fid)
    }

    fn delete_object(&mut self, object: ObjectRef) -> Result<()> {
        self.refresh_if_changed()?;
        let o = self.find(object)?;
        self.write_op(|s, in_app, snap| {
            rewrite_dir(s, in_app, snap, o.dir, o.span, None)?;
            if let Some(fid) = o.fid {
                // Only files of this application's object ranges are deleted; a file still
                // referenced by another listed object (e.g. a shared path) is kept.
                if matches!(fid >> 8, 0x29..=0x34) {
                    if let Err(e) = delete_quiet(s, in_app, fid) {
                        if e == BackendError::Removed {
                            return Err(e);
                        }
                        tracing::warn!(error = %e, fid, "object unlisted; its file could not be deleted");
                    }
                }
            }
            Ok(())
        })
    }

    fn update_object(
        &mut self,
        object: ObjectRef,
        label: Option<&str>,
        id: Option<&[u8]>,
    ) -> Result<ObjectMeta> {
        if let Some(l) = label {
            check_text("label", l.as_bytes(), MAX_LABEL)?;
        }
        if let Some(i) = id {
            check_text("id", i, MAX_ID)?;
        }
        self.refresh_if_changed()?;
        let o = self.find(object)?;
        let img = self
            .snap()?
            .dir(o.dir)
            .cloned()
            .ok_or_else(|| corrupt(o.dir.name(), "missing"))?;
        let bytes = &img.data[o.span.0..o.span.1];
        let new = relabel(o.dir, bytes, label, id).map_err(|e| corrupt(o.dir.name(), e))?;
        self.write_op(|s, in_app, snap| rewrite_dir(s, in_app, snap, o.dir, o.span, Some(&new)))?;
        self.find(object).map(|o| o.meta)
    }

    fn rsa_raw(&mut self, key: ObjectRef, block: &[u8]) -> Result<Vec<u8>> {
        let fid = self.key_fid(key, false)?;
        // `6A 80`: the block is not below the modulus (§5.18) — bad input, not a device fault.
        self.key_op(|s| {
            s.rsa_raw(fid, block).map_err(|e| match e {
                epass2003::Error::Sw(sw) if sw.to_u16() == 0x6A80 => {
                    epass2003::Error::InvalidArgument(
                        "the input is not below the key's modulus".into(),
                    )
                }
                e => e,
            })
        })
    }

    fn ecdsa_sign(&mut self, key: ObjectRef, hash: &[u8]) -> Result<Vec<u8>> {
        let fid = self.key_fid(key, true)?;
        self.key_op(|s| s.ecdsa_sign(fid, hash).map(|r| r.to_vec()))
    }

    fn random(&mut self, len: usize) -> Result<Vec<u8>> {
        let mut s = self.conn.transaction().map_err(card_error)?;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let c = s.get_challenge().map_err(card_error)?;
            let n = (len - out.len()).min(c.len());
            out.extend_from_slice(&c[..n]);
        }
        Ok(out)
    }

    fn take_login_lost(&mut self) -> bool {
        let lost = self.conn.take_login_lost() || std::mem::take(&mut self.login_lost);
        if lost {
            self.in_app_df = false;
        }
        lost
    }
}

/// Public-key usage helpers.
struct KeyUsageFlagsExt;
impl KeyUsageFlagsExt {
    fn verify_only() -> crate::asn1::KeyUsageFlags {
        crate::asn1::KeyUsageFlags::VERIFY
    }
}

/// Re-encodes one directory entry with a new label and/or ID.
fn relabel(d: Dir, bytes: &[u8], label: Option<&str>, id: Option<&[u8]>) -> crate::Result<Vec<u8>> {
    let set_label = |c: &mut crate::asn1::CommonObjectAttributes| {
        if let Some(l) = label {
            c.label = Some(l.to_string());
        }
    };
    Ok(match d {
        Dir::Prkdf => {
            let mut f = Prkdf::from_der(bytes)?;
            if let Some(PrivateKeyEntry::Key(k)) = f.entries.first_mut() {
                set_label(&mut k.common);
                if let Some(i) = id {
                    k.key.id = i.to_vec();
                }
            }
            f.to_der()
        }
        Dir::Pukdf => {
            let mut f = Pukdf::from_der(bytes)?;
            if let Some(PublicKeyEntry::Key(k)) = f.entries.first_mut() {
                set_label(&mut k.common);
                if let Some(i) = id {
                    k.key.id = i.to_vec();
                }
            }
            f.to_der()
        }
        Dir::Cdf => {
            let mut f = Cdf::from_der(bytes)?;
            if let Some(CertificateEntry::X509(c)) = f.entries.first_mut() {
                set_label(&mut c.common);
                if let Some(i) = id {
                    c.cert.id = i.to_vec();
                }
            }
            f.to_der()
        }
        Dir::Dodf => {
            let mut f = Dodf::from_der(bytes)?;
            if let Some(DataObjectEntry::Opaque(o)) = f.entries.first_mut() {
                set_label(&mut o.common);
            }
            f.to_der()
        }
    })
}
