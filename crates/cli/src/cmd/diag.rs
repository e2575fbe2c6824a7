//! `diag`: one bundle for a help desk. Versions, what PC/SC sees (readers, ATRs, ePass2003 or
//! not, busy), the configuration, each token's `info`, the last command's result, and a debug
//! trace of `info`. It holds no PIN, key or private data: PINs are never arguments and never
//! logged (the library logs APDU headers and status words only, never PIN-bearing data), no
//! login is made, and only public objects are listed.

use crate::ctx::{slots, Ctx, Selector};
use crate::error::{Result, ToolError};
use crate::output::Report;
use crate::{t, Runtime};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use token::module::Module;
use token::readers::{diagnose_pcsc, PcscDiagnosis};

/// The file the tool keeps its last result in (no secrets: the command name, exit code and
/// message).
pub fn last_result_path(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("last-result.json")
}

/// A buffer the trace is written to.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn pcsc_json() -> Value {
    match diagnose_pcsc() {
        PcscDiagnosis::Unavailable(e) => json!({"status": "unavailable", "error": e}),
        PcscDiagnosis::NoReaders => json!({"status": "no_readers", "readers": []}),
        PcscDiagnosis::Readers(rs) => json!({
            "status": "ok",
            "readers": rs.iter().map(|r| json!({
                "name": r.name,
                "card_present": r.card_present,
                "atr": r.atr.as_ref().map(hex::encode),
                "epass2003": r.epass2003,
                "connect_error": r.connect_error,
            })).collect::<Vec<_>>(),
        }),
    }
}

/// Run `diag`.
pub fn run(rt: &mut Runtime<'_>, sel: &Selector, out: Option<&std::path::Path>) -> Result<Report> {
    let cfg = &rt.config;
    let config = json!({
        "emulator": cfg.emulator.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "pcsc": cfg.pcsc,
        "auth_timeout_override_secs": cfg.auth_timeout_override.map(|d| d.as_secs()),
        "init": format!("{:?}", cfg.init),
        "errors": cfg.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        "EPASS2003_CONF": std::env::var("EPASS2003_CONF").ok(),
    });
    let module = Module::new(rt.config.clone());
    let slot_list: Vec<Value> = slots(&module)?
        .iter()
        .map(|s| {
            json!({
                "slot": s.slot,
                "reader": s.reader,
                "token_present": s.present,
                "label": s.token.as_ref().map(|t| t.desc.label.clone()),
                "serial": s.token.as_ref().map(|t| t.desc.serial.clone()),
                "error": s.error,
            })
        })
        .collect();
    drop(module);
    // `info` of the chosen token (or the reason there is none), with a debug trace.
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let info = tracing::subscriber::with_default(subscriber, || {
        // Callsites first hit before this subscriber existed were cached as "never": ask them
        // again now that it is the default.
        tracing::callsite::rebuild_interest_cache();
        match Ctx::open(rt.config.clone(), sel) {
            Ok(ctx) => match super::info::run(&ctx) {
                Ok(r) => r.json,
                Err(e) => e.to_json(),
            },
            Err(e) => e.to_json(),
        }
    });
    let trace = buf
        .0
        .lock()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default();
    let last = rt
        .state_dir
        .as_ref()
        .and_then(|d| std::fs::read_to_string(last_result_path(d)).ok())
        .and_then(|s| serde_json::from_str::<Value>(&s).ok());
    let bundle = json!({
        "tool_version": env!("CARGO_PKG_VERSION"),
        "os": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_string()),
        "time_unix": rt.now,
        "language": format!("{:?}", crate::i18n::lang()),
        "pcsc": pcsc_json(),
        "slots": slot_list,
        "configuration": config,
        "token_info": info,
        "last_result": last,
        "trace_of_info": trace.lines().collect::<Vec<_>>(),
    });
    let text = match out {
        Some(path) => {
            write_private(
                path,
                &serde_json::to_vec_pretty(&bundle).unwrap_or_default(),
            )
            .map_err(|e| {
                ToolError::input(t!(
                    "err-file",
                    file = path.display().to_string(),
                    detail = e.to_string()
                ))
            })?;
            t!("diag-written", file = path.display().to_string())
        }
        None => serde_json::to_string_pretty(&bundle).unwrap_or_default(),
    };
    Ok(Report::ok(bundle, text))
}

/// Write a file readable by its owner only.
fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// Record the result of a command for `diag` (best effort; no secrets in it).
pub fn record(
    state_dir: &std::path::Path,
    command: &str,
    exit: crate::error::Exit,
    message: &str,
    now: i64,
) {
    let v = json!({
        "command": command,
        "exit_code": exit as u8,
        "kind": exit.name(),
        "message": message,
        "time_unix": now,
    });
    if std::fs::create_dir_all(state_dir).is_ok() {
        let _ = write_private(
            &last_result_path(state_dir),
            &serde_json::to_vec_pretty(&v).unwrap_or_default(),
        );
    }
}
