//! The life cycle of cryptographic operations (PKCS#11 3.0 §5.2) and their return codes,
//! through the built `.so` with raw calls (NULL pointers are part of the contract):
//! * every error but `CKR_BUFFER_TOO_SMALL` ends the operation, NULL length pointers included;
//! * single-part and multi-part calls are not mixed (`CKR_OPERATION_ACTIVE`, which ends it);
//! * a size query's result is delivered only for the same input;
//! * raw-RSA inputs are checked against the modulus on the host.
#![allow(clippy::unwrap_used, clippy::undocumented_unsafe_blocks)]

mod common;
use cryptoki_sys::*;
use rsa::traits::PublicKeyParts;
use std::ptr::null_mut;

const SO: &[u8] = b"87654321";
const USER: &[u8] = b"123456";

struct Lib {
    _lib: libloading::Library,
    f: CK_FUNCTION_LIST,
}

macro_rules! call {
    ($l:expr, $name:ident($($a:expr),*)) => {
        unsafe { ($l.f.$name.unwrap())($($a),*) }
    };
}

fn load() -> Lib {
    unsafe {
        let lib = libloading::Library::new(common::lib_path()).unwrap();
        let gfl: libloading::Symbol<unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV> =
            lib.get(b"C_GetFunctionList").unwrap();
        let mut p: *mut CK_FUNCTION_LIST = null_mut();
        assert_eq!(gfl(&mut p), CKR_OK);
        let f = *p;
        Lib { _lib: lib, f }
    }
}

fn mech(m: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: null_mut(),
        ulParameterLen: 0,
    }
}

fn attr<T>(ty: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v as *const T as *mut _,
        ulValueLen: std::mem::size_of::<T>() as CK_ULONG,
    }
}

/// Which single-part / final call to make.
#[derive(Clone, Copy)]
enum Out {
    /// NULL length pointer.
    NoLen,
    /// Size query (NULL buffer).
    Query,
    /// A buffer of this size.
    Buf(usize),
}

type OneShot = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    *mut CK_BYTE,
    CK_ULONG,
    *mut CK_BYTE,
    *mut CK_ULONG,
) -> CK_RV;
type Fin = unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_BYTE, *mut CK_ULONG) -> CK_RV;

/// `C_Sign`-shaped call: (rv, reported length, output).
fn one(f: OneShot, h: CK_SESSION_HANDLE, data: &[u8], out: Out) -> (CK_RV, usize, Vec<u8>) {
    let mut buf = vec![0u8; 1024];
    let mut len: CK_ULONG = 0;
    let d = data.as_ptr() as *mut u8;
    let n = data.len() as CK_ULONG;
    let rv = unsafe {
        match out {
            Out::NoLen => f(h, d, n, buf.as_mut_ptr(), null_mut()),
            Out::Query => f(h, d, n, null_mut(), &mut len),
            Out::Buf(s) => {
                len = s as CK_ULONG;
                f(h, d, n, buf.as_mut_ptr(), &mut len)
            }
        }
    };
    match out {
        Out::Buf(_) if rv == CKR_OK => buf.truncate(len as usize),
        _ => buf.clear(),
    }
    (rv, len as usize, buf)
}

/// `C_SignFinal`-shaped call.
fn fin(f: Fin, h: CK_SESSION_HANDLE, out: Out) -> (CK_RV, usize, Vec<u8>) {
    let mut buf = vec![0u8; 1024];
    let mut len: CK_ULONG = 0;
    let rv = unsafe {
        match out {
            Out::NoLen => f(h, buf.as_mut_ptr(), null_mut()),
            Out::Query => f(h, null_mut(), &mut len),
            Out::Buf(s) => {
                len = s as CK_ULONG;
                f(h, buf.as_mut_ptr(), &mut len)
            }
        }
    };
    match out {
        Out::Buf(_) if rv == CKR_OK => buf.truncate(len as usize),
        _ => buf.clear(),
    }
    (rv, len as usize, buf)
}

fn public_key(l: &Lib, h: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> rsa::RsaPublicKey {
    let get = |ty| {
        let mut t = [CK_ATTRIBUTE {
            type_: ty,
            pValue: null_mut(),
            ulValueLen: 0,
        }];
        assert_eq!(
            call!(l, C_GetAttributeValue(h, o, t.as_mut_ptr(), 1)),
            CKR_OK
        );
        let mut v = vec![0u8; t[0].ulValueLen as usize];
        t[0].pValue = v.as_mut_ptr() as *mut _;
        assert_eq!(
            call!(l, C_GetAttributeValue(h, o, t.as_mut_ptr(), 1)),
            CKR_OK
        );
        v
    };
    rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&get(CKA_MODULUS)),
        rsa::BigUint::from_bytes_be(&get(CKA_PUBLIC_EXPONENT)),
    )
    .unwrap()
}

