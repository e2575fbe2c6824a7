//! `watch`: one line (or one JSON object) per token inserted or removed, until interrupted;
//! with `--notify` also a desktop notification per event.
//!
//! Detection is the library's own: [`Module::poll_event`], the pass `C_WaitForSlotEvent` polls,
//! so PC/SC readers (plugged in or pulled out while watching, too) and emulated tokens behave
//! alike. The loop sleeps [`WatchArgs::interval_ms`] between passes. [`watch_loop`] takes the
//! module, an output [`Sink`], an optional [`Notifier`] and a stop flag, so tests drive it with
//! their own readers and a fake notifier.

use crate::cli::Global;
use crate::cmd::in_range;
use crate::error::{from_token, Exit, Result, ToolError};
use crate::notify::{DesktopNotifier, Notification, Notifier};
use crate::Runtime;
use clap::Args;
use cryptoki_sys::{CKF_TOKEN_PRESENT, CK_SLOT_ID};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use token::module::Module;

/// The messages of `watch`, in plain English (one place, for the message catalogue).
pub mod msg {
    use crate::t;
    /// An event line: `TIME inserted: token "LABEL" serial S in READER`.
    pub fn inserted(time: &str, label: &str, serial: &str, reader: &str) -> String {
        t!(
            "watch-inserted",
            time = time,
            label = label,
            serial = serial,
            reader = reader
        )
    }
    /// A token was inserted but could not be read.
    pub fn inserted_unreadable(time: &str, reader: &str, error: &str) -> String {
        t!(
            "watch-inserted-unreadable",
            time = time,
            reader = reader,
            detail = error
        )
    }
    /// An event line: `TIME removed: token "LABEL" serial S from READER`.
    pub fn removed(time: &str, label: &str, serial: &str, reader: &str) -> String {
        t!(
            "watch-removed",
            time = time,
            label = label,
            serial = serial,
            reader = reader
        )
    }
    /// A token that had not been read was removed.
    pub fn removed_unknown(time: &str, reader: &str) -> String {
        t!("watch-removed-unknown", time = time, reader = reader)
    }
    /// Printed (to standard error) when watching starts.
    pub fn watching() -> String {
        t!("watch-watching")
    }
    /// Notification summary of an insertion.
    pub fn title_inserted() -> String {
        t!("watch-title-inserted")
    }
    /// Notification summary of a removal.
    pub fn title_removed() -> String {
        t!("watch-title-removed")
    }
    /// Notification body.
    pub fn body(label: &str, serial: &str) -> String {
        t!("watch-body", label = label, serial = serial)
    }
    /// Notification body for a token that could not be read.
    pub fn body_unknown(reader: &str) -> String {
        t!("watch-body-unknown", reader = reader)
    }
    /// `--notify` without a session bus.
    pub fn no_bus(e: &str) -> String {
        t!("watch-no-bus", detail = e)
    }
    /// A notification could not be shown (said once).
    pub fn notify_failed(e: &str) -> String {
        t!("watch-notify-failed", detail = e)
    }
    /// An event could not be written (standard output closed).
    pub fn output_closed() -> String {
        t!("watch-output-closed")
    }
    /// Dispatch reached without streaming output.
    pub fn not_streamed() -> String {
        t!("watch-not-streamed")
    }
}

/// `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Exit after the first event (0).
    #[arg(long)]
    pub once: bool,
    /// Exit (0, nothing printed) after SECS seconds without an event (1..31536000).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub timeout: Option<i64>,
    /// Also show a desktop notification per event (freedesktop Notifications on the session
    /// bus).
    #[arg(long)]
    pub notify: bool,
    /// How often the readers are looked at, in milliseconds (50..5000).
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 250,
        allow_negative_numbers = true
    )]
    pub interval_ms: i64,
}

/// Inserted or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A token appeared in a slot.
    Inserted,
    /// A token left its slot.
    Removed,
}

impl Change {
    /// The JSON `"event"`.
    pub fn name(self) -> &'static str {
        match self {
            Change::Inserted => "inserted",
            Change::Removed => "removed",
        }
    }
}

/// One token event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub change: Change,
    /// When, as seconds since the Unix epoch.
    pub time: i64,
    /// The slot (the library's id).
    pub slot: CK_SLOT_ID,
    /// The reader (slot description).
    pub reader: String,
    /// The token's serial (unknown: removed before it was read, or unreadable).
    pub serial: Option<String>,
    /// The token's label.
    pub label: Option<String>,
    /// Why an inserted token could not be read.
    pub error: Option<String>,
}

/// `YYYY-MM-DD HH:MM:SS` (UTC), and the RFC 3339 form for JSON.
fn timestamp(t: i64, rfc3339: bool) -> String {
    let d = der::DateTime::from_unix_duration(Duration::from_secs(t.max(0) as u64));
    match d {
        Ok(d) => format!(
            "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}{}",
            d.year(),
            d.month(),
            d.day(),
            if rfc3339 { 'T' } else { ' ' },
            d.hour(),
            d.minutes(),
            d.seconds(),
            if rfc3339 { "Z" } else { "" }
        ),
        Err(_) => t.to_string(),
    }
}

