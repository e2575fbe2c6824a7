//! Unit tests of the token layer over an in-memory `TokenBackend` (a test double used only
//! here; the `.so` suites in `crates/pkcs11/tests` run the real stack over the emulator).

use crate::clock::ManualClock;
use crate::config::Config;
use crate::error::Error;
use crate::login::LoginState;
use crate::mechanism::Mechanism;
use crate::token::{Handles, Token};
use cryptoki_sys::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use token_backend::*;

#[derive(Default)]
struct Counters {
    rsa_raw: usize,
    logout: usize,
    login: usize,
}

struct Mock {
    c: Arc<Mutex<Counters>>,
    tries: u8,
    lost: bool,
    logged_in: bool,
    timeout_minutes: u16,
}

impl TokenBackend for Mock {
    fn describe(&mut self) -> Result<TokenDescription> {
        Ok(TokenDescription {
            label: "mock".into(),
            serial: "0011223344556677".into(),
            manufacturer: "test".into(),
            model: "mock".into(),
            hardware_version: (1, 0),
            firmware_version: (1, 0),
            initialized: true,
            write_protected: None,
            user_pin_policy: PinPolicy::default(),
            so_pin_policy: PinPolicy::default(),
            auth_timeout_minutes: self.timeout_minutes,
            memory: None,
        })
    }
    fn pin_status(&mut self, _role: PinRole) -> Result<PinStatus> {
        Ok(PinStatus {
            tries_left: Some(self.tries),
            max_tries: 3,
            initialized: true,
        })
    }
    fn login(&mut self, _role: PinRole, pin: &[u8]) -> Result<()> {
        self.c.lock().unwrap().login += 1;
        if self.tries == 0 {
            return Err(BackendError::PinLocked);
        }
        if pin == b"1234" {
            self.tries = 3;
            self.logged_in = true;
            Ok(())
        } else {
            self.tries -= 1;
            Err(BackendError::WrongPin {
                tries_left: self.tries,
            })
        }
    }
    fn logout(&mut self) -> Result<()> {
        self.c.lock().unwrap().logout += 1;
        self.logged_in = false;
        Ok(())
    }
    fn change_pin(&mut self, _: PinRole, _: &[u8], _: &[u8]) -> Result<()> {
        Ok(())
    }
    fn init_user_pin(&mut self, _: &[u8]) -> Result<()> {
        Ok(())
    }
    fn init_token(&mut self, _: &InitParams<'_>) -> Result<()> {
        Ok(())
    }
    fn set_label(&mut self, _: &str) -> Result<()> {
        Ok(())
    }
    fn set_auth_timeout(&mut self, _: u16) -> Result<()> {
        Ok(())
    }
    fn objects(&mut self) -> Result<Vec<ObjectMeta>> {
        Ok(vec![ObjectMeta {
            reference: ObjectRef(1),
            kind: ObjectKind::PrivateKey,
            label: "k".into(),
            id: vec![1],
            private: true,
            modifiable: true,
            key_type: Some(KeyType::Rsa { bits: 1024 }),
            usage: KeyUsage {
                sign: true,
                decrypt: true,
                ..KeyUsage::default()
            },
            local: true,
            application: None,
        }])
    }
    fn read_value(&mut self, _: ObjectRef) -> Result<Vec<u8>> {
        Err(BackendError::NotSupported("mock".into()))
    }
    fn generate_key_pair(&mut self, _: &KeyGenSpec) -> Result<(ObjectMeta, ObjectMeta)> {
        Err(BackendError::NotSupported("mock".into()))
    }
    fn import_rsa_key(&mut self, _: &RsaKeyImport) -> Result<ObjectMeta> {
        Err(BackendError::NotSupported("mock".into()))
    }
    fn create_object(&mut self, _: &NewObject) -> Result<ObjectMeta> {
        Err(BackendError::NotSupported("mock".into()))
    }
    fn delete_object(&mut self, _: ObjectRef) -> Result<()> {
        Ok(())
    }
    fn update_object(
        &mut self,
        _: ObjectRef,
        _: Option<&str>,
        _: Option<&[u8]>,
    ) -> Result<ObjectMeta> {
        Err(BackendError::NotSupported("mock".into()))
    }
    fn rsa_raw(&mut self, _: ObjectRef, block: &[u8]) -> Result<Vec<u8>> {
        if !self.logged_in {
            return Err(BackendError::NotLoggedIn);
        }
        self.c.lock().unwrap().rsa_raw += 1;
        Ok(block.to_vec())
    }
    fn ecdsa_sign(&mut self, _: ObjectRef, _: &[u8]) -> Result<Vec<u8>> {
        Ok(vec![0; 64])
    }
    fn random(&mut self, len: usize) -> Result<Vec<u8>> {
        Ok(vec![7; len.min(16)])
    }
    fn take_login_lost(&mut self) -> bool {
        std::mem::take(&mut self.lost)
    }
}

