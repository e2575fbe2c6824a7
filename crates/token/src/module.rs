//! Module state: slots, tokens, the session index.
//!
//! # Lock order
//! 1. the module's global `RwLock` (in `crates/pkcs11`; write only for `C_Initialize` /
//!    `C_Finalize`),
//! 2. the slot table's `RwLock` (held only to look a slot up or to append new PC/SC readers;
//!    never while a slot's `Mutex` is held),
//! 3. one slot's `Mutex` ([`Slot`]; holds the token, its sessions and login state, and
//!    serialises card I/O),
//! 4. the session index `Mutex` (session handle → slot), a leaf: nothing else is locked while
//!    it is held, and it is never held while taking a slot lock.
//!
//! Handles (sessions and objects) come from one monotonic counter and are never reused.
//!
//! Slot IDs are indices into the slot table, which only grows: PC/SC readers plugged in after
//! `C_Initialize` are appended (at `C_GetSlotList` and `C_WaitForSlotEvent`) with new IDs, and
//! a removed reader's slot stays, reporting no token, for as long as the module lives (a reader
//! plugged in again gets a new slot).

use crate::config::Config;
use crate::error::{Error, Result};
#[cfg(feature = "emulator")]
use crate::readers::EmulatorReader;
use crate::readers::{PcscReader, Reader};
use crate::token::{Handles, Token, TokenInfo};
use cryptoki_sys::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

struct SlotInner {
    reader: Box<dyn Reader>,
    token: Option<Token>,
    last_present: Option<bool>,
}

/// One slot.
pub struct Slot {
    inner: Mutex<SlotInner>,
    /// The PC/SC reader name, for re-enumeration (`None`: not a PC/SC slot).
    pcsc_name: Option<String>,
    /// The reader is gone for good: no token, ever.
    gone: AtomicBool,
}

impl Slot {
    fn new(reader: Box<dyn Reader>, pcsc_name: Option<String>, last_present: Option<bool>) -> Self {
        Slot {
            inner: Mutex::new(SlotInner {
                reader,
                token: None,
                last_present,
            }),
            pcsc_name,
            gone: AtomicBool::new(false),
        }
    }

    fn present(&self, inner: &mut SlotInner) -> bool {
        !self.gone.load(Ordering::Acquire) && inner.reader.present()
    }
}

