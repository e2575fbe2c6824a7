//! `watch` in-process: the emulated token behind a reader whose card the test inserts and
//! pulls, a fake notifier, and the command line's `--timeout` / `--notify` paths.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use epass2003_tool::cmd::watch::{
    msg, watch_loop, Change, Event, Options, Outcome, Sink, WriterSink,
};
use epass2003_tool::error::Exit;
use epass2003_tool::notify::{DesktopNotifier, Notification, Notifier};
use epass2003_tool::secrets::Given;
use pkcs15::backend::TokenBackend;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use token::module::Module;
use token::readers::{EmulatorReader, Reader};

/// The emulated token in a reader whose card is in or out as the test says.
struct PlugReader {
    inner: EmulatorReader,
    inserted: Arc<AtomicBool>,
}

impl Reader for PlugReader {
    fn description(&self) -> String {
        "Test reader 00 00".into()
    }
    fn manufacturer(&self) -> String {
        "test".into()
    }
    fn hardware(&self) -> bool {
        true
    }
    fn present(&mut self) -> bool {
        self.inserted.load(Ordering::Acquire)
    }
    fn open(&mut self) -> token::Result<Box<dyn TokenBackend>> {
        self.inner.open()
    }
}

enum Seen {
    Watching,
    Event(Event),
    Warning(String),
}

struct ChannelSink(Sender<Seen>);

impl Sink for ChannelSink {
    fn event(&mut self, e: &Event) -> std::io::Result<()> {
        let _ = self.0.send(Seen::Event(e.clone()));
        Ok(())
    }
    fn warning(&mut self, message: &str) {
        let _ = self.0.send(Seen::Warning(message.to_string()));
    }
    fn watching(&mut self) {
        let _ = self.0.send(Seen::Watching);
    }
}

/// Until the loop has looked at the slots once (a card inserted before is no event).
fn started(rx: &Receiver<Seen>) {
    loop {
        if let Seen::Watching = rx.recv_timeout(Duration::from_secs(20)).unwrap() {
            return;
        }
    }
}

/// A [`WriterSink`] that also says when watching has started.
struct Ready<'a> {
    inner: WriterSink<'a>,
    tx: Sender<()>,
}

impl Sink for Ready<'_> {
    fn event(&mut self, e: &Event) -> std::io::Result<()> {
        self.inner.event(e)
    }
    fn warning(&mut self, message: &str) {
        self.inner.warning(message)
    }
    fn watching(&mut self) {
        self.inner.watching();
        let _ = self.tx.send(());
    }
}

/// Records notifications; fails them all when `fail`.
struct FakeNotifier {
    tx: Sender<Notification>,
    fail: bool,
}

impl Notifier for FakeNotifier {
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        let _ = self.tx.send(n.clone());
        if self.fail {
            Err("org.freedesktop.DBus.Error.ServiceUnknown".into())
        } else {
            Ok(())
        }
    }
}

fn opts(once: bool) -> Options {
    Options {
        once,
        timeout: Some(Duration::from_secs(60)),
        interval: Duration::from_millis(20),
        reader: None,
        serial: None,
    }
}

fn next_event(rx: &Receiver<Seen>) -> Event {
    loop {
        match rx.recv_timeout(Duration::from_secs(20)).unwrap() {
            Seen::Event(e) => return e,
            Seen::Warning(w) => panic!("unexpected warning: {w}"),
            Seen::Watching => {}
        }
    }
}

/// An initialised token ("Test token"), its serial, and a module whose only reader holds it
/// when `inserted` is set (it starts empty).
fn setup() -> (Env, String, Module, Arc<AtomicBool>) {
    let env = Env::new();
    env.init(&[]);
    let serial = env.run(&["info", "--json"], Given::default()).json()["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let inserted = Arc::new(AtomicBool::new(false));
    let reader = PlugReader {
        inner: EmulatorReader::new(env.state.clone()),
        inserted: inserted.clone(),
    };
    let module = Module::with_readers(env.config(), vec![Box::new(reader)]);
    (env, serial, module, inserted)
}

#[test]
fn insert_and_remove_are_two_events_and_two_notifications() {
    let (_env, serial, module, inserted) = setup();
    let (tx, rx) = channel();
    let (ntx, nrx) = channel();
    let stop = AtomicBool::new(false);
    let outcome = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut sink = ChannelSink(tx);
            let mut n = FakeNotifier {
                tx: ntx,
                fail: false,
            };
            watch_loop(
                &module,
                &opts(false),
                &mut sink,
                Some(&mut n),
                &stop,
                &|| 1_796_304_601,
            )
        });
        started(&rx);
        inserted.store(true, Ordering::Release);
        let e = next_event(&rx);
        assert_eq!(e.change, Change::Inserted);
        assert_eq!(e.label.as_deref(), Some("Test token"));
        assert_eq!(e.serial.as_deref(), Some(serial.as_str()));
        assert_eq!(e.reader, "Test reader 00 00");
        assert_eq!(e.slot, 0);
        assert_eq!(
            e.text(),
            format!(
                "2026-12-03 13:30:01 inserted: token \"Test token\" serial {serial} in Test reader 00 00"
            )
        );
        let j = e.json();
        assert_eq!(j["event"], "inserted");
        assert_eq!(j["time"], "2026-12-03T13:30:01Z");
        assert_eq!(j["slot"], 0);
        assert_eq!(j["reader"], "Test reader 00 00");
        assert_eq!(j["serial"], serial.as_str());
        assert_eq!(j["label"], "Test token");

        inserted.store(false, Ordering::Release);
        let e = next_event(&rx);
        assert_eq!(e.change, Change::Removed);
        // Named from what was read at insertion (the card is gone now).
        assert_eq!(e.serial.as_deref(), Some(serial.as_str()));
        assert_eq!(
            e.text(),
            format!(
                "2026-12-03 13:30:01 removed: token \"Test token\" serial {serial} from Test reader 00 00"
            )
        );
        assert_eq!(e.json()["event"], "removed");
        stop.store(true, Ordering::Release);
        h.join().unwrap()
    });
    assert_eq!(outcome.unwrap(), Outcome::Stopped);
    let got: Vec<Notification> = nrx.try_iter().collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].summary, msg::title_inserted());
    assert_eq!(got[0].category, "device.added");
    assert!(got[0].body.contains(&serial) && got[0].body.contains("Test token"));
    assert_eq!(got[1].summary, msg::title_removed());
    assert!(got[1].body.contains(&serial));
    // Nothing else was reported.
    assert!(rx.try_recv().is_err());
}

