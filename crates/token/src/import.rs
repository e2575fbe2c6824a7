//! Typed private-key import (`C_CreateObject` for `CKO_PRIVATE_KEY`, and the management tool's
//! PFX import): RSA and EC P-256, with the key usage asked for written to the token.
//!
//! The ePass2003's EC import APDU is an inference (not captured from a real card); see
//! `docs/protocol-notes.md`.

use super::{check_bool, Handles, Token};
use crate::attr::Template;
use crate::crypto;
use crate::error::{Error, Result};
use cryptoki_sys::*;
use token_backend::{EcKeyImport, KeyUsage, RsaKeyImport};
use zeroize::Zeroizing;

/// The key material of a private key to import. Secrets are zeroized when dropped.
#[derive(Clone)]
pub enum PrivateKeyMaterial {
    /// RSA: modulus, public exponent and private exponent, big-endian (no CRT: the card uses
    /// d alone).
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
        /// Private exponent (secret).
        d: Zeroizing<Vec<u8>>,
    },
    /// EC over P-256: the private scalar and the public point.
    EcP256 {
        /// Private scalar, 32 bytes big-endian (secret).
        d: Zeroizing<[u8; 32]>,
        /// Uncompressed public point `04 ‖ X ‖ Y` (65 bytes); must equal d·G.
        point: Vec<u8>,
    },
}

impl PrivateKeyMaterial {
    /// P-256 material from the scalar alone (big-endian, at most 32 bytes; shorter values are
    /// left-padded): the point is computed. `CKR_ATTRIBUTE_VALUE_INVALID` if d is not in
    /// `1..n-1`.
    pub fn ec_p256_from_scalar(d: &[u8]) -> Result<PrivateKeyMaterial> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let skip = d.iter().take_while(|&&b| b == 0).count();
        let d = &d[skip..];
        if d.len() > 32 {
            return Err(Error::AttributeValueInvalid);
        }
        let mut padded = Zeroizing::new([0u8; 32]);
        padded[32 - d.len()..].copy_from_slice(d);
        let sk = p256::SecretKey::from_slice(padded.as_slice())
            .map_err(|_| Error::AttributeValueInvalid)?;
        let point = sk.public_key().to_encoded_point(false).as_bytes().to_vec();
        Ok(PrivateKeyMaterial::EcP256 { d: padded, point })
    }
}

impl std::fmt::Debug for PrivateKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrivateKeyMaterial::Rsa { n, .. } => f
                .debug_struct("Rsa")
                .field("bits", &(n.len() * 8))
                .finish_non_exhaustive(),
            PrivateKeyMaterial::EcP256 { point, .. } => f
                .debug_struct("EcP256")
                .field("point", &hex::encode(point))
                .finish_non_exhaustive(),
        }
    }
}

