//! The implemented `C_*` functions. Each is a thin translation: pointers in through the audited
//! helpers, a call into `token`, results out through the output convention.

use crate::boundary::*;
use crate::tables::{FUNCTION_LIST, FUNCTION_LIST_3_0};
use cryptoki_sys::*;
use std::os::raw::c_void;
use std::sync::Once;
use std::time::Duration;
use token::module::Module;
use token::session::OpKind;
use zeroize::Zeroizing;

fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("EPASS2003_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .try_init();
        }
    });
}

/// Deliver an operation's output and end the operation unless the caller only asked for the
/// size (or its buffer was too small): the result is computed once and kept until delivered.
///
/// # Safety
/// As [`output`].
unsafe fn deliver(
    h: CK_SESSION_HANDLE,
    kind: OpKind,
    r: Result<Vec<u8>, Error>,
    out: *mut u8,
    out_len: *mut CK_ULONG,
) -> Result<(), Error> {
    let end = |h| {
        if let Ok(m) = module() {
            let _ = m.with_session(h, |t, _| {
                t.session(h)?.end(kind);
                Ok(())
            });
        }
    };
    let data = match r {
        Ok(d) => Zeroizing::new(d),
        Err(e) => {
            end(h);
            return Err(e);
        }
    };
    // SAFETY: per the caller.
    match unsafe { output(out, out_len, &data) } {
        Ok(true) => {
            end(h);
            Ok(())
        }
        Ok(false) => Ok(()),
        Err(Error::BufferTooSmall) => Err(Error::BufferTooSmall),
        Err(e) => {
            end(h);
            Err(e)
        }
    }
}

/// Run one call of an active operation: any error but `CKR_BUFFER_TOO_SMALL` ends the
/// operation (PKCS#11 3.0 §5.2: "A call to C_Sign always terminates the active signing
/// operation unless it returns CKR_BUFFER_TOO_SMALL or is a successful call ... to determine
/// the length of the buffer"; an `Update` that fails terminates it too), even an error found
/// before the token is asked, such as a NULL length pointer.
fn op_call(
    h: CK_SESSION_HANDLE,
    kind: OpKind,
    f: impl FnOnce() -> Result<(), Error>,
) -> Result<(), Error> {
    let r = f();
    match r {
        Ok(()) | Err(Error::BufferTooSmall) => r,
        Err(e) => {
            if let Ok(m) = module() {
                let _ = m.with_session(h, |t, _| {
                    t.session(h)?.end(kind);
                    Ok(())
                });
            }
            Err(e)
        }
    }
}

cryptoki_fn! {
    /// `C_Initialize` (PKCS#11 2.40 §5.4). Only OS locking is used: `CKF_OS_LOCKING_OK` or no
    /// mutex callbacks at all. After `fork()`, the child may initialise again.
    fn C_Initialize(p_init_args: *mut c_void) {
        init_logging();
        if !p_init_args.is_null() {
            // SAFETY: a non-null argument is a CK_C_INITIALIZE_ARGS per the spec.
            let a: CK_C_INITIALIZE_ARGS = unsafe { get(p_init_args as *const CK_C_INITIALIZE_ARGS) }?;
            if !a.pReserved.is_null() {
                return Err(Error::ArgumentsBad("pReserved"));
            }
            let set = [a.CreateMutex.is_some(), a.DestroyMutex.is_some(), a.LockMutex.is_some(), a.UnlockMutex.is_some()];
            let n = set.iter().filter(|&&x| x).count();
            if n != 0 && n != 4 {
                return Err(Error::ArgumentsBad("mutex callbacks"));
            }
            if n == 4 && a.flags & CKF_OS_LOCKING_OK == 0 {
                return Err(Error::CantLock);
            }
        }
        let mut g = STATE.write().map_err(|_| Error::General)?;
        let pid = std::process::id();
        if let Some(s) = g.as_ref() {
            if s.pid == pid {
                return Err(Error::AlreadyInitialized);
            }
            // A forked child: the parent's connections and file locks are not ours to close.
            if let Some(old) = g.take() {
                std::mem::forget(old);
            }
        }
        let config = token::config::Config::from_env();
        report_config_errors(&config.errors);
        let module = Module::new(config);
        let _ = module.prime_events();
        *g = Some(State { module, pid });
        POISONED.store(false, std::sync::atomic::Ordering::SeqCst);
        tracing::info!("initialised");
        Ok(())
    }
}

/// Refused settings, each written once per process to stderr (an application that calls
/// `C_Initialize` again does not repeat them), and logged.
fn report_config_errors(errors: &[token::config::ConfigError]) {
    static REPORTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut seen) = REPORTED.lock() else {
        return;
    };
    for e in errors {
        let m = e.to_string();
        tracing::warn!(error = %m, "configuration setting refused");
        if !seen.contains(&m) {
            eprintln!("libepass2003_pkcs11: configuration: {m}");
            if e.is_init_relevant() {
                eprintln!("libepass2003_pkcs11: C_InitToken is refused until this is fixed");
            }
            seen.push(m);
        }
    }
}

