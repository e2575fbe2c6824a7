//! GetCACert (RFC 8894 §4.2): one DER certificate (`application/x-x509-ca-cert`) or a
//! degenerate certs-only PKCS#7 SignedData (`application/x-x509-ca-ra-cert`) carrying an RA
//! certificate and/or the issuing CA and the root. From it: the certificate to encrypt the
//! request to (the recipient), the issuing CA, and the SHA-256 fingerprint check of §2.2.

use crate::Error;
use cms::content_info::ContentInfo;
use cms::signed_data::{CertificateSet, SignedData};
use const_oid::db::rfc5280::{ID_CE_BASIC_CONSTRAINTS, ID_CE_KEY_USAGE};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::Certificate;

/// The CA's certificates as GetCACert returned them.
#[derive(Debug, Clone)]
pub struct CaCerts {
    /// Every certificate, in the order sent.
    pub all: Vec<Certificate>,
    /// Index in `all` of the certificate the request is encrypted to (an RA's, else the CA's).
    pub recipient: usize,
    /// Index in `all` of the issuing CA (equal to `recipient` when there is no RA).
    pub ca: usize,
}

fn ext<'a>(c: &'a Certificate, oid: &const_oid::ObjectIdentifier) -> Option<&'a [u8]> {
    c.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == *oid)
        .map(|e| e.extn_value.as_bytes())
}

/// Whether the certificate is a CA's (basicConstraints cA).
pub fn is_ca(c: &Certificate) -> bool {
    ext(c, &ID_CE_BASIC_CONSTRAINTS)
        .and_then(|v| BasicConstraints::from_der(v).ok())
        .is_some_and(|b| b.ca)
}

/// Whether the key may encrypt a content-encryption key (no keyUsage, or keyEncipherment).
fn can_encipher(c: &Certificate) -> bool {
    match ext(c, &ID_CE_KEY_USAGE).map(KeyUsage::from_der) {
        None => true,
        Some(Ok(ku)) => ku.0.contains(KeyUsages::KeyEncipherment),
        Some(Err(_)) => false,
    }
}

/// The SHA-256 fingerprint of a certificate, lower-case hex.
pub fn fingerprint(c: &Certificate) -> String {
    let der = c.to_der().unwrap_or_default();
    hex::encode(Sha256::digest(der))
}

