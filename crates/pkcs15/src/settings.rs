//! Token settings that PKCS#15 has no place for: authentication timeout, PIN policy, and a change
//! counter for directory-cache validation.
//!
//! The record lives in a transparent EF inside the PKCS#15 application DF that is **not**
//! referenced from the ODF (suggested: `3F00/5015/7E1E`, 32 bytes), so OpenSC never reads it.
//! The byte format is specified in `docs/token-settings.md`; in short (all integers big-endian):
//!
//! | Offset | Size | Field |
//! |---|---|---|
//! | 0 | 4 | magic `"EPTS"` |
//! | 4 | 1 | format version (1) |
//! | 5 | 1 | PIN flags: `01` user PIN may be non-ASCII UTF-8, `02` the same for the SO PIN |
//! | 6 | 2 | `auth_timeout_minutes` (0..=600, 0 = no timeout) |
//! | 8 | 1 | user PIN minimum length |
//! | 9 | 1 | user PIN maximum length |
//! | 10 | 1 | user PIN character classes *required* |
//! | 11 | 1 | user PIN character classes *allowed* |
//! | 12 | 1 | SO PIN minimum length |
//! | 13 | 1 | SO PIN maximum length |
//! | 14 | 4 | `change_counter` |
//! | 18 | 2 | CRC-16/CCITT-FALSE over bytes 0..18 |
//!
//! followed by zero padding up to the file size.

use crate::error::{Error, Result};

const CTX: &str = "TokenSettings";

/// Magic bytes at the start of the record.
pub const MAGIC: [u8; 4] = *b"EPTS";
/// Encoded length of a version-1 record (before padding).
pub const RECORD_LEN: usize = 20;
/// Largest allowed authentication timeout, in minutes.
pub const MAX_AUTH_TIMEOUT_MINUTES: u16 = 600;
/// Suggested FID of the settings EF inside DF 5015.
pub const SUGGESTED_FID: [u8; 2] = [0x7E, 0x1E];
/// Suggested size of the settings EF.
pub const SUGGESTED_FILE_SIZE: usize = 32;

/// A set of PIN character classes (bit flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CharClasses(pub u8);

impl CharClasses {
    /// ASCII digits `0-9`.
    pub const DIGITS: Self = Self(0x01);
    /// ASCII lower-case letters `a-z`.
    pub const LOWER: Self = Self(0x02);
    /// ASCII upper-case letters `A-Z`.
    pub const UPPER: Self = Self(0x04);
    /// Every other byte (punctuation, space, non-ASCII UTF-8 bytes).
    pub const OTHER: Self = Self(0x08);
    /// All classes.
    pub const ALL: Self = Self(0x0F);
    /// No class.
    pub const NONE: Self = Self(0);

    /// True if every class of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The class of one PIN byte.
    pub const fn of(byte: u8) -> Self {
        match byte {
            b'0'..=b'9' => Self::DIGITS,
            b'a'..=b'z' => Self::LOWER,
            b'A'..=b'Z' => Self::UPPER,
            _ => Self::OTHER,
        }
    }

    /// The classes present in `pin`.
    pub fn of_pin(pin: &[u8]) -> Self {
        Self(pin.iter().fold(0, |acc, &b| acc | Self::of(b).0))
    }
}

impl core::ops::BitOr for CharClasses {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// Why a PIN does not satisfy a [`PinPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinPolicyViolation {
    /// Shorter than `min_len`.
    #[error("PIN too short ({len} < {min})")]
    TooShort {
        /// PIN length.
        len: usize,
        /// Required minimum.
        min: u8,
    },
    /// Longer than `max_len`.
    #[error("PIN too long ({len} > {max})")]
    TooLong {
        /// PIN length.
        len: usize,
        /// Allowed maximum.
        max: u8,
    },
    /// Contains a character of a class that is not allowed.
    #[error("PIN contains characters of a class that is not allowed")]
    ClassNotAllowed {
        /// The offending classes.
        classes: CharClasses,
    },
    /// Lacks a required class.
    #[error("PIN lacks a required character class")]
    ClassMissing {
        /// The missing classes.
        classes: CharClasses,
    },
}

