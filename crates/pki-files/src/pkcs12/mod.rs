//! PKCS#12 (`.p12` / `.pfx`) files: read legacy (RC2/3DES, SHA-1 MAC) and modern (PBES2
//! AES-256-CBC, SHA-256 MAC) files, write modern ones, and change a file's password atomically.
//!
//! Passwords follow RFC 7292: for the PKCS#12 KDF (legacy PBE and the MAC) the password is a
//! BMPString with a trailing zero; for PBES2 it is the UTF-8 bytes. An empty password also tries
//! the "absent password" encoding (zero bytes), as OpenSSL does.

mod crypt;
mod key;

use std::fmt;
use std::io::Write;
use std::path::Path;

use cms::content_info::{CmsVersion, ContentInfo};
use cms::encrypted_data::EncryptedData;
use cms::enveloped_data::EncryptedContentInfo;
use const_oid::db::rfc5911::{ID_DATA, ID_ENCRYPTED_DATA};
use const_oid::ObjectIdentifier;
use der::asn1::{BmpString, OctetString, SetOfVec};
use der::{Any, AnyRef, Decode, Encode, Tag, TagNumber, Tagged};
use pkcs12::cert_type::CertBag as RawCertBag;
use pkcs12::digest_info::DigestInfo;
use pkcs12::mac_data::MacData;
use pkcs12::pbe_params::EncryptedPrivateKeyInfo;
use pkcs12::pfx::{Pfx, Version};
use pkcs12::safe_bag::SafeBag;
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::Certificate;
use zeroize::Zeroizing;

use crypt::{DecryptError, Pass};

/// PBKDF2 iterations and MAC iterations written by [`build`]. OpenSSL 3 writes 2048 for both;
/// 10000 costs a few milliseconds more and every reader accepts it.
pub const BUILD_ITERATIONS: u32 = 10_000;

const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
const FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");

/// Errors of reading and writing PKCS#12 files.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The password is wrong (the integrity check fails and nothing decrypts with it).
    #[error("wrong password for this PKCS#12 file")]
    WrongPassword,
    /// The file is not a PKCS#12 file, is truncated, or was modified.
    #[error("the PKCS#12 file is damaged or not a PKCS#12 file: {0}")]
    Damaged(String),
    /// The file uses something this crate does not support.
    #[error("the PKCS#12 file uses something unsupported: {0}")]
    Unsupported(String),
}

/// The two primes of an RSA key (the CRT values are recomputed when needed).
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPrimes {
    /// First prime (big-endian, no leading zeros).
    pub p: Zeroizing<Vec<u8>>,
    /// Second prime.
    pub q: Zeroizing<Vec<u8>>,
}

/// A private key from (or for) a PKCS#12 file.
///
/// All integers are big-endian without leading zero bytes. `Debug` never shows secret parts.
#[derive(Clone, PartialEq, Eq)]
pub enum PrivateKey {
    /// RSA key.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
        /// Private exponent.
        d: Zeroizing<Vec<u8>>,
        /// The primes, when known (always, for keys read from a file). When `None`, [`build`]
        /// recovers them from n, e, d.
        primes: Option<RsaPrimes>,
    },
    /// EC key on P-256.
    EcP256 {
        /// Private scalar, 32 bytes.
        d: Zeroizing<Vec<u8>>,
        /// Public point, 65 bytes `04 || X || Y`.
        point: Vec<u8>,
    },
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.describe())
    }
}

impl PrivateKey {
    /// DER SubjectPublicKeyInfo of the public half.
    pub fn spki_der(&self) -> Result<Vec<u8>, Error> {
        key::spki_der(self)
    }

    /// "RSA 2048" or "EC P-256".
    pub fn describe(&self) -> String {
        match self {
            PrivateKey::Rsa { n, .. } => format!("RSA {}", crate::details::bit_len(n)),
            PrivateKey::EcP256 { .. } => "EC P-256".to_string(),
        }
    }

    /// DER PKCS#8 PrivateKeyInfo (secret).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        key::to_pkcs8(self)
    }

    /// Decode a DER PKCS#8 PrivateKeyInfo.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        key::from_pkcs8(der)
    }
}

