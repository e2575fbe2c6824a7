//! In-process transport to the software card (`epass2003_emu::Card`).
//!
//! The card is shared as `Arc<Mutex<Card>>` so tests can set hooks (pull, flip) while the driver
//! holds it. The mutex is taken per APDU, not per transaction. A card backed by a state file
//! shared with other processes ([`epass2003_emu::Card::set_backing`]) holds that file's lock from
//! [`Transport::begin`] to [`Exchange::end`] (or the drop of the exchange), like a PC/SC
//! transaction; a card that cannot be had then (lock held too long, unreadable file) is a
//! [`Error::Transport`] naming the reason.

use super::{Exchange, Transport};
use crate::error::{Error, Result};
use epass2003_emu::{Card, CardError};
use std::sync::{Arc, Mutex};

/// Transport over an in-process emulated card.
#[derive(Clone)]
pub struct EmulatorTransport {
    card: Arc<Mutex<Card>>,
    atr: Vec<u8>,
}

impl EmulatorTransport {
    /// Connect to a shared card (powers it on).
    pub fn new(card: Arc<Mutex<Card>>) -> Self {
        let atr = {
            let mut c = card.lock().unwrap_or_else(|e| e.into_inner());
            c.power_on();
            c.atr()
        };
        EmulatorTransport { card, atr }
    }
    /// The shared card.
    pub fn card(&self) -> Arc<Mutex<Card>> {
        self.card.clone()
    }
}

struct EmuExchange<'a> {
    t: &'a EmulatorTransport,
    open: bool,
}

impl EmuExchange<'_> {
    fn finish(&mut self) {
        if std::mem::take(&mut self.open) {
            let mut c = self.t.card.lock().unwrap_or_else(|e| e.into_inner());
            c.end_transaction();
        }
    }
}

impl Drop for EmuExchange<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

fn map_card(e: CardError) -> Error {
    match e {
        CardError::Removed => Error::Removed,
        CardError::Unavailable(reason) => Error::Transport(reason),
        other => Error::Transport(other.to_string()),
    }
}

impl Exchange for EmuExchange<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        let mut c = self.t.card.lock().unwrap_or_else(|e| e.into_inner());
        c.transmit(capdu).map_err(map_card)
    }
    fn end(mut self: Box<Self>) -> Result<()> {
        self.finish();
        Ok(())
    }
}

impl Transport for EmulatorTransport {
    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }
    fn begin(&mut self) -> Result<Box<dyn Exchange + '_>> {
        {
            let mut c = self.card.lock().unwrap_or_else(|e| e.into_inner());
            c.begin_transaction().map_err(map_card)?;
        }
        Ok(Box::new(EmuExchange {
            t: self,
            open: true,
        }))
    }
}
