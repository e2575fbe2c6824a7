//! `info`: one token in detail. The tries left are asked from the card (its tries query spends
//! no try), so a locked PIN shows before anyone tries it.

use crate::ctx::Ctx;
use crate::error::Result;
use crate::output::{Lines, Report};
use pkcs15::backend::{ObjectKind, PinPolicy, PinRole, PinStatus};
use serde_json::{json, Value};

fn policy_json(p: &PinPolicy) -> Value {
    json!({
        "min_len": p.min_len,
        "max_len": p.max_len,
        "digits_only": p.digits_only,
        "require_digit": p.require_digit,
        "require_letter": p.require_letter,
    })
}

fn policy_text(p: &PinPolicy) -> String {
    let mut s = format!("{}..{} characters", p.min_len, p.max_len);
    if p.digits_only {
        s.push_str(", digits only");
    }
    if p.require_digit {
        s.push_str(", at least one digit");
    }
    if p.require_letter {
        s.push_str(", at least one letter");
    }
    s
}

/// "7 of 10 tries left", "locked", "no retry counter".
pub fn tries_text(s: &PinStatus) -> String {
    if !s.initialized {
        return "not set".into();
    }
    match (s.tries_left, s.max_tries) {
        (_, 0) => "no retry counter (never locks)".into(),
        (Some(0), m) => format!("LOCKED (0 of {m} tries left)"),
        (Some(n), m) => format!("{n} of {m} tries left"),
        (None, m) => format!("unknown tries left (maximum {m})"),
    }
}

fn pin_json(s: &PinStatus) -> Value {
    json!({
        "initialized": s.initialized,
        "tries_left": s.tries_left,
        "max_tries": s.max_tries,
        "locked": s.locked() && s.max_tries > 0,
    })
}

/// Run `info`.
pub fn run(ctx: &Ctx) -> Result<Report> {
    let (desc, facts, user, so, objects) = ctx.with(|t, hs| {
        let user = t.query_pin(PinRole::User)?;
        let so = t.query_pin(PinRole::So)?;
        let objects = if t.description().initialized {
            t.list_objects(hs)?
        } else {
            Vec::new()
        };
        Ok((t.description().clone(), t.card_facts(), user, so, objects))
    })?;
    let count = |k: ObjectKind| objects.iter().filter(|(_, m)| m.kind == k).count();
    let emulated = desc.model.to_lowercase().contains("emulat");
    let layout = match facts.layout.as_str() {
        "pkcs15" => "PKCS#15 (OpenSC-compatible)",
        "feitian" => "Feitian middleware (ENTERSAFE-ESPK)",
        "blank" => "blank (not initialised)",
        _ => "unknown",
    };
    let mut l = Lines::default();
    l.add("Label", &desc.label)
        .add("Serial", &desc.serial)
        .add("Model", &desc.model)
        .add("Manufacturer", &desc.manufacturer)
        .add(
            "Secure messaging",
            facts.secure_messaging.as_deref().unwrap_or("unknown"),
        )
        .add("Layout", layout)
        .add("ATR", hex::encode(&facts.atr));
    match desc.memory {
        Some((total, free)) => l.add("Memory", format!("{free} bytes free of {total}")),
        None => l.add(
            "Memory",
            "unknown (the card does not report total or free memory)",
        ),
    };
    if let Some(wp) = &desc.write_protected {
        l.add("Write-protected", wp);
    }
    if desc.initialized {
        l.add("User PIN", tries_text(&user))
            .add("SO PIN", tries_text(&so))
            .add("User PIN policy", policy_text(&desc.user_pin_policy))
            .add("SO PIN policy", policy_text(&desc.so_pin_policy))
            .add(
                "Inactivity timeout",
                if desc.auth_timeout_minutes == 0 {
                    "none".to_string()
                } else {
                    format!("{} minutes", desc.auth_timeout_minutes)
                },
            )
            .add(
                "Objects",
                format!(
                    "{} certificates, {} public keys, {} data objects (private keys show after login)",
                    count(ObjectKind::Certificate),
                    count(ObjectKind::PublicKey),
                    count(ObjectKind::Data)
                ),
            );
    }
    let mut text = l.render(0);
    if user.locked() && user.max_tries > 0 {
        text.push_str("\nThe user PIN is locked: unblock it with the SO PIN (`epass2003-tool pin unblock`).\n");
    }
    if so.locked() && so.max_tries > 0 {
        text.push_str(&format!("\n{}\n", crate::ctx::locked(PinRole::So).message));
    }
    let js = json!({
        "label": desc.label,
        "serial": desc.serial,
        "model": desc.model,
        "manufacturer": desc.manufacturer,
        "emulated": emulated,
        "initialized": desc.initialized,
        "secure_messaging": facts.secure_messaging,
        "layout": facts.layout.as_str(),
        "atr": hex::encode(&facts.atr),
        "memory": desc.memory.map(|(t, f)| json!({"total": t, "free": f})),
        "write_protected": desc.write_protected,
        "user_pin": pin_json(&user),
        "so_pin": pin_json(&so),
        "user_pin_policy": policy_json(&desc.user_pin_policy),
        "so_pin_policy": policy_json(&desc.so_pin_policy),
        "auth_timeout_minutes": desc.auth_timeout_minutes,
        "objects": {
            "certificates": count(ObjectKind::Certificate),
            "public_keys": count(ObjectKind::PublicKey),
            "data": count(ObjectKind::Data),
        },
    });
    Ok(Report::ok(js, text))
}