impl Event {
    /// The text line.
    pub fn text(&self) -> String {
        let time = timestamp(self.time, false);
        match (self.change, &self.label, &self.serial) {
            (Change::Inserted, Some(l), Some(s)) => msg::inserted(&time, l, s, &self.reader),
            (Change::Inserted, _, _) => {
                msg::inserted_unreadable(&time, &self.reader, self.error.as_deref().unwrap_or(""))
            }
            (Change::Removed, Some(l), Some(s)) => msg::removed(&time, l, s, &self.reader),
            (Change::Removed, _, _) => msg::removed_unknown(&time, &self.reader),
        }
    }

    /// The JSON object (one line of `--json`).
    pub fn json(&self) -> Value {
        let mut v = json!({
            "event": self.change.name(),
            "time": timestamp(self.time, true),
            "slot": self.slot,
            "reader": self.reader,
            "serial": self.serial,
            "label": self.label,
        });
        if let (Some(e), Value::Object(m)) = (&self.error, &mut v) {
            m.insert("error".into(), Value::from(e.as_str()));
        }
        v
    }

    /// The desktop notification.
    pub fn notification(&self) -> Notification {
        let (summary, category) = match self.change {
            Change::Inserted => (msg::title_inserted(), "device.added"),
            Change::Removed => (msg::title_removed(), "device.removed"),
        };
        let body = match (&self.label, &self.serial) {
            (Some(l), Some(s)) => msg::body(l, s),
            _ => msg::body_unknown(&self.reader),
        };
        Notification {
            summary,
            body,
            category,
        }
    }
}

/// Where events and warnings go.
pub trait Sink {
    /// One event; an error ends the watch (the output is gone).
    fn event(&mut self, e: &Event) -> std::io::Result<()>;
    /// A warning for people.
    fn warning(&mut self, message: &str);
    /// Watching has started: the slots as they are now are known, changes from now on are
    /// events.
    fn watching(&mut self) {}
}

/// Events to `out` (text lines, or JSON lines), warnings to `err`.
pub struct WriterSink<'a> {
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
    /// JSON lines instead of text.
    pub json: bool,
}

impl Sink for WriterSink<'_> {
    fn event(&mut self, e: &Event) -> std::io::Result<()> {
        let line = if self.json {
            serde_json::to_string(&e.json())?
        } else {
            e.text()
        };
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }
    fn warning(&mut self, message: &str) {
        let _ = writeln!(self.err, "epass2003-tool: {message}");
        let _ = self.err.flush();
    }
    fn watching(&mut self) {
        let _ = writeln!(self.err, "{}", msg::watching());
        let _ = self.err.flush();
    }
}

/// How [`watch_loop`] runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Return after the first event.
    pub once: bool,
    /// Return after this long without an event.
    pub timeout: Option<Duration>,
    /// Pause between two passes over the slots.
    pub interval: Duration,
    /// Only events of readers whose name contains this (case-insensitive).
    pub reader: Option<String>,
    /// Only events of the token with this serial.
    pub serial: Option<String>,
}

/// Why [`watch_loop`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `once` and an event was reported.
    Once,
    /// `timeout` passed without an event.
    TimedOut,
    /// The stop flag was set.
    Stopped,
    /// The sink failed (standard output closed).
    OutputClosed,
}

/// What is known about the token in a slot (for its removal event).
#[derive(Debug, Clone, Default)]
struct Known {
    present: bool,
    label: Option<String>,
    serial: Option<String>,
}

/// Read the label and serial of the token in `slot`; a card just inserted may need a moment.
fn read_token(module: &Module, slot: CK_SLOT_ID) -> std::result::Result<(String, String), String> {
    let mut last = String::new();
    for attempt in 0..4 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(150));
        }
        match module.token_info(slot) {
            Ok(t) => return Ok((t.desc.label.trim().to_string(), t.desc.serial)),
            Err(e) => last = from_token(e).message,
        }
    }
    Err(last)
}

fn matches(opts: &Options, e: &Event) -> bool {
    let reader_ok = opts
        .reader
        .as_ref()
        .is_none_or(|r| e.reader.to_lowercase().contains(&r.to_lowercase()));
    let serial_ok = opts.serial.as_ref().is_none_or(|want| {
        e.serial
            .as_ref()
            .is_some_and(|s| s.eq_ignore_ascii_case(want.trim()))
    });
    reader_ok && serial_ok
}