/// A private key with its bag attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBag {
    /// The key.
    pub key: PrivateKey,
    /// The localKeyId attribute (pairs the key with its certificate).
    pub local_key_id: Option<Vec<u8>>,
    /// The friendlyName attribute.
    pub friendly_name: Option<String>,
}

/// An X.509 certificate with its bag attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertBag {
    /// DER of the certificate.
    pub der: Vec<u8>,
    /// The localKeyId attribute.
    pub local_key_id: Option<Vec<u8>>,
    /// The friendlyName attribute.
    pub friendly_name: Option<String>,
}

/// What a PKCS#12 file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    /// Private keys, in file order.
    pub keys: Vec<KeyBag>,
    /// Certificates, in file order.
    pub certs: Vec<CertBag>,
    /// How the bags were protected, e.g. "PBES2 AES-256-CBC, PBKDF2-HMAC-SHA256",
    /// "keys: PBE-SHA1-3DES; certificates: PBE-SHA1-RC2-40", or "none".
    pub encryption: String,
    /// The integrity check, e.g. "HMAC-SHA-256, 2048 iterations"; `None` for a file without MAC.
    pub mac: Option<String>,
}

fn same_key(cert_der: &[u8], spki: &[u8]) -> bool {
    let Ok(cert) = Certificate::from_der(cert_der) else {
        return false;
    };
    let Ok(ours) = spki::SubjectPublicKeyInfoOwned::from_der(spki) else {
        return false;
    };
    let theirs = &cert.tbs_certificate.subject_public_key_info;
    theirs.algorithm.oid == ours.algorithm.oid
        && theirs.subject_public_key == ours.subject_public_key
}

fn names_of(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let c = Certificate::from_der(der).ok()?;
    Some((
        c.tbs_certificate.subject.to_der().ok()?,
        c.tbs_certificate.issuer.to_der().ok()?,
    ))
}

impl Contents {
    /// The certificate of key `key_index`: the one with the same localKeyId, else the first
    /// whose public key equals the key's.
    pub fn end_entity(&self, key_index: usize) -> Option<&CertBag> {
        let kb = self.keys.get(key_index)?;
        if let Some(id) = &kb.local_key_id {
            if let Some(c) = self
                .certs
                .iter()
                .find(|c| c.local_key_id.as_ref() == Some(id))
            {
                return Some(c);
            }
        }
        let spki = kb.key.spki_der().ok()?;
        self.certs.iter().find(|c| same_key(&c.der, &spki))
    }

    /// The issuers of key `key_index`'s certificate that are in the file, nearest first
    /// (intermediate, ..., root), found by issuer/subject name; stops at a self-issued
    /// certificate or when the next issuer is missing. Empty without an end-entity certificate.
    pub fn chain(&self, key_index: usize) -> Vec<&CertBag> {
        let mut out: Vec<&CertBag> = Vec::new();
        let Some(ee) = self.end_entity(key_index) else {
            return out;
        };
        let mut current = ee;
        let mut used = vec![ee.der.as_slice()];
        while let Some((subject, issuer)) = names_of(&current.der) {
            if subject == issuer {
                break;
            }
            let next = self.certs.iter().find(|c| {
                !used.contains(&c.der.as_slice())
                    && names_of(&c.der).is_some_and(|(s, _)| s == issuer)
            });
            match next {
                Some(n) => {
                    out.push(n);
                    used.push(n.der.as_slice());
                    current = n;
                }
                None => break,
            }
        }
        out
    }
}

/// Is this (DER) data shaped like a PKCS#12 PFX?
pub(crate) fn looks_like_pkcs12(data: &[u8]) -> bool {
    Pfx::from_der(data).is_ok()
}

fn damaged(what: &str, e: impl fmt::Display) -> Error {
    Error::Damaged(format!("{what}: {e}"))
}

/// Context of one attempt at reading the safes with one password encoding.
struct Reader<'a> {
    pass: Pass<'a>,
    /// The MAC verified with this password: a decryption failure means damage, not a wrong
    /// password.
    mac_ok: bool,
    /// Number of blobs that decrypted and decoded with this password.
    decrypted: usize,
    key_algs: Vec<String>,
    cert_algs: Vec<String>,
    keys: Vec<KeyBag>,
    certs: Vec<CertBag>,
}

