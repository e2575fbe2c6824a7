//! The driver against the in-process emulator, for all three SM variants (and plain mode).
#![allow(clippy::unwrap_used)]
#![cfg(feature = "emulator")]

mod common;
use common::suite;
use epass2003::card::Mode;
use epass2003::transport::emulator::EmulatorTransport;
use epass2003::transport::replay::{Recorder, ReplayTransport};
use epass2003::transport::Transport;
use epass2003::{ConnectOptions, Connection, Error, Variant};
use epass2003_emu::{Card, CardOptions, Variant as EmuVariant};
use std::sync::{Arc, Mutex};

fn card(v: EmuVariant) -> Arc<Mutex<Card>> {
    let opts = CardOptions {
        rng_seed: Some(7),
        ..CardOptions::default()
    };
    Arc::new(Mutex::new(Card::new_blank(v, opts)))
}

fn run_variant(v: EmuVariant, expect: Variant) {
    let c = card(v);
    let mut conn = suite::connect(EmulatorTransport::new(c));
    assert_eq!(conn.mode(), Mode::Sm(expect));
    suite::full_suite(&mut conn, 1024);
    assert_eq!(conn.reauth_count(), 0, "no session loss in a clean run");
}

#[test]
fn full_suite_des() {
    run_variant(EmuVariant::Des, Variant::Des);
}

#[test]
fn full_suite_aes() {
    run_variant(EmuVariant::Aes, Variant::Aes);
}

#[test]
fn full_suite_fips() {
    run_variant(EmuVariant::Fips, Variant::Fips);
}

#[test]
fn full_suite_plain_mode() {
    let opts = CardOptions {
        plain_mode: true,
        ..CardOptions::default()
    };
    let c = Arc::new(Mutex::new(Card::new_blank(EmuVariant::Aes, opts)));
    let mut conn = suite::connect(EmulatorTransport::new(c));
    assert_eq!(conn.mode(), Mode::Plain);
    suite::full_suite(&mut conn, 1024);
}

#[test]
fn two_tokens_from_two_threads() {
    let hs: Vec<_> = [EmuVariant::Aes, EmuVariant::Fips]
        .into_iter()
        .map(|v| {
            std::thread::spawn(move || {
                let mut conn = suite::connect(EmulatorTransport::new(card(v)));
                suite::full_suite(&mut conn, 1024);
            })
        })
        .collect();
    for h in hs {
        h.join().expect("thread ok");
    }
}

fn personalised(v: EmuVariant) -> (Arc<Mutex<Card>>, Connection<EmulatorTransport>) {
    let c = card(v);
    let mut conn = suite::connect(EmulatorTransport::new(c.clone()));
    let mut s = conn.transaction().unwrap();
    suite::personalise(&mut s);
    s.end().unwrap();
    (c, conn)
}

#[test]
fn card_pulled_mid_exchange_gives_removed() {
    for v in [EmuVariant::Des, EmuVariant::Aes, EmuVariant::Fips] {
        let (c, mut conn) = personalised(v);
        let mut s = conn.transaction().unwrap();
        s.select_path(&[0x5015]).unwrap();
        // Verify = GET CHALLENGE + EXTERNAL AUTHENTICATE: pull after the challenge.
        c.lock().unwrap().hooks_mut().pull_after = Some(1);
        assert_eq!(s.verify_pin(1, suite::PIN).unwrap_err(), Error::Removed);
        assert_eq!(s.get_challenge().unwrap_err(), Error::Removed);
        s.end().unwrap();
        c.lock().unwrap().reinsert();
    }
}

#[test]
fn tampered_response_mac_recovers_and_reports_login_lost() {
    for v in [EmuVariant::Des, EmuVariant::Aes] {
        let (c, mut conn) = personalised(v);
        let mut s = conn.transaction().unwrap();
        s.select_path(&[0x5015]).unwrap();
        s.verify_pin(1, suite::PIN).unwrap();
        assert!(!s.take_login_lost());
        // Flip a byte of the MAC in the next response (data-returning SELECT).
        let idx = c.lock().unwrap().counters().apdus;
        c.lock().unwrap().hooks_mut().flip_response_byte = Some((idx, 42)); // a MAC byte of the FCI response
        let fci = s.select_path(&[0x5015, 0x5031]).expect("recovered");
        assert_eq!(fci.size, Some(512));
        assert!(s.take_login_lost(), "{v:?}: login loss must be reported");
        // The security level is gone after re-authentication.
        assert_eq!(s.update_binary(0, &[1]).unwrap_err(), Error::SecurityStatus);
        s.end().unwrap();
        assert_eq!(conn.reauth_count(), 1);
    }
}

