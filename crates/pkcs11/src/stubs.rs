//! Functions this token does not offer: each returns `CKR_FUNCTION_NOT_SUPPORTED` through the
//! boundary macro (so it still checks initialisation and never unwinds). Signatures follow the
//! `CK_C_*` typedefs exactly.

use crate::boundary::*;
use cryptoki_sys::*;

cryptoki_fn! {
    /// `C_GetOperationState`: not supported.
    fn C_GetOperationState(_a0: CK_SESSION_HANDLE, _a1: *mut CK_BYTE, _a2: *mut CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_SetOperationState`: not supported.
    fn C_SetOperationState(_a0: CK_SESSION_HANDLE, _a1: *mut CK_BYTE, _a2: CK_ULONG, _a3: CK_OBJECT_HANDLE, _a4: CK_OBJECT_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_CopyObject`: not supported.
    fn C_CopyObject(_a0: CK_SESSION_HANDLE, _a1: CK_OBJECT_HANDLE, _a2: *mut CK_ATTRIBUTE, _a3: CK_ULONG, _a4: *mut CK_OBJECT_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_DigestKey`: not supported.
    fn C_DigestKey(_a0: CK_SESSION_HANDLE, _a1: CK_OBJECT_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_SignRecoverInit`: not supported.
    fn C_SignRecoverInit(_a0: CK_SESSION_HANDLE, _a1: *mut CK_MECHANISM, _a2: CK_OBJECT_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_SignRecover`: not supported.
    fn C_SignRecover(_a0: CK_SESSION_HANDLE, _a1: *mut CK_BYTE, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: *mut CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_VerifyRecoverInit`: not supported.
    fn C_VerifyRecoverInit(_a0: CK_SESSION_HANDLE, _a1: *mut CK_MECHANISM, _a2: CK_OBJECT_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_VerifyRecover`: not supported.
    fn C_VerifyRecover(_a0: CK_SESSION_HANDLE, _a1: *mut CK_BYTE, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: *mut CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_DigestEncryptUpdate`: not supported.
    fn C_DigestEncryptUpdate(_a0: CK_SESSION_HANDLE, _a1: *mut CK_BYTE, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: *mut CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_DecryptDigestUpdate`: not supported.
    fn C_DecryptDigestUpdate(_a0: CK_SESSION_HANDLE, _a1: *mut CK_BYTE, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: *mut CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_SignEncryptUpdate`: not supported.
    fn C_SignEncryptUpdate(_a0: CK_SESSION_HANDLE, _a1: *mut CK_BYTE, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: *mut CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_DecryptVerifyUpdate`: not supported.
    fn C_DecryptVerifyUpdate(_a0: CK_SESSION_HANDLE, _a1: *mut CK_BYTE, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: *mut CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_GenerateKey`: not supported.
    fn C_GenerateKey(_a0: CK_SESSION_HANDLE, _a1: *mut CK_MECHANISM, _a2: *mut CK_ATTRIBUTE, _a3: CK_ULONG, _a4: *mut CK_OBJECT_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_WrapKey`: not supported.
    fn C_WrapKey(_a0: CK_SESSION_HANDLE, _a1: *mut CK_MECHANISM, _a2: CK_OBJECT_HANDLE, _a3: CK_OBJECT_HANDLE, _a4: *mut CK_BYTE, _a5: *mut CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_UnwrapKey`: not supported.
    fn C_UnwrapKey(_a0: CK_SESSION_HANDLE, _a1: *mut CK_MECHANISM, _a2: CK_OBJECT_HANDLE, _a3: *mut CK_BYTE, _a4: CK_ULONG, _a5: *mut CK_ATTRIBUTE, _a6: CK_ULONG, _a7: *mut CK_OBJECT_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_DeriveKey`: not supported.
    fn C_DeriveKey(_a0: CK_SESSION_HANDLE, _a1: *mut CK_MECHANISM, _a2: CK_OBJECT_HANDLE, _a3: *mut CK_ATTRIBUTE, _a4: CK_ULONG, _a5: *mut CK_OBJECT_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_MessageEncryptInit`: not supported.
    fn C_MessageEncryptInit(_a0: CK_SESSION_HANDLE, _a1: *mut CK_MECHANISM, _a2: CK_OBJECT_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_EncryptMessage`: not supported.
    fn C_EncryptMessage(_a0: CK_SESSION_HANDLE, _a1: *mut std::os::raw::c_void, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: CK_ULONG, _a5: *mut CK_BYTE, _a6: CK_ULONG, _a7: *mut CK_BYTE, _a8: *mut CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_EncryptMessageBegin`: not supported.
    fn C_EncryptMessageBegin(_a0: CK_SESSION_HANDLE, _a1: *mut std::os::raw::c_void, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_EncryptMessageNext`: not supported.
    fn C_EncryptMessageNext(_a0: CK_SESSION_HANDLE, _a1: *mut std::os::raw::c_void, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: CK_ULONG, _a5: *mut CK_BYTE, _a6: *mut CK_ULONG, _a7: CK_FLAGS) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_MessageEncryptFinal`: not supported.
    fn C_MessageEncryptFinal(_a0: CK_SESSION_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_MessageDecryptInit`: not supported.
    fn C_MessageDecryptInit(_a0: CK_SESSION_HANDLE, _a1: *mut CK_MECHANISM, _a2: CK_OBJECT_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_DecryptMessage`: not supported.
    fn C_DecryptMessage(_a0: CK_SESSION_HANDLE, _a1: *mut std::os::raw::c_void, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: CK_ULONG, _a5: *mut CK_BYTE, _a6: CK_ULONG, _a7: *mut CK_BYTE, _a8: *mut CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_DecryptMessageBegin`: not supported.
    fn C_DecryptMessageBegin(_a0: CK_SESSION_HANDLE, _a1: *mut std::os::raw::c_void, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_DecryptMessageNext`: not supported.
    fn C_DecryptMessageNext(_a0: CK_SESSION_HANDLE, _a1: *mut std::os::raw::c_void, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: CK_ULONG, _a5: *mut CK_BYTE, _a6: *mut CK_ULONG, _a7: CK_FLAGS) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_MessageDecryptFinal`: not supported.
    fn C_MessageDecryptFinal(_a0: CK_SESSION_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_MessageSignInit`: not supported.
    fn C_MessageSignInit(_a0: CK_SESSION_HANDLE, _a1: *mut CK_MECHANISM, _a2: CK_OBJECT_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_SignMessage`: not supported.
    fn C_SignMessage(_a0: CK_SESSION_HANDLE, _a1: *mut std::os::raw::c_void, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: CK_ULONG, _a5: *mut CK_BYTE, _a6: *mut CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_SignMessageBegin`: not supported.
    fn C_SignMessageBegin(_a0: CK_SESSION_HANDLE, _a1: *mut std::os::raw::c_void, _a2: CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_SignMessageNext`: not supported.
    fn C_SignMessageNext(_a0: CK_SESSION_HANDLE, _a1: *mut std::os::raw::c_void, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: CK_ULONG, _a5: *mut CK_BYTE, _a6: *mut CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_MessageSignFinal`: not supported.
    fn C_MessageSignFinal(_a0: CK_SESSION_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_MessageVerifyInit`: not supported.
    fn C_MessageVerifyInit(_a0: CK_SESSION_HANDLE, _a1: *mut CK_MECHANISM, _a2: CK_OBJECT_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_VerifyMessage`: not supported.
    fn C_VerifyMessage(_a0: CK_SESSION_HANDLE, _a1: *mut std::os::raw::c_void, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: CK_ULONG, _a5: *mut CK_BYTE, _a6: CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_VerifyMessageBegin`: not supported.
    fn C_VerifyMessageBegin(_a0: CK_SESSION_HANDLE, _a1: *mut std::os::raw::c_void, _a2: CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_VerifyMessageNext`: not supported.
    fn C_VerifyMessageNext(_a0: CK_SESSION_HANDLE, _a1: *mut std::os::raw::c_void, _a2: CK_ULONG, _a3: *mut CK_BYTE, _a4: CK_ULONG, _a5: *mut CK_BYTE, _a6: CK_ULONG) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}

cryptoki_fn! {
    /// `C_MessageVerifyFinal`: not supported.
    fn C_MessageVerifyFinal(_a0: CK_SESSION_HANDLE) {
        require_init()?;
        Err(Error::FunctionNotSupported)
    }
}
