//! Host-side cryptography around the card's raw operations: hashes, PKCS#1 v1.5 / PSS / OAEP
//! encoding and decoding, RSA and ECDSA public-key operations. The card only ever computes
//! `x^d mod n` or an ECDSA signature over a hash.

use crate::error::{Error, Result};
use cryptoki_sys::*;
use digest::DynDigest;
use rand::RngCore;
use rsa::BigUint;
use sha2::Digest;

/// A hash the token supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-1.
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// From a `CKM_SHA*` digest mechanism.
    pub fn from_digest_mech(m: CK_MECHANISM_TYPE) -> Option<Self> {
        Some(match m {
            CKM_SHA_1 => HashAlg::Sha1,
            CKM_SHA224 => HashAlg::Sha224,
            CKM_SHA256 => HashAlg::Sha256,
            CKM_SHA384 => HashAlg::Sha384,
            CKM_SHA512 => HashAlg::Sha512,
            _ => return None,
        })
    }
    /// From a `CKG_MGF1_*` value.
    pub fn from_mgf(m: CK_ULONG) -> Option<Self> {
        Some(match m {
            CKG_MGF1_SHA1 => HashAlg::Sha1,
            CKG_MGF1_SHA224 => HashAlg::Sha224,
            CKG_MGF1_SHA256 => HashAlg::Sha256,
            CKG_MGF1_SHA384 => HashAlg::Sha384,
            CKG_MGF1_SHA512 => HashAlg::Sha512,
            _ => return None,
        })
    }
    /// Output length.
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha224 => 28,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }
    /// A fresh hasher.
    pub fn hasher(self) -> Box<dyn DynDigest + Send> {
        match self {
            HashAlg::Sha1 => Box::new(sha1::Sha1::new()),
            HashAlg::Sha224 => Box::new(sha2::Sha224::new()),
            HashAlg::Sha256 => Box::new(sha2::Sha256::new()),
            HashAlg::Sha384 => Box::new(sha2::Sha384::new()),
            HashAlg::Sha512 => Box::new(sha2::Sha512::new()),
        }
    }
    /// Hash `data` in one go.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finalize().to_vec()
    }
    /// The DER DigestInfo prefix (PKCS#1 v1.5 signatures).
    pub fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            HashAlg::Sha1 => &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ],
            HashAlg::Sha224 => &[
                0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x04, 0x05, 0x00, 0x04, 0x1c,
            ],
            HashAlg::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            HashAlg::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            HashAlg::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
    /// DigestInfo for `hash`.
    pub fn digest_info(self, hash: &[u8]) -> Vec<u8> {
        let mut v = self.digest_info_prefix().to_vec();
        v.extend_from_slice(hash);
        v
    }
}