cryptoki_fn! {
    /// `C_Finalize`.
    fn C_Finalize(p_reserved: *mut c_void) {
        if !p_reserved.is_null() {
            return Err(Error::ArgumentsBad("pReserved"));
        }
        let mut g = STATE.write().map_err(|_| Error::General)?;
        match g.as_ref() {
            Some(s) if s.pid == std::process::id() => {}
            _ => return Err(Error::NotInitialized),
        }
        *g = None;
        POISONED.store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

cryptoki_fn! {
    /// `C_GetInfo`.
    fn C_GetInfo(p_info: *mut CK_INFO) {
        require_init()?;
        let info = CK_INFO {
            cryptokiVersion: CK_VERSION { major: 2, minor: 40 },
            manufacturerID: pad("epass2003-rs"),
            flags: 0,
            libraryDescription: pad("ePass2003 PKCS#11 module"),
            libraryVersion: CK_VERSION { major: 0, minor: 1 },
        };
        // SAFETY: out-pointer per the spec.
        unsafe { put(p_info, info) }
    }
}

cryptoki_fn! {
    /// `C_GetFunctionList` (usable before `C_Initialize`).
    fn C_GetFunctionList(pp: *mut *mut CK_FUNCTION_LIST) {
        // SAFETY: out-pointer per the spec; the list is an immutable static.
        unsafe { put(pp, &FUNCTION_LIST as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST) }
    }
}

cryptoki_fn! {
    /// `C_GetSlotList`.
    fn C_GetSlotList(token_present: CK_BBOOL, p_list: *mut CK_SLOT_ID, p_count: *mut CK_ULONG) {
        let m = module()?;
        // SAFETY: per the spec.
        let cap = unsafe { get(p_count) }?;
        let list = m.slot_list(token_present != CK_FALSE)?;
        let n = list.len() as CK_ULONG;
        if p_list.is_null() {
            // SAFETY: as above.
            return unsafe { put(p_count, n) };
        }
        // SAFETY: as above.
        unsafe { put(p_count, n) }?;
        if cap < n {
            return Err(Error::BufferTooSmall);
        }
        for (i, s) in list.into_iter().enumerate() {
            // SAFETY: `i < n <= cap` elements.
            unsafe { put(p_list.add(i), s) }?;
        }
        Ok(())
    }
}

cryptoki_fn! {
    /// `C_GetSlotInfo`.
    fn C_GetSlotInfo(slot: CK_SLOT_ID, p_info: *mut CK_SLOT_INFO) {
        let m = module()?;
        if p_info.is_null() {
            return Err(Error::ArgumentsBad("pInfo"));
        }
        let s = m.slot_info(slot)?;
        let info = CK_SLOT_INFO {
            slotDescription: pad(&s.description),
            manufacturerID: pad(&s.manufacturer),
            flags: s.flags,
            hardwareVersion: CK_VERSION { major: 0, minor: 1 },
            firmwareVersion: CK_VERSION { major: 0, minor: 1 },
        };
        // SAFETY: checked non-null; out-pointer per the spec.
        unsafe { put(p_info, info) }
    }
}

cryptoki_fn! {
    /// `C_GetTokenInfo`.
    fn C_GetTokenInfo(slot: CK_SLOT_ID, p_info: *mut CK_TOKEN_INFO) {
        let m = module()?;
        if p_info.is_null() {
            return Err(Error::ArgumentsBad("pInfo"));
        }
        let t = m.token_info(slot)?;
        let (total, free) = t.desc.memory.map_or((CK_UNAVAILABLE_INFORMATION, CK_UNAVAILABLE_INFORMATION), |(a, b)| (CK_ULONG::from(a), CK_ULONG::from(b)));
        let d = &t.desc;
        let info = CK_TOKEN_INFO {
            label: pad(&d.label),
            manufacturerID: pad(&d.manufacturer),
            model: pad(&d.model),
            serialNumber: pad(&d.serial),
            flags: t.flags,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: t.sessions as CK_ULONG,
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: t.rw_sessions as CK_ULONG,
            ulMaxPinLen: CK_ULONG::from(d.user_pin_policy.max_len),
            ulMinPinLen: CK_ULONG::from(d.user_pin_policy.min_len),
            ulTotalPublicMemory: total,
            ulFreePublicMemory: free,
            ulTotalPrivateMemory: total,
            ulFreePrivateMemory: free,
            hardwareVersion: CK_VERSION { major: d.hardware_version.0, minor: d.hardware_version.1 },
            firmwareVersion: CK_VERSION { major: d.firmware_version.0, minor: d.firmware_version.1 },
            utcTime: [b' '; 16],
        };
        // SAFETY: checked non-null; out-pointer per the spec.
        unsafe { put(p_info, info) }
    }
}

cryptoki_fn! {
    /// `C_GetMechanismList`.
    fn C_GetMechanismList(slot: CK_SLOT_ID, p_list: *mut CK_MECHANISM_TYPE, p_count: *mut CK_ULONG) {
        let m = module()?;
        m.slot_info(slot)?;
        // SAFETY: per the spec.
        let cap = unsafe { get(p_count) }?;
        let reg = token::mechanism::REGISTRY;
        let n = reg.len() as CK_ULONG;
        // SAFETY: as above.
        unsafe { put(p_count, n) }?;
        if p_list.is_null() {
            return Ok(());
        }
        if cap < n {
            return Err(Error::BufferTooSmall);
        }
        for (i, mi) in reg.iter().enumerate() {
            // SAFETY: `i < n <= cap`.
            unsafe { put(p_list.add(i), mi.mechanism) }?;
        }
        Ok(())
    }
}

cryptoki_fn! {
    /// `C_GetMechanismInfo`.
    fn C_GetMechanismInfo(slot: CK_SLOT_ID, mech: CK_MECHANISM_TYPE, p_info: *mut CK_MECHANISM_INFO) {
        let m = module()?;
        m.slot_info(slot)?;
        if p_info.is_null() {
            return Err(Error::ArgumentsBad("pInfo"));
        }
        let i = token::mechanism::info(mech).ok_or(Error::MechanismInvalid)?;
        // SAFETY: checked non-null.
        unsafe { put(p_info, CK_MECHANISM_INFO { ulMinKeySize: i.min, ulMaxKeySize: i.max, flags: i.flags }) }
    }
}

cryptoki_fn! {
    /// `C_InitToken`: erase and initialise; the SO PIN becomes the token's PUK. The PIN policy
    /// written is the configured one (default 4..16; see `token::config`).
    fn C_InitToken(slot: CK_SLOT_ID, p_pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG, p_label: *mut CK_UTF8CHAR) {
        let m = module()?;
        // SAFETY: per the spec.
        let pin = Zeroizing::new(unsafe { bytes(p_pin, pin_len) }?.to_vec());
        if p_label.is_null() {
            return Err(Error::ArgumentsBad("pLabel"));
        }
        // SAFETY: the label is 32 bytes, blank-padded, per the spec.
        let raw = unsafe { bytes(p_label, 32) }?;
        let label = String::from_utf8_lossy(raw).trim_end_matches([' ', '\0']).to_string();
        m.with_token(slot, |t, _| t.init_token(&pin, &label))
    }
}

cryptoki_fn! {
    /// `C_InitPIN` (SO: set or unblock the user PIN).
    fn C_InitPIN(h: CK_SESSION_HANDLE, p_pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG) {
        let m = module()?;
        // SAFETY: per the spec.
        let pin = Zeroizing::new(unsafe { bytes(p_pin, pin_len) }?.to_vec());
        m.with_session(h, |t, _| t.init_pin(h, &pin))
    }
}

cryptoki_fn! {
    /// `C_SetPIN`.
    fn C_SetPIN(h: CK_SESSION_HANDLE, p_old: *mut CK_UTF8CHAR, old_len: CK_ULONG, p_new: *mut CK_UTF8CHAR, new_len: CK_ULONG) {
        let m = module()?;
        // SAFETY: per the spec.
        let old = Zeroizing::new(unsafe { bytes(p_old, old_len) }?.to_vec());
        // SAFETY: per the spec.
        let new = Zeroizing::new(unsafe { bytes(p_new, new_len) }?.to_vec());
        m.with_session(h, |t, _| t.set_pin(h, &old, &new))
    }
}

cryptoki_fn! {
    /// `C_OpenSession` (notification callbacks are accepted and never called).
    fn C_OpenSession(slot: CK_SLOT_ID, flags: CK_FLAGS, _app: *mut c_void, _notify: CK_NOTIFY, ph: *mut CK_SESSION_HANDLE) {
        let m = module()?;
        if ph.is_null() {
            return Err(Error::ArgumentsBad("phSession"));
        }
        let h = m.open_session(slot, flags)?;
        // SAFETY: checked non-null.
        unsafe { put(ph, h) }
    }
}

cryptoki_fn! {
    /// `C_CloseSession`.
    fn C_CloseSession(h: CK_SESSION_HANDLE) {
        module()?.close_session(h)
    }
}

cryptoki_fn! {
    /// `C_CloseAllSessions`.
    fn C_CloseAllSessions(slot: CK_SLOT_ID) {
        module()?.close_all_sessions(slot)
    }
}

cryptoki_fn! {
    /// `C_GetSessionInfo`.
    fn C_GetSessionInfo(h: CK_SESSION_HANDLE, p_info: *mut CK_SESSION_INFO) {
        let m = module()?;
        if p_info.is_null() {
            return Err(Error::ArgumentsBad("pInfo"));
        }
        let slot = m.session_slot(h)?;
        let (state, rw) = m.with_session(h, |t, _| Ok((t.session_state(h)?, t.session(h)?.rw)))?;
        let flags = CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 };
        // SAFETY: checked non-null.
        unsafe { put(p_info, CK_SESSION_INFO { slotID: slot, state, flags, ulDeviceError: 0 }) }
    }
}

cryptoki_fn! {
    /// `C_Login`: PIN length checked against the token policy before any APDU; retry counters
    /// update the token flags at once.
    fn C_Login(h: CK_SESSION_HANDLE, user: CK_USER_TYPE, p_pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG) {
        let m = module()?;
        // SAFETY: per the spec.
        let pin = Zeroizing::new(unsafe { bytes(p_pin, pin_len) }?.to_vec());
        m.with_session(h, |t, _| t.login(user, &pin))
    }
}

cryptoki_fn! {
    /// `C_LoginUser` (3.0): the user name is not used by this token.
    fn C_LoginUser(h: CK_SESSION_HANDLE, user: CK_USER_TYPE, p_pin: *mut CK_UTF8CHAR, pin_len: CK_ULONG, p_name: *mut CK_UTF8CHAR, name_len: CK_ULONG) {
        let m = module()?;
        // SAFETY: per the spec.
        unsafe { bytes(p_name, name_len) }?;
        // SAFETY: per the spec.
        let pin = Zeroizing::new(unsafe { bytes(p_pin, pin_len) }?.to_vec());
        m.with_session(h, |t, _| t.login(user, &pin))
    }
}

cryptoki_fn! {
    /// `C_Logout`.
    fn C_Logout(h: CK_SESSION_HANDLE) {
        module()?.with_session(h, |t, _| t.logout())
    }
}

cryptoki_fn! {
    /// `C_CreateObject`.
    fn C_CreateObject(h: CK_SESSION_HANDLE, p_t: *mut CK_ATTRIBUTE, n: CK_ULONG, ph: *mut CK_OBJECT_HANDLE) {
        let m = module()?;
        // SAFETY: per the spec.
        let t = unsafe { template(p_t, n) }?;
        if ph.is_null() {
            return Err(Error::ArgumentsBad("phObject"));
        }
        let o = m.with_session(h, |tok, hs| tok.create_object(hs, h, &t))?;
        // SAFETY: checked non-null.
        unsafe { put(ph, o) }
    }
}

cryptoki_fn! {
    /// `C_DestroyObject`.
    fn C_DestroyObject(h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) {
        module()?.with_session(h, |t, hs| t.destroy_object(hs, h, o))
    }
}

cryptoki_fn! {
    /// `C_GetObjectSize`.
    fn C_GetObjectSize(h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, p_size: *mut CK_ULONG) {
        let m = module()?;
        if p_size.is_null() {
            return Err(Error::ArgumentsBad("pulSize"));
        }
        let s = m.with_session(h, |t, hs| t.object_size(hs, o))?;
        // SAFETY: checked non-null.
        unsafe { put(p_size, s) }
    }
}

cryptoki_fn! {
    /// `C_GetAttributeValue`: every attribute is processed; failures set
    /// `ulValueLen = CK_UNAVAILABLE_INFORMATION` and the call reports SENSITIVE, TYPE_INVALID
    /// or BUFFER_TOO_SMALL (in that order of precedence).
    fn C_GetAttributeValue(h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, p_t: *mut CK_ATTRIBUTE, n: CK_ULONG) {
        use token::attr::AttrValue;
        let m = module()?;
        let count = usize::try_from(n).map_err(|_| Error::ArgumentsBad("count"))?;
        if p_t.is_null() && count > 0 {
            return Err(Error::ArgumentsBad("pTemplate"));
        }
        let mut types = Vec::with_capacity(count);
        for i in 0..count {
            // SAFETY: `i < count` elements per the spec; read by value.
            let a: CK_ATTRIBUTE = unsafe { p_t.add(i).read_unaligned() };
            types.push(a.type_);
        }
        let values = m.with_session(h, |t, hs| t.get_attributes(hs, o, &types))?;
        let (mut sensitive, mut invalid, mut small) = (false, false, false);
        for (i, v) in values.into_iter().enumerate() {
            // SAFETY: `i < count`.
            let slot = unsafe { p_t.add(i) };
            // SAFETY: as above, by value.
            let a: CK_ATTRIBUTE = unsafe { slot.read_unaligned() };
            let new_len = match v {
                AttrValue::Value(bytes) => {
                    if a.pValue.is_null() {
                        bytes.len() as CK_ULONG
                    } else if a.ulValueLen >= bytes.len() as CK_ULONG {
                        // SAFETY: the caller's buffer holds `ulValueLen >= len` bytes.
                        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), a.pValue as *mut u8, bytes.len()) };
                        bytes.len() as CK_ULONG
                    } else {
                        small = true;
                        CK_UNAVAILABLE_INFORMATION
                    }
                }
                AttrValue::Sensitive => {
                    sensitive = true;
                    CK_UNAVAILABLE_INFORMATION
                }
                AttrValue::Invalid => {
                    invalid = true;
                    CK_UNAVAILABLE_INFORMATION
                }
            };
            // SAFETY: `slot` is valid; field written unaligned.
            unsafe { std::ptr::addr_of_mut!((*slot).ulValueLen).write_unaligned(new_len) };
        }
        if sensitive {
            Err(Error::AttributeSensitive)
        } else if invalid {
            Err(Error::AttributeTypeInvalid)
        } else if small {
            Err(Error::BufferTooSmall)
        } else {
            Ok(())
        }
    }
}

