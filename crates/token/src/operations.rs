//! Signature, verification, decryption and encryption on a token: `C_*Init` and the calls
//! that feed and finish them. The rules every operation follows (single- or multi-part, the
//! kept result of a size query) are in [`crate::lifecycle`]; the C ABI layer ends an operation
//! on every error but `CKR_BUFFER_TOO_SMALL`, and after a delivered result.

use super::*;
use crate::session::{DecryptOp, EncryptOp, SignOp, VerifyOp};
use sha2::{Digest, Sha256};
use std::cmp::Ordering as Cmp;

impl Token {
    fn private_key(
        &mut self,
        handles: &Handles,
        key: CK_OBJECT_HANDLE,
        why: LoginUse,
    ) -> Result<(ObjectMeta, KeyType)> {
        let i = self.index(handles, key).map_err(|e| match e {
            Error::ObjectHandleInvalid => Error::KeyHandleInvalid,
            e => e,
        })?;
        let m = self.entries()[i].meta.clone();
        if m.kind != ObjectKind::PrivateKey {
            return Err(Error::KeyTypeInconsistent);
        }
        self.require_user()?;
        self.used_login(why);
        let kt = self.key_type(i)?.ok_or(Error::KeyTypeInconsistent)?;
        Ok((m, kt))
    }

    /// The RSA modulus of private key `key` from its public key or certificate, when the token
    /// holds one (cached after the first read).
    fn modulus(&mut self, handles: &Handles, key: CK_OBJECT_HANDLE) -> Result<Option<Vec<u8>>> {
        let i = self.index(handles, key)?;
        Ok(match self.public_key(i)? {
            Some(PublicKey::Rsa { n, .. }) => Some(n),
            _ => None,
        })
    }

    fn public_of(
        &mut self,
        handles: &Handles,
        key: CK_OBJECT_HANDLE,
    ) -> Result<(PublicKey, ObjectMeta)> {
        let i = self.index(handles, key).map_err(|e| match e {
            Error::ObjectHandleInvalid => Error::KeyHandleInvalid,
            e => e,
        })?;
        let m = self.entries()[i].meta.clone();
        if !matches!(m.kind, ObjectKind::PublicKey | ObjectKind::PrivateKey) {
            return Err(Error::KeyTypeInconsistent);
        }
        let pk = self.public_key(i)?.ok_or(Error::KeyTypeInconsistent)?;
        Ok((pk, m))
    }

    /// `C_SignInit`.
    pub fn sign_init(
        &mut self,
        handles: &Handles,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if self.session(h)?.sign.is_some() {
            return Err(Error::OperationActive);
        }
        let scheme = SignScheme::from_mech(mech)?;
        let (m, kt) = self.private_key(handles, key, LoginUse::Sign)?;
        scheme.check_key(kt)?;
        scheme.check_size(kt)?;
        if !m.usage.sign {
            return Err(Error::KeyFunctionNotPermitted);
        }
        // Raw RSA is the one scheme whose input can reach the modulus.
        let modulus = match scheme {
            SignScheme::X509 => self.modulus(handles, key)?,
            _ => None,
        };
        let op = SignOp::new(scheme, m.reference, kt, modulus);
        self.session(h)?.sign = Some(op);
        Ok(())
    }

    fn card_sign(&mut self, op: &SignOp, input: &[u8]) -> Result<Vec<u8>> {
        let block = op.scheme.encode(input, op.key_type)?;
        if let Some(n) = &op.modulus {
            if cmp_be(&block, n) != Cmp::Less {
                return Err(Error::DataInvalid);
            }
        }
        let r = match op.key_type {
            KeyType::Rsa { .. } => self.backend.rsa_raw(op.key, &block),
            KeyType::EcP256 => self.backend.ecdsa_sign(op.key, &block),
        };
        r.map_err(|e| match e {
            // CKM_RSA_X_509 input not below the modulus (modulus unknown on the host).
            BackendError::InvalidInput(_) => Error::DataInvalid,
            e => self.be(e),
        })
    }

    /// The active signature of session `h`, or the error for its absence.
    fn sign_op(&mut self, h: CK_SESSION_HANDLE) -> Result<&mut SignOp> {
        self.used_login(LoginUse::Sign);
        let public = self.login == LoginState::Public;
        let s = self.session(h)?;
        let missing = s.missing_op(public);
        s.sign.as_mut().ok_or(missing)
    }

