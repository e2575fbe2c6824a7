//! How a signature mechanism turns data into what the card signs; host hashing.

use crate::crypto::{self, HashAlg, PublicKey};
use crate::error::{Error, Result};
use crate::mechanism::{MechParams, Mechanism};
use crate::session::DigestOp;
use cryptoki_sys::*;
use digest::DynDigest;
use token_backend::KeyType;

/// How a signature mechanism turns data into what the card signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignScheme {
    /// PKCS#1 v1.5, optionally hashing first (then DigestInfo).
    Pkcs1(Option<HashAlg>),
    /// Raw RSA.
    X509,
    /// PSS, optionally hashing first.
    Pss {
        /// Hash applied by us (hashed variants).
        prehash: Option<HashAlg>,
        /// PSS hash.
        hash: HashAlg,
        /// MGF1 hash.
        mgf: HashAlg,
        /// Salt length.
        salt: usize,
    },
    /// ECDSA, optionally hashing first.
    Ecdsa(Option<HashAlg>),
}

impl SignScheme {
    pub(crate) fn from_mech(m: &Mechanism) -> Result<Self> {
        use HashAlg::*;
        let pss = |prehash: Option<HashAlg>| -> Result<SignScheme> {
            match &m.params {
                MechParams::Pss {
                    hash,
                    mgf,
                    salt_len,
                } => {
                    let hash =
                        HashAlg::from_digest_mech(*hash).ok_or(Error::MechanismParamInvalid)?;
                    if prehash.is_some_and(|p| p != hash) {
                        return Err(Error::MechanismParamInvalid);
                    }
                    Ok(SignScheme::Pss {
                        prehash,
                        hash,
                        mgf: HashAlg::from_mgf(*mgf).ok_or(Error::MechanismParamInvalid)?,
                        salt: usize::try_from(*salt_len)
                            .map_err(|_| Error::MechanismParamInvalid)?,
                    })
                }
                _ => Err(Error::MechanismParamInvalid),
            }
        };
        Ok(match m.mechanism {
            CKM_RSA_PKCS => SignScheme::Pkcs1(None),
            CKM_SHA1_RSA_PKCS => SignScheme::Pkcs1(Some(Sha1)),
            CKM_SHA224_RSA_PKCS => SignScheme::Pkcs1(Some(Sha224)),
            CKM_SHA256_RSA_PKCS => SignScheme::Pkcs1(Some(Sha256)),
            CKM_SHA384_RSA_PKCS => SignScheme::Pkcs1(Some(Sha384)),
            CKM_SHA512_RSA_PKCS => SignScheme::Pkcs1(Some(Sha512)),
            CKM_RSA_X_509 => SignScheme::X509,
            CKM_RSA_PKCS_PSS => pss(None)?,
            CKM_SHA1_RSA_PKCS_PSS => pss(Some(Sha1))?,
            CKM_SHA224_RSA_PKCS_PSS => pss(Some(Sha224))?,
            CKM_SHA256_RSA_PKCS_PSS => pss(Some(Sha256))?,
            CKM_SHA384_RSA_PKCS_PSS => pss(Some(Sha384))?,
            CKM_SHA512_RSA_PKCS_PSS => pss(Some(Sha512))?,
            CKM_ECDSA => SignScheme::Ecdsa(None),
            CKM_ECDSA_SHA1 => SignScheme::Ecdsa(Some(Sha1)),
            CKM_ECDSA_SHA224 => SignScheme::Ecdsa(Some(Sha224)),
            CKM_ECDSA_SHA256 => SignScheme::Ecdsa(Some(Sha256)),
            CKM_ECDSA_SHA384 => SignScheme::Ecdsa(Some(Sha384)),
            CKM_ECDSA_SHA512 => SignScheme::Ecdsa(Some(Sha512)),
            _ => return Err(Error::MechanismInvalid),
        })
    }

    /// PSS needs `emLen >= hLen + sLen + 2` (RFC 8017 §9.1.1): a salt too long for the key is a
    /// parameter this key cannot use (`CKR_MECHANISM_PARAM_INVALID` at `C_*Init`).
    pub(crate) fn check_size(&self, kt: KeyType) -> Result<()> {
        if let (SignScheme::Pss { hash, salt, .. }, KeyType::Rsa { bits }) = (self, kt) {
            let em_len = (usize::from(bits) - 1).div_ceil(8);
            if em_len < hash.output_len() + salt + 2 {
                return Err(Error::MechanismParamInvalid);
            }
        }
        Ok(())
    }