/// PIN length and character-class policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PinPolicy {
    /// Minimum length in bytes (≥ 1).
    pub min_len: u8,
    /// Maximum length in bytes (≥ `min_len`).
    pub max_len: u8,
    /// Classes that must each appear at least once.
    pub required: CharClasses,
    /// Classes that may appear (a superset of `required`, not empty).
    pub allowed: CharClasses,
}

impl Default for PinPolicy {
    /// OpenSC's ePass2003 profile: 4..=16, any characters.
    fn default() -> Self {
        Self {
            min_len: 4,
            max_len: 16,
            required: CharClasses::NONE,
            allowed: CharClasses::ALL,
        }
    }
}

impl PinPolicy {
    /// Checks `pin` against the policy.
    pub fn check(&self, pin: &[u8]) -> core::result::Result<(), PinPolicyViolation> {
        if pin.len() < usize::from(self.min_len) {
            return Err(PinPolicyViolation::TooShort {
                len: pin.len(),
                min: self.min_len,
            });
        }
        if pin.len() > usize::from(self.max_len) {
            return Err(PinPolicyViolation::TooLong {
                len: pin.len(),
                max: self.max_len,
            });
        }
        let present = CharClasses::of_pin(pin);
        let forbidden = present.0 & !self.allowed.0;
        if forbidden != 0 {
            return Err(PinPolicyViolation::ClassNotAllowed {
                classes: CharClasses(forbidden),
            });
        }
        let missing = self.required.0 & !present.0;
        if missing != 0 {
            return Err(PinPolicyViolation::ClassMissing {
                classes: CharClasses(missing),
            });
        }
        Ok(())
    }

    fn validate(&self, which: &'static str) -> Result<()> {
        if self.min_len == 0 {
            return Err(Error::OutOfRange {
                field: which,
                value: 0,
                allowed: "minimum PIN length >= 1",
            });
        }
        if self.max_len < self.min_len {
            return Err(Error::Invalid {
                context: CTX,
                reason: "PIN maximum length below minimum",
            });
        }
        if self.required.0 & !CharClasses::ALL.0 != 0 || self.allowed.0 & !CharClasses::ALL.0 != 0 {
            return Err(Error::Invalid {
                context: CTX,
                reason: "reserved character-class bits set",
            });
        }
        if self.allowed.0 == 0 {
            return Err(Error::Invalid {
                context: CTX,
                reason: "no character class allowed",
            });
        }
        if !self.allowed.contains(self.required) {
            return Err(Error::Invalid {
                context: CTX,
                reason: "a required character class is not allowed",
            });
        }
        Ok(())
    }
}

/// The token settings record (format version 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenSettings {
    /// Log the user out after this many minutes without a card operation (0..=600; 0 = never).
    pub auth_timeout_minutes: u16,
    /// User PIN policy.
    pub user_pin: PinPolicy,
    /// SO PIN / PUK minimum length.
    pub so_pin_min_len: u8,
    /// SO PIN / PUK maximum length.
    pub so_pin_max_len: u8,
    /// Incremented (wrapping) by the library on every write to the token's objects; a cached
    /// directory is valid while the counter is unchanged.
    pub change_counter: u32,
    /// A new user PIN may contain non-ASCII UTF-8 (byte 5, bit `01`; a record without the bit,
    /// i.e. every record written before the flag existed, means printable ASCII only).
    pub user_pin_non_ascii: bool,
    /// The same for the SO PIN (byte 5, bit `02`).
    pub so_pin_non_ascii: bool,
}

/// Byte 5 bit: the user PIN may contain non-ASCII UTF-8.
pub const FLAG_USER_PIN_NON_ASCII: u8 = 0x01;
/// Byte 5 bit: the SO PIN may contain non-ASCII UTF-8.
pub const FLAG_SO_PIN_NON_ASCII: u8 = 0x02;
const KNOWN_FLAGS: u8 = FLAG_USER_PIN_NON_ASCII | FLAG_SO_PIN_NON_ASCII;

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            auth_timeout_minutes: 0,
            user_pin: PinPolicy::default(),
            so_pin_min_len: 4,
            so_pin_max_len: 16,
            change_counter: 0,
            user_pin_non_ascii: false,
            so_pin_non_ascii: false,
        }
    }
}