fn token(timeout_minutes: u16) -> (Token, Arc<Mutex<Counters>>, ManualClock) {
    let c = Arc::new(Mutex::new(Counters::default()));
    let clock = ManualClock::default();
    let config = Config {
        clock: Arc::new(clock.clone()),
        ..Config::default()
    };
    let m = Mock {
        c: c.clone(),
        tries: 3,
        lost: false,
        logged_in: false,
        timeout_minutes,
    };
    (Token::new(Box::new(m), config).unwrap(), c, clock)
}

#[test]
fn wrong_pins_lock_and_flags_follow() {
    let (mut t, c, _) = token(0);
    t.open_session(1, true).unwrap();
    assert_eq!(
        t.info().flags & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY),
        0
    );
    assert_eq!(t.login(CKU_USER, b"9999"), Err(Error::PinIncorrect));
    assert_ne!(t.info().flags & CKF_USER_PIN_COUNT_LOW, 0);
    assert_eq!(t.login(CKU_USER, b"9999"), Err(Error::PinIncorrect));
    assert_ne!(t.info().flags & CKF_USER_PIN_FINAL_TRY, 0);
    assert_eq!(t.login(CKU_USER, b"9999"), Err(Error::PinLocked));
    assert_ne!(t.info().flags & CKF_USER_PIN_LOCKED, 0);
    // Locked: no APDU is spent any more.
    let before = c.lock().unwrap().login;
    assert_eq!(t.login(CKU_USER, b"1234"), Err(Error::PinLocked));
    assert_eq!(c.lock().unwrap().login, before);
    // Length outside the policy: no APDU either.
    assert_eq!(t.login(CKU_SO, b"12"), Err(Error::PinLenRange));
    assert_eq!(c.lock().unwrap().login, before);
}

/// What `Module::with_token`/`with_session` do around every call: expiry first.
fn call<R>(t: &mut Token, f: impl FnOnce(&mut Token) -> R) -> R {
    t.expire();
    f(t)
}

#[test]
fn timeout_with_injected_clock() {
    let (mut t, c, clock) = token(10);
    let handles = Handles::default();
    t.open_session(1, true).unwrap();
    t.login(CKU_USER, b"1234").unwrap();
    let key = t.find(&handles, &crate::attr::Template::default()).unwrap()[0];
    for _ in 0..3 {
        clock.advance(Duration::from_secs(9 * 60));
        call(&mut t, |t| {
            t.sign_init(&handles, 1, &Mechanism::new(CKM_SHA256_RSA_PKCS), key)
        })
        .unwrap();
        call(&mut t, |t| t.sign(1, b"data")).unwrap();
        t.session(1).unwrap().end(crate::session::OpKind::Sign);
        assert!(
            matches!(t.login_state(), LoginState::User { .. }),
            "signing restarts the clock"
        );
    }
    clock.advance(Duration::from_secs(10 * 60));
    t.expire();
    assert_eq!(t.login_state(), LoginState::Public);
    assert_eq!(
        c.lock().unwrap().logout,
        1,
        "the card's security state is reset"
    );
    assert_eq!(t.session_state(1).unwrap(), CKS_RW_PUBLIC_SESSION);
    t.login(CKU_USER, b"1234").unwrap();
}