cryptoki_fn! {
    /// `C_SetAttributeValue` (`CKA_LABEL`, `CKA_ID`).
    fn C_SetAttributeValue(h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, p_t: *mut CK_ATTRIBUTE, n: CK_ULONG) {
        let m = module()?;
        // SAFETY: per the spec.
        let t = unsafe { template(p_t, n) }?;
        m.with_session(h, |tok, hs| tok.set_attributes(hs, h, o, &t))
    }
}

cryptoki_fn! {
    /// `C_FindObjectsInit`.
    fn C_FindObjectsInit(h: CK_SESSION_HANDLE, p_t: *mut CK_ATTRIBUTE, n: CK_ULONG) {
        let m = module()?;
        // SAFETY: per the spec.
        let t = unsafe { template(p_t, n) }?;
        m.with_session(h, |tok, hs| {
            if tok.session(h)?.active(OpKind::Find) {
                return Err(Error::OperationActive);
            }
            let found = tok.find(hs, &t)?;
            tok.session(h)?.find_init(found)
        })
    }
}

cryptoki_fn! {
    /// `C_FindObjects`.
    fn C_FindObjects(h: CK_SESSION_HANDLE, p_o: *mut CK_OBJECT_HANDLE, max: CK_ULONG, p_count: *mut CK_ULONG) {
        let m = module()?;
        if p_count.is_null() || (p_o.is_null() && max > 0) {
            return Err(Error::ArgumentsBad("phObject/pulObjectCount"));
        }
        let max = usize::try_from(max).map_err(|_| Error::ArgumentsBad("max"))?;
        let found = m.with_session(h, |t, _| t.session(h)?.find_next(max))?;
        for (i, o) in found.iter().enumerate() {
            // SAFETY: `i < found.len() <= max` elements.
            unsafe { put(p_o.add(i), *o) }?;
        }
        // SAFETY: checked non-null.
        unsafe { put(p_count, found.len() as CK_ULONG) }
    }
}

