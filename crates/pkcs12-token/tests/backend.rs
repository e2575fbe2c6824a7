//! The PKCS#12 backend over pki-files' OpenSSL-made fixtures (legacy RC2/3DES and modern
//! PBES2 AES files): what is listed before and after login, the software key operations
//! checked against the public key, logout wiping, the password change and its policy, and the
//! write protection.
#![allow(clippy::unwrap_used, missing_docs)]

use pkcs12_token::{PasswordPolicy, Pkcs12Token};
use rsa::traits::PublicKeyParts;
use rsa::BigUint;
use std::path::{Path, PathBuf};
use token_backend::{BackendError, NewObject, ObjectKind, PinRole, TokenBackend};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pki-files/tests/fixtures")
        .join(name)
}

/// A copy of a fixture in a temporary directory (the tests that change passwords write it).
fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::copy(fixture(name), &p).unwrap();
    (dir, p)
}

fn find(t: &mut Pkcs12Token, kind: ObjectKind) -> Vec<token_backend::ObjectMeta> {
    t.objects()
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == kind)
        .collect()
}

fn rsa_roundtrip(t: &mut Pkcs12Token) {
    let key = find(t, ObjectKind::PrivateKey).remove(0);
    let pubm = find(t, ObjectKind::PublicKey)
        .into_iter()
        .find(|m| m.id == key.id)
        .unwrap();
    let spki = t.read_value(pubm.reference).unwrap();
    let pk =
        <rsa::RsaPublicKey as rsa::pkcs8::DecodePublicKey>::from_public_key_der(&spki).unwrap();
    let k = pk.size();
    let mut block = vec![0x5Au8; k];
    block[0] = 0;
    let out = t.rsa_raw(key.reference, &block).unwrap();
    assert_eq!(out.len(), k);
    let back = BigUint::from_bytes_be(&out).modpow(pk.e(), pk.n());
    assert_eq!(back, BigUint::from_bytes_be(&block), "x^d^e == x");
}

#[test]
fn legacy_and_modern_files_open_and_sign() {
    for (name, pw) in [
        ("legacy-rsa-chain.p12", "legacy-pass"),
        ("modern-rsa.p12", "modern-pass"),
    ] {
        let mut t = Pkcs12Token::open(&fixture(name), PasswordPolicy::default()).unwrap();
        let d = t.describe().unwrap();
        assert_eq!(d.model, "PKCS#12 file");
        assert!(d.write_protected.is_some() && d.initialized);
        assert_eq!(d.serial.len(), 16);
        // Both files encrypt their certificates: nothing before login.
        assert!(t.objects().unwrap().is_empty(), "{name}");
        assert_eq!(
            t.login(PinRole::User, b"wrong"),
            Err(BackendError::WrongPinNoCounter)
        );
        assert!(!t.is_unlocked());
        t.login(PinRole::User, pw.as_bytes()).unwrap();
        assert!(t.refresh().unwrap(), "login changes the object list");
        assert_eq!(find(&mut t, ObjectKind::PrivateKey).len(), 1);
        let certs = find(&mut t, ObjectKind::Certificate);
        assert!(!certs.is_empty());
        let key = find(&mut t, ObjectKind::PrivateKey).remove(0);
        assert!(key.private && !key.modifiable);
        assert!(
            certs.iter().any(|c| c.id == key.id),
            "the leaf shares the key's ID"
        );
        assert!(matches!(
            t.read_value(key.reference),
            Err(BackendError::NotSupported(_))
        ));
        rsa_roundtrip(&mut t);
        t.logout().unwrap();
        assert!(!t.is_unlocked());
        assert!(t.objects().unwrap().is_empty());
        assert_eq!(
            t.rsa_raw(key.reference, &[0u8; 256]),
            Err(BackendError::NotLoggedIn)
        );
    }
}

#[test]
fn ec_p256_signs() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let mut t = Pkcs12Token::open(&fixture("modern-ec.p12"), PasswordPolicy::default()).unwrap();
    t.login(PinRole::User, b"ec-pass").unwrap();
    let key = find(&mut t, ObjectKind::PrivateKey).remove(0);
    assert!(key.usage.sign && !key.usage.decrypt);
    let pubm = find(&mut t, ObjectKind::PublicKey).remove(0);
    let spki = t.read_value(pubm.reference).unwrap();
    let vk =
        <p256::ecdsa::VerifyingKey as p256::pkcs8::DecodePublicKey>::from_public_key_der(&spki)
            .unwrap();
    let hash = [7u8; 32];
    let sig = t.ecdsa_sign(key.reference, &hash).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
    vk.verify_prehash(&hash, &sig).unwrap();
}

