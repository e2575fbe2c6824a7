//! Where tokens come from: one [`Reader`] per slot (a PC/SC reader, or an emulated card kept
//! in-process).

use crate::error::{Error, Result};
use epass2003::transport::Transport;
use epass2003::{ConnectOptions, Connection};
#[cfg(feature = "emulator")]
use epass2003_emu::store::StateFile;
#[cfg(feature = "emulator")]
use std::path::PathBuf;
#[cfg(feature = "emulator")]
use std::sync::{Arc, Mutex};
use token_backend::TokenBackend;

/// One slot's source of tokens.
pub trait Reader: Send {
    /// `slotDescription`.
    fn description(&self) -> String;
    /// `manufacturerID` of the slot.
    fn manufacturer(&self) -> String;
    /// A hardware slot (`CKF_HW_SLOT`).
    fn hardware(&self) -> bool;
    /// Is a card in the reader now?
    fn present(&mut self) -> bool;
    /// Connect to the card and open its backend.
    fn open(&mut self) -> Result<Box<dyn TokenBackend>>;
    /// Called before each PKCS#11 operation on the open token: a reader whose card is shared
    /// with other processes takes exclusive access for the whole operation (its card
    /// transactions nest inside), so a check-then-write (a free file ID chosen from the
    /// directory, then created) is never interleaved with another process's write.
    fn begin_operation(&mut self) -> Result<()> {
        Ok(())
    }
    /// Called after each operation begun with [`Reader::begin_operation`] succeeded.
    fn end_operation(&mut self) {}
}

fn map_driver(e: epass2003::Error) -> Error {
    match e {
        epass2003::Error::Removed => Error::TokenNotPresent,
        other => Error::Device(other.to_string()),
    }
}

/// Open the object layer over a card connection.
fn open_backend(
    conn: Connection<Box<dyn Transport>>,
    emulated: bool,
) -> Result<Box<dyn TokenBackend>> {
    crate::glue::open_backend(conn, emulated)
}

/// An emulated ePass2003 in a state file, in-process (cargo feature `emulator`).
#[cfg(feature = "emulator")]
pub struct EmulatorReader {
    path: PathBuf,
    card: Option<Arc<Mutex<epass2003_emu::Card>>>,
}

#[cfg(feature = "emulator")]
impl EmulatorReader {
    /// The emulated card in `path` (a blank card is created there on first use if missing).
    pub fn new(path: PathBuf) -> Self {
        EmulatorReader { path, card: None }
    }

    /// An emulated card already in memory (no state file): tests that need the card itself,
    /// e.g. to count its APDUs.
    pub fn in_memory(label: &str, card: Arc<Mutex<epass2003_emu::Card>>) -> Self {
        EmulatorReader {
            path: PathBuf::from(label),
            card: Some(card),
        }
    }

    fn card(&mut self) -> Result<Arc<Mutex<epass2003_emu::Card>>> {
        if let Some(c) = &self.card {
            return Ok(c.clone());
        }
        let (file, mut card) = StateFile::open_or_create(&self.path, || {
            epass2003_emu::Card::new_blank(
                epass2003_emu::card::Variant::Aes,
                epass2003_emu::card::CardOptions::default(),
            )
        })
        .map_err(|e| {
            // The application sees CKR_DEVICE_ERROR; the user learns why, once per process.
            let msg = format!("epass2003: emulated token unavailable: {e}");
            epass2003_emu::store::report_once(&msg);
            Error::Device(msg)
        })?;
        // Shared with every other process using the file: locked per card transaction, other
        // processes' writes adopted at the next one.
        card.set_backing(Box::new(file));
        let c = Arc::new(Mutex::new(card));
        self.card = Some(c.clone());
        Ok(c)
    }
}

#[cfg(feature = "emulator")]
impl Reader for EmulatorReader {
    fn description(&self) -> String {
        format!("ePass2003 emulator (emulated) {}", self.path.display())
    }
    fn manufacturer(&self) -> String {
        "epass2003-rs (emulated)".into()
    }
    fn hardware(&self) -> bool {
        false
    }
    fn present(&mut self) -> bool {
        true
    }
    fn begin_operation(&mut self) -> Result<()> {
        match &self.card {
            Some(c) => c
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .begin_transaction()
                .map_err(|e| Error::Device(e.to_string())),
            None => Ok(()),
        }
    }
    fn end_operation(&mut self) {
        if let Some(c) = &self.card {
            c.lock()
                .unwrap_or_else(|e| e.into_inner())
                .end_transaction();
        }
    }
    fn open(&mut self) -> Result<Box<dyn TokenBackend>> {
        let card = self.card()?;
        let t: Box<dyn Transport> =
            Box::new(epass2003::transport::emulator::EmulatorTransport::new(card));
        let conn = Connection::connect(t, ConnectOptions::default()).map_err(map_driver)?;
        open_backend(conn, true)
    }
}

/// A PKCS#12 file served as a token (`EPASS2003_PKCS12`, config key `pkcs12`): see
/// [`pkcs12_token`]. The file is re-read at each open, so a file that appears later is found.
pub struct Pkcs12Reader {
    path: std::path::PathBuf,
    policy: pkcs12_token::PasswordPolicy,
}

impl Pkcs12Reader {
    /// The file at `path`, with `policy` for new passwords.
    pub fn new(path: std::path::PathBuf, policy: pkcs12_token::PasswordPolicy) -> Self {
        Pkcs12Reader { path, policy }
    }
}

