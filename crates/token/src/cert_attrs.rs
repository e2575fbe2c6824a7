//! The attributes of an X.509 certificate object that are derived from its value (PKCS#11 3.0
//! §4.6.3): `CKA_CHECK_VALUE` (the first three bytes of the SHA-1 of `CKA_VALUE`),
//! `CKA_HASH_OF_SUBJECT_PUBLIC_KEY` (SHA-1 of the subjectPublicKey bits, with
//! `CKA_NAME_HASH_ALGORITHM` = `CKM_SHA_1`), `CKA_START_DATE` / `CKA_END_DATE` (the validity,
//! as `CK_DATE`). The layout stores none of them, so they are answered from the certificate,
//! and a template that gives one with another value is refused
//! (`CKR_TEMPLATE_INCONSISTENT`) rather than accepted and dropped. `CKA_HASH_OF_ISSUER_PUBLIC_KEY`
//! needs the issuer's certificate and is looked up on the token (`Token`).

use crate::attr::{ul, AttrType, Template};
use crate::error::{Error, Result};
use cryptoki_sys::*;
use sha1::{Digest, Sha1};
use x509_cert::Certificate;

/// SHA-1 of a certificate's subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1).
pub(crate) fn key_hash(c: &Certificate) -> Vec<u8> {
    Sha1::digest(
        c.tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes(),
    )
    .to_vec()
}

/// A validity time as `CK_DATE` ("YYYYMMDD").
fn ck_date(t: &x509_cert::time::Time) -> Vec<u8> {
    match der::DateTime::from_unix_duration(t.to_unix_duration()) {
        Ok(d) => format!("{:04}{:02}{:02}", d.year(), d.month(), d.day()).into_bytes(),
        Err(_) => Vec::new(),
    }
}

/// The derived attribute `ty` of the certificate `der`, if `ty` is one this module derives.
pub(crate) fn derived(der: &[u8], ty: AttrType) -> Option<Vec<u8>> {
    use der::Decode;
    match ty {
        CKA_CHECK_VALUE => Some(Sha1::digest(der)[..3].to_vec()),
        CKA_NAME_HASH_ALGORITHM => Some(ul(CKM_SHA_1)),
        CKA_HASH_OF_SUBJECT_PUBLIC_KEY | CKA_START_DATE | CKA_END_DATE => {
            let c = Certificate::from_der(der).ok()?;
            let v = &c.tbs_certificate.validity;
            Some(match ty {
                CKA_HASH_OF_SUBJECT_PUBLIC_KEY => key_hash(&c),
                CKA_START_DATE => ck_date(&v.not_before),
                _ => ck_date(&v.not_after),
            })
        }
        _ => None,
    }
}

/// A certificate template's derived attributes agree with the certificate `der` (an empty
/// value stands for "not given").
pub(crate) fn check_template(t: &Template, der: &[u8]) -> Result<()> {
    for ty in [
        CKA_CHECK_VALUE,
        CKA_NAME_HASH_ALGORITHM,
        CKA_HASH_OF_SUBJECT_PUBLIC_KEY,
        CKA_START_DATE,
        CKA_END_DATE,
    ] {
        if let Some(given) = t.raw(ty) {
            if !given.is_empty() && derived(der, ty).as_deref() != Some(given) {
                return Err(Error::TemplateInconsistent);
            }
        }
    }
    Ok(())
}
