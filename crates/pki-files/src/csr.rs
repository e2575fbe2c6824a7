//! PKCS#10 certificate requests: parse an RFC 4514 subject string, build a request whose
//! signature comes from a caller-supplied closure (the key lives on a card), and PEM output.

use const_oid::ObjectIdentifier;
use der::asn1::{BitString, SetOfVec};
use der::{Any, Decode, Encode, Tag};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::{Attribute, AttributeTypeAndValue};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::request::{CertReq, CertReqInfo, Version};

use crate::names;
pub use crate::Error;

/// Signature algorithm of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// sha256WithRSAEncryption (RSASSA-PKCS1-v1_5 with SHA-256).
    RsaPkcs1Sha256,
    /// ecdsa-with-SHA256.
    EcdsaSha256,
}

const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// Split on an unescaped separator character.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if escaped {
        cur.push('\\');
    }
    parts.push(cur);
    parts
}

/// Undo RFC 4514 escaping (`\,` and `\XX` hex pairs forming UTF-8).
fn unescape(v: &str) -> Result<String, Error> {
    let mut bytes = Vec::new();
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some(n) = chars.next() else {
            return Err(Error::Format(format!("dangling \\ in \"{v}\"")));
        };
        if n.is_ascii_hexdigit() {
            let Some(m) = chars.next().filter(char::is_ascii_hexdigit) else {
                return Err(Error::Format(format!("bad \\XX escape in \"{v}\"")));
            };
            let hex = format!("{n}{m}");
            bytes.push(
                u8::from_str_radix(&hex, 16)
                    .map_err(|_| Error::Format(format!("bad \\XX escape in \"{v}\"")))?,
            );
        } else {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(n.encode_utf8(&mut buf).as_bytes());
        }
    }
    String::from_utf8(bytes).map_err(|_| Error::Format(format!("escapes in \"{v}\" are not UTF-8")))
}

fn is_printable(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c))
}

fn encode_value(oid: &ObjectIdentifier, name: &str, value: &str) -> Result<Any, Error> {
    let dotted = oid.to_string();
    let bad = |why: &str| Error::Format(format!("{name}={value}: {why}"));
    let (tag, bytes) = match dotted.as_str() {
        // countryName: PrintableString of two letters.
        "2.5.4.6" => {
            if value.len() != 2 || !value.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(bad("a country is two letters"));
            }
            (Tag::PrintableString, value.as_bytes().to_vec())
        }
        // serialNumber, dnQualifier: PrintableString.
        "2.5.4.5" | "2.5.4.46" => {
            if !is_printable(value) {
                return Err(bad("only PrintableString characters are allowed"));
            }
            (Tag::PrintableString, value.as_bytes().to_vec())
        }
        // emailAddress, domainComponent: IA5String.
        "1.2.840.113549.1.9.1" | "0.9.2342.19200300.100.1.25" => {
            if !value.is_ascii() {
                return Err(bad("only ASCII is allowed"));
            }
            (Tag::Ia5String, value.as_bytes().to_vec())
        }
        _ => (Tag::Utf8String, value.as_bytes().to_vec()),
    };
    Any::new(tag, bytes).map_err(|e| bad(&e.to_string()))
}

fn hex_value(name: &str, hex: &str) -> Result<Any, Error> {
    let bad = || Error::Format(format!("{name}=#{hex}: bad hex DER value"));
    let bytes = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [a, b] => std::str::from_utf8(&[*a, *b])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    Any::from_der(&bytes).map_err(|_| bad())
}

/// Parse an RFC 4514 string such as `CN=Taro Yamada,O=Example,UID=taro,C=JP` into a Name.
///
/// As in RFC 4514 the string lists the most specific RDN first, so the encoded name starts
/// with the last one (C=JP). `+` joins attributes of a multi-valued RDN; `\,`, `\+`, `\\`,
/// `\"` and `\XX` escapes are understood; `type=#hex` gives a raw DER value. Attribute types:
/// the short names CN, SN, serialNumber, C, L, ST, street, O, OU, title, GN, initials, UID,
/// DC, emailAddress (also `E`), and more (see [`crate::details::Rdn`]), or a dotted OID.
/// Values are UTF8String (so Japanese text is fine), except C, serialNumber and dnQualifier
/// (PrintableString) and emailAddress and DC (IA5String), as OpenSSL encodes them by default.
pub fn parse_subject(s: &str) -> Result<Name, Error> {
    if s.trim().is_empty() {
        return Err(Error::Format("empty subject".into()));
    }
    let mut rdns = Vec::new();
    for rdn_text in split_unescaped(s, ',') {
        let mut atvs = Vec::new();
        for atv_text in split_unescaped(&rdn_text, '+') {
            let Some((name, raw)) = atv_text.split_once('=') else {
                return Err(Error::Format(format!(
                    "\"{}\" is not TYPE=value",
                    atv_text.trim()
                )));
            };
            let name = name.trim();
            let oid = names::oid_of(name)
                .ok_or_else(|| Error::Format(format!("unknown attribute type \"{name}\"")))?;
            let raw = raw.trim_start();
            // Trailing spaces are insignificant unless escaped.
            let raw = if raw.ends_with("\\ ") {
                raw
            } else {
                raw.trim_end()
            };
            let value = if let Some(hex) = raw.strip_prefix('#') {
                hex_value(name, hex)?
            } else {
                let v = unescape(raw)?;
                if v.is_empty() {
                    return Err(Error::Format(format!("{name} has an empty value")));
                }
                encode_value(&oid, name, &v)?
            };
            atvs.push(AttributeTypeAndValue { oid, value });
        }
        let set = SetOfVec::try_from(atvs)
            .map_err(|e| Error::Format(format!("RDN \"{}\": {e}", rdn_text.trim())))?;
        rdns.push(RelativeDistinguishedName(set));
    }
    rdns.reverse();
    Ok(RdnSequence(rdns))
}

