//! The C boundary: the global module state, the one `C_*` macro (panic containment, tracing,
//! `Error → CK_RV`), audited pointer helpers, and the output-buffer convention.

use cryptoki_sys::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard};
use token::attr::Template;
use token::mechanism::{MechParams, Mechanism};
use token::module::Module;
pub(crate) use token::Error;

/// Everything `C_Initialize` creates, and the process that created it (fork detection).
pub(crate) struct State {
    pub(crate) module: Module,
    pub(crate) pid: u32,
}

/// The one global. Lock order: this `RwLock` → a slot `Mutex` → the session index (see
/// `token::module`). Written only by `C_Initialize` / `C_Finalize`.
pub(crate) static STATE: RwLock<Option<State>> = RwLock::new(None);

/// Set when a panic was caught; every call fails with `CKR_GENERAL_ERROR` until `C_Finalize`.
pub(crate) static POISONED: AtomicBool = AtomicBool::new(false);

/// Mark the module as poisoned (a panic reached the boundary).
pub(crate) fn poison() {
    POISONED.store(true, Ordering::SeqCst);
}

/// Fail unless `C_Initialize` ran (in this process).
pub(crate) fn require_init() -> Result<(), Error> {
    module().map(|_| ())
}

/// A read guard on the module.
pub(crate) struct ModuleGuard(RwLockReadGuard<'static, Option<State>>);

impl std::ops::Deref for ModuleGuard {
    type Target = Module;
    fn deref(&self) -> &Module {
        match self.0.as_ref() {
            Some(s) => &s.module,
            // `module()` checked this under the same guard.
            None => unreachable!("module guard without state"),
        }
    }
}

/// The initialised module, or `CKR_CRYPTOKI_NOT_INITIALIZED` (also in a forked child that has
/// not called `C_Initialize` yet).
pub(crate) fn module() -> Result<ModuleGuard, Error> {
    if POISONED.load(Ordering::SeqCst) {
        return Err(Error::General);
    }
    let g = STATE.read().map_err(|_| Error::General)?;
    match g.as_ref() {
        Some(s) if s.pid == std::process::id() => Ok(ModuleGuard(g)),
        _ => Err(Error::NotInitialized),
    }
}

/// The single `Error → CK_RV` mapping.
pub(crate) fn rv(e: &Error) -> CK_RV {
    match e {
        Error::NotInitialized | Error::Finalized => CKR_CRYPTOKI_NOT_INITIALIZED,
        Error::AlreadyInitialized => CKR_CRYPTOKI_ALREADY_INITIALIZED,
        Error::ArgumentsBad(_) => CKR_ARGUMENTS_BAD,
        Error::General => CKR_GENERAL_ERROR,
        Error::SlotIdInvalid => CKR_SLOT_ID_INVALID,
        Error::TokenNotPresent => CKR_TOKEN_NOT_PRESENT,
        Error::DeviceRemoved => CKR_DEVICE_REMOVED,
        Error::Device(_) => CKR_DEVICE_ERROR,
        Error::DeviceMemory => CKR_DEVICE_MEMORY,
        Error::SessionHandleInvalid => CKR_SESSION_HANDLE_INVALID,
        Error::SessionParallelNotSupported => CKR_SESSION_PARALLEL_NOT_SUPPORTED,
        Error::SessionReadOnly => CKR_SESSION_READ_ONLY,
        Error::SessionReadOnlyExists => CKR_SESSION_READ_ONLY_EXISTS,
        Error::SessionReadWriteSoExists => CKR_SESSION_READ_WRITE_SO_EXISTS,
        Error::SessionExists => CKR_SESSION_EXISTS,
        Error::ObjectHandleInvalid => CKR_OBJECT_HANDLE_INVALID,
        Error::KeyHandleInvalid => CKR_KEY_HANDLE_INVALID,
        Error::KeyTypeInconsistent => CKR_KEY_TYPE_INCONSISTENT,
        Error::KeyFunctionNotPermitted => CKR_KEY_FUNCTION_NOT_PERMITTED,
        Error::KeySizeRange => CKR_KEY_SIZE_RANGE,
        Error::MechanismInvalid => CKR_MECHANISM_INVALID,
        Error::MechanismParamInvalid => CKR_MECHANISM_PARAM_INVALID,
        Error::OperationActive => CKR_OPERATION_ACTIVE,
        Error::OperationNotInitialized => CKR_OPERATION_NOT_INITIALIZED,
        Error::DataLenRange => CKR_DATA_LEN_RANGE,
        Error::DataInvalid => CKR_DATA_INVALID,
        Error::EncryptedDataLenRange => CKR_ENCRYPTED_DATA_LEN_RANGE,
        Error::EncryptedDataInvalid => CKR_ENCRYPTED_DATA_INVALID,
        Error::SignatureInvalid => CKR_SIGNATURE_INVALID,
        Error::SignatureLenRange => CKR_SIGNATURE_LEN_RANGE,
        Error::AttributeTypeInvalid => CKR_ATTRIBUTE_TYPE_INVALID,
        Error::AttributeSensitive => CKR_ATTRIBUTE_SENSITIVE,
        Error::AttributeValueInvalid => CKR_ATTRIBUTE_VALUE_INVALID,
        Error::AttributeReadOnly => CKR_ATTRIBUTE_READ_ONLY,
        Error::TemplateIncomplete => CKR_TEMPLATE_INCOMPLETE,
        Error::TemplateInconsistent => CKR_TEMPLATE_INCONSISTENT,
        Error::ActionProhibited => CKR_ACTION_PROHIBITED,
        Error::PinIncorrect => CKR_PIN_INCORRECT,
        Error::PinLocked => CKR_PIN_LOCKED,
        Error::PinLenRange => CKR_PIN_LEN_RANGE,
        Error::PinInvalid => CKR_PIN_INVALID,
        Error::UserNotLoggedIn => CKR_USER_NOT_LOGGED_IN,
        Error::UserAlreadyLoggedIn => CKR_USER_ALREADY_LOGGED_IN,
        Error::UserAnotherAlreadyLoggedIn => CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
        Error::UserPinNotInitialized => CKR_USER_PIN_NOT_INITIALIZED,
        Error::UserTypeInvalid => CKR_USER_TYPE_INVALID,
        Error::TokenWriteProtected => CKR_TOKEN_WRITE_PROTECTED,
        Error::TokenNotRecognized => CKR_TOKEN_NOT_RECOGNIZED,
        Error::FunctionNotSupported => CKR_FUNCTION_NOT_SUPPORTED,
        Error::NoEvent => CKR_NO_EVENT,
        Error::RandomSeedNotSupported => CKR_RANDOM_SEED_NOT_SUPPORTED,
        Error::HostMemory => CKR_HOST_MEMORY,
        Error::BufferTooSmall => CKR_BUFFER_TOO_SMALL,
        Error::CantLock => CKR_CANT_LOCK,
        Error::FunctionNotParallel => CKR_FUNCTION_NOT_PARALLEL,
    }
}

/// Define one exported `C_*` function: `catch_unwind` (a panic poisons the module and returns
/// `CKR_GENERAL_ERROR`), a tracing span, and the single error mapping. The body is a closure
/// returning `Result<(), Error>`; it must use explicit `unsafe` blocks for pointer access.
macro_rules! cryptoki_fn {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[no_mangle]
        #[allow(non_snake_case, clippy::missing_safety_doc)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> CK_RV {
            // Handles, lengths, flags and pointer values only: never buffer contents.
            let span = tracing::debug_span!(stringify!($name), args = ?($($arg,)*));
            let _enter = span.enter();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                || -> Result<(), $crate::boundary::Error> { $body },
            ));
            match r {
                Ok(Ok(())) => CKR_OK,
                Ok(Err(e)) => {
                    let code = $crate::boundary::rv(&e);
                    tracing::debug!(error = %e, rv = code, "failed");
                    code
                }
                Err(_) => {
                    tracing::error!("panic caught at the C boundary; module poisoned");
                    $crate::boundary::poison();
                    CKR_GENERAL_ERROR
                }
            }
        }
    };
}
pub(crate) use cryptoki_fn;

