//! Tests of pki-files against committed OpenSSL fixtures and, where the `openssl` command is
//! present, against OpenSSL at run time.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::Command;

use pki_files::pkcs12::{self, Error, KeyBag, PrivateKey};
use pki_files::{certs, csr, details};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// The `openssl` command, or None (with a message) when it is not installed.
fn openssl() -> Option<&'static str> {
    match Command::new("openssl").arg("version").output() {
        Ok(o) if o.status.success() => Some("openssl"),
        _ => {
            eprintln!("SKIPPED: the `openssl` command is not installed");
            None
        }
    }
}

fn run(args: &[&str]) -> (bool, String) {
    let o = Command::new("openssl").args(args).output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    certs::parse_certificates(pem).unwrap().remove(0)
}

fn cn(der: &[u8]) -> String {
    details::common_name(der).unwrap()
}

#[test]
fn legacy_rsa_with_chain() {
    let c = pkcs12::parse(&fixture("legacy-rsa-chain.p12"), "legacy-pass").unwrap();
    assert_eq!(c.keys.len(), 1);
    assert_eq!(c.certs.len(), 3);
    assert_eq!(c.keys[0].key.describe(), "RSA 2048");
    assert_eq!(c.keys[0].friendly_name.as_deref(), Some("Taro"));
    assert_eq!(
        c.encryption,
        "keys: PBE-SHA1-3DES; certificates: PBE-SHA1-RC2-40"
    );
    assert_eq!(c.mac.as_deref(), Some("HMAC-SHA-1, 2048 iterations"));
    let ee = c.end_entity(0).unwrap();
    assert_eq!(cn(&ee.der), "Taro Yamada");
    assert_eq!(ee.der, pem_to_der(&fixture("leaf.pem")));
    let chain: Vec<String> = c.chain(0).iter().map(|b| cn(&b.der)).collect();
    assert_eq!(chain, ["Example Intermediate CA", "Example Root CA"]);
    // The key is the one in leaf.pem.
    let d = details::cert_details(&ee.der).unwrap();
    assert_eq!(d.spki_der, c.keys[0].key.spki_der().unwrap());
}

#[test]
fn modern_rsa() {
    let c = pkcs12::parse(&fixture("modern-rsa.p12"), "modern-pass").unwrap();
    assert_eq!(c.keys.len(), 1);
    assert_eq!(c.certs.len(), 3);
    assert_eq!(c.encryption, "PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256");
    assert_eq!(c.mac.as_deref(), Some("HMAC-SHA-256, 2048 iterations"));
    assert_eq!(c.chain(0).len(), 2);
    let legacy = pkcs12::parse(&fixture("legacy-rsa-chain.p12"), "legacy-pass").unwrap();
    assert_eq!(legacy.keys[0].key, c.keys[0].key);
}

#[test]
fn modern_ec_p256() {
    let c = pkcs12::parse(&fixture("modern-ec.p12"), "ec-pass").unwrap();
    assert_eq!(c.keys[0].key.describe(), "EC P-256");
    let PrivateKey::EcP256 { d, point } = &c.keys[0].key else {
        panic!("not EC")
    };
    assert_eq!(d.len(), 32);
    assert_eq!(point.len(), 65);
    assert_eq!(point[0], 4);
    let ee = c.end_entity(0).unwrap();
    assert_eq!(cn(&ee.der), "EC User");
    assert!(c.chain(0).is_empty());
    assert_eq!(details::cert_details(&ee.der).unwrap().key_type, "EC P-256");
}

