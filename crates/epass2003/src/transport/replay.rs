//! Replay and recording of card sessions (for fuzzing and regression tests).
//!
//! Format: `[u16 BE len][ATR]` followed by `[u16 BE len][R-APDU]…`, one record per transmitted
//! command in order. The commands themselves are not stored; a replay feeds the recorded
//! responses back regardless of what is sent.

use super::{Exchange, Transport};
use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// A transport that answers every command with the next recorded response. When the recording
/// is exhausted it reports [`Error::Removed`].
#[derive(Debug, Clone)]
pub struct ReplayTransport {
    atr: Vec<u8>,
    responses: VecDeque<Vec<u8>>,
}

impl ReplayTransport {
    /// Parse a recording. Truncated trailing records are ignored (useful for fuzzing).
    pub fn from_bytes(rec: &[u8]) -> Result<Self> {
        let mut items = Vec::new();
        let mut pos = 0usize;
        while pos + 2 <= rec.len() {
            let len = usize::from(u16::from_be_bytes([rec[pos], rec[pos + 1]]));
            pos += 2;
            if pos + len > rec.len() {
                break;
            }
            items.push(rec[pos..pos + len].to_vec());
            pos += len;
        }
        let mut it = items.into_iter();
        let atr = it
            .next()
            .ok_or_else(|| Error::Malformed("recording has no ATR".into()))?;
        Ok(ReplayTransport {
            atr,
            responses: it.collect(),
        })
    }
    /// Responses not yet consumed.
    pub fn remaining(&self) -> usize {
        self.responses.len()
    }
}

struct ReplayExchange<'a>(&'a mut ReplayTransport);

impl Exchange for ReplayExchange<'_> {
    fn transmit(&mut self, _capdu: &[u8]) -> Result<Vec<u8>> {
        self.0.responses.pop_front().ok_or(Error::Removed)
    }
    fn end(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

impl Transport for ReplayTransport {
    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }
    fn begin(&mut self) -> Result<Box<dyn Exchange + '_>> {
        Ok(Box::new(ReplayExchange(self)))
    }
}

/// Wraps any transport and appends everything it receives to a shared buffer in the replay
/// format. Note: recordings contain response data (possibly secrets read from the card); they
/// never contain command data.
pub struct Recorder<T: Transport> {
    inner: T,
    sink: Arc<Mutex<Vec<u8>>>,
}

fn push_record(sink: &Mutex<Vec<u8>>, data: &[u8]) {
    let mut g = sink.lock().unwrap_or_else(|e| e.into_inner());
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX);
    g.extend_from_slice(&len.to_be_bytes());
    g.extend_from_slice(&data[..usize::from(len)]);
}

impl<T: Transport> Recorder<T> {
    /// Start recording; the ATR is written immediately.
    pub fn new(inner: T) -> Self {
        let sink = Arc::new(Mutex::new(Vec::new()));
        push_record(&sink, &inner.atr());
        Recorder { inner, sink }
    }
    /// Handle to the recording (can be read while recording continues).
    pub fn recording(&self) -> Arc<Mutex<Vec<u8>>> {
        self.sink.clone()
    }
    /// The inner transport.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

struct RecExchange<'a> {
    inner: Box<dyn Exchange + 'a>,
    sink: Arc<Mutex<Vec<u8>>>,
}

impl Exchange for RecExchange<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        let r = self.inner.transmit(capdu)?;
        push_record(&self.sink, &r);
        Ok(r)
    }
    fn end(self: Box<Self>) -> Result<()> {
        self.inner.end()
    }
}

impl<T: Transport> Transport for Recorder<T> {
    fn atr(&self) -> Vec<u8> {
        self.inner.atr()
    }
    fn begin(&mut self) -> Result<Box<dyn Exchange + '_>> {
        let sink = self.sink.clone();
        Ok(Box::new(RecExchange {
            inner: self.inner.begin()?,
            sink,
        }))
    }
}