/// A private key to import, with its label, identifier and usage. The usage is what the
/// token's directory records (PKCS#15 PrKDF usage flags), what `C_GetAttributeValue` reports
/// (`CKA_SIGN`, `CKA_DECRYPT`, `CKA_UNWRAP`, `CKA_DERIVE`) and what `C_SignInit` /
/// `C_DecryptInit` enforce. An EC key cannot decrypt or unwrap.
#[derive(Debug, Clone)]
pub struct KeyImport {
    /// The key.
    pub material: PrivateKeyMaterial,
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`.
    pub id: Vec<u8>,
    /// Usage (`verify`/`encrypt` are ignored for a private key).
    pub usage: KeyUsage,
}

impl KeyImport {
    /// The typed import described by a `C_CreateObject` template for `CKO_PRIVATE_KEY`
    /// (`CKK_RSA`: `CKA_MODULUS`, `CKA_PUBLIC_EXPONENT`, `CKA_PRIVATE_EXPONENT`; `CKK_EC`:
    /// `CKA_EC_PARAMS` = P-256, `CKA_VALUE` = d, the point computed from d and, if
    /// `CKA_EC_POINT` is given, checked against it).
    ///
    /// Usage defaults when the template does not say: sign yes; RSA decrypt yes and unwrap as
    /// decrypt; EC neither (`CKA_DECRYPT`/`CKA_UNWRAP` true on an EC key is
    /// `CKR_TEMPLATE_INCONSISTENT`); derive no (EC only: an RSA key cannot derive, so it is
    /// not recorded).
    pub fn from_template(t: &Template, label: String, id: Vec<u8>) -> Result<KeyImport> {
        check_bool(t, CKA_EXTRACTABLE, false)?;
        check_bool(t, CKA_SENSITIVE, true)?;
        let sign = t.bool(CKA_SIGN)?.unwrap_or(true);
        let (material, usage) = match t.ulong(CKA_KEY_TYPE)?.ok_or(Error::TemplateIncomplete)? {
            CKK_RSA => {
                let decrypt = t.bool(CKA_DECRYPT)?.unwrap_or(true);
                let unwrap = t.bool(CKA_UNWRAP)?.unwrap_or(decrypt);
                let material = PrivateKeyMaterial::Rsa {
                    n: t.bytes(CKA_MODULUS).ok_or(Error::TemplateIncomplete)?,
                    e: t.bytes(CKA_PUBLIC_EXPONENT)
                        .ok_or(Error::TemplateIncomplete)?,
                    d: Zeroizing::new(
                        t.bytes(CKA_PRIVATE_EXPONENT)
                            .ok_or(Error::TemplateIncomplete)?,
                    ),
                };
                let usage = KeyUsage {
                    sign,
                    decrypt,
                    unwrap,
                    ..KeyUsage::default()
                };
                (material, usage)
            }
            CKK_EC => {
                if t.raw(CKA_EC_PARAMS).ok_or(Error::TemplateIncomplete)? != crypto::P256_PARAMS {
                    return Err(Error::AttributeValueInvalid);
                }
                if t.bool(CKA_DECRYPT)? == Some(true) || t.bool(CKA_UNWRAP)? == Some(true) {
                    return Err(Error::TemplateInconsistent);
                }
                let d = Zeroizing::new(t.bytes(CKA_VALUE).ok_or(Error::TemplateIncomplete)?);
                let material = PrivateKeyMaterial::ec_p256_from_scalar(&d)?;
                if let (Some(p), PrivateKeyMaterial::EcP256 { point, .. }) =
                    (t.bytes(CKA_EC_POINT), &material)
                {
                    if crypto::unwrap_octet_string(&p) != *point {
                        return Err(Error::TemplateInconsistent);
                    }
                }
                let usage = KeyUsage {
                    sign,
                    derive: t.bool(CKA_DERIVE)?.unwrap_or(false),
                    ..KeyUsage::default()
                };
                (material, usage)
            }
            _ => return Err(Error::AttributeValueInvalid),
        };
        Ok(KeyImport {
            material,
            label,
            id,
            usage,
        })
    }
}

impl Token {
    /// Import a private key (and its public half) onto the token. Needs an R/W session and
    /// the user logged in, like `C_CreateObject`. Returns the private key's handle; the public
    /// key object the backend wrote beside it becomes visible too.
    pub fn import_private_key(
        &mut self,
        handles: &Handles,
        h: CK_SESSION_HANDLE,
        key: &KeyImport,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.require_rw(h)?;
        self.check_writable()?;
        self.ensure_objects(handles)?;
        self.require_user()?;
        let r = match &key.material {
            PrivateKeyMaterial::Rsa { n, e, d } => {
                check_rsa_components(n, e, d)?;
                let mut imp = RsaKeyImport {
                    n: n.clone(),
                    e: e.clone(),
                    d: d.to_vec(),
                    label: key.label.clone(),
                    id: key.id.clone(),
                    usage: KeyUsage {
                        derive: false,
                        ..key.usage
                    },
                };
                let r = self.backend.import_rsa_key(&imp);
                zeroize::Zeroize::zeroize(&mut imp.d);
                r
            }
            PrivateKeyMaterial::EcP256 { d, point } => {
                if key.usage.decrypt || key.usage.unwrap {
                    return Err(Error::TemplateInconsistent);
                }
                // A CKA_EC_POINT that is not d·G contradicts CKA_VALUE: decided here, before
                // the card (the backend's own check would answer CKR_ATTRIBUTE_VALUE_INVALID).
                let PrivateKeyMaterial::EcP256 { point: derived, .. } =
                    PrivateKeyMaterial::ec_p256_from_scalar(d.as_slice())?
                else {
                    return Err(Error::AttributeValueInvalid);
                };
                if &derived != point {
                    return Err(Error::TemplateInconsistent);
                }
                // `EcKeyImport` zeroizes its copy of d when dropped.
                let imp = EcKeyImport {
                    d: **d,
                    point: point.clone(),
                    label: key.label.clone(),
                    id: key.id.clone(),
                    usage: KeyUsage {
                        sign: key.usage.sign,
                        derive: key.usage.derive,
                        ..KeyUsage::default()
                    },
                };
                self.backend.import_ec_key(&imp)
            }
        };
        let meta = r.map_err(|e| self.be(e))?;
        // The backend also wrote the public half; re-list to pick it up.
        let handle = self.add_entry(handles, meta);
        self.relist(handles)?;
        Ok(handle)
    }
}

/// The components of an RSA private key agree: 1 < e, d < n, the modulus is 1024 or 2048 bits
/// (what the card holds), and (m^e)^d = m for two test values. Checked before anything reaches
/// the card: a key whose d does not belong to n would be stored and then sign garbage.
fn check_rsa_components(n: &[u8], e: &[u8], d: &[u8]) -> Result<()> {
    use rsa::BigUint;
    let n = BigUint::from_bytes_be(n);
    let e = BigUint::from_bytes_be(e);
    let d = BigUint::from_bytes_be(d);
    let one = BigUint::from(1u8);
    let bits = n.bits();
    if bits != 1024 && bits != 2048 {
        return Err(Error::KeySizeRange);
    }
    if e <= one || e >= n || d <= one || d >= n {
        return Err(Error::AttributeValueInvalid);
    }
    for m in [BigUint::from(2u8), BigUint::from(0x1234_5678_9abc_def1u64)] {
        if m.modpow(&e, &n).modpow(&d, &n) != m {
            return Err(Error::AttributeValueInvalid);
        }
    }
    Ok(())
}

#[cfg(test)]
mod rsa_check_tests {
    use super::*;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};

    #[test]
    fn components_that_do_not_agree_are_refused() {
        let k = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
        let (n, e, d) = (
            k.n().to_bytes_be(),
            k.e().to_bytes_be(),
            k.d().to_bytes_be(),
        );
        check_rsa_components(&n, &e, &d).unwrap();
        let mut bad = d.clone();
        bad[10] ^= 1;
        assert_eq!(
            check_rsa_components(&n, &e, &bad),
            Err(Error::AttributeValueInvalid)
        );
        assert_eq!(
            check_rsa_components(&n[1..], &e, &d),
            Err(Error::KeySizeRange)
        );
        assert_eq!(
            check_rsa_components(&n, &[1], &d),
            Err(Error::AttributeValueInvalid)
        );
    }
}