fn verify(
    spki: &SubjectPublicKeyInfoOwned,
    alg: SigAlg,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    let spki_der = spki.to_der().map_err(|e| e.to_string())?;
    match alg {
        SigAlg::RsaPkcs1Sha256 => {
            use rsa::pkcs8::DecodePublicKey;
            use rsa::signature::Verifier;
            let key =
                rsa::RsaPublicKey::from_public_key_der(&spki_der).map_err(|e| e.to_string())?;
            let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key);
            let s = rsa::pkcs1v15::Signature::try_from(sig).map_err(|e| e.to_string())?;
            vk.verify(msg, &s)
                .map_err(|_| "the RSA signature does not verify".to_string())
        }
        SigAlg::EcdsaSha256 => {
            use p256::ecdsa::signature::Verifier;
            use p256::pkcs8::DecodePublicKey;
            let vk = p256::ecdsa::VerifyingKey::from_public_key_der(&spki_der)
                .map_err(|e| format!("not a P-256 public key: {e}"))?;
            let s = p256::ecdsa::Signature::from_der(sig)
                .map_err(|_| "the ECDSA signature is not a DER Ecdsa-Sig-Value".to_string())?;
            vk.verify(msg, &s)
                .map_err(|_| "the ECDSA signature does not verify".to_string())
        }
    }
}

/// The signature algorithm identifier for `alg`, checked against the key's algorithm.
fn algorithms(
    alg: SigAlg,
    public_key: &SubjectPublicKeyInfoOwned,
) -> Result<AlgorithmIdentifierOwned, Error> {
    let (key_oid, sig_alg) = match alg {
        SigAlg::RsaPkcs1Sha256 => (
            RSA_ENCRYPTION,
            AlgorithmIdentifierOwned {
                oid: SHA256_WITH_RSA,
                parameters: Some(Any::null()),
            },
        ),
        SigAlg::EcdsaSha256 => (
            EC_PUBLIC_KEY,
            AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
        ),
    };
    if public_key.algorithm.oid != key_oid {
        return Err(Error::Unsupported(format!(
            "{alg:?} with a {} key",
            crate::details::key_type(public_key)
        )));
    }
    Ok(sig_alg)
}

/// A self-signed X.509 v3 certificate for `subject` and the key `spki_der`, valid from
/// `not_before` to `not_after` (seconds since the Unix epoch), signed through `sign` (as in
/// [`build_csr`]) and verified before it is returned. SCEP (RFC 8894 §2.3) has a requester
/// without a certificate identify itself with one.
pub fn build_self_signed(
    subject: &Name,
    spki_der: &[u8],
    alg: SigAlg,
    serial: &[u8],
    not_before: i64,
    not_after: i64,
    sign: &mut SignFn<'_>,
) -> Result<Vec<u8>, Error> {
    use x509_cert::certificate::{Certificate, TbsCertificate, Version as CertVersion};
    use x509_cert::time::{Time, Validity};
    let public_key = SubjectPublicKeyInfoOwned::from_der(spki_der)
        .map_err(|e| Error::Format(format!("not a SubjectPublicKeyInfo: {e}")))?;
    let signature = algorithms(alg, &public_key)?;
    let time = |t: i64| -> Result<Time, Error> {
        let d = std::time::Duration::from_secs(u64::try_from(t).unwrap_or(0));
        Ok(Time::UtcTime(der::asn1::UtcTime::from_unix_duration(d)?))
    };
    let tbs = TbsCertificate {
        version: CertVersion::V3,
        serial_number: x509_cert::serial_number::SerialNumber::new(serial)?,
        signature: signature.clone(),
        issuer: subject.clone(),
        validity: Validity {
            not_before: time(not_before)?,
            not_after: time(not_after)?,
        },
        subject: subject.clone(),
        subject_public_key_info: public_key,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: None,
    };
    let der = tbs.to_der()?;
    let sig = sign(&der).map_err(Error::Signature)?;
    verify(&tbs.subject_public_key_info, alg, &der, &sig).map_err(Error::Signature)?;
    Ok(Certificate {
        tbs_certificate: tbs,
        signature_algorithm: signature,
        signature: BitString::from_bytes(&sig)?,
    }
    .to_der()?)
}

