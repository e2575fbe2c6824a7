//! Shared helpers of the `.so` suites: load the built library through `cryptoki`, with the
//! emulated token(s) in temporary state files. Each test binary is its own process, so each
//! gets a fresh module and its own environment.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::path::{Path, PathBuf};

pub const SO_PIN: &str = "87654321";
pub const USER_PIN: &str = "123456";

/// The built module: `$EPASS2003_PKCS11_LIB`, else next to the test binary's `deps/`.
pub fn lib_path() -> PathBuf {
    if let Some(p) = std::env::var_os("EPASS2003_PKCS11_LIB") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("libepass2003_pkcs11.so")
}

/// Load and initialise the module with the emulated tokens in `files` (PC/SC off).
pub fn load(files: &[&Path]) -> Pkcs11 {
    let joined = std::env::join_paths(files).unwrap();
    std::env::set_var("EPASS2003_EMULATOR", joined);
    std::env::set_var("EPASS2003_PCSC", "0");
    std::env::set_var("EPASS2003_CONF", "/nonexistent");
    let lib = lib_path();
    assert!(
        lib.exists(),
        "{} is not built: run `cargo build --release` (or set EPASS2003_PKCS11_LIB) before these tests",
        lib.display()
    );
    let ctx = Pkcs11::new(lib).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    ctx
}

pub fn pin(s: &str) -> AuthPin {
    AuthPin::new(s.into())
}

/// The `CKR_*` of a failed call.
pub fn rv<T: std::fmt::Debug>(r: cryptoki::error::Result<T>) -> RvError {
    match r {
        Err(Error::Pkcs11(rv, _)) => rv,
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

/// Initialise the token (SO PIN) and set the user PIN.
pub fn personalise(ctx: &Pkcs11, slot: Slot) {
    ctx.init_token(slot, &pin(SO_PIN), "test token").unwrap();
    let s = ctx.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.logout().unwrap();
}

/// A logged-in R/W user session.
pub fn user_session(ctx: &Pkcs11, slot: Slot) -> Session {
    let s = ctx.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s
}

/// A fresh temporary directory (kept for the process's life).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// DER TLV.
pub fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = body.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend([0x81, n as u8]);
    } else {
        v.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(body);
    v
}

/// A structurally valid X.509 v3 certificate for `spki` (the signature is not a real one: the
/// library does not verify certificates).
pub fn cert_for(spki: &[u8]) -> Vec<u8> {
    let alg = der(
        0x30,
        &[
            der(
                0x06,
                &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B],
            ),
            vec![0x05, 0x00],
        ]
        .concat(),
    );
    let name = der(
        0x30,
        &der(
            0x31,
            &der(
                0x30,
                &[der(0x06, &[0x55, 0x04, 0x03]), der(0x0C, b"test")].concat(),
            ),
        ),
    );
    let validity = der(
        0x30,
        &[der(0x17, b"250101000000Z"), der(0x17, b"350101000000Z")].concat(),
    );
    let tbs = der(
        0x30,
        &[
            der(0xA0, &der(0x02, &[2])),
            der(0x02, &[0x01, 0x23]),
            alg.clone(),
            name.clone(),
            validity,
            name,
            spki.to_vec(),
        ]
        .concat(),
    );
    der(0x30, &[tbs, alg, der(0x03, &[0, 1, 2, 3])].concat())
}
