//! `list`: every reader (slot) and the token in it.

use crate::ctx::slots;
use crate::error::Result;
use crate::output::Report;
use crate::Runtime;
use serde_json::json;
use token::module::Module;

/// Run `list`.
pub fn run(rt: &mut Runtime<'_>) -> Result<Report> {
    let module = Module::new(rt.config.clone());
    let all = slots(&module)?;
    let mut text = String::new();
    let mut js = Vec::new();
    if all.is_empty() {
        text.push_str("No reader found (is pcscd running? `systemctl start pcscd`).\n");
    }
    for s in &all {
        let tok = s.token.as_ref();
        text.push_str(&format!("Slot {}: {}\n", s.slot, s.reader));
        match (s.present, tok, &s.error) {
            (false, _, _) => text.push_str("  no token\n"),
            (true, Some(t), _) => text.push_str(&format!(
                "  token \"{}\", serial {}, model {}{}\n",
                t.desc.label,
                t.desc.serial,
                t.desc.model,
                if t.desc.initialized {
                    ""
                } else {
                    " (not initialised)"
                }
            )),
            (true, None, Some(e)) => text.push_str(&format!("  token present, unreadable: {e}\n")),
            (true, None, None) => text.push_str("  token present\n"),
        }
        js.push(json!({
            "slot": s.slot,
            "reader": s.reader,
            "token_present": s.present,
            "token": tok.map(|t| json!({
                "label": t.desc.label,
                "serial": t.desc.serial,
                "model": t.desc.model,
                "manufacturer": t.desc.manufacturer,
                "initialized": t.desc.initialized,
            })),
            "error": s.error,
        }));
    }
    Ok(Report::ok(json!({ "slots": js }), text))
}
