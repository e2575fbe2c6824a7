//! The on-card layout OpenSC's `pkcs15+onepin` profile creates (protocol doc §8.2/§8.3), and the
//! PKCS#15 entries this crate writes, shaped like OpenSC's (as read back from an OpenSC 0.23
//! personalised card).

use crate::asn1::aodf::{AuthObject, PinAttributes, PinFlags, PinObject, PinType};
use crate::asn1::cdf::{
    Certificate, CertificateEntry, CommonCertificateAttributes, X509CertificateAttributes,
};
use crate::asn1::dodf::{DataObject, DataObjectEntry};
use crate::asn1::prkdf::{
    EcKeyAttributes, PrivateKey, PrivateKeyEntry, PrivateKeyKind, RsaKeyAttributes,
};
use crate::asn1::pukdf::{PublicKey, PublicKeyEntry, PublicKeyKind};
use crate::asn1::{
    CommonKeyAttributes, CommonObjectAttributes, KeyAccessFlags, KeyUsageFlags, ObjectFlags,
    ObjectValue, Path,
};
use crate::backend::KeyUsage;

/// MF / application DF access conditions (LIST, CREATE, -, DELETE).
pub const AC_DF: [u8; 8] = [0x90, 0x90, 0xFF, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
/// BSO (key container).
pub const AC_BSO: [u8; 8] = [0x90, 0xFF, 0xFF, 0x9F, 0xFF, 0xFF, 0xFF, 0xFF];
/// EF.DIR.
pub const AC_EFDIR: [u8; 8] = [0x90, 0x90, 0x90, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
/// 9F00 (max tries), public-key and certificate EFs: all free except the unused slot.
pub const AC_FREE_EF: [u8; 8] = [0x90, 0x90, 0xFF, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
/// PKCS#15 directory files, 4946, the settings EF, public data objects: read free, update and
/// delete need the user PIN.
pub const AC_P15: [u8; 8] = [0x90, 0x96, 0xFF, 0x96, 0xFF, 0xFF, 0xFF, 0xFF];
/// Private data objects: everything needs the user PIN. (OpenSC's profile uses DELETE = never
/// (`9F`); this crate uses `96` so that a data object it creates can also be deleted.)
pub const AC_PRIVATE_DATA: [u8; 8] = [0x96, 0x96, 0xFF, 0x96, 0xFF, 0xFF, 0xFF, 0xFF];
/// Private-key internal EF.
pub const AC_PRIV_KEY: [u8; 8] = [0xFF, 0x90, 0x90, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];
/// Public-key internal EF (during generation).
pub const AC_PUB_KEY: [u8; 8] = [0x90, 0x90, 0x90, 0x90, 0xFF, 0xFF, 0xFF, 0xFF];

/// MF DF name.
pub const MF_NAME: &[u8] = b"entersafe-fips";
/// Application DF.
pub const APP_DF: u16 = 0x5015;
/// EF.DIR.
pub const EF_DIR: u16 = 0x2F00;
/// Max-tries EF.
pub const MAXPIN: u16 = 0x9F00;
/// ODF.
pub const ODF: u16 = 0x5031;
/// TokenInfo.
pub const TOKENINFO: u16 = 0x5032;
/// UnusedSpace.
pub const UNUSED_SPACE: u16 = 0x5033;
/// AODF.
pub const AODF: u16 = 0x4401;
/// PrKDF.
pub const PRKDF: u16 = 0x4402;
/// PuKDF.
pub const PUKDF: u16 = 0x4403;
/// CDF.
pub const CDF: u16 = 0x4404;
/// DODF.
pub const DODF: u16 = 0x4405;
/// OpenSC's pkcs15-init info file.
pub const INFO: u16 = 0x4946;
/// Token settings EF (docs/token-settings.md).
pub const SETTINGS: u16 = 0x7E1E;

/// Files created in 5015 after 9F00: (FID, size). AODF and DODF are 0x1300 bytes, as OpenSC's
/// size quirk creates them (§4.4: requested 256, sent as `80 02 13 00`).
pub const P15_FILES: [(u16, u16); 10] = [
    (ODF, 512),
    (TOKENINFO, 128),
    (UNUSED_SPACE, 128),
    (AODF, 0x1300),
    (PRKDF, 1024),
    (PUKDF, 1024),
    (CDF, 2048),
    (DODF, 0x1300),
    (INFO, 128),
    (SETTINGS, crate::settings::SUGGESTED_FILE_SIZE as u16),
];

/// Contents of the 4946 info file for `pkcs15` + `onepin` (as OpenSC 0.23 writes it:
/// tag 01 profile name, tag 02 option).
pub fn info_file() -> Vec<u8> {
    let mut v = vec![0x01, 6];
    v.extend_from_slice(b"pkcs15");
    v.extend_from_slice(&[0x02, 6]);
    v.extend_from_slice(b"onepin");
    v
}

/// Absolute logical path `3F00 5015 <fid>`.
pub fn abs_path(fid: u16) -> Path {
    let [h, l] = fid.to_be_bytes();
    Path::new([0x3F, 0x00, 0x50, 0x15, h, l])
}

/// The logical FID at the end of a PKCS#15 path (absolute under 5015, or a bare FID).
pub fn path_fid(p: &Path) -> Option<u16> {
    let b = &p.path;
    match b.len() {
        2 => Some(u16::from_be_bytes([b[0], b[1]])),
        6 if b[..4] == [0x3F, 0x00, 0x50, 0x15] => Some(u16::from_be_bytes([b[4], b[5]])),
        4 if b[..2] == [0x50, 0x15] => Some(u16::from_be_bytes([b[2], b[3]])),
        _ => None,
    }
}

/// The user PIN AODF entry (OpenSC's: "User PIN", auth ID 01, reference 1, flags local |
/// initialized | needs-padding, ascii-numeric, stored length 16, pad 00, path 3F005015).
pub fn pin_entry(min_len: u8, max_len: u8, initialized: bool) -> crate::Result<Vec<u8>> {
    let mut flags = PinFlags::LOCAL | PinFlags::NEEDS_PADDING;
    if initialized {
        flags = flags | PinFlags::INITIALIZED;
    }
    AuthObject::Pin(PinObject {
        common: CommonObjectAttributes {
            label: Some("User PIN".into()),
            flags: Some(ObjectFlags::PRIVATE | ObjectFlags::MODIFIABLE),
            auth_id: None,
            user_consent: None,
        },
        auth_id: vec![0x01],
        attrs: PinAttributes {
            flags,
            pin_type: PinType::AsciiNumeric,
            min_length: u32::from(min_len.clamp(4, 16)),
            stored_length: 16,
            max_length: Some(u32::from(max_len.clamp(4, 16))),
            reference: Some(1),
            pad_char: Some(0),
            last_pin_change: None,
            path: Some(Path::new([0x3F, 0x00, 0x50, 0x15])),
        },
    })
    .to_der()
}

/// PKCS#15 private-key usage bits for a backend usage (RSA signing keys also get signRecover,
/// as OpenSC writes them).
pub fn private_usage(u: &KeyUsage, rsa: bool) -> KeyUsageFlags {
    let mut f = KeyUsageFlags::EMPTY;
    if u.sign {
        f = f | KeyUsageFlags::SIGN;
        if rsa {
            f = f | KeyUsageFlags::SIGN_RECOVER;
        }
    }
    if u.decrypt {
        f = f | KeyUsageFlags::DECRYPT;
    }
    if u.unwrap {
        f = f | KeyUsageFlags::UNWRAP;
    }
    if u.derive {
        f = f | KeyUsageFlags::DERIVE;
    }
    f
}

/// PKCS#15 public-key usage bits matching a private key's usage (RSA: also verifyRecover, as
/// OpenSC writes them).
pub fn public_usage(u: &KeyUsage, rsa: bool) -> KeyUsageFlags {
    let mut f = KeyUsageFlags::EMPTY;
    if u.sign || u.verify {
        f = f | KeyUsageFlags::VERIFY;
        if rsa {
            f = f | KeyUsageFlags::VERIFY_RECOVER;
        }
    }
    if u.decrypt || u.unwrap || u.encrypt {
        f = f | KeyUsageFlags::ENCRYPT | KeyUsageFlags::WRAP;
    }
    if u.derive {
        f = f | KeyUsageFlags::DERIVE;
    }
    f
}

/// Backend usage from PKCS#15 usage bits.
pub fn usage_from(f: KeyUsageFlags) -> KeyUsage {
    let any = |x: &[KeyUsageFlags]| x.iter().any(|b| f.contains(*b));
    KeyUsage {
        sign: any(&[
            KeyUsageFlags::SIGN,
            KeyUsageFlags::SIGN_RECOVER,
            KeyUsageFlags::NON_REPUDIATION,
        ]),
        decrypt: f.contains(KeyUsageFlags::DECRYPT),
        unwrap: f.contains(KeyUsageFlags::UNWRAP),
        verify: any(&[KeyUsageFlags::VERIFY, KeyUsageFlags::VERIFY_RECOVER]),
        encrypt: any(&[KeyUsageFlags::ENCRYPT, KeyUsageFlags::WRAP]),
        derive: f.contains(KeyUsageFlags::DERIVE),
    }
}

/// A PrKDF entry for key file `29 0n`.
pub fn private_key_entry(
    label: &str,
    id: &[u8],
    usage: &KeyUsage,
    index: u8,
    rsa_bits: Option<u16>,
    local: bool,
) -> Vec<u8> {
    let access = if local {
        KeyAccessFlags::SENSITIVE
            | KeyAccessFlags::ALWAYS_SENSITIVE
            | KeyAccessFlags::NEVER_EXTRACTABLE
            | KeyAccessFlags::LOCAL
    } else {
        KeyAccessFlags::SENSITIVE | KeyAccessFlags::NEVER_EXTRACTABLE
    };
    let value = ObjectValue::Indirect(abs_path(0x2900 | u16::from(index)));
    let kind = match rsa_bits {
        Some(bits) => PrivateKeyKind::Rsa(RsaKeyAttributes {
            value,
            modulus_length: u32::from(bits),
            key_info: None,
        }),
        None => PrivateKeyKind::Ec(EcKeyAttributes {
            value,
            field_size: Some(256),
            key_info: None,
        }),
    };
    PrivateKeyEntry::Key(PrivateKey {
        common: CommonObjectAttributes {
            label: Some(label.into()),
            flags: Some(ObjectFlags::PRIVATE | ObjectFlags::MODIFIABLE),
            auth_id: Some(vec![0x01]),
            user_consent: None,
        },
        key: CommonKeyAttributes {
            id: id.to_vec(),
            usage: private_usage(usage, rsa_bits.is_some()),
            native: true,
            access_flags: Some(access),
            key_reference: Some(u32::from(index)),
        },
        private: None,
        kind,
    })
    .to_der()
}

/// A PuKDF entry for a public-key file.
pub fn public_key_entry(
    label: &str,
    id: &[u8],
    usage: KeyUsageFlags,
    fid: u16,
    rsa_bits: Option<u16>,
) -> Vec<u8> {
    let value = ObjectValue::Indirect(abs_path(fid));
    let kind = match rsa_bits {
        Some(bits) => PublicKeyKind::Rsa(RsaKeyAttributes {
            value,
            modulus_length: u32::from(bits),
            key_info: None,
        }),
        None => PublicKeyKind::Ec(EcKeyAttributes {
            value,
            field_size: None,
            key_info: None,
        }),
    };
    PublicKeyEntry::Key(PublicKey {
        common: CommonObjectAttributes {
            label: Some(label.into()),
            flags: Some(ObjectFlags::MODIFIABLE),
            auth_id: None,
            user_consent: None,
        },
        key: CommonKeyAttributes {
            id: id.to_vec(),
            usage,
            native: false,
            access_flags: None,
            // OpenSC writes keyReference 0 in every PuKDF entry.
            key_reference: Some(0),
        },
        public: None,
        kind,
    })
    .to_der()
}

/// A CDF entry.
pub fn certificate_entry(label: &str, id: &[u8], authority: bool, fid: u16) -> Vec<u8> {
    CertificateEntry::X509(Certificate {
        common: CommonObjectAttributes {
            label: Some(label.into()),
            flags: Some(ObjectFlags::MODIFIABLE),
            auth_id: None,
            user_consent: None,
        },
        cert: CommonCertificateAttributes {
            id: id.to_vec(),
            authority,
            identifier: None,
            cert_hash: None,
        },
        x509: X509CertificateAttributes {
            value: ObjectValue::Indirect(abs_path(fid)),
            subject: None,
            issuer: None,
            serial_number: None,
        },
    })
    .to_der()
}

/// A DODF entry. `len` is the value length (the file may be longer: a zero-length value is
/// kept in a one-byte file).
pub fn data_entry(label: &str, application: &str, private: bool, fid: u16, len: usize) -> Vec<u8> {
    let mut path = abs_path(fid);
    if len == 0 {
        path.index = Some(0);
        path.length = Some(0);
    }
    DataObjectEntry::Opaque(DataObject {
        common: CommonObjectAttributes {
            label: Some(label.into()),
            flags: Some(if private {
                ObjectFlags::PRIVATE | ObjectFlags::MODIFIABLE
            } else {
                ObjectFlags::MODIFIABLE
            }),
            auth_id: private.then(|| vec![0x01]),
            user_consent: None,
        },
        application_name: Some(application.into()),
        application_oid: None,
        value: ObjectValue::Indirect(path),
    })
    .to_der()
}

// ---------------------------------------------------------------------------------------------
// Minimal DER helpers for public keys.

/// Appends a DER TLV.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
}

/// A TLV as a new vector.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(content.len() + 4);
    push_tlv(&mut v, tag, content);
    v
}

/// Splits the first TLV of `buf`: (tag, content, total length).
pub fn split_tlv(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    let tag = *buf.first()?;
    let first = *buf.get(1)?;
    let (h, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 3 {
            return None;
        }
        let mut l = 0usize;
        for i in 0..n {
            l = (l << 8) | usize::from(*buf.get(2 + i)?);
        }
        (2 + n, l)
    };
    let content = buf.get(h..h + len)?;
    Some((tag, content, h + len))
}

fn int_content(x: &[u8]) -> Vec<u8> {
    let skip = x
        .iter()
        .take_while(|&&b| b == 0)
        .count()
        .min(x.len().saturating_sub(1));
    let x = &x[skip..];
    let mut v = Vec::with_capacity(x.len() + 1);
    if x.first().is_some_and(|b| b & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(x);
    v
}

/// `RSAPublicKey ::= SEQUENCE { n, e }`.
pub fn rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut c = tlv(0x02, &int_content(n));
    push_tlv(&mut c, 0x02, &int_content(e));
    tlv(0x30, &c)
}

const OID_RSA: [u8; 9] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const OID_EC: [u8; 7] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const OID_P256: [u8; 8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

/// SPKI of an RSA key from its `RSAPublicKey` DER.
pub fn rsa_spki(rsa_pub: &[u8]) -> Vec<u8> {
    let mut alg = tlv(0x06, &OID_RSA);
    alg.extend_from_slice(&[0x05, 0x00]);
    let mut bits = vec![0u8];
    bits.extend_from_slice(rsa_pub);
    let mut c = tlv(0x30, &alg);
    push_tlv(&mut c, 0x03, &bits);
    tlv(0x30, &c)
}

/// SPKI of a P-256 key from its uncompressed point.
pub fn ec_spki(point: &[u8]) -> Vec<u8> {
    let mut alg = tlv(0x06, &OID_EC);
    push_tlv(&mut alg, 0x06, &OID_P256);
    let mut bits = vec![0u8];
    bits.extend_from_slice(point);
    let mut c = tlv(0x30, &alg);
    push_tlv(&mut c, 0x03, &bits);
    tlv(0x30, &c)
}

/// What an SPKI holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpkiKey {
    /// RSA: the `RSAPublicKey` DER and the modulus (unsigned, big-endian).
    Rsa {
        /// `RSAPublicKey` DER.
        der: Vec<u8>,
        /// Modulus.
        n: Vec<u8>,
    },
    /// P-256: the uncompressed point.
    EcP256 {
        /// `04 ‖ X ‖ Y`.
        point: Vec<u8>,
    },
}

/// Parses an SPKI (RSA or P-256 only).
pub fn parse_spki(spki: &[u8]) -> Option<SpkiKey> {
    let (t, c, _) = split_tlv(spki)?;
    if t != 0x30 {
        return None;
    }
    let (t, alg, l) = split_tlv(c)?;
    if t != 0x30 {
        return None;
    }
    let (t, bits, _) = split_tlv(&c[l..])?;
    if t != 0x03 || bits.first() != Some(&0) {
        return None;
    }
    let key = &bits[1..];
    let (t, oid, ol) = split_tlv(alg)?;
    if t != 0x06 {
        return None;
    }
    if oid == OID_RSA {
        let n = rsa_modulus(key)?;
        Some(SpkiKey::Rsa {
            der: key.to_vec(),
            n,
        })
    } else if oid == OID_EC {
        let (t, curve, _) = split_tlv(&alg[ol..])?;
        (t == 0x06 && curve == OID_P256 && key.len() == 65 && key[0] == 4).then(|| {
            SpkiKey::EcP256 {
                point: key.to_vec(),
            }
        })
    } else {
        None
    }
}

/// The modulus of an `RSAPublicKey` DER (leading zero stripped).
pub fn rsa_modulus(der: &[u8]) -> Option<Vec<u8>> {
    let (t, c, _) = split_tlv(der)?;
    if t != 0x30 {
        return None;
    }
    let (t, n, _) = split_tlv(c)?;
    if t != 0x02 {
        return None;
    }
    let skip = n.iter().take_while(|&&b| b == 0).count();
    Some(n[skip..].to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Entries as OpenSC 0.23's pkcs15-init wrote them on the emulator (tests/opensc/e2e.sh).
    const OPENSC_PIN: &str = "3037300e0c08557365722050494e030206c03003040101a120301e0302024c0a0101020104020110020110800101040100300604043f005015";
    const OPENSC_CERT: &str =
        "3024300f0c09757365722063657274030206403003040101a10c300a300804063f0050153100";
    const OPENSC_RSA_PUB: &str = "3030300d0c07727361206b657903020640300d0401010302008b010100020100a110300e300804063f005015300002020800";
    const OPENSC_EC_PRIV: &str = "a033300f0c066563206b6579030206c0040101300e04010203020520030203b8020101a110300e300804063f005015290102020100";
    const OPENSC_EC_PUB: &str = "a02b300c0c066563206b657903020640300d04010203020102010100020100a10c300a300804063f0050153001";

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn entries_match_opensc_bytes() {
        assert_eq!(pin_entry(4, 16, true).unwrap(), h(OPENSC_PIN));
        assert_eq!(
            certificate_entry("user cert", &[1], false, 0x3100),
            h(OPENSC_CERT)
        );
        let sd = KeyUsage {
            sign: true,
            decrypt: true,
            ..KeyUsage::default()
        };
        assert_eq!(
            public_key_entry("rsa key", &[1], public_usage(&sd, true), 0x3000, Some(2048)),
            h(OPENSC_RSA_PUB)
        );
        let s = KeyUsage {
            sign: true,
            ..KeyUsage::default()
        };
        assert_eq!(
            public_key_entry("ec key", &[2], public_usage(&s, false), 0x3001, None),
            h(OPENSC_EC_PUB)
        );
        assert_eq!(info_file(), h("0106706b6373313502066f6e6570696e"));
        assert_eq!(
            private_key_entry("ec key", &[2], &s, 1, None, true),
            h(OPENSC_EC_PRIV)
        );
    }
}
