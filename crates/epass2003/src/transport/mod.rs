//! Transports: how APDU bytes reach a card (conventions §4 item 7).
//!
//! A [`Transport`] is one connection to one card. [`Transport::begin`] opens an exclusive
//! transaction and returns an [`Exchange`] guard that borrows the transport `&mut`: every APDU of
//! one multi-APDU exchange (for example GET CHALLENGE + EXTERNAL AUTHENTICATE, or a whole SM
//! handshake) goes through that guard, so two processes can never interleave an SM exchange.
//! End the guard explicitly with [`Exchange::end`] (dropping it also ends it, leaving the card).

use crate::error::Result;

pub mod pcsc;
pub mod replay;

#[cfg(feature = "emulator")]
pub mod emulator;

/// One connection to a card.
pub trait Transport: Send {
    /// The card's ATR as seen at connect time.
    fn atr(&self) -> Vec<u8>;
    /// Begin an exclusive transaction.
    fn begin(&mut self) -> Result<Box<dyn Exchange + '_>>;
}

/// An open transaction on a [`Transport`].
pub trait Exchange {
    /// Send one C-APDU and return the full R-APDU (data ‖ SW1 SW2).
    /// A removed card gives [`crate::Error::Removed`], never a hang.
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>>;
    /// End the transaction, leaving the card powered and un-reset.
    fn end(self: Box<Self>) -> Result<()>;
    /// True if the card was found reset (by another process or a replug) when this
    /// transaction began; the SM session and login state are then gone.
    fn was_reset(&self) -> bool {
        false
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn atr(&self) -> Vec<u8> {
        (**self).atr()
    }
    fn begin(&mut self) -> Result<Box<dyn Exchange + '_>> {
        (**self).begin()
    }
}
