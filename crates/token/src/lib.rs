//! PKCS#11 semantics for ePass2003 tokens, in safe Rust.
//!
//! * [`module`]: the slot table, the session index, the lock order.
//! * [`token`]: one present token: login, objects and their attributes, operations.
//! * [`login`]: the login state machine and the PIN-counter flags.
//! * [`session`]: per-session operation slots; [`lifecycle`]: the rules every operation
//!   follows (single- or multi-part, size queries).
//! * [`attr`], [`mechanism`], [`crypto`]: templates and attribute policy, the mechanism
//!   registry, host-side padding and public-key operations.
//! * [`notice`]: the once-per-token "PIN locked" line on stderr.
//! * [`config`]: environment and config file (`EPASS2003_EMULATOR`, `EPASS2003_CONF`, ...).
//!
//! The C ABI lives in `crates/pkcs11`, which maps [`Error`] to `CK_RV` in one place.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin;
pub mod attr;
mod cert_attrs;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
mod glue;
pub mod lifecycle;
pub mod login;
pub mod mechanism;
pub mod module;
pub mod notice;
pub mod readers;
pub mod session;
pub mod token;

#[cfg(test)]
mod tests;

pub use error::{Error, Result};

/// Entry points for fuzz targets (`fuzz/`; not a stable API). None may panic on any input.
#[doc(hidden)]
pub mod fuzzing {
    /// The configuration file (`epass2003.conf`): any text is applied line by line, a refused
    /// line is kept as an error, never a panic; the relations are checked after.
    pub fn config(data: &[u8]) {
        let mut c = crate::config::Config::default();
        c.apply_file(&String::from_utf8_lossy(data));
        c.check_relations();
        let _ = c.init_error();
    }

    #[cfg(feature = "emulator")]
    pub use session::session;

    /// A sequence of PKCS#11 calls against the token layer over an in-memory emulated card.
    #[cfg(feature = "emulator")]
    mod session {
        use crate::attr::{ul, AttrType, Template};
        use crate::config::Config;
        use crate::mechanism::Mechanism;
        use crate::module::Module;
        use crate::readers::{EmulatorReader, Reader};
        use cryptoki_sys::*;
        use epass2003::transport::emulator::EmulatorTransport;
        use epass2003::{ConnectOptions, Connection};
        use epass2003_emu::{Card, CardOptions, Variant};
        use pkcs15::card::{Epass2003Token, OpenOptions};
        use std::sync::{Arc, Mutex, OnceLock};
        use token_backend::TokenBackend;
        use token_backend::{InitParams, KeyGenSpec, KeyType, KeyUsage, PinPolicy, PinRole};

        /// The user PIN of the fixture.
        const PIN: &[u8] = b"123456";

        /// The attribute types a template is made of (index by a byte; others raw).
        const TYPES: [AttrType; 26] = [
            CKA_CLASS,
            CKA_TOKEN,
            CKA_PRIVATE,
            CKA_LABEL,
            CKA_ID,
            CKA_VALUE,
            CKA_CERTIFICATE_TYPE,
            CKA_KEY_TYPE,
            CKA_MODULUS,
            CKA_PUBLIC_EXPONENT,
            CKA_EC_PARAMS,
            CKA_EC_POINT,
            CKA_SIGN,
            CKA_DECRYPT,
            CKA_SENSITIVE,
            CKA_EXTRACTABLE,
            CKA_APPLICATION,
            CKA_PRIVATE_EXPONENT,
            CKA_PRIME_1,
            CKA_PRIME_2,
            CKA_SUBJECT,
            CKA_MODULUS_BITS,
            CKA_CERTIFICATE_CATEGORY,
            CKA_VALUE_LEN,
            CKA_MODIFIABLE,
            CKA_ALWAYS_AUTHENTICATE,
        ];
        const MECHS: [CK_MECHANISM_TYPE; 8] = [
            CKM_RSA_PKCS,
            CKM_SHA256_RSA_PKCS,
            CKM_RSA_X_509,
            CKM_RSA_PKCS_PSS,
            CKM_RSA_PKCS_OAEP,
            CKM_ECDSA,
            CKM_ECDSA_SHA256,
            CKM_SHA1_RSA_PKCS,
        ];

        /// A personalised card (user PIN 123456, an RSA-1024 and a P-256 key pair), made once
        /// per fuzzing process and copied for each input.
        fn fixture() -> &'static [u8] {
            static STATE: OnceLock<Vec<u8>> = OnceLock::new();
            STATE.get_or_init(|| {
                let card = Arc::new(Mutex::new(Card::new_blank(
                    Variant::Aes,
                    CardOptions {
                        rng_seed: Some(11),
                        ..CardOptions::default()
                    },
                )));
                let made = (|| -> Option<()> {
                    let conn = Connection::connect(
                        EmulatorTransport::new(card.clone()),
                        ConnectOptions::default(),
                    )
                    .ok()?;
                    let mut t = Epass2003Token::open(
                        conn,
                        OpenOptions {
                            emulated: true,
                            cache_dir: None,
                        },
                    )
                    .ok()?;
                    t.init_token(&InitParams {
                        label: "fuzz",
                        so_pin: b"12345678",
                        user_pin: Some(PIN),
                        user_max_tries: 0,
                        so_max_tries: 0,
                        user_pin_policy: PinPolicy::default(),
                        so_pin_policy: PinPolicy::default(),
                        auth_timeout_minutes: 0,
                    })
                    .ok()?;
                    t.login(PinRole::User, PIN).ok()?;
                    for (key_type, label) in [
                        (KeyType::Rsa { bits: 1024 }, "rsa"),
                        (KeyType::EcP256, "ec"),
                    ] {
                        t.generate_key_pair(&KeyGenSpec {
                            key_type,
                            label: label.into(),
                            id: None,
                            usage: KeyUsage {
                                sign: true,
                                decrypt: true,
                                ..KeyUsage::default()
                            },
                        })
                        .ok()?;
                    }
                    Some(())
                })();
                assert!(
                    made.is_some(),
                    "the fuzzing fixture could not be personalised"
                );
                card.lock().map(|c| c.to_state_bytes()).unwrap_or_default()
            })
        }