/// Status queries every second do not keep the login alive; the first query after the
/// timeout already shows the public state.
#[test]
fn polling_status_does_not_restart_the_clock() {
    let (mut t, _, clock) = token(1);
    let handles = Handles::default();
    t.open_session(1, false).unwrap();
    t.login(CKU_USER, b"1234").unwrap();
    for second in 1..=60 {
        clock.advance(Duration::from_secs(1));
        call(&mut t, |t| t.info());
        let state = call(&mut t, |t| t.session_state(1)).unwrap();
        let public = call(&mut t, |t| {
            t.find(
                &handles,
                &crate::attr::Template(vec![(CKA_PRIVATE, vec![0])]),
            )
        })
        .unwrap();
        let _ = public;
        if second < 60 {
            assert_eq!(state, CKS_RO_USER_FUNCTIONS, "second {second}");
        } else {
            assert_eq!(state, CKS_RO_PUBLIC_SESSION, "logged out at 60 s");
        }
    }
    assert_eq!(t.login_state(), LoginState::Public);
}

/// A signature inside the window restarts it; an operation dropped by the timeout answers
/// CKR_USER_NOT_LOGGED_IN.
#[test]
fn signer_inside_the_window_stays_logged_in() {
    let (mut t, _, clock) = token(1);
    let handles = Handles::default();
    t.open_session(1, false).unwrap();
    t.login(CKU_USER, b"1234").unwrap();
    let key = t.find(&handles, &crate::attr::Template::default()).unwrap()[0];
    for _ in 0..5 {
        clock.advance(Duration::from_secs(50));
        call(&mut t, |t| t.info());
        call(&mut t, |t| {
            t.sign_init(&handles, 1, &Mechanism::new(CKM_SHA256_RSA_PKCS), key)
        })
        .unwrap();
        call(&mut t, |t| t.sign(1, b"data")).unwrap();
        t.session(1).unwrap().end(crate::session::OpKind::Sign);
        assert!(matches!(t.login_state(), LoginState::User { .. }));
    }
    // SignInit, then only status queries for a minute: C_Sign is refused.
    call(&mut t, |t| {
        t.sign_init(&handles, 1, &Mechanism::new(CKM_SHA256_RSA_PKCS), key)
    })
    .unwrap();
    for _ in 0..60 {
        clock.advance(Duration::from_secs(1));
        call(&mut t, |t| t.info());
    }
    assert_eq!(
        call(&mut t, |t| t.sign(1, b"data")),
        Err(Error::UserNotLoggedIn)
    );
    assert_eq!(
        call(&mut t, |t| t.sign(1, b"data")),
        Err(Error::OperationNotInitialized),
        "once"
    );
}

#[test]
fn login_lost_drops_to_public() {
    let c = Arc::new(Mutex::new(Counters::default()));
    let m = Mock {
        c,
        tries: 3,
        lost: false,
        logged_in: false,
        timeout_minutes: 0,
    };
    let mut t = Token::new(Box::new(m), Config::default()).unwrap();
    t.open_session(1, false).unwrap();
    t.login(CKU_USER, b"1234").unwrap();
    t.expire();
    assert!(matches!(t.login_state(), LoginState::User { .. }));
    // A backend that lost the card's state: rebuild it with the flag set.
    let c = Arc::new(Mutex::new(Counters::default()));
    let m = Mock {
        c,
        tries: 3,
        lost: true,
        logged_in: true,
        timeout_minutes: 0,
    };
    let mut t = Token::new(Box::new(m), Config::default()).unwrap();
    t.open_session(1, false).unwrap();
    t.login(CKU_USER, b"1234").unwrap();
    t.expire();
    assert_eq!(t.login_state(), LoginState::Public);
}

#[test]
fn one_card_operation_per_signature() {
    let (mut t, c, _) = token(0);
    let handles = Handles::default();
    t.open_session(1, false).unwrap();
    t.login(CKU_USER, b"1234").unwrap();
    let key = t.find(&handles, &crate::attr::Template::default()).unwrap()[0];
    t.sign_init(&handles, 1, &Mechanism::new(CKM_SHA256_RSA_PKCS), key)
        .unwrap();
    let a = t.sign(1, b"data").unwrap();
    let b = t.sign(1, b"data").unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 128);
    assert_eq!(c.lock().unwrap().rsa_raw, 1);
    // Closing the last session logs out.
    t.close_session(1).unwrap();
    assert_eq!(t.login_state(), LoginState::Public);
}

