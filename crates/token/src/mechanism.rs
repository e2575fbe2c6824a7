//! The mechanism registry: what the ePass2003 can do (raw RSA and ECDSA on the card) plus the
//! host-side operations built on them (padding, hashing, public-key verify/encrypt).

use cryptoki_sys::*;

/// One registry entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MechInfo {
    /// `CKM_*`.
    pub mechanism: CK_MECHANISM_TYPE,
    /// Minimum key size (bits).
    pub min: CK_ULONG,
    /// Maximum key size (bits).
    pub max: CK_ULONG,
    /// `CKF_*` flags (CKF_HW on the ones that use the card).
    pub flags: CK_FLAGS,
}

const RSA_SIGN: CK_FLAGS = CKF_HW | CKF_SIGN | CKF_VERIFY;
const EC_FLAGS: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS | CKF_EC_OID;

/// The registry of the ePass2003 (RSA 1024..2048, EC P-256).
pub const REGISTRY: &[MechInfo] = &[
    MechInfo {
        mechanism: CKM_RSA_PKCS_KEY_PAIR_GEN,
        min: 1024,
        max: 2048,
        flags: CKF_HW | CKF_GENERATE_KEY_PAIR,
    },
    MechInfo {
        mechanism: CKM_RSA_PKCS,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN | CKF_DECRYPT | CKF_ENCRYPT,
    },
    MechInfo {
        mechanism: CKM_RSA_X_509,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN | CKF_DECRYPT | CKF_ENCRYPT,
    },
    MechInfo {
        mechanism: CKM_RSA_PKCS_OAEP,
        min: 1024,
        max: 2048,
        flags: CKF_HW | CKF_DECRYPT | CKF_ENCRYPT,
    },
    MechInfo {
        mechanism: CKM_RSA_PKCS_PSS,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN,
    },
    MechInfo {
        mechanism: CKM_SHA1_RSA_PKCS,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN,
    },
    MechInfo {
        mechanism: CKM_SHA224_RSA_PKCS,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN,
    },
    MechInfo {
        mechanism: CKM_SHA256_RSA_PKCS,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN,
    },
    MechInfo {
        mechanism: CKM_SHA384_RSA_PKCS,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN,
    },
    MechInfo {
        mechanism: CKM_SHA512_RSA_PKCS,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN,
    },
    MechInfo {
        mechanism: CKM_SHA1_RSA_PKCS_PSS,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN,
    },
    MechInfo {
        mechanism: CKM_SHA224_RSA_PKCS_PSS,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN,
    },
    MechInfo {
        mechanism: CKM_SHA256_RSA_PKCS_PSS,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN,
    },
    MechInfo {
        mechanism: CKM_SHA384_RSA_PKCS_PSS,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN,
    },
    MechInfo {
        mechanism: CKM_SHA512_RSA_PKCS_PSS,
        min: 1024,
        max: 2048,
        flags: RSA_SIGN,
    },
    MechInfo {
        mechanism: CKM_EC_KEY_PAIR_GEN,
        min: 256,
        max: 256,
        flags: CKF_HW | CKF_GENERATE_KEY_PAIR | EC_FLAGS,
    },
    MechInfo {
        mechanism: CKM_ECDSA,
        min: 256,
        max: 256,
        flags: CKF_HW | CKF_SIGN | CKF_VERIFY | EC_FLAGS,
    },
    MechInfo {
        mechanism: CKM_ECDSA_SHA1,
        min: 256,
        max: 256,
        flags: CKF_HW | CKF_SIGN | CKF_VERIFY | EC_FLAGS,
    },
    MechInfo {
        mechanism: CKM_ECDSA_SHA224,
        min: 256,
        max: 256,
        flags: CKF_HW | CKF_SIGN | CKF_VERIFY | EC_FLAGS,
    },
    MechInfo {
        mechanism: CKM_ECDSA_SHA256,
        min: 256,
        max: 256,
        flags: CKF_HW | CKF_SIGN | CKF_VERIFY | EC_FLAGS,
    },
    MechInfo {
        mechanism: CKM_ECDSA_SHA384,
        min: 256,
        max: 256,
        flags: CKF_HW | CKF_SIGN | CKF_VERIFY | EC_FLAGS,
    },
    MechInfo {
        mechanism: CKM_ECDSA_SHA512,
        min: 256,
        max: 256,
        flags: CKF_HW | CKF_SIGN | CKF_VERIFY | EC_FLAGS,
    },
    MechInfo {
        mechanism: CKM_SHA_1,
        min: 0,
        max: 0,
        flags: CKF_DIGEST,
    },
    MechInfo {
        mechanism: CKM_SHA224,
        min: 0,
        max: 0,
        flags: CKF_DIGEST,
    },
    MechInfo {
        mechanism: CKM_SHA256,
        min: 0,
        max: 0,
        flags: CKF_DIGEST,
    },
    MechInfo {
        mechanism: CKM_SHA384,
        min: 0,
        max: 0,
        flags: CKF_DIGEST,
    },
    MechInfo {
        mechanism: CKM_SHA512,
        min: 0,
        max: 0,
        flags: CKF_DIGEST,
    },
];

/// Look a mechanism up.
pub fn info(m: CK_MECHANISM_TYPE) -> Option<MechInfo> {
    REGISTRY.iter().copied().find(|i| i.mechanism == m)
}

/// Parameters parsed by value at the boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MechParams {
    /// No parameter.
    None,
    /// `CK_RSA_PKCS_PSS_PARAMS`.
    Pss {
        /// `hashAlg` (`CKM_SHA*`).
        hash: CK_MECHANISM_TYPE,
        /// `mgf` (`CKG_MGF1_*`).
        mgf: CK_ULONG,
        /// Salt length.
        salt_len: CK_ULONG,
    },
    /// `CK_RSA_PKCS_OAEP_PARAMS`.
    Oaep {
        /// `hashAlg`.
        hash: CK_MECHANISM_TYPE,
        /// `mgf`.
        mgf: CK_ULONG,
        /// Label (`pSourceData`).
        label: Vec<u8>,
    },
}

/// A mechanism with its parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mechanism {
    /// `CKM_*`.
    pub mechanism: CK_MECHANISM_TYPE,
    /// Parameter.
    pub params: MechParams,
}

impl Mechanism {
    /// A mechanism without parameter.
    pub fn new(mechanism: CK_MECHANISM_TYPE) -> Self {
        Mechanism {
            mechanism,
            params: MechParams::None,
        }
    }
}
