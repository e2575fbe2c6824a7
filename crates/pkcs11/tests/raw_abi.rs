//! Contract tests of the C ABI with raw calls (libloading + cryptoki-sys): null pointers,
//! not initialised, bad handles, short buffers, the output-buffer convention, per-attribute
//! C_GetAttributeValue semantics, unsupported functions, the 3.0 interface, fork.
#![allow(clippy::unwrap_used, clippy::undocumented_unsafe_blocks)]

mod common;
use cryptoki_sys::*;
use std::ptr::{null, null_mut};

const SO: &[u8] = b"87654321";
const USER: &[u8] = b"123456";

struct Lib {
    _lib: libloading::Library,
    f: CK_FUNCTION_LIST,
    f3: CK_FUNCTION_LIST_3_0,
    get_interface: CK_C_GetInterface,
    get_interface_list: CK_C_GetInterfaceList,
}

fn load() -> Lib {
    unsafe {
        let lib = libloading::Library::new(common::lib_path()).unwrap();
        let gfl: libloading::Symbol<unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV> =
            lib.get(b"C_GetFunctionList").unwrap();
        assert_eq!(gfl(null_mut()), CKR_ARGUMENTS_BAD);
        let mut p: *mut CK_FUNCTION_LIST = null_mut();
        assert_eq!(gfl(&mut p), CKR_OK);
        let f = *p;
        assert_eq!((f.version.major, f.version.minor), (2, 40));
        let gi: libloading::Symbol<
            unsafe extern "C" fn(
                *mut CK_UTF8CHAR,
                *mut CK_VERSION,
                *mut *mut CK_INTERFACE,
                CK_FLAGS,
            ) -> CK_RV,
        > = lib.get(b"C_GetInterface").unwrap();
        let mut iface: *mut CK_INTERFACE = null_mut();
        assert_eq!(gi(null_mut(), null_mut(), &mut iface, 0), CKR_OK);
        let f3 = *((*iface).pFunctionList as *const CK_FUNCTION_LIST_3_0);
        assert_eq!((f3.version.major, f3.version.minor), (3, 0));
        let get_interface = Some(*gi);
        let gil: libloading::Symbol<
            unsafe extern "C" fn(*mut CK_INTERFACE, *mut CK_ULONG) -> CK_RV,
        > = lib.get(b"C_GetInterfaceList").unwrap();
        let get_interface_list = Some(*gil);
        Lib {
            _lib: lib,
            f,
            f3,
            get_interface,
            get_interface_list,
        }
    }
}

macro_rules! call {
    ($l:expr, $name:ident($($a:expr),*)) => {
        unsafe { ($l.f.$name.unwrap())($($a),*) }
    };
}