cryptoki_fn! {
    /// `C_FindObjectsFinal`.
    fn C_FindObjectsFinal(h: CK_SESSION_HANDLE) {
        module()?.with_session(h, |t, _| t.session(h)?.find_final())
    }
}

cryptoki_fn! {
    /// `C_EncryptInit` (host-side, public key).
    fn C_EncryptInit(h: CK_SESSION_HANDLE, p_m: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module()?;
        // SAFETY: per the spec.
        let mech = unsafe { mechanism(p_m) }?;
        m.with_session(h, |t, hs| t.encrypt_init(hs, h, &mech, key))
    }
}

cryptoki_fn! {
    /// `C_Encrypt`.
    fn C_Encrypt(h: CK_SESSION_HANDLE, p_d: *mut CK_BYTE, n: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        op_call(h, OpKind::Encrypt, || {
            let m = module()?;
            // SAFETY: per the spec.
            let d = unsafe { bytes(p_d, n) }?;
            if p_out_len.is_null() {
                return Err(Error::ArgumentsBad("pulEncryptedDataLen"));
            }
            let r = m.with_session(h, |t, _| t.encrypt(h, Some(d)));
            drop(m);
            // SAFETY: per the spec.
            unsafe { deliver(h, OpKind::Encrypt, r, p_out, p_out_len) }
        })
    }
}

