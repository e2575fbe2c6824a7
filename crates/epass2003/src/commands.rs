//! Plain command builders, one per protocol command (§5). All FIDs taken here are **logical**
//! FIDs; the ×0x20 hook (§4.1) is applied where the protocol puts a FID on the wire.

use crate::apdu::Command;
use crate::fci::{hook_fid, Fcp};
use zeroize::Zeroizing;

/// Maximum plain READ BINARY chunk (§2.4).
pub const READ_CHUNK: usize = 0xD8;
/// Maximum plain UPDATE BINARY chunk (§2.4).
pub const WRITE_CHUNK: usize = 0xE8;

/// GET DATA `00 CA 01 86 00`: capability object (§2.2), always sent plain.
pub fn get_capabilities() -> Command {
    Command::new(0x00, 0xCA, 0x01, 0x86).with_le(0)
}
/// GET DATA `00 CA 01 80 00`: serial number (§5.7).
pub fn get_serial() -> Command {
    Command::new(0x00, 0xCA, 0x01, 0x80).with_le(0)
}
/// GET CHALLENGE `00 84 00 00 10` (§5.8).
pub fn get_challenge() -> Command {
    Command::new(0x00, 0x84, 0x00, 0x00).with_le(0x10)
}
/// SELECT by FID `00 A4 00 00 02 FID 00` (§5.1); `fid` is logical (hook applied).
pub fn select_fid(fid: u16) -> Command {
    Command::new(0x00, 0xA4, 0x00, 0x00)
        .with_data(&hook_fid(fid).to_be_bytes())
        .with_le(0)
}
/// SELECT by DF name `00 A4 04 00 Lc AID 00` (§4.1).
pub fn select_df_name(name: &[u8]) -> Command {
    Command::new(0x00, 0xA4, 0x04, 0x00)
        .with_data(name)
        .with_le(0)
}
/// READ BINARY `00 B0 off Le` (§5.2).
pub fn read_binary(offset: u16, le: u8) -> Command {
    let [hi, lo] = offset.to_be_bytes();
    Command::new(0x00, 0xB0, hi & 0x7F, lo).with_le(u32::from(le))
}
/// UPDATE BINARY `00 D6 off Lc data` (§5.2).
pub fn update_binary(offset: u16, data: &[u8]) -> Command {
    let [hi, lo] = offset.to_be_bytes();
    Command::new(0x00, 0xD6, hi & 0x7F, lo).with_data(data)
}
/// READ RECORD `00 B2 n 04 D8` (§5.3).
pub fn read_record(n: u8) -> Command {
    Command::new(0x00, 0xB2, n, 0x04).with_le(0xD8)
}
/// UPDATE RECORD `00 DC n 04 Lc rec` (§5.3).
pub fn update_record(n: u8, data: &[u8]) -> Command {
    Command::new(0x00, 0xDC, n, 0x04).with_data(data)
}
/// APPEND RECORD `00 E2 00 00 Lc rec` (§5.3).
pub fn append_record(data: &[u8]) -> Command {
    Command::new(0x00, 0xE2, 0x00, 0x00).with_data(data)
}
/// CREATE FILE `00 E0 00 00 Lc FCP` (§5.4).
pub fn create_file(fcp: &Fcp) -> Command {
    Command::new(0x00, 0xE0, 0x00, 0x00).with_data(&fcp.to_bytes())
}
/// DELETE FILE `00 E4 00 00 02 FID` (§5.5).
pub fn delete_file(fid: u16) -> Command {
    Command::new(0x00, 0xE4, 0x00, 0x00).with_data(&hook_fid(fid).to_be_bytes())
}
/// LIST FILES `80 34 00 00` (§5.6), response expected.
pub fn list_files() -> Command {
    Command::new(0x80, 0x34, 0x00, 0x00).expecting_response()
}

/// A key record for INSTALL SECRET KEY (§5.10). The key value is zeroized on drop.
#[derive(Clone)]
pub struct KeyRecord {
    bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeyRecord(type {:02X}, kid {:02X})",
            self.bytes[0], self.bytes[1]
        )
    }
}