impl TokenSettings {
    /// The format version this crate reads and writes.
    pub const VERSION: u8 = 1;

    /// Checks every range and consistency rule.
    pub fn validate(&self) -> Result<()> {
        if self.auth_timeout_minutes > MAX_AUTH_TIMEOUT_MINUTES {
            return Err(Error::OutOfRange {
                field: "auth_timeout_minutes",
                value: u64::from(self.auth_timeout_minutes),
                allowed: "0..=600",
            });
        }
        self.user_pin.validate("user PIN minimum length")?;
        if self.so_pin_min_len == 0 {
            return Err(Error::OutOfRange {
                field: "so_pin_min_len",
                value: 0,
                allowed: ">= 1",
            });
        }
        if self.so_pin_max_len < self.so_pin_min_len {
            return Err(Error::Invalid {
                context: CTX,
                reason: "SO PIN maximum length below minimum",
            });
        }
        Ok(())
    }

    /// Returns a copy with the change counter incremented (wrapping at 2^32).
    #[must_use]
    pub fn bumped(mut self) -> Self {
        self.change_counter = self.change_counter.wrapping_add(1);
        self
    }

    /// Encodes the record (20 bytes). Fails if the settings do not validate.
    pub fn to_bytes(&self) -> Result<[u8; RECORD_LEN]> {
        self.validate()?;
        let mut b = [0u8; RECORD_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4] = Self::VERSION;
        b[5] = (if self.user_pin_non_ascii {
            FLAG_USER_PIN_NON_ASCII
        } else {
            0
        }) | (if self.so_pin_non_ascii {
            FLAG_SO_PIN_NON_ASCII
        } else {
            0
        });
        b[6..8].copy_from_slice(&self.auth_timeout_minutes.to_be_bytes());
        b[8] = self.user_pin.min_len;
        b[9] = self.user_pin.max_len;
        b[10] = self.user_pin.required.0;
        b[11] = self.user_pin.allowed.0;
        b[12] = self.so_pin_min_len;
        b[13] = self.so_pin_max_len;
        b[14..18].copy_from_slice(&self.change_counter.to_be_bytes());
        let crc = crc16_ccitt_false(&b[..18]);
        b[18..20].copy_from_slice(&crc.to_be_bytes());
        Ok(b)
    }

    /// Encodes the record zero-padded to `size` bytes (the EF size).
    pub fn to_file(&self, size: usize) -> Result<Vec<u8>> {
        if size < RECORD_LEN {
            return Err(Error::BadLength {
                context: CTX,
                len: size,
                expected: "a file of at least 20 bytes",
            });
        }
        let mut v = self.to_bytes()?.to_vec();
        v.resize(size, 0);
        Ok(v)
    }

