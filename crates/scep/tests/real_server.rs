//! Enrolment against Debian's real SCEP server (micromdm's `/usr/bin/scepserver`, package
//! `scep`), with a software RSA-2048 key standing in for the card: GetCACaps, GetCACert,
//! PKCSReq → SUCCESS with the right key, a wrong challenge → the server's FAILURE, the
//! server stopped → unreachable.
#![allow(clippy::unwrap_used)]

use der::asn1::{BitString, PrintableStringRef, SetOfVec};
use der::{Any, Decode, Encode};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use scep::caps::Digest;
use scep::message::{hash, pkcs1_scheme, Decryptor, Reply, Signer};
use scep::status::FailInfo;
use scep::{Client, Error};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};
use x509_cert::attr::Attribute;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;
use x509_cert::Certificate;
use zeroize::Zeroizing;

const SERVER: &str = "/usr/bin/scepserver";
const CHALLENGE: &str = "s3cret-Challenge";
/// PKCS#9 challengePassword.
const CHALLENGE_PASSWORD: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.7");

/// A running scepserver, killed on drop.
struct Server {
    child: Option<Child>,
    port: u16,
    _depot: tempfile::TempDir,
}

impl Server {
    fn start() -> Option<Server> {
        if !Path::new(SERVER).exists() {
            println!("SKIP: {SERVER} is missing (Debian package scep)");
            return None;
        }
        let depot = tempfile::tempdir().unwrap();
        let dir = depot.path().join("depot");
        let st = Command::new(SERVER)
            .args(["ca", "-init", "-keySize", "2048", "-depot"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "scepserver ca -init failed");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(SERVER)
            .arg("-depot")
            .arg(&dir)
            .args(["-port", &port.to_string(), "-challenge", CHALLENGE])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Server {
            child: Some(child),
            port,
            _depot: depot,
        };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "scepserver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(s)
    }
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/scep", self.port)
    }
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The card's part, in software: the key and its self-signed certificate.
struct SoftKey {
    key: RsaPrivateKey,
    cert: Certificate,
}

impl SoftKey {
    fn new(cn: &str) -> SoftKey {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let signing = SigningKey::<sha2::Sha256>::new(key.clone());
        let spki = SubjectPublicKeyInfoOwned::from_der(
            key.to_public_key().to_public_key_der().unwrap().as_bytes(),
        )
        .unwrap();
        let cert = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::from(1u32),
            Validity::from_now(Duration::from_secs(3600)).unwrap(),
            Name::from_str(&format!("CN={cn}")).unwrap(),
            spki,
            &signing,
        )
        .unwrap()
        .build::<rsa::pkcs1v15::Signature>()
        .unwrap();
        SoftKey { key, cert }
    }

    fn spki(&self) -> SubjectPublicKeyInfoOwned {
        self.cert.tbs_certificate.subject_public_key_info.clone()
    }