#[test]
fn operation_rules() {
    let dir = common::tempdir();
    std::env::set_var("EPASS2003_EMULATOR", dir.path().join("card.state"));
    std::env::set_var("EPASS2003_PCSC", "0");
    std::env::set_var("EPASS2003_CONF", "/nonexistent");
    let l = load();
    assert_eq!(call!(l, C_Initialize(null_mut())), CKR_OK);
    let slot: CK_SLOT_ID = {
        let mut n: CK_ULONG = 1;
        let mut s = [0; 1];
        assert_eq!(
            call!(l, C_GetSlotList(CK_TRUE, s.as_mut_ptr(), &mut n)),
            CKR_OK
        );
        s[0]
    };
    let mut label = [b' '; 32];
    label[..5].copy_from_slice(b"rules");
    assert_eq!(
        call!(
            l,
            C_InitToken(slot, SO.as_ptr() as *mut _, 8, label.as_mut_ptr())
        ),
        CKR_OK
    );
    let mut h = 0;
    let flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
    assert_eq!(
        call!(l, C_OpenSession(slot, flags, null_mut(), None, &mut h)),
        CKR_OK
    );
    assert_eq!(
        call!(l, C_Login(h, CKU_SO, SO.as_ptr() as *mut _, 8)),
        CKR_OK
    );
    assert_eq!(call!(l, C_InitPIN(h, USER.as_ptr() as *mut _, 6)), CKR_OK);
    assert_eq!(call!(l, C_Logout(h)), CKR_OK);
    assert_eq!(
        call!(l, C_Login(h, CKU_USER, USER.as_ptr() as *mut _, 6)),
        CKR_OK
    );

    let bits: CK_ULONG = 1024;
    let tru: CK_BBOOL = CK_TRUE;
    let mut pubt = [
        attr(CKA_MODULUS_BITS, &bits),
        attr(CKA_TOKEN, &tru),
        attr(CKA_VERIFY, &tru),
        attr(CKA_ENCRYPT, &tru),
    ];
    let mut privt = [attr(CKA_SIGN, &tru), attr(CKA_DECRYPT, &tru)];
    let mut gen = mech(CKM_RSA_PKCS_KEY_PAIR_GEN);
    let (mut hpub, mut hpriv) = (0, 0);
    let rv = call!(
        l,
        C_GenerateKeyPair(
            h,
            &mut gen,
            pubt.as_mut_ptr(),
            4,
            privt.as_mut_ptr(),
            2,
            &mut hpub,
            &mut hpriv
        )
    );
    assert_eq!(rv, CKR_OK);
    let pk = public_key(&l, h, hpub);
    let k = pk.size();
    let n_bytes = pk.n().to_bytes_be();

    let sign = l.f.C_Sign.unwrap();
    let sign_final = l.f.C_SignFinal.unwrap();
    let decrypt = l.f.C_Decrypt.unwrap();
    let decrypt_final = l.f.C_DecryptFinal.unwrap();
    let encrypt = l.f.C_Encrypt.unwrap();
    let encrypt_final = l.f.C_EncryptFinal.unwrap();
    let digest = l.f.C_Digest.unwrap();
    let digest_final = l.f.C_DigestFinal.unwrap();
    let (a, b) = (b"message A".as_slice(), b"message B".as_slice());

    let mut m = mech(CKM_SHA256_RSA_PKCS);
    let verify = |data: &[u8], sig: &[u8]| {
        let mut m = mech(CKM_SHA256_RSA_PKCS);
        assert_eq!(call!(l, C_VerifyInit(h, &mut m, hpub)), CKR_OK);
        call!(
            l,
            C_Verify(
                h,
                data.as_ptr() as *mut _,
                data.len() as CK_ULONG,
                sig.as_ptr() as *mut _,
                sig.len() as CK_ULONG
            )
        )
    };

    // --- An error ends the operation: NULL length pointer on C_Sign / C_SignFinal.
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(one(sign, h, a, Out::NoLen).0, CKR_ARGUMENTS_BAD);
    assert_eq!(
        one(sign, h, a, Out::Buf(k)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(fin(sign_final, h, Out::NoLen).0, CKR_ARGUMENTS_BAD);
    assert_eq!(
        fin(sign_final, h, Out::Buf(k)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    // NULL data with a length.
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(call!(l, C_SignUpdate(h, null_mut(), 4)), CKR_ARGUMENTS_BAD);
    assert_eq!(
        fin(sign_final, h, Out::Buf(k)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );

    // --- Too small and size query keep it; the size query binds the signature to its data.
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(one(sign, h, a, Out::Query), (CKR_OK, k, vec![]));
    let (rv, len, _) = one(sign, h, a, Out::Buf(10));
    assert_eq!((rv, len), (CKR_BUFFER_TOO_SMALL, k));
    let (rv, _, sig_b) = one(sign, h, b, Out::Buf(k));
    assert_eq!(rv, CKR_OK);
    assert_eq!(
        verify(b, &sig_b),
        CKR_OK,
        "C_Sign(B) after C_Sign(A, NULL) signs B"
    );
    assert_eq!(
        one(sign, h, b, Out::Buf(k)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    // The same data: the kept signature.
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(one(sign, h, a, Out::Query).0, CKR_OK);
    let (rv, _, sig_a) = one(sign, h, a, Out::Buf(k));
    assert_eq!(rv, CKR_OK);
    assert_eq!(verify(a, &sig_a), CKR_OK);

    // --- Single and multi-part are not mixed; the refusal ends the operation.
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(one(sign, h, a, Out::Query).0, CKR_OK);
    assert_eq!(
        call!(l, C_SignUpdate(h, a.as_ptr() as *mut _, 3)),
        CKR_OPERATION_ACTIVE
    );
    assert_eq!(
        one(sign, h, a, Out::Buf(k)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(call!(l, C_SignUpdate(h, a.as_ptr() as *mut _, 3)), CKR_OK);
    assert_eq!(one(sign, h, a, Out::Query).0, CKR_OPERATION_ACTIVE);
    assert_eq!(
        fin(sign_final, h, Out::Buf(k)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(one(sign, h, a, Out::Query).0, CKR_OK);
    assert_eq!(fin(sign_final, h, Out::Query).0, CKR_OPERATION_ACTIVE);
    // Multi-part with a size query on the final call.
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(
        call!(
            l,
            C_SignUpdate(h, a.as_ptr() as *mut _, a.len() as CK_ULONG)
        ),
        CKR_OK
    );
    assert_eq!(fin(sign_final, h, Out::Query), (CKR_OK, k, vec![]));
    assert_eq!(
        call!(l, C_SignUpdate(h, a.as_ptr() as *mut _, 1)),
        CKR_OPERATION_ACTIVE
    );
    assert_eq!(call!(l, C_SignInit(h, &mut m, hpriv)), CKR_OK);
    assert_eq!(
        call!(
            l,
            C_SignUpdate(h, a.as_ptr() as *mut _, a.len() as CK_ULONG)
        ),
        CKR_OK
    );
    assert_eq!(fin(sign_final, h, Out::Query).0, CKR_OK);
    let (rv, _, sig) = fin(sign_final, h, Out::Buf(k));
    assert_eq!(rv, CKR_OK);
    assert_eq!(verify(a, &sig), CKR_OK);

    // --- Verify: C_Verify after C_VerifyUpdate is refused, and ends it.
    assert_eq!(call!(l, C_VerifyInit(h, &mut m, hpub)), CKR_OK);
    assert_eq!(
        call!(
            l,
            C_VerifyUpdate(h, a.as_ptr() as *mut _, a.len() as CK_ULONG)
        ),
        CKR_OK
    );
    let rv = call!(
        l,
        C_Verify(
            h,
            a.as_ptr() as *mut _,
            9,
            sig.as_ptr() as *mut _,
            k as CK_ULONG
        )
    );
    assert_eq!(rv, CKR_OPERATION_ACTIVE);
    let rv = call!(l, C_VerifyFinal(h, sig.as_ptr() as *mut _, k as CK_ULONG));
    assert_eq!(rv, CKR_OPERATION_NOT_INITIALIZED);
    assert_eq!(call!(l, C_VerifyInit(h, &mut m, hpub)), CKR_OK);
    assert_eq!(
        call!(l, C_Verify(h, a.as_ptr() as *mut _, 9, null_mut(), 5)),
        CKR_ARGUMENTS_BAD
    );
    let rv = call!(l, C_VerifyFinal(h, sig.as_ptr() as *mut _, k as CK_ULONG));
    assert_eq!(rv, CKR_OPERATION_NOT_INITIALIZED);

    // --- Digest.
    let mut dm = mech(CKM_SHA256);
    use sha2::Digest;
    let (ha, hb) = (
        sha2::Sha256::digest(a).to_vec(),
        sha2::Sha256::digest(b).to_vec(),
    );
    assert_eq!(call!(l, C_DigestInit(h, &mut dm)), CKR_OK);
    assert_eq!(one(digest, h, a, Out::NoLen).0, CKR_ARGUMENTS_BAD);
    assert_eq!(
        one(digest, h, a, Out::Buf(32)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_DigestInit(h, &mut dm)), CKR_OK);
    assert_eq!(fin(digest_final, h, Out::NoLen).0, CKR_ARGUMENTS_BAD);
    assert_eq!(
        fin(digest_final, h, Out::Buf(32)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_DigestInit(h, &mut dm)), CKR_OK);
    assert_eq!(one(digest, h, a, Out::Query), (CKR_OK, 32, vec![]));
    assert_eq!(one(digest, h, b, Out::Buf(31)).0, CKR_BUFFER_TOO_SMALL);
    assert_eq!(one(digest, h, b, Out::Buf(32)), (CKR_OK, 32, hb.clone()));
    assert_eq!(call!(l, C_DigestInit(h, &mut dm)), CKR_OK);
    assert_eq!(one(digest, h, a, Out::Query).0, CKR_OK);
    assert_eq!(
        call!(l, C_DigestUpdate(h, a.as_ptr() as *mut _, 1)),
        CKR_OPERATION_ACTIVE
    );
    assert_eq!(
        one(digest, h, a, Out::Buf(32)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_DigestInit(h, &mut dm)), CKR_OK);
    assert_eq!(
        call!(
            l,
            C_DigestUpdate(h, a.as_ptr() as *mut _, a.len() as CK_ULONG)
        ),
        CKR_OK
    );
    assert_eq!(one(digest, h, a, Out::Buf(32)).0, CKR_OPERATION_ACTIVE);
    assert_eq!(
        fin(digest_final, h, Out::Buf(32)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_DigestInit(h, &mut dm)), CKR_OK);
    assert_eq!(
        call!(
            l,
            C_DigestUpdate(h, a.as_ptr() as *mut _, a.len() as CK_ULONG)
        ),
        CKR_OK
    );
    assert_eq!(fin(digest_final, h, Out::Query).0, CKR_OK);
    assert_eq!(fin(digest_final, h, Out::Buf(32)), (CKR_OK, 32, ha.clone()));

    // --- Encrypt (host) and decrypt (card), PKCS#1 v1.5.
    let mut em = mech(CKM_RSA_PKCS);
    let enc = |data: &[u8]| -> Vec<u8> {
        let mut em = mech(CKM_RSA_PKCS);
        assert_eq!(call!(l, C_EncryptInit(h, &mut em, hpub)), CKR_OK);
        let (rv, _, c) = one(encrypt, h, data, Out::Buf(k));
        assert_eq!(rv, CKR_OK);
        c
    };
    let (ca, cb) = (enc(a), enc(b));
    assert_eq!(call!(l, C_EncryptInit(h, &mut em, hpub)), CKR_OK);
    assert_eq!(one(encrypt, h, a, Out::NoLen).0, CKR_ARGUMENTS_BAD);
    assert_eq!(
        one(encrypt, h, a, Out::Buf(k)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_EncryptInit(h, &mut em, hpub)), CKR_OK);
    assert_eq!(one(encrypt, h, a, Out::Query).0, CKR_OK);
    let (rv, _, c) = one(encrypt, h, b, Out::Buf(k));
    assert_eq!(rv, CKR_OK);
    let mut dm1 = mech(CKM_RSA_PKCS);
    assert_eq!(call!(l, C_DecryptInit(h, &mut dm1, hpriv)), CKR_OK);
    assert_eq!(
        one(decrypt, h, &c, Out::Buf(k)),
        (CKR_OK, b.len(), b.to_vec()),
        "C_Encrypt(B) after C_Encrypt(A, NULL) encrypts B"
    );
    assert_eq!(call!(l, C_EncryptInit(h, &mut em, hpub)), CKR_OK);
    assert_eq!(
        call!(
            l,
            C_EncryptUpdate(h, a.as_ptr() as *mut _, 2, null_mut(), &mut 0)
        ),
        CKR_OK
    );
    assert_eq!(one(encrypt, h, a, Out::Query).0, CKR_OPERATION_ACTIVE);
    assert_eq!(
        fin(encrypt_final, h, Out::Query).0,
        CKR_OPERATION_NOT_INITIALIZED
    );

    assert_eq!(call!(l, C_DecryptInit(h, &mut dm1, hpriv)), CKR_OK);
    assert_eq!(one(decrypt, h, &ca, Out::NoLen).0, CKR_ARGUMENTS_BAD);
    assert_eq!(
        one(decrypt, h, &ca, Out::Buf(k)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_DecryptInit(h, &mut dm1, hpriv)), CKR_OK);
    assert_eq!(one(decrypt, h, &ca, Out::Query).0, CKR_OK);
    assert_eq!(
        one(decrypt, h, &cb, Out::Buf(k)),
        (CKR_OK, b.len(), b.to_vec()),
        "C_Decrypt(B) after C_Decrypt(A, NULL) decrypts B"
    );
    assert_eq!(call!(l, C_DecryptInit(h, &mut dm1, hpriv)), CKR_OK);
    assert_eq!(one(decrypt, h, &ca, Out::Query).0, CKR_OK);
    assert_eq!(one(decrypt, h, &ca, Out::Buf(2)).0, CKR_BUFFER_TOO_SMALL);
    assert_eq!(
        one(decrypt, h, &ca, Out::Buf(k)),
        (CKR_OK, a.len(), a.to_vec())
    );
    assert_eq!(call!(l, C_DecryptInit(h, &mut dm1, hpriv)), CKR_OK);
    assert_eq!(one(decrypt, h, &ca, Out::Query).0, CKR_OK);
    let rv = call!(
        l,
        C_DecryptUpdate(h, ca.as_ptr() as *mut _, 5, null_mut(), &mut 0)
    );
    assert_eq!(rv, CKR_OPERATION_ACTIVE);
    assert_eq!(
        one(decrypt, h, &ca, Out::Buf(k)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    assert_eq!(call!(l, C_DecryptInit(h, &mut dm1, hpriv)), CKR_OK);
    let rv = call!(
        l,
        C_DecryptUpdate(h, ca.as_ptr() as *mut _, k as CK_ULONG, null_mut(), &mut 0)
    );
    assert_eq!(rv, CKR_OK);
    assert_eq!(one(decrypt, h, &ca, Out::Buf(k)).0, CKR_OPERATION_ACTIVE);
    assert_eq!(call!(l, C_DecryptInit(h, &mut dm1, hpriv)), CKR_OK);
    let rv = call!(
        l,
        C_DecryptUpdate(h, ca.as_ptr() as *mut _, k as CK_ULONG, null_mut(), &mut 0)
    );
    assert_eq!(rv, CKR_OK);
    assert_eq!(fin(decrypt_final, h, Out::Query).0, CKR_OK);
    assert_eq!(
        fin(decrypt_final, h, Out::Buf(k)),
        (CKR_OK, a.len(), a.to_vec())
    );

    // --- 12.5: ciphertext length and value against the modulus (decided on the host).
    assert_eq!(call!(l, C_DecryptInit(h, &mut dm1, hpriv)), CKR_OK);
    assert_eq!(
        one(decrypt, h, &ca[1..], Out::Buf(k)).0,
        CKR_ENCRYPTED_DATA_LEN_RANGE
    );
    assert_eq!(
        one(decrypt, h, &ca, Out::Buf(k)).0,
        CKR_OPERATION_NOT_INITIALIZED
    );
    let mut dx = mech(CKM_RSA_X_509);
    for big in [n_bytes.clone(), vec![0xFF; k]] {
        assert_eq!(call!(l, C_DecryptInit(h, &mut dx, hpriv)), CKR_OK);
        assert_eq!(
            one(decrypt, h, &big, Out::Buf(k)).0,
            CKR_ENCRYPTED_DATA_INVALID
        );
        assert_eq!(
            call!(l, C_SignInit(h, &mut mech(CKM_RSA_X_509), hpriv)),
            CKR_OK
        );
        assert_eq!(one(sign, h, &big, Out::Buf(k)).0, CKR_DATA_INVALID);
        assert_eq!(
            call!(l, C_EncryptInit(h, &mut mech(CKM_RSA_X_509), hpub)),
            CKR_OK
        );
        assert_eq!(one(encrypt, h, &big, Out::Buf(k)).0, CKR_DATA_INVALID);
    }
    assert_eq!(
        call!(l, C_SignInit(h, &mut mech(CKM_RSA_X_509), hpriv)),
        CKR_OK
    );
    assert_eq!(
        one(sign, h, &vec![1; k + 1], Out::Buf(k)).0,
        CKR_DATA_LEN_RANGE
    );
    // Just below the modulus works.
    let mut below = n_bytes.clone();
    *below.last_mut().unwrap() -= 1;
    assert_eq!(
        call!(l, C_SignInit(h, &mut mech(CKM_RSA_X_509), hpriv)),
        CKR_OK
    );
    assert_eq!(one(sign, h, &below, Out::Buf(k)).0, CKR_OK);

    // --- 12.5: OAEP / PSS parameters are checked at *Init.
    let oaep = |hash, mgf| CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: hash,
        mgf,
        source: CKZ_DATA_SPECIFIED,
        pSourceData: null_mut(),
        ulSourceDataLen: 0,
    };
    for (hash, mgf, want) in [
        (CKM_SHA256, CKG_MGF1_SHA256, CKR_OK),
        (CKM_SHA256, CKG_MGF1_SHA1, CKR_OK),
        (CKM_MD5, CKG_MGF1_SHA256, CKR_MECHANISM_PARAM_INVALID),
        (CKM_SHA256, 0x77, CKR_MECHANISM_PARAM_INVALID),
        // 2 * 64 + 2 > 128: SHA-512 OAEP does not fit a 1024-bit key.
        (CKM_SHA512, CKG_MGF1_SHA512, CKR_MECHANISM_PARAM_INVALID),
    ] {
        let mut p = oaep(hash, mgf);
        let mut om = CK_MECHANISM {
            mechanism: CKM_RSA_PKCS_OAEP,
            pParameter: &mut p as *mut _ as *mut _,
            ulParameterLen: std::mem::size_of::<CK_RSA_PKCS_OAEP_PARAMS>() as CK_ULONG,
        };
        assert_eq!(
            call!(l, C_DecryptInit(h, &mut om, hpriv)),
            want,
            "OAEP {hash:#x}/{mgf:#x}"
        );
        assert_eq!(
            call!(l, C_EncryptInit(h, &mut om, hpub)),
            want,
            "OAEP {hash:#x}/{mgf:#x}"
        );
        if want == CKR_OK {
            let (rv, _, c) = one(encrypt, h, a, Out::Buf(k));
            assert_eq!(rv, CKR_OK);
            assert_eq!(
                one(decrypt, h, &c, Out::Buf(k)),
                (CKR_OK, a.len(), a.to_vec())
            );
        }
    }
    for (hash, mgf, salt, want) in [
        (CKM_SHA256, CKG_MGF1_SHA256, 32, CKR_OK),
        (CKM_MD5, CKG_MGF1_SHA256, 32, CKR_MECHANISM_PARAM_INVALID),
        (CKM_SHA256, 0x77, 32, CKR_MECHANISM_PARAM_INVALID),
        // emLen 128 < 32 + 95 + 2: the salt does not fit.
        (CKM_SHA256, CKG_MGF1_SHA256, 95, CKR_MECHANISM_PARAM_INVALID),
    ] {
        let mut p = CK_RSA_PKCS_PSS_PARAMS {
            hashAlg: hash,
            mgf,
            sLen: salt,
        };
        let mut pm = CK_MECHANISM {
            mechanism: CKM_RSA_PKCS_PSS,
            pParameter: &mut p as *mut _ as *mut _,
            ulParameterLen: std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() as CK_ULONG,
        };
        assert_eq!(
            call!(l, C_SignInit(h, &mut pm, hpriv)),
            want,
            "PSS {hash:#x}/{mgf:#x}/{salt}"
        );
        assert_eq!(
            call!(l, C_VerifyInit(h, &mut pm, hpub)),
            want,
            "PSS {hash:#x}/{mgf:#x}/{salt}"
        );
        if want == CKR_OK {
            let dig = sha2::Sha256::digest(a).to_vec();
            let (rv, _, s) = one(sign, h, &dig, Out::Buf(k));
            assert_eq!(rv, CKR_OK);
            let rv = call!(
                l,
                C_Verify(
                    h,
                    dig.as_ptr() as *mut _,
                    32,
                    s.as_ptr() as *mut _,
                    k as CK_ULONG
                )
            );
            assert_eq!(rv, CKR_OK);
        }
    }

    assert_eq!(call!(l, C_Finalize(null_mut())), CKR_OK);
}
