//! Finding the token to work on, and running token calls with the tool's error mapping.
//!
//! The tool sees exactly what the library sees: the same `token::module::Module` over the same
//! configuration (PC/SC readers, the embedded emulated token of `EPASS2003_EMULATOR` / the
//! config file). `--serial` or `--reader` chooses one when several are present.

use crate::error::{from_token, Exit, Result, ToolError};
use crate::secrets::{need, Secret, SecretSource};
use crate::t;
use cryptoki_sys::{CKF_RW_SESSION, CKF_SERIAL_SESSION, CKU_USER, CK_SESSION_HANDLE, CK_SLOT_ID};
use pkcs15::backend::PinRole;
use token::config::Config;
use token::module::Module;
use token::token::{Handles, Token, TokenInfo};

/// How the user chose a token.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// `--serial`: the token's serial (as `info` prints it).
    pub serial: Option<String>,
    /// `--reader`: a part of the reader's (slot's) description.
    pub reader: Option<String>,
}

/// One slot as `list` shows it.
#[derive(Debug, Clone)]
pub struct SlotView {
    /// Slot id (the library's).
    pub slot: CK_SLOT_ID,
    /// Reader description.
    pub reader: String,
    /// Token present.
    pub present: bool,
    /// Token info, if a token is present and could be read.
    pub token: Option<TokenInfo>,
    /// Why the token could not be read.
    pub error: Option<String>,
}

/// The module and the chosen token.
pub struct Ctx {
    /// The module.
    pub module: Module,
    /// The chosen slot.
    pub slot: CK_SLOT_ID,
    /// The token's serial (for messages).
    pub serial: String,
    /// The token's label (for the record of tokens seen).
    pub label: String,
    /// The help desk's text shown with every PIN-locked error (`locked_message`).
    pub locked_message: Option<String>,
}

/// Every slot of the module.
pub fn slots(module: &Module) -> Result<Vec<SlotView>> {
    let ids = module.slot_list(false).map_err(from_token)?;
    let mut out = Vec::new();
    for slot in ids {
        let info = module.slot_info(slot).map_err(from_token)?;
        let present = info.flags & cryptoki_sys::CKF_TOKEN_PRESENT != 0;
        let (token, error) = if present {
            match module.token_info(slot) {
                Ok(t) => (Some(t), None),
                Err(e) => (None, Some(from_token(e).message)),
            }
        } else {
            (None, None)
        };
        out.push(SlotView {
            slot,
            reader: info.description.trim().to_string(),
            present,
            token,
            error,
        });
    }
    Ok(out)
}

impl Ctx {
    /// Build the module from `config` and choose the token.
    pub fn open(config: Config, sel: &Selector) -> Result<Ctx> {
        let pcsc = config.pcsc;
        let locked_message = config.locked_message.clone();
        let module = Module::new(config);
        let all = slots(&module)?;
        let candidates: Vec<&SlotView> = all
            .iter()
            .filter(|s| s.present)
            .filter(|s| {
                sel.reader
                    .as_ref()
                    .is_none_or(|r| s.reader.to_lowercase().contains(&r.to_lowercase()))
            })
            .filter(|s| {
                sel.serial.as_ref().is_none_or(|want| {
                    s.token
                        .as_ref()
                        .is_some_and(|t| t.desc.serial.eq_ignore_ascii_case(want.trim()))
                })
            })
            .collect();
        match candidates.as_slice() {
            [] => Err(no_token(&all, sel, pcsc)),
            [one] => {
                if let Some(e) = &one.error {
                    // A card of another kind, or one held by another application: say so.
                    let (msg, reason) = no_token_reason(&all, pcsc);
                    if reason == "not_epass2003" || reason == "token_busy" {
                        return Err(ToolError::new(Exit::NoToken, msg).with("reason", reason));
                    }
                    return Err(ToolError::new(
                        Exit::Card,
                        t!("err-token-unreadable", reader = &one.reader, detail = e),
                    ));
                }
                let serial = one
                    .token
                    .as_ref()
                    .map(|t| t.desc.serial.clone())
                    .unwrap_or_default();
                let label = one
                    .token
                    .as_ref()
                    .map(|t| t.desc.label.trim().to_string())
                    .unwrap_or_default();
                Ok(Ctx {
                    slot: one.slot,
                    serial,
                    label,
                    module,
                    locked_message,
                })
            }
            many => {
                let list: Vec<String> = many
                    .iter()
                    .map(|s| {
                        format!(
                            "{} ({} {})",
                            s.reader,
                            t!("word-serial"),
                            s.token.as_ref().map_or("?", |t| t.desc.serial.as_str())
                        )
                    })
                    .collect();
                Err(ToolError::new(
                    Exit::NoToken,
                    t!(
                        "err-several-tokens",
                        count = many.len(),
                        list = list.join("; ")
                    ),
                ))
            }
        }
    }

    /// Run `f` on the token (no session).
    pub fn with<R>(&self, f: impl FnOnce(&mut Token, &Handles) -> token::Result<R>) -> Result<R> {
        self.module
            .with_token(self.slot, f)
            .map_err(|e| self.err(from_token(e)))
    }

    /// Name the token in an error.
    pub fn err(&self, e: ToolError) -> ToolError {
        e.on_token(&self.serial)
    }

    /// Open an R/W session.
    pub fn session(&self) -> Result<Session<'_>> {
        let h = self
            .module
            .open_session(self.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
            .map_err(|e| self.err(from_token(e)))?;
        Ok(Session { ctx: self, h })
    }

