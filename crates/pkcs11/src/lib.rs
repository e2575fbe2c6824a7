//! `libepass2003_pkcs11.so`: the PKCS#11 C ABI (2.40 function list and the 3.0 interface)
//! over `crates/token`. This is the only crate with `unsafe` code, and all of it is in:
//! * [`boundary`]: the `cryptoki_fn!` macro (catch_unwind, tracing span, the one
//!   `Error → CK_RV` mapping), audited pointer helpers, and the output-buffer convention;
//! * the `C_*` bodies in `functions` and `stubs`, which only call those helpers.
//!
//! Configuration (see `token::config`): `EPASS2003_EMULATOR=FILE` adds the emulated token in
//! FILE as a slot (created blank if missing); `EPASS2003_CONF` names a config file (default
//! `~/.config/epass2003/pkcs11.conf`); `EPASS2003_AUTH_TIMEOUT_SECS` overrides the inactivity
//! timeout; `EPASS2003_PIN_MIN_LEN` / `EPASS2003_PIN_MAX_LEN` set the policy `C_InitToken`
//! writes; `EPASS2003_LOG=debug` logs to stderr (never PINs).
#![deny(unsafe_op_in_unsafe_fn)]

pub(crate) mod boundary;
mod functions;
mod stubs;
mod tables;

pub use functions::*;
pub use stubs::*;

/// Entry points for fuzz targets (`fuzz/`; not a stable API): the decoding of what a caller
/// passes through the C ABI, with pointers that are valid (into the fuzzer's input) and
/// values and lengths that are arbitrary within them. None may panic.
#[doc(hidden)]
pub mod fuzzing {
    use cryptoki_sys::*;

    fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
        let n = n.min(data.len());
        let (a, rest) = data.split_at(n);
        *data = rest;
        a
    }

    fn ulong(data: &mut &[u8]) -> CK_ULONG {
        let mut b = [0u8; 8];
        let t = take(data, 8);
        b[..t.len()].copy_from_slice(t);
        CK_ULONG::from_le_bytes(b)
    }

    /// A `CK_MECHANISM` as `C_SignInit` & co. get it: a type (a PSS / OAEP one or any), a
    /// parameter block of any length and content (an OAEP label pointing into the input,
    /// with a length no larger than what is there).
    pub fn mechanism(mut data: &[u8]) {
        const TYPES: [CK_MECHANISM_TYPE; 4] = [
            CKM_RSA_PKCS_PSS,
            CKM_SHA256_RSA_PKCS_PSS,
            CKM_RSA_PKCS_OAEP,
            CKM_RSA_PKCS,
        ];
        let sel = take(&mut data, 1).first().copied().unwrap_or(0);
        let mech = if sel < 0x80 {
            TYPES[usize::from(sel) % TYPES.len()]
        } else {
            ulong(&mut data)
        };
        let plen = usize::from(take(&mut data, 1).first().copied().unwrap_or(0));
        // An aligned parameter buffer (room for the largest parameter structure).
        let mut param = vec![0u64; 8];
        {
            let src = take(&mut data, plen.min(64));
            // SAFETY: `param` holds 64 bytes; `src` is at most 64.
            let dst =
                unsafe { std::slice::from_raw_parts_mut(param.as_mut_ptr() as *mut u8, src.len()) };
            dst.copy_from_slice(src);
        }
        let label = data;
        if mech == CKM_RSA_PKCS_OAEP && plen >= std::mem::size_of::<CK_RSA_PKCS_OAEP_PARAMS>() {
            let p = param.as_mut_ptr() as *mut CK_RSA_PKCS_OAEP_PARAMS;
            // SAFETY: `param` is aligned for u64 and large enough for the structure.
            unsafe {
                let mut op = p.read();
                op.pSourceData = label.as_ptr() as *mut _;
                op.ulSourceDataLen = op.ulSourceDataLen.min(label.len() as CK_ULONG);
                p.write(op);
            }
        }
        let m = CK_MECHANISM {
            mechanism: mech,
            pParameter: if plen == 0 {
                std::ptr::null_mut()
            } else {
                param.as_mut_ptr() as *mut _
            },
            ulParameterLen: plen.min(64) as CK_ULONG,
        };
        // SAFETY: the parameter points to `ulParameterLen` readable bytes, an OAEP label to
        // `ulSourceDataLen` bytes of the input.
        let _ = unsafe { crate::boundary::mechanism(&m) };
    }

    /// A `CK_ATTRIBUTE` array as `C_CreateObject` & co. get it: per attribute a type, a
    /// length and a value pointing into the input (or null), the count as given.
    pub fn template(mut data: &[u8]) {
        let mut attrs = Vec::new();
        while !data.is_empty() && attrs.len() < 32 {
            let ty = ulong(&mut data);
            let n = usize::from(take(&mut data, 1).first().copied().unwrap_or(0));
            let value = take(&mut data, n);
            let null = n == 0xFF;
            attrs.push(CK_ATTRIBUTE {
                type_: ty,
                pValue: if null {
                    std::ptr::null_mut()
                } else {
                    value.as_ptr() as *mut _
                },
                ulValueLen: if null { 1 } else { value.len() as CK_ULONG },
            });
        }
        // SAFETY: `attrs` holds `attrs.len()` attributes whose values point into the input
        // for their length (or are null).
        let _ = unsafe { crate::boundary::template(attrs.as_ptr(), attrs.len() as CK_ULONG) };
    }
}
