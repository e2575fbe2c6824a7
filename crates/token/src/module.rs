//! Module state: slots, tokens, the session index.
//!
//! # Lock order
//! 1. the module's global `RwLock` (in `crates/pkcs11`; write only for `C_Initialize` /
//!    `C_Finalize`),
//! 2. one slot's `Mutex` ([`Slot`]; holds the token, its sessions and login state, and
//!    serialises card I/O),
//! 3. the session index `Mutex` (session handle → slot), a leaf: nothing else is locked while
//!    it is held, and it is never held while taking a slot lock.
//!
//! Handles (sessions and objects) come from one monotonic counter and are never reused.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::readers::{EmulatorReader, PcscReader, Reader};
use crate::token::{Handles, Token, TokenInfo};
use cryptoki_sys::*;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

struct SlotInner {
    reader: Box<dyn Reader>,
    token: Option<Token>,
    last_present: Option<bool>,
}

/// One slot.
pub struct Slot {
    inner: Mutex<SlotInner>,
}

/// What `CK_SLOT_INFO` needs.
#[derive(Debug, Clone)]
pub struct SlotInfo {
    /// Description.
    pub description: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// `CKF_*`.
    pub flags: CK_FLAGS,
}

/// The module (everything `C_Initialize` creates).
pub struct Module {
    slots: Vec<Slot>,
    handles: Handles,
    index: Mutex<HashMap<CK_SESSION_HANDLE, usize>>,
    config: Config,
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>> {
    m.lock().map_err(|_| Error::General)
}

impl Module {
    /// Build the slot table from `config` (emulated slots first, then PC/SC readers).
    pub fn new(config: Config) -> Module {
        let mut readers: Vec<Box<dyn Reader>> = Vec::new();
        for p in &config.emulator {
            readers.push(Box::new(EmulatorReader::new(p.clone())));
        }
        if config.pcsc {
            for r in PcscReader::all() {
                readers.push(Box::new(r));
            }
        }
        Self::with_readers(config, readers)
    }

    /// A module over given readers (tests).
    pub fn with_readers(config: Config, readers: Vec<Box<dyn Reader>>) -> Module {
        Module {
            slots: readers
                .into_iter()
                .map(|reader| Slot {
                    inner: Mutex::new(SlotInner {
                        reader,
                        token: None,
                        last_present: None,
                    }),
                })
                .collect(),
            handles: Handles::default(),
            index: Mutex::new(HashMap::new()),
            config,
        }
    }

