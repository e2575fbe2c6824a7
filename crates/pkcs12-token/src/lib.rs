//! A PKCS#12 (`.p12` / `.pfx`) file served as a token: a second implementation of
//! [`token_backend::TokenBackend`], next to the ePass2003 card. It knows no card code.
//!
//! * **Before login** the token lists only what the file gives without its password: the
//!   certificates of unencrypted safes (OpenSSL `-certpbe NONE`). Most files encrypt their
//!   certificates too; such a file shows no object until `C_Login`.
//! * **`C_Login`** with the file's password reads and verifies the file (MAC, decryption) and
//!   keeps each private key (PKCS#8 DER) in locked (`mlock`), zeroized memory for the login's
//!   lifetime; certificates and public keys are listed as public objects, the keys as private
//!   objects. A wrong password is [`BackendError::WrongPinNoCounter`] (`CKR_PIN_INCORRECT`): a
//!   file has no retry counter, so no try is counted and the PIN flags never say "count low",
//!   "final try" or "locked".
//! * **`C_Logout`**, the inactivity timeout and `C_Finalize` (dropping the backend) wipe the
//!   keys; the objects read at login vanish from the list.
//! * **Signing and decryption** run in software: the raw RSA operation (the PKCS#11 layer pads:
//!   PKCS#1 v1.5, PSS, OAEP) with blinding, and ECDSA P-256. A key is rebuilt from the locked
//!   PKCS#8 for each operation; those transient copies are zeroized when dropped.
//! * **`C_SetPIN`** changes the file's password atomically ([`pki_files::pkcs12::change_password`]:
//!   a new 0600 file next to it, fsynced, re-opened and verified with the new password, then
//!   renamed over the old one) after the [`PasswordPolicy`] accepted the new password. The new
//!   file uses modern encryption (PBES2 AES-256-CBC), whatever the old one used.
//! * The file is never written otherwise: the token is write-protected (`CKF_WRITE_PROTECTED`;
//!   creating, changing and deleting objects answer `CKR_TOKEN_WRITE_PROTECTED`). There is no
//!   SO: an SO login fails as a wrong PIN.

mod locked;

use locked::LockedSecret;
use pki_files::pkcs12::{self, CertBag, PrivateKey};
use sha2::Digest as _;
use std::fmt;
use std::path::{Path, PathBuf};
use token_backend::{
    BackendError, InitParams, KeyGenSpec, KeyType, KeyUsage, NewObject, ObjectKind, ObjectMeta,
    ObjectRef, PinPolicy, PinRole, PinStatus, Result, RsaKeyImport, TokenBackend, TokenDescription,
};
use zeroize::Zeroizing;

/// The model string of a PKCS#12 slot's token.
pub const MODEL: &str = "PKCS#12 file";
/// The manufacturer string of a PKCS#12 slot's token.
pub const MANUFACTURER: &str = "epass2003-rs";

const WRITE_PROTECTED: &str =
    "a PKCS#12 file is served read-only (only its password can be changed)";

/// Rules for a new PKCS#12 password (`C_SetPIN`), the same choices as
/// `epass2003-tool p12 passwd` (`--min-len`, `--max-len`, `--lower-alnum`, `--allow-utf8`).
/// Lengths count characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters (0..=1024).
    pub min_len: usize,
    /// Maximum length in characters (0 = no limit; else min_len..=1024).
    pub max_len: usize,
    /// Only lower-case ASCII letters and digits.
    pub lower_alnum: bool,
    /// Characters beyond half-width ASCII allowed.
    pub allow_utf8: bool,
}

impl Default for PasswordPolicy {
    /// The tool's defaults: at least 1 character, no maximum, half-width ASCII.
    fn default() -> Self {
        PasswordPolicy {
            min_len: 1,
            max_len: 0,
            lower_alnum: false,
            allow_utf8: false,
        }
    }
}

/// Lengths [`PasswordPolicy::parse`] accepts.
pub const POLICY_LEN_RANGE: std::ops::RangeInclusive<usize> = 0..=1024;

