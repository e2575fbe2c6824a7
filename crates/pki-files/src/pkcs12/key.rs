//! Private keys inside PKCS#12 bags: PKCS#8 PrivateKeyInfo to [`PrivateKey`] and back, and the
//! matching SubjectPublicKeyInfo.

use const_oid::ObjectIdentifier;
use der::asn1::BitStringRef;
use der::{AnyRef, Decode, Encode};
use zeroize::Zeroizing;

use super::{Error, PrivateKey, RsaPrimes};

pub(crate) const RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(crate) const EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(crate) const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

fn damaged(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Damaged(format!("{what}: {e}"))
}

/// Decode a DER PKCS#8 PrivateKeyInfo (v1 or v2).
pub(crate) fn from_pkcs8(der: &[u8]) -> Result<PrivateKey, Error> {
    let pki = pkcs8::PrivateKeyInfo::from_der(der).map_err(|e| damaged("private key", e))?;
    let oid = pki.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        let k = pkcs1::RsaPrivateKey::from_der(pki.private_key)
            .map_err(|e| damaged("RSA private key", e))?;
        if k.other_prime_infos.is_some() {
            return Err(Error::Unsupported("multi-prime RSA keys".into()));
        }
        return Ok(PrivateKey::Rsa {
            n: k.modulus.as_bytes().to_vec(),
            e: k.public_exponent.as_bytes().to_vec(),
            d: Zeroizing::new(k.private_exponent.as_bytes().to_vec()),
            primes: Some(RsaPrimes {
                p: Zeroizing::new(k.prime1.as_bytes().to_vec()),
                q: Zeroizing::new(k.prime2.as_bytes().to_vec()),
            }),
        });
    }
    if oid == EC_PUBLIC_KEY {
        let curve = pki
            .algorithm
            .parameters
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        let Some(curve) = curve else {
            return Err(Error::Unsupported(
                "EC key with explicit curve parameters".into(),
            ));
        };
        if curve != PRIME256V1 {
            return Err(Error::Unsupported(format!(
                "EC curve {}",
                crate::details::curve_name(&curve)
            )));
        }
        use p256::pkcs8::DecodePrivateKey;
        let sk = p256::SecretKey::from_pkcs8_der(der).map_err(|e| damaged("EC private key", e))?;
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = sk.public_key().to_encoded_point(false).as_bytes().to_vec();
        return Ok(PrivateKey::EcP256 {
            d: Zeroizing::new(sk.to_bytes().to_vec()),
            point,
        });
    }
    let name = match oid.to_string().as_str() {
        "1.3.101.112" => "Ed25519".to_string(),
        "1.3.101.113" => "Ed448".to_string(),
        "1.2.840.10040.4.1" => "DSA".to_string(),
        _ => const_oid::db::DB
            .by_oid(&oid)
            .map_or_else(|| oid.to_string(), str::to_string),
    };
    Err(Error::Unsupported(format!("key type {name}")))
}

fn big(b: &[u8]) -> rsa::BigUint {
    rsa::BigUint::from_bytes_be(b)
}

/// Encode as DER PKCS#8 PrivateKeyInfo (v1, as OpenSSL writes).
pub(crate) fn to_pkcs8(key: &PrivateKey) -> Result<Zeroizing<Vec<u8>>, Error> {
    match key {
        PrivateKey::Rsa { n, e, d, primes } => {
            use rsa::pkcs8::EncodePrivateKey;
            let ps = match primes {
                Some(p) => vec![big(&p.p), big(&p.q)],
                None => vec![],
            };
            let k = rsa::RsaPrivateKey::from_components(big(n), big(e), big(d), ps)
                .map_err(|e| Error::Unsupported(format!("inconsistent RSA key: {e}")))?;
            let doc = k
                .to_pkcs8_der()
                .map_err(|e| Error::Unsupported(format!("RSA key encoding: {e}")))?;
            Ok(Zeroizing::new(doc.as_bytes().to_vec()))
        }
        PrivateKey::EcP256 { d, .. } => {
            use p256::pkcs8::EncodePrivateKey;
            let sk = p256::SecretKey::from_slice(d)
                .map_err(|_| Error::Unsupported("invalid P-256 private key".into()))?;
            let doc = sk
                .to_pkcs8_der()
                .map_err(|e| Error::Unsupported(format!("EC key encoding: {e}")))?;
            Ok(Zeroizing::new(doc.as_bytes().to_vec()))
        }
    }
}

/// DER SubjectPublicKeyInfo of the key's public half.
pub(crate) fn spki_der(key: &PrivateKey) -> Result<Vec<u8>, Error> {
    let enc = |e: der::Error| Error::Unsupported(format!("public key encoding: {e}"));
    match key {
        PrivateKey::Rsa { n, e, .. } => {
            let pubkey = pkcs1::RsaPublicKey {
                modulus: pkcs1::UintRef::new(n).map_err(enc)?,
                public_exponent: pkcs1::UintRef::new(e).map_err(enc)?,
            }
            .to_der()
            .map_err(enc)?;
            spki::SubjectPublicKeyInfoRef {
                algorithm: spki::AlgorithmIdentifierRef {
                    oid: RSA_ENCRYPTION,
                    parameters: Some(AnyRef::NULL),
                },
                subject_public_key: BitStringRef::from_bytes(&pubkey).map_err(enc)?,
            }
            .to_der()
            .map_err(enc)
        }
        PrivateKey::EcP256 { point, .. } => {
            let params = PRIME256V1.to_der().map_err(enc)?;
            spki::SubjectPublicKeyInfoRef {
                algorithm: spki::AlgorithmIdentifierRef {
                    oid: EC_PUBLIC_KEY,
                    parameters: Some(AnyRef::from_der(&params).map_err(enc)?),
                },
                subject_public_key: BitStringRef::from_bytes(point).map_err(enc)?,
            }
            .to_der()
            .map_err(enc)
        }
    }
}
