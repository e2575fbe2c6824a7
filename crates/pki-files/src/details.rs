//! Human-readable facts about one X.509 certificate, for listing and confirmation screens.

use const_oid::db::rfc5912;
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::time::Time;
use x509_cert::Certificate;

pub use crate::Error;
use crate::{hex_colon, names};

/// One relative distinguished name: usually one attribute, several for a multi-valued RDN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rdn {
    /// (short name such as CN, O, OU, C, ST, L, UID, emailAddress, serialNumber, DC — or the
    /// dotted OID of an attribute type without a short name; decoded value).
    pub attrs: Vec<(String, String)>,
}

/// Facts about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertDetails {
    /// Subject RDNs in encoded order (most significant first).
    pub subject: Vec<Rdn>,
    /// Issuer RDNs in encoded order.
    pub issuer: Vec<Rdn>,
    /// Subject as one line, most significant first as OpenSSL prints it:
    /// `C=JP, O=Example, CN=Taro, UID=taro` (special characters escaped with `\`).
    pub subject_str: String,
    /// Issuer as one line, like `subject_str`.
    pub issuer_str: String,
    /// Serial number as upper-case hex without separators, exactly what
    /// `openssl x509 -noout -serial` prints after `serial=` (no sign byte; "00" for zero).
    pub serial_hex: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// Start of validity as `2026-12-03 12:00:00 UTC`.
    pub not_before_str: String,
    /// End of validity as `2026-12-03 12:00:00 UTC`.
    pub not_after_str: String,
    /// SHA-256 of the DER, `AB:CD:...` (as `openssl x509 -fingerprint -sha256`).
    pub sha256_fingerprint: String,
    /// SHA-1 of the DER, `AB:CD:...`.
    pub sha1_fingerprint: String,
    /// Key usage bits by their RFC 5280 names ("digitalSignature", "nonRepudiation", ...).
    pub key_usage: Vec<String>,
    /// Extended key usages by short name ("clientAuth", ...) or dotted OID.
    pub extended_key_usage: Vec<String>,
    /// Basic constraints say CA.
    pub is_ca: bool,
    /// "RSA 2048", "EC P-256", ...
    pub key_type: String,
    /// DER of the SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// Subject key identifier extension, if present.
    pub subject_key_id: Option<Vec<u8>>,
    /// Subject equals issuer (and, where both identifiers are present, the authority key
    /// identifier equals the subject key identifier). The signature is not checked.
    pub self_signed: bool,
}

fn time_unix(t: &Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

fn time_str(t: &Time) -> String {
    let d = t.to_date_time();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minutes(),
        d.seconds()
    )
}

/// Upper-case hex of an INTEGER's magnitude, as OpenSSL prints serials.
pub(crate) fn serial_hex(bytes: &[u8]) -> String {
    let mut b = bytes;
    while b.len() > 1 && b[0] == 0 {
        b = &b[1..];
    }
    if b.is_empty() {
        return "00".to_string();
    }
    b.iter().map(|x| format!("{x:02X}")).collect()
}

const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Name of an elliptic curve OID ("P-256", "P-384", ... else the registered or dotted name).
pub(crate) fn curve_name(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.10045.3.1.7" => "P-256".into(),
        "1.3.132.0.34" => "P-384".into(),
        "1.3.132.0.35" => "P-521".into(),
        "1.3.132.0.10" => "secp256k1".into(),
        _ => const_oid::db::DB
            .by_oid(oid)
            .map_or_else(|| oid.to_string(), str::to_string),
    }
}

/// "RSA 2048", "EC P-256", "Ed25519", or the algorithm OID, for a SubjectPublicKeyInfo.
pub(crate) fn key_type(spki: &spki::SubjectPublicKeyInfoOwned) -> String {
    let alg = spki.algorithm.oid;
    if alg == RSA_ENCRYPTION {
        let bits = spki
            .subject_public_key
            .as_bytes()
            .and_then(|b| pkcs1::RsaPublicKey::from_der(b).ok())
            .map(|k| bit_len(k.modulus.as_bytes()));
        return match bits {
            Some(b) => format!("RSA {b}"),
            None => "RSA (unreadable key)".into(),
        };
    }
    if alg == EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        return match curve {
            Some(c) => format!("EC {}", curve_name(&c)),
            None => "EC (explicit curve)".into(),
        };
    }
    match alg.to_string().as_str() {
        "1.3.101.112" => "Ed25519".into(),
        "1.3.101.113" => "Ed448".into(),
        other => const_oid::db::DB
            .by_oid(&alg)
            .map_or_else(|| other.to_string(), str::to_string),
    }
}

/// Bit length of a big-endian unsigned integer.
pub(crate) fn bit_len(b: &[u8]) -> usize {
    let mut s = b;
    while let Some((0, rest)) = s.split_first() {
        s = rest;
    }
    match s.first() {
        Some(&f) => s.len() * 8 - f.leading_zeros() as usize,
        None => 0,
    }
}

