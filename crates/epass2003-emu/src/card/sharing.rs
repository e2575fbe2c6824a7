//! One card shared by several processes: the card's backing store, transactions, and adopting
//! the persistent state another process wrote.
//!
//! **Choice** (documented in `docs/protocol-notes.md`, "Emulated token shared by processes"):
//! each process holds its own [`Card`] over one state file, like a logical channel of a real
//! card: the persistent state (files, keys, PINs, retry counters, label) is the file's and is
//! adopted at the start of every transaction; the volatile state (SM session, security level,
//! current DF/EF, challenge, MSE) is the process's own. Adopting keeps it, except that
//! * a selection or MSE naming a file that no longer exists is dropped (the MF becomes
//!   current, as after the deletion of the current DF);
//! * the security level falls to 0 when another process erased the card or changed any key
//!   record other than its retry counter (a PIN changed, unblocked or re-installed, the card
//!   re-initialised), so a login never carries over to credentials it did not verify; a wrong
//!   PIN presented elsewhere (a retry counter change) leaves it.

use std::io;

use sha2::{Digest, Sha256};

use super::{Card, CardError};
use crate::fs::{self, FileNode};

/// Where a card's persistent state lives when it is shared (a [`crate::store::StateFile`]).
pub trait Backing: Send {
    /// Begin exclusive access to the state. `Ok(Some(bytes))`: another process changed it;
    /// these are the current [`Card::to_state_bytes`]. `Err`: the reason the card cannot be
    /// used now (exclusive access is then not held).
    fn begin(&mut self) -> Result<Option<Vec<u8>>, String>;
    /// Make `bytes` durable (called only between `begin` and `end`).
    fn save(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// End exclusive access.
    fn end(&mut self);
}

/// A digest of every key record of the tree except its retry counter, by DF path (digests, so
/// no copy of a key value outlives the call).
fn key_fingerprint(mf: Option<&FileNode>) -> Vec<(Vec<u16>, [u8; 32])> {
    fn walk(node: &FileNode, path: &mut Vec<u16>, out: &mut Vec<(Vec<u16>, [u8; 32])>) {
        if !node.is_df() {
            return;
        }
        path.push(node.fid);
        for k in node.keys() {
            let mut h = Sha256::new();
            h.update([k.key_type, k.kid, k.max_tries]);
            h.update(k.attrs);
            h.update(&k.value.0);
            out.push((path.clone(), h.finalize().into()));
        }
        for c in node.children() {
            walk(c, path, out);
        }
        path.pop();
    }
    let mut out = Vec::new();
    if let Some(mf) = mf {
        walk(mf, &mut Vec::new(), &mut out);
    }
    out
}

impl Card {
    /// Share this card through `backing`: from now on every transaction
    /// ([`Card::begin_transaction`] … [`Card::end_transaction`]), and every APDU sent outside
    /// one, holds the backing's exclusive access, first adopts the state other processes
    /// wrote, and saves changes through it (instead of the persister).
    pub fn set_backing(&mut self, backing: Box<dyn Backing>) {
        self.backing = Some(backing);
    }

    /// Begin a transaction (the equivalent of a PC/SC transaction): exclusive access to the
    /// shared state until [`Card::end_transaction`], with other processes' changes adopted.
    /// Transactions nest. Without a backing this does nothing.
    pub fn begin_transaction(&mut self) -> Result<(), CardError> {
        let Some(b) = self.backing.as_mut() else {
            return Ok(());
        };
        self.depth += 1;
        if self.depth > 1 {
            return Ok(());
        }
        match b.begin() {
            Ok(None) => Ok(()),
            Ok(Some(bytes)) => match self.adopt(&bytes) {
                Ok(()) => Ok(()),
                Err(e) => {
                    self.end_transaction();
                    Err(e)
                }
            },
            Err(reason) => {
                self.depth = 0;
                Err(CardError::Unavailable(reason))
            }
        }
    }

    /// End the transaction begun last (exclusive access ends with the outermost one).
    pub fn end_transaction(&mut self) {
        if self.depth == 0 {
            return;
        }
        self.depth -= 1;
        if self.depth == 0 {
            if let Some(b) = self.backing.as_mut() {
                b.end();
            }
        }
    }

    /// Adopt the persistent state another process wrote, keeping this process's volatile
    /// state where it still makes sense (module docs).
    fn adopt(&mut self, bytes: &[u8]) -> Result<(), CardError> {
        let st = Self::parse_state(bytes)?;
        let keys_before = key_fingerprint(self.st.mf.as_ref());
        self.st = st;
        self.last_saved = self.to_state_bytes();
        if key_fingerprint(self.st.mf.as_ref()) != keys_before {
            self.vol.level = 0;
        }
        let Some(mf) = self.st.mf.as_ref() else {
            self.vol.cur_df = None;
            self.vol.cur_ef = None;
            self.vol.mse = None;
            self.vol.level = 0;
            return Ok(());
        };
        let df_ok = self
            .vol
            .cur_df
            .as_ref()
            .and_then(|p| fs::node_at(mf, p))
            .is_some_and(FileNode::is_df);
        if !df_ok {
            self.vol.cur_df = Some(vec![0x3F00]);
            self.vol.cur_ef = None;
        }
        if let (Some(df), Some(ef)) = (self.vol.cur_df.as_ref(), self.vol.cur_ef) {
            if fs::node_at(mf, df).and_then(|d| d.child(ef)).is_none() {
                self.vol.cur_ef = None;
            }
        }
        let mse_ok = self.vol.mse.as_ref().is_none_or(|m| {
            fs::node_at(mf, &m.df)
                .and_then(|d| d.child(m.fid))
                .is_some()
        });
        if !mse_ok {
            self.vol.mse = None;
        }
        Ok(())
    }

    /// Make the current persistent state durable: through the backing, else the persister.
    pub(super) fn persist(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some(b) = self.backing.as_mut() {
            return b.save(bytes);
        }
        match self.persister.as_mut() {
            Some(p) => p(bytes),
            None => Ok(()),
        }
    }
}
