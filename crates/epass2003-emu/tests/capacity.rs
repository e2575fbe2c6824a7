//! The memory capacity model: CREATE FILE beyond the capacity is `6A 84` and changes nothing;
//! DELETE FILE and erase free memory; the capacity survives the state file; old state files
//! load with the default.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use epass2003_emu::fs::{DEFAULT_CAPACITY, FILE_OVERHEAD};
use epass2003_emu::{Card, CardError, CardOptions, Variant};

fn ef_fcp(fid: u16, size: u16) -> Vec<u8> {
    let mut v = h("62 16 80 02");
    v.extend_from_slice(&size.to_be_bytes());
    v.extend_from_slice(&h("82 02 01 00 83 02"));
    v.extend_from_slice(&fid.to_be_bytes());
    v.extend_from_slice(&h("86 08 90 90 90 90 FF FF FF FF"));
    v
}

fn create(host: &mut Host, card: &mut Card, fid: u16, size: u16) -> u16 {
    host.cmd(card, 0x00, 0xE0, 0, 0, &ef_fcp(fid, size), None).1
}

fn to_5015(host: &mut Host, card: &mut Card) {
    for fid in [0x3F00, 0x5015] {
        assert_eq!(host.select(card, fid).1, 0x9000);
    }
}

#[test]
fn full_card_refuses_create_with_6a84_and_delete_frees() {
    let mut card = new_card(Variant::Aes);
    assert_eq!(card.capacity(), DEFAULT_CAPACITY);
    assert_eq!(card.memory_used(), 0);
    let mut host = Host::open(&mut card, default_keys(), default_keys());
    personalise(&mut host, &mut card, b"123456", b"12345678");
    let personalised = card.memory_used();
    // 14 files (MF, 2 BSOs, EF.DIR, DF 5015, 9F00 and 8 PKCS#15 files): bodies + headers.
    let bodies = 2 + 0x200 + 0x80 + 0x80 + 0x1300 + 0x400 + 0x400 + 0x800 + 0x1300;
    assert_eq!(personalised, 14 * FILE_OVERHEAD + bodies);
    assert_eq!(card.memory_free(), DEFAULT_CAPACITY - personalised);

    // Room for exactly one 100-byte file.
    card.set_capacity(Some((personalised + FILE_OVERHEAD + 100) as u32))
        .expect("set capacity");
    to_5015(&mut host, &mut card);
    assert_eq!(create(&mut host, &mut card, 0x3101, 100), 0x9000);
    assert_eq!(card.memory_free(), 0);
    let full = card.to_state_bytes();
    // One byte more is refused and leaves the card exactly as it was.
    assert_eq!(create(&mut host, &mut card, 0x3102, 1), 0x6A84);
    assert_eq!(card.to_state_bytes(), full);
    // A DF (header only) too; an existing file is still 6A89 first.
    let df = h(
        "62 1C 82 02 38 00 83 02 50 16 84 04 74 65 73 74 85 02 00 7F 86 08 90 90 FF 90 FF FF FF FF",
    );
    assert_eq!(host.cmd(&mut card, 0x00, 0xE0, 0, 0, &df, None).1, 0x6A84);
    assert_eq!(create(&mut host, &mut card, 0x3101, 1), 0x6A89);
    assert_eq!(card.to_state_bytes(), full);

    // DELETE FILE frees the file's body and header.
    let (_, sw) = host.cmd(&mut card, 0x00, 0xE4, 0, 0, &[0x31, 0x01], None);
    assert_eq!(sw, 0x9000);
    assert_eq!(card.memory_used(), personalised);
    assert_eq!(create(&mut host, &mut card, 0x3102, 60), 0x9000);
    assert_eq!(create(&mut host, &mut card, 0x3103, 8), 0x9000);
    assert_eq!(create(&mut host, &mut card, 0x3104, 0), 0x6A84);

    // The capacity is kept across the state file; the file tree says what is used.
    let mut again = Card::from_state_bytes(&card.to_state_bytes()).expect("load");
    assert_eq!(again.capacity(), card.capacity());
    assert_eq!(again.memory_used(), card.memory_used());
    let mut host2 = Host::open(&mut again, default_keys(), default_keys());
    to_5015(&mut host2, &mut again);
    assert_eq!(create(&mut host2, &mut again, 0x3104, 0), 0x6A84);

    // Erase (DELETE 3F00) frees everything.
    assert_eq!(host.select(&mut card, 0x3F00).1, 0x9000);
    let (_, sw) = host.cmd(&mut card, 0x00, 0xE4, 0, 0, &[0x3F, 0x00], None);
    assert_eq!(sw, 0x9000);
    assert_eq!(card.memory_used(), 0);
}

