//! End to end: the driver's wire bytes through a `Connection`, against the emulator, equal the
//! §10 vectors when the host and card challenges are forced to §10's H and C.
#![cfg(feature = "emulator")]
#![allow(clippy::unwrap_used)]

mod common;
use common::suite;
use common::vectors::{ModeVectors, AES, DES, FIPS};
use epass2003::transport::emulator::EmulatorTransport;
use epass2003::transport::{Exchange, Transport};
use epass2003::{ConnectOptions, Connection, Error};
use epass2003_emu::{Card, CardOptions, Variant};
use std::sync::{Arc, Mutex};

type Log = Arc<Mutex<Vec<(Vec<u8>, Vec<u8>)>>>;

struct Tap<T: Transport> {
    inner: T,
    log: Log,
}
struct TapEx<'a> {
    inner: Box<dyn Exchange + 'a>,
    log: Log,
}
impl Exchange for TapEx<'_> {
    fn transmit(&mut self, c: &[u8]) -> Result<Vec<u8>, Error> {
        let r = self.inner.transmit(c)?;
        self.log.lock().unwrap().push((c.to_vec(), r.clone()));
        Ok(r)
    }
    fn end(self: Box<Self>) -> Result<(), Error> {
        self.inner.end()
    }
}
impl<T: Transport> Transport for Tap<T> {
    fn atr(&self) -> Vec<u8> {
        self.inner.atr()
    }
    fn begin(&mut self) -> Result<Box<dyn Exchange + '_>, Error> {
        Ok(Box::new(TapEx {
            inner: self.inner.begin()?,
            log: self.log.clone(),
        }))
    }
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn check(v: Variant, vec: &ModeVectors, check_select_response: bool) {
    let opts = CardOptions {
        fci_life_cycle: false,
        ..CardOptions::default()
    };
    let card = Arc::new(Mutex::new(Card::new_blank(v, opts)));
    {
        let mut conn = suite::connect(EmulatorTransport::new(card.clone()));
        let mut s = conn.transaction().unwrap();
        suite::personalise(&mut s);
        s.end().unwrap();
    }
    card.lock()
        .unwrap()
        .hooks_mut()
        .queued_random
        .extend([0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10]);
    let log: Log = Arc::default();
    let copts = ConnectOptions {
        fixed_host_challenge: Some([0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]),
        ..ConnectOptions::default()
    };
    let mut conn = Connection::connect(
        Tap {
            inner: EmulatorTransport::new(card),
            log: log.clone(),
        },
        copts,
    )
    .unwrap();
    let mut s = conn.transaction().unwrap();
    s.select_fid(0x3F00).unwrap();
    s.get_challenge().unwrap();
    s.end().unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log[0].0, h("00CA018600"));
    assert_eq!(log[1].0, h(vec.init_update), "{}", vec.name);
    assert_eq!(
        log[1].1,
        h(vec.init_resp),
        "{} card side of INITIALIZE UPDATE",
        vec.name
    );
    assert_eq!(log[2].0, h(vec.ext_auth), "{}", vec.name);
    assert_eq!(log[3].0, h(vec.wrapped[0]), "{} SELECT 3F00", vec.name);
    if check_select_response {
        assert_eq!(
            hex::encode_upper(&log[3].1),
            vec.wrapped_resp[0],
            "{} FCI response",
            vec.name
        );
    }
    assert_eq!(log[4].0, h(vec.wrapped[1]), "{} GET CHALLENGE", vec.name);
}

#[test]
fn des_wire_bytes_match_10_2() {
    check(Variant::Des, &DES, true);
}

#[test]
fn aes_wire_bytes_match_10_3() {
    check(Variant::Aes, &AES, true);
}

#[test]
fn fips_wire_bytes_match_10_4() {
    // The FIPS response MAC is the emulator's invention (§3.5.4); compare commands only.
    check(Variant::Fips, &FIPS, false);
}