impl KeyRecord {
    /// Raw record: `type kid use modify b4 b5 00 level FF tries value`.
    #[allow(clippy::too_many_arguments)]
    pub fn raw(
        key_type: u8,
        kid: u8,
        use_ac: u8,
        modify_ac: u8,
        b4: u8,
        b5: u8,
        level: u8,
        tries: u8,
        value: &[u8],
    ) -> Self {
        let mut v = Zeroizing::new(vec![
            key_type, kid, use_ac, modify_ac, b4, b5, 0x00, level, 0xFF, tries,
        ]);
        v.extend_from_slice(value);
        KeyRecord { bytes: v }
    }
    /// A PIN stored as a 3DES key (type 04, §6.1) with the given modify AC and level.
    pub fn pin(kid: u8, pin: &[u8], modify_ac: u8, level: u8, max_tries: u8) -> Self {
        let t = (max_tries.min(15) << 4) | max_tries.min(15);
        Self::raw(
            0x04,
            kid,
            0x90,
            modify_ac,
            0x98,
            0x98,
            level,
            t,
            &crate::crypto::pin_key(pin)[..],
        )
    }
    /// User PIN as OpenSC installs it (kid 1, modify AC 96, level 06).
    pub fn user_pin(pin: &[u8], max_tries: u8) -> Self {
        Self::pin(0x01, pin, 0x96, 0x06, max_tries)
    }
    /// PUK as OpenSC installs it (kid 2, modify AC B8, level 08).
    pub fn puk(puk: &[u8], max_tries: u8) -> Self {
        Self::pin(0x02, puk, 0xB8, 0x08, max_tries)
    }
    /// An SM static key (type 01 = ENC, 02 = MAC; kid 00).
    pub fn sm_key(key_type: u8, key: &[u8; 16]) -> Self {
        Self::raw(key_type, 0x00, 0x90, 0x90, 0x00, 0x00, 0x00, 0x00, key)
    }
    /// The erase "magic PIN" (type 06, kid 01, level 0F, §5.20).
    pub fn magic_pin() -> Self {
        Self::raw(0x06, 0x01, 0x10, 0x16, 0x16, 0x16, 0x0F, 0x66, MAGIC_PIN)
    }
    /// Encoded record.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The raw erase PIN `"1234567812345678"` (§5.20).
pub const MAGIC_PIN: &[u8; 16] = b"1234567812345678";

/// INSTALL SECRET KEY `80 E3 00 00 Lc record` (§5.10).
pub fn install_secret_key(rec: &KeyRecord) -> Command {
    Command::new(0x80, 0xE3, 0x00, 0x00).with_data(rec.as_bytes())
}
/// UPDATE SECRET KEY `80 E5 04 kid 19 (max<<4|max) PINKEY(new)` (§5.11).
pub fn update_pin_key(kid: u8, max_tries: u8, new_pin: &[u8]) -> Command {
    let m = max_tries.min(15);
    let mut d = Zeroizing::new(vec![(m << 4) | m]);
    d.extend_from_slice(&crate::crypto::pin_key(new_pin)[..]);
    Command::new(0x80, 0xE5, 0x04, kid).with_data(&d)
}
/// EXTERNAL AUTHENTICATE with a PIN key `00 82 01 (80|kid) 08 cryptogram` (§5.12 a).
pub fn external_authenticate(kid: u8, cryptogram: &[u8; 8]) -> Command {
    Command::new(0x00, 0x82, 0x01, 0x80 | kid).with_data(cryptogram)
}
/// Tries query `00 82 01 (80|kid)` without data (§5.12 b).
pub fn tries_query(kid: u8) -> Command {
    Command::new(0x00, 0x82, 0x01, 0x80 | kid)
}
/// VERIFY `00 20 00 kid 10 pin` (magic PIN only, §5.13).
pub fn verify(kid: u8, pin: &[u8]) -> Command {
    Command::new(0x00, 0x20, 0x00, kid).with_data(pin)
}

/// Key algorithm for GENERATE KEY PAIR (§5.14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// RSA with the given modulus size (1024..=2048 in steps of 32 in OpenSC; 512..2048 advertised).
    Rsa(u16),
    /// ECC P-256.
    EcP256,
}

