//! Per-session state: flags, find cursor and one slot per operation kind.

use crate::crypto::PublicKey;
use crate::error::{Error, Result};
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
    pub(crate) acc: Accumulator,
    pub(crate) updated: bool,
    /// The signature, kept for the second (buffer) call: one card operation per signature.
    pub(crate) result: Option<Vec<u8>>,
}

impl SignOp {
    pub(crate) fn new(scheme: SignScheme, key: ObjectRef, key_type: KeyType) -> Self {
        let acc = Accumulator::new(scheme.hash());
        SignOp {
            scheme,
            key,
            key_type,
            acc,
            updated: false,
            result: None,
        }
    }
    pub(crate) fn update(&mut self, d: &[u8]) {
        self.updated = true;
        self.acc.update(d);
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
}

impl VerifyOp {
    pub(crate) fn new(scheme: SignScheme, key: PublicKey) -> Self {
        let acc = Accumulator::new(scheme.hash());
        VerifyOp { scheme, key, acc }
    }
    pub(crate) fn update(&mut self, d: &[u8]) {
        self.acc.update(d);
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
    pub(crate) data: Vec<u8>,
    pub(crate) result: Option<Zeroizing<Vec<u8>>>,
}

/// An active encryption (host).
pub struct EncryptOp {
    pub(crate) mech: Mechanism,
    pub(crate) key: PublicKey,
    pub(crate) data: Vec<u8>,
    pub(crate) result: Option<Vec<u8>>,
}

/// An active digest.
pub struct DigestOp {
    pub(crate) acc: Accumulator,
    pub(crate) result: Option<Vec<u8>>,
    pub(crate) updated: bool,
}

impl DigestOp {
    /// `C_Digest`: single part; the result is kept until delivered.
    pub fn digest(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        if let Some(r) = &self.result {
            return Ok(r.clone());
        }
        if self.updated {
            return Err(Error::OperationActive);
        }
        self.acc.update(data);
        let r = self.acc.finish();
        self.result = Some(r.clone());
        Ok(r)
    }
    /// `C_DigestUpdate`.
    pub fn update(&mut self, data: &[u8]) -> Result<()> {
        if self.result.is_some() {
            return Err(Error::OperationActive);
        }
        self.updated = true;
        self.acc.update(data);
        Ok(())
    }
    /// `C_DigestFinal`.
    pub fn finish(&mut self) -> Vec<u8> {
        if let Some(r) = &self.result {
            return r.clone();
        }
        let r = self.acc.finish();
        self.result = Some(r.clone());
        r
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
