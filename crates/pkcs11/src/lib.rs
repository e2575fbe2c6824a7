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
