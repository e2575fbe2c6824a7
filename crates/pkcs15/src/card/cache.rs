//! On-disk cache of a token's directory files (item 6).
//!
//! **What is cached:** the raw bytes of TokenInfo, the settings EF, 9F00 and the used prefix of
//! ODF, AODF, PrKDF, PuKDF, CDF and DODF, plus the GET DATA serial; one file per card,
//! `<dir>/<TokenInfo serial hex>.p15cache`, written atomically (temporary file + rename).
//!
//! **When it is trusted:** only if, on the card, (a) the settings EF `7E1E` exists and its bytes
//! (including the change counter this crate bumps *before* every write) equal the cached ones,
//! and (b) the TokenInfo bytes equal the cached ones. (b) catches OpenSC: `pkcs15-init` and
//! OpenSC's PKCS#11 write path rewrite TokenInfo with a fresh `lastUpdate` (seconds resolution)
//! after every change (seen in OpenSC 0.23 debug logs: `sc_pkcs15init_update_tokeninfo` after
//! each create/generate/store). To close the one-second window, a snapshot whose TokenInfo
//! `lastUpdate` is less than [`FRESH_SECS`] old (or in the future) is never written to the cache.
//! Cost of the check: SELECT 3F00, 5015, 5032, READ, SELECT 7E1E, READ = 6 APDUs, against
//! about 20 for reading every directory file.
//!
//! The format is a small line-oriented text file (`key hex`); anything unreadable is ignored
//! (the cache is only an optimisation).

use std::path::{Path, PathBuf};

use super::{FileImage, Snapshot};

/// A snapshot is not cached while TokenInfo's lastUpdate is younger than this.
pub const FRESH_SECS: u64 = 3;

const MAGIC: &str = "epass2003-p15cache 1";

/// The default cache directory: `$XDG_CACHE_HOME/epass2003` or `$HOME/.cache/epass2003`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("epass2003"));
    }
    std::env::var_os("HOME")
        .filter(|x| !x.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("epass2003"))
}

/// Path of the cache file of a card.
pub fn file_for(dir: &Path, serial: &[u8]) -> PathBuf {
    dir.join(format!("{}.p15cache", hex::encode(serial)))
}

fn img_line(name: &str, img: &Option<FileImage>) -> String {
    match img {
        Some(i) => format!("{name} {:04x} {} {}\n", i.fid, i.size, hex::encode(&i.data)),
        None => format!("{name} -\n"),
    }
}

/// Serialises a snapshot.
pub fn to_text(s: &Snapshot) -> String {
    let mut t = format!("{MAGIC}\n");
    t += &format!("serial {}\n", hex::encode(&s.serial));
    t += &format!("tokeninfo {}\n", hex::encode(&s.tokeninfo));
    t += &match &s.settings {
        Some(b) => format!("settings {}\n", hex::encode(b)),
        None => "settings -\n".into(),
    };
    t += &format!("maxtries {}\n", hex::encode(s.max_tries));
    t += &img_line("odf", &Some(s.odf.clone()));
    t += &img_line("aodf", &s.aodf);
    t += &img_line("prkdf", &s.prkdf);
    t += &img_line("pukdf", &s.pukdf);
    t += &img_line("cdf", &s.cdf);
    t += &img_line("dodf", &s.dodf);
    t
}

fn parse_img(v: &str) -> Option<Option<FileImage>> {
    if v == "-" {
        return Some(None);
    }
    let mut it = v.split(' ');
    let fid = u16::from_str_radix(it.next()?, 16).ok()?;
    let size = it.next()?.parse().ok()?;
    let data = hex::decode(it.next().unwrap_or("")).ok()?;
    Some(Some(FileImage { fid, size, data }))
}

/// Parses a snapshot; `None` on any defect.
pub fn from_text(t: &str) -> Option<Snapshot> {
    let mut lines = t.lines();
    if lines.next()? != MAGIC {
        return None;
    }
    let mut s = Snapshot::default();
    let mut have_odf = false;
    for l in lines {
        let (k, v) = l.split_once(' ')?;
        match k {
            "serial" => s.serial = hex::decode(v).ok()?,
            "tokeninfo" => s.tokeninfo = hex::decode(v).ok()?,
            "settings" => {
                s.settings = if v == "-" {
                    None
                } else {
                    Some(hex::decode(v).ok()?)
                }
            }
            "maxtries" => s.max_tries = hex::decode(v).ok()?.try_into().ok()?,
            "odf" => {
                s.odf = parse_img(v)??;
                have_odf = true;
            }
            "aodf" => s.aodf = parse_img(v)?,
            "prkdf" => s.prkdf = parse_img(v)?,
            "pukdf" => s.pukdf = parse_img(v)?,
            "cdf" => s.cdf = parse_img(v)?,
            "dodf" => s.dodf = parse_img(v)?,
            _ => return None,
        }
    }
    have_odf.then_some(s)
}

/// Loads the cached snapshot of a card (keyed by the TokenInfo serial number), if any.
pub fn load(dir: &Path, key: &[u8]) -> Option<Snapshot> {
    let t = std::fs::read_to_string(file_for(dir, key)).ok()?;
    from_text(&t)
}

/// Stores a snapshot (atomically) under `key`; errors are logged and ignored.
pub fn store(dir: &Path, key: &[u8], s: &Snapshot) {
    let res = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let path = file_for(dir, key);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, to_text(s))?;
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = res {
        tracing::debug!(error = %e, "directory cache not written");
    }
}

/// Removes the cached snapshot of a card.
pub fn remove(dir: &Path, serial: &[u8]) {
    let _ = std::fs::remove_file(file_for(dir, serial));
}