        /// Reads the input.
        struct Input<'a>(&'a [u8]);

        impl Input<'_> {
            fn byte(&mut self) -> Option<u8> {
                let (&b, rest) = self.0.split_first()?;
                self.0 = rest;
                Some(b)
            }
            /// A length byte (0xFD: a 16-bit big-endian length follows) and that many bytes.
            fn bytes(&mut self) -> Vec<u8> {
                let n = match self.byte().unwrap_or(0) {
                    0xFD => {
                        let hi = usize::from(self.byte().unwrap_or(0));
                        (hi << 8) | usize::from(self.byte().unwrap_or(0))
                    }
                    n => usize::from(n),
                };
                let n = n.min(self.0.len());
                let (a, rest) = self.0.split_at(n);
                self.0 = rest;
                a.to_vec()
            }
            fn attr_type(&mut self) -> AttrType {
                let b = self.byte().unwrap_or(0);
                if b < 0xF0 {
                    TYPES[usize::from(b) % TYPES.len()]
                } else {
                    // An unknown or vendor type.
                    AttrType::from(b) | CKA_VENDOR_DEFINED
                }
            }
            /// A template: a count, then per attribute a type and a value (length 0xFF: a
            /// CK_ULONG of the next byte, 0xFE: a CK_BBOOL).
            fn template(&mut self) -> Template {
                let n = self.byte().unwrap_or(0) % 10;
                let mut v = Vec::new();
                for _ in 0..n {
                    let ty = self.attr_type();
                    let value = match self.0.first() {
                        Some(0xFF) => {
                            self.byte();
                            ul(CK_ULONG::from(self.byte().unwrap_or(0)))
                        }
                        Some(0xFE) => {
                            self.byte();
                            vec![self.byte().unwrap_or(0) & 1]
                        }
                        _ => self.bytes(),
                    };
                    v.push((ty, value));
                }
                Template(v)
            }
        }

        /// Run the calls the input describes; none may panic. Byte by byte: an operation
        /// (create, find, get attributes, destroy, set attributes, sign, decrypt, log in /
        /// out), then its arguments; objects are picked among the session's visible ones.
        pub fn session(data: &[u8]) {
            let Ok(card) = Card::from_state_bytes(fixture()) else {
                return;
            };
            let card = Arc::new(Mutex::new(card));
            let readers: Vec<Box<dyn Reader>> =
                vec![Box::new(EmulatorReader::in_memory("fuzz", card))];
            let m = Module::with_readers(Config::default(), readers);
            let Some(slot) = m.slot_list(true).ok().and_then(|s| s.first().copied()) else {
                return;
            };
            let Ok(h) = m.open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION) else {
                return;
            };
            let mut input = Input(data);
            let mut objects: Vec<CK_OBJECT_HANDLE> = Vec::new();
            let pick = |input: &mut Input<'_>, objects: &[CK_OBJECT_HANDLE]| {
                let b = usize::from(input.byte().unwrap_or(0));
                objects
                    .get(b % objects.len().max(1))
                    .copied()
                    .unwrap_or(b as CK_OBJECT_HANDLE)
            };
            let _ = m.with_session(h, |t, _| t.login(CKU_USER, PIN));
            let mut steps = 0;
            while let Some(op) = input.byte() {
                steps += 1;
                if steps > 64 {
                    break;
                }
                match op % 8 {
                    0 => {
                        let tpl = input.template();
                        if let Ok(o) = m.with_session(h, |t, hs| t.create_object(hs, h, &tpl)) {
                            objects.push(o);
                        }
                    }
                    1 => {
                        let tpl = input.template();
                        if let Ok(found) = m.with_session(h, |t, hs| t.find(hs, &tpl)) {
                            objects = found;
                        }
                    }
                    2 => {
                        let o = pick(&mut input, &objects);
                        let n = input.byte().unwrap_or(0) % 8;
                        let types: Vec<AttrType> = (0..n).map(|_| input.attr_type()).collect();
                        let _ = m.with_session(h, |t, hs| t.get_attributes(hs, o, &types));
                    }
                    3 => {
                        let o = pick(&mut input, &objects);
                        let _ = m.with_session(h, |t, hs| t.destroy_object(hs, h, o));
                    }
                    4 => {
                        let o = pick(&mut input, &objects);
                        let tpl = input.template();
                        let _ = m.with_session(h, |t, hs| t.set_attributes(hs, h, o, &tpl));
                    }
                    5 | 6 => {
                        let o = pick(&mut input, &objects);
                        let mech = Mechanism::new(
                            MECHS[usize::from(input.byte().unwrap_or(0)) % MECHS.len()],
                        );
                        let data = input.bytes();
                        let _ = m.with_session(h, |t, hs| {
                            if op % 8 == 5 {
                                t.sign_init(hs, h, &mech, o)?;
                                t.sign(h, &data)
                            } else {
                                t.decrypt_init(hs, h, &mech, o)?;
                                t.decrypt(h, Some(&data))
                            }
                        });
                    }
                    _ => {
                        let pin = input.bytes();
                        let _ = m.with_session(h, |t, _| {
                            if pin.is_empty() {
                                t.logout()
                            } else {
                                t.login(CKU_USER, &pin)
                            }
                        });
                    }
                }
            }
        }
    }
}
