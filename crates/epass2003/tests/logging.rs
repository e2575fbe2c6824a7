//! Logging policy (task item 5): headers/SW at debug, data only at trace, and never for PIN- or
//! key-bearing commands.
#![cfg(feature = "emulator")]
#![allow(clippy::unwrap_used)]

mod common;
use common::suite;
use epass2003::commands::KeyRecord;
use epass2003::crypto::pin_key;
use epass2003::transport::emulator::EmulatorTransport;
use epass2003_emu::{Card, CardOptions, Variant};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn secrets_never_logged_even_at_trace() {
    let buf = Buf(Arc::new(Mutex::new(Vec::new())));
    let w = buf.clone();
    let sub = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || w.clone())
        .finish();
    tracing::subscriber::with_default(sub, || {
        let card = Arc::new(Mutex::new(Card::new_blank(
            Variant::Des,
            CardOptions::default(),
        )));
        let mut conn = suite::connect(EmulatorTransport::new(card));
        let mut s = conn.transaction().unwrap();
        suite::personalise(&mut s);
        s.verify_pin(1, suite::PIN).unwrap();
        s.change_pin(1, 6, b"87654321").unwrap();
        s.install_secret_key(&KeyRecord::pin(3, b"11223344", 0x96, 6, 6))
            .unwrap();
        s.select_fid(0x5031).unwrap();
        s.end().unwrap();
    });
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("C-APDU") && log.contains("R-APDU") && log.contains("sw="),
        "{log}"
    );
    assert!(log.contains("ins=E3") && log.contains("ins=82") && log.contains("ins=E5"));
    assert!(log.contains("C-APDU data"), "non-sensitive data is traced");
    for secret in [
        &pin_key(suite::PIN)[..],
        &pin_key(suite::PUK)[..],
        &pin_key(b"87654321")[..],
        &pin_key(b"11223344")[..],
    ] {
        let hx = hex::encode_upper(&secret[..20]);
        assert!(!log.contains(&hx), "PIN key leaked into the log");
    }
    for line in log.lines().filter(|l| l.contains("C-APDU data")) {
        // The only data lines belong to non-sensitive commands; the 16-byte magic PIN and the
        // PIN-key records would be longer than any of the FID-sized data logged here.
        assert!(!line.contains("3132333435363738"), "{line}");
    }
}
