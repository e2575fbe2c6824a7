//! A small SCEP CA for tests (cargo feature `testca`): what Debian's scepserver cannot do,
//! a CA that holds requests for an administrator's approval.
//!
//! It serves GetCACaps, GetCACert and PKIOperation (POST, and GET with the base64 message)
//! over HTTP/1.1 on 127.0.0.1 from a thread, and reads a pkiMessage as a CA does: the
//! signature checked against the signer's certificate in the message, the envelope opened
//! with the CA's key, the CSR's own signature and challenge password checked, a RenewalReq's
//! certificate checked to be one this CA issued. With [`TestCa::hold`] on, a PKCSReq or
//! RenewalReq is answered PENDING and kept; a CertPoll for it answers PENDING until
//! [`TestCa::approve`] (then SUCCESS, the certificate encrypted to the poll's signer) or
//! [`TestCa::reject`] (FAILURE badRequest). A poll must be signed by the key that signed
//! the request and name its subject and this CA; an unknown transaction is badCertId.
//!
//! Not a CA for anything but tests: one RSA-2048 key made at start, state in memory.

use crate::attrs::{MessageType, ScepAttrs};
use crate::cacert::certs_of;
use crate::caps::{Cipher, Digest};
use crate::message::{self, Decryptor, IssuerAndSubject, Signer};
use crate::status::{FailInfo, PkiStatus};
use crate::Error;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::db::rfc5911::ID_SIGNED_DATA;
use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Decode, Encode};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use spki::SubjectPublicKeyInfoOwned;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::request::CertReq;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;
use x509_cert::Certificate;
use zeroize::Zeroizing;

/// challengePassword (PKCS#9).
const CHALLENGE_PASSWORD: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.7");

/// What happened to a held request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Waiting,
    Approved,
    Rejected,
}

struct Held {
    csr: CertReq,
    /// The SubjectPublicKeyInfo (DER) of the request's signer: a poll must be signed by it.
    signer_key: Vec<u8>,
    decision: Decision,
}

#[derive(Default)]
struct State {
    hold: bool,
    held: HashMap<String, Held>,
    seen: Vec<MessageType>,
    serial: u64,
}

struct Inner {
    key: RsaPrivateKey,
    cert: Certificate,
    challenge: Option<String>,
    valid_days: u64,
    state: Mutex<State>,
}

/// A running test CA; stopped on drop.
pub struct TestCa {
    inner: Arc<Inner>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What a request gets.
enum Outcome {
    Issued(Box<Certificate>),
    Pending,
    Failed(FailInfo),
}

fn err(what: &str) -> impl Fn(der::Error) -> Error + '_ {
    move |e| Error::NotScep(format!("{what}: {e}"))
}

impl TestCa {
    /// A CA named `CN=<cn>` listening on 127.0.0.1 (a free port), issuing certificates valid
    /// for `valid_days`, asking for `challenge` in a PKCSReq when one is given.
    pub fn start(cn: &str, challenge: Option<&str>, valid_days: u64) -> Result<TestCa, Error> {
        let key = RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
            .map_err(|e| Error::Key(e.to_string()))?;
        let spki = spki_of(&key)?;
        let name = Name::from_str(&format!("CN={cn}"))
            .map_err(|e| Error::Unsupported(format!("CA name: {e}")))?;
        let cert = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::from(1u32),
            Validity::from_now(Duration::from_secs(3650 * 86_400)).map_err(err("CA validity"))?,
            name,
            spki,
            &SigningKey::<sha2::Sha256>::new(key.clone()),
        )
        .and_then(|b| b.build::<rsa::pkcs1v15::Signature>())
        .map_err(|e| Error::Key(format!("CA certificate: {e}")))?;
        let inner = Arc::new(Inner {
            key,
            cert,
            challenge: challenge.map(str::to_string),
            valid_days,
            state: Mutex::new(State {
                serial: 0x1000,
                ..State::default()
            }),
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::Unreachable(format!("bind: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Unreachable(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let inner = inner.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(s) = conn {
                        let _ = serve(&inner, s);
                    }
                }
            })
        };
        Ok(TestCa {
            inner,
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The SCEP URL.
    pub fn url(&self) -> String {
        format!("http://{}/scep", self.addr)
    }

    /// The CA certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.inner.cert
    }

    /// The CA certificate's SHA-256 fingerprint (RFC 8894 §2.2).
    pub fn fingerprint(&self) -> String {
        crate::cacert::fingerprint(&self.inner.cert)
    }

    /// Hold requests for approval (PENDING) from now on, or issue at once.
    pub fn hold(&self, on: bool) {
        self.inner.state().hold = on;
    }

    /// The transaction ids of the requests held and not yet decided.
    pub fn waiting(&self) -> Vec<String> {
        let st = self.inner.state();
        let mut v: Vec<String> = st
            .held
            .iter()
            .filter(|(_, h)| h.decision == Decision::Waiting)
            .map(|(t, _)| t.clone())
            .collect();
        v.sort();
        v
    }

    /// Approve the held request `txid`: its next poll gets the certificate. False if no
    /// such request is held.
    pub fn approve(&self, txid: &str) -> bool {
        self.decide(txid, Decision::Approved)
    }

    /// Reject the held request `txid`: its next poll gets FAILURE badRequest.
    pub fn reject(&self, txid: &str) -> bool {
        self.decide(txid, Decision::Rejected)
    }

    fn decide(&self, txid: &str, d: Decision) -> bool {
        match self.inner.state().held.get_mut(txid) {
            Some(h) => {
                h.decision = d;
                true
            }
            None => false,
        }
    }

    /// The messageTypes received, in order ("19" PKCSReq, "17" RenewalReq, "20" CertPoll).
    pub fn seen(&self) -> Vec<&'static str> {
        self.inner.state().seen.iter().map(|m| m.value()).collect()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn spki_of(key: &RsaPrivateKey) -> Result<SubjectPublicKeyInfoOwned, Error> {
    let der = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| Error::Key(e.to_string()))?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(err("CA key"))
}

