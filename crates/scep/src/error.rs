//! Errors, typed so that each is reported as what it is.

use crate::status::FailInfo;

/// A SCEP client error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server cannot be reached: DNS, refused or dropped connection, timeout, TLS.
    #[error("cannot reach the SCEP server: {0}")]
    Unreachable(String),
    /// The TLS handshake with an https:// server failed, most often because its certificate
    /// is not trusted (a private CA: `--cacert`).
    #[error("TLS with the SCEP server failed: {0} (a server certificate from a private CA needs --cacert FILE)")]
    Tls(String),
    /// The server answered with an HTTP error status.
    #[error("the SCEP server answered HTTP {status}: {reason}")]
    HttpStatus {
        /// The status code.
        status: u16,
        /// Its reason phrase or the start of the body.
        reason: String,
    },
    /// The reply is not what SCEP defines (wrong content type, malformed CMS).
    #[error("the server's reply is not SCEP: {0}")]
    NotScep(String),
    /// The CA refused the request with this failure info.
    #[error("the CA refused the request: {0}")]
    Failure(FailInfo),
    /// The CA's certificate does not match the expected fingerprint.
    #[error("the CA certificate's SHA-256 fingerprint {actual} does not match {expected}")]
    FingerprintMismatch {
        /// The fingerprint given out of band.
        expected: String,
        /// The CA certificate's.
        actual: String,
    },
    /// The CA and this client share no algorithm.
    #[error("no algorithm in common with the CA: {0}")]
    NoCommonAlgorithm(String),
    /// The caller's key operation (signing, decrypting the content key) failed.
    #[error("the key operation failed: {0}")]
    Key(String),
    /// Something this client does not do, or an option it cannot use (a bad --cacert file).
    #[error("not supported: {0}")]
    Unsupported(String),
}