/// MGF1 with `hash`.
fn mgf1(hash: HashAlg, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + hash.output_len());
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut h = hash.hasher();
        h.update(seed);
        h.update(&counter.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// PKCS#1 v1.5 block type 1 (signature) of length `k`.
pub fn pkcs1_type1(t: &[u8], k: usize) -> Result<Vec<u8>> {
    if t.len() + 11 > k {
        return Err(Error::DataLenRange);
    }
    let mut v = vec![0u8, 1];
    v.resize(k - t.len() - 1, 0xff);
    v.push(0);
    v.extend_from_slice(t);
    Ok(v)
}

/// PKCS#1 v1.5 block type 2 (encryption) of length `k`.
pub fn pkcs1_type2(m: &[u8], k: usize) -> Result<Vec<u8>> {
    if m.len() + 11 > k {
        return Err(Error::DataLenRange);
    }
    let mut v = vec![0u8, 2];
    let mut rng = rand::thread_rng();
    while v.len() < k - m.len() - 1 {
        let mut b = [0u8; 1];
        rng.fill_bytes(&mut b);
        if b[0] != 0 {
            v.push(b[0]);
        }
    }
    v.push(0);
    v.extend_from_slice(m);
    Ok(v)
}

/// Undo block type 2 after a raw decryption.
pub fn pkcs1_type2_unpad(em: &[u8]) -> Result<Vec<u8>> {
    if em.len() < 11 || em[0] != 0 || em[1] != 2 {
        return Err(Error::EncryptedDataInvalid);
    }
    let sep = em[2..]
        .iter()
        .position(|&b| b == 0)
        .ok_or(Error::EncryptedDataInvalid)?;
    if sep < 8 {
        return Err(Error::EncryptedDataInvalid);
    }
    Ok(em[2 + sep + 1..].to_vec())
}

/// Check a type-1 block (verify of CKM_RSA_PKCS) and return the payload.
pub fn pkcs1_type1_unpad(em: &[u8]) -> Result<Vec<u8>> {
    if em.len() < 11 || em[0] != 0 || em[1] != 1 {
        return Err(Error::SignatureInvalid);
    }
    let mut i = 2;
    while i < em.len() && em[i] == 0xff {
        i += 1;
    }
    if i - 2 < 8 || i >= em.len() || em[i] != 0 {
        return Err(Error::SignatureInvalid);
    }
    Ok(em[i + 1..].to_vec())
}

/// EMSA-PSS encoding (RFC 8017 §9.1.1) of `m_hash`, left-padded to `k` bytes for the card.
pub fn pss_encode(
    m_hash: &[u8],
    hash: HashAlg,
    mgf: HashAlg,
    salt_len: usize,
    mod_bits: usize,
) -> Result<Vec<u8>> {
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    let h_len = hash.output_len();
    if m_hash.len() != h_len {
        return Err(Error::DataLenRange);
    }
    if em_len < h_len + salt_len + 2 {
        return Err(Error::MechanismParamInvalid);
    }
    let mut salt = vec![0u8; salt_len];
    rand::thread_rng().fill_bytes(&mut salt);
    let mut hh = hash.hasher();
    hh.update(&[0u8; 8]);
    hh.update(m_hash);
    hh.update(&salt);
    let h = hh.finalize();
    let db_len = em_len - h_len - 1;
    let mut db = vec![0u8; db_len - salt_len - 1];
    db.push(1);
    db.extend_from_slice(&salt);
    let mask = mgf1(mgf, &h, db_len);
    for (d, m) in db.iter_mut().zip(mask) {
        *d ^= m;
    }
    db[0] &= 0xffu8 >> (8 * em_len - em_bits);
    let k = mod_bits.div_ceil(8);
    let mut out = vec![0u8; k - em_len];
    out.extend_from_slice(&db);
    out.extend_from_slice(&h);
    out.push(0xbc);
    Ok(out)
}

/// EMSA-PSS verification of a recovered block `em_full` (k bytes).
pub fn pss_verify(
    m_hash: &[u8],
    em_full: &[u8],
    hash: HashAlg,
    mgf: HashAlg,
    salt_len: usize,
    mod_bits: usize,
) -> Result<()> {
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    let h_len = hash.output_len();
    let bad = Error::SignatureInvalid;
    if m_hash.len() != h_len || em_len < h_len + salt_len + 2 || em_full.len() < em_len {
        return Err(bad);
    }
    let (lead, em) = em_full.split_at(em_full.len() - em_len);
    if lead.iter().any(|&b| b != 0) || em[em_len - 1] != 0xbc {
        return Err(bad);
    }
    let db_len = em_len - h_len - 1;
    let (masked, rest) = em.split_at(db_len);
    let h = &rest[..h_len];
    let top = 0xffu8 >> (8 * em_len - em_bits);
    if masked[0] & !top != 0 {
        return Err(bad);
    }
    let mask = mgf1(mgf, h, db_len);
    let mut db: Vec<u8> = masked.iter().zip(mask).map(|(a, b)| a ^ b).collect();
    db[0] &= top;
    let ps_len = db_len - salt_len - 1;
    if db[..ps_len].iter().any(|&b| b != 0) || db[ps_len] != 1 {
        return Err(bad);
    }
    let salt = &db[ps_len + 1..];
    let mut hh = hash.hasher();
    hh.update(&[0u8; 8]);
    hh.update(m_hash);
    hh.update(salt);
    if hh.finalize().as_ref() != h {
        return Err(bad);
    }
    Ok(())
}

/// OAEP encoding (RFC 8017 §7.1.1) to `k` bytes.
pub fn oaep_encode(
    m: &[u8],
    label: &[u8],
    hash: HashAlg,
    mgf: HashAlg,
    k: usize,
) -> Result<Vec<u8>> {
    let h_len = hash.output_len();
    if k < 2 * h_len + 2 || m.len() > k - 2 * h_len - 2 {
        return Err(Error::DataLenRange);
    }
    let mut db = hash.hash(label);
    db.resize(k - m.len() - h_len - 2, 0);
    db.push(1);
    db.extend_from_slice(m);
    let mut seed = vec![0u8; h_len];
    rand::thread_rng().fill_bytes(&mut seed);
    let db_mask = mgf1(mgf, &seed, db.len());
    for (d, x) in db.iter_mut().zip(db_mask) {
        *d ^= x;
    }
    let seed_mask = mgf1(mgf, &db, h_len);
    for (s, x) in seed.iter_mut().zip(seed_mask) {
        *s ^= x;
    }
    let mut out = vec![0u8];
    out.extend_from_slice(&seed);
    out.extend_from_slice(&db);
    Ok(out)
}

/// OAEP decoding of a raw decryption result (`k` bytes).
pub fn oaep_decode(em: &[u8], label: &[u8], hash: HashAlg, mgf: HashAlg) -> Result<Vec<u8>> {
    let h_len = hash.output_len();
    let k = em.len();
    let bad = Error::EncryptedDataInvalid;
    if k < 2 * h_len + 2 || em[0] != 0 {
        return Err(bad);
    }
    let (seed_m, db_m) = em[1..].split_at(h_len);
    let seed_mask = mgf1(mgf, db_m, h_len);
    let seed: Vec<u8> = seed_m.iter().zip(seed_mask).map(|(a, b)| a ^ b).collect();
    let db_mask = mgf1(mgf, &seed, db_m.len());
    let db: Vec<u8> = db_m.iter().zip(db_mask).map(|(a, b)| a ^ b).collect();
    if db[..h_len] != hash.hash(label)[..] {
        return Err(bad);
    }
    let rest = &db[h_len..];
    let one = rest
        .iter()
        .position(|&b| b != 0)
        .ok_or(Error::EncryptedDataInvalid)?;
    if rest[one] != 1 {
        return Err(bad);
    }
    Ok(rest[one + 1..].to_vec())
}

/// Public half of a key, as the token knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA modulus and exponent (big-endian, no leading zeros).
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// P-256 uncompressed point (`04 ‖ X ‖ Y`).
    EcP256 {
        /// SEC1 point.
        point: Vec<u8>,
    },
}