/// Convert a `CK_ULONG` length.
fn len(n: CK_ULONG) -> Result<usize, Error> {
    usize::try_from(n).map_err(|_| Error::ArgumentsBad("length"))
}

/// `(ptr, len)` as a byte slice.
///
/// # Safety
/// If non-null, `p` must point to `n` readable bytes that stay valid and unaliased by writes
/// for the lifetime `'a` chosen by the caller (never beyond the current call).
pub(crate) unsafe fn bytes<'a>(p: *const u8, n: CK_ULONG) -> Result<&'a [u8], Error> {
    let n = len(n)?;
    if p.is_null() {
        return if n == 0 {
            Ok(&[])
        } else {
            Err(Error::ArgumentsBad("null buffer"))
        };
    }
    // SAFETY: non-null, and the caller guarantees `n` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// Write one value through an out-pointer.
///
/// # Safety
/// If non-null, `p` must be valid for writing a `T` (alignment not required).
pub(crate) unsafe fn put<T>(p: *mut T, v: T) -> Result<(), Error> {
    if p.is_null() {
        return Err(Error::ArgumentsBad("null out-pointer"));
    }
    // SAFETY: non-null, valid per the caller; unaligned write for packed layouts.
    unsafe { p.write_unaligned(v) };
    Ok(())
}

/// Read one value by copy.
///
/// # Safety
/// If non-null, `p` must be valid for reading a `T` (alignment not required).
pub(crate) unsafe fn get<T: Copy>(p: *const T) -> Result<T, Error> {
    if p.is_null() {
        return Err(Error::ArgumentsBad("null pointer"));
    }
    // SAFETY: non-null, valid per the caller.
    Ok(unsafe { p.read_unaligned() })
}

/// The variable-length output convention, once: `out` null → report the size; too small →
/// report the size and `CKR_BUFFER_TOO_SMALL`; else copy and report the length.
/// Returns whether the data was delivered.
///
/// # Safety
/// `out_len` must be null or valid for read/write of a `CK_ULONG`; `out`, if non-null, valid
/// for writing `*out_len` bytes.
pub(crate) unsafe fn output(
    out: *mut u8,
    out_len: *mut CK_ULONG,
    data: &[u8],
) -> Result<bool, Error> {
    // SAFETY: per the caller.
    let cap = unsafe { get(out_len) }?;
    let need = data.len() as CK_ULONG;
    if out.is_null() {
        // SAFETY: per the caller.
        unsafe { put(out_len, need) }?;
        return Ok(false);
    }
    if cap < need {
        // SAFETY: per the caller.
        unsafe { put(out_len, need) }?;
        return Err(Error::BufferTooSmall);
    }
    // SAFETY: `out` holds at least `cap >= data.len()` bytes per the caller.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), out, data.len()) };
    // SAFETY: per the caller.
    unsafe { put(out_len, need) }?;
    Ok(true)
}

/// Copy a caller's template.
///
/// # Safety
/// `p` must be null (with `n == 0`) or point to `n` `CK_ATTRIBUTE`s whose `pValue` point to
/// `ulValueLen` readable bytes.
pub(crate) unsafe fn template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<Template, Error> {
    let n = len(n)?;
    if p.is_null() {
        return if n == 0 {
            Ok(Template::default())
        } else {
            Err(Error::ArgumentsBad("null template"))
        };
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: `i < n` elements per the caller; read by value.
        let a: CK_ATTRIBUTE = unsafe { p.add(i).read_unaligned() };
        // SAFETY: per the caller.
        let v = unsafe { bytes(a.pValue as *const u8, a.ulValueLen) }?;
        out.push((a.type_, v.to_vec()));
    }
    Ok(Template(out))
}

/// Parse a `CK_MECHANISM` by value, with its parameter.
///
/// # Safety
/// `p` must be null or point to a `CK_MECHANISM` whose parameter points to
/// `ulParameterLen` readable bytes.
pub(crate) unsafe fn mechanism(p: *const CK_MECHANISM) -> Result<Mechanism, Error> {
    // SAFETY: per the caller.
    let m: CK_MECHANISM = unsafe { get(p) }?;
    let plen = len(m.ulParameterLen)?;
    let params = match m.mechanism {
        CKM_RSA_PKCS_PSS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS => {
            if m.pParameter.is_null() || plen != std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() {
                return Err(Error::MechanismParamInvalid);
            }
            // SAFETY: non-null and of the right size per the caller.
            let pp: CK_RSA_PKCS_PSS_PARAMS =
                unsafe { (m.pParameter as *const CK_RSA_PKCS_PSS_PARAMS).read_unaligned() };
            MechParams::Pss {
                hash: pp.hashAlg,
                mgf: pp.mgf,
                salt_len: pp.sLen,
            }
        }
        CKM_RSA_PKCS_OAEP => {
            if m.pParameter.is_null() || plen != std::mem::size_of::<CK_RSA_PKCS_OAEP_PARAMS>() {
                return Err(Error::MechanismParamInvalid);
            }
            // SAFETY: as above.
            let op: CK_RSA_PKCS_OAEP_PARAMS =
                unsafe { (m.pParameter as *const CK_RSA_PKCS_OAEP_PARAMS).read_unaligned() };
            let label = if op.source == CKZ_DATA_SPECIFIED {
                // SAFETY: per the caller.
                unsafe { bytes(op.pSourceData as *const u8, op.ulSourceDataLen) }?.to_vec()
            } else if op.source == 0 {
                Vec::new()
            } else {
                return Err(Error::MechanismParamInvalid);
            };
            MechParams::Oaep {
                hash: op.hashAlg,
                mgf: op.mgf,
                label,
            }
        }
        _ => {
            if plen != 0 && !m.pParameter.is_null() {
                return Err(Error::MechanismParamInvalid);
            }
            MechParams::None
        }
    };
    Ok(Mechanism {
        mechanism: m.mechanism,
        params,
    })
}

/// Fill a blank-padded fixed-size text field.
pub(crate) fn pad<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let mut n = 0;
    for (i, c) in s.char_indices() {
        let end = i + c.len_utf8();
        if end > N {
            break;
        }
        n = end;
    }
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}