#[test]
fn c_abi_contracts() {
    let dir = common::tempdir();
    let file = dir.path().join("card.state");
    std::env::set_var("EPASS2003_EMULATOR", &file);
    std::env::set_var("EPASS2003_PCSC", "0");
    std::env::set_var("EPASS2003_CONF", "/nonexistent");
    let l = load();

    // Interfaces work before C_Initialize.
    unsafe {
        let mut n: CK_ULONG = 0;
        assert_eq!((l.get_interface_list.unwrap())(null_mut(), &mut n), CKR_OK);
        assert_eq!(n, 2);
        let mut one = [CK_INTERFACE {
            pInterfaceName: null_mut(),
            pFunctionList: null_mut(),
            flags: 0,
        }; 2];
        let mut small: CK_ULONG = 1;
        assert_eq!(
            (l.get_interface_list.unwrap())(one.as_mut_ptr(), &mut small),
            CKR_BUFFER_TOO_SMALL
        );
        let mut v = CK_VERSION {
            major: 2,
            minor: 40,
        };
        let mut p: *mut CK_INTERFACE = null_mut();
        let mut name = *b"PKCS 11\0";
        assert_eq!(
            (l.get_interface.unwrap())(name.as_mut_ptr(), &mut v, &mut p, 0),
            CKR_OK
        );
        let list = *((*p).pFunctionList as *const CK_FUNCTION_LIST);
        assert_eq!((list.version.major, list.version.minor), (2, 40));
        assert_eq!(
            (l.get_interface.unwrap())(null_mut(), null_mut(), null_mut(), 0),
            CKR_ARGUMENTS_BAD
        );
    }

    // Not initialised.
    let mut count: CK_ULONG = 0;
    assert_eq!(
        call!(l, C_GetSlotList(CK_FALSE, null_mut(), &mut count)),
        CKR_CRYPTOKI_NOT_INITIALIZED
    );
    assert_eq!(
        call!(l, C_Finalize(null_mut())),
        CKR_CRYPTOKI_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_CloseSession(1)), CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_eq!(
        unsafe { (l.f3.C_SessionCancel.unwrap())(1, 0) },
        CKR_CRYPTOKI_NOT_INITIALIZED
    );

    // C_Initialize argument checks, then double initialisation.
    let mut args = CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: 0,
        pReserved: std::ptr::NonNull::<std::os::raw::c_void>::dangling().as_ptr(),
    };
    assert_eq!(
        call!(l, C_Initialize(&mut args as *mut _ as *mut _)),
        CKR_ARGUMENTS_BAD
    );
    unsafe extern "C" fn cm(_: *mut *mut std::os::raw::c_void) -> CK_RV {
        CKR_OK
    }
    unsafe extern "C" fn m(_: *mut std::os::raw::c_void) -> CK_RV {
        CKR_OK
    }
    args = CK_C_INITIALIZE_ARGS {
        CreateMutex: Some(cm),
        DestroyMutex: Some(m),
        LockMutex: Some(m),
        UnlockMutex: Some(m),
        flags: 0,
        pReserved: null_mut(),
    };
    assert_eq!(
        call!(l, C_Initialize(&mut args as *mut _ as *mut _)),
        CKR_CANT_LOCK
    );
    args.CreateMutex = None;
    assert_eq!(
        call!(l, C_Initialize(&mut args as *mut _ as *mut _)),
        CKR_ARGUMENTS_BAD
    );
    args = CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags: CKF_OS_LOCKING_OK,
        pReserved: null_mut(),
    };
    assert_eq!(
        call!(l, C_Initialize(&mut args as *mut _ as *mut _)),
        CKR_OK
    );
    assert_eq!(
        call!(l, C_Initialize(null_mut())),
        CKR_CRYPTOKI_ALREADY_INITIALIZED
    );

    // C_GetInfo / slot list / slot and token info.
    assert_eq!(call!(l, C_GetInfo(null_mut())), CKR_ARGUMENTS_BAD);
    assert_eq!(
        call!(l, C_GetSlotList(CK_TRUE, null_mut(), null_mut())),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(l, C_GetSlotList(CK_TRUE, null_mut(), &mut count)),
        CKR_OK
    );
    assert_eq!(count, 1);
    let mut slots = [0 as CK_SLOT_ID; 4];
    count = 0;
    assert_eq!(
        call!(l, C_GetSlotList(CK_TRUE, slots.as_mut_ptr(), &mut count)),
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(count, 1);
    assert_eq!(
        call!(l, C_GetSlotList(CK_TRUE, slots.as_mut_ptr(), &mut count)),
        CKR_OK
    );
    let slot = slots[0];
    let mut si: CK_SLOT_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(l, C_GetSlotInfo(99, &mut si)), CKR_SLOT_ID_INVALID);
    assert_eq!(call!(l, C_GetSlotInfo(slot, null_mut())), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(l, C_GetSlotInfo(slot, &mut si)), CKR_OK);
    assert_ne!(si.flags & CKF_TOKEN_PRESENT, 0);
    let mut ti: CK_TOKEN_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        call!(l, C_GetTokenInfo(slot, null_mut())),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(call!(l, C_GetTokenInfo(99, &mut ti)), CKR_SLOT_ID_INVALID);
    assert_eq!(call!(l, C_GetTokenInfo(slot, &mut ti)), CKR_OK);
    assert_eq!(ti.flags & CKF_TOKEN_INITIALIZED, 0);
    assert_ne!(ti.flags & CKF_RNG, 0);

    // Mechanisms.
    count = 0;
    assert_eq!(
        call!(l, C_GetMechanismList(slot, null_mut(), &mut count)),
        CKR_OK
    );
    assert!(count > 20);
    let mut mechs = vec![0 as CK_MECHANISM_TYPE; count as usize];
    let mut small: CK_ULONG = 2;
    assert_eq!(
        call!(l, C_GetMechanismList(slot, mechs.as_mut_ptr(), &mut small)),
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(small, count);
    assert_eq!(
        call!(l, C_GetMechanismList(slot, mechs.as_mut_ptr(), &mut count)),
        CKR_OK
    );
    let mut mi: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(
        call!(l, C_GetMechanismInfo(slot, CKM_AES_CBC, &mut mi)),
        CKR_MECHANISM_INVALID
    );
    assert_eq!(
        call!(l, C_GetMechanismInfo(slot, CKM_RSA_PKCS_PSS, &mut mi)),
        CKR_OK
    );
    assert_ne!(mi.flags & CKF_HW, 0);
    assert_eq!(
        call!(l, C_GetMechanismInfo(slot, CKM_RSA_PKCS_PSS, null_mut())),
        CKR_ARGUMENTS_BAD
    );

    // C_InitToken, sessions.
    let mut label = [b' '; 32];
    label[..3].copy_from_slice(b"raw");
    assert_eq!(
        call!(
            l,
            C_InitToken(
                slot,
                SO.as_ptr() as *mut _,
                SO.len() as CK_ULONG,
                null_mut()
            )
        ),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(l, C_InitToken(slot, null_mut(), 8, label.as_mut_ptr())),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(
            l,
            C_InitToken(
                slot,
                SO.as_ptr() as *mut _,
                SO.len() as CK_ULONG,
                label.as_mut_ptr()
            )
        ),
        CKR_OK
    );
    let mut h: CK_SESSION_HANDLE = 0;
    assert_eq!(
        call!(
            l,
            C_OpenSession(slot, CKF_RW_SESSION, null_mut(), None, &mut h)
        ),
        CKR_SESSION_PARALLEL_NOT_SUPPORTED
    );
    assert_eq!(
        call!(
            l,
            C_OpenSession(slot, CKF_SERIAL_SESSION, null_mut(), None, null_mut())
        ),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(
            l,
            C_OpenSession(99, CKF_SERIAL_SESSION, null_mut(), None, &mut h)
        ),
        CKR_SLOT_ID_INVALID
    );
    assert_eq!(
        call!(
            l,
            C_OpenSession(
                slot,
                CKF_SERIAL_SESSION | CKF_RW_SESSION,
                null_mut(),
                None,
                &mut h
            )
        ),
        CKR_OK
    );
    assert_eq!(
        call!(l, C_Login(h, CKU_SO, null_mut(), 8)),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(l, C_Login(h, 7, SO.as_ptr() as *mut _, 8)),
        CKR_USER_TYPE_INVALID
    );
    assert_eq!(
        call!(l, C_Login(h, CKU_SO, SO.as_ptr() as *mut _, 8)),
        CKR_OK
    );
    assert_eq!(
        call!(
            l,
            C_InitPIN(h, USER.as_ptr() as *mut _, USER.len() as CK_ULONG)
        ),
        CKR_OK
    );
    assert_eq!(call!(l, C_Logout(h)), CKR_OK);
    assert_eq!(
        call!(
            l,
            C_Login(h, CKU_USER, USER.as_ptr() as *mut _, USER.len() as CK_ULONG)
        ),
        CKR_OK
    );
    let mut sinfo: CK_SESSION_INFO = unsafe { std::mem::zeroed() };
    assert_eq!(call!(l, C_GetSessionInfo(h, null_mut())), CKR_ARGUMENTS_BAD);
    assert_eq!(call!(l, C_GetSessionInfo(h, &mut sinfo)), CKR_OK);
    assert_eq!(sinfo.state, CKS_RW_USER_FUNCTIONS);

    // Bad session handles.
    for bad in [0, 12345] {
        assert_eq!(call!(l, C_CloseSession(bad)), CKR_SESSION_HANDLE_INVALID);
        assert_eq!(
            call!(l, C_GetSessionInfo(bad, &mut sinfo)),
            CKR_SESSION_HANDLE_INVALID
        );
        assert_eq!(
            call!(l, C_FindObjectsInit(bad, null_mut(), 0)),
            CKR_SESSION_HANDLE_INVALID
        );
        assert_eq!(call!(l, C_Logout(bad)), CKR_SESSION_HANDLE_INVALID);
    }
    // Operations not initialised.
    let mut out = [0u8; 512];
    let mut out_len: CK_ULONG = out.len() as CK_ULONG;
    let mut objs = [0 as CK_OBJECT_HANDLE; 8];
    assert_eq!(
        call!(l, C_FindObjects(h, objs.as_mut_ptr(), 8, &mut count)),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(
        call!(l, C_FindObjectsFinal(h)),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(
        call!(
            l,
            C_Sign(h, out.as_mut_ptr(), 4, out.as_mut_ptr(), &mut out_len)
        ),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(
        call!(l, C_SignFinal(h, out.as_mut_ptr(), &mut out_len)),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(
        call!(
            l,
            C_Decrypt(h, out.as_mut_ptr(), 4, out.as_mut_ptr(), &mut out_len)
        ),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(
        call!(l, C_Verify(h, out.as_mut_ptr(), 4, out.as_mut_ptr(), 4)),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(
        call!(l, C_DigestFinal(h, out.as_mut_ptr(), &mut out_len)),
        CKR_OPERATION_NOT_INITIALIZED
    );

    // Generate an RSA key pair with raw templates.
    let bits: CK_ULONG = 1024;
    let tru: CK_BBOOL = CK_TRUE;
    let mut pubt = [
        CK_ATTRIBUTE {
            type_: CKA_MODULUS_BITS,
            pValue: &bits as *const _ as *mut _,
            ulValueLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
        },
        CK_ATTRIBUTE {
            type_: CKA_TOKEN,
            pValue: &tru as *const _ as *mut _,
            ulValueLen: 1,
        },
    ];
    let mut privt = [CK_ATTRIBUTE {
        type_: CKA_SIGN,
        pValue: &tru as *const _ as *mut _,
        ulValueLen: 1,
    }];
    let mut mech = CK_MECHANISM {
        mechanism: CKM_RSA_PKCS_KEY_PAIR_GEN,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let (mut hpub, mut hpriv) = (0, 0);
    assert_eq!(
        call!(
            l,
            C_GenerateKeyPair(
                h,
                null_mut(),
                pubt.as_mut_ptr(),
                2,
                privt.as_mut_ptr(),
                1,
                &mut hpub,
                &mut hpriv
            )
        ),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(
            l,
            C_GenerateKeyPair(
                h,
                &mut mech,
                null_mut(),
                2,
                privt.as_mut_ptr(),
                1,
                &mut hpub,
                &mut hpriv
            )
        ),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(
            l,
            C_GenerateKeyPair(
                h,
                &mut mech,
                pubt.as_mut_ptr(),
                2,
                privt.as_mut_ptr(),
                1,
                null_mut(),
                &mut hpriv
            )
        ),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(
            l,
            C_GenerateKeyPair(
                h,
                &mut mech,
                pubt.as_mut_ptr(),
                1,
                privt.as_mut_ptr(),
                1,
                &mut hpub,
                &mut hpriv
            )
        ),
        CKR_OK
    );
    let b512: CK_ULONG = 512;
    pubt[0].pValue = &b512 as *const _ as *mut _;
    let mut x = (0, 0);
    assert_eq!(
        call!(
            l,
            C_GenerateKeyPair(
                h,
                &mut mech,
                pubt.as_mut_ptr(),
                1,
                privt.as_mut_ptr(),
                1,
                &mut x.0,
                &mut x.1
            )
        ),
        CKR_KEY_SIZE_RANGE
    );
    assert_eq!(
        call!(
            l,
            C_GenerateKeyPair(
                h,
                &mut mech,
                pubt.as_mut_ptr(),
                0,
                privt.as_mut_ptr(),
                1,
                &mut x.0,
                &mut x.1
            )
        ),
        CKR_TEMPLATE_INCOMPLETE
    );

    // The output convention on C_Sign: size query, too small, then the value; the operation
    // ends only when the signature was delivered.
    let mut m = CK_MECHANISM {
        mechanism: CKM_SHA256_RSA_PKCS,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    assert_eq!(
        call!(l, C_SignInit(h, &mut m, 999_999)),
        CKR_KEY_HANDLE_INVALID
    );
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OPERATION_ACTIVE);
    let data = b"hello".to_vec();
    let mut len: CK_ULONG = 0;
    assert_eq!(
        call!(
            l,
            C_Sign(h, data.as_ptr() as *mut _, 5, null_mut(), null_mut())
        ),
        CKR_ARGUMENTS_BAD
    );
    // That error ended the operation (PKCS#11 3.0 §5.2).
    assert_eq!(
        call!(
            l,
            C_Sign(h, data.as_ptr() as *mut _, 5, null_mut(), &mut len)
        ),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(
        call!(
            l,
            C_Sign(h, data.as_ptr() as *mut _, 5, null_mut(), &mut len)
        ),
        CKR_OK
    );
    assert_eq!(len, 128);
    len = 10;
    assert_eq!(
        call!(
            l,
            C_Sign(h, data.as_ptr() as *mut _, 5, out.as_mut_ptr(), &mut len)
        ),
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(len, 128);
    len = out.len() as CK_ULONG;
    assert_eq!(
        call!(
            l,
            C_Sign(h, data.as_ptr() as *mut _, 5, out.as_mut_ptr(), &mut len)
        ),
        CKR_OK
    );
    assert_eq!(len, 128);
    let sig = out[..128].to_vec();
    assert_eq!(
        call!(
            l,
            C_Sign(h, data.as_ptr() as *mut _, 5, out.as_mut_ptr(), &mut len)
        ),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_VerifyInit(h, &mut m, hpub)), CKR_OK);
    assert_eq!(
        call!(
            l,
            C_Verify(h, data.as_ptr() as *mut _, 5, sig.as_ptr() as *mut _, 128)
        ),
        CKR_OK
    );
    assert_eq!(call!(l, C_VerifyInit(h, &mut m, hpub)), CKR_OK);
    assert_eq!(
        call!(
            l,
            C_Verify(h, data.as_ptr() as *mut _, 5, sig.as_ptr() as *mut _, 127)
        ),
        CKR_SIGNATURE_LEN_RANGE
    );
    // PSS needs its parameter.
    let mut pss = CK_MECHANISM {
        mechanism: CKM_SHA256_RSA_PKCS_PSS,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    assert_eq!(
        call!(l, C_SignInit(h, &mut pss, hpriv)),
        CKR_MECHANISM_PARAM_INVALID
    );
    let mut unknown = CK_MECHANISM {
        mechanism: CKM_AES_CBC,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    assert_eq!(
        call!(l, C_SignInit(h, &mut unknown, hpriv)),
        CKR_MECHANISM_INVALID
    );
    assert_eq!(
        call!(l, C_SignInit(h, null_mut(), hpriv)),
        CKR_ARGUMENTS_BAD
    );

    // Digest, with the same convention.
    let mut dm = CK_MECHANISM {
        mechanism: CKM_SHA256,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    assert_eq!(call!(l, C_DigestInit(h, &mut dm)), CKR_OK);
    len = 0;
    assert_eq!(
        call!(
            l,
            C_Digest(h, data.as_ptr() as *mut _, 5, null_mut(), &mut len)
        ),
        CKR_OK
    );
    assert_eq!(len, 32);
    assert_eq!(
        call!(
            l,
            C_Digest(h, data.as_ptr() as *mut _, 5, out.as_mut_ptr(), &mut len)
        ),
        CKR_OK
    );
    use sha2::Digest;
    assert_eq!(&out[..32], &sha2::Sha256::digest(&data)[..]);

    // C_GetAttributeValue: every attribute processed; the worst outcome reported.
    let mut lbuf = [0u8; 2];
    let mut t = [
        CK_ATTRIBUTE {
            type_: CKA_MODULUS,
            pValue: null_mut(),
            ulValueLen: 0,
        },
        CK_ATTRIBUTE {
            type_: CKA_PRIVATE_EXPONENT,
            pValue: null_mut(),
            ulValueLen: 0,
        },
        CK_ATTRIBUTE {
            type_: 0x7fff_0000,
            pValue: null_mut(),
            ulValueLen: 0,
        },
        CK_ATTRIBUTE {
            type_: CKA_KEY_TYPE,
            pValue: lbuf.as_mut_ptr() as *mut _,
            ulValueLen: 2,
        },
    ];
    assert_eq!(
        call!(l, C_GetAttributeValue(h, hpriv, t.as_mut_ptr(), 4)),
        CKR_ATTRIBUTE_SENSITIVE
    );
    assert_eq!(t[0].ulValueLen, 128);
    assert_eq!(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(t[2].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(t[3].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    let mut t2 = [
        CK_ATTRIBUTE {
            type_: 0x7fff_0000,
            pValue: null_mut(),
            ulValueLen: 0,
        },
        CK_ATTRIBUTE {
            type_: CKA_KEY_TYPE,
            pValue: lbuf.as_mut_ptr() as *mut _,
            ulValueLen: 2,
        },
    ];
    assert_eq!(
        call!(l, C_GetAttributeValue(h, hpriv, t2.as_mut_ptr(), 2)),
        CKR_ATTRIBUTE_TYPE_INVALID
    );
    let mut t3 = [CK_ATTRIBUTE {
        type_: CKA_KEY_TYPE,
        pValue: lbuf.as_mut_ptr() as *mut _,
        ulValueLen: 2,
    }];
    assert_eq!(
        call!(l, C_GetAttributeValue(h, hpriv, t3.as_mut_ptr(), 1)),
        CKR_BUFFER_TOO_SMALL
    );
    let mut kt: CK_ULONG = 99;
    let mut t4 = [CK_ATTRIBUTE {
        type_: CKA_KEY_TYPE,
        pValue: &mut kt as *mut _ as *mut _,
        ulValueLen: 8,
    }];
    assert_eq!(
        call!(l, C_GetAttributeValue(h, hpriv, t4.as_mut_ptr(), 1)),
        CKR_OK
    );
    assert_eq!(kt, CKK_RSA);
    assert_eq!(
        call!(l, C_GetAttributeValue(h, 424242, t4.as_mut_ptr(), 1)),
        CKR_OBJECT_HANDLE_INVALID
    );
    assert_eq!(
        call!(l, C_GetAttributeValue(h, hpriv, null_mut(), 1)),
        CKR_ARGUMENTS_BAD
    );

    // Find objects with a template.
    let class: CK_ULONG = CKO_PRIVATE_KEY;
    let mut ft = [CK_ATTRIBUTE {
        type_: CKA_CLASS,
        pValue: &class as *const _ as *mut _,
        ulValueLen: 8,
    }];
    assert_eq!(call!(l, C_FindObjectsInit(h, ft.as_mut_ptr(), 1)), CKR_OK);
    assert_eq!(
        call!(l, C_FindObjectsInit(h, ft.as_mut_ptr(), 1)),
        CKR_OPERATION_ACTIVE
    );
    assert_eq!(
        call!(l, C_FindObjects(h, objs.as_mut_ptr(), 8, null_mut())),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(
        call!(l, C_FindObjects(h, objs.as_mut_ptr(), 8, &mut count)),
        CKR_OK
    );
    assert_eq!((count, objs[0]), (1, hpriv));
    assert_eq!(call!(l, C_FindObjectsFinal(h)), CKR_OK);

    // Random.
    assert_eq!(
        call!(l, C_GenerateRandom(h, null_mut(), 16)),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(call!(l, C_GenerateRandom(h, out.as_mut_ptr(), 16)), CKR_OK);
    assert_eq!(
        call!(l, C_SeedRandom(h, out.as_mut_ptr(), 16)),
        CKR_RANDOM_SEED_NOT_SUPPORTED
    );

    // Unsupported functions say so; legacy parallel functions too.
    assert_eq!(call!(l, C_DigestKey(h, hpriv)), CKR_FUNCTION_NOT_SUPPORTED);
    assert_eq!(
        call!(l, C_GetOperationState(h, null_mut(), &mut len)),
        CKR_FUNCTION_NOT_SUPPORTED
    );
    assert_eq!(
        call!(l, C_CopyObject(h, hpub, null_mut(), 0, null_mut())),
        CKR_FUNCTION_NOT_SUPPORTED
    );
    assert_eq!(call!(l, C_GetFunctionStatus(h)), CKR_FUNCTION_NOT_PARALLEL);
    assert_eq!(
        unsafe { (l.f3.C_MessageSignInit.unwrap())(h, &mut m, hpriv) },
        CKR_FUNCTION_NOT_SUPPORTED
    );
    // 3.0 functions that are implemented.
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(
        unsafe { (l.f3.C_SessionCancel.unwrap())(h, CKF_SIGN) },
        CKR_OK
    );
    assert_eq!(
        call!(l, C_SignFinal(h, out.as_mut_ptr(), &mut len)),
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_Logout(h)), CKR_OK);
    let mut uname = *b"user";
    assert_eq!(
        unsafe {
            (l.f3.C_LoginUser.unwrap())(
                h,
                CKU_USER,
                USER.as_ptr() as *mut _,
                USER.len() as CK_ULONG,
                uname.as_mut_ptr(),
                4,
            )
        },
        CKR_OK
    );

    // Slot events: none pending.
    let mut ev: CK_SLOT_ID = 0;
    assert_eq!(
        call!(l, C_WaitForSlotEvent(CKF_DONT_BLOCK, &mut ev, null_mut())),
        CKR_NO_EVENT
    );
    assert_eq!(
        call!(
            l,
            C_WaitForSlotEvent(CKF_DONT_BLOCK, null_mut(), null_mut())
        ),
        CKR_ARGUMENTS_BAD
    );

    // fork(): the child may initialise the module again.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let a = call!(l, C_GetSlotList(CK_FALSE, null_mut(), &mut count));
        let b = call!(l, C_Initialize(null_mut()));
        let code = if a == CKR_CRYPTOKI_NOT_INITIALIZED && b == CKR_OK {
            0
        } else {
            1
        };
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child after fork: status {status}"
    );

    // Close everything and finalize.
    assert_eq!(call!(l, C_CloseAllSessions(slot)), CKR_OK);
    assert_eq!(call!(l, C_CloseSession(h)), CKR_SESSION_HANDLE_INVALID);
    assert_eq!(
        call!(
            l,
            C_Finalize(std::ptr::NonNull::<std::os::raw::c_void>::dangling().as_ptr())
        ),
        CKR_ARGUMENTS_BAD
    );
    assert_eq!(call!(l, C_Finalize(null_mut())), CKR_OK);
    assert_eq!(
        call!(l, C_Finalize(null_mut())),
        CKR_CRYPTOKI_NOT_INITIALIZED
    );
    // Re-initialise in the same process: fresh handles, same token.
    assert_eq!(call!(l, C_Initialize(null_mut())), CKR_OK);
    let mut h2 = 0;
    assert_eq!(
        call!(
            l,
            C_OpenSession(slot, CKF_SERIAL_SESSION, null_mut(), None, &mut h2)
        ),
        CKR_OK
    );
    assert_eq!(call!(l, C_GetTokenInfo(slot, &mut ti)), CKR_OK);
    assert_ne!(ti.flags & CKF_TOKEN_INITIALIZED, 0);
    assert_eq!(call!(l, C_Finalize(null_mut())), CKR_OK);
    let _ = null::<u8>();
}