#[test]
fn session_stolen_by_second_process_recovers_data_returning_commands() {
    for v in [EmuVariant::Des, EmuVariant::Aes, EmuVariant::Fips] {
        let (c, mut conn) = personalised(v);
        {
            let mut s = conn.transaction().unwrap();
            s.select_path(&[0x5015]).unwrap();
            s.verify_pin(1, suite::PIN).unwrap();
            s.end().unwrap();
        }
        // Another "process" opens its own SM session (INITIALIZE UPDATE kills ours, §3.6).
        let other = suite::connect(EmulatorTransport::new(c.clone()));
        drop(other);
        let mut s = conn.transaction().unwrap();
        let fci = s.select_path(&[0x5015, 0x9F00]).expect("SELECT recovered");
        assert_eq!(fci.size, Some(2));
        assert!(s.take_login_lost());
        assert_eq!(s.read_binary(0, 2).unwrap(), vec![6, 6]);
        let serial = s.get_serial().unwrap();
        assert_eq!(serial.len(), 8);
        s.end().unwrap();
    }
}

#[test]
fn session_lost_after_card_reset() {
    let (c, mut conn) = personalised(EmuVariant::Aes);
    c.lock().unwrap().reset();
    let mut s = conn.transaction().unwrap();
    assert_eq!(s.get_challenge().map(|c| c.len()).unwrap(), 16);
    assert!(s.take_login_lost());
}

#[test]
fn connect_fails_when_mutual_auth_fails() {
    let mut k = [0x55u8; 16];
    k[0] = 1;
    let opts = CardOptions {
        k_enc: k,
        ..CardOptions::default()
    };
    let c = Arc::new(Mutex::new(Card::new_blank(EmuVariant::Aes, opts)));
    let e = Connection::connect(EmulatorTransport::new(c), ConnectOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, Error::MutualAuth(_)), "{e:?}");
}

fn scripted_session<T: Transport>(conn: &mut Connection<T>) -> Vec<String> {
    let mut out = Vec::new();
    let mut s = conn.transaction().unwrap();
    out.push(format!("{:?}", s.select_path(&[0x5015, 0x9F00])));
    out.push(format!("{:?}", s.read_binary(0, 2)));
    out.push(format!("{:?}", s.verify_pin(1, b"111111")));
    out.push(format!("{:?}", s.verify_pin(1, suite::PIN)));
    out.push(format!("{:?}", s.pin_tries_left(1)));
    out.push(format!("{:?}", s.get_serial()));
    out.push(format!("{:?}", s.select_fid(0x4444)));
    s.end().unwrap();
    out
}

#[test]
fn replay_reproduces_recorded_session() {
    for v in [EmuVariant::Des, EmuVariant::Aes, EmuVariant::Fips] {
        let (c, conn) = personalised(v);
        drop(conn);
        let opts = ConnectOptions {
            host_challenge_seed: Some(99),
            ..ConnectOptions::default()
        };
        let rec = Recorder::new(EmulatorTransport::new(c));
        let recording = rec.recording();
        let mut conn = Connection::connect(rec, opts.clone()).unwrap();
        let live = scripted_session(&mut conn);
        let bytes = recording.lock().unwrap().clone();
        let replay = ReplayTransport::from_bytes(&bytes).unwrap();
        let mut conn2 = Connection::connect(replay, opts.clone()).unwrap();
        assert_eq!(scripted_session(&mut conn2), live, "{v:?}");
        assert_eq!(conn2.transport_mut().remaining(), 0);
        assert!(live[3].starts_with("Ok"));
        // Replaying garbage never panics.
        for cut in [3usize, 10, bytes.len() / 2] {
            let mut junk = bytes[..cut.min(bytes.len())].to_vec();
            junk.resize(junk.len() + 40, 0x41);
            if let Ok(t) = ReplayTransport::from_bytes(&junk) {
                if let Ok(mut c) = Connection::connect(t, opts.clone()) {
                    let _ = scripted_session_lenient(&mut c);
                }
            }
        }
    }
}

