//! Cryptographic primitives of the ePass2003 protocol (card side).
//!
//! Single DES, 2-key and 3-key 3DES, AES-128 in ECB/CBC, the ISO 9797-1 retail MAC, AES-CMAC
//! (RFC 4493), and a model of OpenSC's own big-number based CMAC routine used for the FIPS
//! "tries query" MAC (protocol §3.4.7, §10.7; compat page §1.2).

use aes::Aes128;
use cipher::{generic_array::GenericArray, BlockDecrypt, BlockEncrypt, KeyInit};
use cmac::{Cmac, Mac};
use des::{Des, TdesEde2, TdesEde3};

/// ISO/IEC 9797-1 padding method 2: append `80`, then `00` up to a multiple of `bs`.
pub fn pad80(data: &[u8], bs: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + bs);
    v.extend_from_slice(data);
    v.push(0x80);
    while v.len() % bs != 0 {
        v.push(0);
    }
    v
}

/// Removes ISO 9797-1 method-2 padding: trailing zeros, then one mandatory `80`.
pub fn unpad80(data: &[u8]) -> Option<Vec<u8>> {
    let mut end = data.len();
    while end > 0 && data[end - 1] == 0 {
        end -= 1;
    }
    if end == 0 || data[end - 1] != 0x80 {
        return None;
    }
    Some(data[..end - 1].to_vec())
}

fn xor_into(a: &mut [u8], b: &[u8]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= *y;
    }
}

fn ecb_enc<C: BlockEncrypt>(c: &C, bs: usize, data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for chunk in out.chunks_mut(bs) {
        c.encrypt_block(GenericArray::from_mut_slice(chunk));
    }
    out
}

fn cbc_enc<C: BlockEncrypt>(c: &C, bs: usize, iv: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut prev = iv.to_vec();
    for chunk in out.chunks_mut(bs) {
        xor_into(chunk, &prev);
        c.encrypt_block(GenericArray::from_mut_slice(chunk));
        prev.copy_from_slice(chunk);
    }
    out
}

fn cbc_dec<C: BlockDecrypt>(c: &C, bs: usize, iv: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let mut prev = iv.to_vec();
    for chunk in out.chunks_mut(bs) {
        let ct = chunk.to_vec();
        c.decrypt_block(GenericArray::from_mut_slice(chunk));
        xor_into(chunk, &prev);
        prev = ct;
    }
    out
}

/// 2-key 3DES (K1‖K2‖K1) in ECB mode. `data` must be a multiple of 8 bytes.
pub fn tdes2_ecb_enc(key: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let c = TdesEde2::new(GenericArray::from_slice(key));
    ecb_enc(&c, 8, data)
}

/// 2-key 3DES CBC encryption.
pub fn tdes2_cbc_enc(key: &[u8; 16], iv: &[u8], data: &[u8]) -> Vec<u8> {
    let c = TdesEde2::new(GenericArray::from_slice(key));
    cbc_enc(&c, 8, iv, data)
}

/// 2-key 3DES CBC decryption.
pub fn tdes2_cbc_dec(key: &[u8; 16], iv: &[u8], data: &[u8]) -> Vec<u8> {
    let c = TdesEde2::new(GenericArray::from_slice(key));
    cbc_dec(&c, 8, iv, data)
}

/// 3-key 3DES CBC encryption (PIN cryptograms).
pub fn tdes3_cbc_enc(key: &[u8; 24], iv: &[u8], data: &[u8]) -> Vec<u8> {
    let c = TdesEde3::new(GenericArray::from_slice(key));
    cbc_enc(&c, 8, iv, data)
}

/// AES-128 ECB encryption.
pub fn aes_ecb_enc(key: &[u8; 16], data: &[u8]) -> Vec<u8> {
    let c = Aes128::new(GenericArray::from_slice(key));
    ecb_enc(&c, 16, data)
}

/// AES-128 CBC encryption.
pub fn aes_cbc_enc(key: &[u8; 16], iv: &[u8], data: &[u8]) -> Vec<u8> {
    let c = Aes128::new(GenericArray::from_slice(key));
    cbc_enc(&c, 16, iv, data)
}

/// AES-128 CBC decryption.
pub fn aes_cbc_dec(key: &[u8; 16], iv: &[u8], data: &[u8]) -> Vec<u8> {
    let c = Aes128::new(GenericArray::from_slice(key));
    cbc_dec(&c, 16, iv, data)
}

/// ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC"), key K1‖K2, initial value `iv`, over
/// already padded input.
pub fn retail_mac(key: &[u8; 16], iv: &[u8], padded: &[u8]) -> [u8; 8] {
    let k1 = Des::new(GenericArray::from_slice(&key[..8]));
    let k2 = Des::new(GenericArray::from_slice(&key[8..]));
    let mut prev = [0u8; 8];
    prev.copy_from_slice(&iv[..8]);
    for chunk in padded.chunks(8) {
        xor_into(&mut prev, chunk);
        k1.encrypt_block(GenericArray::from_mut_slice(&mut prev));
    }
    k2.decrypt_block(GenericArray::from_mut_slice(&mut prev));
    k1.encrypt_block(GenericArray::from_mut_slice(&mut prev));
    prev
}

/// AES-CMAC (RFC 4493), full 16 bytes.
pub fn cmac(key: &[u8; 16], msg: &[u8]) -> [u8; 16] {
    // A 16-byte key is always a valid AES-128 key.
    let mut m = <Cmac<Aes128> as KeyInit>::new(GenericArray::from_slice(key));
    m.update(msg);
    let mut out = [0u8; 16];
    out.copy_from_slice(&m.finalize().into_bytes());
    out
}

/// First 8 bytes of [`cmac()`].
pub fn cmac8(key: &[u8; 16], msg: &[u8]) -> [u8; 8] {
    let full = cmac(key, msg);
    let mut out = [0u8; 8];
    out.copy_from_slice(&full[..8]);
    out
}

/// Which of OpenSC's sub-key doubling tests to model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubkeyQuirk {
    /// OpenSC 0.23.0: reduce with 0x87 only when the top byte is `> 0x80`.
    Gt80,
    /// OpenSC master: reduce when the top bit is set (`& 0x80`).
    TopBit,
    /// No quirk: RFC 4493 doubling (shift left by one bit, reduce with `87` when the top bit
    /// was set). What a card that computes its sub-keys correctly uses.
    Rfc4493,
}

/// One "doubling" step exactly as OpenSC's big-number code does it: the 16-byte value is
/// shifted left as an unsigned big integer and written out in minimal big-endian form (so
/// leading zero bytes are lost and the bytes end up left-aligned in a zeroed buffer); when the
/// test on the original top byte fires, the 17-byte result is read from offset 1 with `87`
/// XORed into its last byte.
fn opensc_dbl(x: &[u8; 16], quirk: SubkeyQuirk) -> [u8; 16] {
    if quirk == SubkeyQuirk::Rfc4493 {
        let mut out = [0u8; 16];
        for i in 0..16 {
            out[i] = (x[i] << 1) | x.get(i + 1).map_or(0, |n| n >> 7);
        }
        if x[0] & 0x80 != 0 {
            out[15] ^= 0x87;
        }
        return out;
    }
    let check = x[0];
    // shifted value as 17 big-endian bytes
    let mut shifted = [0u8; 17];
    let mut carry = 0u8;
    for i in (0..16).rev() {
        shifted[i + 1] = (x[i] << 1) | carry;
        carry = x[i] >> 7;
    }
    shifted[0] = carry;
    // minimal encoding, left-aligned in a zeroed 32-byte buffer
    let first = shifted.iter().position(|&b| b != 0).unwrap_or(17);
    let mut buf = [0u8; 32];
    let minimal = &shifted[first..];
    buf[..minimal.len()].copy_from_slice(minimal);
    let fire = match quirk {
        SubkeyQuirk::Gt80 => check > 0x80,
        SubkeyQuirk::TopBit => check & 0x80 != 0,
        SubkeyQuirk::Rfc4493 => unreachable!("handled above"),
    };
    let offset = if fire {
        buf[16] ^= 0x87;
        1
    } else {
        0
    };
    let mut out = [0u8; 16];
    out.copy_from_slice(&buf[offset..offset + 16]);
    out
}