/// DER of the named-curve OID prime256v1 (`CKA_EC_PARAMS`).
pub const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

impl PublicKey {
    /// From SubjectPublicKeyInfo DER.
    pub fn from_spki(der: &[u8]) -> Option<PublicKey> {
        use rsa::pkcs8::DecodePublicKey;
        use rsa::traits::PublicKeyParts;
        if let Ok(k) = rsa::RsaPublicKey::from_public_key_der(der) {
            return Some(PublicKey::Rsa {
                n: k.n().to_bytes_be(),
                e: k.e().to_bytes_be(),
            });
        }
        if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            return Some(PublicKey::EcP256 {
                point: k.to_encoded_point(false).as_bytes().to_vec(),
            });
        }
        None
    }
    /// From a certificate's DER.
    pub fn from_certificate(der: &[u8]) -> Option<PublicKey> {
        use der::{Decode, Encode};
        let c = x509_cert::Certificate::from_der(der).ok()?;
        let spki = c.tbs_certificate.subject_public_key_info.to_der().ok()?;
        Self::from_spki(&spki)
    }
    /// To SubjectPublicKeyInfo DER.
    pub fn to_spki(&self) -> Result<Vec<u8>> {
        use rsa::pkcs8::EncodePublicKey;
        let doc = match self {
            PublicKey::Rsa { n, e } => {
                rsa::RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
                    .map_err(|_| Error::AttributeValueInvalid)?
                    .to_public_key_der()
            }
            PublicKey::EcP256 { point } => p256::PublicKey::from_sec1_bytes(point)
                .map_err(|_| Error::AttributeValueInvalid)?
                .to_public_key_der(),
        };
        doc.map(|d| d.as_bytes().to_vec())
            .map_err(|_| Error::AttributeValueInvalid)
    }
    /// Modulus length in bytes (RSA).
    pub fn modulus_len(&self) -> usize {
        match self {
            PublicKey::Rsa { n, .. } => n.len(),
            PublicKey::EcP256 { .. } => 0,
        }
    }
    /// `x^e mod n`, left-padded to the modulus length.
    pub fn rsa_public(&self, x: &[u8]) -> Result<Vec<u8>> {
        let PublicKey::Rsa { n, e } = self else {
            return Err(Error::KeyTypeInconsistent);
        };
        let nn = BigUint::from_bytes_be(n);
        let xx = BigUint::from_bytes_be(x);
        if xx >= nn {
            return Err(Error::DataInvalid);
        }
        let y = xx.modpow(&BigUint::from_bytes_be(e), &nn).to_bytes_be();
        let mut out = vec![0u8; n.len().saturating_sub(y.len())];
        out.extend_from_slice(&y);
        Ok(out)
    }
    /// Verify an ECDSA `r ‖ s` signature over a (normalised) hash.
    pub fn ecdsa_verify(&self, hash: &[u8], sig: &[u8]) -> Result<()> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let PublicKey::EcP256 { point } = self else {
            return Err(Error::KeyTypeInconsistent);
        };
        if sig.len() != 64 {
            return Err(Error::SignatureLenRange);
        }
        let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
            .map_err(|_| Error::KeyTypeInconsistent)?;
        let s = p256::ecdsa::Signature::from_slice(sig).map_err(|_| Error::SignatureInvalid)?;
        vk.verify_prehash(hash, &s)
            .map_err(|_| Error::SignatureInvalid)
    }
}

