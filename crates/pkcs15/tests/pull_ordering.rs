//! (3) Pull-the-card write ordering: every write operation is run with the card pulled after
//! k = 0, 1, 2, … APDUs until it completes. After each pulled attempt the card is reinserted, a
//! fresh connection and token are opened, and the directory must parse and be the before- or the
//! after-state (for a key pair also "private key listed, public key not yet"), with every listed
//! object's file complete. The interrupted operation must then succeed when retried.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use pkcs15::backend::{
    BackendError, EcKeyImport, KeyGenSpec, KeyType, KeyUsage, NewObject, ObjectKind, ObjectMeta,
    PinRole, TokenBackend,
};
use rsa::pkcs8::DecodePublicKey;

type State = BTreeSet<(u8, String, Vec<u8>)>;

fn state(objs: &[ObjectMeta]) -> State {
    objs.iter()
        .map(|o| (o.kind as u8, o.label.clone(), o.id.clone()))
        .collect()
}

/// Every listed certificate, public key and data object has a complete value file.
fn check_complete(t: &mut Token, objs: &[ObjectMeta]) {
    for o in objs {
        match o.kind {
            ObjectKind::Certificate => {
                let v = t.read_value(o.reference).unwrap();
                assert!(
                    v == fake_cert(0x11, 200) || v.len() > 300,
                    "certificate value"
                );
            }
            ObjectKind::PublicKey => {
                let v = t.read_value(o.reference).unwrap();
                match o.key_type.unwrap() {
                    KeyType::Rsa { .. } => {
                        rsa::RsaPublicKey::from_public_key_der(&v).unwrap();
                    }
                    KeyType::EcP256 => {
                        p256::PublicKey::from_public_key_der(&v).unwrap();
                    }
                }
            }
            ObjectKind::Data => {
                let v = t.read_value(o.reference).unwrap();
                assert_eq!(v, b"data value", "data object value");
            }
            ObjectKind::PrivateKey => {
                // Usable: sign with it.
                match o.key_type.unwrap() {
                    KeyType::EcP256 => {
                        t.ecdsa_sign(o.reference, &[1; 32]).unwrap();
                    }
                    KeyType::Rsa { bits } => {
                        t.rsa_raw(
                            o.reference,
                            &pkcs1_sha256_block(b"m", usize::from(bits / 8)),
                        )
                        .unwrap();
                    }
                }
            }
        }
    }
}

/// Runs `op` under pulls at every APDU. `allowed` lists the acceptable intermediate states
/// (the first is the before-state, the last the after-state). Returns the number of APDUs the
/// operation needed.
fn pull_everywhere(
    base: &Shared,
    name: &str,
    op: impl Fn(&mut Token) -> Result<(), BackendError>,
    allowed: impl Fn(&State) -> bool,
    after: impl Fn(&mut Token) -> bool,
) -> u64 {
    for k in 0u64.. {
        let card = clone_card(base);
        let mut t = open(&card, None);
        t.login(PinRole::User, PIN).unwrap();
        card.lock().unwrap().hooks_mut().pull_after = Some(k);
        let r = op(&mut t);
        card.lock().unwrap().hooks_mut().pull_after = None;
        match r {
            Ok(()) => {
                assert!(after(&mut t), "{name}: final state");
                let mut t2 = open(&card, None);
                assert!(after(&mut t2), "{name}: final state after reopening");
                return k;
            }
            Err(e) => assert_eq!(e, BackendError::Removed, "{name}: pulled at {k}"),
        }
        drop(t);
        card.lock().unwrap().reinsert();
        let mut t2 = open(&card, None);
        t2.login(PinRole::User, PIN).unwrap();
        let objs = t2
            .objects()
            .unwrap_or_else(|e| panic!("{name}: pulled at {k}: directory does not parse: {e}"));
        let st = state(&objs);
        assert!(
            allowed(&st),
            "{name}: pulled at {k}: unexpected state {st:?}"
        );
        check_complete(&mut t2, &objs);
        if !after(&mut t2) {
            op(&mut t2).unwrap_or_else(|e| panic!("{name}: retry after pull at {k}: {e}"));
        }
    }
    unreachable!()
}

fn ec_spec(label: &str) -> KeyGenSpec {
    KeyGenSpec {
        key_type: KeyType::EcP256,
        label: label.into(),
        id: Some(vec![0xEC]),
        usage: KeyUsage {
            sign: true,
            ..KeyUsage::default()
        },
    }
}

fn cert_obj(label: &str) -> NewObject {
    NewObject::Certificate {
        der: fake_cert(0x11, 200),
        label: label.into(),
        id: vec![0xC0],
        authority: false,
    }
}