/// OpenSC's hand-made CMAC for a message of at most 15 bytes (the FIPS tries query):
/// `AES(key, [iv ⊕] pad80(msg) ⊕ K2)`, first 8 bytes. With `iv = Some(icv)` this is OpenSC
/// 0.23.0's form (final step in CBC mode with the ICV as IV); with `None` it is master's
/// (ECB). Messages of 16 bytes or more are not modelled (OpenSC never sends them) and give
/// `None`.
pub fn opensc_cmac8(
    key: &[u8; 16],
    msg: &[u8],
    iv: Option<&[u8]>,
    quirk: SubkeyQuirk,
) -> Option<[u8; 8]> {
    if msg.len() >= 16 {
        return None;
    }
    let l = aes_ecb_enc(key, &[0u8; 16]);
    let mut lb = [0u8; 16];
    lb.copy_from_slice(&l);
    let k1 = opensc_dbl(&lb, quirk);
    let k2 = opensc_dbl(&k1, quirk);
    let mut block = pad80(msg, 16);
    xor_into(&mut block, &k2);
    if let Some(iv) = iv {
        xor_into(&mut block, iv);
    }
    let enc = aes_ecb_enc(key, &block);
    let mut out = [0u8; 8];
    out.copy_from_slice(&enc[..8]);
    Some(out)
}

/// Constant-time-ish equality for MACs and cryptograms.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// PIN key as OpenSC derives it: SHA-1(PIN) ‖ len(PIN) as 4 bytes big-endian.
pub fn pin_key(pin: &[u8]) -> [u8; 24] {
    use sha1::{Digest, Sha1};
    let h = Sha1::digest(pin);
    let mut k = [0u8; 24];
    k[..20].copy_from_slice(&h);
    k[20..].copy_from_slice(&(pin.len() as u32).to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).expect("hex")
    }

    #[test]
    fn pin_key_and_cryptogram_vectors() {
        assert_eq!(
            pin_key(b"123456").to_vec(),
            h("7C4A8D09CA3762AF61E59520943DC26494F8941B00000006")
        );
        assert_eq!(
            pin_key(b"654321").to_vec(),
            h("DD5FEF9C1C1DA1394D6D34B248C51BE2AD74084000000006")
        );
        let c = tdes3_cbc_enc(&pin_key(b"123456"), &[0; 8], &h("A1A2A3A4A5A6A7A8"));
        assert_eq!(c, h("C72C846A1F3DF272"));
    }

    #[test]
    fn master_cmac_anomaly_vector() {
        // protocol §10.7
        let mut k = [0u8; 16];
        k[14] = 0x01;
        k[15] = 0x4C;
        assert_eq!(
            aes_ecb_enc(&k, &[0; 16]),
            h("803C5470375487FA1B71EB25CDD9A01D")
        );
        let m = [0x0C, 0x82, 0x01, 0x81];
        assert_eq!(
            opensc_cmac8(&k, &m, None, SubkeyQuirk::TopBit).map(|v| v.to_vec()),
            Some(h("DFD884CBBEF6F4FD"))
        );
        assert_eq!(cmac8(&k, &m).to_vec(), h("B711171510E72E5B"));
    }

    #[test]
    fn rfc4493_subkeys_match_the_standard_cmac() {
        // Without an IV the one-block hand-made CMAC with correct sub-keys is RFC 4493 CMAC,
        // also for the key whose L starts with exactly 0x80 (where 0.23.0's "> 0x80" test
        // differs) and for the RFC 4493 example key.
        let mut anomaly = [0u8; 16];
        anomaly[14] = 0x01;
        anomaly[15] = 0x4C;
        let mut rfc_key = [0u8; 16];
        rfc_key.copy_from_slice(&h("2B7E151628AED2A6ABF7158809CF4F3C"));
        let m = [0x0C, 0x82, 0x01, 0x81];
        for k in [anomaly, rfc_key, [0u8; 16], [0xFF; 16]] {
            assert_eq!(
                opensc_cmac8(&k, &m, None, SubkeyQuirk::Rfc4493),
                Some(cmac8(&k, &m))
            );
        }
        assert_ne!(
            opensc_cmac8(&anomaly, &m, None, SubkeyQuirk::Gt80),
            Some(cmac8(&anomaly, &m))
        );
    }

    #[test]
    fn pad_unpad() {
        assert_eq!(pad80(&[1, 2], 8), vec![1, 2, 0x80, 0, 0, 0, 0, 0]);
        assert_eq!(pad80(&[0; 8], 8).len(), 16);
        assert_eq!(unpad80(&[1, 0x80, 0, 0]), Some(vec![1]));
        assert_eq!(unpad80(&[1, 0, 0, 0]), None);
    }
}
