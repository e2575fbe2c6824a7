//! A full card (the emulator's memory capacity): a write that does not fit fails with
//! `NoMemory` and leaves the card and its directory exactly as they were.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use epass2003_emu::fs::FILE_OVERHEAD;
use pkcs15::backend::{
    BackendError, KeyGenSpec, KeyType, KeyUsage, NewObject, PinRole, TokenBackend,
};

fn used(card: &Shared) -> usize {
    card.lock().unwrap().memory_used()
}

fn set_capacity(card: &Shared, bytes: usize) {
    card.lock()
        .unwrap()
        .set_capacity(Some(bytes as u32))
        .unwrap();
}

fn data(i: usize, len: usize) -> NewObject {
    NewObject::Data {
        label: format!("data {i}"),
        application: "fill".into(),
        value: vec![i as u8; len],
        private: false,
    }
}

/// Fill the card with data objects until one does not fit: `NoMemory`, nothing changed (the
/// objects, a fresh open's objects, the memory used); deleting an object frees room again.
#[test]
fn data_objects_until_full_then_no_memory_and_unchanged() {
    let (card, mut t) = initialised(31);
    set_capacity(&card, used(&card) + 6000);
    let mut failed = None;
    for i in 0..40 {
        let before = t.objects().unwrap();
        let before_used = used(&card);
        match t.create_object(&data(i, 900)) {
            Ok(_) => continue,
            Err(BackendError::NoMemory) => {
                assert_eq!(t.objects().unwrap(), before, "objects after NoMemory");
                assert_eq!(used(&card), before_used, "memory after NoMemory");
                let mut fresh = open(&card, None);
                assert_eq!(fresh.objects().unwrap(), before, "a fresh open's objects");
                failed = Some((i, before));
                break;
            }
            Err(e) => panic!("object {i}: {e:?}"),
        }
    }
    let (i, objs) = failed.expect("the card never filled up");
    assert!(i >= 2, "only {i} objects fitted");
    // Delete one: the next write fits again. (The fresh open above started its own secure
    // messaging session, which ended this one's login.)
    t.login(PinRole::User, PIN).unwrap();
    let victim = objs.iter().find(|o| o.label == "data 0").unwrap();
    t.delete_object(victim.reference).unwrap();
    t.create_object(&data(99, 900)).unwrap();
}

/// A key pair whose private-key EF fits but whose public-key EF does not: `NoMemory`, and the
/// private-key EF created first is gone again.
#[test]
fn key_pair_half_fits_is_no_memory_and_rolled_back() {
    let (card, mut t) = initialised(32);
    let spec = KeyGenSpec {
        key_type: KeyType::Rsa { bits: 2048 },
        label: "k".into(),
        id: None,
        usage: KeyUsage {
            sign: true,
            ..KeyUsage::default()
        },
    };
    let before = t.objects().unwrap();
    let before_used = used(&card);
    // The private-key EF (2 × 256 bytes + header) fits, the public one (260 + header) does not.
    set_capacity(&card, before_used + FILE_OVERHEAD + 512 + 100);
    assert_eq!(t.generate_key_pair(&spec), Err(BackendError::NoMemory));
    assert_eq!(used(&card), before_used);
    assert_eq!(t.objects().unwrap(), before);
    assert_eq!(open(&card, None).objects().unwrap(), before);
    // With room, the same key pair is generated (after a new login: the fresh open above
    // ended this session's).
    set_capacity(&card, before_used + 8000);
    t.login(PinRole::User, PIN).unwrap();
    if let Err(e) = t.generate_key_pair(&spec) {
        panic!("with room: {e:?}");
    }
    assert_eq!(t.objects().unwrap().len(), before.len() + 2);
}
