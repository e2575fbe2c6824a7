//! The life cycle of a cryptographic operation (PKCS#11 3.0 §5.2, §5.8-§5.13).
//!
//! * A single-part call (`C_Sign`, `C_Decrypt`, ...) and the multi-part calls (`C_*Update`,
//!   `C_*Final`) are not mixed: once one form was used, the other answers
//!   `CKR_OPERATION_ACTIVE` (and, being an error, ends the operation: the C ABI layer ends an
//!   operation on every error but `CKR_BUFFER_TOO_SMALL`).
//! * A size query (NULL output buffer) or a too-small buffer leaves the operation active. The
//!   result computed for it is kept, bound to the input it was computed for, so the call that
//!   fetches it costs no second card operation; a later call with another input computes anew.
//!   Inputs are compared in constant time (a decryption's ciphertext decides whether a kept
//!   plaintext is handed out).

use crate::error::{Error, Result};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Which form of the operation the application has used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Form {
    /// Only `C_*Init` so far.
    #[default]
    Open,
    /// The single-part call.
    Single,
    /// `C_*Update` or `C_*Final`.
    Multi,
}

/// A result computed for a size query, with the input it belongs to.
struct Kept {
    input: Zeroizing<Vec<u8>>,
    value: Zeroizing<Vec<u8>>,
}

/// The state machine shared by every operation kind.
#[derive(Default)]
pub struct Lifecycle {
    form: Form,
    kept: Option<Kept>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("form", &self.form)
            .field("kept", &self.kept.is_some())
            .finish()
    }
}

impl Lifecycle {
    /// Before the single-part call: refused once `C_*Update`/`C_*Final` was used.
    pub(crate) fn single(&mut self) -> Result<()> {
        if self.form == Form::Multi {
            return Err(Error::OperationActive);
        }
        self.form = Form::Single;
        Ok(())
    }

    /// Before `C_*Update`: refused after the single-part call or a `C_*Final` size query
    /// (whose result is fixed).
    pub(crate) fn update(&mut self) -> Result<()> {
        if self.form == Form::Single || self.kept.is_some() {
            return Err(Error::OperationActive);
        }
        self.form = Form::Multi;
        Ok(())
    }

    /// Before `C_*Final`: refused after the single-part call.
    pub(crate) fn finish(&mut self) -> Result<()> {
        if self.form == Form::Single {
            return Err(Error::OperationActive);
        }
        self.form = Form::Multi;
        Ok(())
    }

    /// The input of a one-shot result: `data` for the single-part call (`Some`), the buffered
    /// `C_*Update` data for `C_*Final` (`None`); either form is checked first.
    pub(crate) fn input(
        &mut self,
        data: Option<&[u8]>,
        buffered: &Zeroizing<Vec<u8>>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        match data {
            Some(d) => {
                self.single()?;
                Ok(Zeroizing::new(d.to_vec()))
            }
            None => {
                self.finish()?;
                Ok(buffered.clone())
            }
        }
    }

    /// The kept result, if it was computed for exactly `input`.
    pub(crate) fn kept(&self, input: &[u8]) -> Option<Vec<u8>> {
        let k = self.kept.as_ref()?;
        // `ct_eq` of slices of different lengths is false (the length is not secret).
        bool::from(k.input.as_slice().ct_eq(input)).then(|| k.value.to_vec())
    }

    /// Keep `value`, computed for `input`, for the call that fetches it.
    pub(crate) fn keep(&mut self, input: &[u8], value: &[u8]) {
        self.kept = Some(Kept {
            input: Zeroizing::new(input.to_vec()),
            value: Zeroizing::new(value.to_vec()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_do_not_mix() {
        let mut l = Lifecycle::default();
        l.single().unwrap();
        assert_eq!(l.update(), Err(Error::OperationActive));
        assert_eq!(l.finish(), Err(Error::OperationActive));
        let mut l = Lifecycle::default();
        l.update().unwrap();
        assert_eq!(l.single(), Err(Error::OperationActive));
        l.finish().unwrap();
        l.keep(b"", b"sig");
        assert_eq!(l.update(), Err(Error::OperationActive));
        assert_eq!(l.kept(b"").as_deref(), Some(&b"sig"[..]));
    }

    #[test]
    fn kept_result_is_bound_to_its_input() {
        let mut l = Lifecycle::default();
        assert_eq!(l.kept(b"A"), None);
        l.keep(b"A", b"result over A");
        assert_eq!(l.kept(b"A").as_deref(), Some(&b"result over A"[..]));
        assert_eq!(l.kept(b"B"), None);
        assert_eq!(l.kept(b"AA"), None);
        assert_eq!(l.kept(b""), None);
    }
}
