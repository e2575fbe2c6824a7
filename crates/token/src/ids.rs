//! `CKA_ID`s of new objects: a certificate written without one finds its key.
//!
//! * A certificate created without `CKA_ID` (or with an empty one, as `pkcs11-tool
//!   --write-object` does) gets the `CKA_ID` of the key pair on the token with the same public
//!   key — compared as key material (RSA modulus and exponent, EC point), not as DER bytes, so a
//!   different parameter encoding does not matter.
//! * Otherwise it gets the id NSS derives ([`derived_id`]): SHA-1 of the RSA modulus (unsigned
//!   big-endian, no leading zeros), or of the uncompressed EC point `04 ‖ X ‖ Y`. Keys generated
//!   on the card without `CKA_ID` get the same derivation (pkcs15 backend), so a certificate NSS
//!   writes later with its own derived id pairs with them too.

use super::Token;
use crate::crypto::{HashAlg, PublicKey};
use crate::error::Result;
use token_backend::ObjectKind;

/// The NSS-style `CKA_ID` of a public key: SHA-1 of the RSA modulus (leading zeros removed), or
/// of the uncompressed EC point.
pub fn derived_id(pk: &PublicKey) -> Vec<u8> {
    match pk {
        PublicKey::Rsa { n, .. } => {
            let start = n.iter().position(|&b| b != 0).unwrap_or(n.len());
            HashAlg::Sha1.hash(&n[start..])
        }
        PublicKey::EcP256 { point } => HashAlg::Sha1.hash(point),
    }
}

impl Token {
    /// The `CKA_ID` for a new certificate whose template has none: the id of a visible key
    /// (private or public) with the same public key, else [`derived_id`]; empty if the
    /// certificate's key is of a type we do not know.
    pub(crate) fn certificate_id(&mut self, cert_der: &[u8]) -> Result<Vec<u8>> {
        let Some(pk) = PublicKey::from_certificate(cert_der) else {
            return Ok(Vec::new());
        };
        for i in 0..self.entries().len() {
            let m = &self.entries()[i].meta;
            if !matches!(m.kind, ObjectKind::PrivateKey | ObjectKind::PublicKey)
                || m.id.is_empty()
                || !self.visible(m)
            {
                continue;
            }
            if self.public_key(i)?.as_ref() == Some(&pk) {
                return Ok(self.entries()[i].meta.id.clone());
            }
        }
        Ok(derived_id(&pk))
    }
}