impl PasswordPolicy {
    /// Parse `min-len=N,max-len=N,lower-alnum,allow-utf8` (any subset, any order; `default`
    /// or empty is [`PasswordPolicy::default`]). The error says what is allowed.
    pub fn parse(text: &str) -> std::result::Result<PasswordPolicy, String> {
        let mut p = PasswordPolicy::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item, None),
            };
            let num = |v: Option<&str>| -> std::result::Result<usize, String> {
                v.and_then(|v| v.parse::<usize>().ok())
                    .filter(|n| POLICY_LEN_RANGE.contains(n))
                    .ok_or_else(|| format!("{k} needs a number in 0..=1024"))
            };
            match (k, v) {
                ("default", None) => p = PasswordPolicy::default(),
                ("min-len", _) => p.min_len = num(v)?,
                ("max-len", _) => p.max_len = num(v)?,
                ("lower-alnum", None) => p.lower_alnum = true,
                ("allow-utf8", None) => p.allow_utf8 = true,
                _ => {
                    return Err(format!(
                        "unknown item {item:?}; allowed: min-len=N, max-len=N (0 = no limit), \
                         lower-alnum, allow-utf8 (comma-separated)"
                    ))
                }
            }
        }
        if p.max_len != 0 && p.min_len > p.max_len {
            return Err(format!(
                "min-len={} is above max-len={}",
                p.min_len, p.max_len
            ));
        }
        Ok(p)
    }

    /// Check a new password: `PinLenRange` for the length, `PinInvalid` for the characters.
    pub fn check(&self, new: &str) -> Result<()> {
        if !self.allow_utf8 && !new.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
            return Err(BackendError::PinInvalid(
                "the new password must use half-width (ASCII) characters only".into(),
            ));
        }
        let n = new.chars().count();
        if n < self.min_len || (self.max_len != 0 && n > self.max_len) {
            return Err(BackendError::PinLenRange(format!(
                "the new password must be {}..{} characters long ({n} given)",
                self.min_len,
                if self.max_len == 0 {
                    "∞".to_string()
                } else {
                    self.max_len.to_string()
                }
            )));
        }
        if self.lower_alnum
            && !new
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Err(BackendError::PinInvalid(
                "the new password may contain only lower-case letters and digits".into(),
            ));
        }
        Ok(())
    }
}

/// One private key while logged in.
struct Key {
    /// PKCS#8 DER, locked and wiped on drop.
    pkcs8: LockedSecret,
    spki: Vec<u8>,
    key_type: KeyType,
    id: Vec<u8>,
    label: String,
}

/// What a login decrypted.
struct Unlocked {
    keys: Vec<Key>,
    certs: Vec<(CertBag, Vec<u8>, String)>,
}

// Object references: kind in the high byte, index below.
const REF_PRIVATE: u32 = 0x0100_0000;
const REF_PUBLIC: u32 = 0x0200_0000;
const REF_CERT: u32 = 0x0300_0000;
const REF_PUBLIC_CERT: u32 = 0x0400_0000;

/// A PKCS#12 file as a token.
pub struct Pkcs12Token {
    path: PathBuf,
    policy: PasswordPolicy,
    desc: TokenDescription,
    public_certs: Vec<(CertBag, Vec<u8>, String)>,
    unlocked: Option<Unlocked>,
    changed: bool,
}

impl fmt::Debug for Pkcs12Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs12Token")
            .field("path", &self.path)
            .field("logged_in", &self.unlocked.is_some())
            .finish_non_exhaustive()
    }
}

/// The token label for a file: its name without the extension, cut to 32 bytes.
pub fn label_for(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "PKCS#12".into());
    let mut out = String::new();
    for c in stem.chars() {
        if out.len() + c.len_utf8() > 32 {
            break;
        }
        out.push(c);
    }
    out
}

/// The serial for a file: 16 hex digits of SHA-256 over its absolute path (stable across a
/// password change, which rewrites the contents).
pub fn serial_for(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let h = sha2::Sha256::digest(abs.as_os_str().as_encoded_bytes());
    hex::encode(&h[..8])
}

fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    std::fs::read(path).map(Zeroizing::new).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            BackendError::Removed
        } else {
            BackendError::Device(format!("{}: {e}", path.display()))
        }
    })
}

fn p12_error(path: &Path, e: pkcs12::Error) -> BackendError {
    match e {
        pkcs12::Error::WrongPassword => BackendError::WrongPinNoCounter,
        pkcs12::Error::Damaged(m) => BackendError::Corrupt(format!("{}: {m}", path.display())),
        pkcs12::Error::Unsupported(m) => {
            BackendError::Device(format!("{}: unsupported: {m}", path.display()))
        }
    }
}

/// NSS's key identifier: SHA-1 of the RSA modulus or of the EC point.
fn derived_id(key: &PrivateKey) -> Vec<u8> {
    use sha1::Digest as _;
    match key {
        PrivateKey::Rsa { n, .. } => sha1::Sha1::digest(n).to_vec(),
        PrivateKey::EcP256 { point, .. } => sha1::Sha1::digest(point).to_vec(),
    }
}