    /// Sign `input` with the operation of session `h` (one card operation) and keep the
    /// signature for `binding`.
    fn sign_kept(&mut self, h: CK_SESSION_HANDLE, input: &[u8], binding: &[u8]) -> Result<Vec<u8>> {
        let op = self
            .session(h)?
            .sign
            .take()
            .ok_or(Error::OperationNotInitialized)?;
        let sig = self.card_sign(&op, input)?;
        let mut op = op;
        op.life.keep(binding, &sig);
        self.session(h)?.sign = Some(op);
        Ok(sig)
    }

    /// `C_Sign` (single part): the signature of a size query is kept for the same data only.
    pub fn sign(&mut self, h: CK_SESSION_HANDLE, data: &[u8]) -> Result<Vec<u8>> {
        let op = self.sign_op(h)?;
        op.life.single()?;
        let binding = Sha256::digest(data);
        if let Some(r) = op.life.kept(&binding) {
            return Ok(r);
        }
        let input = op.scheme.prehash(data);
        self.sign_kept(h, &input, &binding)
    }

    /// `C_SignUpdate`.
    pub fn sign_update(&mut self, h: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        let op = self.sign_op(h)?;
        op.life.update()?;
        op.acc.update(data);
        Ok(())
    }

    /// `C_SignFinal`.
    pub fn sign_final(&mut self, h: CK_SESSION_HANDLE) -> Result<Vec<u8>> {
        let op = self.sign_op(h)?;
        op.life.finish()?;
        if let Some(r) = op.life.kept(&[]) {
            return Ok(r);
        }
        let input = op.finish_input();
        self.sign_kept(h, &input, &[])
    }

    /// `C_VerifyInit` (on the host, with the public key of a public or private key object).
    pub fn verify_init(
        &mut self,
        handles: &Handles,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if self.session(h)?.verify.is_some() {
            return Err(Error::OperationActive);
        }
        let scheme = SignScheme::from_mech(mech)?;
        let (pk, _m) = self.public_of(handles, key)?;
        let kt = match &pk {
            PublicKey::Rsa { n, .. } => KeyType::Rsa {
                bits: (n.len() * 8) as u16,
            },
            PublicKey::EcP256 { .. } => KeyType::EcP256,
        };
        scheme.check_key(kt)?;
        scheme.check_size(kt)?;
        self.session(h)?.verify = Some(VerifyOp::new(scheme, pk));
        Ok(())
    }

    /// `C_Verify` (always ends the operation).
    pub fn verify(&mut self, h: CK_SESSION_HANDLE, data: &[u8], sig: &[u8]) -> Result<()> {
        let mut op = self
            .session(h)?
            .verify
            .take()
            .ok_or(Error::OperationNotInitialized)?;
        op.life.single()?;
        let input = op.scheme.prehash(data);
        op.scheme.verify(&op.key, &input, sig)
    }

    /// `C_VerifyUpdate`.
    pub fn verify_update(&mut self, h: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        let op = self
            .session(h)?
            .verify
            .as_mut()
            .ok_or(Error::OperationNotInitialized)?;
        op.life.update()?;
        op.acc.update(data);
        Ok(())
    }

    /// `C_VerifyFinal` (always ends the operation).
    pub fn verify_final(&mut self, h: CK_SESSION_HANDLE, sig: &[u8]) -> Result<()> {
        let mut op = self
            .session(h)?
            .verify
            .take()
            .ok_or(Error::OperationNotInitialized)?;
        op.life.finish()?;
        let input = op.finish_input();
        op.scheme.verify(&op.key, &input, sig)
    }

    /// `C_DecryptInit`.
    pub fn decrypt_init(
        &mut self,
        handles: &Handles,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if self.session(h)?.decrypt.is_some() {
            return Err(Error::OperationActive);
        }
        check_decrypt_mech(mech)?;
        let (m, kt) = self.private_key(handles, key, LoginUse::Decrypt)?;
        let KeyType::Rsa { bits } = kt else {
            return Err(Error::KeyTypeInconsistent);
        };
        if !m.usage.decrypt {
            return Err(Error::KeyFunctionNotPermitted);
        }
        let k = usize::from(bits).div_ceil(8);
        check_oaep_size(mech, k)?;
        let modulus = self.modulus(handles, key)?;
        self.session(h)?.decrypt = Some(DecryptOp {
            mech: mech.clone(),
            key: m.reference,
            k,
            modulus,
            data: Zeroizing::new(Vec::new()),
            life: Default::default(),
        });
        Ok(())
    }