#[test]
fn other_curve_is_unsupported() {
    match pkcs12::parse(&fixture("ec-p384.p12"), "x") {
        Err(Error::Unsupported(m)) => assert_eq!(m, "EC curve P-384"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_password_both_encodings() {
    let a = pkcs12::parse(&fixture("empty-pass.p12"), "").unwrap();
    assert_eq!(a.keys.len(), 1);
    assert!(a.mac.is_some());
    let b = pkcs12::parse(&fixture("no-pass.p12"), "").unwrap();
    assert_eq!(b.keys.len(), 1);
    assert_eq!(b.certs.len(), 1);
    assert_eq!(b.mac, None);
    assert_eq!(b.encryption, "none");
    assert_eq!(a.keys[0].key, b.keys[0].key);
    assert_eq!(
        pkcs12::parse(&fixture("empty-pass.p12"), "x"),
        Err(Error::WrongPassword)
    );
}

#[test]
fn no_mac_file() {
    let c = pkcs12::parse(&fixture("modern-nomac.p12"), "nomac").unwrap();
    assert_eq!(c.mac, None);
    assert_eq!(c.keys.len(), 1);
    assert_eq!(
        pkcs12::parse(&fixture("modern-nomac.p12"), "wrong"),
        Err(Error::WrongPassword)
    );
}

#[test]
fn wrong_password() {
    for (f, _) in [
        ("legacy-rsa-chain.p12", 0),
        ("modern-rsa.p12", 0),
        ("modern-ec.p12", 0),
    ] {
        assert_eq!(
            pkcs12::parse(&fixture(f), "nope"),
            Err(Error::WrongPassword),
            "{f}"
        );
        assert_eq!(
            pkcs12::parse(&fixture(f), ""),
            Err(Error::WrongPassword),
            "{f}"
        );
    }
    assert_eq!(
        Error::WrongPassword.to_string(),
        "wrong password for this PKCS#12 file"
    );
}

#[test]
fn truncated_file_is_damaged() {
    let data = fixture("modern-rsa.p12");
    for len in [0, 1, 10, data.len() / 2, data.len() - 1] {
        match pkcs12::parse(&data[..len], "modern-pass") {
            Err(Error::Damaged(_)) => {}
            other => panic!("truncated to {len}: {other:?}"),
        }
    }
}

#[test]
fn bit_flipped_file_is_damaged() {
    for (f, pw) in [
        ("modern-rsa.p12", "modern-pass"),
        ("legacy-rsa-chain.p12", "legacy-pass"),
    ] {
        let data = fixture(f);
        // Every 97th byte, and the last ones (MAC value and salt).
        let positions: Vec<usize> = (0..data.len())
            .step_by(97)
            .chain(data.len() - 30..data.len())
            .collect();
        for pos in positions {
            let mut d = data.clone();
            d[pos] ^= 0x10;
            match pkcs12::parse(&d, pw) {
                Err(Error::Damaged(_)) => {}
                // A flip in an unused spot (e.g. a length's redundant form) can't happen in DER,
                // but a flip inside the MAC iteration count changes only the MAC: Damaged too.
                other => panic!("{f}: flip at {pos}/{}: {other:?}", data.len()),
            }
        }
    }
}

#[test]
fn pem_wrapped_pkcs12() {
    let der = fixture("modern-ec.p12");
    let pem = csr::to_pem("PKCS12", &der);
    assert_eq!(
        pkcs12::parse(pem.as_bytes(), "ec-pass").unwrap().keys.len(),
        1
    );
}

#[test]
fn build_round_trip() {
    let c = pkcs12::parse(&fixture("legacy-rsa-chain.p12"), "legacy-pass").unwrap();
    let out = pkcs12::build(&c.keys, &c.certs, "new-pass").unwrap();
    let back = pkcs12::parse(&out, "new-pass").unwrap();
    assert_eq!(back.keys, c.keys);
    assert_eq!(back.certs, c.certs);
    assert_eq!(back.encryption, "PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256");
    assert_eq!(back.mac.as_deref(), Some("HMAC-SHA-256, 10000 iterations"));
    assert_eq!(pkcs12::parse(&out, "old"), Err(Error::WrongPassword));
    // EC and an RSA key without primes.
    let ec = pkcs12::parse(&fixture("modern-ec.p12"), "ec-pass").unwrap();
    let PrivateKey::Rsa { n, e, d, .. } = c.keys[0].key.clone() else {
        panic!()
    };
    let keys = vec![
        ec.keys[0].clone(),
        KeyBag {
            key: PrivateKey::Rsa {
                n,
                e,
                d,
                primes: None,
            },
            local_key_id: Some(vec![1, 2, 3]),
            friendly_name: Some("日本語".into()),
        },
    ];
    let out = pkcs12::build(&keys, &ec.certs, "").unwrap();
    let back = pkcs12::parse(&out, "").unwrap();
    assert_eq!(back.keys[0], ec.keys[0]);
    assert_eq!(
        back.keys[1].key.spki_der().unwrap(),
        c.keys[0].key.spki_der().unwrap()
    );
    assert_eq!(back.keys[1].friendly_name.as_deref(), Some("日本語"));
    assert_eq!(back.keys[1].local_key_id.as_deref(), Some(&[1u8, 2, 3][..]));
}

#[test]
fn openssl_accepts_built_file() {
    if openssl().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (f, pw) in [
        ("legacy-rsa-chain.p12", "legacy-pass"),
        ("modern-ec.p12", "ec-pass"),
    ] {
        let c = pkcs12::parse(&fixture(f), pw).unwrap();
        let out = pkcs12::build(&c.keys, &c.certs, "new").unwrap();
        let p = dir.path().join("out.p12");
        std::fs::write(&p, &out).unwrap();
        let ps = p.to_str().unwrap();
        let (ok, msg) = run(&["pkcs12", "-in", ps, "-passin", "pass:new", "-noout"]);
        assert!(ok, "{f}: {msg}");
        let (ok, _) = run(&["pkcs12", "-in", ps, "-passin", "pass:bad", "-noout"]);
        assert!(!ok);
        // The key OpenSSL extracts is ours.
        let (ok, pem) = run(&[
            "pkcs12", "-in", ps, "-passin", "pass:new", "-nocerts", "-nodes",
        ]);
        assert!(ok);
        assert!(pem.contains("BEGIN PRIVATE KEY"), "{pem}");
    }
}

#[test]
fn change_password_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("id.p12");
    let orig = fixture("legacy-rsa-chain.p12");
    std::fs::write(&p, &orig).unwrap();
    // Wrong old password: untouched, no temp files left.
    match pkcs12::change_password(&p, "wrong", "new") {
        Err(pkcs12::ChangeError::Read(Error::WrongPassword)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&p).unwrap(), orig);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    pkcs12::change_password(&p, "legacy-pass", "neu").unwrap();
    let c = pkcs12::parse(&std::fs::read(&p).unwrap(), "neu").unwrap();
    let o = pkcs12::parse(&orig, "legacy-pass").unwrap();
    assert_eq!(c.keys, o.keys);
    assert_eq!(c.certs, o.certs);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A missing file is an I/O error.
    assert!(matches!(
        pkcs12::change_password(&dir.path().join("missing.p12"), "a", "b"),
        Err(pkcs12::ChangeError::Io(_))
    ));
}

#[test]
fn p7b_der_and_pem() {
    for f in ["two.p7b", "two.p7b.pem"] {
        let data = fixture(f);
        assert!(certs::is_p7b(&data), "{f}");
        let list = certs::parse_certificates(&data).unwrap();
        assert_eq!(list.len(), 2, "{f}");
        let names: Vec<String> = list.iter().map(|d| cn(d)).collect();
        assert!(names.contains(&"Taro Yamada".to_string()));
        assert!(names.contains(&"Example Intermediate CA".to_string()));
    }
    assert!(!certs::is_p7b(&fixture("leaf.pem")));
    assert!(!certs::is_p7b(&fixture("modern-rsa.p12")));
}

#[test]
fn pem_bundle_and_der() {
    let list = certs::parse_certificates(&fixture("bundle.pem")).unwrap();
    let names: Vec<String> = list.iter().map(|d| cn(d)).collect();
    assert_eq!(
        names,
        ["Taro Yamada", "Example Intermediate CA", "Example Root CA"]
    );
    let one = certs::parse_certificates(&list[1]).unwrap();
    assert_eq!(one, vec![list[1].clone()]);
    assert!(certs::parse_certificates(b"hello").is_err());
    assert!(certs::parse_certificates(&fixture("leaf.key")).is_err());
    let e = certs::parse_certificates(&fixture("modern-rsa.p12")).unwrap_err();
    assert!(e.to_string().contains("PKCS#12"), "{e}");
}

fn openssl_txt(name: &str) -> (String, String) {
    let t = String::from_utf8(fixture(name)).unwrap();
    let serial = t
        .lines()
        .find_map(|l| l.strip_prefix("serial="))
        .unwrap()
        .to_string();
    let fp = t
        .lines()
        .find_map(|l| l.strip_prefix("sha256 Fingerprint="))
        .unwrap()
        .to_string();
    (serial, fp)
}

#[test]
fn details_of_fixtures() {
    for c in ["ca", "int", "leaf", "ec"] {
        let d = details::cert_details(&pem_to_der(&fixture(&format!("{c}.pem")))).unwrap();
        let (serial, fp) = openssl_txt(&format!("{c}.openssl.txt"));
        assert_eq!(d.serial_hex, serial, "{c}");
        assert_eq!(d.sha256_fingerprint, fp, "{c}");
    }
    let leaf = details::cert_details(&pem_to_der(&fixture("leaf.pem"))).unwrap();
    assert_eq!(
        leaf.subject_str,
        "C=JP, O=Example, CN=Taro Yamada, UID=taro"
    );
    assert_eq!(
        leaf.issuer_str,
        "C=JP, O=Example, CN=Example Intermediate CA"
    );
    assert_eq!(leaf.key_usage, ["digitalSignature", "keyEncipherment"]);
    assert_eq!(leaf.extended_key_usage, ["clientAuth", "emailProtection"]);
    assert!(!leaf.is_ca);
    assert!(!leaf.self_signed);
    assert_eq!(leaf.key_type, "RSA 2048");
    assert!(leaf.subject_key_id.is_some());
    assert_eq!(leaf.not_after - leaf.not_before, 825 * 86400);
    assert!(leaf.not_before_str.ends_with(" UTC"));
    assert_eq!(leaf.sha1_fingerprint.len(), 20 * 3 - 1);
    let ca = details::cert_details(&pem_to_der(&fixture("ca.pem"))).unwrap();
    assert!(ca.is_ca && ca.self_signed);
    assert_eq!(ca.key_usage, ["keyCertSign", "cRLSign"]);
    assert_eq!(ca.serial_hex, "01");
}

fn rsa_key() -> rsa::RsaPrivateKey {
    use rsa::pkcs8::DecodePrivateKey;
    let c = pkcs12::parse(&fixture("modern-rsa.p12"), "modern-pass").unwrap();
    rsa::RsaPrivateKey::from_pkcs8_der(&c.keys[0].key.to_pkcs8_der().unwrap()).unwrap()
}

fn rsa_csr(subject: &str) -> Vec<u8> {
    use rsa::pkcs8::EncodePublicKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let key = rsa_key();
    let spki = key.to_public_key().to_public_key_der().unwrap();
    let sk = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
    let name = csr::parse_subject(subject).unwrap();
    csr::build_csr(
        &name,
        spki.as_bytes(),
        csr::SigAlg::RsaPkcs1Sha256,
        &mut |m| Ok(sk.sign(m).to_vec()),
    )
    .unwrap()
}

fn p256_csr(name: &x509_cert::name::Name) -> (Vec<u8>, p256::ecdsa::SigningKey) {
    use p256::pkcs8::EncodePublicKey;
    let sk = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let spki = sk.verifying_key().to_public_key_der().unwrap();
    let der = csr::build_csr(name, spki.as_bytes(), csr::SigAlg::EcdsaSha256, &mut |m| {
        let s: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&sk, m);
        Ok(s.to_der().as_bytes().to_vec())
    })
    .unwrap();
    (der, sk)
}

#[test]
fn parse_subject_order_and_types() {
    use der::Encode;
    let n = csr::parse_subject("CN=Taro Yamada,O=Example\\, Inc.,UID=taro,C=JP").unwrap();
    let rdns: Vec<String> =
        n.0.iter()
            .map(|r| r.0.iter().next().unwrap().oid.to_string())
            .collect();
    assert_eq!(
        rdns,
        [
            "2.5.4.6",
            "0.9.2342.19200300.100.1.1",
            "2.5.4.10",
            "2.5.4.3"
        ]
    );
    let c = &n.0[0].0.iter().next().unwrap().value;
    assert_eq!(der::Tagged::tag(c), der::Tag::PrintableString);
    let cn = &n.0[3].0.iter().next().unwrap().value;
    assert_eq!(der::Tagged::tag(cn), der::Tag::Utf8String);
    assert!(csr::parse_subject("C=Japan").is_err());
    assert!(csr::parse_subject("XX=1").is_err());
    // Found by fuzz/pki_subject: a numeric OID arc beyond 32 bits overflowed const-oid's
    // parser (a panic with debug assertions, a wrong OID without); now a refused attribute.
    assert!(csr::parse_subject(&format!("{}= \\l,", "6".repeat(35))).is_err());
    assert!(csr::parse_subject("2.5.4.99999999999=x").is_err());
    assert!(csr::parse_subject("2.5..4=x").is_err());
    // ... and an arc const-oid encodes but cannot decode again (a panic when shown).
    assert!(csr::parse_subject("00.0.660.0.663532566.0.6=67").is_err());
    assert!(csr::parse_subject("0.0.660.0.663532566.0.6=67").is_err());
    assert!(csr::parse_subject("1.2.268435455=x").is_ok());
    assert!(csr::parse_subject("OID.2.5.4.3=ok").is_ok());
    assert!(csr::parse_subject("").is_err());
    let hex = csr::parse_subject("CN=#0c0161").unwrap();
    assert_eq!(hex.0[0].0.iter().next().unwrap().value.value(), b"a");
    assert!(csr::parse_subject("CN=#0c01").is_err());
    let multi = csr::parse_subject("CN=a+UID=b,emailAddress=a@example.com").unwrap();
    assert_eq!(multi.0[1].0.len(), 2);
    assert!(multi.to_der().is_ok());
}

#[test]
fn csr_verified_by_openssl() {
    if openssl().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("csr.pem");
    std::fs::write(
        &p,
        csr::to_pem(
            "CERTIFICATE REQUEST",
            &rsa_csr("CN=山田太郎,O=Example,UID=taro,C=JP"),
        ),
    )
    .unwrap();
    let ps = p.to_str().unwrap();
    let (ok, msg) = run(&["req", "-verify", "-in", ps, "-noout"]);
    assert!(ok, "{msg}");
    let (ok, msg) = run(&[
        "req",
        "-in",
        ps,
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253,-esc_msb",
    ]);
    assert!(ok, "{msg}");
    assert!(
        msg.contains("subject=CN=山田太郎,O=Example,UID=taro,C=JP"),
        "{msg}"
    );

    let name = csr::parse_subject("CN=EC Test,UID=ec,C=JP").unwrap();
    let (der, _) = p256_csr(&name);
    std::fs::write(&p, csr::to_pem("CERTIFICATE REQUEST", &der)).unwrap();
    let (ok, msg) = run(&["req", "-verify", "-in", ps, "-noout", "-subject"]);
    assert!(ok, "{msg}");
    assert!(msg.contains("UID = ec"), "{msg}");
}

#[test]
fn csr_rejects_bad_signature() {
    use rsa::pkcs8::EncodePublicKey;
    let key = rsa_key();
    let spki = key.to_public_key().to_public_key_der().unwrap();
    let name = csr::parse_subject("CN=x").unwrap();
    let r = csr::build_csr(
        &name,
        spki.as_bytes(),
        csr::SigAlg::RsaPkcs1Sha256,
        &mut |_| Ok(vec![0; 256]),
    );
    assert!(matches!(r, Err(pki_files::Error::Signature(_))), "{r:?}");
    let r = csr::build_csr(
        &name,
        spki.as_bytes(),
        csr::SigAlg::EcdsaSha256,
        &mut |_| Ok(vec![]),
    );
    assert!(matches!(r, Err(pki_files::Error::Unsupported(_))), "{r:?}");
    let r = csr::build_csr(
        &name,
        spki.as_bytes(),
        csr::SigAlg::RsaPkcs1Sha256,
        &mut |_| Err("card removed".into()),
    );
    assert_eq!(r, Err(pki_files::Error::Signature("card removed".into())));
}

/// A certificate whose subject has a Japanese UTF8String CN, a BMPString O and a UID: our CSR
/// (with a hand-typed name) signed by `openssl x509 -req`, which copies the subject as is.
#[test]
fn details_of_bmp_and_utf8_subject() {
    use der::asn1::{BmpString, SetOfVec};
    use der::{Any, Encode};
    use p256::pkcs8::EncodePrivateKey;
    use x509_cert::attr::AttributeTypeAndValue;
    use x509_cert::name::{RdnSequence, RelativeDistinguishedName};
    if openssl().is_none() {
        return;
    }
    let atv = |oid: &str, value: Any| {
        RelativeDistinguishedName(
            SetOfVec::try_from(vec![AttributeTypeAndValue {
                oid: oid.parse().unwrap(),
                value,
            }])
            .unwrap(),
        )
    };
    let name = RdnSequence(vec![
        atv(
            "2.5.4.6",
            Any::new(der::Tag::PrintableString, b"JP".to_vec()).unwrap(),
        ),
        atv(
            "2.5.4.10",
            Any::encode_from(&BmpString::from_utf8("株式会社例").unwrap()).unwrap(),
        ),
        atv(
            "2.5.4.3",
            Any::new(der::Tag::Utf8String, "山田太郎".as_bytes().to_vec()).unwrap(),
        ),
        atv(
            "0.9.2342.19200300.100.1.1",
            Any::new(der::Tag::Utf8String, b"taro".to_vec()).unwrap(),
        ),
    ]);
    let (der, sk) = p256_csr(&name);
    let dir = tempfile::tempdir().unwrap();
    let csr_p = dir.path().join("r.pem");
    let key_p = dir.path().join("k.pem");
    let crt_p = dir.path().join("c.pem");
    std::fs::write(&csr_p, csr::to_pem("CERTIFICATE REQUEST", &der)).unwrap();
    let secret = p256::SecretKey::from(sk);
    std::fs::write(
        &key_p,
        secret.to_pkcs8_pem(Default::default()).unwrap().as_bytes(),
    )
    .unwrap();
    let (ok, msg) = run(&[
        "x509",
        "-req",
        "-in",
        csr_p.to_str().unwrap(),
        "-signkey",
        key_p.to_str().unwrap(),
        "-days",
        "30",
        "-set_serial",
        "0x7FEDCBA987654321",
        "-out",
        crt_p.to_str().unwrap(),
    ]);
    assert!(ok, "{msg}");
    let cert = pem_to_der(&std::fs::read(&crt_p).unwrap());
    let d = details::cert_details(&cert).unwrap();
    assert_eq!(d.subject_str, "C=JP, O=株式会社例, CN=山田太郎, UID=taro");
    assert_eq!(
        d.subject[1].attrs,
        [("O".to_string(), "株式会社例".to_string())]
    );
    assert_eq!(
        d.subject[3].attrs,
        [("UID".to_string(), "taro".to_string())]
    );
    assert!(d.self_signed);
    assert_eq!(details::common_name(&cert).as_deref(), Some("山田太郎"));
    let (ok, out) = run(&[
        "x509",
        "-in",
        crt_p.to_str().unwrap(),
        "-noout",
        "-serial",
        "-fingerprint",
        "-sha256",
    ]);
    assert!(ok);
    assert!(out.contains(&format!("serial={}", d.serial_hex)), "{out}");
    assert!(
        out.contains(&format!("sha256 Fingerprint={}", d.sha256_fingerprint)),
        "{out}"
    );
    // The O really is a BMPString in the certificate.
    let c = <x509_cert::Certificate as der::Decode>::from_der(&cert).unwrap();
    let o = &c.tbs_certificate.subject.0[1]
        .0
        .iter()
        .next()
        .unwrap()
        .value;
    assert_eq!(der::Tagged::tag(o), der::Tag::BmpString);
    assert!(o.to_der().is_ok());
}
