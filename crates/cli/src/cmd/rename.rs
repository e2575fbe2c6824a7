//! `rename` (the label, objects kept) and `timeout` (the stored inactivity timeout). Both need
//! the user PIN: the card protects the token-info file with it.

use super::in_range;
use crate::cli::{RenameArgs, TimeoutArgs};
use crate::ctx::Ctx;
use crate::error::{Result, ToolError};
use crate::output::Report;
use crate::{t, Runtime};
use serde_json::json;

/// Run `rename`.
pub fn run(ctx: &Ctx, rt: &mut Runtime<'_>, a: &RenameArgs) -> Result<Report> {
    check_label(&a.label).map_err(|e| ctx.err(e))?;
    let old = ctx.with(|t, _| Ok(t.description().label.clone()))?;
    let s = ctx.session()?;
    s.login_user(rt.secrets)?;
    s.with(|t, _, h| t.rename(h, &a.label))?;
    Ok(Report::ok(
        json!({"serial": ctx.serial, "old_label": old, "label": a.label}),
        t!(
            "rename-done",
            serial = &ctx.serial,
            old = old,
            new = &a.label
        ),
    ))
}

/// A label the token can carry: at most 32 bytes of UTF-8, never cut.
pub fn check_label(label: &str) -> Result<()> {
    if label.len() > token::admin::MAX_LABEL_BYTES {
        return Err(ToolError::input(t!("err-label-long", bytes = label.len())));
    }
    token::admin::check_label(label).map_err(|_| ToolError::input(t!("err-label-control")))
}

/// Run `timeout`.
pub fn timeout(ctx: &Ctx, rt: &mut Runtime<'_>, a: &TimeoutArgs) -> Result<Report> {
    let m = in_range(&t!("opt-timeout"), a.minutes, 0, 600).map_err(|e| ctx.err(e))? as u16;
    let s = ctx.session()?;
    s.login_user(rt.secrets)?;
    s.with(|t, _, h| t.set_auth_timeout(h, m))?;
    Ok(Report::ok(
        json!({"serial": ctx.serial, "auth_timeout_minutes": m}),
        if m == 0 {
            t!("timeout-set-none", serial = &ctx.serial)
        } else {
            t!("timeout-set", serial = &ctx.serial, minutes = m)
        },
    ))
}
