//! `rename` (the label, objects kept) and `timeout` (the stored inactivity timeout). Both need
//! the user PIN: the card protects the token-info file with it.

use super::in_range;
use crate::cli::{RenameArgs, TimeoutArgs};
use crate::ctx::Ctx;
use crate::error::{Result, ToolError};
use crate::output::Report;
use crate::Runtime;
use serde_json::json;

/// Run `rename`.
pub fn run(ctx: &Ctx, rt: &mut Runtime<'_>, a: &RenameArgs) -> Result<Report> {
    token::admin::check_label(&a.label)
        .map_err(|m| ctx.err(ToolError::input(format!("label refused: {m}"))))?;
    let old = ctx.with(|t, _| Ok(t.description().label.clone()))?;
    let s = ctx.session()?;
    s.login_user(rt.secrets)?;
    s.with(|t, _, h| t.rename(h, &a.label))?;
    Ok(Report::ok(
        json!({"serial": ctx.serial, "old_label": old, "label": a.label}),
        format!("Token {} renamed: \"{old}\" -> \"{}\"", ctx.serial, a.label),
    ))
}

/// Run `timeout`.
pub fn timeout(ctx: &Ctx, rt: &mut Runtime<'_>, a: &TimeoutArgs) -> Result<Report> {
    let m = in_range("timeout (minutes)", a.minutes, 0, 600).map_err(|e| ctx.err(e))? as u16;
    let s = ctx.session()?;
    s.login_user(rt.secrets)?;
    s.with(|t, _, h| t.set_auth_timeout(h, m))?;
    Ok(Report::ok(
        json!({"serial": ctx.serial, "auth_timeout_minutes": m}),
        if m == 0 {
            format!("Token {}: no inactivity timeout", ctx.serial)
        } else {
            format!(
                "Token {}: logged out after {m} minutes without use",
                ctx.serial
            )
        },
    ))
}
