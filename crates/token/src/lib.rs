//! PKCS#11 semantics for ePass2003 tokens, in safe Rust.
//!
//! * [`module`]: the slot table, the session index, the lock order.
//! * [`token`]: one present token: login, objects and their attributes, operations.
//! * [`login`]: the login state machine and the PIN-counter flags.
//! * [`session`]: per-session operation slots; [`lifecycle`]: the rules every operation
//!   follows (single- or multi-part, size queries).
//! * [`attr`], [`mechanism`], [`crypto`]: templates and attribute policy, the mechanism
//!   registry, host-side padding and public-key operations.
//! * [`notice`]: the once-per-token "PIN locked" line on stderr.
//! * [`config`]: environment and config file (`EPASS2003_EMULATOR`, `EPASS2003_CONF`, ...).
//!
//! The C ABI lives in `crates/pkcs11`, which maps [`Error`] to `CK_RV` in one place.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin;
pub mod attr;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
mod glue;
pub mod lifecycle;
pub mod login;
pub mod mechanism;
pub mod module;
pub mod notice;
pub mod readers;
pub mod session;
pub mod token;

#[cfg(test)]
mod tests;

pub use error::{Error, Result};

/// Entry points for fuzz targets (`fuzz/`; not a stable API). None may panic on any input.
#[doc(hidden)]
pub mod fuzzing {
    /// The configuration file (`epass2003.conf`): any text is applied line by line, a refused
    /// line is kept as an error, never a panic; the relations are checked after.
    pub fn config(data: &[u8]) {
        let mut c = crate::config::Config::default();
        c.apply_file(&String::from_utf8_lossy(data));
        c.check_relations();
        let _ = c.init_error();
    }
}