#[test]
fn record_ef_appends_are_charged() {
    let mut card = new_card(Variant::Aes);
    let mut host = Host::open(&mut card, default_keys(), default_keys());
    personalise(&mut host, &mut card, b"123456", b"12345678");
    let used = card.memory_used();
    card.set_capacity(Some((used + 40) as u32)).expect("set");
    assert_eq!(host.select(&mut card, 0x3F00).1, 0x9000);
    assert_eq!(host.select(&mut card, 0x2F00).1, 0x9000);
    let (_, sw) = host.cmd(&mut card, 0x00, 0xE2, 0, 0, &[0x61; 40], None);
    assert_eq!(sw, 0x9000);
    assert_eq!(card.memory_used(), used + 40);
    let (_, sw) = host.cmd(&mut card, 0x00, 0xE2, 0, 0, &[0x61; 1], None);
    assert_eq!(sw, 0x6A84);
}

#[test]
fn mf_on_a_tiny_card_and_capacity_option() {
    let mut card = Card::new_blank(
        Variant::Aes,
        CardOptions {
            rng_seed: Some(1),
            capacity: Some(FILE_OVERHEAD as u32 - 1),
            ..CardOptions::default()
        },
    );
    assert_eq!(card.capacity(), FILE_OVERHEAD - 1);
    let mut host = Host::open(&mut card, default_keys(), default_keys());
    let (_, sw) = host.cmd(&mut card, 0x00, 0xE0, 0, 0, &h(MF_FCP), None);
    assert_eq!(sw, 0x6A84);
    assert_eq!(card.memory_used(), 0);
    card.set_capacity(None).expect("set");
    assert_eq!(card.capacity(), DEFAULT_CAPACITY);
    let (_, sw) = host.cmd(&mut card, 0x00, 0xE0, 0, 0, &h(MF_FCP), None);
    assert_eq!(sw, 0x9000);
}

#[test]
fn state_without_capacity_is_unchanged_and_old_states_load() {
    // A card with the default capacity stores no capacity field: its state is what older
    // builds wrote (and read).
    let card = new_card(Variant::Aes);
    let text = String::from_utf8(card.to_state_bytes()).expect("json");
    assert!(!text.contains("capacity"), "{text}");
    assert!(text.contains("\"version\":1"));
    let old = Card::from_state_bytes(text.as_bytes()).expect("old state");
    assert_eq!(old.capacity(), DEFAULT_CAPACITY);
    // The OpenSC-personalised fixture of the pkcs15 tests (written before the capacity).
    let raw = include_bytes!("../../pkcs15/tests/fixtures/opensc-onepin-aes.state");
    let body = epass2003_emu::store::decode(raw).expect("decode");
    let fixture = Card::from_state_bytes(body).expect("fixture");
    assert_eq!(fixture.capacity(), DEFAULT_CAPACITY);
    assert!(fixture.memory_used() > 0 && fixture.memory_used() < DEFAULT_CAPACITY);
    // Set: kept.
    let mut c = new_card(Variant::Aes);
    c.set_capacity(Some(4096)).expect("set");
    let text = String::from_utf8(c.to_state_bytes()).expect("json");
    assert!(text.contains("\"capacity\":4096"), "{text}");
    assert_eq!(
        Card::from_state_bytes(text.as_bytes())
            .expect("load")
            .capacity(),
        4096
    );
}

#[test]
fn set_capacity_goes_through_the_persister() {
    let mut card = new_card(Variant::Aes);
    let saved: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let s = saved.clone();
    card.set_persister(Box::new(move |b| {
        s.lock().expect("lock").push(b.to_vec());
        Ok(())
    }));
    card.set_capacity(Some(2048)).expect("set");
    let last = saved.lock().expect("lock").last().cloned().expect("saved");
    assert_eq!(
        Card::from_state_bytes(&last).expect("load").capacity(),
        2048
    );
    card.set_persister(Box::new(|_| Err(std::io::Error::other("disk full"))));
    assert!(matches!(
        card.set_capacity(Some(1024)),
        Err(CardError::Persist(_))
    ));
    assert_eq!(
        card.capacity(),
        2048,
        "a failed save keeps the old capacity"
    );
}