/// The signing callback of [`build_csr`]: DER of the CertificationRequestInfo in, signature
/// out, or an error message (e.g. "card removed").
pub type SignFn<'a> = dyn FnMut(&[u8]) -> Result<Vec<u8>, String> + 'a;

/// Build a DER PKCS#10 request for the public key `spki_der` (a SubjectPublicKeyInfo).
///
/// `sign` receives the DER of the CertificationRequestInfo and returns the signature: RSA
/// PKCS#1 v1.5 signature bytes (the card hashes with SHA-256 and pads), or ECDSA as a DER
/// Ecdsa-Sig-Value. The signature is verified against `spki_der` before the request is
/// returned, so a card that signed with another key is caught here.
pub fn build_csr(
    subject: &Name,
    spki_der: &[u8],
    alg: SigAlg,
    sign: &mut SignFn<'_>,
) -> Result<Vec<u8>, Error> {
    build_csr_with(subject, spki_der, alg, Vec::new(), sign)
}

/// PKCS#9 challengePassword (RFC 2985 §5.4.1).
pub const CHALLENGE_PASSWORD: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.7");
/// PKCS#9 extensionRequest (RFC 2985 §5.4.2).
pub const EXTENSION_REQUEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");
/// subjectAltName (RFC 5280 §4.2.1.6).
const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

/// The challengePassword attribute of a request (a SCEP CA's one-time password): a
/// PrintableString when the password fits that alphabet, else a UTF8String.
pub fn challenge_password(pw: &str) -> Result<Attribute, Error> {
    let printable = pw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c));
    let value = if printable {
        Any::from(der::asn1::PrintableStringRef::new(pw)?)
    } else {
        Any::from(der::asn1::Utf8StringRef::new(pw)?)
    };
    Ok(Attribute {
        oid: CHALLENGE_PASSWORD,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// An extensionRequest attribute asking for a subjectAltName with one rfc822Name (e-mail
/// address, at most 128 characters, one `@`, ASCII).
pub fn email_san_request(email: &str) -> Result<Attribute, Error> {
    let ok = email.len() <= 128
        && email.is_ascii()
        && email.matches('@').count() == 1
        && !email.starts_with('@')
        && !email.ends_with('@')
        && !email.contains(char::is_whitespace);
    if !ok {
        return Err(Error::Format(format!(
            "\"{email}\" is not an e-mail address of at most 128 ASCII characters"
        )));
    }
    let gn = x509_cert::ext::pkix::name::GeneralName::Rfc822Name(der::asn1::Ia5String::new(email)?);
    let san = x509_cert::ext::pkix::SubjectAltName(vec![gn]);
    let ext = x509_cert::ext::Extension {
        extn_id: SUBJECT_ALT_NAME,
        critical: false,
        extn_value: der::asn1::OctetString::new(san.to_der()?)?,
    };
    let exts: Vec<x509_cert::ext::Extension> = vec![ext];
    Ok(Attribute {
        oid: EXTENSION_REQUEST,
        values: SetOfVec::try_from(vec![Any::encode_from(&exts)?])?,
    })
}

/// Like [`build_csr`], with request attributes (challengePassword, extensionRequest).
pub fn build_csr_with(
    subject: &Name,
    spki_der: &[u8],
    alg: SigAlg,
    attributes: Vec<Attribute>,
    sign: &mut SignFn<'_>,
) -> Result<Vec<u8>, Error> {
    let public_key = SubjectPublicKeyInfoOwned::from_der(spki_der)
        .map_err(|e| Error::Format(format!("not a SubjectPublicKeyInfo: {e}")))?;
    let sig_alg = algorithms(alg, &public_key)?;
    let info = CertReqInfo {
        version: Version::V1,
        subject: subject.clone(),
        public_key,
        attributes: SetOfVec::try_from(attributes)?,
    };
    let tbs = info.to_der()?;
    let sig = sign(&tbs).map_err(Error::Signature)?;
    verify(&info.public_key, alg, &tbs, &sig).map_err(Error::Signature)?;
    let req = CertReq {
        info,
        algorithm: sig_alg,
        signature: BitString::from_bytes(&sig)?,
    };
    Ok(req.to_der()?)
}

/// PEM text for DER bytes: `-----BEGIN {label}-----`, base64 in 64-character lines, END line,
/// each line ending in `\n`.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    use base64ct::{Base64, Encoding};
    let b64 = Base64::encode_string(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