#[test]
fn unencrypted_certificates_are_public_before_login() {
    let mut t = Pkcs12Token::open(&fixture("no-pass.p12"), PasswordPolicy::default()).unwrap();
    let certs = find(&mut t, ObjectKind::Certificate);
    assert!(!certs.is_empty());
    assert!(!certs[0].private);
    assert!(find(&mut t, ObjectKind::PrivateKey).is_empty());
    let der = t.read_value(certs[0].reference).unwrap();
    assert_eq!(der[0], 0x30);
}

#[test]
fn unsupported_curve_is_a_clear_error() {
    let mut t = Pkcs12Token::open(&fixture("ec-p384.p12"), PasswordPolicy::default()).unwrap();
    match t.login(PinRole::User, b"x") {
        Err(BackendError::Device(m)) => assert!(m.contains("unsupported"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn password_change_policy_and_atomicity() {
    let (_dir, path) = copy("legacy-rsa-chain.p12");
    let policy = PasswordPolicy::parse("min-len=4,max-len=16,lower-alnum").unwrap();
    let mut t = Pkcs12Token::open(&path, policy).unwrap();
    let before = std::fs::read(&path).unwrap();
    assert!(matches!(
        t.change_pin(PinRole::User, b"legacy-pass", b"Upper1"),
        Err(BackendError::PinInvalid(_))
    ));
    assert!(matches!(
        t.change_pin(PinRole::User, b"legacy-pass", b"abc"),
        Err(BackendError::PinLenRange(_))
    ));
    assert!(matches!(
        t.change_pin(PinRole::User, b"legacy-pass", b"abcdefghijklmnopq"),
        Err(BackendError::PinLenRange(_))
    ));
    assert_eq!(
        t.change_pin(PinRole::User, b"wrong-old", b"newpass2"),
        Err(BackendError::WrongPinNoCounter)
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "refusals leave the file as it was"
    );
    t.change_pin(PinRole::User, b"legacy-pass", b"newpass2")
        .unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), before);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(
        t.login(PinRole::User, b"legacy-pass"),
        Err(BackendError::WrongPinNoCounter)
    );
    t.login(PinRole::User, b"newpass2").unwrap();
    rsa_roundtrip(&mut t);
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
}

#[test]
fn policy_text() {
    assert_eq!(
        PasswordPolicy::parse("").unwrap(),
        PasswordPolicy::default()
    );
    let p = PasswordPolicy::parse("min-len=4, max-len=16, lower-alnum").unwrap();
    assert_eq!((p.min_len, p.max_len, p.lower_alnum), (4, 16, true));
    assert!(PasswordPolicy::parse("min-len=9,max-len=8")
        .unwrap_err()
        .contains("above"));
    assert!(PasswordPolicy::parse("min-len=2000")
        .unwrap_err()
        .contains("0..=1024"));
    assert!(PasswordPolicy::parse("upper")
        .unwrap_err()
        .contains("allowed"));
    let utf = PasswordPolicy::parse("allow-utf8").unwrap();
    utf.check("パスワード").unwrap();
    assert!(matches!(
        PasswordPolicy::default().check("パスワード"),
        Err(BackendError::PinInvalid(_))
    ));
}

#[test]
fn nothing_but_the_password_is_written() {
    let (_dir, path) = copy("modern-rsa.p12");
    let before = std::fs::read(&path).unwrap();
    let mut t = Pkcs12Token::open(&path, PasswordPolicy::default()).unwrap();
    t.login(PinRole::User, b"modern-pass").unwrap();
    let wp = |r: Result<_, BackendError>| matches!(r, Err(BackendError::WriteProtected(_)));
    assert!(wp(t
        .create_object(&NewObject::Data {
            label: "x".into(),
            application: "x".into(),
            value: vec![1],
            private: false,
        })
        .map(|_| ())));
    let key = find(&mut t, ObjectKind::PrivateKey).remove(0);
    assert!(wp(t.delete_object(key.reference)));
    assert!(wp(t.set_label("new").map(|_| ())));
    assert!(wp(t
        .update_object(key.reference, Some("x"), None)
        .map(|_| ())));
    assert_eq!(
        t.login(PinRole::So, b"modern-pass"),
        Err(BackendError::WrongPinNoCounter),
        "a file has no SO"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}
