//! `init` (administrator): erase the token and create a fresh layout with the label, both
//! PINs, their maximum tries (0..10, default 10; 0 = no retry counter), the PIN length policy
//! (up to 255) with an optional character rule, and the inactivity timeout.
//!
//! The card stores a hash of the PIN (SHA-1 of it and its length), so the card itself puts no
//! limit on the length. OpenSC 0.23 however refuses PINs over 16 bytes (`CKR_PIN_LEN_RANGE`,
//! before any APDU, so no try is spent; `tests/cli/long-pin-opensc.sh`): a policy that allows or
//! requires longer PINs locks OpenSC users out of those PINs, and `init` warns about it.
//!
//! `--erase` is the way out of a locked (or forgotten) SO PIN: the card's own erase needs no
//! PIN, so the token is erased and initialised without the current SO PIN.

use super::{confirm, in_range};
use crate::cli::{Charset, InitArgs};
use crate::ctx::Ctx;
use crate::error::{Result, ToolError};
use crate::output::Report;
use crate::secrets::{need, strength, Secret};
use crate::{t, Runtime};
use pkcs15::backend::{InitParams, PinPolicy, PinRole};
use serde_json::json;
use token::admin::InitSpec;

/// OpenSC's longest PIN for this card.
pub const OPENSC_MAX_PIN: i64 = 16;

/// The label a blank token gets.
pub const DEFAULT_LABEL: &str = "ePass2003";

/// Run `init`.
pub fn run(ctx: &Ctx, rt: &mut Runtime<'_>, yes: bool, a: &InitArgs) -> Result<Report> {
    let e = |x: ToolError| ctx.err(x);
    let user_max = in_range("--user-max-tries", a.user_max_tries, 0, 10).map_err(e)? as u8;
    let so_max = in_range("--so-max-tries", a.so_max_tries, 0, 10).map_err(e)? as u8;
    let timeout = in_range("--timeout", a.timeout, 0, 600).map_err(e)? as u16;
    let min = in_range("--pin-min", a.pin_min, 1, 255).map_err(e)? as u8;
    let max = in_range("--pin-max", a.pin_max, 1, 255).map_err(e)? as u8;
    if min > max {
        return Err(e(ToolError::input(t!(
            "err-min-above-max",
            min = min,
            max = max
        ))));
    }
    if let Some(l) = &a.label {
        super::rename::check_label(l).map_err(e)?;
    }
    let mut warnings = Vec::new();
    if i64::from(min) > OPENSC_MAX_PIN {
        warnings.push(t!(
            "warn-opensc-locked-out",
            min = min,
            limit = OPENSC_MAX_PIN
        ));
    } else if i64::from(max) > OPENSC_MAX_PIN {
        warnings.push(t!("warn-opensc-long-pins", limit = OPENSC_MAX_PIN));
    }
    if user_max == 0 || so_max == 0 {
        warnings.push(t!("warn-no-counter"));
    }
    let user_policy = PinPolicy {
        min_len: min,
        max_len: max,
        digits_only: a.charset == Charset::Digits,
        require_digit: a.charset == Charset::LettersAndDigits,
        require_letter: a.charset == Charset::LettersAndDigits,
        allow_non_ascii: a.allow_utf8,
    };
    let so_policy = PinPolicy {
        min_len: min,
        max_len: max,
        allow_non_ascii: a.allow_utf8,
        ..PinPolicy::default()
    };
    let (initialized, so_status, current_label) = ctx.with(|t, _| {
        let init = t.description().initialized;
        let so = if init {
            Some(t.query_pin(PinRole::So)?)
        } else {
            None
        };
        Ok((init, so, t.description().label.clone()))
    })?;
    let label = match &a.label {
        Some(l) => l.clone(),
        None if initialized && !current_label.trim().is_empty() => current_label.trim().to_string(),
        None => DEFAULT_LABEL.to_string(),
    };
    if !a.erase {
        if let Some(so) = so_status {
            if so.locked() && so.max_tries > 0 {
                return Err(e(ctx.locked(PinRole::So)));
            }
        }
    }
    for w in &warnings {
        (rt.progress)(&t!("warning", text = w));
    }
    confirm(
        rt,
        yes,
        &t!("confirm-init", serial = &ctx.serial, label = &current_label),
    )?;
    let current = if initialized && !a.erase {
        Some(need(rt.secrets, Secret::SoPin)?)
    } else {
        None
    };
    let so_pin = need(rt.secrets, Secret::NewSoPin)?;
    super::pin::check_new(&so_policy, &so_pin, &t!("word-so-pin")).map_err(e)?;
    let user_pin = need(rt.secrets, Secret::NewUserPin)?;
    super::pin::check_new(&user_policy, &user_pin, &t!("word-user-pin")).map_err(e)?;
    (rt.progress)(&t!("init-progress"));
    let spec = InitSpec {
        params: InitParams {
            label: &label,
            so_pin: so_pin.as_bytes(),
            user_pin: Some(user_pin.as_bytes()),
            user_max_tries: user_max,
            so_max_tries: so_max,
            user_pin_policy: user_policy,
            so_pin_policy: so_policy,
            auth_timeout_minutes: timeout,
        },
        current_so_pin: current.as_ref().map(|p| p.as_bytes()),
        erase: a.erase,
    };
    ctx.module
        .with_token(ctx.slot, |t, _| t.initialize(&spec))
        .map_err(|x| ctx.pin_error(PinRole::So, x))?;
    (rt.progress)(&t!("done"));
    let js = json!({
        "serial": ctx.serial,
        "label": label,
        "erased_without_so_pin": a.erase,
        "user_max_tries": user_max,
        "so_max_tries": so_max,
        "pin_min_len": min,
        "pin_max_len": max,
        "charset": format!("{:?}", a.charset).to_lowercase(),
        "auth_timeout_minutes": timeout,
        "user_pin_strength": strength(&user_pin),
        "so_pin_strength": strength(&so_pin),
        "warnings": warnings,
    });
    let timeout_text = if timeout == 0 {
        t!("timeout-none")
    } else {
        t!("timeout-minutes", minutes = timeout)
    };
    let text = format!(
        "{}\n{}\n",
        t!(
            "init-done",
            serial = &ctx.serial,
            label = &label,
            user_max = user_max,
            so_max = so_max,
            min = min,
            max = max,
            timeout = timeout_text
        ),
        t!(
            "init-strength",
            user = strength(&user_pin).word(),
            so = strength(&so_pin).word()
        )
    );
    Ok(Report::ok(js, text))
}
