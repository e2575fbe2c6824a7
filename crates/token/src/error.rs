//! The token layer's error type. Each variant is one PKCS#11 outcome; the single mapping to
//! `CK_RV` lives in `crates/pkcs11` (`rv.rs`).

use token_backend::BackendError;

/// What went wrong, in PKCS#11 terms (exhaustively mapped to `CK_RV` at the ABI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `C_Initialize` has not been called.
    #[error("not initialised")]
    NotInitialized,
    /// `C_Initialize` was called twice.
    #[error("already initialised")]
    AlreadyInitialized,
    /// Bad arguments (null pointer, bad flags).
    #[error("bad arguments: {0}")]
    ArgumentsBad(&'static str),
    /// A previous panic poisoned the module; `C_Finalize` + `C_Initialize` recovers.
    #[error("internal error")]
    General,
    /// Unknown slot.
    #[error("no such slot")]
    SlotIdInvalid,
    /// No token in the slot.
    #[error("token not present")]
    TokenNotPresent,
    /// The token was removed during the call.
    #[error("device removed")]
    DeviceRemoved,
    /// Device error.
    #[error("device error: {0}")]
    Device(String),
    /// Out of memory on the device.
    #[error("device memory full")]
    DeviceMemory,
    /// Unknown session handle.
    #[error("bad session handle")]
    SessionHandleInvalid,
    /// `CKF_SERIAL_SESSION` missing.
    #[error("parallel sessions not supported")]
    SessionParallelNotSupported,
    /// The session is read-only.
    #[error("session is read-only")]
    SessionReadOnly,
    /// SO login with a read-only session open.
    #[error("read-only session exists")]
    SessionReadOnlyExists,
    /// Read-only session while the SO is logged in.
    #[error("read-write SO session exists")]
    SessionReadWriteSoExists,
    /// Sessions open (C_InitToken).
    #[error("session exists")]
    SessionExists,
    /// Unknown object handle.
    #[error("bad object handle")]
    ObjectHandleInvalid,
    /// Unknown key handle.
    #[error("bad key handle")]
    KeyHandleInvalid,
    /// The key cannot be used with this mechanism / function.
    #[error("key type inconsistent")]
    KeyTypeInconsistent,
    /// The key's usage flags forbid the function.
    #[error("key function not permitted")]
    KeyFunctionNotPermitted,
    /// The key size is out of range.
    #[error("key size out of range")]
    KeySizeRange,
    /// Unknown mechanism.
    #[error("mechanism invalid")]
    MechanismInvalid,
    /// Bad mechanism parameter.
    #[error("mechanism parameter invalid")]
    MechanismParamInvalid,
    /// Another operation of this kind is active.
    #[error("operation active")]
    OperationActive,
    /// No operation of this kind was initialised.
    #[error("operation not initialized")]
    OperationNotInitialized,
    /// Wrong data length for the mechanism.
    #[error("data length out of range")]
    DataLenRange,
    /// Malformed input data.
    #[error("data invalid")]
    DataInvalid,
    /// Wrong ciphertext length.
    #[error("encrypted data length out of range")]
    EncryptedDataLenRange,
    /// Ciphertext does not decode.
    #[error("encrypted data invalid")]
    EncryptedDataInvalid,
    /// Signature mismatch.
    #[error("signature invalid")]
    SignatureInvalid,
    /// Signature of the wrong length.
    #[error("signature length out of range")]
    SignatureLenRange,
    /// Unknown attribute type in a template.
    #[error("attribute type invalid")]
    AttributeTypeInvalid,
    /// A sensitive attribute was asked for.
    #[error("attribute sensitive")]
    AttributeSensitive,
    /// Bad attribute value.
    #[error("attribute value invalid")]
    AttributeValueInvalid,
    /// Attribute cannot be changed.
    #[error("attribute read-only")]
    AttributeReadOnly,
    /// Required attribute missing.
    #[error("template incomplete")]
    TemplateIncomplete,
    /// Contradictory template.
    #[error("template inconsistent")]
    TemplateInconsistent,
    /// Object cannot be modified or destroyed.
    #[error("action prohibited")]
    ActionProhibited,
    /// Wrong PIN.
    #[error("PIN incorrect")]
    PinIncorrect,
    /// PIN blocked.
    #[error("PIN locked")]
    PinLocked,
    /// PIN length outside the token policy.
    #[error("PIN length out of range")]
    PinLenRange,
    /// PIN violates the policy (characters, same as old).
    #[error("PIN invalid")]
    PinInvalid,
    /// Not logged in.
    #[error("user not logged in")]
    UserNotLoggedIn,
    /// Already logged in.
    #[error("user already logged in")]
    UserAlreadyLoggedIn,
    /// The other user type is logged in.
    #[error("another user already logged in")]
    UserAnotherAlreadyLoggedIn,
    /// User PIN not initialised.
    #[error("user PIN not initialized")]
    UserPinNotInitialized,
    /// Unknown user type.
    #[error("user type invalid")]
    UserTypeInvalid,
    /// The token is write-protected.
    #[error("token write protected")]
    TokenWriteProtected,
    /// Token not initialised / unrecognised.
    #[error("token not recognized")]
    TokenNotRecognized,
    /// Not supported here.
    #[error("function not supported")]
    FunctionNotSupported,
    /// `CKF_DONT_BLOCK` and nothing happened.
    #[error("no event")]
    NoEvent,
    /// Random seeding not supported.
    #[error("random seed not supported")]
    RandomSeedNotSupported,
    /// Host memory.
    #[error("host memory")]
    HostMemory,
    /// The caller's output buffer is too small (the ABI's output convention).
    #[error("buffer too small")]
    BufferTooSmall,
    /// Locking requested without OS locking and with custom mutex callbacks only.
    #[error("cannot lock")]
    CantLock,
    /// `C_GetFunctionStatus` / `C_CancelFunction`.
    #[error("function not parallel")]
    FunctionNotParallel,
    /// Operation cancelled / module finalised while waiting.
    #[error("cryptoki not initialized (finalized while waiting)")]
    Finalized,
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;

impl From<BackendError> for Error {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::WrongPin { .. } | BackendError::WrongPinNoCounter => Error::PinIncorrect,
            BackendError::PinLocked => Error::PinLocked,
            BackendError::PinLenRange(_) => Error::PinLenRange,
            BackendError::PinInvalid(_) => Error::PinInvalid,
            BackendError::NotLoggedIn => Error::UserNotLoggedIn,
            BackendError::Removed => Error::DeviceRemoved,
            BackendError::WriteProtected(_) => Error::TokenWriteProtected,
            BackendError::NotInitialized => Error::TokenNotRecognized,
            BackendError::NoSuchObject => Error::ObjectHandleInvalid,
            BackendError::NotSupported(_) => Error::FunctionNotSupported,
            // A value the layout cannot hold (label too long, not DER, out of range): the
            // attribute's value is what is wrong, not the template's consistency.
            BackendError::InvalidInput(_) => Error::AttributeValueInvalid,
            BackendError::NoMemory => Error::DeviceMemory,
            BackendError::Corrupt(m) | BackendError::Device(m) => Error::Device(m),
        }
    }
}
