//! Certificates from files: DER, PEM (one or many `CERTIFICATE` blocks) and P7B (a degenerate
//! PKCS#7 / CMS SignedData, in DER or in a `PKCS7` / `CMS` PEM block).

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use const_oid::db::rfc5911::ID_SIGNED_DATA;
use der::{Decode, Encode};
use x509_cert::Certificate;

pub use crate::Error;

const CERT_LABELS: &[&str] = &["CERTIFICATE", "X509 CERTIFICATE"];
const P7_LABELS: &[&str] = &["PKCS7", "CMS", "PKCS #7 SIGNED DATA"];

fn p7b_certs(der: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let ci =
        ContentInfo::from_der(der).map_err(|e| Error::Format(format!("not a PKCS#7 file: {e}")))?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(Error::Unsupported(format!(
            "PKCS#7 content type {} (only SignedData certificate bundles are read)",
            ci.content_type
        )));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| Error::Format(format!("damaged PKCS#7 SignedData: {e}")))?;
    let mut out = Vec::new();
    for choice in sd.certificates.iter().flat_map(|s| s.0.iter()) {
        if let cms::cert::CertificateChoices::Certificate(c) = choice {
            out.push(c.to_der()?);
        }
    }
    Ok(out)
}

fn is_p7b_der(data: &[u8]) -> bool {
    ContentInfo::from_der(data).is_ok_and(|ci| ci.content_type == ID_SIGNED_DATA)
}

/// Is this a P7B file (DER ContentInfo with SignedData, or a PEM `PKCS7` / `CMS` block)?
pub fn is_p7b(data: &[u8]) -> bool {
    if crate::looks_like_pem(data) {
        return crate::pem_blocks(data).is_ok_and(|blocks| {
            blocks
                .iter()
                .any(|(l, d)| P7_LABELS.contains(&l.as_str()) && is_p7b_der(d))
        });
    }
    is_p7b_der(data)
}

/// All certificates in a file, as DER, in file order.
///
/// Accepts a DER certificate, PEM text with one or more `CERTIFICATE` blocks (other blocks such
/// as keys are skipped, text between blocks is ignored), and P7B in DER or PEM. Anything else,
/// or a file without any certificate, is an error saying what was found.
pub fn parse_certificates(data: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    if crate::looks_like_pem(data) {
        let blocks = crate::pem_blocks(data).map_err(Error::Format)?;
        let mut out = Vec::new();
        let mut other = Vec::new();
        for (label, der) in blocks {
            if CERT_LABELS.contains(&label.as_str()) {
                Certificate::from_der(&der).map_err(|e| {
                    Error::Format(format!("PEM CERTIFICATE block is not a certificate: {e}"))
                })?;
                out.push(der);
            } else if P7_LABELS.contains(&label.as_str()) {
                out.extend(p7b_certs(&der)?);
            } else {
                other.push(label);
            }
        }
        if out.is_empty() {
            return Err(Error::Format(if other.is_empty() {
                "no PEM blocks found".to_string()
            } else {
                format!(
                    "no certificate in the PEM file (found: {})",
                    other.join(", ")
                )
            }));
        }
        return Ok(out);
    }
    if Certificate::from_der(data).is_ok() {
        return Ok(vec![data.to_vec()]);
    }
    if is_p7b_der(data) {
        let certs = p7b_certs(data)?;
        if certs.is_empty() {
            return Err(Error::Format("the PKCS#7 file holds no certificate".into()));
        }
        return Ok(certs);
    }
    if ContentInfo::from_der(data).is_ok() {
        return Err(Error::Unsupported(
            "a PKCS#7 file that is not a SignedData certificate bundle".into(),
        ));
    }
    if crate::pkcs12::looks_like_pkcs12(data) {
        return Err(Error::Unsupported(
            "this is a PKCS#12 file; import it as a PKCS#12 file".into(),
        ));
    }
    Err(Error::Format(
        "not a certificate: expected DER, PEM (CERTIFICATE blocks) or P7B".into(),
    ))
}
