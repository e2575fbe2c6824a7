//! Just enough X.509 to pair certificates by RSA modulus (§A.5 rule 2): find the
//! SubjectPublicKeyInfo in a DER certificate and take an RSA key's modulus from it. Never panics;
//! anything unexpected gives `None`.

use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;

/// One DER TLV at the start of `data`: `(tag, whole TLV length, content)`.
pub(crate) fn tlv(data: &[u8]) -> Option<(u8, usize, &[u8])> {
    let tag = *data.first()?;
    if tag & 0x1F == 0x1F {
        return None; // multi-byte tags do not occur where we look
    }
    let first = *data.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = data.get(2..2 + n)?;
        (
            bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b)),
            2 + n,
        )
    };
    let end = hdr.checked_add(len)?;
    Some((tag, end, data.get(hdr..end)?))
}

/// The DER SubjectPublicKeyInfo of a certificate.
pub(crate) fn spki(cert: &[u8]) -> Option<&[u8]> {
    let (0x30, _, cert_body) = tlv(cert)? else {
        return None;
    };
    let (0x30, _, mut tbs) = tlv(cert_body)? else {
        return None;
    };
    // [0] version (optional), serial, signature, issuer, validity, subject, spki
    if tbs.first() == Some(&0xA0) {
        let (_, n, _) = tlv(tbs)?;
        tbs = &tbs[n..];
    }
    for _ in 0..5 {
        let (_, n, _) = tlv(tbs)?;
        tbs = &tbs[n..];
    }
    let (0x30, n, _) = tlv(tbs)? else {
        return None;
    };
    Some(&tbs[..n])
}

/// The RSA modulus (big-endian, no leading zeros) of a certificate's key, if it is RSA.
pub(crate) fn rsa_modulus(cert: &[u8]) -> Option<Vec<u8>> {
    let pk = rsa::RsaPublicKey::from_public_key_der(spki(cert)?).ok()?;
    Some(pk.n().to_bytes_be())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_panics() {
        for d in [
            &[][..],
            &[0x30],
            &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
            &[0x30, 0x03, 0x30, 0x01, 0xA0],
            &[0x30, 0x80],
            &[0x1F, 0x01, 0x00],
        ] {
            assert_eq!(rsa_modulus(d), None);
        }
    }
}