    /// A PKCS#10 request with a challengePassword attribute.
    fn csr(&self, cn: &str, challenge: &str) -> Vec<u8> {
        let pw = PrintableStringRef::new(challenge).unwrap();
        let mut values = SetOfVec::new();
        values.insert(Any::encode_from(&pw).unwrap()).unwrap();
        let mut attributes = SetOfVec::new();
        attributes
            .insert(Attribute {
                oid: CHALLENGE_PASSWORD,
                values,
            })
            .unwrap();
        let info = CertReqInfo {
            version: Version::V1,
            subject: Name::from_str(&format!("CN={cn}")).unwrap(),
            public_key: self.spki(),
            attributes,
        };
        let sig = SigningKey::<sha2::Sha256>::new(self.key.clone()).sign(&info.to_der().unwrap());
        CertReq {
            info,
            algorithm: AlgorithmIdentifierOwned {
                oid: const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
            signature: BitString::from_bytes(&sig.to_vec()).unwrap(),
        }
        .to_der()
        .unwrap()
    }
}

impl Signer for SoftKey {
    fn certificate(&self) -> &Certificate {
        &self.cert
    }
    fn sign(&self, digest: Digest, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.key
            .sign(pkcs1_scheme(digest), &hash(digest, data))
            .map_err(|e| Error::Key(e.to_string()))
    }
}

impl Decryptor for SoftKey {
    fn decrypt_key(&self, encrypted_key: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.key
            .decrypt(Pkcs1v15Encrypt, encrypted_key)
            .map(Zeroizing::new)
            .map_err(|e| Error::Key(e.to_string()))
    }
}

#[test]
fn enrol_succeeds_with_the_right_key() {
    let Some(server) = Server::start() else {
        return;
    };
    let client = Client::new(&server.url(), true).unwrap();
    let caps = client.get_ca_caps().unwrap();
    assert!(caps.post() && caps.has("AES"), "caps: {:?}", caps.keywords);
    let ca = client.get_ca_cert().unwrap();
    assert_eq!(ca.all.len(), 1);
    for aes256 in [false, true] {
        // A subject per round: scepserver refuses a second certificate for a DN it has
        // issued ("DN /CN=... already exists" in its log, badRequest on the wire).
        let cn = format!("scep-test-aes{}", if aes256 { 256 } else { 128 });
        let key = SoftKey::new(&cn);
        let csr = key.csr(&cn, CHALLENGE);
        let reply = client.enrol(&caps, &ca, &csr, &key, &key, aes256).unwrap();
        let Reply::Issued(certs) = reply else {
            panic!("not issued: {reply:?}");
        };
        let issued = &certs[0];
        assert_eq!(
            issued.tbs_certificate.subject_public_key_info,
            key.spki(),
            "the issued certificate is for another key"
        );
        assert_eq!(
            issued.tbs_certificate.issuer,
            ca.ca().tbs_certificate.subject
        );
        println!(
            "ok: issued {} by {} (AES-{})",
            issued.tbs_certificate.subject,
            issued.tbs_certificate.issuer,
            if aes256 { 256 } else { 128 }
        );
    }
}

#[test]
fn get_pki_operation_works_too() {
    let Some(server) = Server::start() else {
        return;
    };
    let client = Client::new(&server.url(), true).unwrap();
    // The same server, but as if it had not said POSTPKIOperation: PKIOperation by GET.
    let caps = scep::caps::Caps::parse("AES\nSHA-256");
    assert!(!caps.post());
    let ca = client.get_ca_cert().unwrap();
    let key = SoftKey::new("scep-get");
    let csr = key.csr("scep-get", CHALLENGE);
    match client.enrol(&caps, &ca, &csr, &key, &key, false).unwrap() {
        Reply::Issued(certs) => {
            assert_eq!(certs[0].tbs_certificate.subject_public_key_info, key.spki())
        }
        r => panic!("not issued: {r:?}"),
    }
}

#[test]
fn wrong_challenge_is_the_servers_failure() {
    let Some(server) = Server::start() else {
        return;
    };
    let client = Client::new(&server.url(), true).unwrap();
    let caps = client.get_ca_caps().unwrap();
    let ca = client.get_ca_cert().unwrap();
    let key = SoftKey::new("scep-bad");
    let csr = key.csr("scep-bad", "not-the-challenge");
    let r = client.enrol(&caps, &ca, &csr, &key, &key, false);
    assert!(
        matches!(r, Err(Error::Failure(FailInfo::BadRequest))),
        "got {r:?}"
    );
}

#[test]
fn stopped_server_is_unreachable() {
    let Some(mut server) = Server::start() else {
        return;
    };
    let client = Client::new(&server.url(), true).unwrap();
    let caps = client.get_ca_caps().unwrap();
    let ca = client.get_ca_cert().unwrap();
    server.stop();
    for r in [
        client.get_ca_caps().map(|_| ()),
        client.get_ca_cert().map(|_| ()),
    ] {
        assert!(matches!(r, Err(Error::Unreachable(_))), "got {r:?}");
    }
    let key = SoftKey::new("scep-gone");
    let csr = key.csr("scep-gone", CHALLENGE);
    let r = client.enrol(&caps, &ca, &csr, &key, &key, false);
    assert!(matches!(r, Err(Error::Unreachable(_))), "got {r:?}");
}

#[test]
fn the_proxy_choice_is_honoured() {
    let Some(server) = Server::start() else {
        return;
    };
    // A proxy on a port nobody listens on: going through it fails, bypassing it works.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = format!("http://127.0.0.1:{dead}");
    let via = |no_proxy_env: Option<&str>, switch: bool| {
        let env = |n: &str| match n {
            "HTTP_PROXY" => Some(proxy.clone()),
            "NO_PROXY" => no_proxy_env.map(str::to_string),
            _ => None,
        };
        Client::with_env(
            &server.url(),
            switch,
            &scep::tls::TlsOptions::default(),
            &env,
        )
        .unwrap()
        .get_ca_caps()
    };
    let r = via(None, false);
    assert!(matches!(r, Err(Error::Unreachable(_))), "got {r:?}");
    assert!(via(Some("localhost,127.0.0.1"), false).unwrap().post());
    assert!(via(None, true).unwrap().post());
}
