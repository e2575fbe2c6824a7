//! Password-based encryption of PKCS#12 bags (RFC 7292 appendix C legacy PBE and PBES2) and
//! the PKCS#12 MAC.

use cipher::block_padding::Pkcs7;
use cipher::{BlockDecryptMut, InnerIvInit};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use digest::core_api::BlockSizeUser;
use digest::{Digest, FixedOutputReset};
use hmac::{Mac, SimpleHmac};
use pkcs12::kdf::{derive_key, Pkcs12KeyType};
use pkcs12::pbe_params::Pkcs12PbeParams;
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use super::Error;

/// Iteration counts above this are refused (a hostile file could otherwise hang the reader).
const MAX_ITERATIONS: i32 = 10_000_000;

/// The password as PKCS#12 sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pass<'a> {
    /// A password (possibly ""): BMPString with a trailing zero for the PKCS#12 KDF,
    /// UTF-8 bytes for PBES2.
    Given(&'a str),
    /// No password at all (OpenSSL's NULL password): zero bytes for both KDFs.
    Absent,
}

impl Pass<'_> {
    /// RFC 7292 appendix B.1: big-endian UTF-16 with two trailing zero bytes.
    pub(crate) fn bmp(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        if let Pass::Given(p) = self {
            for u in p.encode_utf16() {
                out.extend_from_slice(&u.to_be_bytes());
            }
            out.extend_from_slice(&[0, 0]);
        }
        out
    }

    /// Password bytes for PBKDF2.
    pub(crate) fn utf8(&self) -> &[u8] {
        match self {
            Pass::Given(p) => p.as_bytes(),
            Pass::Absent => &[],
        }
    }
}

/// Outcome of trying to decrypt.
pub(crate) enum DecryptError {
    /// Padding wrong: the password (or the data) is wrong.
    BadPassword,
    /// Anything else.
    Other(Error),
}

impl From<Error> for DecryptError {
    fn from(e: Error) -> Self {
        DecryptError::Other(e)
    }
}

const PBE_SHA1_RC4_128: &str = "1.2.840.113549.1.12.1.1";
const PBE_SHA1_RC4_40: &str = "1.2.840.113549.1.12.1.2";
const PBE_SHA1_3DES: &str = "1.2.840.113549.1.12.1.3";
const PBE_SHA1_2DES: &str = "1.2.840.113549.1.12.1.4";
const PBE_SHA1_RC2_128: &str = "1.2.840.113549.1.12.1.5";
const PBE_SHA1_RC2_40: &str = "1.2.840.113549.1.12.1.6";

/// Short description of an encryption algorithm identifier.
pub(crate) fn describe(alg: &AlgorithmIdentifierOwned) -> String {
    match alg.oid.to_string().as_str() {
        PBE_SHA1_3DES => "PBE-SHA1-3DES".into(),
        PBE_SHA1_2DES => "PBE-SHA1-2DES".into(),
        PBE_SHA1_RC2_40 => "PBE-SHA1-RC2-40".into(),
        PBE_SHA1_RC2_128 => "PBE-SHA1-RC2-128".into(),
        PBE_SHA1_RC4_40 => "PBE-SHA1-RC4-40".into(),
        PBE_SHA1_RC4_128 => "PBE-SHA1-RC4-128".into(),
        "1.2.840.113549.1.5.13" => describe_pbes2(alg).unwrap_or_else(|| "PBES2".into()),
        other => const_oid::db::DB
            .by_oid(&alg.oid)
            .map_or_else(|| other.to_string(), str::to_string),
    }
}

fn describe_pbes2(alg: &AlgorithmIdentifierOwned) -> Option<String> {
    let der = alg.to_der().ok()?;
    let scheme = pkcs5::EncryptionScheme::from_der(&der).ok()?;
    let p = scheme.pbes2()?;
    let cipher = match p.encryption {
        pkcs5::pbes2::EncryptionScheme::Aes128Cbc { .. } => "AES-128-CBC",
        pkcs5::pbes2::EncryptionScheme::Aes192Cbc { .. } => "AES-192-CBC",
        pkcs5::pbes2::EncryptionScheme::Aes256Cbc { .. } => "AES-256-CBC",
        pkcs5::pbes2::EncryptionScheme::DesEde3Cbc { .. } => "3DES-CBC",
        _ => "other cipher",
    };
    let kdf = match &p.kdf {
        pkcs5::pbes2::Kdf::Pbkdf2(k) => {
            let prf = match k.prf {
                pkcs5::pbes2::Pbkdf2Prf::HmacWithSha1 => "SHA1",
                pkcs5::pbes2::Pbkdf2Prf::HmacWithSha224 => "SHA224",
                pkcs5::pbes2::Pbkdf2Prf::HmacWithSha256 => "SHA256",
                pkcs5::pbes2::Pbkdf2Prf::HmacWithSha384 => "SHA384",
                pkcs5::pbes2::Pbkdf2Prf::HmacWithSha512 => "SHA512",
                _ => "other",
            };
            format!("PBKDF2-HMAC-{prf}")
        }
        pkcs5::pbes2::Kdf::Scrypt(_) => "scrypt".to_string(),
        _ => "other KDF".to_string(),
    };
    Some(format!("PBES2 {cipher}, {kdf}"))
}

