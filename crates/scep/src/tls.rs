//! HTTPS to the SCEP server: which server certificates are trusted.
//!
//! By default the system's trust store (rustls-native-certs: the OpenSSL locations, so
//! `/etc/ssl/certs` on Debian, `/etc/pki/tls` on the RPM family, and `SSL_CERT_FILE` /
//! `SSL_CERT_DIR` when set), plus the CA certificates of `--cacert` for a private CA. An
//! option that accepts any server certificate exists for a lab; the caller must warn about
//! it. TLS 1.2 and 1.3 with rustls' *ring* provider.
//!
//! The TLS check is about the web server; the SCEP CA itself is trusted only by the
//! fingerprint check of [`crate::cacert`], whatever the transport.

use crate::Error;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// How HTTPS servers are checked.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// CA certificates (DER) trusted besides the system's (`--cacert`).
    pub extra_roots: Vec<Vec<u8>>,
    /// Accept any server certificate: no protection against someone on the network path
    /// posing as the server. For a lab only; the caller warns.
    pub accept_any_certificate: bool,
}

/// The certificates of a `--cacert` file: PEM (one or more `CERTIFICATE` blocks) or one DER
/// certificate. Each must parse as X.509.
pub fn read_ca_file(bytes: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    use der::{Decode, Encode};
    use x509_cert::Certificate;
    let bad = |e: String| Error::Unsupported(format!("the CA certificate file: {e}"));
    let certs = if bytes.starts_with(b"-----") || bytes.trim_ascii_start().starts_with(b"-----") {
        Certificate::load_pem_chain(bytes).map_err(|e| bad(e.to_string()))?
    } else {
        vec![Certificate::from_der(bytes).map_err(|e| bad(e.to_string()))?]
    };
    if certs.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    certs
        .iter()
        .map(|c| c.to_der().map_err(|e| bad(e.to_string())))
        .collect()
}

// rustls 0.23.48 deprecates *ring* for lacking post-quantum key exchange; its other provider
// (aws-lc-rs) needs cmake and a long C build, and ureq 2 itself is built on *ring*.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for `opts`.
pub(crate) fn client_config(opts: &TlsOptions) -> Result<Arc<rustls::ClientConfig>, Error> {
    let p = provider();
    let builder = rustls::ClientConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(|e| Error::Unsupported(format!("TLS: {e}")))?;
    if opts.accept_any_certificate {
        return Ok(Arc::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(p)))
                .with_no_client_auth(),
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    // A store that cannot be read (no ca-certificates package) leaves only --cacert; an
    // HTTPS server is then refused as untrusted, which names --cacert.
    if let Ok(native) = rustls_native_certs::load_native_certs() {
        roots.add_parsable_certificates(native);
    }
    for der in &opts.extra_roots {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| Error::Unsupported(format!("the CA certificate file: {e}")))?;
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// The verifier of `accept_any_certificate`: the handshake's signatures are still checked
/// (the server holds the key of the certificate it shows), the certificate is not.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_files_pem_der_and_junk() {
        assert!(matches!(read_ca_file(b"junk"), Err(Error::Unsupported(_))));
        assert!(matches!(
            read_ca_file(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(Error::Unsupported(_))
        ));
        assert!(client_config(&TlsOptions::default()).is_ok());
        assert!(client_config(&TlsOptions {
            accept_any_certificate: true,
            ..Default::default()
        })
        .is_ok());
        assert!(client_config(&TlsOptions {
            extra_roots: vec![b"not a certificate".to_vec()],
            ..Default::default()
        })
        .is_err());
    }
}