/// Watch `module`'s slots: every change of token presence goes to `sink` (and `notifier`),
/// until `stop` is set, or as `opts` say. `clock` gives "now" (Unix seconds) for each event.
pub fn watch_loop(
    module: &Module,
    opts: &Options,
    sink: &mut dyn Sink,
    mut notifier: Option<&mut dyn Notifier>,
    stop: &AtomicBool,
    clock: &dyn Fn() -> i64,
) -> Result<Outcome> {
    // The slots as they are now: tokens already present are no event, but are named when
    // they are removed.
    let mut known: HashMap<CK_SLOT_ID, Known> = HashMap::new();
    module.slot_list(false).map_err(from_token)?;
    module.prime_events().map_err(from_token)?;
    for slot in module.slot_list(true).map_err(from_token)? {
        let (label, serial) = read_token(module, slot).ok().unzip();
        known.insert(
            slot,
            Known {
                present: true,
                label,
                serial,
            },
        );
    }
    sink.watching();
    let mut notify_warned = false;
    let mut last_event = Instant::now();
    loop {
        if stop.load(Ordering::Acquire) {
            return Ok(Outcome::Stopped);
        }
        while let Some(slot) = module.poll_event().map_err(from_token)? {
            let info = module.slot_info(slot).map_err(from_token)?;
            let present = info.flags & CKF_TOKEN_PRESENT != 0;
            let k = known.entry(slot).or_default();
            if k.present == present {
                // Changed and changed back between two passes: nothing to report.
                continue;
            }
            let mut ev = Event {
                change: if present {
                    Change::Inserted
                } else {
                    Change::Removed
                },
                time: clock(),
                slot,
                reader: info.description.trim().to_string(),
                serial: None,
                label: None,
                error: None,
            };
            if present {
                match read_token(module, slot) {
                    Ok((l, s)) => {
                        ev.label = Some(l);
                        ev.serial = Some(s);
                    }
                    Err(e) => ev.error = Some(e),
                }
                *k = Known {
                    present,
                    label: ev.label.clone(),
                    serial: ev.serial.clone(),
                };
            } else {
                ev.label = k.label.take();
                ev.serial = k.serial.take();
                k.present = false;
            }
            if !matches(opts, &ev) {
                continue;
            }
            last_event = Instant::now();
            if sink.event(&ev).is_err() {
                return Ok(Outcome::OutputClosed);
            }
            if let Some(n) = notifier.as_deref_mut() {
                if let Err(e) = n.notify(&ev.notification()) {
                    if !notify_warned {
                        sink.warning(&msg::notify_failed(&e));
                        notify_warned = true;
                    }
                }
            }
            if opts.once {
                return Ok(Outcome::Once);
            }
        }
        let mut pause = opts.interval;
        if let Some(t) = opts.timeout {
            let idle = last_event.elapsed();
            if idle >= t {
                return Ok(Outcome::TimedOut);
            }
            pause = pause.min(t - idle);
        }
        std::thread::sleep(pause);
    }
}

/// `watch` from the command line: streams to `out` / `err`, returns the exit code.
pub fn run(
    a: &WatchArgs,
    g: &Global,
    rt: &mut Runtime<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let json = g.json;
    let fail = |e: ToolError, out: &mut dyn Write, err: &mut dyn Write| {
        if json {
            let line = serde_json::to_string(&e.to_json()).unwrap_or_default();
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(err, "epass2003-tool: {}", e.message);
        }
        e.exit
    };
    let opts = match options(a, g) {
        Ok(o) => o,
        Err(e) => return fail(e, out, err),
    };
    let mut desktop = None;
    let mut sink = WriterSink { out, err, json };
    if a.notify {
        match DesktopNotifier::session() {
            Ok(n) => desktop = Some(n),
            Err(e) => sink.warning(&msg::no_bus(&e)),
        }
    }
    let module = Module::new(rt.config.clone());
    let stop = AtomicBool::new(false);
    let clock = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    };
    let notifier = desktop.as_mut().map(|n| n as &mut dyn Notifier);
    match watch_loop(&module, &opts, &mut sink, notifier, &stop, &clock) {
        Ok(_) => Exit::Ok,
        Err(e) => fail(e, sink.out, sink.err),
    }
}

/// The options of the command line, checked.
pub fn options(a: &WatchArgs, g: &Global) -> Result<Options> {
    let interval = in_range("--interval-ms", a.interval_ms, 50, 5000)?;
    let timeout = match a.timeout {
        Some(t) => Some(in_range("--timeout", t, 1, 31_536_000)?),
        None => None,
    };
    Ok(Options {
        once: a.once,
        timeout: timeout.map(|t| Duration::from_secs(t as u64)),
        interval: Duration::from_millis(interval as u64),
        reader: g.reader.clone(),
        serial: g.serial.clone(),
    })
}

/// `dispatch` cannot stream; `run` handles `watch` before it.
pub fn not_streamed() -> ToolError {
    ToolError::new(Exit::Internal, msg::not_streamed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        // 2026-12-03 13:30:01 UTC.
        assert_eq!(timestamp(1_796_304_601, false), "2026-12-03 13:30:01");
        assert_eq!(timestamp(1_796_304_601, true), "2026-12-03T13:30:01Z");
    }
}