    /// `C_Decrypt` (`data` given) or `C_DecryptFinal` (`None`: the buffered parts). The
    /// plaintext of a size query is kept for the same ciphertext only.
    pub fn decrypt(&mut self, h: CK_SESSION_HANDLE, data: Option<&[u8]>) -> Result<Vec<u8>> {
        self.used_login(LoginUse::Decrypt);
        let public = self.login == LoginState::Public;
        let s = self.session(h)?;
        let missing = s.missing_op(public);
        let op = s.decrypt.as_mut().ok_or(missing)?;
        let input = op.life.input(data, &op.data)?;
        if let Some(r) = op.life.kept(&input) {
            return Ok(r);
        }
        let op = s.decrypt.take().ok_or(Error::OperationNotInitialized)?;
        check_ciphertext(&input, op.k, op.modulus.as_deref())?;
        let raw = Zeroizing::new(self.backend.rsa_raw(op.key, &input).map_err(|e| match e {
            // A ciphertext not below the modulus (modulus unknown on the host).
            BackendError::InvalidInput(_) => Error::EncryptedDataInvalid,
            e => self.be(e),
        })?);
        let mut raw_k = vec![0u8; op.k.saturating_sub(raw.len())];
        raw_k.extend_from_slice(&raw);
        let raw_k = Zeroizing::new(raw_k);
        let plain = Zeroizing::new(match &op.mech.params {
            MechParams::Oaep { hash, mgf, label } => {
                let hash = HashAlg::from_digest_mech(*hash).ok_or(Error::MechanismParamInvalid)?;
                let mgf = HashAlg::from_mgf(*mgf).ok_or(Error::MechanismParamInvalid)?;
                crypto::oaep_decode(&raw_k, label, hash, mgf)?
            }
            _ if op.mech.mechanism == CKM_RSA_X_509 => raw_k.to_vec(),
            _ => crypto::pkcs1_type2_unpad(&raw_k)?,
        });
        let mut op = op;
        op.life.keep(&input, &plain);
        self.session(h)?.decrypt = Some(op);
        Ok(plain.to_vec())
    }

    /// `C_DecryptUpdate`: buffers (output comes at `C_DecryptFinal`).
    pub fn decrypt_update(&mut self, h: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        self.used_login(LoginUse::Decrypt);
        let public = self.login == LoginState::Public;
        let s = self.session(h)?;
        let missing = s.missing_op(public);
        let op = s.decrypt.as_mut().ok_or(missing)?;
        op.life.update()?;
        if op.data.len() + data.len() > op.k {
            return Err(Error::EncryptedDataLenRange);
        }
        op.data.extend_from_slice(data);
        Ok(())
    }

    /// `C_EncryptInit` (host, public key).
    pub fn encrypt_init(
        &mut self,
        handles: &Handles,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if self.session(h)?.encrypt.is_some() {
            return Err(Error::OperationActive);
        }
        check_decrypt_mech(mech)?;
        let (pk, _) = self.public_of(handles, key)?;
        if !matches!(pk, PublicKey::Rsa { .. }) {
            return Err(Error::KeyTypeInconsistent);
        }
        check_oaep_size(mech, pk.modulus_len())?;
        self.session(h)?.encrypt = Some(EncryptOp {
            mech: mech.clone(),
            key: pk,
            data: Zeroizing::new(Vec::new()),
            life: Default::default(),
        });
        Ok(())
    }

    /// `C_Encrypt` (`data` given) or `C_EncryptFinal` (`None`). The ciphertext of a size query
    /// is kept for the same plaintext only.
    pub fn encrypt(&mut self, h: CK_SESSION_HANDLE, data: Option<&[u8]>) -> Result<Vec<u8>> {
        let s = self.session(h)?;
        let op = s.encrypt.as_mut().ok_or(Error::OperationNotInitialized)?;
        let input = op.life.input(data, &op.data)?;
        if let Some(r) = op.life.kept(&input) {
            return Ok(r);
        }
        let k = op.key.modulus_len();
        let block = match &op.mech.params {
            MechParams::Oaep { hash, mgf, label } => {
                let hash = HashAlg::from_digest_mech(*hash).ok_or(Error::MechanismParamInvalid)?;
                let mgf = HashAlg::from_mgf(*mgf).ok_or(Error::MechanismParamInvalid)?;
                crypto::oaep_encode(&input, label, hash, mgf, k)
            }
            _ if op.mech.mechanism == CKM_RSA_X_509 => {
                if input.len() > k {
                    Err(Error::DataLenRange)
                } else {
                    let mut v = vec![0u8; k - input.len()];
                    v.extend_from_slice(&input);
                    Ok(v)
                }
            }
            _ => crypto::pkcs1_type2(&input, k),
        }
        .map(Zeroizing::new)?;
        let c = op.key.rsa_public(&block)?;
        op.life.keep(&input, &c);
        Ok(c)
    }

