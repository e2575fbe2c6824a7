//! One module per subcommand; [`dispatch`] runs the one the command line names.

pub mod certs;
pub mod delete;
pub mod diag;
pub mod enroll;
pub mod expiring;
pub mod import;
pub mod info;
pub mod init;
pub mod keygen;
pub mod list;
pub mod p12;
pub mod pin;
pub mod rename;
pub mod watch;

use crate::cli::{CertsCmd, Cli, Command, P12Cmd, PinCmd};
use crate::ctx::{Ctx, Selector};
use crate::error::{Exit, Result, ToolError};
use crate::output::Report;
use crate::Runtime;

/// Run the command.
pub fn dispatch(cli: &Cli, rt: &mut Runtime<'_>) -> Result<Report> {
    let g = &cli.global;
    let sel = Selector {
        serial: g.serial.clone(),
        reader: g.reader.clone(),
    };
    let open = |rt: &Runtime<'_>| Ctx::open(rt.config.clone(), &sel);
    match &cli.command {
        Command::List => list::run(rt),
        Command::Info => info::run(&open(rt)?),
        Command::Certs(CertsCmd::List) => certs::list(&open(rt)?, rt),
        Command::Certs(CertsCmd::Show(s)) => certs::show(&open(rt)?, rt, s),
        Command::Certs(CertsCmd::Export(a)) => certs::export(&open(rt)?, rt, a),
        Command::Expiring(a) => expiring::run(open(rt), rt, a, g.serial.as_deref()),
        Command::Import(a) => import::run(&open(rt)?, rt, g.yes, a),
        Command::Delete(a) => delete::run(&open(rt)?, rt, g.yes, a),
        Command::Rename(a) => rename::run(&open(rt)?, rt, a),
        Command::Timeout(a) => rename::timeout(&open(rt)?, rt, a),
        Command::Pin(PinCmd::Change) => pin::change(&open(rt)?, rt),
        Command::Pin(PinCmd::Unblock) => pin::unblock(&open(rt)?, rt),
        Command::Pin(PinCmd::ChangeSo) => pin::change_so(&open(rt)?, rt),
        Command::Pin(PinCmd::Strength) => pin::rate(rt),
        Command::Init(a) => init::run(&open(rt)?, rt, g.yes, a),
        Command::Keygen(a) => keygen::keygen(&open(rt)?, rt, a),
        Command::Csr(a) => keygen::csr(&open(rt)?, rt, a),
        Command::Enroll(a) => enroll::enroll(&open(rt)?, rt, g.yes, a),
        Command::Renew(a) => enroll::renew(&open(rt)?, rt, a),
        Command::P12(P12Cmd::Show(a)) => p12::show(rt, a),
        Command::P12(P12Cmd::Passwd(a)) => p12::passwd(rt, a),
        Command::Watch(_) => Err(watch::not_streamed()),
        Command::Diag(a) => diag::run(rt, &sel, a.out.as_deref()),
    }
}

/// The command's name as `diag` records it.
pub fn name(c: &Command) -> &'static str {
    match c {
        Command::List => "list",
        Command::Info => "info",
        Command::Certs(_) => "certs",
        Command::Expiring(_) => "expiring",
        Command::Import(_) => "import",
        Command::Delete(_) => "delete",
        Command::Rename(_) => "rename",
        Command::Pin(_) => "pin",
        Command::Timeout(_) => "timeout",
        Command::Init(_) => "init",
        Command::Keygen(_) => "keygen",
        Command::Csr(_) => "csr",
        Command::Enroll(_) => "enroll",
        Command::Renew(_) => "renew",
        Command::P12(_) => "p12",
        Command::Diag(_) => "diag",
        Command::Watch(_) => "watch",
    }
}

/// Check an integer option against its range; the error states the range.
pub fn in_range(name: &str, v: i64, lo: i64, hi: i64) -> Result<i64> {
    if v < lo || v > hi {
        Err(ToolError::input(crate::t!(
            "err-out-of-range",
            name = name,
            value = v.to_string(),
            lo = lo.to_string(),
            hi = hi.to_string()
        )))
    } else {
        Ok(v)
    }
}

/// Ask for confirmation unless `--yes`; declining is [`Exit::Cancelled`].
pub fn confirm(rt: &mut Runtime<'_>, yes: bool, question: &str) -> Result<()> {
    if yes || (rt.confirm)(question) {
        Ok(())
    } else {
        Err(ToolError::new(
            Exit::Cancelled,
            "cancelled: nothing was changed",
        ))
    }
}

/// The objects `--id` / `--label` name: a predicate over their directory metadata (both given:
/// both must match; neither: everything).
pub fn matcher(
    sel: &crate::cli::CertSel,
) -> Result<impl Fn(&pkcs15::backend::ObjectMeta) -> bool + '_> {
    let id = sel.id.as_deref().map(parse_id).transpose()?;
    Ok(move |m: &pkcs15::backend::ObjectMeta| {
        id.as_ref().is_none_or(|i| &m.id == i) && sel.label.as_ref().is_none_or(|l| &m.label == l)
    })
}

/// Parse a hex CKA_ID.
pub fn parse_id(s: &str) -> Result<Vec<u8>> {
    hex::decode(s.trim().trim_start_matches("0x").replace(':', ""))
        .map_err(|_| ToolError::input(crate::t!("err-id-hex", id = s)))
}