/// Normalise an ECDSA input to the 32 bytes the card uses: the leftmost 256 bits, or the value
/// left-padded with zeros (same integer).
pub fn ecdsa_input(hash: &[u8]) -> Vec<u8> {
    if hash.len() >= 32 {
        hash[..32].to_vec()
    } else {
        let mut v = vec![0u8; 32 - hash.len()];
        v.extend_from_slice(hash);
        v
    }
}

/// DER OCTET STRING around `v` (`CKA_EC_POINT`).
pub fn der_octet_string(v: &[u8]) -> Vec<u8> {
    use der::Encode;
    der::asn1::OctetStringRef::new(v)
        .and_then(|o| o.to_der())
        .unwrap_or_default()
}

/// Unwrap a DER OCTET STRING if `v` is one, else return `v` (callers send either).
pub fn unwrap_octet_string(v: &[u8]) -> Vec<u8> {
    use der::Decode;
    match der::asn1::OctetString::from_der(v) {
        Ok(o) => o.as_bytes().to_vec(),
        Err(_) => v.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pss_round_trip() {
        let h = HashAlg::Sha256.hash(b"abc");
        let em = pss_encode(&h, HashAlg::Sha256, HashAlg::Sha256, 32, 2048).unwrap();
        assert_eq!(em.len(), 256);
        pss_verify(&h, &em, HashAlg::Sha256, HashAlg::Sha256, 32, 2048).unwrap();
        let h2 = HashAlg::Sha256.hash(b"abd");
        assert!(pss_verify(&h2, &em, HashAlg::Sha256, HashAlg::Sha256, 32, 2048).is_err());
    }

    #[test]
    fn oaep_round_trip() {
        let em = oaep_encode(b"hello", b"", HashAlg::Sha1, HashAlg::Sha1, 128).unwrap();
        assert_eq!(
            oaep_decode(&em, b"", HashAlg::Sha1, HashAlg::Sha1).unwrap(),
            b"hello"
        );
        assert!(oaep_decode(&em, b"x", HashAlg::Sha1, HashAlg::Sha1).is_err());
    }

    #[test]
    fn pkcs1_pads() {
        let b1 = pkcs1_type1(b"xyz", 128).unwrap();
        assert_eq!(pkcs1_type1_unpad(&b1).unwrap(), b"xyz");
        let b2 = pkcs1_type2(b"xyz", 128).unwrap();
        assert_eq!(pkcs1_type2_unpad(&b2).unwrap(), b"xyz");
        assert_eq!(pkcs1_type1(&[0; 118], 128), Err(Error::DataLenRange));
    }
}