impl Signer for Inner {
    fn certificate(&self) -> &Certificate {
        &self.cert
    }
    fn sign(&self, digest: Digest, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.key
            .sign(message::pkcs1_scheme(digest), &message::hash(digest, data))
            .map_err(|e| Error::Key(e.to_string()))
    }
}

impl Decryptor for Inner {
    fn decrypt_key(&self, k: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.key
            .decrypt(Pkcs1v15Encrypt, k)
            .map(Zeroizing::new)
            .map_err(|e| Error::Key(e.to_string()))
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answer one pkiMessage with a CertRep; a message that cannot be read at all (no valid
    /// signature, not SCEP) is an error (HTTP 400), as no CertRep can answer it.
    fn pki_operation(&self, der: &[u8]) -> Result<Vec<u8>, Error> {
        let ci = ContentInfo::from_der(der).map_err(err("pkiMessage"))?;
        if ci.content_type != ID_SIGNED_DATA {
            return Err(Error::NotScep("the pkiMessage is not signedData".into()));
        }
        let sd: SignedData = ci.content.decode_as().map_err(err("signedData"))?;
        let [si] = sd.signer_infos.0.as_slice() else {
            return Err(Error::NotScep("not one signer".into()));
        };
        let certs = certs_of(sd.certificates.as_ref());
        let signer = match &si.sid {
            SignerIdentifier::IssuerAndSerialNumber(id) => {
                certs.iter().find(|c| message::same_cert_id(c, id))
            }
            SignerIdentifier::SubjectKeyIdentifier(_) => None,
        }
        .ok_or_else(|| Error::NotScep("the signer's certificate is not in the message".into()))?;
        let content = sd
            .encap_content_info
            .econtent
            .as_ref()
            .ok_or_else(|| Error::NotScep("no content".into()))?
            .decode_as::<OctetString>()
            .map_err(err("content"))?;
        message::verify_signer_info(si, signer, Some(content.as_bytes()))?;
        let attrs = ScepAttrs::from_attributes(si.signed_attrs.iter().flat_map(|s| s.iter()))?;
        let kind = attrs
            .message_type
            .ok_or_else(|| Error::NotScep("no messageType".into()))?;
        let txid = attrs
            .transaction_id
            .clone()
            .ok_or_else(|| Error::NotScep("no transactionID".into()))?;
        self.state().seen.push(kind);
        let outcome = match message::decrypt(content.as_bytes(), self) {
            Err(_) => Outcome::Failed(FailInfo::BadMessageCheck),
            Ok(inner) => match kind {
                MessageType::PkcsReq | MessageType::RenewalReq => {
                    self.on_request(kind, &inner, signer, &txid)?
                }
                MessageType::CertPoll => self.on_poll(&inner, signer, &txid)?,
                MessageType::CertRep => Outcome::Failed(FailInfo::BadRequest),
            },
        };
        self.cert_rep(&attrs, signer, outcome)
    }

    fn on_request(
        &self,
        kind: MessageType,
        csr_der: &[u8],
        signer: &Certificate,
        txid: &str,
    ) -> Result<Outcome, Error> {
        let Ok(csr) = CertReq::from_der(csr_der) else {
            return Ok(Outcome::Failed(FailInfo::BadRequest));
        };
        if !csr_signature_ok(&csr) {
            return Ok(Outcome::Failed(FailInfo::BadMessageCheck));
        }
        match kind {
            MessageType::RenewalReq => {
                // Signed by a certificate of this CA (and its key, checked above).
                if !self.issued_by_me(signer) {
                    return Ok(Outcome::Failed(FailInfo::BadMessageCheck));
                }
            }
            _ => {
                if let Some(want) = &self.challenge {
                    if challenge_of(&csr).as_deref().map(|c| c.as_str()) != Some(want.as_str()) {
                        return Ok(Outcome::Failed(FailInfo::BadRequest));
                    }
                }
            }
        }
        let mut st = self.state();
        if st.hold {
            let signer_key = signer
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(err("signer key"))?;
            st.held.insert(
                txid.to_string(),
                Held {
                    csr,
                    signer_key,
                    decision: Decision::Waiting,
                },
            );
            return Ok(Outcome::Pending);
        }
        drop(st);
        self.issue(&csr).map(|c| Outcome::Issued(Box::new(c)))
    }

    fn on_poll(&self, body: &[u8], signer: &Certificate, txid: &str) -> Result<Outcome, Error> {
        let Ok(ias) = IssuerAndSubject::from_der(body) else {
            return Ok(Outcome::Failed(FailInfo::BadRequest));
        };
        let signer_key = signer
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(err("signer key"))?;
        let mut st = self.state();
        let Some(h) = st.held.get(txid) else {
            return Ok(Outcome::Failed(FailInfo::BadCertId));
        };
        if h.signer_key != signer_key
            || ias.subject != h.csr.info.subject
            || ias.issuer != self.cert.tbs_certificate.subject
        {
            return Ok(Outcome::Failed(FailInfo::BadRequest));
        }
        match h.decision {
            Decision::Waiting => Ok(Outcome::Pending),
            Decision::Rejected => {
                st.held.remove(txid);
                Ok(Outcome::Failed(FailInfo::BadRequest))
            }
            Decision::Approved => {
                let Some(h) = st.held.remove(txid) else {
                    return Ok(Outcome::Failed(FailInfo::BadCertId));
                };
                drop(st);
                self.issue(&h.csr).map(|c| Outcome::Issued(Box::new(c)))
            }
        }
    }

    fn issued_by_me(&self, c: &Certificate) -> bool {
        if c.tbs_certificate.issuer != self.cert.tbs_certificate.subject {
            return false;
        }
        let (Ok(tbs), Ok(key)) = (c.tbs_certificate.to_der(), message::rsa_key(&self.cert)) else {
            return false;
        };
        key.verify(
            message::pkcs1_scheme(Digest::Sha256),
            &message::hash(Digest::Sha256, &tbs),
            c.signature.raw_bytes(),
        )
        .is_ok()
    }

    fn issue(&self, csr: &CertReq) -> Result<Certificate, Error> {
        let serial = {
            let mut st = self.state();
            st.serial += 1;
            st.serial
        };
        CertificateBuilder::new(
            Profile::Leaf {
                issuer: self.cert.tbs_certificate.subject.clone(),
                enable_key_agreement: false,
                enable_key_encipherment: true,
            },
            SerialNumber::from(serial),
            Validity::from_now(Duration::from_secs(self.valid_days * 86_400))
                .map_err(err("validity"))?,
            csr.info.subject.clone(),
            csr.info.public_key.clone(),
            &SigningKey::<sha2::Sha256>::new(self.key.clone()),
        )
        .and_then(|b| b.build::<rsa::pkcs1v15::Signature>())
        .map_err(|e| Error::Key(format!("issuing: {e}")))
    }

    /// The CertRep for `req` (signed by the CA; on SUCCESS the issued certificate and the
    /// CA's in a certs-only SignedData, enveloped to the request's signer).
    fn cert_rep(
        &self,
        req: &ScepAttrs,
        requester: &Certificate,
        outcome: Outcome,
    ) -> Result<Vec<u8>, Error> {
        let mut nonce = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
        let (status, fail_info) = match &outcome {
            Outcome::Issued(_) => (PkiStatus::Success, None),
            Outcome::Pending => (PkiStatus::Pending, None),
            Outcome::Failed(f) => (PkiStatus::Failure, Some(*f)),
        };
        let attrs = ScepAttrs {
            message_type: Some(MessageType::CertRep),
            status: Some(status),
            fail_info,
            transaction_id: req.transaction_id.clone(),
            sender_nonce: Some(nonce.to_vec()),
            recipient_nonce: req.sender_nonce.clone(),
        };
        let content = match outcome {
            Outcome::Issued(c) => {
                let degenerate = message::certs_only([*c, self.cert.clone()])?;
                message::envelope(
                    &degenerate,
                    requester,
                    Cipher::Aes256Cbc,
                    &mut rand_core::OsRng,
                )?
            }
            _ => Vec::new(),
        };
        message::sign(&content, &attrs, Digest::Sha256, self)
    }
}

/// The CSR's signature (SHA-256 with RSA, what this project sends) verifies with its key.
fn csr_signature_ok(csr: &CertReq) -> bool {
    if csr.algorithm.oid != const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION {
        return false;
    }
    let Ok(spki) = csr.info.public_key.to_der() else {
        return false;
    };
    let Ok(key) = <rsa::RsaPublicKey as rsa::pkcs8::DecodePublicKey>::from_public_key_der(&spki)
    else {
        return false;
    };
    let Ok(tbs) = csr.info.to_der() else {
        return false;
    };
    key.verify(
        message::pkcs1_scheme(Digest::Sha256),
        &message::hash(Digest::Sha256, &tbs),
        csr.signature.raw_bytes(),
    )
    .is_ok()
}

/// The challengePassword of a CSR (PrintableString or UTF8String).
fn challenge_of(csr: &CertReq) -> Option<Zeroizing<String>> {
    let a = csr
        .info
        .attributes
        .iter()
        .find(|a| a.oid == CHALLENGE_PASSWORD)?;
    let v = a.values.iter().next()?;
    if let Ok(p) = v.decode_as::<der::asn1::PrintableStringRef<'_>>() {
        return Some(Zeroizing::new(p.as_str().to_string()));
    }
    v.decode_as::<String>().ok().map(Zeroizing::new)
}

/// `%XX` and `+` decoded.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// One HTTP exchange on `s` (the connection is closed after it).
fn serve(ca: &Inner, s: TcpStream) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; len.min(1 << 20)];
    r.read_exact(&mut body)?;
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode(v))
    };
    let op = param("operation").map(|v| String::from_utf8_lossy(&v).into_owned());
    let (code, ctype, out): (u16, &str, Vec<u8>) = match op.as_deref() {
        Some("GetCACaps") => (
            200,
            "text/plain",
            b"POSTPKIOperation\nRenewal\nSHA-256\nAES\nSCEPStandard\n".to_vec(),
        ),
        Some("GetCACert") => match ca.cert.to_der() {
            Ok(d) => (200, "application/x-x509-ca-cert", d),
            Err(e) => (500, "text/plain", e.to_string().into_bytes()),
        },
        Some("PKIOperation") => {
            let msg = if method == "POST" {
                Some(body)
            } else {
                use base64ct::{Base64, Encoding};
                param("message").and_then(|m| Base64::decode_vec(&String::from_utf8_lossy(&m)).ok())
            };
            match msg.map(|m| ca.pki_operation(&m)) {
                Some(Ok(rep)) => (200, "application/x-pki-message", rep),
                Some(Err(e)) => (400, "text/plain", e.to_string().into_bytes()),
                None => (400, "text/plain", b"no message".to_vec()),
            }
        }
        _ => (404, "text/plain", b"unknown operation".to_vec()),
    };
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let mut w = s;
    write!(
        w,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        out.len()
    )?;
    w.write_all(&out)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Reply;
    use der::asn1::SetOfVec;
    use der::Any;
    use x509_cert::request::{CertReqInfo, Version};

    /// A requester with a software key and a self-signed certificate.
    struct Me(Inner);

    fn requester(cn: &str) -> Me {
        let key = RsaPrivateKey::new(&mut rand_core::OsRng, 1024).unwrap();
        let cert = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::from(7u32),
            Validity::from_now(Duration::from_secs(600)).unwrap(),
            Name::from_str(&format!("CN={cn}")).unwrap(),
            spki_of(&key).unwrap(),
            &SigningKey::<sha2::Sha256>::new(key.clone()),
        )
        .unwrap()
        .build::<rsa::pkcs1v15::Signature>()
        .unwrap();
        Me(Inner {
            key,
            cert,
            challenge: None,
            valid_days: 1,
            state: Mutex::default(),
        })
    }

    fn csr(me: &Me, challenge: &str) -> Vec<u8> {
        let mut attributes = SetOfVec::new();
        let mut values = SetOfVec::new();
        values
            .insert(
                Any::encode_from(&der::asn1::PrintableStringRef::new(challenge).unwrap()).unwrap(),
            )
            .unwrap();
        attributes
            .insert(x509_cert::attr::Attribute {
                oid: CHALLENGE_PASSWORD,
                values,
            })
            .unwrap();
        let info = CertReqInfo {
            version: Version::V1,
            subject: me.0.cert.tbs_certificate.subject.clone(),
            public_key: me.0.cert.tbs_certificate.subject_public_key_info.clone(),
            attributes,
        };
        let sig = me.0.sign(Digest::Sha256, &info.to_der().unwrap()).unwrap();
        CertReq {
            info,
            algorithm: spki::AlgorithmIdentifierOwned {
                oid: const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
            signature: der::asn1::BitString::from_bytes(&sig).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn held_polled_approved_and_rejected_over_http() {
        let ca = TestCa::start("Test CA", Some("pw"), 30).unwrap();
        let me = requester("Taro");
        let c = crate::Client::new(&ca.url(), true).unwrap();
        let caps = c.get_ca_caps().unwrap();
        assert!(caps.renewal() && caps.post());
        let certs = c.get_ca_cert().unwrap();
        certs.check_fingerprint(&ca.fingerprint()).unwrap();
        let subject = me.0.cert.tbs_certificate.subject.clone();
        // Wrong challenge: refused.
        let r = c.enrol(&caps, &certs, &csr(&me, "no"), &me.0, &me.0, true);
        assert!(
            matches!(r, Err(Error::Failure(FailInfo::BadRequest))),
            "{r:?}"
        );
        // Held, polled (still pending), approved, polled (issued).
        ca.hold(true);
        let txid = match c.enrol(&caps, &certs, &csr(&me, "pw"), &me.0, &me.0, true) {
            Ok(Reply::Pending { transaction_id }) => transaction_id,
            r => panic!("{r:?}"),
        };
        assert_eq!(ca.waiting(), vec![txid.clone()]);
        let poll = || c.poll(&caps, &certs, &txid, &subject, &me.0, &me.0, true);
        assert!(matches!(poll(), Ok(Reply::Pending { .. })));
        // A poll signed by another key is refused.
        let other = requester("Taro");
        let r = c.poll(&caps, &certs, &txid, &subject, &other.0, &other.0, true);
        assert!(
            matches!(r, Err(Error::Failure(FailInfo::BadRequest))),
            "{r:?}"
        );
        assert!(ca.approve(&txid));
        match poll() {
            Ok(Reply::Issued(v)) => {
                assert_eq!(v[0].tbs_certificate.subject, subject);
                assert_eq!(
                    v[0].tbs_certificate.issuer,
                    ca.certificate().tbs_certificate.subject
                );
            }
            r => panic!("{r:?}"),
        }
        // Done: the transaction is gone.
        assert!(matches!(poll(), Err(Error::Failure(FailInfo::BadCertId))));
        // Rejected.
        let txid2 = match c.enrol(&caps, &certs, &csr(&me, "pw"), &me.0, &me.0, true) {
            Ok(Reply::Pending { transaction_id }) => transaction_id,
            r => panic!("{r:?}"),
        };
        assert!(ca.reject(&txid2));
        let r = c.poll(&caps, &certs, &txid2, &subject, &me.0, &me.0, true);
        assert!(
            matches!(r, Err(Error::Failure(FailInfo::BadRequest))),
            "{r:?}"
        );
        assert_eq!(ca.seen(), ["19", "19", "20", "20", "20", "20", "19", "20"]);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb%2fc%3D+x"), b"a+b/c= x");
        assert_eq!(percent_decode("50%"), b"50%");
        assert_eq!(percent_decode("%zz"), b"%zz");
    }
}
