//! A SCEP client (RFC 8894) without any dependency on the card code.
//!
//! This crate holds the parts of the protocol that do not need the network or a key:
//! [`caps`] (GetCACaps and the choice of cipher, digest and HTTP method), [`cacert`]
//! (GetCACert: one certificate or a degenerate PKCS#7 chain, the recipient and the CA, the
//! RFC 8894 §2.2 fingerprint), [`proxy`] (HTTPS_PROXY / HTTP_PROXY / NO_PROXY), [`status`]
//! (pkiStatus and failInfo), [`message`] (PKCSReq and CertRep), [`http`] (the
//! [`Client`] over HTTP) and [`error`] (the typed
//! errors a caller reports as what they are).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod attrs;
pub mod cacert;
pub mod caps;
pub mod error;
pub mod http;
pub mod message;
pub mod proxy;
pub mod status;
#[cfg(feature = "testca")]
pub mod testca;
pub mod tls;

pub use error::Error;
pub use http::Client;