    /// The PIN-locked error, with the configured help-desk text.
    pub fn locked(&self, role: PinRole) -> ToolError {
        let mut e = locked(role);
        if let Some(m) = &self.locked_message {
            e.message = format!("{} {m}", e.message);
            e = e.with("locked_message", m.as_str());
        }
        e
    }

    /// Turn a PIN error into the message a user needs: tries left (from the card's answer to
    /// the attempt), what a lock means and how to get out of it.
    pub fn pin_error(&self, role: PinRole, e: token::Error) -> ToolError {
        let who = match role {
            PinRole::User => t!("word-user-pin"),
            PinRole::So => t!("word-so-pin"),
        };
        match e {
            token::Error::PinIncorrect => {
                // The wrong-PIN answer carried the tries left: no second query.
                let left = self
                    .with(|t, _| Ok(t.known_tries_left(role)))
                    .ok()
                    .flatten();
                let mut err = ToolError::new(
                    Exit::WrongPin,
                    match left {
                        Some(n) => t!("err-wrong-pin-left", who = &who, left = n),
                        None => t!("err-wrong-pin-who", who = &who),
                    },
                );
                if let Some(n) = left {
                    err = err.with("tries_left", n);
                }
                self.err(err.with("pin", role_key(role)))
            }
            token::Error::PinLocked => self.err(self.locked(role).with("pin", role_key(role))),
            e => self.err(from_token(e)),
        }
    }
}

/// The message for a locked PIN.
pub fn locked(role: PinRole) -> ToolError {
    match role {
        PinRole::User => ToolError::new(Exit::PinLocked, t!("err-user-pin-locked")),
        PinRole::So => ToolError::new(Exit::PinLocked, t!("err-so-pin-locked")),
    }
    .with("tries_left", 0)
}

fn role_key(role: PinRole) -> &'static str {
    match role {
        PinRole::User => "user",
        PinRole::So => "so",
    }
}

/// Why no token is seen, with its fix: pcscd not running, no reader, a reader without a
/// token, a token that is busy or not an ePass2003 (its ATR shown).
pub fn no_token_reason(all: &[SlotView], pcsc: bool) -> (String, &'static str) {
    use token::readers::{diagnose_pcsc, PcscDiagnosis};
    if pcsc {
        match diagnose_pcsc() {
            PcscDiagnosis::Unavailable(e) => {
                return (t!("diag-no-pcscd", detail = e), "pcscd_not_running");
            }
            PcscDiagnosis::NoReaders if all.is_empty() => {
                return (t!("diag-no-reader"), "no_reader");
            }
            PcscDiagnosis::NoReaders => {}
            PcscDiagnosis::Readers(rs) => {
                for r in &rs {
                    if !r.card_present {
                        continue;
                    }
                    let atr = r.atr.as_deref().map(hex::encode).unwrap_or_default();
                    if let Some(e) = &r.connect_error {
                        return (
                            t!("diag-token-busy", reader = &r.name, atr = atr, detail = e),
                            "token_busy",
                        );
                    }
                    if !r.epass2003 {
                        return (
                            t!("diag-not-epass2003", reader = &r.name, atr = atr),
                            "not_epass2003",
                        );
                    }
                }
                if rs.iter().all(|r| !r.card_present) && all.iter().all(|s| !s.present) {
                    let names: Vec<&str> = rs.iter().map(|r| r.name.as_str()).collect();
                    return (
                        t!("diag-reader-empty", readers = names.join("; ")),
                        "reader_empty",
                    );
                }
            }
        }
    }
    if all.is_empty() {
        (t!("diag-nothing-configured"), "no_reader")
    } else {
        let names: Vec<&str> = all.iter().map(|s| s.reader.as_str()).collect();
        (
            t!("diag-reader-empty", readers = names.join("; ")),
            "reader_empty",
        )
    }
}

fn no_token(all: &[SlotView], sel: &Selector, pcsc: bool) -> ToolError {
    if all.iter().any(|s| s.present) && (sel.serial.is_some() || sel.reader.is_some()) {
        let what = match (&sel.serial, &sel.reader) {
            (Some(s), _) => format!("{} {s}", t!("word-serial")),
            (None, Some(r)) => format!("\"{r}\""),
            (None, None) => String::new(),
        };
        return ToolError::new(Exit::NoToken, t!("err-no-match", what = what))
            .with("reason", "no_match");
    }
    let (msg, reason) = no_token_reason(all, pcsc);
    ToolError::new(Exit::NoToken, msg).with("reason", reason)
}

/// An open R/W session; closed on drop.
pub struct Session<'a> {
    ctx: &'a Ctx,
    /// The session handle.
    pub h: CK_SESSION_HANDLE,
}

impl Session<'_> {
    /// Run `f` on the token of this session.
    pub fn with<R>(
        &self,
        f: impl FnOnce(&mut Token, &Handles, CK_SESSION_HANDLE) -> token::Result<R>,
    ) -> Result<R> {
        let h = self.h;
        self.ctx
            .module
            .with_session(h, |t, hs| f(t, hs, h))
            .map_err(|e| self.ctx.err(from_token(e)))
    }

    /// Log in as the user with the PIN from `secrets`.
    pub fn login_user(&self, secrets: &mut dyn SecretSource) -> Result<()> {
        let pin = need(secrets, Secret::UserPin)?;
        self.ctx
            .module
            .with_session(self.h, |t, _| t.login(CKU_USER, pin.as_bytes()))
            .map_err(|e| self.ctx.pin_error(PinRole::User, e))
    }

    /// The context.
    pub fn ctx(&self) -> &Ctx {
        self.ctx
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self.ctx.module.close_session(self.h);
    }
}
