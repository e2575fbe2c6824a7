//! Finding the token to work on, and running token calls with the tool's error mapping.
//!
//! The tool sees exactly what the library sees: the same `token::module::Module` over the same
//! configuration (PC/SC readers, the embedded emulated token of `EPASS2003_EMULATOR` / the
//! config file). `--serial` or `--reader` chooses one when several are present.

use crate::error::{from_token, Exit, Result, ToolError};
use crate::secrets::{need, Secret, SecretSource};
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
            [] => Err(no_token(&all, sel)),
            [one] => {
                if let Some(e) = &one.error {
                    return Err(ToolError::new(
                        Exit::Card,
                        format!("the token in \"{}\" cannot be read: {e}", one.reader),
                    ));
                }
                let serial = one
                    .token
                    .as_ref()
                    .map(|t| t.desc.serial.clone())
                    .unwrap_or_default();
                Ok(Ctx {
                    slot: one.slot,
                    serial,
                    module,
                })
            }
            many => {
                let list: Vec<String> = many
                    .iter()
                    .map(|s| {
                        format!(
                            "{} (serial {})",
                            s.reader,
                            s.token.as_ref().map_or("?", |t| t.desc.serial.as_str())
                        )
                    })
                    .collect();
                Err(ToolError::new(
                    Exit::NoToken,
                    format!(
                        "{} tokens are present; choose one with --serial or --reader: {}",
                        many.len(),
                        list.join("; ")
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

    /// Turn a PIN error into the message a user needs: tries left (asked from the card, no
    /// try spent), what a lock means and how to get out of it.
    pub fn pin_error(&self, role: PinRole, e: token::Error) -> ToolError {
        let who = match role {
            PinRole::User => "user PIN",
            PinRole::So => "SO PIN",
        };
        match e {
            token::Error::PinIncorrect => {
                let left = self
                    .with(|t, _| t.query_pin(role))
                    .ok()
                    .and_then(|s| s.tries_left);
                let mut err = ToolError::new(
                    Exit::WrongPin,
                    match left {
                        Some(n) => format!("wrong {who}: {n} tries left"),
                        None => format!("wrong {who}"),
                    },
                );
                if let Some(n) = left {
                    err = err.with("tries_left", n);
                }
                self.err(err.with("pin", who))
            }
            token::Error::PinLocked => self.err(locked(role).with("pin", who)),
            e => self.err(from_token(e)),
        }
    }
}

/// The message for a locked PIN.
pub fn locked(role: PinRole) -> ToolError {
    match role {
        PinRole::User => ToolError::new(
            Exit::PinLocked,
            "the user PIN is locked: unblock it with the SO PIN (`epass2003-tool pin unblock`)",
        ),
        PinRole::So => ToolError::new(
            Exit::PinLocked,
            "the SO PIN is locked: the token can no longer be administered (no unblocking of \
             the user PIN, no re-initialisation with the SO PIN). Its certificates and keys \
             still work with the user PIN.",
        ),
    }
    .with("tries_left", 0)
}

fn no_token(all: &[SlotView], sel: &Selector) -> ToolError {
    let msg = if all.is_empty() {
        "no reader and no emulated token found: is pcscd running (`systemctl start pcscd`) and \
         the token plugged in? For the emulated token set EPASS2003_EMULATOR=FILE."
            .to_string()
    } else if !all.iter().any(|s| s.present) {
        format!(
            "no token in the reader(s): {}",
            all.iter()
                .map(|s| s.reader.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )
    } else {
        format!(
            "no token matches{}{}",
            sel.serial
                .as_ref()
                .map(|s| format!(" serial {s}"))
                .unwrap_or_default(),
            sel.reader
                .as_ref()
                .map(|r| format!(" reader \"{r}\""))
                .unwrap_or_default()
        )
    };
    ToolError::new(Exit::NoToken, msg)
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