fn cbc_decrypt<C>(cipher: C, iv: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, DecryptError>
where
    C: cipher::BlockCipher + cipher::BlockDecrypt + cipher::BlockSizeUser,
{
    let dec = cbc::Decryptor::<C>::inner_iv_slice_init(cipher, iv)
        .map_err(|_| Error::Damaged("bad IV length".into()))?;
    dec.decrypt_padded_vec_mut::<Pkcs7>(data)
        .map(Zeroizing::new)
        .map_err(|_| DecryptError::BadPassword)
}

/// Decrypt `data` encrypted with `alg` under `pass`.
pub(crate) fn decrypt(
    alg: &AlgorithmIdentifierOwned,
    pass: Pass<'_>,
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let oid = alg.oid.to_string();
    match oid.as_str() {
        PBE_SHA1_3DES | PBE_SHA1_2DES | PBE_SHA1_RC2_40 | PBE_SHA1_RC2_128 => {
            let params: Pkcs12PbeParams = alg
                .parameters
                .as_ref()
                .ok_or_else(|| Error::Damaged("PBE parameters missing".into()))?
                .decode_as()
                .map_err(|e| Error::Damaged(format!("PBE parameters: {e}")))?;
            if !(1..=MAX_ITERATIONS).contains(&params.iterations) {
                return Err(Error::Unsupported(format!(
                    "PBE iteration count {}",
                    params.iterations
                ))
                .into());
            }
            let salt = params.salt.as_bytes();
            let it = params.iterations;
            let bmp = pass.bmp();
            let kdf = |id, len| Zeroizing::new(derive_key::<sha1::Sha1>(&bmp, salt, id, it, len));
            let iv = kdf(Pkcs12KeyType::Iv, 8);
            match oid.as_str() {
                PBE_SHA1_3DES => {
                    let key = kdf(Pkcs12KeyType::EncryptionKey, 24);
                    let c = <des::TdesEde3 as cipher::KeyInit>::new_from_slice(&key)
                        .map_err(|_| Error::Damaged("3DES key".into()))?;
                    cbc_decrypt(c, &iv, data)
                }
                PBE_SHA1_2DES => {
                    let key = kdf(Pkcs12KeyType::EncryptionKey, 16);
                    let c = <des::TdesEde2 as cipher::KeyInit>::new_from_slice(&key)
                        .map_err(|_| Error::Damaged("2DES key".into()))?;
                    cbc_decrypt(c, &iv, data)
                }
                PBE_SHA1_RC2_40 => {
                    let key = kdf(Pkcs12KeyType::EncryptionKey, 5);
                    cbc_decrypt(rc2::Rc2::new_with_eff_key_len(&key, 40), &iv, data)
                }
                _ => {
                    let key = kdf(Pkcs12KeyType::EncryptionKey, 16);
                    cbc_decrypt(rc2::Rc2::new_with_eff_key_len(&key, 128), &iv, data)
                }
            }
        }
        PBE_SHA1_RC4_40 | PBE_SHA1_RC4_128 => {
            Err(Error::Unsupported(format!("encryption {}", describe(alg))).into())
        }
        _ => {
            let der = alg
                .to_der()
                .map_err(|e| Error::Damaged(format!("encryption algorithm: {e}")))?;
            let scheme = pkcs5::EncryptionScheme::from_der(&der)
                .map_err(|_| Error::Unsupported(format!("encryption {}", describe(alg))))?;
            if let Some(p) = scheme.pbes2() {
                if let Some(k) = p.kdf.pbkdf2() {
                    if k.iteration_count > MAX_ITERATIONS as u32 {
                        return Err(Error::Unsupported(format!(
                            "PBKDF2 iteration count {}",
                            k.iteration_count
                        ))
                        .into());
                    }
                }
            }
            match scheme.decrypt(pass.utf8(), data) {
                Ok(v) => Ok(Zeroizing::new(v)),
                // pkcs5 0.7 reports a padding failure on decryption as EncryptFailed.
                Err(pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed) => {
                    Err(DecryptError::BadPassword)
                }
                Err(e) => {
                    Err(Error::Unsupported(format!("encryption {}: {e}", describe(alg))).into())
                }
            }
        }
    }
}

/// Encrypt with PBES2: PBKDF2-HMAC-SHA256 (`iterations`), AES-256-CBC. Returns the algorithm
/// identifier and the ciphertext.
pub(crate) fn encrypt_pbes2(
    password: &str,
    iterations: u32,
    plaintext: &[u8],
) -> Result<(AlgorithmIdentifierOwned, Vec<u8>), Error> {
    use rand_core::RngCore;
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut salt);
    rand_core::OsRng.fill_bytes(&mut iv);
    let params = pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(iterations, &salt, &iv)
        .map_err(|e| Error::Unsupported(format!("PBES2 parameters: {e}")))?;
    let scheme = pkcs5::EncryptionScheme::Pbes2(params);
    let ct = scheme
        .encrypt(password.as_bytes(), plaintext)
        .map_err(|e| Error::Unsupported(format!("PBES2 encryption: {e}")))?;
    let der = scheme
        .to_der()
        .map_err(|e| Error::Unsupported(format!("PBES2 encoding: {e}")))?;
    let alg = AlgorithmIdentifierOwned::from_der(&der)
        .map_err(|e| Error::Unsupported(format!("PBES2 encoding: {e}")))?;
    Ok((alg, ct))
}

