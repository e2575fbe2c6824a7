//! `epass2003-tool`: what the vendor's admin and end-user tools do, on one scriptable command.
//!
//! The tool is built on `crates/token` (never on the C ABI), so it enforces the library's
//! policy: PIN length and character rules before any APDU, retry counters from the card,
//! labels of at most 32 bytes. Every command prints plain text, or one JSON document with
//! `--json`; the exit codes are in [`error::Exit`] and the README.
//!
//! Layout: [`cli`] (the clap definitions), [`ctx`] (choosing the token), [`secrets`] (PINs and
//! passwords), [`output`] (text or JSON), and one module per subcommand under [`cmd`].
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cli;
pub mod cmd;
pub mod ctx;
pub mod error;
pub mod i18n;
pub mod notify;
pub mod output;
pub mod result_file;
pub mod secrets;
pub mod seen;

use clap::Parser;
use error::{Exit, ToolError};
use std::ffi::OsString;
use std::io::Write;

/// What a command runs with: the configuration, where secrets come from, how confirmations are
/// answered. The binary builds it from the environment; tests build it by hand.
pub struct Runtime<'a> {
    /// The library configuration (emulated tokens, PC/SC on/off).
    pub config: token::config::Config,
    /// Where PINs and passwords come from.
    pub secrets: &'a mut dyn secrets::SecretSource,
    /// Answers a yes/no question (`--yes` answers it before it is asked).
    pub confirm: &'a mut dyn FnMut(&str) -> bool,
    /// Progress lines (to stderr in the binary; nowhere in `--json` mode).
    pub progress: &'a mut dyn FnMut(&str),
    /// "Now", as seconds since the Unix epoch (tests fix it).
    pub now: i64,
    /// The language of messages.
    pub lang: i18n::Lang,
    /// Where the last result is kept for `diag` (`None`: not kept).
    pub state_dir: Option<std::path::PathBuf>,
}

/// Parse `args` and run the command; write its output to `out` and errors to `err` (with
/// `--json`, the error document goes to `out` too); return the exit code.
pub fn run<I, T>(args: I, rt: &mut Runtime<'_>, out: &mut dyn Write, err: &mut dyn Write) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let previous = i18n::set_lang(rt.lang);
    let code = run_inner(args, rt, out, err);
    i18n::set_lang(previous);
    code
}

fn run_inner<I, T>(args: I, rt: &mut Runtime<'_>, out: &mut dyn Write, err: &mut dyn Write) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            if e.use_stderr() {
                let _ = write!(err, "{e}");
                return Exit::BadInput;
            }
            let _ = write!(out, "{e}");
            return Exit::Ok;
        }
    };
    let json = cli.global.json;
    if let cli::Command::Watch(a) = &cli.command {
        return cmd::watch::run(a, &cli.global, rt, out, err);
    }
    let mut r = cmd::dispatch(&cli, rt);
    let name = cmd::name(&cli.command);
    if matches!(name, "expiring" | "enroll" | "renew") {
        record_result(rt, &mut r);
    }
    if let (Some(dir), false) = (&rt.state_dir, name == "diag") {
        let (exit, msg) = match &r {
            Ok(rep) => (rep.exit, String::new()),
            Err(e) => (e.exit, e.message.clone()),
        };
        cmd::diag::record(dir, name, exit, &msg, rt.now);
    }
    match r {
        Ok(report) => {
            let _ = output::emit(out, json, &report);
            report.exit
        }
        Err(e) => {
            if json {
                let _ = output::emit_error(out, true, &e);
            } else {
                let _ = output::emit_error(err, false, &e);
            }
            e.exit
        }
    }
}

/// Write the result file for management software after a life-cycle run (`expiring`,
/// `enroll`, `renew`) and add the same fields to the JSON as `"result"`.
/// A result file that cannot be written is a warning, never a changed outcome.
fn record_result(rt: &mut Runtime<'_>, r: &mut error::Result<output::Report>) {
    let Some(dir) = rt.state_dir.clone() else {
        return;
    };
    let (exit, store) = match &*r {
        Ok(rep) => (rep.exit, rep.json.get("serial")),
        Err(e) => (e.exit, e.details.get("serial")),
    };
    let store = store
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let user_id = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    let issued = match &*r {
        Ok(rep) if rep.exit == Exit::Ok => rep.json.get("issued").and_then(|i| {
            Some(result_file::Issued {
                cn: i.get("cn")?.as_str()?.to_string(),
                serial: hex::decode(i.get("serial")?.as_str()?.replace(':', "")).ok()?,
                expires: i.get("not_after_unix")?.as_i64()?,
            })
        }),
        _ => None,
    };
    let res = result_file::RunResult {
        date: rt.now,
        exit,
        user_id,
        store,
        issued,
    };
    if let Err(e) = result_file::write(&dir, &res) {
        (rt.progress)(&t!(
            "result-file-not-written",
            file = dir.join(result_file::FILE_NAME).display().to_string(),
            detail = e.to_string()
        ));
    }
    if let Ok(rep) = r {
        if let serde_json::Value::Object(m) = &mut rep.json {
            m.insert("result".into(), res.json());
        }
    }
}

/// An error as the binary reports it when it cannot even start.
pub fn startup_error(e: &ToolError) -> String {
    format!("epass2003-tool: {e}")
}