    /// Decodes a settings file: the record, then only zero bytes.
    pub fn from_bytes(file: &[u8]) -> Result<Self> {
        if file.len() < 6 {
            return Err(Error::BadLength {
                context: CTX,
                len: file.len(),
                expected: "at least 20 bytes",
            });
        }
        if file[0..4] != MAGIC {
            return Err(Error::Invalid {
                context: CTX,
                reason: "bad magic (not a token settings record)",
            });
        }
        if file[4] != Self::VERSION {
            return Err(Error::UnsupportedVersion {
                context: CTX,
                version: file[4],
            });
        }
        if file.len() < RECORD_LEN {
            return Err(Error::BadLength {
                context: CTX,
                len: file.len(),
                expected: "at least 20 bytes",
            });
        }
        if let Some(pos) = file[RECORD_LEN..].iter().position(|&b| b != 0) {
            return Err(Error::TrailingData {
                context: CTX,
                offset: RECORD_LEN + pos,
                len: file.len() - RECORD_LEN - pos,
            });
        }
        let b = &file[..RECORD_LEN];
        let crc = u16::from_be_bytes([b[18], b[19]]);
        if crc != crc16_ccitt_false(&b[..18]) {
            return Err(Error::Invalid {
                context: CTX,
                reason: "checksum mismatch",
            });
        }
        if b[5] & !KNOWN_FLAGS != 0 {
            return Err(Error::Invalid {
                context: CTX,
                reason: "reserved PIN flag bits set",
            });
        }
        let s = Self {
            auth_timeout_minutes: u16::from_be_bytes([b[6], b[7]]),
            user_pin: PinPolicy {
                min_len: b[8],
                max_len: b[9],
                required: CharClasses(b[10]),
                allowed: CharClasses(b[11]),
            },
            so_pin_min_len: b[12],
            so_pin_max_len: b[13],
            change_counter: u32::from_be_bytes([b[14], b[15], b[16], b[17]]),
            user_pin_non_ascii: b[5] & FLAG_USER_PIN_NON_ASCII != 0,
            so_pin_non_ascii: b[5] & FLAG_SO_PIN_NON_ASCII != 0,
        };
        s.validate()?;
        Ok(s)
    }
}

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR).
pub fn crc16_ccitt_false(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> TokenSettings {
        TokenSettings {
            auth_timeout_minutes: 15,
            user_pin: PinPolicy {
                min_len: 6,
                max_len: 12,
                required: CharClasses::DIGITS | CharClasses::UPPER,
                allowed: CharClasses::DIGITS | CharClasses::UPPER | CharClasses::LOWER,
            },
            so_pin_min_len: 8,
            so_pin_max_len: 16,
            change_counter: 0x0102_0304,
            user_pin_non_ascii: false,
            so_pin_non_ascii: false,
        }
    }

    #[test]
    fn crc_check_value() {
        // The catalogue check value of CRC-16/CCITT-FALSE.
        assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
    }

    #[test]
    fn exact_layout() {
        let b = sample().to_bytes().unwrap();
        assert_eq!(
            &b[..18],
            &[
                b'E', b'P', b'T', b'S', 1, 0, 0x00, 0x0F, 6, 12, 0x05, 0x07, 8, 16, 0x01, 0x02,
                0x03, 0x04
            ]
        );
        assert_eq!(
            u16::from_be_bytes([b[18], b[19]]),
            crc16_ccitt_false(&b[..18])
        );
    }

    #[test]
    fn round_trip_with_padding() {
        for s in [TokenSettings::default(), sample(), sample().bumped()] {
            let f = s.to_file(SUGGESTED_FILE_SIZE).unwrap();
            assert_eq!(f.len(), 32);
            assert_eq!(TokenSettings::from_bytes(&f).unwrap(), s);
            assert_eq!(
                TokenSettings::from_bytes(&s.to_bytes().unwrap()).unwrap(),
                s
            );
        }
        let mut s = sample();
        s.change_counter = u32::MAX;
        assert_eq!(s.bumped().change_counter, 0);
        s.auth_timeout_minutes = 600;
        assert!(s.to_bytes().is_ok());
    }

    #[test]
    fn strict_parse_errors() {
        let good = sample().to_file(32).unwrap();
        let mut f = good.clone();
        f[0] = b'X';
        assert!(matches!(
            TokenSettings::from_bytes(&f),
            Err(Error::Invalid { .. })
        ));
        let mut f = good.clone();
        f[4] = 2;
        assert_eq!(
            TokenSettings::from_bytes(&f),
            Err(Error::UnsupportedVersion {
                context: CTX,
                version: 2
            })
        );
        assert!(matches!(
            TokenSettings::from_bytes(&good[..19]),
            Err(Error::BadLength { .. })
        ));
        let mut f = good.clone();
        f[25] = 1;
        assert!(matches!(
            TokenSettings::from_bytes(&f),
            Err(Error::TrailingData { offset: 25, .. })
        ));
        let mut f = good.clone();
        f[9] ^= 1;
        assert_eq!(
            TokenSettings::from_bytes(&f),
            Err(Error::Invalid {
                context: CTX,
                reason: "checksum mismatch"
            })
        );
    }

    /// Builds a record with a correct checksum around arbitrary field bytes.
    fn raw(fields: [u8; 14]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&fields);
        let crc = crc16_ccitt_false(&b);
        b.extend_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn range_checks() {
        // timeout 601
        let r = raw([1, 0, 0x02, 0x59, 4, 16, 0, 0x0F, 4, 16, 0, 0, 0, 0]);
        assert!(matches!(
            TokenSettings::from_bytes(&r),
            Err(Error::OutOfRange {
                field: "auth_timeout_minutes",
                value: 601,
                ..
            })
        ));
        // max < min
        assert!(
            TokenSettings::from_bytes(&raw([1, 0, 0, 0, 8, 4, 0, 0x0F, 4, 16, 0, 0, 0, 0]))
                .is_err()
        );
        // min 0
        assert!(
            TokenSettings::from_bytes(&raw([1, 0, 0, 0, 0, 4, 0, 0x0F, 4, 16, 0, 0, 0, 0]))
                .is_err()
        );
        // required not within allowed
        assert!(
            TokenSettings::from_bytes(&raw([1, 0, 0, 0, 4, 8, 0x02, 0x01, 4, 16, 0, 0, 0, 0]))
                .is_err()
        );
        // reserved class bit
        assert!(
            TokenSettings::from_bytes(&raw([1, 0, 0, 0, 4, 8, 0, 0x1F, 4, 16, 0, 0, 0, 0]))
                .is_err()
        );
        // nothing allowed
        assert!(
            TokenSettings::from_bytes(&raw([1, 0, 0, 0, 4, 8, 0, 0, 4, 16, 0, 0, 0, 0])).is_err()
        );
        // reserved PIN flag bits
        assert!(
            TokenSettings::from_bytes(&raw([1, 4, 0, 0, 4, 8, 0, 0x0F, 4, 16, 0, 0, 0, 0]))
                .is_err()
        );
        // PIN flags: user (01) and SO (02) may be non-ASCII; 00 (old records) means ASCII only
        let st = TokenSettings::from_bytes(&raw([1, 3, 0, 0, 4, 8, 0, 0x0F, 4, 16, 0, 0, 0, 0]))
            .unwrap();
        assert!(st.user_pin_non_ascii && st.so_pin_non_ascii);
        let st = TokenSettings::from_bytes(&raw([1, 2, 0, 0, 4, 8, 0, 0x0F, 4, 16, 0, 0, 0, 0]))
            .unwrap();
        assert!(!st.user_pin_non_ascii && st.so_pin_non_ascii);
        let st = TokenSettings::from_bytes(&raw([1, 0, 0, 0, 4, 8, 0, 0x0F, 4, 16, 0, 0, 0, 0]))
            .unwrap();
        assert!(!st.user_pin_non_ascii && !st.so_pin_non_ascii);
        let both = TokenSettings {
            user_pin_non_ascii: true,
            so_pin_non_ascii: true,
            ..sample()
        };
        assert_eq!(both.to_bytes().unwrap()[5], 0x03);
        assert_eq!(
            TokenSettings::from_bytes(&both.to_file(SUGGESTED_FILE_SIZE).unwrap()).unwrap(),
            both
        );
        // SO max < min
        assert!(
            TokenSettings::from_bytes(&raw([1, 0, 0, 0, 4, 8, 0, 0x0F, 9, 8, 0, 0, 0, 0])).is_err()
        );
        // the baseline is fine
        assert!(
            TokenSettings::from_bytes(&raw([1, 0, 0, 0, 4, 8, 0, 0x0F, 4, 16, 0, 0, 0, 0])).is_ok()
        );
        // encoding refuses invalid settings
        let mut s = sample();
        s.auth_timeout_minutes = 601;
        assert!(s.to_bytes().is_err());
    }

    #[test]
    fn pin_policy_check() {
        let p = sample().user_pin;
        assert_eq!(p.check(b"ABC123"), Ok(()));
        assert_eq!(
            p.check(b"AB12"),
            Err(PinPolicyViolation::TooShort { len: 4, min: 6 })
        );
        assert_eq!(
            p.check(b"ABCDEFG1234567"),
            Err(PinPolicyViolation::TooLong { len: 14, max: 12 })
        );
        assert_eq!(
            p.check(b"ABC12!"),
            Err(PinPolicyViolation::ClassNotAllowed {
                classes: CharClasses::OTHER
            })
        );
        assert_eq!(
            p.check(b"abcdef1"),
            Err(PinPolicyViolation::ClassMissing {
                classes: CharClasses::UPPER
            })
        );
        assert_eq!(PinPolicy::default().check("pässwört".as_bytes()), Ok(()));
    }
}
