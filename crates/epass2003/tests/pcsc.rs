//! The same suite through real pcscd + vpcd (run by CI with `--ignored`).
//!
//! CI starts pcscd and `epass2003-emu attach --state F --vpcd 127.0.0.1:35963`, then runs
//! `cargo test -p epass2003 -- --ignored`. The reader name comes from `EPASS2003_TEST_READER`;
//! these tests FAIL (they do not silently pass) when it is missing.
#![allow(clippy::unwrap_used)]

mod common;
use common::suite;
use epass2003::card::atr_matches;
use epass2003::transport::pcsc::{PcscContext, ReaderEvent};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The tests share one physical (emulated) token: run them one at a time even when the test
/// harness runs tests in parallel.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn reader() -> String {
    std::env::var("EPASS2003_TEST_READER")
        .expect("EPASS2003_TEST_READER must name the PC/SC reader of the emulated token")
}

#[test]
#[ignore = "needs pcscd + vpcd + epass2003-emu; set EPASS2003_TEST_READER"]
fn pcsc_full_suite() {
    let r = reader();
    let _serial = lock();
    let ctx = PcscContext::establish().expect("pcscd running");
    let readers = ctx.list_readers().unwrap();
    assert!(
        readers.iter().any(|x| x == &r),
        "reader {r:?} not in {readers:?}"
    );
    let t = ctx.connect(&r).expect("connect");
    let mut conn = suite::connect(t);
    assert!(atr_matches(&conn.atr()), "ATR {:02X?}", conn.atr());
    suite::full_suite(&mut conn, 1024);
    conn.into_transport()
        .disconnect()
        .expect("disconnect with LeaveCard");
}

#[test]
#[ignore = "needs pcscd + vpcd + epass2003-emu; set EPASS2003_TEST_READER"]
fn pcsc_two_connections_interleave_safely() {
    let r = reader();
    let _serial = lock();
    let ctx = PcscContext::establish().unwrap();
    let mut a = suite::connect(ctx.connect(&r).unwrap());
    {
        let mut s = a.transaction().unwrap();
        suite::personalise(&mut s);
        s.end().unwrap();
    }
    // A second connection authenticates and steals the card's SM session; the first one must
    // recover transparently (and report the login loss).
    let mut b = suite::connect(ctx.connect(&r).unwrap());
    let mut s = a.transaction().unwrap();
    assert_eq!(s.select_path(&[0x5015, 0x9F00]).unwrap().size, Some(2));
    assert!(s.take_login_lost());
    s.end().unwrap();
    let mut s = b.transaction().unwrap();
    assert_eq!(s.select_path(&[0x5015, 0x9F00]).unwrap().size, Some(2));
    s.end().unwrap();
    a.into_transport().disconnect().unwrap();
    b.into_transport().disconnect().unwrap();
}

#[test]
#[ignore = "needs pcscd + vpcd + epass2003-emu; set EPASS2003_TEST_READER"]
fn pcsc_reader_watch_reports_present_card() {
    let r = reader();
    let _serial = lock();
    let ctx = PcscContext::establish().unwrap();
    let mut w = ctx.watch().unwrap();
    // The first wait reports the card already present; then nothing changes.
    let ev = w.wait(Some(Duration::from_millis(200))).unwrap();
    assert!(ev.iter().any(|e| matches!(e, ReaderEvent::CardInserted { reader, atr } if *reader == r && atr_matches(atr))), "{ev:?}");
    assert!(w.card_present(&r));
    let ev = w.wait(Some(Duration::from_millis(200))).unwrap();
    assert!(ev.is_empty(), "{ev:?}");
}

#[test]
#[ignore = "needs pcscd + vpcd + two epass2003-emu; set EPASS2003_TEST_READER and EPASS2003_TEST_READER2"]
fn pcsc_two_tokens_from_two_threads() {
    let readers = [
        reader(),
        std::env::var("EPASS2003_TEST_READER2")
            .expect("EPASS2003_TEST_READER2 must name the reader of a second emulated token"),
    ];
    let _serial = lock();
    // Two tokens in two readers, each driven through its own connection and secure-messaging
    // session from its own thread, at the same time.
    let threads: Vec<_> = readers
        .into_iter()
        .map(|r| {
            std::thread::spawn(move || {
                let ctx = PcscContext::establish().expect("pcscd running");
                let mut conn = suite::connect(ctx.connect(&r).expect("connect"));
                suite::full_suite(&mut conn, 1024);
                conn.into_transport().disconnect().expect("disconnect");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("suite passed on both tokens");
    }
}
