//! Cryptographic primitives of §3.1 and the PIN key of §6.1.

use aes::Aes128;
use cipher::generic_array::GenericArray;
use cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use cmac::{Cmac, Mac};
use des::{Des, TdesEde2, TdesEde3};
use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

/// ISO/IEC 9797-1 method 2 padding: `80` then zeros up to a multiple of `bs` (always adds a byte).
pub fn pad80(data: &[u8], bs: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + bs);
    v.extend_from_slice(data);
    v.push(0x80);
    while v.len() % bs != 0 {
        v.push(0);
    }
    v
}

/// Strip method-2 padding strictly: trailing zeros, then a mandatory `80`.
pub fn unpad80(data: &[u8]) -> Option<&[u8]> {
    let end = data.iter().rposition(|&b| b != 0)?;
    (data[end] == 0x80).then(|| &data[..end])
}

/// Block cipher used by a variant's SM: 3DES-2K (8-byte blocks) or AES-128 (16-byte blocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cipher {
    /// DES-EDE with K1‖K2‖K1 from a 16-byte key.
    Tdes2,
    /// AES-128.
    Aes,
}

impl Cipher {
    /// Block size in bytes.
    pub fn block_size(self) -> usize {
        match self {
            Cipher::Tdes2 => 8,
            Cipher::Aes => 16,
        }
    }
}

fn ecb_enc_blocks<C: BlockEncrypt>(c: &C, bs: usize, data: &mut [u8]) {
    for chunk in data.chunks_mut(bs) {
        c.encrypt_block(GenericArray::from_mut_slice(chunk));
    }
}

/// CBC-encrypt `data` (a multiple of the block size) with a 16-byte key and the given IV.
pub fn cbc_encrypt(cipher: Cipher, key: &[u8; 16], iv: &[u8], data: &[u8]) -> Vec<u8> {
    let bs = cipher.block_size();
    let mut out = data.to_vec();
    let mut prev = iv[..bs].to_vec();
    let enc = |blk: &mut [u8]| match cipher {
        Cipher::Tdes2 => TdesEde2::new(GenericArray::from_slice(key))
            .encrypt_block(GenericArray::from_mut_slice(blk)),
        Cipher::Aes => Aes128::new(GenericArray::from_slice(key))
            .encrypt_block(GenericArray::from_mut_slice(blk)),
    };
    for chunk in out.chunks_mut(bs) {
        for (b, p) in chunk.iter_mut().zip(prev.iter()) {
            *b ^= *p;
        }
        enc(chunk);
        prev.copy_from_slice(chunk);
    }
    out
}

/// CBC-decrypt with IV 0. Returns `None` if the length is not a multiple of the block size.
pub fn cbc_decrypt(cipher: Cipher, key: &[u8; 16], data: &[u8]) -> Option<Vec<u8>> {
    let bs = cipher.block_size();
    if data.len().checked_rem(bs) != Some(0) {
        return None;
    }
    let mut out = data.to_vec();
    let mut prev = vec![0u8; bs];
    let t = TdesEde2::new(GenericArray::from_slice(key));
    let a = Aes128::new(GenericArray::from_slice(key));
    for chunk in out.chunks_mut(bs) {
        let ct = chunk.to_vec();
        match cipher {
            Cipher::Tdes2 => t.decrypt_block(GenericArray::from_mut_slice(chunk)),
            Cipher::Aes => a.decrypt_block(GenericArray::from_mut_slice(chunk)),
        }
        for (b, p) in chunk.iter_mut().zip(prev.iter()) {
            *b ^= *p;
        }
        prev = ct;
    }
    Some(out)
}

/// ECB-encrypt (session-key derivation, §3.3.2).
pub fn ecb_encrypt(cipher: Cipher, key: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    match cipher {
        Cipher::Tdes2 => ecb_enc_blocks(&TdesEde2::new(GenericArray::from_slice(key)), 8, &mut out),
        Cipher::Aes => ecb_enc_blocks(&Aes128::new(GenericArray::from_slice(key)), 16, &mut out),
    }
    out
}

/// ISO 9797-1 MAC algorithm 3 (retail MAC) with IV, over already padded data (§3.1).
pub fn retail_mac(key: &[u8; 16], iv: &[u8; 8], data: &[u8]) -> [u8; 8] {
    let k1 = Des::new(GenericArray::from_slice(&key[..8]));
    let k2 = Des::new(GenericArray::from_slice(&key[8..16]));
    let mut y = *iv;
    for chunk in data.chunks(8) {
        for (b, x) in y.iter_mut().zip(chunk) {
            *b ^= *x;
        }
        k1.encrypt_block(GenericArray::from_mut_slice(&mut y));
    }
    k2.decrypt_block(GenericArray::from_mut_slice(&mut y));
    k1.encrypt_block(GenericArray::from_mut_slice(&mut y));
    y
}