pub(crate) const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
pub(crate) const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const SHA224: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.4");

fn hmac_pkcs12<D>(pass: &[u8], salt: &[u8], iterations: i32, data: &[u8]) -> Zeroizing<Vec<u8>>
where
    D: Digest + FixedOutputReset + BlockSizeUser + Clone,
{
    let key = Zeroizing::new(derive_key::<D>(
        pass,
        salt,
        Pkcs12KeyType::Mac,
        iterations,
        <D as Digest>::output_size(),
    ));
    let mut mac = <SimpleHmac<D> as Mac>::new_from_slice(&key).expect_hmac();
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().to_vec())
}

trait ExpectHmac<T> {
    fn expect_hmac(self) -> T;
}

impl<T> ExpectHmac<T> for Result<T, digest::InvalidLength> {
    fn expect_hmac(self) -> T {
        match self {
            Ok(t) => t,
            // HMAC takes keys of any length.
            Err(_) => unreachable!("HMAC accepts every key length"),
        }
    }
}

/// Name of a MAC digest ("SHA-256").
pub(crate) fn digest_name(oid: &ObjectIdentifier) -> String {
    match *oid {
        SHA1 => "SHA-1".into(),
        SHA224 => "SHA-224".into(),
        SHA256 => "SHA-256".into(),
        SHA384 => "SHA-384".into(),
        SHA512 => "SHA-512".into(),
        _ => oid.to_string(),
    }
}

/// Compute the PKCS#12 MAC with digest `oid`.
pub(crate) fn mac(
    oid: &ObjectIdentifier,
    pass: Pass<'_>,
    salt: &[u8],
    iterations: i32,
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    if !(1..=MAX_ITERATIONS).contains(&iterations) {
        return Err(Error::Unsupported(format!(
            "MAC iteration count {iterations}"
        )));
    }
    let p = pass.bmp();
    Ok(match *oid {
        SHA1 => hmac_pkcs12::<sha1::Sha1>(&p, salt, iterations, data),
        SHA224 => hmac_pkcs12::<sha2::Sha224>(&p, salt, iterations, data),
        SHA256 => hmac_pkcs12::<sha2::Sha256>(&p, salt, iterations, data),
        SHA384 => hmac_pkcs12::<sha2::Sha384>(&p, salt, iterations, data),
        SHA512 => hmac_pkcs12::<sha2::Sha512>(&p, salt, iterations, data),
        _ => {
            return Err(Error::Unsupported(format!(
                "MAC digest {}",
                const_oid::db::DB
                    .by_oid(oid)
                    .map_or_else(|| oid.to_string(), str::to_string)
            )))
        }
    })
}

/// Constant-time comparison.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