    /// `C_EncryptUpdate`: buffers.
    pub fn encrypt_update(&mut self, h: CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        let op = self
            .session(h)?
            .encrypt
            .as_mut()
            .ok_or(Error::OperationNotInitialized)?;
        op.life.update()?;
        if op.data.len() + data.len() > op.key.modulus_len() {
            return Err(Error::DataLenRange);
        }
        op.data.extend_from_slice(data);
        Ok(())
    }
}

/// Mechanism and parameters of `C_EncryptInit`/`C_DecryptInit`: OAEP with a hash and MGF1
/// hash this library knows (any pair: the padding is done on the host).
fn check_decrypt_mech(mech: &Mechanism) -> Result<()> {
    match (mech.mechanism, &mech.params) {
        (CKM_RSA_PKCS | CKM_RSA_X_509, MechParams::None) => Ok(()),
        (CKM_RSA_PKCS_OAEP, MechParams::Oaep { hash, mgf, .. }) => {
            HashAlg::from_digest_mech(*hash).ok_or(Error::MechanismParamInvalid)?;
            HashAlg::from_mgf(*mgf).ok_or(Error::MechanismParamInvalid)?;
            Ok(())
        }
        (CKM_RSA_PKCS_OAEP, _) => Err(Error::MechanismParamInvalid),
        (CKM_RSA_PKCS | CKM_RSA_X_509, _) => Err(Error::MechanismParamInvalid),
        _ => Err(Error::MechanismInvalid),
    }
}

/// OAEP needs `k >= 2 hLen + 2` (RFC 8017 §7.1.1): a hash too long for the key is a parameter
/// this key cannot use.
fn check_oaep_size(mech: &Mechanism, k: usize) -> Result<()> {
    if let MechParams::Oaep { hash, .. } = &mech.params {
        let h = HashAlg::from_digest_mech(*hash).ok_or(Error::MechanismParamInvalid)?;
        if k < 2 * h.output_len() + 2 {
            return Err(Error::MechanismParamInvalid);
        }
    }
    Ok(())
}

/// Big-endian unsigned comparison (leading zero bytes ignored).
fn cmp_be(a: &[u8], b: &[u8]) -> Cmp {
    let strip = |x: &[u8]| -> usize { x.iter().take_while(|&&v| v == 0).count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A raw-RSA ciphertext for a `k`-byte modulus `n`: exactly `k` bytes
/// (`CKR_ENCRYPTED_DATA_LEN_RANGE`) and, when the modulus is known, below it
/// (`CKR_ENCRYPTED_DATA_INVALID`), decided on the host before the card is asked.
fn check_ciphertext(c: &[u8], k: usize, n: Option<&[u8]>) -> Result<()> {
    if c.len() != k {
        return Err(Error::EncryptedDataLenRange);
    }
    match n {
        Some(n) if cmp_be(c, n) != Cmp::Less => Err(Error::EncryptedDataInvalid),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphertext_checks() {
        let n = [0xC0u8, 0x01];
        assert_eq!(
            check_ciphertext(&[1], 2, Some(&n)),
            Err(Error::EncryptedDataLenRange)
        );
        assert_eq!(
            check_ciphertext(&[0, 1, 2], 2, Some(&n)),
            Err(Error::EncryptedDataLenRange)
        );
        assert_eq!(
            check_ciphertext(&[0xC0, 0x01], 2, Some(&n)),
            Err(Error::EncryptedDataInvalid)
        );
        assert_eq!(
            check_ciphertext(&[0xFF, 0x00], 2, Some(&n)),
            Err(Error::EncryptedDataInvalid)
        );
        assert_eq!(check_ciphertext(&[0xC0, 0x00], 2, Some(&n)), Ok(()));
        assert_eq!(check_ciphertext(&[0x00, 0x05], 2, Some(&n)), Ok(()));
        assert_eq!(check_ciphertext(&[0xFF, 0xFF], 2, None), Ok(()));
    }
}
