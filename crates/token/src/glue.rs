//! The one place that names the ePass2003 implementation of `TokenBackend`.

use crate::error::{Error, Result};
use epass2003::transport::Transport;
use epass2003::Connection;
use pkcs15::backend::{BackendError, TokenBackend};
use pkcs15::card::{Epass2003Token, OpenOptions};

/// Open the PKCS#15 object layer over a connected card. The emulated card is in-process, so
/// its directory is read directly (no on-disk cache).
pub(crate) fn open_backend(
    conn: Connection<Box<dyn Transport>>,
    emulated: bool,
) -> Result<Box<dyn TokenBackend>> {
    let opts = OpenOptions {
        emulated,
        cache_dir: if emulated {
            None
        } else {
            pkcs15::card::cache::default_dir()
        },
    };
    match Epass2003Token::open(conn, opts) {
        Ok(t) => Ok(Box::new(t)),
        Err(BackendError::Removed) => Err(Error::TokenNotPresent),
        Err(e) => Err(e.into()),
    }
}
