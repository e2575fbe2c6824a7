//! `init` (administrator): erase the token and create a fresh layout with the label, both
//! PINs, their maximum tries (0..10, default 10; 0 = no retry counter), the PIN length policy
//! (up to 255) with an optional character rule, and the inactivity timeout.
//!
//! The card stores a hash of the PIN (SHA-1 of it and its length), so the card itself puts no
//! limit on the length. OpenSC 0.23 however refuses PINs over 16 bytes (`CKR_PIN_LEN_RANGE`,
//! before any APDU, so no try is spent; `tests/cli/long-pin-opensc.sh`): a policy that allows or
//! requires longer PINs locks OpenSC users out of those PINs, and `init` warns about it.

use super::{confirm, in_range};
use crate::cli::{Charset, InitArgs};
use crate::ctx::Ctx;
use crate::error::{Result, ToolError};
use crate::output::Report;
use crate::secrets::{need, strength, Secret};
use crate::Runtime;
use pkcs15::backend::{PinPolicy, PinRole};
use serde_json::json;
use token::admin::InitSpec;

/// OpenSC's longest PIN for this card.
pub const OPENSC_MAX_PIN: i64 = 16;

/// Run `init`.
pub fn run(ctx: &Ctx, rt: &mut Runtime<'_>, yes: bool, a: &InitArgs) -> Result<Report> {
    let e = |x: ToolError| ctx.err(x);
    token::admin::check_label(&a.label)
        .map_err(|m| e(ToolError::input(format!("label refused: {m}"))))?;
    let user_max = in_range("--user-max-tries", a.user_max_tries, 0, 10).map_err(e)? as u8;
    let so_max = in_range("--so-max-tries", a.so_max_tries, 0, 10).map_err(e)? as u8;
    let timeout = in_range("--timeout (minutes)", a.timeout, 0, 600).map_err(e)? as u16;
    let min = in_range("--pin-min", a.pin_min, 1, 255).map_err(e)? as u8;
    let max = in_range("--pin-max", a.pin_max, 1, 255).map_err(e)? as u8;
    if min > max {
        return Err(e(ToolError::input(format!(
            "--pin-min {min} is larger than --pin-max {max}"
        ))));
    }
    let mut warnings = Vec::new();
    if i64::from(min) > OPENSC_MAX_PIN {
        warnings.push(format!(
            "PINs of at least {min} characters cannot be entered through OpenSC (it sends at most {OPENSC_MAX_PIN} bytes): OpenSC users will be locked out"
        ));
    } else if i64::from(max) > OPENSC_MAX_PIN {
        warnings.push(format!(
            "PINs longer than {OPENSC_MAX_PIN} characters cannot be entered through OpenSC: keep PINs at most {OPENSC_MAX_PIN} long if OpenSC is used with this token"
        ));
    }
    if user_max == 0 || so_max == 0 {
        warnings.push(
            "a maximum of 0 tries means no retry counter: wrong PINs are never counted and the PIN never locks".into(),
        );
    }
    let user_policy = PinPolicy {
        min_len: min,
        max_len: max,
        digits_only: a.charset == Charset::Digits,
        require_digit: a.charset == Charset::LettersAndDigits,
        require_letter: a.charset == Charset::LettersAndDigits,
    };
    let so_policy = PinPolicy {
        min_len: min,
        max_len: max,
        ..PinPolicy::default()
    };
    let (initialized, so_status, label) = ctx.with(|t, _| {
        let init = t.description().initialized;
        let so = if init {
            Some(t.query_pin(PinRole::So)?)
        } else {
            None
        };
        Ok((init, so, t.description().label.clone()))
    })?;
    if let Some(so) = so_status {
        if so.locked() && so.max_tries > 0 {
            return Err(e(crate::ctx::locked(PinRole::So)));
        }
    }
    for w in &warnings {
        (rt.progress)(&format!("warning: {w}"));
    }
    confirm(
        rt,
        yes,
        &format!(
            "Initialise token {} (\"{label}\")? Everything on it will be erased.",
            ctx.serial
        ),
    )?;
    let current = if initialized {
        Some(need(rt.secrets, Secret::SoPin)?)
    } else {
        None
    };
    let so_pin = need(rt.secrets, Secret::NewSoPin)?;
    super::pin::check_new(&so_policy, &so_pin, "SO PIN").map_err(e)?;
    let user_pin = need(rt.secrets, Secret::NewUserPin)?;
    super::pin::check_new(&user_policy, &user_pin, "user PIN").map_err(e)?;
    (rt.progress)("Erasing the token and creating the file system and PINs ...");
    let spec = InitSpec {
        label: &a.label,
        current_so_pin: current.as_ref().map(|p| p.as_bytes()),
        so_pin: so_pin.as_bytes(),
        user_pin: Some(user_pin.as_bytes()),
        user_max_tries: user_max,
        so_max_tries: so_max,
        user_pin_policy: user_policy.clone(),
        so_pin_policy: so_policy,
        auth_timeout_minutes: timeout,
    };
    ctx.module
        .with_token(ctx.slot, |t, _| t.initialize(&spec))
        .map_err(|x| ctx.pin_error(PinRole::So, x))?;
    (rt.progress)("Done.");
    let js = json!({
        "serial": ctx.serial,
        "label": a.label,
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
    let mut text = format!(
        "Token {} initialised: label \"{}\", user PIN and SO PIN set ({} / {} tries), PIN length {min}..{max}, timeout {}.\n",
        ctx.serial,
        a.label,
        user_max,
        so_max,
        if timeout == 0 { "none".to_string() } else { format!("{timeout} minutes") }
    );
    text.push_str(&format!(
        "PIN strength: user {}, SO {}.\n",
        strength(&user_pin).as_str(),
        strength(&so_pin).as_str()
    ));
    Ok(Report::ok(js, text))
}
