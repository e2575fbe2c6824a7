//! (5) The on-disk directory cache: used while the card is provably unchanged, never trusted
//! after a change by another process of ours (change counter) or by OpenSC (TokenInfo).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use pkcs15::asn1::tokeninfo::TokenInfo;
use pkcs15::backend::{KeyGenSpec, KeyType, KeyUsage, ObjectKind, PinRole, TokenBackend};
use pkcs15::card::dirlist;
use pkcs15::card::layout::{certificate_entry, split_tlv};

fn labels(t: &mut Token) -> Vec<(u8, String)> {
    let mut v: Vec<_> = t
        .objects()
        .unwrap()
        .into_iter()
        .map(|o| (o.kind as u8, o.label))
        .collect();
    v.sort();
    v
}

/// What OpenSC's pkcs15-init does when it stores a certificate, minus the certificate file:
/// verify the PIN, append a CDF entry, rewrite TokenInfo with `lastUpdate` (it never touches
/// our settings EF). `last_update_secs`: the Unix time it writes.
fn opensc_style_write(card: &Shared, label: &str, last_update_secs: u64) {
    let mut conn = connect(card);
    let mut s = conn.transaction().unwrap();
    s.select_path(&[0x3F00, 0x5015]).unwrap();
    s.verify_pin(1, PIN).unwrap();
    let fci = s.select_fid(0x4404).unwrap();
    let data = s.read_binary(0, 216).unwrap();
    let dirlist::Scan::Done { end, .. } = dirlist::scan(&data, fci.size.unwrap()) else {
        panic!("CDF")
    };
    s.update_binary(
        end as u16,
        &certificate_entry(label, &[0x77], false, 0x3107),
    )
    .unwrap();
    let fci = s.select_fid(0x5032).unwrap();
    let raw = s.read_binary(0, fci.size.unwrap()).unwrap();
    let n = split_tlv(&raw).unwrap().2;
    let mut ti = TokenInfo::from_der(&raw[..n]).unwrap();
    ti.last_update = Some(
        der::asn1::GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(
            last_update_secs,
        ))
        .unwrap(),
    );
    let mut new = ti.to_der().unwrap();
    new.resize(new.len().max(n), 0);
    s.update_binary(0, &new).unwrap();
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn cache_is_used_only_while_the_card_is_unchanged() {
    let dir = scratch("cache");
    let (card, mut t0) = initialised(31);
    t0.generate_key_pair(&KeyGenSpec {
        key_type: KeyType::EcP256,
        label: "k1".into(),
        id: None,
        usage: KeyUsage {
            sign: true,
            ..KeyUsage::default()
        },
    })
    .unwrap();
    drop(t0);

    // "Process" A: full read, cache written.
    let mut a = open(&card, Some(dir.clone()));
    assert!(!a.cache_hit());
    let expected = labels(&mut a);
    drop(a);

    // B: from the cache, with fewer APDUs.
    let n0 = apdus(&card);
    let mut b = open(&card, Some(dir.clone()));
    let cached_cost = apdus(&card) - n0;
    assert!(b.cache_hit());
    assert_eq!(labels(&mut b), expected);
    assert!(cached_cost <= 9, "cache validation cost {cached_cost}");

    // B writes through this crate: the cache follows.
    b.login(PinRole::User, PIN).unwrap();
    b.generate_key_pair(&KeyGenSpec {
        key_type: KeyType::EcP256,
        label: "k2".into(),
        id: None,
        usage: KeyUsage {
            sign: true,
            ..KeyUsage::default()
        },
    })
    .unwrap();
    let expected = labels(&mut b);
    drop(b);
    let mut c = open(&card, Some(dir.clone()));
    assert!(c.cache_hit());
    assert_eq!(labels(&mut c), expected);
    drop(c);

    // Another process of ours writes without a cache: the change counter moved.
    let mut other = open(&card, None);
    other.login(PinRole::User, PIN).unwrap();
    other.set_auth_timeout(9).unwrap();
    drop(other);
    let mut d = open(&card, Some(dir.clone()));
    assert!(!d.cache_hit(), "counter change must invalidate the cache");
    assert_eq!(d.describe().unwrap().auth_timeout_minutes, 9);
    drop(d);
    assert!(open(&card, Some(dir.clone())).cache_hit());

    // OpenSC adds a certificate (no counter bump, TokenInfo rewritten): not trusted.
    opensc_style_write(&card, "opensc cert", now());
    let mut e = open(&card, Some(dir.clone()));
    assert!(!e.cache_hit(), "an OpenSC write must invalidate the cache");
    let objs = e.objects().unwrap();
    assert!(objs
        .iter()
        .any(|o| o.kind == ObjectKind::Certificate && o.label == "opensc cert"));
    drop(e);
    // lastUpdate is this second: a second OpenSC write in the same second would leave TokenInfo
    // byte-identical, so such a snapshot is not cached.
    let f = open(&card, Some(dir.clone()));
    assert!(!f.cache_hit(), "a fresh lastUpdate must not be cached");
    drop(f);

    // With an old lastUpdate the snapshot is cached again.
    opensc_style_write(&card, "opensc cert 2", now() - 3600);
    let mut g = open(&card, Some(dir.clone()));
    assert!(!g.cache_hit());
    let expected = labels(&mut g);
    drop(g);
    let mut h = open(&card, Some(dir.clone()));
    assert!(h.cache_hit());
    assert_eq!(labels(&mut h), expected);

    let _ = std::fs::remove_dir_all(dir);
}

/// An OpenSC-personalised card has no settings EF: it is never cached until this crate writes.
#[test]
fn opensc_card_without_settings_is_not_cached() {
    let dir = scratch("cache-opensc");
    let card = opensc_card();
    drop(open(&card, Some(dir.clone())));
    assert!(!open(&card, Some(dir.clone())).cache_hit());
    let _ = std::fs::remove_dir_all(dir);
}