/// C_InitToken refuses (CKR_ARGUMENTS_BAD, before any card access) while a setting it writes
/// was refused, or the settings built in code are out of range; other settings do not matter.
#[test]
fn init_token_refuses_invalid_settings() {
    let mock = || Mock {
        c: Arc::new(Mutex::new(Counters::default())),
        tries: 3,
        lost: false,
        logged_in: false,
        timeout_minutes: 0,
    };
    let mut config = Config::default();
    config.apply_file("user_pin_max_tries = 11\n");
    assert_eq!(config.errors.len(), 1);
    let c = mock().c.clone();
    let mut t = Token::new(
        Box::new(Mock {
            c: c.clone(),
            ..mock()
        }),
        config,
    )
    .unwrap();
    assert!(matches!(
        t.init_token(b"12345678", "x"),
        Err(Error::ArgumentsBad(_))
    ));
    assert_eq!(c.lock().unwrap().login, 0, "the SO PIN was not even tried");
    // Everything else works.
    t.open_session(1, false).unwrap();
    t.login(CKU_USER, b"1234").unwrap();

    let config = Config {
        init: crate::config::InitSettings {
            so_max_tries: 11,
            ..Default::default()
        },
        ..Config::default()
    };
    let mut t = Token::new(Box::new(mock()), config).unwrap();
    assert!(matches!(
        t.init_token(b"12345678", "x"),
        Err(Error::ArgumentsBad(_))
    ));

    // A refused setting that C_InitToken does not write does not block it.
    let mut config = Config::default();
    config.apply_file("pcsc = perhaps\nauth_timeout_secs = soon\n");
    assert_eq!(config.errors.len(), 2);
    let mut t = Token::new(Box::new(mock()), config).unwrap();
    t.init_token(b"1234", "x").unwrap();
}

/// CKR_PIN_LOCKED from C_Login / C_SetPIN writes "<serial>: PIN locked. <locked_message>" once
/// per token (and role).
#[test]
fn pin_locked_notice_once_per_token() {
    let (notices, lines) = crate::notice::Notices::recording();
    let config = Config {
        notices,
        locked_message: Some("Call the help desk: 0120-000-000".into()),
        ..Config::default()
    };
    let m = Mock {
        c: Arc::new(Mutex::new(Counters::default())),
        tries: 3,
        lost: false,
        logged_in: false,
        timeout_minutes: 0,
    };
    let mut t = Token::new(Box::new(m), config).unwrap();
    t.open_session(1, true).unwrap();
    assert_eq!(t.login(CKU_USER, b"9999"), Err(Error::PinIncorrect));
    assert_eq!(t.login(CKU_USER, b"9999"), Err(Error::PinIncorrect));
    assert!(lines.lock().unwrap().is_empty());
    assert_eq!(t.login(CKU_USER, b"9999"), Err(Error::PinLocked));
    assert_eq!(t.login(CKU_USER, b"1234"), Err(Error::PinLocked));
    assert_eq!(t.set_pin(1, b"1234", b"5678"), Err(Error::PinLocked));
    assert_eq!(
        *lines.lock().unwrap(),
        vec!["0011223344556677: PIN locked. Call the help desk: 0120-000-000".to_string()]
    );
    // Without a message: just the fact.
    assert_eq!(
        crate::notice::Notices::locked_text("0011", false, None),
        "0011: PIN locked."
    );
}

/// A new PIN in full-width digits is refused before any APDU; login accepts whatever bytes.
#[test]
fn full_width_new_pin_is_refused() {
    let (mut t, c, _) = token(0);
    t.open_session(1, true).unwrap();
    let before = c.lock().unwrap().login;
    assert_eq!(
        t.set_pin(1, b"1234", "１２３４５".as_bytes()),
        Err(Error::PinInvalid)
    );
    assert_eq!(
        t.set_pin(1, b"1234", "１２３４５６".as_bytes()),
        Err(Error::PinInvalid)
    );
    assert_eq!(c.lock().unwrap().login, before);
    // C_Login does not reject a non-ASCII PIN: only the card can tell (here: wrong).
    assert_eq!(
        t.login(CKU_USER, "１２３４".as_bytes()),
        Err(Error::PinIncorrect)
    );
    assert_eq!(c.lock().unwrap().login, before + 1);
}