fn data_obj(label: &str) -> NewObject {
    NewObject::Data {
        label: label.into(),
        application: "app".into(),
        value: b"data value".to_vec(),
        private: false,
    }
}

/// A personalised card with one key pair, one certificate and one data object.
fn base_card() -> Shared {
    let (card, mut t) = initialised(21);
    t.generate_key_pair(&ec_spec("base key")).unwrap();
    t.create_object(&cert_obj("base cert")).unwrap();
    t.create_object(&data_obj("base data")).unwrap();
    drop(t);
    card
}

fn current(t: &mut Token) -> State {
    state(&t.objects().unwrap())
}

fn entry(kind: ObjectKind, label: &str, id: &[u8]) -> (u8, String, Vec<u8>) {
    (kind as u8, label.into(), id.to_vec())
}

#[test]
fn pull_during_key_generation() {
    let base = base_card();
    let before = current(&mut open(&base, None));
    let mut with_priv = before.clone();
    with_priv.insert(entry(ObjectKind::PrivateKey, "new key", &[0xEC]));
    let mut after = with_priv.clone();
    after.insert(entry(ObjectKind::PublicKey, "new key", &[0xEC]));
    let n = pull_everywhere(
        &base,
        "generate",
        |t| t.generate_key_pair(&ec_spec("new key")).map(|_| ()),
        |s| *s == before || *s == with_priv || *s == after,
        |t| current(t).is_superset(&after),
    );
    println!("generate EC key pair: {n} APDUs");
}

#[test]
fn pull_while_storing_a_certificate() {
    let base = base_card();
    let before = current(&mut open(&base, None));
    let mut after = before.clone();
    after.insert(entry(ObjectKind::Certificate, "new cert", &[0xC0]));
    let n = pull_everywhere(
        &base,
        "store certificate",
        |t| t.create_object(&cert_obj("new cert")).map(|_| ()),
        |s| *s == before || *s == after,
        |t| current(t) == after,
    );
    println!("store certificate: {n} APDUs");
}

/// On an OpenSC-personalised card the ODF has no DODF entry yet: the first data object also
/// lists the DODF in the ODF.
#[test]
fn pull_while_storing_data_on_an_opensc_card() {
    let base = opensc_card();
    let before = current(&mut open(&base, None));
    let mut after = before.clone();
    after.insert((ObjectKind::Data as u8, "new data".into(), Vec::new()));
    let n = pull_everywhere(
        &base,
        "store data",
        |t| t.create_object(&data_obj("new data")).map(|_| ()),
        |s| *s == before || *s == after,
        |t| current(t) == after,
    );
    println!("store data object (OpenSC card): {n} APDUs");
}

fn by_label(t: &mut Token, label: &str) -> Option<ObjectMeta> {
    t.objects().unwrap().into_iter().find(|o| o.label == label)
}

#[test]
fn pull_while_deleting() {
    let base = base_card();
    let before = current(&mut open(&base, None));
    for (label, kind) in [
        ("base cert", ObjectKind::Certificate),
        ("base data", ObjectKind::Data),
        ("base key", ObjectKind::PrivateKey),
    ] {
        let after: State = before
            .iter()
            .filter(|e| !(e.1 == label && e.0 == kind as u8))
            .cloned()
            .collect();
        let n = pull_everywhere(
            &base,
            "delete",
            |t| {
                let o = t
                    .objects()?
                    .into_iter()
                    .find(|o| o.label == label && o.kind == kind)
                    .ok_or(BackendError::NoSuchObject)?;
                t.delete_object(o.reference)
            },
            |s| *s == before || *s == after,
            |t| current(t) == after,
        );
        println!("delete {label}: {n} APDUs");
    }
}

#[test]
fn pull_while_renaming() {
    let base = base_card();
    let before = current(&mut open(&base, None));
    let after: State = before
        .iter()
        .map(|e| {
            if e.1 == "base cert" {
                (e.0, "renamed certificate".into(), vec![0xC1, 0xC2])
            } else {
                e.clone()
            }
        })
        .collect();
    let n = pull_everywhere(
        &base,
        "rename",
        |t| {
            let o = by_label(t, "base cert").ok_or(BackendError::NoSuchObject)?;
            t.update_object(
                o.reference,
                Some("renamed certificate"),
                Some(&[0xC1, 0xC2]),
            )
            .map(|_| ())
        },
        |s| *s == before || *s == after,
        |t| current(t) == after,
    );
    println!("rename: {n} APDUs");
}