impl Reader<'_> {
    fn decrypt(
        &mut self,
        alg: &AlgorithmIdentifierOwned,
        data: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        match crypt::decrypt(alg, self.pass, data) {
            Ok(v) => Ok(v),
            Err(DecryptError::BadPassword) if self.mac_ok => Err(Error::Damaged(
                "encrypted data does not decrypt although the MAC is correct".into(),
            )),
            Err(DecryptError::BadPassword) => Err(Error::WrongPassword),
            Err(DecryptError::Other(e)) => Err(e),
        }
    }

    /// Decode DER that came out of a decryption: garbage means a wrong password unless the
    /// MAC vouched for the password.
    fn decode_decrypted<'b, T: Decode<'b>>(&self, what: &str, der: &'b [u8]) -> Result<T, Error> {
        T::from_der(der).map_err(|e| {
            if self.mac_ok {
                damaged(what, e)
            } else {
                Error::WrongPassword
            }
        })
    }

    fn safe_contents(&mut self, der: &[u8], encrypted_with: Option<String>) -> Result<(), Error> {
        let bags: Vec<SafeBag> = if encrypted_with.is_some() {
            self.decode_decrypted("safe contents", der)?
        } else {
            Vec::<SafeBag>::from_der(der).map_err(|e| damaged("safe contents", e))?
        };
        if let Some(alg) = encrypted_with {
            self.decrypted += 1;
            let has_keys = bags.iter().any(|b| {
                b.bag_id == pkcs12::PKCS_12_KEY_BAG_OID
                    || b.bag_id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID
            });
            if bags
                .iter()
                .any(|b| b.bag_id == pkcs12::PKCS_12_CERT_BAG_OID)
            {
                self.cert_algs.push(alg.clone());
            }
            if has_keys {
                self.key_algs.push(alg);
            }
        }
        for bag in &bags {
            self.bag(bag, 0)?;
        }
        Ok(())
    }

    fn bag(&mut self, bag: &SafeBag, depth: usize) -> Result<(), Error> {
        // pkcs12 0.1 keeps the `[0] EXPLICIT` wrapper in bag_value; accept both forms.
        let outer = AnyRef::from_der(&bag.bag_value).map_err(|e| damaged("safe bag", e))?;
        let value: &[u8] = if outer.tag()
            == (Tag::ContextSpecific {
                constructed: true,
                number: TagNumber::N0,
            }) {
            outer.value()
        } else {
            &bag.bag_value
        };
        let (local_key_id, friendly_name) = attributes(bag.bag_attributes.as_ref());
        match bag.bag_id {
            pkcs12::PKCS_12_KEY_BAG_OID => {
                let key = key::from_pkcs8(value)?;
                self.key_algs.push("none".into());
                self.keys.push(KeyBag {
                    key,
                    local_key_id,
                    friendly_name,
                });
            }
            pkcs12::PKCS_12_PKCS8_KEY_BAG_OID => {
                let epki = EncryptedPrivateKeyInfo::from_der(value)
                    .map_err(|e| damaged("encrypted private key", e))?;
                let plain =
                    self.decrypt(&epki.encryption_algorithm, epki.encrypted_data.as_bytes())?;
                if !self.mac_ok && pkcs8::PrivateKeyInfo::from_der(&plain).is_err() {
                    return Err(Error::WrongPassword);
                }
                let key = key::from_pkcs8(&plain)?;
                self.decrypted += 1;
                self.key_algs
                    .push(crypt::describe(&epki.encryption_algorithm));
                self.keys.push(KeyBag {
                    key,
                    local_key_id,
                    friendly_name,
                });
            }
            pkcs12::PKCS_12_CERT_BAG_OID => {
                let cb = RawCertBag::from_der(value).map_err(|e| damaged("certificate bag", e))?;
                if cb.cert_id == pkcs12::PKCS_12_X509_CERT_OID {
                    let der = cb.cert_value.as_bytes().to_vec();
                    Certificate::from_der(&der).map_err(|e| damaged("certificate", e))?;
                    self.certs.push(CertBag {
                        der,
                        local_key_id,
                        friendly_name,
                    });
                }
            }
            pkcs12::PKCS_12_SAFE_CONTENTS_BAG_OID => {
                if depth > 4 {
                    return Err(Error::Damaged("safe contents nested too deep".into()));
                }
                let inner =
                    Vec::<SafeBag>::from_der(value).map_err(|e| damaged("nested safe", e))?;
                for b in &inner {
                    self.bag(b, depth + 1)?;
                }
            }
            // CRL and secret bags are not needed by anything here.
            _ => {}
        }
        Ok(())
    }

    fn content_info(&mut self, ci: &ContentInfo) -> Result<(), Error> {
        if ci.content_type == ID_DATA {
            let os: OctetString = ci
                .content
                .decode_as()
                .map_err(|e| damaged("data safe", e))?;
            self.safe_contents(os.as_bytes(), None)
        } else if ci.content_type == ID_ENCRYPTED_DATA {
            let ed: EncryptedData = ci
                .content
                .decode_as()
                .map_err(|e| damaged("encrypted safe", e))?;
            let info = &ed.enc_content_info;
            let ct = info
                .encrypted_content
                .as_ref()
                .ok_or_else(|| Error::Damaged("encrypted safe without content".into()))?;
            let plain = self.decrypt(&info.content_enc_alg, ct.as_bytes())?;
            self.safe_contents(&plain, Some(crypt::describe(&info.content_enc_alg)))
        } else {
            Err(Error::Unsupported(format!(
                "safe of content type {} (public-key protected safes are not supported)",
                ci.content_type
            )))
        }
    }
}

