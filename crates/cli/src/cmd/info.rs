//! `info`: one token in detail. The tries left are asked from the card (its tries query spends
//! no try), so a locked PIN shows before anyone tries it.

use crate::ctx::Ctx;
use crate::error::Result;
use crate::output::{Lines, Report};
use crate::t;
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

/// The policy in words.
pub fn policy_text(p: &PinPolicy) -> String {
    let mut s = t!("policy-length", min = p.min_len, max = p.max_len);
    if p.digits_only {
        s.push_str(&t!("policy-digits-only"));
    }
    if p.require_digit {
        s.push_str(&t!("policy-needs-digit"));
    }
    if p.require_letter {
        s.push_str(&t!("policy-needs-letter"));
    }
    s
}

/// "7 of 10 tries left", "locked", "no retry counter".
pub fn tries_text(s: &PinStatus) -> String {
    if !s.initialized {
        return t!("tries-not-set");
    }
    match (s.tries_left, s.max_tries) {
        (_, 0) => t!("tries-no-counter"),
        (Some(0), m) => t!("tries-locked", max = m),
        (Some(n), m) => t!("tries-left", left = n, max = m),
        (None, m) => t!("tries-unknown", max = m),
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
        "pkcs15" => t!("layout-pkcs15"),
        "feitian" => t!("layout-feitian"),
        "blank" => t!("layout-blank"),
        _ => t!("word-unknown"),
    };
    let mut l = Lines::default();
    l.add(t!("info-label"), &desc.label)
        .add(t!("info-serial"), &desc.serial)
        .add(t!("info-model"), &desc.model)
        .add(t!("info-manufacturer"), &desc.manufacturer)
        .add(
            t!("info-sm"),
            facts
                .secure_messaging
                .clone()
                .unwrap_or_else(|| t!("word-unknown")),
        )
        .add(t!("info-layout"), layout)
        .add("ATR", hex::encode(&facts.atr));
    match desc.memory {
        Some((total, free)) => l.add(
            t!("info-memory"),
            t!("memory-free", free = free, total = total),
        ),
        None => l.add(t!("info-memory"), t!("memory-unknown")),
    };
    if let Some(wp) = &desc.write_protected {
        l.add(t!("info-write-protected"), wp);
    }
    if desc.initialized {
        l.add(t!("info-user-pin"), tries_text(&user))
            .add(t!("info-so-pin"), tries_text(&so))
            .add(t!("info-user-policy"), policy_text(&desc.user_pin_policy))
            .add(t!("info-so-policy"), policy_text(&desc.so_pin_policy))
            .add(
                t!("info-timeout"),
                if desc.auth_timeout_minutes == 0 {
                    t!("timeout-none")
                } else {
                    t!("timeout-minutes", minutes = desc.auth_timeout_minutes)
                },
            )
            .add(
                t!("info-objects"),
                t!(
                    "info-objects-count",
                    certs = count(ObjectKind::Certificate),
                    pubkeys = count(ObjectKind::PublicKey),
                    data = count(ObjectKind::Data)
                ),
            );
    }
    let mut text = l.render(0);
    if user.locked() && user.max_tries > 0 {
        text.push_str(&format!("\n{}\n", ctx.locked(PinRole::User).message));
    }
    if so.locked() && so.max_tries > 0 {
        text.push_str(&format!("\n{}\n", ctx.locked(PinRole::So).message));
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