/// Normalise a fingerprint as users write it (`AB:CD:..`, spaces, any case).
pub fn normalise_fingerprint(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

impl CaCerts {
    /// Parse a GetCACert body. `content_type` decides the form; an unknown one is tried both
    /// ways (some servers send `application/octet-stream`).
    pub fn parse(content_type: &str, body: &[u8]) -> Result<CaCerts, Error> {
        let ct = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let all = match ct.as_str() {
            "application/x-x509-ca-cert" => vec![single(body)?],
            "application/x-x509-ca-ra-cert" => chain(body)?,
            _ => match single(body) {
                Ok(c) => vec![c],
                Err(_) => chain(body)?,
            },
        };
        Self::from_certs(all)
    }

    /// Choose the recipient and the CA among `all`.
    pub fn from_certs(all: Vec<Certificate>) -> Result<CaCerts, Error> {
        if all.is_empty() {
            return Err(Error::NotScep("GetCACert returned no certificate".into()));
        }
        // A certificate that issued none of the others is the end of the chain: an RA, or
        // the issuing CA when there is no RA.
        let issues_another = |i: usize| {
            all.iter()
                .enumerate()
                .any(|(j, o)| j != i && o.tbs_certificate.issuer == all[i].tbs_certificate.subject)
        };
        let leaves: Vec<usize> = (0..all.len()).filter(|&i| !issues_another(i)).collect();
        let recipient = leaves
            .iter()
            .copied()
            .find(|&i| !is_ca(&all[i]) && can_encipher(&all[i]))
            .or_else(|| leaves.iter().copied().find(|&i| is_ca(&all[i])))
            .or_else(|| leaves.first().copied())
            .unwrap_or(0);
        let ca = if is_ca(&all[recipient]) {
            recipient
        } else {
            let issuer = &all[recipient].tbs_certificate.issuer;
            all.iter()
                .position(|c| c.tbs_certificate.subject == *issuer && is_ca(c))
                .unwrap_or(recipient)
        };
        Ok(CaCerts { all, recipient, ca })
    }

    /// The recipient certificate.
    pub fn recipient(&self) -> &Certificate {
        &self.all[self.recipient]
    }
    /// The issuing CA's certificate.
    pub fn ca(&self) -> &Certificate {
        &self.all[self.ca]
    }
    /// The CA certificates of the reply (issuing CA and above), issuing CA first.
    pub fn ca_chain(&self) -> Vec<&Certificate> {
        let mut out = vec![self.ca()];
        let mut cur = self.ca();
        while cur.tbs_certificate.issuer != cur.tbs_certificate.subject {
            match self
                .all
                .iter()
                .find(|c| c.tbs_certificate.subject == cur.tbs_certificate.issuer)
            {
                Some(next) if !out.iter().any(|o| std::ptr::eq(*o, next)) => {
                    out.push(next);
                    cur = next;
                }
                _ => break,
            }
        }
        out
    }
    /// RFC 8894 §2.2: accept the CA when `expected` (hex, any separators) is the SHA-256
    /// fingerprint of the issuing CA's certificate or of one of its CA certificates above it
    /// in the reply.
    pub fn check_fingerprint(&self, expected: &str) -> Result<(), Error> {
        let want = normalise_fingerprint(expected);
        if self.ca_chain().iter().any(|c| fingerprint(c) == want) {
            Ok(())
        } else {
            Err(Error::FingerprintMismatch {
                expected: want,
                actual: fingerprint(self.ca()),
            })
        }
    }
}

fn single(body: &[u8]) -> Result<Certificate, Error> {
    Certificate::from_der(body).map_err(|e| Error::NotScep(format!("CA certificate: {e}")))
}

/// The certificates of a degenerate certs-only SignedData.
pub fn chain(body: &[u8]) -> Result<Vec<Certificate>, Error> {
    let ci = ContentInfo::from_der(body)
        .map_err(|e| Error::NotScep(format!("PKCS#7 certificate chain: {e}")))?;
    if ci.content_type != const_oid::db::rfc5911::ID_SIGNED_DATA {
        return Err(Error::NotScep(format!(
            "PKCS#7 content type {} is not signedData",
            ci.content_type
        )));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| Error::NotScep(format!("PKCS#7 signedData: {e}")))?;
    Ok(certs_of(sd.certificates.as_ref()))
}

/// The X.509 certificates of a CertificateSet (other choices skipped).
pub fn certs_of(set: Option<&CertificateSet>) -> Vec<Certificate> {
    set.map(|s| {
        s.0.iter()
            .filter_map(|c| match c {
                cms::cert::CertificateChoices::Certificate(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/testdata/{name}.sha256",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
        .trim()
        .to_string()
    }
    fn data(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn single_certificate() {
        let c = CaCerts::parse("application/x-x509-ca-cert", &data("ica.der")).unwrap();
        assert_eq!(c.all.len(), 1);
        assert_eq!(fingerprint(c.recipient()), fp("ica"));
        c.check_fingerprint(&fp("ica").to_uppercase()).unwrap();
        assert!(matches!(
            c.check_fingerprint(&fp("root")),
            Err(Error::FingerprintMismatch { .. })
        ));
    }

    #[test]
    fn chain_with_ra_encrypts_to_the_ra() {
        let c = CaCerts::parse("application/x-x509-ca-ra-cert", &data("chain-ra.p7b")).unwrap();
        assert_eq!(c.all.len(), 3);
        assert_eq!(fingerprint(c.recipient()), fp("ra"));
        assert_eq!(fingerprint(c.ca()), fp("ica"));
        assert_eq!(c.ca_chain().len(), 2);
        c.check_fingerprint(&fp("ica")).unwrap();
        c.check_fingerprint(&fp("root")).unwrap();
        // The RA's own fingerprint is not the CA's.
        assert!(c.check_fingerprint(&fp("ra")).is_err());
    }

    #[test]
    fn chain_without_ra_encrypts_to_the_issuing_ca() {
        let c = CaCerts::parse("application/octet-stream", &data("chain-ca.p7b")).unwrap();
        assert_eq!(c.all.len(), 2);
        assert_eq!(fingerprint(c.recipient()), fp("ica"));
        assert_eq!(c.recipient, c.ca);
    }

    #[test]
    fn garbage_is_not_scep() {
        assert!(matches!(
            CaCerts::parse("text/html", b"<html>"),
            Err(Error::NotScep(_))
        ));
    }
}