#[test]
fn a_token_present_at_start_is_no_event_but_is_named_when_removed() {
    let (_env, serial, module, inserted) = setup();
    inserted.store(true, Ordering::Release);
    let (tx, rx) = channel();
    let stop = AtomicBool::new(false);
    let outcome = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut sink = ChannelSink(tx);
            watch_loop(&module, &opts(true), &mut sink, None, &stop, &|| 0)
        });
        started(&rx);
        inserted.store(false, Ordering::Release);
        h.join().unwrap()
    });
    // `once`: the removal ends the loop.
    assert_eq!(outcome.unwrap(), Outcome::Once);
    let e = next_event(&rx);
    assert_eq!(e.change, Change::Removed);
    assert_eq!(e.serial.as_deref(), Some(serial.as_str()));
    assert!(rx.try_recv().is_err());
}

#[test]
fn json_lines_and_one_warning_when_notifications_fail() {
    let (_env, serial, module, inserted) = setup();
    let stop = AtomicBool::new(false);
    let (ntx, nrx) = channel();
    let (rtx, rrx) = channel();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let outcome = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut sink = Ready {
                inner: WriterSink {
                    out: &mut out,
                    err: &mut err,
                    json: true,
                },
                tx: rtx,
            };
            let mut n = FakeNotifier {
                tx: ntx,
                fail: true,
            };
            let o = Options {
                timeout: Some(Duration::from_millis(1500)),
                ..opts(false)
            };
            watch_loop(&module, &o, &mut sink, Some(&mut n), &stop, &|| 0)
        });
        rrx.recv_timeout(Duration::from_secs(20)).unwrap();
        // Insert, wait for the notification (the event came first), remove, wait again.
        for state in [true, false] {
            inserted.store(state, Ordering::Release);
            nrx.recv_timeout(Duration::from_secs(20)).unwrap();
        }
        h.join().unwrap()
    });
    // No further event: the idle timeout ends the loop.
    assert_eq!(outcome.unwrap(), Outcome::TimedOut);
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["event"], "inserted");
    assert_eq!(lines[0]["time"], "1970-01-01T00:00:00Z");
    assert_eq!(lines[0]["serial"], serial.as_str());
    assert_eq!(lines[1]["event"], "removed");
    let err = String::from_utf8(err).unwrap();
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert!(err.contains("ServiceUnknown"), "{err}");
}

#[test]
fn serial_filter_hides_other_tokens() {
    let (_env, _serial, module, inserted) = setup();
    let (tx, rx) = channel();
    let stop = AtomicBool::new(false);
    let o = Options {
        serial: Some("0000000000000000".into()),
        timeout: Some(Duration::from_millis(800)),
        ..opts(true)
    };
    let outcome = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut sink = ChannelSink(tx);
            watch_loop(&module, &o, &mut sink, None, &stop, &|| 0)
        });
        started(&rx);
        inserted.store(true, Ordering::Release);
        h.join().unwrap()
    });
    assert_eq!(outcome.unwrap(), Outcome::TimedOut);
    assert!(rx.try_recv().is_err());
}

#[test]
fn command_line_timeout_exits_zero_without_output() {
    // The embedded emulated token is always present: no event.
    let env = Env::new();
    let t = Instant::now();
    let o = env.run(
        &["watch", "--timeout", "1", "--interval-ms", "50"],
        Given::default(),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(o.stdout, "");
    assert!(o.stderr.contains(&msg::watching()), "{}", o.stderr);
    let o = env.run(
        &["watch", "--once", "--json", "--timeout", "1"],
        Given::default(),
    );
    assert_eq!(o.exit, Exit::Ok, "{}", o.stderr);
    assert_eq!(o.stdout, "");
}

#[test]
fn command_line_ranges() {
    let env = Env::new();
    for (args, range) in [
        (vec!["watch", "--timeout", "0"], "1..31536000"),
        (vec!["watch", "--interval-ms", "10"], "50..5000"),
    ] {
        let o = env.run(&args, Given::default());
        assert_eq!(o.exit, Exit::BadInput, "{args:?}");
        assert!(o.stderr.contains(range), "{args:?}: {}", o.stderr);
    }
    // --json: the error is one JSON line on standard output.
    let o = env.run(&["watch", "--json", "--timeout", "0"], Given::default());
    assert_eq!(o.exit, Exit::BadInput);
    assert_eq!(o.stdout.lines().count(), 1, "{}", o.stdout);
    assert_eq!(o.json()["error"]["kind"], "bad_input");
}

#[test]
fn no_bus_is_an_error_of_the_notifier() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("unix:path={}", dir.path().join("no-bus").display());
    let e = DesktopNotifier::at(&addr).err().unwrap();
    assert!(!e.is_empty());
    assert!(msg::no_bus(&e).contains("no D-Bus session bus"));
}
