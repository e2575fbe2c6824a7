//! PC/SC transport (`pcsc` crate) with reader enumeration and hot-plug.
//!
//! Cards are opened with `SCARD_SHARE_SHARED`; every multi-APDU exchange runs inside
//! `SCardBeginTransaction`, so two processes never interleave an SM exchange. Transactions are
//! ended and the card is disconnected with `Disposition::LeaveCard` explicitly
//! ([`PcscTransport::disconnect`]; our `Drop` also leaves the card rather than relying on the
//! `pcsc` crate's default, which resets it).

use super::{Exchange, Transport};
use crate::error::{Error, Result};
use pcsc::{Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use std::ffi::{CStr, CString};
use std::time::Duration;

fn map_err(e: pcsc::Error) -> Error {
    match e {
        pcsc::Error::RemovedCard
        | pcsc::Error::NoSmartcard
        | pcsc::Error::ReaderUnavailable
        | pcsc::Error::UnknownReader => Error::Removed,
        pcsc::Error::ResetCard => Error::CardReset,
        other => Error::Transport(other.to_string()),
    }
}

/// A PC/SC resource-manager context.
pub struct PcscContext {
    ctx: Context,
}

/// Reader or card change reported by [`ReaderWatch::wait`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// A new reader appeared.
    ReaderAdded(String),
    /// A reader went away.
    ReaderRemoved(String),
    /// A card was inserted (with its ATR).
    CardInserted {
        /// Reader name.
        reader: String,
        /// ATR reported by the resource manager.
        atr: Vec<u8>,
    },
    /// The card was removed.
    CardRemoved(String),
}

impl PcscContext {
    /// Establish a user-scope context.
    pub fn establish() -> Result<Self> {
        Ok(PcscContext {
            ctx: Context::establish(Scope::User).map_err(map_err)?,
        })
    }

    /// List reader names (empty if there are none).
    pub fn list_readers(&self) -> Result<Vec<String>> {
        match self.ctx.list_readers_owned() {
            Ok(v) => Ok(v
                .into_iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect()),
            Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
            Err(e) => Err(map_err(e)),
        }
    }

    /// Connect to the card in `reader` (shared mode, T=1 or T=0).
    pub fn connect(&self, reader: &str) -> Result<PcscTransport> {
        let name =
            CString::new(reader).map_err(|_| Error::InvalidArgument("reader name".into()))?;
        let card = self
            .ctx
            .connect(&name, ShareMode::Shared, Protocols::ANY)
            .map_err(map_err)?;
        let atr = card.status2_owned().map_err(map_err)?.atr().to_vec();
        Ok(PcscTransport {
            card: Some(card),
            atr,
        })
    }

    /// Start watching all readers plus the `\\?PnP?\Notification` pseudo-reader. The first
    /// [`ReaderWatch::wait`] reports a [`ReaderEvent::CardInserted`] for every card already present.
    pub fn watch(&self) -> Result<ReaderWatch<'_>> {
        let mut w = ReaderWatch {
            ctx: self,
            states: Vec::new(),
        };
        w.states
            .push(ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE));
        for r in self.list_readers()? {
            w.add(&r);
        }
        Ok(w)
    }
}

/// Tracks reader and card state across [`ReaderWatch::wait`] calls (`SCardGetStatusChange`).
pub struct ReaderWatch<'a> {
    ctx: &'a PcscContext,
    states: Vec<ReaderState>,
}

