//! In-process transport to the software card (`epass2003_emu::Card`).
//!
//! The card is shared as `Arc<Mutex<Card>>` so tests can set hooks (pull, flip) while the driver
//! holds it. The mutex is taken per APDU, not per transaction.

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

struct EmuExchange<'a>(&'a EmulatorTransport);

impl Exchange for EmuExchange<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        let mut c = self.0.card.lock().unwrap_or_else(|e| e.into_inner());
        c.transmit(capdu).map_err(|e| match e {
            CardError::Removed => Error::Removed,
            #[allow(unreachable_patterns)]
            other => Error::Transport(format!("{other:?}")),
        })
    }
    fn end(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

impl Transport for EmulatorTransport {
    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }
    fn begin(&mut self) -> Result<Box<dyn Exchange + '_>> {
        Ok(Box::new(EmuExchange(self)))
    }
}