fn key_usage_names(ku: &KeyUsage) -> Vec<String> {
    let all = [
        (KeyUsages::DigitalSignature, "digitalSignature"),
        (KeyUsages::NonRepudiation, "nonRepudiation"),
        (KeyUsages::KeyEncipherment, "keyEncipherment"),
        (KeyUsages::DataEncipherment, "dataEncipherment"),
        (KeyUsages::KeyAgreement, "keyAgreement"),
        (KeyUsages::KeyCertSign, "keyCertSign"),
        (KeyUsages::CRLSign, "cRLSign"),
        (KeyUsages::EncipherOnly, "encipherOnly"),
        (KeyUsages::DecipherOnly, "decipherOnly"),
    ];
    all.iter()
        .filter(|(f, _)| ku.0.contains(*f))
        .map(|(_, n)| (*n).to_string())
        .collect()
}

fn eku_name(oid: &ObjectIdentifier) -> String {
    let known = [
        (rfc5912::ID_KP_SERVER_AUTH, "serverAuth"),
        (rfc5912::ID_KP_CLIENT_AUTH, "clientAuth"),
        (rfc5912::ID_KP_CODE_SIGNING, "codeSigning"),
        (rfc5912::ID_KP_EMAIL_PROTECTION, "emailProtection"),
        (rfc5912::ID_KP_TIME_STAMPING, "timeStamping"),
        (rfc5912::ID_KP_OCSP_SIGNING, "OCSPSigning"),
        (
            ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.20.2.2"),
            "msSmartcardLogin",
        ),
        (
            ObjectIdentifier::new_unwrap("1.3.6.1.5.2.3.4"),
            "pkInitClientAuth",
        ),
        (
            ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.3.12"),
            "msDocumentSigning",
        ),
        (
            ObjectIdentifier::new_unwrap("2.5.29.37.0"),
            "anyExtendedKeyUsage",
        ),
    ];
    known
        .iter()
        .find(|(o, _)| o == oid)
        .map_or_else(|| oid.to_string(), |(_, n)| (*n).to_string())
}

/// Details of a DER-encoded certificate.
pub fn cert_details(der: &[u8]) -> Result<CertDetails, Error> {
    let cert = Certificate::from_der(der)
        .map_err(|e| Error::Format(format!("not an X.509 certificate: {e}")))?;
    let tbs = &cert.tbs_certificate;
    let subject = names::rdns(&tbs.subject);
    let issuer = names::rdns(&tbs.issuer);
    let bad_ext = |e: der::Error| Error::Format(format!("bad certificate extension: {e}"));
    let key_usage = tbs
        .get::<KeyUsage>()
        .map_err(bad_ext)?
        .map(|(_, ku)| key_usage_names(&ku))
        .unwrap_or_default();
    let extended_key_usage = tbs
        .get::<ExtendedKeyUsage>()
        .map_err(bad_ext)?
        .map(|(_, eku)| eku.0.iter().map(eku_name).collect())
        .unwrap_or_default();
    let is_ca = tbs
        .get::<BasicConstraints>()
        .map_err(bad_ext)?
        .is_some_and(|(_, bc)| bc.ca);
    let subject_key_id = tbs
        .get::<SubjectKeyIdentifier>()
        .map_err(bad_ext)?
        .map(|(_, s)| s.0.as_bytes().to_vec());
    let aki = tbs
        .get::<AuthorityKeyIdentifier>()
        .map_err(bad_ext)?
        .and_then(|(_, a)| a.key_identifier.map(|k| k.as_bytes().to_vec()));
    let same_name = tbs.subject.to_der()? == tbs.issuer.to_der()?;
    let self_signed = same_name
        && match (&subject_key_id, &aki) {
            (Some(s), Some(a)) => s == a,
            _ => true,
        };
    Ok(CertDetails {
        subject_str: names::one_line(&subject),
        issuer_str: names::one_line(&issuer),
        subject,
        issuer,
        serial_hex: serial_hex(tbs.serial_number.as_bytes()),
        not_before: time_unix(&tbs.validity.not_before),
        not_after: time_unix(&tbs.validity.not_after),
        not_before_str: time_str(&tbs.validity.not_before),
        not_after_str: time_str(&tbs.validity.not_after),
        sha256_fingerprint: hex_colon(&Sha256::digest(der)),
        sha1_fingerprint: hex_colon(&Sha1::digest(der)),
        key_usage,
        extended_key_usage,
        is_ca,
        key_type: key_type(&tbs.subject_public_key_info),
        spki_der: tbs.subject_public_key_info.to_der()?,
        subject_key_id,
        self_signed,
    })
}

/// The (most specific, i.e. last) common name of a certificate's subject, if it has one.
pub fn common_name(der: &[u8]) -> Option<String> {
    let cert = Certificate::from_der(der).ok()?;
    name_common_name(&cert.tbs_certificate.subject)
}

/// The (most specific, i.e. last) common name of a distinguished name, if it has one.
pub fn name_common_name(name: &x509_cert::name::Name) -> Option<String> {
    names::rdns(name)
        .into_iter()
        .flat_map(|r| r.attrs)
        .filter(|(k, _)| k == "CN")
        .map(|(_, v)| v)
        .next_back()
}