/// AES-CMAC (RFC 4493), full 16 bytes.
pub fn cmac(key: &[u8; 16], data: &[u8]) -> [u8; 16] {
    let mut m = <Cmac<Aes128> as KeyInit>::new(GenericArray::from_slice(key));
    m.update(data);
    let mut out = [0u8; 16];
    out.copy_from_slice(&m.finalize().into_bytes());
    out
}

fn dbl(x: &[u8; 16]) -> [u8; 16] {
    let mut out = [0u8; 16];
    let mut carry = 0u8;
    for i in (0..16).rev() {
        out[i] = (x[i] << 1) | carry;
        carry = x[i] >> 7;
    }
    if carry == 1 {
        out[15] ^= 0x87;
    }
    out
}

/// RFC 4493 sub-keys (K1, K2) of an AES-128 key.
pub fn cmac_subkeys(key: &[u8; 16]) -> (Zeroizing<[u8; 16]>, Zeroizing<[u8; 16]>) {
    let mut l = [0u8; 16];
    Aes128::new(GenericArray::from_slice(key)).encrypt_block(GenericArray::from_mut_slice(&mut l));
    let k1 = dbl(&l);
    let k2 = dbl(&k1);
    zeroize::Zeroize::zeroize(&mut l);
    (Zeroizing::new(k1), Zeroizing::new(k2))
}

/// Single AES block encryption.
pub fn aes_block(key: &[u8; 16], block: &[u8; 16]) -> [u8; 16] {
    let mut b = *block;
    Aes128::new(GenericArray::from_slice(key)).encrypt_block(GenericArray::from_mut_slice(&mut b));
    b
}

/// PIN key (§6.1): `SHA-1(PIN) ‖ BE32(len(PIN))`, 24 bytes, in a zeroizing container.
pub fn pin_key(pin: &[u8]) -> Zeroizing<[u8; 24]> {
    let mut k = Zeroizing::new([0u8; 24]);
    k[..20].copy_from_slice(&Sha1::digest(pin));
    k[20..].copy_from_slice(&(pin.len() as u32).to_be_bytes());
    k
}

/// PIN cryptogram (§5.12, §6.1): `3DES-3K-CBC(PINKEY, IV=0, challenge[0..8])` (one block).
pub fn pin_cryptogram(pin_key: &[u8; 24], challenge: &[u8; 8]) -> [u8; 8] {
    let mut b = *challenge;
    TdesEde3::new(GenericArray::from_slice(pin_key))
        .encrypt_block(GenericArray::from_mut_slice(&mut b));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn pin_vectors_10_6() {
        assert_eq!(
            &pin_key(b"123456")[..],
            &h("7C4A8D09CA3762AF61E59520943DC26494F8941B00000006")[..]
        );
        assert_eq!(
            &pin_key(b"12345678")[..],
            &h("7C222FB2927D828AF22F592134E8932480637C0D00000008")[..]
        );
        assert_eq!(
            &pin_key(b"654321")[..],
            &h("DD5FEF9C1C1DA1394D6D34B248C51BE2AD74084000000006")[..]
        );
        let k = pin_key(b"123456");
        let c = pin_cryptogram(&k, &[0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8]);
        assert_eq!(c.to_vec(), h("C72C846A1F3DF272"));
    }

    #[test]
    fn rfc4493_example() {
        let key: [u8; 16] = h("2b7e151628aed2a6abf7158809cf4f3c").try_into().unwrap();
        let (k1, k2) = cmac_subkeys(&key);
        assert_eq!(k1.to_vec(), h("fbeed618357133667c85e08f7236a8de"));
        assert_eq!(k2.to_vec(), h("f7ddac306ae266ccf90bc11ee46d513b"));
        assert_eq!(
            cmac(&key, &[]).to_vec(),
            h("bb1d6929e95937287fa37d129b756746")
        );
    }

    #[test]
    fn padding() {
        assert_eq!(pad80(&[1, 2], 8), vec![1, 2, 0x80, 0, 0, 0, 0, 0]);
        assert_eq!(pad80(&[0; 8], 8).len(), 16);
        assert_eq!(unpad80(&[1, 0x80, 0, 0]), Some(&[1u8][..]));
        assert_eq!(unpad80(&[1, 0, 0, 0]), None);
        assert_eq!(unpad80(&[0, 0]), None);
    }
}