cryptoki_fn! {
    /// `C_EncryptUpdate`: buffers; output comes at `C_EncryptFinal`.
    fn C_EncryptUpdate(h: CK_SESSION_HANDLE, p_d: *mut CK_BYTE, n: CK_ULONG, _p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        op_call(h, OpKind::Encrypt, || {
            let m = module()?;
            // SAFETY: per the spec.
            let d = unsafe { bytes(p_d, n) }?;
            m.with_session(h, |t, _| t.encrypt_update(h, d))?;
            // SAFETY: per the spec.
            unsafe { put(p_out_len, 0) }
        })
    }
}

cryptoki_fn! {
    /// `C_EncryptFinal`.
    fn C_EncryptFinal(h: CK_SESSION_HANDLE, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        op_call(h, OpKind::Encrypt, || {
            let m = module()?;
            if p_out_len.is_null() {
                return Err(Error::ArgumentsBad("pulLastEncryptedPartLen"));
            }
            let r = m.with_session(h, |t, _| t.encrypt(h, None));
            drop(m);
            // SAFETY: per the spec.
            unsafe { deliver(h, OpKind::Encrypt, r, p_out, p_out_len) }
        })
    }
}

cryptoki_fn! {
    /// `C_DecryptInit` (card: raw RSA, padding removed on the host).
    fn C_DecryptInit(h: CK_SESSION_HANDLE, p_m: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module()?;
        // SAFETY: per the spec.
        let mech = unsafe { mechanism(p_m) }?;
        m.with_session(h, |t, hs| t.decrypt_init(hs, h, &mech, key))
    }
}

cryptoki_fn! {
    /// `C_Decrypt`: one card operation; the plaintext is kept for the size-query call.
    fn C_Decrypt(h: CK_SESSION_HANDLE, p_d: *mut CK_BYTE, n: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        op_call(h, OpKind::Decrypt, || {
            let m = module()?;
            // SAFETY: per the spec.
            let d = unsafe { bytes(p_d, n) }?;
            if p_out_len.is_null() {
                return Err(Error::ArgumentsBad("pulDataLen"));
            }
            let r = m.with_session(h, |t, _| t.decrypt(h, Some(d)));
            drop(m);
            // SAFETY: per the spec.
            unsafe { deliver(h, OpKind::Decrypt, r, p_out, p_out_len) }
        })
    }
}

