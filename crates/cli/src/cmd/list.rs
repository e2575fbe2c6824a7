//! `list`: every reader (slot) and the token in it.

use crate::ctx::slots;
use crate::error::Result;
use crate::output::Report;
use crate::{t, Runtime};
use serde_json::json;
use token::module::Module;

/// Run `list`.
pub fn run(rt: &mut Runtime<'_>) -> Result<Report> {
    let module = Module::new(rt.config.clone());
    let all = slots(&module)?;
    let mut text = String::new();
    let mut js = Vec::new();
    if all.is_empty() {
        let (reason, _) = crate::ctx::no_token_reason(&all, rt.config.pcsc);
        text.push_str(&format!("{reason}\n"));
    }
    for s in &all {
        let tok = s.token.as_ref();
        text.push_str(&format!(
            "{}\n",
            t!("list-slot", slot = s.slot, reader = &s.reader)
        ));
        match (s.present, tok, &s.error) {
            (false, _, _) => text.push_str(&format!("  {}\n", t!("list-no-token"))),
            (true, Some(tk), _) => text.push_str(&format!(
                "  {}{}\n",
                t!(
                    "list-token",
                    label = &tk.desc.label,
                    serial = &tk.desc.serial,
                    model = &tk.desc.model
                ),
                if tk.desc.initialized {
                    String::new()
                } else {
                    format!(" ({})", t!("list-not-initialised"))
                }
            )),
            (true, None, Some(e)) => {
                text.push_str(&format!("  {}\n", t!("list-unreadable", detail = e)))
            }
            (true, None, None) => text.push_str(&format!("  {}\n", t!("list-present"))),
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
