//! Per-session state: flags, find cursor and one slot per operation kind.

use crate::crypto::PublicKey;
use crate::error::{Error, Result};
use crate::lifecycle::Lifecycle;
use crate::mechanism::Mechanism;
use crate::token::{Accumulator, SignScheme};
use cryptoki_sys::CK_OBJECT_HANDLE;
use token_backend::{KeyType, ObjectRef};
use zeroize::Zeroizing;

/// An active signature.
pub struct SignOp {
    pub(crate) scheme: SignScheme,
    pub(crate) key: ObjectRef,
    pub(crate) key_type: KeyType,
    /// The modulus of an RSA key when known (input checks on the host before the card).
    pub(crate) modulus: Option<Vec<u8>>,
    pub(crate) acc: Accumulator,
    /// Single/multi-part and the signature kept for the fetching call: one card operation per
    /// signature.
    pub(crate) life: Lifecycle,
}

impl SignOp {
    pub(crate) fn new(
        scheme: SignScheme,
        key: ObjectRef,
        key_type: KeyType,
        modulus: Option<Vec<u8>>,
    ) -> Self {
        let acc = Accumulator::new(scheme.hash());
        SignOp {
            scheme,
            key,
            key_type,
            modulus,
            acc,
            life: Lifecycle::default(),
        }
    }
    pub(crate) fn finish_input(&mut self) -> Vec<u8> {
        self.acc.finish()
    }
}

/// An active verification (host side).
pub struct VerifyOp {
    pub(crate) scheme: SignScheme,
    pub(crate) key: PublicKey,
    pub(crate) acc: Accumulator,
    pub(crate) life: Lifecycle,
}

impl VerifyOp {
    pub(crate) fn new(scheme: SignScheme, key: PublicKey) -> Self {
        let acc = Accumulator::new(scheme.hash());
        VerifyOp {
            scheme,
            key,
            acc,
            life: Lifecycle::default(),
        }
    }
    pub(crate) fn finish_input(&mut self) -> Vec<u8> {
        self.acc.finish()
    }
}

/// An active decryption (card).
pub struct DecryptOp {
    pub(crate) mech: Mechanism,
    pub(crate) key: ObjectRef,
    pub(crate) k: usize,
    /// The modulus when known (ciphertext checks on the host before the card).
    pub(crate) modulus: Option<Vec<u8>>,
    pub(crate) data: Zeroizing<Vec<u8>>,
    pub(crate) life: Lifecycle,
}

/// An active encryption (host).
pub struct EncryptOp {
    pub(crate) mech: Mechanism,
    pub(crate) key: PublicKey,
    pub(crate) data: Zeroizing<Vec<u8>>,
    pub(crate) life: Lifecycle,
}

/// An active digest.
pub struct DigestOp {
    pub(crate) acc: Accumulator,
    pub(crate) life: Lifecycle,
}

impl DigestOp {
    /// `C_Digest`: single part. Hashing is cheap and deterministic, so every call hashes the
    /// data it is given (a size query binds nothing).
    pub fn digest(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        self.life.single()?;
        let mut h = self
            .acc
            .hasher
            .as_ref()
            .ok_or(Error::OperationNotInitialized)?
            .box_clone();
        h.update(data);
        Ok(h.finalize().to_vec())
    }
    /// `C_DigestUpdate`.
    pub fn update(&mut self, data: &[u8]) -> Result<()> {
        self.life.update()?;
        self.acc.update(data);
        Ok(())
    }
    /// `C_DigestFinal`.
    pub fn finish(&mut self) -> Result<Vec<u8>> {
        self.life.finish()?;
        if let Some(r) = self.life.kept(&[]) {
            return Ok(r);
        }
        let r = self.acc.finish();
        self.life.keep(&[], &r);
        Ok(r)
    }
}

/// Operation kinds (for "finish after the output was delivered").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Sign.
    Sign,
    /// Decrypt.
    Decrypt,
    /// Encrypt.
    Encrypt,
    /// Digest.
    Digest,
    /// Verify.
    Verify,
    /// Find.
    Find,
}

/// One session.
pub struct Session {
    /// Read-write.
    pub rw: bool,
    pub(crate) find: Option<Vec<CK_OBJECT_HANDLE>>,
    pub(crate) sign: Option<SignOp>,
    pub(crate) verify: Option<VerifyOp>,
    pub(crate) decrypt: Option<DecryptOp>,
    pub(crate) encrypt: Option<EncryptOp>,
    /// Active digest.
    pub digest: Option<DigestOp>,
    /// A signature or decryption was dropped because the login ended (logout, timeout, lost
    /// card state): its next call answers `CKR_USER_NOT_LOGGED_IN`, once.
    login_ended: bool,
}

impl Session {
    pub(crate) fn new(rw: bool) -> Self {
        Session {
            rw,
            find: None,
            sign: None,
            verify: None,
            decrypt: None,
            encrypt: None,
            digest: None,
            login_ended: false,
        }
    }
    /// Drop operations that need the login (after logout/timeout).
    pub(crate) fn clear_ops(&mut self) {
        self.login_ended = self.sign.is_some() || self.decrypt.is_some();
        self.sign = None;
        self.decrypt = None;
        self.find = None;
    }
    /// The error for a signature/decryption call without an active operation:
    /// `CKR_USER_NOT_LOGGED_IN` once after the login ended under it (while the token is still
    /// `public`), else `CKR_OPERATION_NOT_INITIALIZED`.
    pub(crate) fn missing_op(&mut self, public: bool) -> Error {
        if std::mem::take(&mut self.login_ended) && public {
            Error::UserNotLoggedIn
        } else {
            Error::OperationNotInitialized
        }
    }
    /// End an operation (after its output was delivered, or on error).
    pub fn end(&mut self, kind: OpKind) {
        match kind {
            OpKind::Sign => self.sign = None,
            OpKind::Decrypt => self.decrypt = None,
            OpKind::Encrypt => self.encrypt = None,
            OpKind::Digest => self.digest = None,
            OpKind::Verify => self.verify = None,
            OpKind::Find => self.find = None,
        }
    }
    /// Whether an operation of `kind` is active.
    pub fn active(&self, kind: OpKind) -> bool {
        match kind {
            OpKind::Sign => self.sign.is_some(),
            OpKind::Decrypt => self.decrypt.is_some(),
            OpKind::Encrypt => self.encrypt.is_some(),
            OpKind::Digest => self.digest.is_some(),
            OpKind::Verify => self.verify.is_some(),
            OpKind::Find => self.find.is_some(),
        }
    }
    /// `C_FindObjectsInit`.
    pub fn find_init(&mut self, found: Vec<CK_OBJECT_HANDLE>) -> Result<()> {
        if self.find.is_some() {
            return Err(Error::OperationActive);
        }
        self.find = Some(found);
        Ok(())
    }
    /// `C_FindObjects`.
    pub fn find_next(&mut self, max: usize) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let f = self.find.as_mut().ok_or(Error::OperationNotInitialized)?;
        let n = max.min(f.len());
        Ok(f.drain(..n).collect())
    }
    /// `C_FindObjectsFinal`.
    pub fn find_final(&mut self) -> Result<()> {
        self.find
            .take()
            .map(|_| ())
            .ok_or(Error::OperationNotInitialized)
    }
}