cryptoki_fn! {
    /// `C_DecryptUpdate`: buffers; output comes at `C_DecryptFinal`.
    fn C_DecryptUpdate(h: CK_SESSION_HANDLE, p_d: *mut CK_BYTE, n: CK_ULONG, _p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        op_call(h, OpKind::Decrypt, || {
            let m = module()?;
            // SAFETY: per the spec.
            let d = unsafe { bytes(p_d, n) }?;
            m.with_session(h, |t, _| t.decrypt_update(h, d))?;
            // SAFETY: per the spec.
            unsafe { put(p_out_len, 0) }
        })
    }
}

cryptoki_fn! {
    /// `C_DecryptFinal`.
    fn C_DecryptFinal(h: CK_SESSION_HANDLE, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        op_call(h, OpKind::Decrypt, || {
            let m = module()?;
            if p_out_len.is_null() {
                return Err(Error::ArgumentsBad("pulLastPartLen"));
            }
            let r = m.with_session(h, |t, _| t.decrypt(h, None));
            drop(m);
            // SAFETY: per the spec.
            unsafe { deliver(h, OpKind::Decrypt, r, p_out, p_out_len) }
        })
    }
}

cryptoki_fn! {
    /// `C_DigestInit`.
    fn C_DigestInit(h: CK_SESSION_HANDLE, p_m: *mut CK_MECHANISM) {
        let m = module()?;
        // SAFETY: per the spec.
        let mech = unsafe { mechanism(p_m) }?;
        m.with_session(h, |t, _| {
            let s = t.session(h)?;
            if s.digest.is_some() {
                return Err(Error::OperationActive);
            }
            s.digest = Some(token::token::digest_op(&mech)?);
            Ok(())
        })
    }
}

cryptoki_fn! {
    /// `C_Digest`.
    fn C_Digest(h: CK_SESSION_HANDLE, p_d: *mut CK_BYTE, n: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        op_call(h, OpKind::Digest, || {
            let m = module()?;
            // SAFETY: per the spec.
            let d = unsafe { bytes(p_d, n) }?;
            if p_out_len.is_null() {
                return Err(Error::ArgumentsBad("pulDigestLen"));
            }
            let r = m.with_session(h, |t, _| t.session(h)?.digest.as_mut().ok_or(Error::OperationNotInitialized)?.digest(d));
            drop(m);
            // SAFETY: per the spec.
            unsafe { deliver(h, OpKind::Digest, r, p_out, p_out_len) }
        })
    }
}

cryptoki_fn! {
    /// `C_DigestUpdate`.
    fn C_DigestUpdate(h: CK_SESSION_HANDLE, p_d: *mut CK_BYTE, n: CK_ULONG) {
        op_call(h, OpKind::Digest, || {
            let m = module()?;
            // SAFETY: per the spec.
            let d = unsafe { bytes(p_d, n) }?;
            m.with_session(h, |t, _| t.session(h)?.digest.as_mut().ok_or(Error::OperationNotInitialized)?.update(d))
        })
    }
}

cryptoki_fn! {
    /// `C_DigestFinal`.
    fn C_DigestFinal(h: CK_SESSION_HANDLE, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        op_call(h, OpKind::Digest, || {
            let m = module()?;
            if p_out_len.is_null() {
                return Err(Error::ArgumentsBad("pulDigestLen"));
            }
            let r = m.with_session(h, |t, _| t.session(h)?.digest.as_mut().ok_or(Error::OperationNotInitialized)?.finish());
            drop(m);
            // SAFETY: per the spec.
            unsafe { deliver(h, OpKind::Digest, r, p_out, p_out_len) }
        })
    }
}

cryptoki_fn! {
    /// `C_SignInit`.
    fn C_SignInit(h: CK_SESSION_HANDLE, p_m: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module()?;
        // SAFETY: per the spec.
        let mech = unsafe { mechanism(p_m) }?;
        m.with_session(h, |t, hs| t.sign_init(hs, h, &mech, key))
    }
}

cryptoki_fn! {
    /// `C_Sign`: exactly one card operation; the signature is kept for the second call.
    fn C_Sign(h: CK_SESSION_HANDLE, p_d: *mut CK_BYTE, n: CK_ULONG, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        op_call(h, OpKind::Sign, || {
            let m = module()?;
            // SAFETY: per the spec.
            let d = unsafe { bytes(p_d, n) }?;
            if p_out_len.is_null() {
                return Err(Error::ArgumentsBad("pulSignatureLen"));
            }
            let r = m.with_session(h, |t, _| t.sign(h, d));
            drop(m);
            // SAFETY: per the spec.
            unsafe { deliver(h, OpKind::Sign, r, p_out, p_out_len) }
        })
    }
}

cryptoki_fn! {
    /// `C_SignUpdate`.
    fn C_SignUpdate(h: CK_SESSION_HANDLE, p_d: *mut CK_BYTE, n: CK_ULONG) {
        op_call(h, OpKind::Sign, || {
            let m = module()?;
            // SAFETY: per the spec.
            let d = unsafe { bytes(p_d, n) }?;
            m.with_session(h, |t, _| t.sign_update(h, d))
        })
    }
}