/// Merge a fresh PC/SC reader list into the slot table: `live` are the (slot index, reader
/// name) of the PC/SC slots not yet gone, `listed` the names PC/SC lists now. Returns the names
/// to append as new slots (in listed order) and the indices of slots whose reader vanished.
pub(crate) fn merge_readers(
    live: &[(usize, &str)],
    listed: &[String],
) -> (Vec<String>, Vec<usize>) {
    let added = listed
        .iter()
        .filter(|n| !live.iter().any(|(_, l)| l == n))
        .cloned()
        .collect();
    let vanished = live
        .iter()
        .filter(|(_, l)| !listed.iter().any(|n| n == l))
        .map(|&(i, _)| i)
        .collect();
    (added, vanished)
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

/// The slots of the emulated tokens in `config.emulator` (`EPASS2003_EMULATOR`).
#[cfg(feature = "emulator")]
fn emulated_readers(config: &Config) -> Vec<Box<dyn Reader>> {
    config
        .emulator
        .iter()
        .map(|p| Box::new(EmulatorReader::new(p.clone())) as Box<dyn Reader>)
        .collect()
}

/// Built without the emulated token (no cargo feature `emulator`): `EPASS2003_EMULATOR` is
/// ignored, with one note on stderr.
#[cfg(not(feature = "emulator"))]
fn emulated_readers(config: &Config) -> Vec<Box<dyn Reader>> {
    if !config.emulator.is_empty() {
        eprintln!(
            "epass2003: EPASS2003_EMULATOR ignored: this library was built without the emulated \
             token (cargo feature `emulator`); only PC/SC readers are used"
        );
    }
    Vec::new()
}

/// The module (everything `C_Initialize` creates).
pub struct Module {
    slots: RwLock<Vec<Arc<Slot>>>,
    handles: Handles,
    index: Mutex<HashMap<CK_SESSION_HANDLE, usize>>,
    config: Config,
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>> {
    m.lock().map_err(|_| Error::General)
}

impl Module {
    /// Build the slot table from `config` (emulated slots first, then PKCS#12 files, then PC/SC
    /// readers).
    pub fn new(config: Config) -> Module {
        let mut readers = emulated_readers(&config);
        readers.extend(config.pkcs12.iter().map(|p| {
            Box::new(crate::readers::Pkcs12Reader::new(
                p.clone(),
                config.pkcs12_policy.clone(),
            )) as Box<dyn Reader>
        }));
        let m = Self::with_readers(config, readers);
        if m.config.pcsc {
            if let Ok(mut slots) = m.slots.write() {
                for r in PcscReader::all() {
                    let name = r.name().to_string();
                    slots.push(Arc::new(Slot::new(Box::new(r), Some(name), None)));
                }
            }
        }
        m
    }

    /// Re-enumerate PC/SC readers: append slots for new readers, mark vanished ones gone.
    /// Nothing changes if PC/SC cannot be asked (pcscd down: the slots report no token anyway).
    fn rescan(&self) -> Result<()> {
        if !self.config.pcsc {
            return Ok(());
        }
        let Some(listed) = PcscReader::names() else {
            return Ok(());
        };
        let mut slots = self.slots.write().map_err(|_| Error::General)?;
        let live: Vec<(usize, &str)> = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.gone.load(Ordering::Acquire))
            .filter_map(|(i, s)| s.pcsc_name.as_deref().map(|n| (i, n)))
            .collect();
        let (added, vanished) = merge_readers(&live, &listed);
        for i in vanished {
            tracing::info!(slot = i, "PC/SC reader removed");
            slots[i].gone.store(true, Ordering::Release);
        }
        for name in added {
            let Some(r) = PcscReader::new(&name) else {
                continue;
            };
            tracing::info!(slot = slots.len(), reader = %name, "PC/SC reader added");
            // Tracked from "no token": a new reader holding a card is a slot event.
            slots.push(Arc::new(Slot::new(Box::new(r), Some(name), Some(false))));
        }
        Ok(())
    }

    fn all_slots(&self) -> Result<Vec<Arc<Slot>>> {
        Ok(self.slots.read().map_err(|_| Error::General)?.clone())
    }

    /// A module over given readers (tests).
    pub fn with_readers(config: Config, readers: Vec<Box<dyn Reader>>) -> Module {
        Module {
            slots: RwLock::new(
                readers
                    .into_iter()
                    .map(|reader| Arc::new(Slot::new(reader, None, None)))
                    .collect(),
            ),
            handles: Handles::default(),
            index: Mutex::new(HashMap::new()),
            config,
        }
    }

    fn slot(&self, id: CK_SLOT_ID) -> Result<Arc<Slot>> {
        let slots = self.slots.read().map_err(|_| Error::General)?;
        usize::try_from(id)
            .ok()
            .and_then(|i| slots.get(i))
            .cloned()
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
    fn ensure_token<'a>(
        &self,
        idx: usize,
        slot: &Slot,
        inner: &'a mut SlotInner,
    ) -> Result<&'a mut Token> {
        if inner.token.is_none() {
            if !slot.present(inner) {
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
        self.ensure_token(idx, &slot, &mut inner)?;
        inner.reader.begin_operation()?;
        let tok = inner.token.as_mut().ok_or(Error::TokenNotPresent)?;
        tok.expire();
        let r = f(tok, &self.handles);
        inner.reader.end_operation();
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
        let slot = self
            .slots
            .read()
            .map_err(|_| Error::General)?
            .get(idx)
            .cloned()
            .ok_or(Error::SessionHandleInvalid)?;
        let mut guard = lock(&slot.inner)?;
        let inner = &mut *guard;
        let tok = inner.token.as_mut().ok_or(Error::SessionHandleInvalid)?;
        if !tok.sessions.contains_key(&h) {
            return Err(Error::SessionHandleInvalid);
        }
        inner.reader.begin_operation()?;
        tok.expire();
        let r = f(tok, &self.handles);
        inner.reader.end_operation();
        let mut inner = guard;
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
        self.rescan()?;
        let mut out = Vec::new();
        for (i, s) in self.all_slots()?.iter().enumerate() {
            if token_present {
                let mut inner = lock(&s.inner)?;
                let present = s.present(&mut inner);
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
        let present = slot.present(&mut inner);
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
        self.rescan()?;
        for (i, s) in self.all_slots()?.iter().enumerate() {
            let mut inner = lock(&s.inner)?;
            let now = s.present(&mut inner);
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
        for s in self.all_slots()? {
            let mut inner = lock(&s.inner)?;
            let now = s.present(&mut inner);
            inner.last_present = Some(now);
        }
        Ok(())
    }

    /// Number of slots.
    pub fn slot_count(&self) -> usize {
        self.slots.read().map_or(0, |s| s.len())
    }
}

#[cfg(test)]
mod tests {
    use super::merge_readers;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reader_merge_adds_new_and_retires_vanished() {
        // Nothing changed.
        let live = [(1, "A 00 00"), (2, "B 00 00")];
        let (added, gone) = merge_readers(&live, &names(&["A 00 00", "B 00 00"]));
        assert!(added.is_empty() && gone.is_empty());
        // A reader plugged in: appended; one pulled: its slot retired, not reused.
        let (added, gone) = merge_readers(&live, &names(&["B 00 00", "C 00 00"]));
        assert_eq!(added, names(&["C 00 00"]));
        assert_eq!(gone, vec![1]);
        // Every reader gone.
        let (added, gone) = merge_readers(&live, &[]);
        assert!(added.is_empty());
        assert_eq!(gone, vec![1, 2]);
        // A reader seen again after its slot was retired (not in `live`) gets a new slot.
        let (added, gone) = merge_readers(&[(2, "B 00 00")], &names(&["A 00 00", "B 00 00"]));
        assert_eq!(added, names(&["A 00 00"]));
        assert!(gone.is_empty());
    }
}