impl Reader for Pkcs12Reader {
    fn description(&self) -> String {
        format!("PKCS#12 file {}", self.path.display())
    }
    fn manufacturer(&self) -> String {
        pkcs12_token::MANUFACTURER.into()
    }
    fn hardware(&self) -> bool {
        false
    }
    fn present(&mut self) -> bool {
        self.path.is_file()
    }
    fn open(&mut self) -> Result<Box<dyn TokenBackend>> {
        match pkcs12_token::Pkcs12Token::open(&self.path, self.policy.clone()) {
            Ok(t) => Ok(Box::new(t)),
            Err(token_backend::BackendError::Removed) => Err(Error::TokenNotPresent),
            Err(e) => {
                tracing::info!(file = %self.path.display(), error = %e, "PKCS#12 file not usable");
                Err(Error::TokenNotRecognized)
            }
        }
    }
}

/// A PC/SC reader.
pub struct PcscReader {
    ctx: epass2003::transport::pcsc::PcscContext,
    name: String,
}

impl PcscReader {
    /// The reader's PC/SC name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names PC/SC lists now (`None` if PC/SC cannot be asked).
    pub fn names() -> Option<Vec<String>> {
        let ctx = epass2003::transport::pcsc::PcscContext::establish().ok()?;
        ctx.list_readers().ok()
    }

    /// The reader `name` (`None` if PC/SC is unavailable).
    pub fn new(name: &str) -> Option<PcscReader> {
        let ctx = epass2003::transport::pcsc::PcscContext::establish().ok()?;
        Some(PcscReader {
            ctx,
            name: name.to_string(),
        })
    }

    /// Every PC/SC reader (none if pcscd is not running).
    pub fn all() -> Vec<PcscReader> {
        let Ok(ctx) = epass2003::transport::pcsc::PcscContext::establish() else {
            tracing::info!("PC/SC unavailable; no reader slots");
            return Vec::new();
        };
        let names = ctx.list_readers().unwrap_or_default();
        names
            .into_iter()
            .filter_map(|name| {
                let ctx = epass2003::transport::pcsc::PcscContext::establish().ok()?;
                Some(PcscReader { ctx, name })
            })
            .collect()
    }
}

impl Reader for PcscReader {
    fn description(&self) -> String {
        self.name.clone()
    }
    fn manufacturer(&self) -> String {
        "PC/SC".into()
    }
    fn hardware(&self) -> bool {
        true
    }
    fn present(&mut self) -> bool {
        match self.ctx.watch() {
            Ok(mut w) => {
                let _ = w.wait(Some(std::time::Duration::ZERO));
                w.card_present(&self.name)
            }
            Err(_) => false,
        }
    }
    fn open(&mut self) -> Result<Box<dyn TokenBackend>> {
        let t = self.ctx.connect(&self.name).map_err(map_driver)?;
        let t: Box<dyn Transport> = Box::new(t);
        let conn = Connection::connect(t, ConnectOptions::default()).map_err(|e| match e {
            epass2003::Error::NotSupported(_) => Error::TokenNotRecognized,
            e => map_driver(e),
        })?;
        open_backend(conn, false)
    }
}

/// What PC/SC says about its readers, for telling a user why no token is seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PcscDiagnosis {
    /// PC/SC cannot be reached (pcscd not running or not installed); the error text.
    Unavailable(String),
    /// pcscd runs but lists no reader.
    NoReaders,
    /// The readers and what is in them.
    Readers(Vec<ReaderDiagnosis>),
}

/// One PC/SC reader as the diagnosis sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderDiagnosis {
    /// Reader name.
    pub name: String,
    /// A card is in it.
    pub card_present: bool,
    /// The card's ATR, if one is present.
    pub atr: Option<Vec<u8>>,
    /// The ATR is an ePass2003's.
    pub epass2003: bool,
    /// Connecting to the card failed (busy: another application holds it exclusively; or
    /// mute); the error text.
    pub connect_error: Option<String>,
}

/// Ask PC/SC what it sees: no card APDU is sent (a shared connect, then released).
pub fn diagnose_pcsc() -> PcscDiagnosis {
    let ctx = match epass2003::transport::pcsc::PcscContext::establish() {
        Ok(c) => c,
        Err(e) => return PcscDiagnosis::Unavailable(e.to_string()),
    };
    let names = match ctx.list_readers() {
        Ok(n) => n,
        Err(e) => return PcscDiagnosis::Unavailable(e.to_string()),
    };
    if names.is_empty() {
        return PcscDiagnosis::NoReaders;
    }
    let mut atrs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut present: Vec<String> = Vec::new();
    if let Ok(mut w) = ctx.watch() {
        if let Ok(events) = w.wait(Some(std::time::Duration::ZERO)) {
            for e in events {
                if let epass2003::transport::pcsc::ReaderEvent::CardInserted { reader, atr } = e {
                    atrs.push((reader, atr));
                }
            }
        }
        present = names
            .iter()
            .filter(|n| w.card_present(n))
            .cloned()
            .collect();
    }
    PcscDiagnosis::Readers(
        names
            .into_iter()
            .map(|name| {
                let card_present = present.contains(&name);
                let mut atr = atrs
                    .iter()
                    .find(|(r, _)| r == &name)
                    .map(|(_, a)| a.clone());
                let mut connect_error = None;
                if card_present {
                    match ctx.connect(&name) {
                        Ok(t) => {
                            if atr.is_none() {
                                atr = Some(epass2003::transport::Transport::atr(&t));
                            }
                            let _ = t.disconnect();
                        }
                        Err(e) => connect_error = Some(e.to_string()),
                    }
                }
                let epass2003 = atr.as_deref().is_some_and(epass2003::card::atr_matches);
                ReaderDiagnosis {
                    name,
                    card_present,
                    atr,
                    epass2003,
                    connect_error,
                }
            })
            .collect(),
    )
}