fn cert_spki(der: &[u8]) -> Option<Vec<u8>> {
    use der::{Decode, Encode};
    let c = x509_cert::Certificate::from_der(der).ok()?;
    c.tbs_certificate.subject_public_key_info.to_der().ok()
}

/// (bag, CKA_ID, label) of each certificate: the ID of the key with the same public key, else
/// the bag's localKeyId, else SHA-1 of the certificate.
fn cert_entries(certs: &[CertBag], keys: &[Key]) -> Vec<(CertBag, Vec<u8>, String)> {
    use sha1::Digest as _;
    certs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let spki = cert_spki(&c.der);
            let key = keys.iter().find(|k| Some(&k.spki) == spki.as_ref());
            let id = key
                .map(|k| k.id.clone())
                .or_else(|| c.local_key_id.clone())
                .unwrap_or_else(|| sha1::Sha1::digest(&c.der).to_vec());
            let label = c
                .friendly_name
                .clone()
                .or_else(|| key.map(|k| k.label.clone()))
                .unwrap_or_else(|| format!("certificate {}", i + 1));
            (c.clone(), id, label)
        })
        .collect()
}

fn index(r: ObjectRef, kind: u32) -> Option<usize> {
    (r.0 & 0xFF00_0000 == kind).then_some((r.0 & 0x00FF_FFFF) as usize)
}