fn attributes(attrs: Option<&Attributes>) -> (Option<Vec<u8>>, Option<String>) {
    let mut id = None;
    let mut name = None;
    for a in attrs.into_iter().flat_map(|s| s.iter()) {
        let Some(v) = a.values.iter().next() else {
            continue;
        };
        if a.oid == LOCAL_KEY_ID {
            if let Ok(os) = v.decode_as::<OctetString>() {
                id = Some(os.as_bytes().to_vec());
            }
        } else if a.oid == FRIENDLY_NAME {
            if let Ok(s) = v.decode_as::<BmpString>() {
                name = Some(s.to_string());
            } else {
                name = Some(crate::names::value_text(v));
            }
        }
    }
    (id, name)
}

fn describe_algs(keys: &[String], certs: &[String]) -> String {
    let uniq = |v: &[String]| {
        let mut u: Vec<String> = Vec::new();
        for s in v {
            if !u.contains(s) {
                u.push(s.clone());
            }
        }
        u.join(", ")
    };
    let k = uniq(keys);
    let c = uniq(certs);
    match (k.is_empty(), c.is_empty()) {
        (true, true) => "none".into(),
        (false, true) => k,
        (true, false) => c,
        _ if k == c => k,
        _ => format!("keys: {k}; certificates: {c}"),
    }
}

fn read_with(
    safes: &[ContentInfo],
    pass: Pass<'_>,
    mac_ok: bool,
) -> (Result<Contents, Error>, usize) {
    let mut r = Reader {
        pass,
        mac_ok,
        decrypted: 0,
        key_algs: Vec::new(),
        cert_algs: Vec::new(),
        keys: Vec::new(),
        certs: Vec::new(),
    };
    let mut first_err = None;
    for ci in safes {
        if let Err(e) = r.content_info(ci) {
            // Keep going so that `decrypted` counts every blob this password opens.
            first_err.get_or_insert(e);
        }
    }
    if let Some(e) = first_err {
        return (Err(e), r.decrypted);
    }
    let encryption = describe_algs(&r.key_algs, &r.cert_algs);
    (
        Ok(Contents {
            keys: r.keys,
            certs: r.certs,
            encryption,
            mac: None,
        }),
        r.decrypted,
    )
}

/// The PFX of a file: DER, or the first block of PEM text (any label).
fn decode_pfx(data: &[u8]) -> Result<Pfx, Error> {
    let der_owned;
    let der: &[u8] = if crate::looks_like_pem(data) {
        let blocks = crate::pem_blocks(data).map_err(Error::Damaged)?;
        let Some((_, d)) = blocks.into_iter().next() else {
            return Err(Error::Damaged("PEM text without a block".into()));
        };
        der_owned = d;
        &der_owned
    } else {
        data
    };
    Pfx::from_der(der).map_err(|e| damaged("not a PKCS#12 PFX", e))
}

