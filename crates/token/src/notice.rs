//! The "PIN locked" notice: when `C_Login` or `C_SetPIN` answers `CKR_PIN_LOCKED`, one line
//! `"<token serial>: PIN locked. <locked_message>"` is written to stderr, once per token (and
//! role) and process, so that a user whose application only says "error 0xA4" learns what
//! happened and whom to call ([`crate::config::Config::locked_message`]).
//!
//! The sink is injectable: tests record the lines instead of writing them.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

/// Where notices go, with the set of those already given.
pub struct Notices {
    shown: Mutex<HashSet<String>>,
    out: Box<dyn Fn(&str) + Send + Sync>,
}

impl fmt::Debug for Notices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notices").finish_non_exhaustive()
    }
}

impl Notices {
    /// The process-wide stderr sink (shared by every module instance of the process, so a
    /// `C_Finalize` + `C_Initialize` does not repeat a notice).
    pub fn stderr() -> Arc<Notices> {
        static STDERR: OnceLock<Arc<Notices>> = OnceLock::new();
        STDERR
            .get_or_init(|| Arc::new(Notices::with_writer(|line| eprintln!("{line}"))))
            .clone()
    }

    /// A sink calling `out` for each line.
    pub fn with_writer(out: impl Fn(&str) + Send + Sync + 'static) -> Notices {
        Notices {
            shown: Mutex::new(HashSet::new()),
            out: Box::new(out),
        }
    }

    /// A sink that records its lines (for tests and for callers that show them themselves).
    pub fn recording() -> (Arc<Notices>, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        let n = Notices::with_writer(move |line| {
            l.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(line.to_string());
        });
        (Arc::new(n), lines)
    }

    /// The notice text for a locked PIN.
    pub fn locked_text(serial: &str, so: bool, message: Option<&str>) -> String {
        let what = if so { "SO PIN locked." } else { "PIN locked." };
        match message {
            Some(m) => format!("{serial}: {what} {m}"),
            None => format!("{serial}: {what}"),
        }
    }

    /// Give the locked notice for this token and role, unless it was given already.
    pub fn pin_locked(&self, serial: &str, so: bool, message: Option<&str>) {
        let key = format!("{serial}/{}", if so { "so" } else { "user" });
        let first = self
            .shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
        if first {
            (self.out)(&Notices::locked_text(serial, so, message));
        }
    }
}
