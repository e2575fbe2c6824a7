//! `pin change`, `pin unblock`, `pin change-so`, `pin strength`.
//!
//! The token's PIN policy is checked before any APDU (the same check as `C_SetPIN`), a new PIN
//! must differ from the old one, and the strength meter (low / medium / high) is shown for
//! every new PIN.

use crate::ctx::Ctx;
use crate::error::{Result, ToolError};
use crate::output::Report;
use crate::secrets::{need, strength, Secret};
use crate::Runtime;
use cryptoki_sys::CKU_SO;
use pkcs15::backend::{PinPolicy, PinRole};
use serde_json::json;

/// Check a new PIN against a policy; the message says what the policy is.
pub fn check_new(policy: &PinPolicy, pin: &str, who: &str) -> Result<()> {
    token::login::check_pin(policy, pin.as_bytes()).map_err(|_| {
        let mut rule = format!("{}..{} characters", policy.min_len, policy.max_len);
        if policy.digits_only {
            rule.push_str(", digits only");
        }
        if policy.require_digit {
            rule.push_str(", at least one digit");
        }
        if policy.require_letter {
            rule.push_str(", at least one letter");
        }
        ToolError::input(format!(
            "the new {who} does not meet the token's policy ({rule}; {} given)",
            pin.len()
        ))
    })
}

fn locked_first(ctx: &Ctx, role: PinRole) -> Result<()> {
    let st = ctx.with(|t, _| t.query_pin(role))?;
    if st.locked() && st.max_tries > 0 {
        return Err(ctx.err(crate::ctx::locked(role)));
    }
    Ok(())
}

/// Run `pin change`.
pub fn change(ctx: &Ctx, rt: &mut Runtime<'_>) -> Result<Report> {
    let policy = ctx.with(|t, _| Ok(t.description().user_pin_policy.clone()))?;
    locked_first(ctx, PinRole::User)?;
    let old = need(rt.secrets, Secret::UserPin)?;
    let new = need(rt.secrets, Secret::NewUserPin)?;
    check_new(&policy, &new, "user PIN").map_err(|e| ctx.err(e))?;
    if *old == *new {
        return Err(ctx.err(ToolError::input("the new PIN must differ from the old one")));
    }
    let s = ctx.session()?;
    ctx.module
        .with_session(s.h, |t, _| t.set_pin(s.h, old.as_bytes(), new.as_bytes()))
        .map_err(|e| ctx.pin_error(PinRole::User, e))?;
    let st = strength(&new);
    Ok(Report::ok(
        json!({"serial": ctx.serial, "changed": "user_pin", "strength": st}),
        format!(
            "User PIN of token {} changed (strength: {}).",
            ctx.serial,
            st.as_str()
        ),
    ))
}

/// Run `pin unblock`.
pub fn unblock(ctx: &Ctx, rt: &mut Runtime<'_>) -> Result<Report> {
    let policy = ctx.with(|t, _| Ok(t.description().user_pin_policy.clone()))?;
    locked_first(ctx, PinRole::So)?;
    let so = need(rt.secrets, Secret::SoPin)?;
    let new = need(rt.secrets, Secret::NewUserPin)?;
    check_new(&policy, &new, "user PIN").map_err(|e| ctx.err(e))?;
    let s = ctx.session()?;
    ctx.module
        .with_session(s.h, |t, _| {
            t.unblock_user_pin(s.h, so.as_bytes(), new.as_bytes())
        })
        .map_err(|e| ctx.pin_error(PinRole::So, e))?;
    let st = strength(&new);
    Ok(Report::ok(
        json!({"serial": ctx.serial, "changed": "user_pin", "unblocked": true, "strength": st}),
        format!(
            "User PIN of token {} unblocked and set (strength: {}).",
            ctx.serial,
            st.as_str()
        ),
    ))
}

/// Run `pin change-so`.
pub fn change_so(ctx: &Ctx, rt: &mut Runtime<'_>) -> Result<Report> {
    let policy = ctx.with(|t, _| Ok(t.description().so_pin_policy.clone()))?;
    locked_first(ctx, PinRole::So)?;
    let old = need(rt.secrets, Secret::SoPin)?;
    let new = need(rt.secrets, Secret::NewSoPin)?;
    check_new(&policy, &new, "SO PIN").map_err(|e| ctx.err(e))?;
    if *old == *new {
        return Err(ctx.err(ToolError::input("the new PIN must differ from the old one")));
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
        format!(
            "SO PIN of token {} changed (strength: {}).",
            ctx.serial,
            st.as_str()
        ),
    ))
}

/// Run `pin strength` (no token needed): rates the new PIN given.
pub fn rate(rt: &mut Runtime<'_>) -> Result<Report> {
    let pin = need(rt.secrets, Secret::NewUserPin)?;
    let st = strength(&pin);
    Ok(Report::ok(
        json!({"strength": st, "length": pin.len()}),
        format!("Strength: {}", st.as_str()),
    ))
}