    fn slot(&self, id: CK_SLOT_ID) -> Result<&Slot> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.slots.get(i))
            .ok_or(Error::SlotIdInvalid)
    }

    /// Drop a slot's token (removed): its sessions vanish from the index.
    fn drop_token(&self, idx: usize, inner: &mut SlotInner) -> Result<()> {
        if let Some(t) = inner.token.take() {
            let mut ix = lock(&self.index)?;
            for h in t.sessions.keys() {
                ix.remove(h);
            }
            let _ = idx;
        }
        Ok(())
    }

    /// Ensure the token of a locked slot is open; refresh presence.
    fn ensure_token<'a>(&self, idx: usize, inner: &'a mut SlotInner) -> Result<&'a mut Token> {
        if inner.token.is_none() {
            if !inner.reader.present() {
                return Err(Error::TokenNotPresent);
            }
            let backend = inner.reader.open()?;
            inner.token = Some(Token::new(backend, self.config.clone())?);
            let _ = idx;
        }
        inner.token.as_mut().ok_or(Error::TokenNotPresent)
    }

    /// Run `f` on the token of slot `id` (opening it if needed). A removal drops the token.
    pub fn with_token<R>(
        &self,
        id: CK_SLOT_ID,
        f: impl FnOnce(&mut Token, &Handles) -> Result<R>,
    ) -> Result<R> {
        let idx = usize::try_from(id).map_err(|_| Error::SlotIdInvalid)?;
        let slot = self.slot(id)?;
        let mut inner = lock(&slot.inner)?;
        let tok = self.ensure_token(idx, &mut inner)?;
        tok.tick();
        let r = f(tok, &self.handles);
        if matches!(r, Err(Error::DeviceRemoved)) {
            self.drop_token(idx, &mut inner)?;
        }
        r
    }

    /// Run `f` on the token that owns session `h`.
    pub fn with_session<R>(
        &self,
        h: CK_SESSION_HANDLE,
        f: impl FnOnce(&mut Token, &Handles) -> Result<R>,
    ) -> Result<R> {
        let idx = *lock(&self.index)?
            .get(&h)
            .ok_or(Error::SessionHandleInvalid)?;
        let slot = self.slots.get(idx).ok_or(Error::SessionHandleInvalid)?;
        let mut inner = lock(&slot.inner)?;
        let tok = inner.token.as_mut().ok_or(Error::SessionHandleInvalid)?;
        if !tok.sessions.contains_key(&h) {
            return Err(Error::SessionHandleInvalid);
        }
        tok.tick();
        let r = f(tok, &self.handles);
        if matches!(r, Err(Error::DeviceRemoved)) {
            self.drop_token(idx, &mut inner)?;
        }
        r
    }

    /// The slot of a session.
    pub fn session_slot(&self, h: CK_SESSION_HANDLE) -> Result<CK_SLOT_ID> {
        lock(&self.index)?
            .get(&h)
            .map(|&i| i as CK_SLOT_ID)
            .ok_or(Error::SessionHandleInvalid)
    }

    /// `C_GetSlotList`.
    pub fn slot_list(&self, token_present: bool) -> Result<Vec<CK_SLOT_ID>> {
        let mut out = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            if token_present {
                let mut inner = lock(&s.inner)?;
                let present = inner.reader.present();
                if !present {
                    self.drop_token(i, &mut inner)?;
                    continue;
                }
            }
            out.push(i as CK_SLOT_ID);
        }
        Ok(out)
    }

    /// `C_GetSlotInfo`.
    pub fn slot_info(&self, id: CK_SLOT_ID) -> Result<SlotInfo> {
        let idx = usize::try_from(id).map_err(|_| Error::SlotIdInvalid)?;
        let slot = self.slot(id)?;
        let mut inner = lock(&slot.inner)?;
        let present = inner.reader.present();
        if !present {
            self.drop_token(idx, &mut inner)?;
        }
        let mut flags = CKF_REMOVABLE_DEVICE;
        if present {
            flags |= CKF_TOKEN_PRESENT;
        }
        if inner.reader.hardware() {
            flags |= CKF_HW_SLOT;
        }
        Ok(SlotInfo {
            description: inner.reader.description(),
            manufacturer: inner.reader.manufacturer(),
            flags,
        })
    }

    /// `C_GetTokenInfo`.
    pub fn token_info(&self, id: CK_SLOT_ID) -> Result<TokenInfo> {
        self.with_token(id, |t, _| Ok(t.info()))
    }

    /// `C_OpenSession`.
    pub fn open_session(&self, id: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE> {
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(Error::SessionParallelNotSupported);
        }
        let idx = usize::try_from(id).map_err(|_| Error::SlotIdInvalid)?;
        let h = self.with_token(id, |t, handles| {
            let h = handles.next();
            t.open_session(h, flags & CKF_RW_SESSION != 0)?;
            Ok(h)
        })?;
        lock(&self.index)?.insert(h, idx);
        Ok(h)
    }

    /// `C_CloseSession`.
    pub fn close_session(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        self.with_session(h, |t, _| t.close_session(h))?;
        lock(&self.index)?.remove(&h);
        Ok(())
    }

    /// `C_CloseAllSessions`.
    pub fn close_all_sessions(&self, id: CK_SLOT_ID) -> Result<()> {
        let handles: Vec<CK_SESSION_HANDLE> = {
            let ix = lock(&self.index)?;
            ix.iter()
                .filter(|(_, &s)| s as CK_SLOT_ID == id)
                .map(|(&h, _)| h)
                .collect()
        };
        self.slot(id)?;
        for h in handles {
            match self.close_session(h) {
                Ok(()) | Err(Error::SessionHandleInvalid) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One non-blocking pass of `C_WaitForSlotEvent`: the first slot whose presence changed.
    pub fn poll_event(&self) -> Result<Option<CK_SLOT_ID>> {
        for (i, s) in self.slots.iter().enumerate() {
            let mut inner = lock(&s.inner)?;
            let now = inner.reader.present();
            let before = inner.last_present.replace(now);
            if !now {
                self.drop_token(i, &mut inner)?;
            }
            if before.is_some_and(|b| b != now) {
                return Ok(Some(i as CK_SLOT_ID));
            }
        }
        Ok(None)
    }

    /// Remember the current presence of every slot (start of event tracking).
    pub fn prime_events(&self) -> Result<()> {
        for s in &self.slots {
            let mut inner = lock(&s.inner)?;
            let now = inner.reader.present();
            inner.last_present = Some(now);
        }
        Ok(())
    }

    /// Number of slots.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }
}