/// Read a PKCS#12 file (DER, or PEM-wrapped with any label) with `password`.
///
/// An empty password is tried both as the empty BMPString (OpenSSL `-passout pass:`) and as
/// "no password" (zero bytes), as OpenSSL does. A wrong password gives
/// [`Error::WrongPassword`]; a file whose MAC fails although the password decrypts its
/// contents, or which does not decode, gives [`Error::Damaged`].
pub fn parse(data: &[u8], password: &str) -> Result<Contents, Error> {
    let pfx = decode_pfx(data)?;
    if pfx.auth_safe.content_type != ID_DATA {
        return Err(Error::Unsupported(format!(
            "PKCS#12 integrity mode {} (only password integrity is supported)",
            pfx.auth_safe.content_type
        )));
    }
    let auth_safe: OctetString = pfx
        .auth_safe
        .content
        .decode_as()
        .map_err(|e| damaged("authenticated safe", e))?;
    let auth_bytes = auth_safe.as_bytes();
    let candidates: Vec<Pass<'_>> = if password.is_empty() {
        vec![Pass::Given(""), Pass::Absent]
    } else {
        vec![Pass::Given(password)]
    };
    let safes = Vec::<ContentInfo>::from_der(auth_bytes).map_err(|e| damaged("safes", e))?;

    let Some(md) = &pfx.mac_data else {
        // No MAC: the first encoding that decrypts everything wins.
        let mut first_err = None;
        for p in &candidates {
            match read_with(&safes, *p, false).0 {
                Ok(c) => return Ok(c),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        return Err(first_err.unwrap_or(Error::WrongPassword));
    };

    let alg = md.mac.algorithm.oid;
    let mac_desc = format!(
        "HMAC-{}, {} iteration{}",
        crypt::digest_name(&alg),
        md.iterations,
        if md.iterations == 1 { "" } else { "s" }
    );
    for p in &candidates {
        let m = crypt::mac(&alg, *p, md.mac_salt.as_bytes(), md.iterations, auth_bytes)?;
        if crypt::ct_eq(&m, md.mac.digest.as_bytes()) {
            let mut c = read_with(&safes, *p, true).0?;
            c.mac = Some(mac_desc);
            return Ok(c);
        }
    }
    // The MAC fails with every encoding. If the password still opens something, the password
    // is right and the file was changed.
    for p in &candidates {
        let (res, decrypted) = read_with(&safes, *p, false);
        if decrypted > 0 || res.is_ok() {
            return Err(Error::Damaged(
                "the integrity check (MAC) fails although the password decrypts the contents; \
                 the file was modified or damaged"
                    .into(),
            ));
        }
    }
    Err(Error::WrongPassword)
}

fn attrs_for(
    local_key_id: Option<&Vec<u8>>,
    friendly_name: Option<&String>,
) -> Result<Option<Attributes>, Error> {
    let enc = |e: der::Error| Error::Unsupported(format!("bag attribute: {e}"));
    let mut attrs = Vec::new();
    if let Some(n) = friendly_name {
        let v = Any::encode_from(&BmpString::from_utf8(n).map_err(enc)?).map_err(enc)?;
        attrs.push(Attribute {
            oid: FRIENDLY_NAME,
            values: SetOfVec::try_from(vec![v]).map_err(enc)?,
        });
    }
    if let Some(id) = local_key_id {
        let v = Any::encode_from(&OctetString::new(id.clone()).map_err(enc)?).map_err(enc)?;
        attrs.push(Attribute {
            oid: LOCAL_KEY_ID,
            values: SetOfVec::try_from(vec![v]).map_err(enc)?,
        });
    }
    if attrs.is_empty() {
        Ok(None)
    } else {
        Ok(Some(SetOfVec::try_from(attrs).map_err(enc)?))
    }
}

/// Write a modern PKCS#12 file as OpenSSL 3 does by default: certificates in a PBES2
/// (PBKDF2-HMAC-SHA256, AES-256-CBC) encrypted safe, keys as PBES2 pkcs8ShroudedKeyBags in a
/// plain safe, and an HMAC-SHA-256 MAC keyed by the PKCS#12 KDF. Iterations:
/// [`BUILD_ITERATIONS`]. An empty password is written as the empty BMPString (like
/// `openssl pkcs12 -export -passout pass:`).
pub fn build(keys: &[KeyBag], certs: &[CertBag], password: &str) -> Result<Vec<u8>, Error> {
    let enc = |e: der::Error| Error::Unsupported(format!("encoding: {e}"));
    let mut safes = Vec::new();
    if !certs.is_empty() {
        let mut bags = Vec::new();
        for c in certs {
            Certificate::from_der(&c.der).map_err(|e| damaged("certificate to store", e))?;
            let cb = RawCertBag {
                cert_id: pkcs12::PKCS_12_X509_CERT_OID,
                cert_value: OctetString::new(c.der.clone()).map_err(enc)?,
            };
            bags.push(SafeBag {
                bag_id: pkcs12::PKCS_12_CERT_BAG_OID,
                bag_value: cb.to_der().map_err(enc)?,
                bag_attributes: attrs_for(c.local_key_id.as_ref(), c.friendly_name.as_ref())?,
            });
        }
        let plain = bags.to_der().map_err(enc)?;
        let (alg, ct) = crypt::encrypt_pbes2(password, BUILD_ITERATIONS, &plain)?;
        let ed = EncryptedData {
            version: CmsVersion::V0,
            enc_content_info: EncryptedContentInfo {
                content_type: ID_DATA,
                content_enc_alg: alg,
                encrypted_content: Some(OctetString::new(ct).map_err(enc)?),
            },
            unprotected_attrs: None,
        };
        safes.push(ContentInfo {
            content_type: ID_ENCRYPTED_DATA,
            content: Any::encode_from(&ed).map_err(enc)?,
        });
    }
    if !keys.is_empty() {
        let mut bags = Vec::new();
        for k in keys {
            let p8 = k.key.to_pkcs8_der()?;
            let (alg, ct) = crypt::encrypt_pbes2(password, BUILD_ITERATIONS, &p8)?;
            let epki = EncryptedPrivateKeyInfo {
                encryption_algorithm: alg,
                encrypted_data: OctetString::new(ct).map_err(enc)?,
            };
            bags.push(SafeBag {
                bag_id: pkcs12::PKCS_12_PKCS8_KEY_BAG_OID,
                bag_value: epki.to_der().map_err(enc)?,
                bag_attributes: attrs_for(k.local_key_id.as_ref(), k.friendly_name.as_ref())?,
            });
        }
        let plain = bags.to_der().map_err(enc)?;
        safes.push(ContentInfo {
            content_type: ID_DATA,
            content: Any::encode_from(&OctetString::new(plain).map_err(enc)?).map_err(enc)?,
        });
    }
    let auth_bytes = safes.to_der().map_err(enc)?;
    let mut salt = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
    let iterations = i32::try_from(BUILD_ITERATIONS).unwrap_or(2048);
    let mac = crypt::mac(
        &crypt::SHA256,
        Pass::Given(password),
        &salt,
        iterations,
        &auth_bytes,
    )?;
    let pfx = Pfx {
        version: Version::V3,
        auth_safe: ContentInfo {
            content_type: ID_DATA,
            content: Any::encode_from(&OctetString::new(auth_bytes).map_err(enc)?).map_err(enc)?,
        },
        mac_data: Some(MacData {
            mac: DigestInfo {
                algorithm: AlgorithmIdentifierOwned {
                    oid: crypt::SHA256,
                    parameters: Some(Any::null()),
                },
                digest: OctetString::new(mac.to_vec()).map_err(enc)?,
            },
            mac_salt: OctetString::new(salt.to_vec()).map_err(enc)?,
            iterations,
        }),
    };
    pfx.to_der().map_err(enc)
}

/// Errors of [`change_password`]. In every case the original file is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The file cannot be read with the old password (or is damaged / unsupported).
    #[error("cannot read the PKCS#12 file: {0}")]
    Read(#[from] Error),
    /// Reading, writing or renaming failed.
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    /// The newly written file did not read back identically; it was removed.
    #[error("the re-written file did not verify: {0}")]
    Verify(String),
}

fn same_contents(a: &Contents, b: &Contents) -> bool {
    a.certs
        .iter()
        .map(|c| &c.der)
        .eq(b.certs.iter().map(|c| &c.der))
        && a.keys
            .iter()
            .map(|k| &k.key)
            .eq(b.keys.iter().map(|k| &k.key))
        && a.keys
            .iter()
            .map(|k| (&k.local_key_id, &k.friendly_name))
            .eq(b.keys.iter().map(|k| (&k.local_key_id, &k.friendly_name)))
}

/// Change the password of the PKCS#12 file at `path`, atomically.
///
/// Reads it with `old`, writes the same keys and certificates (modern encryption, see
/// [`build`]) with `new` to a temporary file in the same directory (mode 0600), fsyncs it,
/// re-reads it with `new` and checks the contents are the same, then renames it over the
/// original and fsyncs the directory. On any failure the original file is untouched and the
/// temporary file is removed. The new file has mode 0600 whatever the old one had.
pub fn change_password(path: &Path, old: &str, new: &str) -> Result<(), ChangeError> {
    change_password_to(path, path, old, new)
}

/// Like [`change_password`], but the re-encrypted file goes to `dest`, which must not exist yet
/// (it is never overwritten: [`std::io::ErrorKind::AlreadyExists`]); `src` stays as it was.
/// With `dest == src` this is [`change_password`].
pub fn change_password_to(
    src: &Path,
    dest: &Path,
    old: &str,
    new: &str,
) -> Result<(), ChangeError> {
    let path = src;
    let in_place = src == dest;
    let data = Zeroizing::new(std::fs::read(path)?);
    let contents = parse(&data, old)?;
    let out = build(&contents.keys, &contents.certs, new)?;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pkcs12".into());
    let mut nonce = [0u8; 6];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    let tmp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let result = (|| -> Result<(), ChangeError> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
        drop(f);
        let back = Zeroizing::new(std::fs::read(&tmp)?);
        let check = parse(&back, new).map_err(|e| ChangeError::Verify(e.to_string()))?;
        if !same_contents(&contents, &check) {
            return Err(ChangeError::Verify(
                "keys or certificates differ after re-reading".into(),
            ));
        }
        if in_place {
            std::fs::rename(&tmp, path)?;
        } else {
            // A hard link never replaces an existing file: `dest` appears complete or not at all.
            match std::fs::hard_link(&tmp, dest) {
                Ok(()) => std::fs::remove_file(&tmp)?,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(e.into()),
                // A file system without hard links (FAT on a USB stick): check, then rename.
                Err(_) if std::fs::symlink_metadata(dest).is_ok() => {
                    return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists).into())
                }
                Err(_) => std::fs::rename(&tmp, dest)?,
            }
        }
        if let Ok(d) = std::fs::File::open(&dir) {
            // Make the rename durable; not every platform can fsync a directory.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The certificates a PKCS#12 file gives without its password: those in unencrypted safes
/// (OpenSSL `-certpbe NONE`). Most files encrypt their certificates: then this is empty. The
/// file's MAC cannot be checked without the password, so these certificates are not
/// authenticated; [`parse`] with the password checks everything.
pub fn public_certs(data: &[u8]) -> Result<Vec<CertBag>, Error> {
    let pfx = decode_pfx(data)?;
    if pfx.auth_safe.content_type != ID_DATA {
        return Ok(Vec::new());
    }
    let auth_safe: OctetString = pfx
        .auth_safe
        .content
        .decode_as()
        .map_err(|e| damaged("authenticated safe", e))?;
    let safes =
        Vec::<ContentInfo>::from_der(auth_safe.as_bytes()).map_err(|e| damaged("safes", e))?;
    let mut r = Reader {
        pass: Pass::Absent,
        mac_ok: false,
        decrypted: 0,
        key_algs: Vec::new(),
        cert_algs: Vec::new(),
        keys: Vec::new(),
        certs: Vec::new(),
    };
    for ci in safes.iter().filter(|ci| ci.content_type == ID_DATA) {
        let os: OctetString = ci
            .content
            .decode_as()
            .map_err(|e| damaged("data safe", e))?;
        let bags =
            Vec::<SafeBag>::from_der(os.as_bytes()).map_err(|e| damaged("safe contents", e))?;
        for bag in bags
            .iter()
            .filter(|b| b.bag_id == pkcs12::PKCS_12_CERT_BAG_OID)
        {
            r.bag(bag, 0)?;
        }
    }
    Ok(std::mem::take(&mut r.certs))
}