cryptoki_fn! {
    /// `C_SignFinal`.
    fn C_SignFinal(h: CK_SESSION_HANDLE, p_out: *mut CK_BYTE, p_out_len: *mut CK_ULONG) {
        op_call(h, OpKind::Sign, || {
            let m = module()?;
            if p_out_len.is_null() {
                return Err(Error::ArgumentsBad("pulSignatureLen"));
            }
            let r = m.with_session(h, |t, _| t.sign_final(h));
            drop(m);
            // SAFETY: per the spec.
            unsafe { deliver(h, OpKind::Sign, r, p_out, p_out_len) }
        })
    }
}

cryptoki_fn! {
    /// `C_VerifyInit` (host-side).
    fn C_VerifyInit(h: CK_SESSION_HANDLE, p_m: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        let m = module()?;
        // SAFETY: per the spec.
        let mech = unsafe { mechanism(p_m) }?;
        m.with_session(h, |t, hs| t.verify_init(hs, h, &mech, key))
    }
}

cryptoki_fn! {
    /// `C_Verify`.
    fn C_Verify(h: CK_SESSION_HANDLE, p_d: *mut CK_BYTE, n: CK_ULONG, p_s: *mut CK_BYTE, s_len: CK_ULONG) {
        op_call(h, OpKind::Verify, || {
            let m = module()?;
            // SAFETY: per the spec.
            let d = unsafe { bytes(p_d, n) }?;
            // SAFETY: per the spec.
            let s = unsafe { bytes(p_s, s_len) }?;
            m.with_session(h, |t, _| t.verify(h, d, s))
        })
    }
}

cryptoki_fn! {
    /// `C_VerifyUpdate`.
    fn C_VerifyUpdate(h: CK_SESSION_HANDLE, p_d: *mut CK_BYTE, n: CK_ULONG) {
        op_call(h, OpKind::Verify, || {
            let m = module()?;
            // SAFETY: per the spec.
            let d = unsafe { bytes(p_d, n) }?;
            m.with_session(h, |t, _| t.verify_update(h, d))
        })
    }
}

cryptoki_fn! {
    /// `C_VerifyFinal`.
    fn C_VerifyFinal(h: CK_SESSION_HANDLE, p_s: *mut CK_BYTE, s_len: CK_ULONG) {
        op_call(h, OpKind::Verify, || {
            let m = module()?;
            // SAFETY: per the spec.
            let s = unsafe { bytes(p_s, s_len) }?;
            m.with_session(h, |t, _| t.verify_final(h, s))
        })
    }
}

cryptoki_fn! {
    /// `C_GenerateKeyPair`: RSA 1024/2048 or EC P-256, on the card.
    fn C_GenerateKeyPair(h: CK_SESSION_HANDLE, p_m: *mut CK_MECHANISM, p_pub: *mut CK_ATTRIBUTE, n_pub: CK_ULONG, p_priv: *mut CK_ATTRIBUTE, n_priv: CK_ULONG, ph_pub: *mut CK_OBJECT_HANDLE, ph_priv: *mut CK_OBJECT_HANDLE) {
        let m = module()?;
        // SAFETY: per the spec.
        let mech = unsafe { mechanism(p_m) }?;
        // SAFETY: per the spec.
        let tpub = unsafe { template(p_pub, n_pub) }?;
        // SAFETY: per the spec.
        let tpriv = unsafe { template(p_priv, n_priv) }?;
        if ph_pub.is_null() || ph_priv.is_null() {
            return Err(Error::ArgumentsBad("phKey"));
        }
        let (a, b) = m.with_session(h, |t, hs| t.generate_key_pair(hs, h, &mech, &tpub, &tpriv))?;
        // SAFETY: checked non-null.
        unsafe { put(ph_pub, a) }?;
        // SAFETY: checked non-null.
        unsafe { put(ph_priv, b) }
    }
}

cryptoki_fn! {
    /// `C_SeedRandom`: the card's generator takes no seed.
    fn C_SeedRandom(h: CK_SESSION_HANDLE, p_s: *mut CK_BYTE, n: CK_ULONG) {
        let m = module()?;
        // SAFETY: per the spec.
        unsafe { bytes(p_s, n) }?;
        m.with_session(h, |_, _| Err(Error::RandomSeedNotSupported))
    }
}

cryptoki_fn! {
    /// `C_GenerateRandom`: from the card.
    fn C_GenerateRandom(h: CK_SESSION_HANDLE, p_out: *mut CK_BYTE, n: CK_ULONG) {
        let m = module()?;
        let len = usize::try_from(n).map_err(|_| Error::ArgumentsBad("length"))?;
        if p_out.is_null() && len > 0 {
            return Err(Error::ArgumentsBad("pRandomData"));
        }
        let r = m.with_session(h, |t, _| t.random(len))?;
        if len > 0 {
            // SAFETY: `p_out` holds `len` bytes per the spec; `r.len() == len`.
            unsafe { std::ptr::copy_nonoverlapping(r.as_ptr(), p_out, len.min(r.len())) };
        }
        Ok(())
    }
}