    pub(crate) fn check_key(&self, kt: KeyType) -> Result<()> {
        match (self, kt) {
            (SignScheme::Ecdsa(_), KeyType::EcP256) => Ok(()),
            (SignScheme::Ecdsa(_), _) | (_, KeyType::EcP256) => Err(Error::KeyTypeInconsistent),
            _ => Ok(()),
        }
    }

    /// The hash applied on the host, if any.
    pub fn hash(&self) -> Option<HashAlg> {
        match self {
            SignScheme::Pkcs1(h) | SignScheme::Ecdsa(h) => *h,
            SignScheme::Pss { prehash, .. } => *prehash,
            SignScheme::X509 => None,
        }
    }

    /// Single-part input after the host hash.
    pub fn prehash(&self, data: &[u8]) -> Vec<u8> {
        match self.hash() {
            Some(h) => h.hash(data),
            None => data.to_vec(),
        }
    }

    /// The block the card signs.
    pub(crate) fn encode(&self, input: &[u8], kt: KeyType) -> Result<Vec<u8>> {
        let bits = match kt {
            KeyType::Rsa { bits } => usize::from(bits),
            KeyType::EcP256 => 256,
        };
        let k = bits.div_ceil(8);
        match self {
            SignScheme::Pkcs1(Some(h)) => crypto::pkcs1_type1(&h.digest_info(input), k),
            SignScheme::Pkcs1(None) => crypto::pkcs1_type1(input, k),
            SignScheme::X509 => {
                if input.len() > k {
                    return Err(Error::DataLenRange);
                }
                let mut v = vec![0u8; k - input.len()];
                v.extend_from_slice(input);
                Ok(v)
            }
            SignScheme::Pss {
                hash, mgf, salt, ..
            } => crypto::pss_encode(input, *hash, *mgf, *salt, bits),
            SignScheme::Ecdsa(_) => Ok(crypto::ecdsa_input(input)),
        }
    }

    pub(crate) fn verify(&self, key: &PublicKey, input: &[u8], sig: &[u8]) -> Result<()> {
        match self {
            SignScheme::Ecdsa(_) => key.ecdsa_verify(&crypto::ecdsa_input(input), sig),
            _ => {
                let k = key.modulus_len();
                if sig.len() != k {
                    return Err(Error::SignatureLenRange);
                }
                let em = key.rsa_public(sig).map_err(|_| Error::SignatureInvalid)?;
                match self {
                    SignScheme::Pss {
                        hash, mgf, salt, ..
                    } => {
                        let bits = match key {
                            PublicKey::Rsa { n, .. } => {
                                n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize)
                            }
                            PublicKey::EcP256 { .. } => 0,
                        };
                        crypto::pss_verify(input, &em, *hash, *mgf, *salt, bits)
                    }
                    _ => {
                        let expected = self.encode(
                            input,
                            KeyType::Rsa {
                                bits: (k * 8) as u16,
                            },
                        )?;
                        if expected == em {
                            Ok(())
                        } else {
                            Err(Error::SignatureInvalid)
                        }
                    }
                }
            }
        }
    }
}

/// Hash state of a multi-part operation.
pub(crate) struct Accumulator {
    pub(crate) hasher: Option<Box<dyn DynDigest + Send>>,
    pub(crate) data: Vec<u8>,
}

impl Accumulator {
    pub(crate) fn new(h: Option<HashAlg>) -> Self {
        Accumulator {
            hasher: h.map(HashAlg::hasher),
            data: Vec::new(),
        }
    }
    pub(crate) fn update(&mut self, d: &[u8]) {
        match &mut self.hasher {
            Some(h) => h.update(d),
            None => self.data.extend_from_slice(d),
        }
    }
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        match self.hasher.take() {
            Some(h) => h.finalize().to_vec(),
            None => std::mem::take(&mut self.data),
        }
    }
}

/// `C_DigestInit` helper.
pub fn digest_op(mech: &Mechanism) -> Result<DigestOp> {
    let alg = HashAlg::from_digest_mech(mech.mechanism).ok_or(Error::MechanismInvalid)?;
    Ok(DigestOp {
        acc: Accumulator::new(Some(alg)),
        life: Default::default(),
    })
}