#[test]
fn pull_while_setting_timeout_and_label() {
    let base = base_card();
    let n = pull_everywhere(
        &base,
        "set timeout",
        |t| t.set_auth_timeout(42),
        |_| true,
        |t| t.describe().unwrap().auth_timeout_minutes == 42,
    );
    println!("set timeout: {n} APDUs");
    // Both before- and after-values are the only ones ever seen.
    for k in 0..n {
        let card = clone_card(&base);
        let mut t = open(&card, None);
        t.login(PinRole::User, PIN).unwrap();
        card.lock().unwrap().hooks_mut().pull_after = Some(k);
        let _ = t.set_auth_timeout(42);
        let _ = t.set_label("new label");
        card.lock().unwrap().hooks_mut().pull_after = None;
        card.lock().unwrap().reinsert();
        let d = open(&card, None).describe().unwrap();
        assert!([15, 42].contains(&d.auth_timeout_minutes));
        assert!(["test token", "new label"].contains(&d.label.as_str()));
    }
    let n = pull_everywhere(
        &base,
        "set label",
        |t| t.set_label("new label"),
        |_| true,
        |t| t.describe().unwrap().label == "new label",
    );
    println!("set label: {n} APDUs");
}

/// A CDF with more than one APDU of entries after the one removed or renamed: the shadow-copy
/// path (new list in a shadow file, then a one-byte ODF switch).
#[test]
fn pull_while_editing_a_large_directory() {
    let (base, mut t) = initialised(22);
    let long = |i: u8| format!("certificate number {i} with a deliberately long label......");
    for i in 0..5u8 {
        t.create_object(&NewObject::Certificate {
            der: fake_cert(0x11, 200),
            label: long(i),
            id: vec![i],
            authority: false,
        })
        .unwrap();
    }
    drop(t);
    let before = current(&mut open(&base, None));
    let after: State = before.iter().filter(|e| e.1 != long(0)).cloned().collect();
    let n = pull_everywhere(
        &base,
        "delete from a large CDF",
        |t| {
            let o = by_label(t, &long(0)).ok_or(BackendError::NoSuchObject)?;
            t.delete_object(o.reference)
        },
        |s| *s == before || *s == after,
        |t| current(t) == after,
    );
    println!("delete from a large CDF: {n} APDUs");
    let renamed: State = before
        .iter()
        .map(|e| {
            if e.1 == long(0) {
                (e.0, "short".into(), e.2.clone())
            } else {
                e.clone()
            }
        })
        .collect();
    let n = pull_everywhere(
        &base,
        "rename in a large CDF",
        |t| {
            let o = by_label(t, &long(0)).ok_or(BackendError::NoSuchObject)?;
            t.update_object(o.reference, Some("short"), None)
                .map(|_| ())
        },
        |s| *s == before || *s == renamed,
        |t| current(t) == renamed,
    );
    println!("rename in a large CDF: {n} APDUs");
    // Twice in a row: the shadow goes back to the original FID.
    let card = clone_card(&base);
    let mut t = open(&card, None);
    t.login(PinRole::User, PIN).unwrap();
    for i in 0..3u8 {
        let o = by_label(&mut t, &long(i)).unwrap();
        t.delete_object(o.reference).unwrap();
    }
    let mut t2 = open(&card, None);
    let objs = t2.objects().unwrap();
    assert_eq!(objs.len(), 2);
    check_complete(&mut t2, &objs);
}

fn ec_key(label: &str) -> EcKeyImport {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use rand::SeedableRng;
    let sk = p256::SecretKey::random(&mut rand::rngs::StdRng::seed_from_u64(99));
    EcKeyImport {
        d: sk.to_bytes().into(),
        point: sk.public_key().to_encoded_point(false).as_bytes().to_vec(),
        label: label.into(),
        id: vec![0xE7],
        usage: KeyUsage {
            sign: true,
            ..KeyUsage::default()
        },
    }
}

/// EC import (`80 E7`, inferred APDU): the private key is listed only once its EF holds the
/// whole key (check_complete signs with every listed private key), the public key only after
/// its file is complete; at no pull point is a listed key unusable.
#[test]
fn pull_during_ec_key_import() {
    let base = base_card();
    let before = current(&mut open(&base, None));
    let mut with_priv = before.clone();
    with_priv.insert(entry(ObjectKind::PrivateKey, "imported", &[0xE7]));
    let mut after = with_priv.clone();
    after.insert(entry(ObjectKind::PublicKey, "imported", &[0xE7]));
    let key = ec_key("imported");
    let n = pull_everywhere(
        &base,
        "import EC key",
        |t| t.import_ec_key(&key).map(|_| ()),
        |s| *s == before || *s == with_priv || *s == after,
        |t| current(t).is_superset(&after),
    );
    assert!(n > 5, "import took {n} APDUs");
    println!("import EC key: {n} APDUs");
}