fn scripted_session_lenient<T: Transport>(conn: &mut Connection<T>) -> Option<()> {
    let mut s = conn.transaction().ok()?;
    let _ = s.select_path(&[0x5015]);
    let _ = s.read_binary(0, 600);
    Some(())
}

/// Wraps a transport and records the length of the longest command and response.
struct Spy<T: Transport> {
    inner: T,
    max: Arc<Mutex<(usize, usize)>>,
}

struct SpyEx<'a> {
    inner: Box<dyn epass2003::transport::Exchange + 'a>,
    max: Arc<Mutex<(usize, usize)>>,
}

impl epass2003::transport::Exchange for SpyEx<'_> {
    fn transmit(&mut self, c: &[u8]) -> Result<Vec<u8>, Error> {
        let r = self.inner.transmit(c)?;
        let mut m = self.max.lock().unwrap();
        m.0 = m.0.max(c.len());
        m.1 = m.1.max(r.len());
        Ok(r)
    }
    fn end(self: Box<Self>) -> Result<(), Error> {
        self.inner.end()
    }
}

impl<T: Transport> Transport for Spy<T> {
    fn atr(&self) -> Vec<u8> {
        self.inner.atr()
    }
    fn begin(&mut self) -> Result<Box<dyn epass2003::transport::Exchange + '_>, Error> {
        Ok(Box::new(SpyEx {
            inner: self.inner.begin()?,
            max: self.max.clone(),
        }))
    }
}

#[test]
fn rsa_2048_generate_sign_decrypt_extended_apdus() {
    let (c, conn) = personalised(EmuVariant::Aes);
    drop(conn);
    let max = Arc::new(Mutex::new((0, 0)));
    let mut conn = suite::connect(Spy {
        inner: EmulatorTransport::new(c.clone()),
        max: max.clone(),
    });
    let mut s = conn.transaction().unwrap();
    s.select_path(&[0x5015]).unwrap();
    s.verify_pin(1, suite::PIN).unwrap();
    suite::rsa_2048(&mut s);
    s.end().unwrap();
    assert!(c.lock().unwrap().counters().keygens >= 1);
    let (cmd_max, resp_max) = *max.lock().unwrap();
    assert!(cmd_max > 261, "extended command sent ({cmd_max} bytes)");
    assert!(
        resp_max > 258,
        "response over 256 data bytes received ({resp_max} bytes)"
    );
}

#[test]
fn tampered_answer_to_a_pin_attempt_is_not_resent() {
    for v in [EmuVariant::Des, EmuVariant::Aes] {
        let (c, mut conn) = personalised(v);
        let mut s = conn.transaction().unwrap();
        s.select_path(&[0x5015]).unwrap();
        assert_eq!(s.pin_tries_left(1).unwrap(), 6);
        // A wrong PIN: GET CHALLENGE, then EXTERNAL AUTHENTICATE whose (63C5) answer is damaged.
        let idx = c.lock().unwrap().counters().apdus + 1;
        c.lock().unwrap().hooks_mut().flip_response_byte = Some((idx, 3));
        assert_eq!(
            s.verify_pin(1, b"999999").unwrap_err(),
            Error::PinOutcomeUnknown
        );
        assert!(s.take_login_lost());
        // One user attempt spent exactly one try: the attempt was not resent.
        s.select_path(&[0x5015]).unwrap();
        assert_eq!(s.pin_tries_left(1).unwrap(), 5, "{v:?}");
        // A session lost *before* the attempt (the card refuses it unexecuted) is still
        // recovered transparently, and the right PIN then works.
        // (The other "process" leaves DF 5015 current, as a PIN verification needs.)
        {
            let mut other = suite::connect(EmulatorTransport::new(c.clone()));
            let mut t = other.transaction().unwrap();
            t.select_path(&[0x5015]).unwrap();
            t.end().unwrap();
        }
        s.verify_pin(1, suite::PIN)
            .expect("resent after re-authentication");
        assert!(s.take_login_lost());
        assert_eq!(s.pin_tries_left(1).unwrap(), 6);
        s.end().unwrap();
    }
}