impl Pkcs12Token {
    /// Open the file at `path` (read now, to list what is public; the password is not needed).
    /// `policy` applies to new passwords set through `C_SetPIN`.
    pub fn open(path: &Path, policy: PasswordPolicy) -> Result<Pkcs12Token> {
        let data = read_file(path)?;
        let public = pkcs12::public_certs(&data).map_err(|e| p12_error(path, e))?;
        let desc = TokenDescription {
            label: label_for(path),
            serial: serial_for(path),
            manufacturer: MANUFACTURER.into(),
            model: MODEL.into(),
            hardware_version: (0, 0),
            firmware_version: (0, 0),
            initialized: true,
            write_protected: Some(WRITE_PROTECTED.into()),
            // Any existing password can be presented (1..255 bytes; the PKCS#11 layer checks
            // nothing more at C_Login); the file's own policy for new passwords is
            // [`PasswordPolicy`], applied in `change_pin`.
            user_pin_policy: PinPolicy {
                min_len: 1,
                max_len: 255,
                require_digit: false,
                require_letter: false,
                digits_only: false,
                allow_non_ascii: true,
            },
            so_pin_policy: PinPolicy::default(),
            auth_timeout_minutes: 0,
            memory: None,
        };
        Ok(Pkcs12Token {
            path: path.to_path_buf(),
            policy,
            desc,
            public_certs: cert_entries(&public, &[]),
            unlocked: None,
            changed: false,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a login holds decrypted keys now.
    pub fn is_unlocked(&self) -> bool {
        self.unlocked.is_some()
    }

    fn unlock(&self, password: &str) -> Result<Unlocked> {
        let data = read_file(&self.path)?;
        let contents = pkcs12::parse(&data, password).map_err(|e| p12_error(&self.path, e))?;
        let mut keys = Vec::new();
        for (i, kb) in contents.keys.iter().enumerate() {
            let key_type = match &kb.key {
                PrivateKey::Rsa { n, .. } => KeyType::Rsa {
                    bits: u16::try_from(n.len() * 8).unwrap_or(u16::MAX),
                },
                PrivateKey::EcP256 { .. } => KeyType::EcP256,
            };
            let pkcs8 = kb
                .key
                .to_pkcs8_der()
                .map_err(|e| p12_error(&self.path, e))?;
            let locked = LockedSecret::new(&pkcs8);
            tracing::debug!(locked = locked.is_locked(), "PKCS#12 key kept in memory");
            keys.push(Key {
                pkcs8: locked,
                spki: kb.key.spki_der().map_err(|e| p12_error(&self.path, e))?,
                key_type,
                id: kb
                    .local_key_id
                    .clone()
                    .unwrap_or_else(|| derived_id(&kb.key)),
                label: kb
                    .friendly_name
                    .clone()
                    .unwrap_or_else(|| format!("key {}", i + 1)),
            });
        }
        let certs = cert_entries(&contents.certs, &keys);
        Ok(Unlocked { keys, certs })
    }

    fn key(&self, r: ObjectRef) -> Result<(&Key, PrivateKey)> {
        let u = self.unlocked.as_ref().ok_or(BackendError::NotLoggedIn)?;
        let k = index(r, REF_PRIVATE)
            .and_then(|i| u.keys.get(i))
            .ok_or(BackendError::NoSuchObject)?;
        let pk = PrivateKey::from_pkcs8_der(k.pkcs8.bytes())
            .map_err(|e| BackendError::Device(format!("key: {e}")))?;
        Ok((k, pk))
    }

    fn meta(
        reference: u32,
        kind: ObjectKind,
        label: &str,
        id: &[u8],
        key_type: Option<KeyType>,
    ) -> ObjectMeta {
        let rsa = matches!(key_type, Some(KeyType::Rsa { .. }));
        let usage = match kind {
            ObjectKind::PrivateKey => KeyUsage {
                sign: true,
                decrypt: rsa,
                ..KeyUsage::default()
            },
            ObjectKind::PublicKey => KeyUsage {
                verify: true,
                encrypt: rsa,
                ..KeyUsage::default()
            },
            _ => KeyUsage::default(),
        };
        ObjectMeta {
            reference: ObjectRef(reference),
            kind,
            label: label.to_string(),
            id: id.to_vec(),
            private: kind == ObjectKind::PrivateKey,
            modifiable: false,
            key_type,
            usage,
            local: false,
            application: None,
        }
    }

    fn protected<T>() -> Result<T> {
        Err(BackendError::WriteProtected(WRITE_PROTECTED.into()))
    }
}

fn password_text(pin: &[u8]) -> Result<&str> {
    // A password that is not UTF-8 cannot be any file's password (RFC 7292 BMPString / PBES2
    // UTF-8): it is a wrong password.
    std::str::from_utf8(pin).map_err(|_| BackendError::WrongPinNoCounter)
}

impl TokenBackend for Pkcs12Token {
    fn describe(&mut self) -> Result<TokenDescription> {
        Ok(self.desc.clone())
    }

    fn pin_status(&mut self, role: PinRole) -> Result<PinStatus> {
        Ok(PinStatus {
            tries_left: None,
            max_tries: 0,
            initialized: role == PinRole::User,
        })
    }

    fn login(&mut self, role: PinRole, pin: &[u8]) -> Result<()> {
        if role == PinRole::So {
            return Err(BackendError::WrongPinNoCounter);
        }
        let u = self.unlock(password_text(pin)?)?;
        self.unlocked = Some(u);
        self.changed = true;
        Ok(())
    }

    fn logout(&mut self) -> Result<()> {
        if self.unlocked.take().is_some() {
            self.changed = true;
        }
        Ok(())
    }

    fn change_pin(&mut self, role: PinRole, old: &[u8], new: &[u8]) -> Result<()> {
        if role == PinRole::So {
            return Err(BackendError::WrongPinNoCounter);
        }
        let new = std::str::from_utf8(new)
            .map_err(|_| BackendError::PinInvalid("the new password must be UTF-8 text".into()))?;
        self.policy.check(new)?;
        let old = password_text(old)?;
        pkcs12::change_password(&self.path, old, new).map_err(|e| match e {
            pkcs12::ChangeError::Read(e) => p12_error(&self.path, e),
            other => BackendError::Device(format!("{}: {other}", self.path.display())),
        })
    }

    fn init_user_pin(&mut self, _new_pin: &[u8]) -> Result<()> {
        Self::protected()
    }
    fn init_token(&mut self, _params: &InitParams<'_>) -> Result<()> {
        Self::protected()
    }
    fn set_label(&mut self, _label: &str) -> Result<()> {
        Self::protected()
    }
    fn set_auth_timeout(&mut self, _minutes: u16) -> Result<()> {
        Self::protected()
    }

    fn objects(&mut self) -> Result<Vec<ObjectMeta>> {
        let mut out = Vec::new();
        let Some(u) = &self.unlocked else {
            for (i, (_, id, label)) in self.public_certs.iter().enumerate() {
                out.push(Self::meta(
                    REF_PUBLIC_CERT | i as u32,
                    ObjectKind::Certificate,
                    label,
                    id,
                    None,
                ));
            }
            return Ok(out);
        };
        for (i, k) in u.keys.iter().enumerate() {
            let i = i as u32;
            out.push(Self::meta(
                REF_PRIVATE | i,
                ObjectKind::PrivateKey,
                &k.label,
                &k.id,
                Some(k.key_type),
            ));
            out.push(Self::meta(
                REF_PUBLIC | i,
                ObjectKind::PublicKey,
                &k.label,
                &k.id,
                Some(k.key_type),
            ));
        }
        for (i, (_, id, label)) in u.certs.iter().enumerate() {
            out.push(Self::meta(
                REF_CERT | i as u32,
                ObjectKind::Certificate,
                label,
                id,
                None,
            ));
        }
        Ok(out)
    }

    fn read_value(&mut self, object: ObjectRef) -> Result<Vec<u8>> {
        if let Some(i) = index(object, REF_PUBLIC_CERT) {
            return self
                .public_certs
                .get(i)
                .map(|c| c.0.der.clone())
                .ok_or(BackendError::NoSuchObject);
        }
        let u = self.unlocked.as_ref().ok_or(BackendError::NoSuchObject)?;
        if let Some(i) = index(object, REF_CERT) {
            return u
                .certs
                .get(i)
                .map(|c| c.0.der.clone())
                .ok_or(BackendError::NoSuchObject);
        }
        if let Some(i) = index(object, REF_PUBLIC) {
            return u
                .keys
                .get(i)
                .map(|k| k.spki.clone())
                .ok_or(BackendError::NoSuchObject);
        }
        if index(object, REF_PRIVATE).is_some() {
            return Err(BackendError::NotSupported(
                "private keys are never read out".into(),
            ));
        }
        Err(BackendError::NoSuchObject)
    }

    fn generate_key_pair(&mut self, _spec: &KeyGenSpec) -> Result<(ObjectMeta, ObjectMeta)> {
        Self::protected()
    }
    fn import_rsa_key(&mut self, _key: &RsaKeyImport) -> Result<ObjectMeta> {
        Self::protected()
    }
    fn import_ec_key(&mut self, _key: &token_backend::EcKeyImport) -> Result<ObjectMeta> {
        Self::protected()
    }
    fn create_object(&mut self, _object: &NewObject) -> Result<ObjectMeta> {
        Self::protected()
    }
    fn delete_object(&mut self, _object: ObjectRef) -> Result<()> {
        Self::protected()
    }
    fn update_object(
        &mut self,
        _object: ObjectRef,
        _label: Option<&str>,
        _id: Option<&[u8]>,
    ) -> Result<ObjectMeta> {
        Self::protected()
    }

    fn rsa_raw(&mut self, key: ObjectRef, block: &[u8]) -> Result<Vec<u8>> {
        use rsa::traits::PublicKeyParts;
        use rsa::BigUint;
        let (_, pk) = self.key(key)?;
        let PrivateKey::Rsa { n, e, d, primes } = &pk else {
            return Err(BackendError::InvalidInput("not an RSA key".into()));
        };
        let primes = primes
            .as_ref()
            .map(|p| vec![BigUint::from_bytes_be(&p.p), BigUint::from_bytes_be(&p.q)])
            .unwrap_or_default();
        let sk = rsa::RsaPrivateKey::from_components(
            BigUint::from_bytes_be(n),
            BigUint::from_bytes_be(e),
            BigUint::from_bytes_be(d),
            primes,
        )
        .map_err(|e| BackendError::Device(format!("RSA key: {e}")))?;
        let k = sk.size();
        if block.len() != k {
            return Err(BackendError::InvalidInput(format!(
                "RSA input must be {k} bytes"
            )));
        }
        let c = BigUint::from_bytes_be(block);
        let m = rsa::hazmat::rsa_decrypt_and_check(&sk, Some(&mut rand::rngs::OsRng), &c)
            .map_err(|_| BackendError::InvalidInput("RSA input out of range".into()))?;
        let bytes = Zeroizing::new(m.to_bytes_be());
        let mut out = vec![0u8; k - bytes.len().min(k)];
        out.extend_from_slice(&bytes);
        Ok(out)
    }

    fn ecdsa_sign(&mut self, key: ObjectRef, hash: &[u8]) -> Result<Vec<u8>> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let (_, pk) = self.key(key)?;
        let PrivateKey::EcP256 { d, .. } = &pk else {
            return Err(BackendError::InvalidInput("not an EC key".into()));
        };
        let sk = p256::ecdsa::SigningKey::from_slice(d)
            .map_err(|e| BackendError::Device(format!("EC key: {e}")))?;
        let sig: p256::ecdsa::Signature = sk
            .sign_prehash(hash)
            .map_err(|e| BackendError::InvalidInput(format!("ECDSA input: {e}")))?;
        Ok(sig.to_bytes().to_vec())
    }

    fn random(&mut self, len: usize) -> Result<Vec<u8>> {
        let mut v = vec![0u8; len];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut v);
        Ok(v)
    }

    fn take_login_lost(&mut self) -> bool {
        false
    }

    fn refresh(&mut self) -> Result<bool> {
        Ok(std::mem::take(&mut self.changed))
    }
}