cryptoki_fn! {
    /// `C_GetFunctionStatus` (legacy).
    fn C_GetFunctionStatus(h: CK_SESSION_HANDLE) {
        module()?.with_session(h, |_, _| Err(Error::FunctionNotParallel))
    }
}

cryptoki_fn! {
    /// `C_CancelFunction` (legacy).
    fn C_CancelFunction(h: CK_SESSION_HANDLE) {
        module()?.with_session(h, |_, _| Err(Error::FunctionNotParallel))
    }
}

cryptoki_fn! {
    /// `C_WaitForSlotEvent`: polls reader presence (200 ms); `CKF_DONT_BLOCK` returns
    /// `CKR_NO_EVENT` at once. A blocking wait ends with `CKR_CRYPTOKI_NOT_INITIALIZED` when
    /// another thread calls `C_Finalize`.
    fn C_WaitForSlotEvent(flags: CK_FLAGS, p_slot: *mut CK_SLOT_ID, p_reserved: *mut c_void) {
        if !p_reserved.is_null() || p_slot.is_null() {
            require_init()?;
            return Err(Error::ArgumentsBad("pSlot/pReserved"));
        }
        loop {
            {
                let m = module()?;
                if let Some(s) = m.poll_event()? {
                    // SAFETY: checked non-null.
                    return unsafe { put(p_slot, s) };
                }
            }
            if flags & CKF_DONT_BLOCK != 0 {
                return Err(Error::NoEvent);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

cryptoki_fn! {
    /// `C_SessionCancel` (3.0): ends the operations named in `flags`.
    fn C_SessionCancel(h: CK_SESSION_HANDLE, flags: CK_FLAGS) {
        module()?.with_session(h, |t, _| {
            let s = t.session(h)?;
            for (f, k) in [(CKF_SIGN, OpKind::Sign), (CKF_VERIFY, OpKind::Verify), (CKF_DECRYPT, OpKind::Decrypt), (CKF_ENCRYPT, OpKind::Encrypt), (CKF_DIGEST, OpKind::Digest), (CKF_FIND_OBJECTS, OpKind::Find)] {
                if flags & f != 0 {
                    s.end(k);
                }
            }
            Ok(())
        })
    }
}

/// A `CK_INTERFACE` in a static.
#[repr(transparent)]
pub(crate) struct Iface(CK_INTERFACE);

// SAFETY: the pointers inside refer to immutable statics (a name and function lists).
unsafe impl Sync for Iface {}

static IFACE_NAME: &[u8] = b"PKCS 11\0";

static INTERFACES: [Iface; 2] = [
    Iface(CK_INTERFACE {
        pInterfaceName: IFACE_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &FUNCTION_LIST_3_0 as *const CK_FUNCTION_LIST_3_0 as *mut c_void,
        flags: 0,
    }),
    Iface(CK_INTERFACE {
        pInterfaceName: IFACE_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &FUNCTION_LIST as *const CK_FUNCTION_LIST as *mut c_void,
        flags: 0,
    }),
];

cryptoki_fn! {
    /// `C_GetInterfaceList` (3.0; usable before `C_Initialize`).
    fn C_GetInterfaceList(p_list: *mut CK_INTERFACE, p_count: *mut CK_ULONG) {
        // SAFETY: per the spec.
        let cap = unsafe { get(p_count) }?;
        let n = INTERFACES.len() as CK_ULONG;
        // SAFETY: as above.
        unsafe { put(p_count, n) }?;
        if p_list.is_null() {
            return Ok(());
        }
        if cap < n {
            return Err(Error::BufferTooSmall);
        }
        for (i, it) in INTERFACES.iter().enumerate() {
            // SAFETY: `i < n <= cap`.
            unsafe { put(p_list.add(i), it.0) }?;
        }
        Ok(())
    }
}

cryptoki_fn! {
    /// `C_GetInterface` (3.0): "PKCS 11" version 3.0 (default) or 2.40.
    fn C_GetInterface(p_name: *mut CK_UTF8CHAR, p_version: *mut CK_VERSION, pp: *mut *mut CK_INTERFACE, flags: CK_FLAGS) {
        if pp.is_null() {
            return Err(Error::ArgumentsBad("ppInterface"));
        }
        if !p_name.is_null() {
            // SAFETY: a NUL-terminated string per the spec.
            let name = unsafe { std::ffi::CStr::from_ptr(p_name as *const std::os::raw::c_char) };
            if name.to_bytes() != b"PKCS 11" {
                return Err(Error::ArgumentsBad("interface name"));
            }
        }
        let idx = if p_version.is_null() {
            0
        } else {
            // SAFETY: per the spec.
            let v = unsafe { get(p_version) }?;
            match (v.major, v.minor) {
                (3, 0) => 0,
                (2, 40) => 1,
                _ => return Err(Error::ArgumentsBad("interface version")),
            }
        };
        let it = &INTERFACES[idx];
        if flags & !it.0.flags != 0 {
            return Err(Error::ArgumentsBad("interface flags"));
        }
        // SAFETY: checked non-null; the interface is an immutable static.
        unsafe { put(pp, &it.0 as *const CK_INTERFACE as *mut CK_INTERFACE) }
    }
}
