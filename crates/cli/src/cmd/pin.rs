//! `pin change`, `pin unblock`, `pin change-so`, `pin strength`.
//!
//! The token's PIN policy is checked before any APDU (the same check as `C_SetPIN`): new PINs
//! are half-width (printable ASCII) letters, digits and symbols, a new PIN must differ from the
//! old one, and the strength meter (low / medium / high) is shown for every new PIN.

use crate::ctx::Ctx;
use crate::error::{Result, ToolError};
use crate::output::Report;
use crate::secrets::{need, strength, Secret};
use crate::{t, Runtime};
use cryptoki_sys::CKU_SO;
use pkcs15::backend::{PinPolicy, PinRole};
use serde_json::json;

/// Check a new PIN against a policy before any APDU; the message says which rule failed. A
/// PIN typed in full-width characters (a Japanese input method left on) is refused: the vendor
/// manuals define PINs as half-width characters, and the same PIN typed later in half-width
/// would not match and would cost a try.
pub fn check_new(policy: &PinPolicy, pin: &str, who: &str) -> Result<()> {
    use token::login::PinRuleViolation as V;
    let Err(v) = token::login::check_new_pin(policy, pin.as_bytes()) else {
        return Ok(());
    };
    let (msg, rule) = match v {
        V::NotHalfWidth => (t!("err-pin-halfwidth", who = who), "half_width"),
        V::NotPrintableUtf8 => (t!("err-pin-not-printable", who = who), "printable"),
        V::Length { len, min, max } => (
            t!("err-pin-length", who = who, len = len, min = min, max = max),
            "length",
        ),
        V::DigitsOnly => (t!("err-pin-digits-only", who = who), "digits_only"),
        V::NeedsDigit => (t!("err-pin-needs-digit", who = who), "needs_digit"),
        V::NeedsLetter => (t!("err-pin-needs-letter", who = who), "needs_letter"),
    };
    Err(ToolError::input(msg).with("rule", rule))
}

fn locked_first(ctx: &Ctx, role: PinRole) -> Result<()> {
    let st = ctx.with(|t, _| t.query_pin(role))?;
    if st.locked() && st.max_tries > 0 {
        return Err(ctx.err(ctx.locked(role)));
    }
    Ok(())
}

/// Run `pin change`.
pub fn change(ctx: &Ctx, rt: &mut Runtime<'_>) -> Result<Report> {
    let policy = ctx.with(|t, _| Ok(t.description().user_pin_policy.clone()))?;
    locked_first(ctx, PinRole::User)?;
    let old = need(rt.secrets, Secret::UserPin)?;
    let new = need(rt.secrets, Secret::NewUserPin)?;
    check_new(&policy, &new, &t!("word-user-pin")).map_err(|e| ctx.err(e))?;
    if *old == *new {
        return Err(ctx.err(ToolError::input(t!("err-pin-same"))));
    }
    let s = ctx.session()?;
    ctx.module
        .with_session(s.h, |t, _| t.set_pin(s.h, old.as_bytes(), new.as_bytes()))
        .map_err(|e| ctx.pin_error(PinRole::User, e))?;
    let st = strength(&new);
    Ok(Report::ok(
        json!({"serial": ctx.serial, "changed": "user_pin", "strength": st}),
        t!("pin-changed", serial = &ctx.serial, strength = st.word()),
    ))
}

/// Run `pin unblock`.
pub fn unblock(ctx: &Ctx, rt: &mut Runtime<'_>) -> Result<Report> {
    let policy = ctx.with(|t, _| Ok(t.description().user_pin_policy.clone()))?;
    locked_first(ctx, PinRole::So)?;
    let so = need(rt.secrets, Secret::SoPin)?;
    let new = need(rt.secrets, Secret::NewUserPin)?;
    check_new(&policy, &new, &t!("word-user-pin")).map_err(|e| ctx.err(e))?;
    let s = ctx.session()?;
    ctx.module
        .with_session(s.h, |t, _| {
            t.unblock_user_pin(s.h, so.as_bytes(), new.as_bytes())
        })
        .map_err(|e| ctx.pin_error(PinRole::So, e))?;
    let st = strength(&new);
    Ok(Report::ok(
        json!({"serial": ctx.serial, "changed": "user_pin", "unblocked": true, "strength": st}),
        t!("pin-unblocked", serial = &ctx.serial, strength = st.word()),
    ))
}

/// Run `pin change-so`.
pub fn change_so(ctx: &Ctx, rt: &mut Runtime<'_>) -> Result<Report> {
    let policy = ctx.with(|t, _| Ok(t.description().so_pin_policy.clone()))?;
    locked_first(ctx, PinRole::So)?;
    let old = need(rt.secrets, Secret::SoPin)?;
    let new = need(rt.secrets, Secret::NewSoPin)?;
    check_new(&policy, &new, &t!("word-so-pin")).map_err(|e| ctx.err(e))?;
    if *old == *new {
        return Err(ctx.err(ToolError::input(t!("err-pin-same"))));
    }
    let s = ctx.session()?;
    ctx.module
        .with_session(s.h, |t, _| {
            t.login(CKU_SO, old.as_bytes())?;
            let r = t.set_pin(s.h, old.as_bytes(), new.as_bytes());
            let _ = t.logout();
            r
        })
        .map_err(|e| ctx.pin_error(PinRole::So, e))?;
    let st = strength(&new);
    Ok(Report::ok(
        json!({"serial": ctx.serial, "changed": "so_pin", "strength": st}),
        t!("so-pin-changed", serial = &ctx.serial, strength = st.word()),
    ))
}

/// Run `pin strength` (no token needed): rates the new PIN given.
pub fn rate(rt: &mut Runtime<'_>) -> Result<Report> {
    let pin = need(rt.secrets, Secret::NewUserPin)?;
    let st = strength(&pin);
    Ok(Report::ok(
        json!({"strength": st, "length": pin.len()}),
        t!("pin-strength", strength = st.word()),
    ))
}