impl ReaderWatch<'_> {
    fn add(&mut self, name: &str) {
        if let Ok(c) = CString::new(name) {
            self.states.push(ReaderState::new(c, State::UNAWARE));
        }
    }

    /// Whether a card is currently present in `reader` (as of the last wait).
    pub fn card_present(&self, reader: &str) -> bool {
        self.states.iter().any(|s| {
            s.name().to_string_lossy() == reader && s.current_state().contains(State::PRESENT)
        })
    }

    /// Wait up to `timeout` (or forever with `None`) for changes. A timeout returns an empty list.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<ReaderEvent>> {
        let mut events = Vec::new();
        match self.ctx.ctx.get_status_change(timeout, &mut self.states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => return Ok(events),
            Err(e) => return Err(map_err(e)),
        }
        let pnp: &CStr = pcsc::PNP_NOTIFICATION();
        let mut relist = false;
        for s in &mut self.states {
            let ev = s.event_state();
            if !ev.contains(State::CHANGED) {
                continue;
            }
            if s.name() == pnp {
                relist = true;
            } else {
                let name = s.name().to_string_lossy().into_owned();
                let was = s.current_state().contains(State::PRESENT);
                let now = ev.contains(State::PRESENT);
                if ev.intersects(State::UNKNOWN | State::UNAVAILABLE) {
                    relist = true;
                } else if now && !was {
                    events.push(ReaderEvent::CardInserted {
                        reader: name,
                        atr: s.atr().to_vec(),
                    });
                } else if was && !now {
                    events.push(ReaderEvent::CardRemoved(name));
                }
            }
            s.sync_current_state();
        }
        if relist {
            let now = self.ctx.list_readers()?;
            let known: Vec<String> = self
                .states
                .iter()
                .filter(|s| s.name() != pnp)
                .map(|s| s.name().to_string_lossy().into_owned())
                .collect();
            for k in &known {
                if !now.contains(k) {
                    if self.card_present(k) {
                        events.push(ReaderEvent::CardRemoved(k.clone()));
                    }
                    events.push(ReaderEvent::ReaderRemoved(k.clone()));
                }
            }
            self.states.retain(|s| {
                s.name() == pnp || now.iter().any(|n| s.name().to_string_lossy() == *n)
            });
            for n in now {
                if !known.contains(&n) {
                    events.push(ReaderEvent::ReaderAdded(n.clone()));
                    self.add(&n);
                }
            }
        }
        Ok(events)
    }
}

/// A shared-mode connection to one card.
pub struct PcscTransport {
    card: Option<pcsc::Card>,
    atr: Vec<u8>,
}

impl PcscTransport {
    /// Disconnect, leaving the card powered and un-reset (`Disposition::LeaveCard`).
    pub fn disconnect(mut self) -> Result<()> {
        match self.card.take() {
            Some(c) => c
                .disconnect(Disposition::LeaveCard)
                .map_err(|(_, e)| map_err(e)),
            None => Ok(()),
        }
    }
}

impl Drop for PcscTransport {
    fn drop(&mut self) {
        if let Some(c) = self.card.take() {
            let _ = c.disconnect(Disposition::LeaveCard);
        }
    }
}

struct PcscExchange<'a> {
    tx: Option<pcsc::Transaction<'a>>,
    reset: bool,
    buf: Vec<u8>,
}

impl Exchange for PcscExchange<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        let tx = self
            .tx
            .as_mut()
            .ok_or_else(|| Error::Transport("transaction ended".into()))?;
        match tx.transmit(capdu, &mut self.buf) {
            Ok(r) => Ok(r.to_vec()),
            Err(pcsc::Error::ResetCard) => {
                // Re-attach the handle so the re-authentication can run, then report the reset.
                let _ = tx.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::LeaveCard);
                Err(Error::CardReset)
            }
            Err(pcsc::Error::NotTransacted) => {
                // pcscd turns a reader communication failure (a token pulled mid-APDU) into
                // "not transacted" and notices the removal only at its next presence poll
                // (~400 ms). Poll the status for up to ~1.5 s (bounded: never a hang).
                for _ in 0..15 {
                    match tx.status2_owned() {
                        Err(e) => return Err(map_err(e)),
                        Ok(st) if !st.status().contains(pcsc::Status::PRESENT) => {
                            return Err(Error::Removed)
                        }
                        Ok(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
                Err(Error::Transport("reader communication error".into()))
            }
            Err(e) => Err(map_err(e)),
        }
    }
    fn was_reset(&self) -> bool {
        self.reset
    }
    fn end(mut self: Box<Self>) -> Result<()> {
        match self.tx.take() {
            Some(tx) => tx.end(Disposition::LeaveCard).map_err(|(_, e)| map_err(e)),
            None => Ok(()),
        }
    }
}

impl Transport for PcscTransport {
    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }
    fn begin(&mut self) -> Result<Box<dyn Exchange + '_>> {
        let card = self
            .card
            .as_mut()
            .ok_or_else(|| Error::Transport("disconnected".into()))?;
        let mut reset = false;
        let tx = match card.transaction2() {
            Ok(tx) => tx,
            Err((card, pcsc::Error::ResetCard)) => {
                // The card was reset behind our back: re-attach the handle and report it.
                card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::LeaveCard)
                    .map_err(map_err)?;
                reset = true;
                card.transaction().map_err(map_err)?
            }
            Err((_, e)) => return Err(map_err(e)),
        };
        Ok(Box::new(PcscExchange {
            tx: Some(tx),
            reset,
            buf: vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        }))
    }
}