impl KeyAlgorithm {
    /// Key size in bits as written into key files (256 for EC).
    pub fn bits(self) -> u16 {
        match self {
            KeyAlgorithm::Rsa(b) => b,
            KeyAlgorithm::EcP256 => 256,
        }
    }
}

/// GENERATE KEY PAIR `00 46 00 00 07 alg bits priv pub` (§5.14).
pub fn generate_key_pair(alg: KeyAlgorithm, priv_fid: u16, pub_fid: u16) -> Command {
    let (a, bits) = match alg {
        KeyAlgorithm::Rsa(b) => (0x01, b),
        KeyAlgorithm::EcP256 => (0x02, 256),
    };
    let mut d = vec![a];
    d.extend_from_slice(&bits.to_be_bytes());
    d.extend_from_slice(&hook_fid(priv_fid).to_be_bytes());
    d.extend_from_slice(&hook_fid(pub_fid).to_be_bytes());
    Command::new(0x00, 0x46, 0x00, 0x00).with_data(&d)
}
/// READ PUBLIC KEY `80 B4 (02 RSA | 00 EC) 00 02 FID` (§5.15). For RSA moduli over 1024 bits
/// Le = 256 is sent so that the (wrapped) response over 256 bytes uses extended framing.
pub fn read_public_key(rsa_bits: Option<u16>, pub_fid: u16) -> Command {
    let p1 = if rsa_bits.is_some() { 0x02 } else { 0x00 };
    let c = Command::new(0x80, 0xB4, p1, 0x00).with_data(&hook_fid(pub_fid).to_be_bytes());
    match rsa_bits {
        Some(b) if b > 1024 => c.with_le(256),
        _ => c.expecting_response(),
    }
}
/// WRITE KEY COMPONENT `80 E7 comp 00 Lc FID value` (§5.16): into an RSA private-key EF,
/// comp 02 = n, 03 = d; into an EC private-key EF (FDB 13; inferred, not captured from a real
/// card, see `docs/protocol-notes.md`), comp 02 = the point `04 ‖ X ‖ Y`, 03 = d (32 bytes).
pub fn write_key_component(comp: u8, priv_fid: u16, value: &[u8]) -> Command {
    let mut d = Zeroizing::new(hook_fid(priv_fid).to_be_bytes().to_vec());
    d.extend_from_slice(value);
    Command::new(0x80, 0xE7, comp, 0x00).with_data(&d)
}

/// What a private key is used for in MSE (§5.17).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityEnv {
    /// Raw RSA (sign or decipher): P2 B8, alg 84.
    RsaRaw,
    /// ECDSA over a 20-byte hash: P2 B6, alg 91.
    EcdsaSha1,
    /// ECDSA over a 32-byte (or raw) hash: P2 B6, alg 92.
    EcdsaSha256,
}

/// MSE SET `00 22 41 (B8|B6) 07 80 01 alg 81 02 FID` (§5.17).
pub fn mse_set(env: SecurityEnv, priv_fid: u16) -> Command {
    let (p2, alg) = match env {
        SecurityEnv::RsaRaw => (0xB8, 0x84),
        SecurityEnv::EcdsaSha1 => (0xB6, 0x91),
        SecurityEnv::EcdsaSha256 => (0xB6, 0x92),
    };
    let f = hook_fid(priv_fid).to_be_bytes();
    Command::new(0x00, 0x22, 0x41, p2).with_data(&[0x80, 0x01, alg, 0x81, 0x02, f[0], f[1]])
}
/// PSO DECIPHER `00 2A 80 86` raw RSA, plain always extended (§5.18).
pub fn pso_rsa_raw(block: &[u8]) -> Command {
    let le = if block.len() >= 256 { 256 } else { 0 };
    Command::new(0x00, 0x2A, 0x80, 0x86)
        .with_data(block)
        .with_le(le)
        .extended()
}
/// PSO COMPUTE DIGITAL SIGNATURE `00 2A 9E 9A Lc hash` (ECDSA, §5.19).
pub fn pso_ecdsa(hash: &[u8]) -> Command {
    Command::new(0x00, 0x2A, 0x9E, 0x9A)
        .with_data(hash)
        .expecting_response()
}
