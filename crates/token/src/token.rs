//! One present token: its backend, login state, object cache and sessions.
//!
//! Everything here runs with the token's slot mutex held (see [`crate::module`] for the lock
//! order), which also serialises card I/O.

use crate::attr::{b, ul, AttrType, AttrValue, Template, SENSITIVE_PRIVATE, SETTABLE};
use crate::config::Config;
use crate::crypto::{self, HashAlg, PublicKey};
use crate::error::{Error, Result};
use crate::login::{check_login_pin, check_pin, LoginState, PinCounter};
use crate::mechanism::{MechParams, Mechanism};
use crate::session::Session;
use cryptoki_sys::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use token_backend::{
    BackendError, InitParams, KeyGenSpec, KeyType, KeyUsage, NewObject, ObjectKind, ObjectMeta,
    PinRole, TokenBackend, TokenDescription,
};
use zeroize::Zeroizing;

#[path = "import.rs"]
mod import;
pub use import::{KeyImport, PrivateKeyMaterial};

#[path = "activity.rs"]
mod activity;
pub use activity::LoginUse;

#[path = "ids.rs"]
mod ids;
pub use ids::derived_id;

#[path = "operations.rs"]
mod operations;

#[path = "scheme.rs"]
mod scheme;
pub(crate) use scheme::Accumulator;
pub use scheme::{digest_op, SignScheme};

/// Monotonic handle source: session and object handles are never reused, not even across
/// `C_Finalize` / `C_Initialize` in one process (the counter is process-wide).
#[derive(Debug, Default)]
pub struct Handles(());

static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

impl Handles {
    /// A fresh handle.
    pub fn next(&self) -> CK_ULONG {
        NEXT_HANDLE.fetch_add(1, Ordering::Relaxed) as CK_ULONG
    }
}

/// A search this soon after the token was opened uses the directory read at the opening.
const JUST_OPENED: Duration = Duration::from_secs(1);

/// One cached object.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) handle: CK_OBJECT_HANDLE,
    pub(crate) meta: ObjectMeta,
    pub(crate) value: Option<Vec<u8>>,
    public: Option<Option<PublicKey>>,
}

/// What `CK_TOKEN_INFO` needs, in plain data.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// The backend's description.
    pub desc: TokenDescription,
    /// `CKF_*` flags.
    pub flags: CK_FLAGS,
    /// Open sessions.
    pub sessions: usize,
    /// Open R/W sessions.
    pub rw_sessions: usize,
}

/// A present token.
pub struct Token {
    pub(crate) backend: Box<dyn TokenBackend>,
    pub(crate) desc: TokenDescription,
    pub(crate) login: LoginState,
    pub(crate) user_pin: PinCounter,
    pub(crate) so_pin: PinCounter,
    /// The card's tries query was asked (or found unnecessary) since the token was opened.
    counters_probed: bool,
    pub(crate) objects: Option<Vec<Entry>>,
    /// When the backend was opened (it read the directory then).
    opened: Instant,
    /// Open sessions of this token.
    pub sessions: HashMap<CK_SESSION_HANDLE, Session>,
    config: Config,
}

fn check_bool(t: &Template, ty: AttrType, want: bool) -> Result<()> {
    match t.bool(ty)? {
        Some(v) if v != want => Err(Error::TemplateInconsistent),
        _ => Ok(()),
    }
}

impl Token {
    /// Wrap a freshly opened backend.
    pub fn new(mut backend: Box<dyn TokenBackend>, config: Config) -> Result<Token> {
        let desc = backend.describe()?;
        let opened = config.clock.now();
        let mut t = Token {
            backend,
            desc,
            login: LoginState::Public,
            user_pin: PinCounter::default(),
            so_pin: PinCounter::default(),
            counters_probed: false,
            objects: None,
            opened,
            sessions: HashMap::new(),
            config,
        };
        t.refresh_counters();
        Ok(t)
    }

    /// Learn what the directory says of both PINs (existence, maximum tries) without spending
    /// APDUs on the card's tries query: opening a token costs no tries query. The tries left
    /// are asked once, by the first [`Token::info`] ([`Token::probe_counters`]), for each PIN
    /// whose tries no PIN result told yet; afterwards every login/`C_SetPIN` result updates
    /// them (`WrongPin { tries_left }`, `PinLocked`, success), and `C_Login` on a PIN believed
    /// locked asks the card again.
    pub(crate) fn refresh_counters(&mut self) {
        self.counters_probed = false;
        if !self.desc.initialized {
            self.user_pin = PinCounter {
                initialized: false,
                ..PinCounter::default()
            };
            self.so_pin = PinCounter {
                initialized: false,
                ..PinCounter::default()
            };
            return;
        }
        if let Ok(s) = self.backend.pin_info(PinRole::User) {
            self.user_pin = PinCounter::from_status(&s);
        }
        if let Ok(s) = self.backend.pin_info(PinRole::So) {
            self.so_pin = PinCounter::from_status(&s);
        }
    }

    /// Once per token open: ask the card's tries query (no try spent) for each initialised PIN
    /// whose tries left are still unknown, so that `CK_TOKEN_INFO` of a fresh process shows
    /// `CKF_*_PIN_LOCKED`/`FINAL_TRY`/`COUNT_LOW`. A PIN without retry counter (max 0) costs
    /// no APDU (the backend knows there is nothing to ask). A failed query leaves "unknown".
    fn probe_counters(&mut self) {
        if self.counters_probed || !self.desc.initialized {
            return;
        }
        self.counters_probed = true;
        for role in [PinRole::User, PinRole::So] {
            let c = *self.counter(role);
            if !c.initialized || c.tries_left.is_some() {
                continue;
            }
            match self.backend.pin_status(role) {
                Ok(s) => *self.counter(role) = PinCounter::from_status(&s),
                Err(e) => tracing::debug!(error = %e, "tries query failed"),
            }
        }
    }

    fn timeout(&self) -> Option<Duration> {
        match self.config.auth_timeout_override {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None if self.desc.auth_timeout_minutes == 0 => None,
            None => Some(Duration::from_secs(
                u64::from(self.desc.auth_timeout_minutes) * 60,
            )),
        }
    }

    fn drop_login(&mut self) {
        self.login = LoginState::Public;
        self.clear_private_ops();
    }

    fn clear_private_ops(&mut self) {
        for s in self.sessions.values_mut() {
            s.clear_ops();
        }
    }

    /// The login state.
    pub fn login_state(&self) -> LoginState {
        self.login
    }

    /// `CK_TOKEN_INFO` data.
    pub fn info(&mut self) -> TokenInfo {
        self.probe_counters();
        let mut flags = CKF_RNG;
        if self.desc.initialized {
            flags |= CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED;
            if self.user_pin.initialized {
                flags |= CKF_USER_PIN_INITIALIZED;
            }
        }
        if self.desc.write_protected.is_some() {
            flags |= CKF_WRITE_PROTECTED;
        }
        flags |= self.user_pin.user_flags() | self.so_pin.so_flags();
        let mut desc = self.desc.clone();
        if self.is_emulated() {
            // CK_TOKEN_INFO.model has 16 bytes: keep "emulated" visible there and in the
            // manufacturer.
            desc.model = "ePass2003 (emul)".into();
            if !desc.manufacturer.to_ascii_lowercase().contains("emulat") {
                desc.manufacturer = format!("{} (emulated)", desc.manufacturer);
            }
        }
        TokenInfo {
            desc,
            flags,
            sessions: self.sessions.len(),
            rw_sessions: self.sessions.values().filter(|s| s.rw).count(),
        }
    }

    /// Whether the token is emulated (from its model string).
    pub fn is_emulated(&self) -> bool {
        self.desc.model.to_ascii_lowercase().contains("emulat")
    }

    /// Map a backend error, updating counters and noticing removal.
    pub(crate) fn be(&mut self, e: BackendError) -> Error {
        if e == BackendError::NotLoggedIn && self.login != LoginState::Public {
            self.drop_login();
        }
        e.into()
    }

    // ---------------------------------------------------------------- sessions

    /// `C_OpenSession`.
    pub fn open_session(&mut self, handle: CK_SESSION_HANDLE, rw: bool) -> Result<()> {
        if !rw && matches!(self.login, LoginState::So { .. }) {
            return Err(Error::SessionReadWriteSoExists);
        }
        self.sessions.insert(handle, Session::new(rw));
        Ok(())
    }

    /// `C_CloseSession`; the last session closed logs out.
    pub fn close_session(&mut self, handle: CK_SESSION_HANDLE) -> Result<()> {
        self.sessions
            .remove(&handle)
            .ok_or(Error::SessionHandleInvalid)?;
        if self.sessions.is_empty() && self.login != LoginState::Public {
            let _ = self.backend.logout();
            self.login = LoginState::Public;
        }
        Ok(())
    }

    /// The session, or `CKR_SESSION_HANDLE_INVALID`.
    pub fn session(&mut self, h: CK_SESSION_HANDLE) -> Result<&mut Session> {
        self.sessions.get_mut(&h).ok_or(Error::SessionHandleInvalid)
    }

    /// `CKS_*` of a session.
    pub fn session_state(&self, h: CK_SESSION_HANDLE) -> Result<CK_STATE> {
        let s = self.sessions.get(&h).ok_or(Error::SessionHandleInvalid)?;
        Ok(match (self.login, s.rw) {
            (LoginState::Public, false) => CKS_RO_PUBLIC_SESSION,
            (LoginState::Public, true) => CKS_RW_PUBLIC_SESSION,
            (LoginState::User { .. }, false) => CKS_RO_USER_FUNCTIONS,
            (LoginState::User { .. }, true) => CKS_RW_USER_FUNCTIONS,
            (LoginState::So { .. }, _) => CKS_RW_SO_FUNCTIONS,
        })
    }

    pub(crate) fn require_rw(&mut self, h: CK_SESSION_HANDLE) -> Result<()> {
        if self.session(h)?.rw {
            Ok(())
        } else {
            Err(Error::SessionReadOnly)
        }
    }

    pub(crate) fn require_user(&self) -> Result<()> {
        match self.login {
            LoginState::User { .. } => Ok(()),
            _ => Err(Error::UserNotLoggedIn),
        }
    }

    // ---------------------------------------------------------------- login

    fn role(user_type: CK_USER_TYPE) -> Result<PinRole> {
        match user_type {
            CKU_USER => Ok(PinRole::User),
            CKU_SO => Ok(PinRole::So),
            CKU_CONTEXT_SPECIFIC => Err(Error::OperationNotInitialized),
            _ => Err(Error::UserTypeInvalid),
        }
    }

    pub(crate) fn counter(&mut self, role: PinRole) -> &mut PinCounter {
        match role {
            PinRole::User => &mut self.user_pin,
            PinRole::So => &mut self.so_pin,
        }
    }

    fn policy(&self, role: PinRole) -> &token_backend::PinPolicy {
        match role {
            PinRole::User => &self.desc.user_pin_policy,
            PinRole::So => &self.desc.so_pin_policy,
        }
    }

    pub(crate) fn pin_result(
        &mut self,
        role: PinRole,
        r: std::result::Result<(), BackendError>,
    ) -> Result<()> {
        match r {
            Ok(()) => {
                self.counter(role).success();
                Ok(())
            }
            Err(BackendError::WrongPin { tries_left }) => {
                self.counter(role).wrong(tries_left);
                Err(if tries_left == 0 {
                    Error::PinLocked
                } else {
                    Error::PinIncorrect
                })
            }
            Err(BackendError::WrongPinNoCounter) => {
                self.counter(role).uncounted();
                Err(Error::PinIncorrect)
            }
            Err(BackendError::PinLocked) => {
                self.counter(role).wrong(0);
                Err(Error::PinLocked)
            }
            Err(e) => Err(self.be(e)),
        }
    }

    /// A `CKR_PIN_LOCKED` answer of `C_Login`/`C_SetPIN`: the once-per-token notice
    /// ([`crate::notice`]).
    fn notice_locked<T>(&self, role: PinRole, r: Result<T>) -> Result<T> {
        if matches!(r, Err(Error::PinLocked)) {
            self.config.notices.pin_locked(
                &self.desc.serial,
                role == PinRole::So,
                self.config.locked_message.as_deref(),
            );
        }
        r
    }

    /// `C_Login`.
    pub fn login(&mut self, user_type: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let r = self.login_inner(user_type, pin);
        match Self::role(user_type) {
            Ok(role) => self.notice_locked(role, r),
            Err(_) => r,
        }
    }

    fn login_inner(&mut self, user_type: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let role = Self::role(user_type)?;
        if !self.desc.initialized {
            return Err(Error::UserPinNotInitialized);
        }
        self.login.check_login(role)?;
        if role == PinRole::So && self.sessions.values().any(|s| !s.rw) {
            return Err(Error::SessionReadOnlyExists);
        }
        if role == PinRole::User && !self.user_pin.initialized {
            return Err(Error::UserPinNotInitialized);
        }
        check_login_pin(self.policy(role), pin).map_err(|e| match e {
            Error::PinInvalid => Error::PinIncorrect,
            e => e,
        })?;
        if self.counter(role).locked() {
            // Another process (or the SO) may have unblocked it: ask the card (no try spent).
            if let Ok(s) = self.backend.pin_status(role) {
                *self.counter(role) = PinCounter::from_status(&s);
            }
            if self.counter(role).locked() {
                return Err(Error::PinLocked);
            }
        }
        let r = self.backend.login(role, pin);
        self.pin_result(role, r)?;
        self.login = self.login.logged_in(role, self.config.clock.now());
        Ok(())
    }

    /// `C_Logout`.
    pub fn logout(&mut self) -> Result<()> {
        self.login = self.login.logout()?;
        self.clear_private_ops();
        self.backend.logout().map_err(|e| self.be(e))
    }

    /// `C_InitPIN`: the SO sets (and unblocks) the user PIN.
    pub fn init_pin(&mut self, h: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        self.require_rw(h)?;
        if !matches!(self.login, LoginState::So { .. }) {
            return Err(Error::UserNotLoggedIn);
        }
        self.used_login(LoginUse::SetPin);
        check_pin(&self.desc.user_pin_policy, pin)?;
        self.backend.init_user_pin(pin).map_err(|e| self.be(e))?;
        self.user_pin.initialized = true;
        self.user_pin.success();
        if let Ok(s) = self.backend.pin_status(PinRole::User) {
            self.user_pin = PinCounter::from_status(&s);
        }
        Ok(())
    }

    /// `C_SetPIN`: the logged-in role's PIN, or the user's when public.
    pub fn set_pin(&mut self, h: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
        let role = match self.login {
            LoginState::So { .. } => PinRole::So,
            _ => PinRole::User,
        };
        let r = self.set_pin_inner(h, role, old, new);
        self.notice_locked(role, r)
    }

    fn set_pin_inner(
        &mut self,
        h: CK_SESSION_HANDLE,
        role: PinRole,
        old: &[u8],
        new: &[u8],
    ) -> Result<()> {
        self.require_rw(h)?;
        self.used_login(LoginUse::SetPin);
        check_pin(self.policy(role), new)?;
        if old == new {
            return Err(Error::PinInvalid);
        }
        if old.len() > usize::from(self.policy(role).max_len) || old.is_empty() {
            return Err(Error::PinLenRange);
        }
        if self.counter(role).locked() {
            return Err(Error::PinLocked);
        }
        let r = self.backend.change_pin(role, old, new);
        self.pin_result(role, r)
    }

    /// `C_InitToken`: erase and create, with the SO PIN and the configured policy.
    pub fn init_token(&mut self, so_pin: &[u8], label: &str) -> Result<()> {
        if !self.sessions.is_empty() {
            return Err(Error::SessionExists);
        }
        if self.desc.write_protected.is_some() && !self.desc.initialized {
            return Err(Error::TokenWriteProtected);
        }
        if let Some(e) = self.config.init_error() {
            // Never initialise a token with a setting other than the one asked for.
            tracing::warn!(error = %e, "C_InitToken refused: invalid configuration");
            return Err(Error::ArgumentsBad(
                "invalid C_InitToken configuration (see the message at C_Initialize)",
            ));
        }
        check_pin(&self.config.init.so_pin_policy, so_pin)?;
        if self.desc.initialized && self.so_pin.initialized {
            // The current SO PIN authorises re-initialisation.
            if self.so_pin.locked() {
                return Err(Error::PinLocked);
            }
            let r = self.backend.login(PinRole::So, so_pin);
            self.pin_result(PinRole::So, r)?;
        }
        let params = InitParams {
            label,
            so_pin,
            user_pin: None,
            user_max_tries: self.config.init.user_max_tries,
            so_max_tries: self.config.init.so_max_tries,
            user_pin_policy: self.config.init.user_pin_policy.clone(),
            so_pin_policy: self.config.init.so_pin_policy.clone(),
            auth_timeout_minutes: self.config.init.auth_timeout_minutes,
        };
        self.backend.init_token(&params).map_err(|e| match e {
            BackendError::InvalidInput(_) => Error::ArgumentsBad("C_InitToken settings"),
            e => self.be(e),
        })?;
        self.after_init()
    }

    // ---------------------------------------------------------------- objects

    pub(crate) fn ensure_objects(&mut self, handles: &Handles) -> Result<()> {
        if self.objects.is_none() {
            if !self.desc.initialized {
                self.objects = Some(Vec::new());
                return Ok(());
            }
            let metas = self.backend.objects().map_err(|e| self.be(e))?;
            self.objects = Some(
                metas
                    .into_iter()
                    .map(|meta| Entry {
                        handle: handles.next(),
                        meta,
                        value: None,
                        public: None,
                    })
                    .collect(),
            );
        }
        Ok(())
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        self.objects.as_deref().unwrap_or(&[])
    }

    fn visible(&self, m: &ObjectMeta) -> bool {
        !m.private || matches!(self.login, LoginState::User { .. })
    }

    pub(crate) fn index(&mut self, handles: &Handles, h: CK_OBJECT_HANDLE) -> Result<usize> {
        self.ensure_objects(handles)?;
        let i = self
            .entries()
            .iter()
            .position(|e| e.handle == h)
            .ok_or(Error::ObjectHandleInvalid)?;
        if !self.visible(&self.entries()[i].meta) {
            return Err(Error::ObjectHandleInvalid);
        }
        if self.entries()[i].meta.private {
            self.used_login(LoginUse::PrivateObject);
        }
        Ok(i)
    }

    fn entry_mut(&mut self, i: usize) -> &mut Entry {
        // `i` comes from `index`, under the same lock.
        &mut self.objects.get_or_insert_with(Vec::new)[i]
    }

    pub(crate) fn value(&mut self, i: usize) -> Result<Vec<u8>> {
        if let Some(v) = &self.entries()[i].value {
            return Ok(v.clone());
        }
        let r = self.entries()[i].meta.reference;
        let v = self.backend.read_value(r).map_err(|e| self.be(e))?;
        self.entry_mut(i).value = Some(v.clone());
        Ok(v)
    }

    fn sibling(&self, i: usize, kind: ObjectKind) -> Option<usize> {
        let id = &self.entries()[i].meta.id;
        if id.is_empty() {
            return None;
        }
        self.entries()
            .iter()
            .position(|e| e.meta.kind == kind && &e.meta.id == id)
    }

    fn public_key(&mut self, i: usize) -> Result<Option<PublicKey>> {
        if let Some(p) = &self.entries()[i].public {
            return Ok(p.clone());
        }
        let p = match self.entries()[i].meta.kind {
            ObjectKind::PublicKey => PublicKey::from_spki(&self.value(i)?),
            ObjectKind::Certificate => PublicKey::from_certificate(&self.value(i)?),
            ObjectKind::PrivateKey => {
                if let Some(j) = self.sibling(i, ObjectKind::PublicKey) {
                    self.public_key(j)?
                } else if let Some(j) = self.sibling(i, ObjectKind::Certificate) {
                    self.public_key(j)?
                } else {
                    None
                }
            }
            ObjectKind::Data => None,
        };
        self.entry_mut(i).public = Some(p.clone());
        Ok(p)
    }

    fn key_type(&mut self, i: usize) -> Result<Option<KeyType>> {
        if let Some(k) = self.entries()[i].meta.key_type {
            return Ok(Some(k));
        }
        Ok(match self.public_key(i)? {
            Some(PublicKey::Rsa { n, .. }) => Some(KeyType::Rsa {
                bits: (n.len() * 8) as u16,
            }),
            Some(PublicKey::EcP256 { .. }) => Some(KeyType::EcP256),
            None => None,
        })
    }

    /// `CKA_HASH_OF_ISSUER_PUBLIC_KEY` of the certificate `der`: the key hash of the
    /// certificate on the token whose subject is its issuer (itself, when self-issued), else
    /// empty (unknown). Reads the values of certificates only when asked.
    fn issuer_key_hash(&mut self, der: &[u8]) -> Result<Vec<u8>> {
        use der::{Decode, Encode};
        let Ok(c) = x509_cert::Certificate::from_der(der) else {
            return Ok(Vec::new());
        };
        if c.tbs_certificate.issuer == c.tbs_certificate.subject {
            return Ok(crate::cert_attrs::key_hash(&c));
        }
        let issuer = c.tbs_certificate.issuer.to_der().unwrap_or_default();
        for j in 0..self.entries().len() {
            if self.entries()[j].meta.kind != ObjectKind::Certificate {
                continue;
            }
            let v = self.value(j)?;
            if let Ok(ic) = x509_cert::Certificate::from_der(&v) {
                if ic.tbs_certificate.subject.to_der().ok().as_deref() == Some(issuer.as_slice()) {
                    return Ok(crate::cert_attrs::key_hash(&ic));
                }
            }
        }
        Ok(Vec::new())
    }

    fn cert_field(
        &mut self,
        i: usize,
        f: fn(&x509_cert::Certificate) -> der::Result<Vec<u8>>,
    ) -> Result<AttrValue> {
        use der::Decode;
        let v = self.value(i)?;
        Ok(
            match x509_cert::Certificate::from_der(&v)
                .ok()
                .and_then(|c| f(&c).ok())
            {
                Some(x) => AttrValue::Value(x),
                None => AttrValue::Value(Vec::new()),
            },
        )
    }

    /// One attribute of object `i`.
    fn attribute(&mut self, i: usize, ty: AttrType) -> Result<AttrValue> {
        use der::Encode;
        use AttrValue::{Invalid, Sensitive, Value};
        let m = self.entries()[i].meta.clone();
        let class = match m.kind {
            ObjectKind::Certificate => CKO_CERTIFICATE,
            ObjectKind::PublicKey => CKO_PUBLIC_KEY,
            ObjectKind::PrivateKey => CKO_PRIVATE_KEY,
            ObjectKind::Data => CKO_DATA,
        };
        // Common storage attributes.
        match ty {
            CKA_CLASS => return Ok(Value(ul(class))),
            CKA_TOKEN => return Ok(Value(b(true))),
            CKA_PRIVATE => return Ok(Value(b(m.private))),
            CKA_MODIFIABLE => return Ok(Value(b(m.modifiable))),
            CKA_DESTROYABLE => return Ok(Value(b(m.modifiable))),
            CKA_COPYABLE => return Ok(Value(b(false))),
            CKA_LABEL => return Ok(Value(m.label.clone().into_bytes())),
            _ => {}
        }
        let is_key = matches!(m.kind, ObjectKind::PublicKey | ObjectKind::PrivateKey);
        if is_key {
            let kt = self.key_type(i)?;
            match ty {
                CKA_KEY_TYPE => {
                    return Ok(match kt {
                        Some(KeyType::Rsa { .. }) => Value(ul(CKK_RSA)),
                        Some(KeyType::EcP256) => Value(ul(CKK_EC)),
                        None => Value(ul(CKK_RSA)),
                    })
                }
                CKA_ID => return Ok(Value(m.id.clone())),
                CKA_START_DATE | CKA_END_DATE => return Ok(Value(Vec::new())),
                CKA_DERIVE => return Ok(Value(b(m.usage.derive))),
                CKA_LOCAL => return Ok(Value(b(m.local))),
                CKA_KEY_GEN_MECHANISM => {
                    return Ok(Value(ul(match (m.local, kt) {
                        (true, Some(KeyType::Rsa { .. })) => CKM_RSA_PKCS_KEY_PAIR_GEN,
                        (true, Some(KeyType::EcP256)) => CKM_EC_KEY_PAIR_GEN,
                        _ => CK_UNAVAILABLE_INFORMATION,
                    })))
                }
                CKA_SUBJECT => {
                    return Ok(match self.sibling(i, ObjectKind::Certificate) {
                        Some(j) => self.cert_field(j, |c| c.tbs_certificate.subject.to_der())?,
                        None => Value(Vec::new()),
                    })
                }
                CKA_PUBLIC_KEY_INFO => {
                    return Ok(match self.public_key(i)? {
                        Some(p) => Value(p.to_spki()?),
                        None => Value(Vec::new()),
                    })
                }
                _ => {}
            }
            // Read the public key (value APDUs) only for the attributes that need it.
            let pk = match ty {
                CKA_MODULUS | CKA_PUBLIC_EXPONENT | CKA_EC_POINT => self.public_key(i)?,
                _ => None,
            };
            match (ty, &pk, kt) {
                (CKA_MODULUS, Some(PublicKey::Rsa { n, .. }), _) => return Ok(Value(n.clone())),
                (CKA_PUBLIC_EXPONENT, Some(PublicKey::Rsa { e, .. }), _) => {
                    return Ok(Value(e.clone()))
                }
                (CKA_MODULUS_BITS, _, Some(KeyType::Rsa { bits })) => {
                    return Ok(Value(ul(CK_ULONG::from(bits))))
                }
                (CKA_EC_PARAMS, _, Some(KeyType::EcP256)) => {
                    return Ok(Value(crypto::P256_PARAMS.to_vec()))
                }
                (CKA_EC_POINT, Some(PublicKey::EcP256 { point }), _) => {
                    return Ok(Value(crypto::der_octet_string(point)))
                }
                _ => {}
            }
        }
        Ok(match (m.kind, ty) {
            (ObjectKind::PrivateKey, t) if SENSITIVE_PRIVATE.contains(&t) => Sensitive,
            (ObjectKind::PrivateKey, CKA_SENSITIVE | CKA_NEVER_EXTRACTABLE) => Value(b(true)),
            (ObjectKind::PrivateKey, CKA_ALWAYS_SENSITIVE) => Value(b(m.local)),
            (ObjectKind::PrivateKey, CKA_EXTRACTABLE) => Value(b(false)),
            (ObjectKind::PrivateKey, CKA_SIGN) => Value(b(m.usage.sign)),
            (ObjectKind::PrivateKey, CKA_DECRYPT) => Value(b(m.usage.decrypt)),
            (ObjectKind::PrivateKey, CKA_UNWRAP) => Value(b(m.usage.unwrap)),
            (
                ObjectKind::PrivateKey,
                CKA_SIGN_RECOVER | CKA_WRAP_WITH_TRUSTED | CKA_ALWAYS_AUTHENTICATE,
            ) => Value(b(false)),
            (ObjectKind::PublicKey, CKA_VERIFY) => Value(b(m.usage.verify || !m.usage.encrypt)),
            (ObjectKind::PublicKey, CKA_ENCRYPT | CKA_WRAP) => Value(b(m.usage.encrypt)),
            (ObjectKind::PublicKey, CKA_VERIFY_RECOVER | CKA_TRUSTED) => Value(b(false)),
            (ObjectKind::Certificate, CKA_CERTIFICATE_TYPE) => Value(ul(CKC_X_509)),
            (ObjectKind::Certificate, CKA_ID) => Value(m.id.clone()),
            (ObjectKind::Certificate, CKA_TRUSTED) => Value(b(false)),
            (ObjectKind::Certificate, CKA_CERTIFICATE_CATEGORY) => {
                let has_key = self.sibling(i, ObjectKind::PrivateKey).is_some();
                Value(ul(if has_key {
                    CK_CERTIFICATE_CATEGORY_TOKEN_USER
                } else {
                    CK_CERTIFICATE_CATEGORY_UNSPECIFIED
                }))
            }
            (ObjectKind::Certificate, CKA_VALUE) => Value(self.value(i)?),
            (ObjectKind::Certificate, CKA_SUBJECT) => {
                self.cert_field(i, |c| c.tbs_certificate.subject.to_der())?
            }
            (ObjectKind::Certificate, CKA_ISSUER) => {
                self.cert_field(i, |c| c.tbs_certificate.issuer.to_der())?
            }
            (ObjectKind::Certificate, CKA_SERIAL_NUMBER) => {
                self.cert_field(i, |c| c.tbs_certificate.serial_number.to_der())?
            }
            (ObjectKind::Certificate, CKA_URL) => Value(Vec::new()),
            (
                ObjectKind::Certificate,
                CKA_START_DATE
                | CKA_END_DATE
                | CKA_CHECK_VALUE
                | CKA_HASH_OF_SUBJECT_PUBLIC_KEY
                | CKA_NAME_HASH_ALGORITHM,
            ) => Value(crate::cert_attrs::derived(&self.value(i)?, ty).unwrap_or_default()),
            (ObjectKind::Certificate, CKA_HASH_OF_ISSUER_PUBLIC_KEY) => {
                let v = self.value(i)?;
                Value(self.issuer_key_hash(&v)?)
            }
            (ObjectKind::Certificate, CKA_JAVA_MIDP_SECURITY_DOMAIN) => Value(ul(0)),
            (ObjectKind::Data, CKA_APPLICATION) => {
                Value(m.application.clone().unwrap_or_default().into_bytes())
            }
            (ObjectKind::Data, CKA_OBJECT_ID) => Value(Vec::new()),
            (ObjectKind::Data, CKA_VALUE) => Value(self.value(i)?),
            _ => Invalid,
        })
    }

    /// `C_GetAttributeValue`: one outcome per requested type.
    pub fn get_attributes(
        &mut self,
        handles: &Handles,
        h: CK_OBJECT_HANDLE,
        types: &[AttrType],
    ) -> Result<Vec<AttrValue>> {
        let i = self.index(handles, h)?;
        types.iter().map(|&t| self.attribute(i, t)).collect()
    }

    /// `C_GetObjectSize`: the size of the value, if it has been read or is cheap.
    pub fn object_size(&mut self, handles: &Handles, h: CK_OBJECT_HANDLE) -> Result<CK_ULONG> {
        let i = self.index(handles, h)?;
        Ok(self.entries()[i]
            .value
            .as_ref()
            .map_or(CK_UNAVAILABLE_INFORMATION, |v| v.len() as CK_ULONG))
    }

    /// `C_FindObjectsInit`: all matching visible handles. Objects another process created or
    /// deleted since we listed them show here: the backend's freshness check runs first, except
    /// when the directory was read moments ago by the opening of the token itself (a fresh
    /// process's first search costs no extra APDUs).
    pub fn find(
        &mut self,
        handles: &Handles,
        template: &Template,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let just_opened = self.objects.is_none()
            && self
                .config
                .clock
                .now()
                .saturating_duration_since(self.opened)
                < JUST_OPENED;
        if !just_opened {
            self.refresh_objects(handles)?;
        }
        self.ensure_objects(handles)?;
        let mut out = Vec::new();
        'obj: for i in 0..self.entries().len() {
            if !self.visible(&self.entries()[i].meta) {
                continue;
            }
            for (ty, want) in &template.0 {
                match self.attribute(i, *ty)? {
                    AttrValue::Value(v) if &v == want => {}
                    _ => continue 'obj,
                }
            }
            if self.entries()[i].meta.private {
                self.used_login(LoginUse::PrivateObject);
            }
            out.push(self.entries()[i].handle);
        }
        Ok(out)
    }

    /// Ask the backend whether another process changed the token; if so, re-describe it and
    /// rebuild the object cache. An object whose metadata is unchanged keeps its handle (its
    /// cached value is dropped: the file may have been rewritten); new objects get new handles
    /// (never reused); vanished objects' handles become invalid.
    pub(crate) fn refresh_objects(&mut self, handles: &Handles) -> Result<()> {
        if !self.backend.refresh().map_err(|e| self.be(e))? {
            return Ok(());
        }
        tracing::debug!("token changed by another process; object list re-read");
        let was_initialized = self.desc.initialized;
        self.desc = self.backend.describe().map_err(|e| self.be(e))?;
        if self.desc.initialized != was_initialized {
            self.refresh_counters();
        }
        let Some(mut old) = self.objects.take() else {
            return Ok(());
        };
        if !self.desc.initialized {
            self.objects = Some(Vec::new());
            return Ok(());
        }
        let metas = self.backend.objects().map_err(|e| self.be(e))?;
        let entries = metas
            .into_iter()
            .map(|meta| {
                let handle = match old.iter().position(|e| e.meta == meta) {
                    Some(i) => old.swap_remove(i).handle,
                    None => handles.next(),
                };
                Entry {
                    handle,
                    meta,
                    value: None,
                    public: None,
                }
            })
            .collect();
        self.objects = Some(entries);
        Ok(())
    }

    fn add_entry(&mut self, handles: &Handles, meta: ObjectMeta) -> CK_OBJECT_HANDLE {
        let handle = handles.next();
        self.objects.get_or_insert_with(Vec::new).push(Entry {
            handle,
            meta,
            value: None,
            public: None,
        });
        handle
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        if !self.desc.initialized {
            return Err(Error::TokenNotRecognized);
        }
        if self.desc.write_protected.is_some() {
            return Err(Error::TokenWriteProtected);
        }
        Ok(())
    }

    /// `C_CreateObject`.
    ///
    /// Deviation, for public keys: if a visible public-key object with the same key value
    /// (compared as SubjectPublicKeyInfo) and the same `CKA_ID` is already on the token, its
    /// handle is returned and nothing is written. NSS's `pk12util` creates the public key itself
    /// after our RSA private-key import already wrote it, which would otherwise leave two
    /// identical public-key objects. PKCS#11 leaves room for this: the object the caller gets
    /// has the key, identifier and class it asked for (the existing object's label is kept).
    pub fn create_object(
        &mut self,
        handles: &Handles,
        h: CK_SESSION_HANDLE,
        t: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        self.require_rw(h)?;
        self.check_writable()?;
        self.used_login(LoginUse::WriteObject);
        self.ensure_objects(handles)?;
        let class = t.ulong(CKA_CLASS)?.ok_or(Error::TemplateIncomplete)?;
        check_bool(t, CKA_TOKEN, true)?;
        let label = t.string(CKA_LABEL)?.unwrap_or_default();
        let id = t.bytes(CKA_ID).unwrap_or_default();
        let private = t.bool(CKA_PRIVATE)?;
        if private == Some(true) || class == CKO_PRIVATE_KEY {
            self.require_user()?;
        }
        let meta = match class {
            CKO_CERTIFICATE => {
                if let Some(ct) = t.ulong(CKA_CERTIFICATE_TYPE)? {
                    if ct != CKC_X_509 {
                        return Err(Error::AttributeValueInvalid);
                    }
                }
                let der_v = t.bytes(CKA_VALUE).ok_or(Error::TemplateIncomplete)?;
                use der::Decode;
                x509_cert::Certificate::from_der(&der_v)
                    .map_err(|_| Error::AttributeValueInvalid)?;
                crate::cert_attrs::check_template(t, &der_v)?;
                if let Some(given) = t.raw(CKA_HASH_OF_ISSUER_PUBLIC_KEY) {
                    if !given.is_empty() && self.issuer_key_hash(&der_v)? != given {
                        return Err(Error::TemplateInconsistent);
                    }
                }
                let id = if id.is_empty() {
                    self.certificate_id(&der_v)?
                } else {
                    id
                };
                let authority =
                    t.ulong(CKA_CERTIFICATE_CATEGORY)? == Some(CK_CERTIFICATE_CATEGORY_AUTHORITY);
                let obj = NewObject::Certificate {
                    der: der_v.clone(),
                    label,
                    id,
                    authority,
                };
                let meta = self.backend.create_object(&obj).map_err(|e| self.be(e))?;
                let handle = self.add_entry(handles, meta);
                if let Some(e) = self.objects.as_mut().and_then(|o| o.last_mut()) {
                    e.value = Some(der_v);
                }
                return Ok(handle);
            }
            CKO_DATA => {
                let value = t.bytes(CKA_VALUE).unwrap_or_default();
                let application = t.string(CKA_APPLICATION)?.unwrap_or_default();
                let obj = NewObject::Data {
                    label,
                    application,
                    value,
                    private: private.unwrap_or(false),
                };
                self.backend.create_object(&obj).map_err(|e| self.be(e))?
            }
            CKO_PUBLIC_KEY => {
                let pk = match t.ulong(CKA_KEY_TYPE)?.ok_or(Error::TemplateIncomplete)? {
                    CKK_RSA => PublicKey::Rsa {
                        n: t.bytes(CKA_MODULUS).ok_or(Error::TemplateIncomplete)?,
                        e: t.bytes(CKA_PUBLIC_EXPONENT)
                            .ok_or(Error::TemplateIncomplete)?,
                    },
                    CKK_EC => {
                        if t.raw(CKA_EC_PARAMS).ok_or(Error::TemplateIncomplete)?
                            != crypto::P256_PARAMS
                        {
                            return Err(Error::AttributeValueInvalid);
                        }
                        let p = t.bytes(CKA_EC_POINT).ok_or(Error::TemplateIncomplete)?;
                        PublicKey::EcP256 {
                            point: crypto::unwrap_octet_string(&p),
                        }
                    }
                    _ => return Err(Error::AttributeValueInvalid),
                };
                let spki = pk.to_spki()?;
                if let Some(handle) = self.same_public_key(&spki, &id)? {
                    tracing::debug!("public key already on the token; not written again");
                    return Ok(handle);
                }
                self.backend
                    .create_object(&NewObject::PublicKey { spki, label, id })
                    .map_err(|e| self.be(e))?
            }
            CKO_PRIVATE_KEY => {
                let key = KeyImport::from_template(t, label, id)?;
                return self.import_private_key(handles, h, &key);
            }
            _ => return Err(Error::AttributeValueInvalid),
        };
        Ok(self.add_entry(handles, meta))
    }

    /// The handle of a visible public-key object with this SPKI and `CKA_ID`, if any (reads
    /// only the values of public keys whose identifier matches).
    fn same_public_key(&mut self, spki: &[u8], id: &[u8]) -> Result<Option<CK_OBJECT_HANDLE>> {
        for i in 0..self.entries().len() {
            let e = &self.entries()[i];
            if e.meta.kind != ObjectKind::PublicKey || e.meta.id != id || !self.visible(&e.meta) {
                continue;
            }
            if let Some(pk) = self.public_key(i)? {
                if pk.to_spki()? == spki {
                    return Ok(Some(self.entries()[i].handle));
                }
            }
        }
        Ok(None)
    }

    /// Pick up objects the backend created beside the one we asked for, keeping known handles.
    fn relist(&mut self, handles: &Handles) -> Result<()> {
        let metas = self.backend.objects().map_err(|e| self.be(e))?;
        let old = self.objects.take().unwrap_or_default();
        let mut new = Vec::new();
        for meta in metas {
            match old
                .iter()
                .find(|e| e.meta.reference == meta.reference && e.meta.kind == meta.kind)
            {
                Some(e) => new.push(Entry {
                    handle: e.handle,
                    meta,
                    value: e.value.clone(),
                    public: None,
                }),
                None => new.push(Entry {
                    handle: handles.next(),
                    meta,
                    value: None,
                    public: None,
                }),
            }
        }
        self.objects = Some(new);
        Ok(())
    }

    /// `C_DestroyObject`.
    pub fn destroy_object(
        &mut self,
        handles: &Handles,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        self.require_rw(h)?;
        let i = self.index(handles, o)?;
        self.used_login(LoginUse::WriteObject);
        if !self.entries()[i].meta.modifiable {
            return Err(Error::ActionProhibited);
        }
        let r = self.entries()[i].meta.reference;
        self.backend.delete_object(r).map_err(|e| self.be(e))?;
        self.objects.get_or_insert_with(Vec::new).remove(i);
        Ok(())
    }

    /// `C_SetAttributeValue` (label and id only).
    pub fn set_attributes(
        &mut self,
        handles: &Handles,
        h: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        t: &Template,
    ) -> Result<()> {
        self.require_rw(h)?;
        let i = self.index(handles, o)?;
        self.used_login(LoginUse::WriteObject);
        for ty in t.types() {
            if SETTABLE.contains(&ty) {
                continue;
            }
            // A key's CKA_SUBJECT is derived from its certificate (same CKA_ID). NSS sets it on
            // a key it has just imported, before it writes the certificate: accept it while the
            // key has no subject yet, or when the value is unchanged; never store a subject the
            // certificate would contradict.
            if ty == CKA_SUBJECT
                && matches!(
                    self.entries()[i].meta.kind,
                    ObjectKind::PrivateKey | ObjectKind::PublicKey
                )
            {
                let given = t.bytes(CKA_SUBJECT).unwrap_or_default();
                match self.attribute(i, CKA_SUBJECT)? {
                    AttrValue::Value(cur) if cur.is_empty() || cur == given => continue,
                    _ => {}
                }
            }
            tracing::debug!(
                attribute = format_args!("{ty:#x}"),
                "C_SetAttributeValue: not settable"
            );
            return Err(Error::AttributeReadOnly);
        }
        if !self.entries()[i].meta.modifiable {
            return Err(Error::ActionProhibited);
        }
        let label = t.string(CKA_LABEL)?;
        let id = t.bytes(CKA_ID);
        if label.is_none() && id.is_none() {
            return Ok(()); // only an accepted, derived CKA_SUBJECT: nothing to write
        }
        let r = self.entries()[i].meta.reference;
        let meta = self
            .backend
            .update_object(r, label.as_deref(), id.as_deref())
            .map_err(|e| self.be(e))?;
        let e = self.entry_mut(i);
        e.meta = meta;
        e.public = None;
        Ok(())
    }

    /// `C_GenerateKeyPair`: returns (public, private) handles.
    pub fn generate_key_pair(
        &mut self,
        handles: &Handles,
        h: CK_SESSION_HANDLE,
        mech: &Mechanism,
        public: &Template,
        private: &Template,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        self.require_rw(h)?;
        self.check_writable()?;
        self.require_user()?;
        self.used_login(LoginUse::GenerateKey);
        self.ensure_objects(handles)?;
        let key_type = match mech.mechanism {
            CKM_RSA_PKCS_KEY_PAIR_GEN => {
                let bits = public
                    .ulong(CKA_MODULUS_BITS)?
                    .ok_or(Error::TemplateIncomplete)?;
                if bits != 1024 && bits != 2048 {
                    return Err(Error::KeySizeRange);
                }
                if let Some(e) = public.raw(CKA_PUBLIC_EXPONENT) {
                    let e: Vec<u8> = e.iter().copied().skip_while(|&x| x == 0).collect();
                    if e != [1, 0, 1] {
                        return Err(Error::AttributeValueInvalid);
                    }
                }
                KeyType::Rsa { bits: bits as u16 }
            }
            CKM_EC_KEY_PAIR_GEN => {
                let p = public.raw(CKA_EC_PARAMS).ok_or(Error::TemplateIncomplete)?;
                if p != crypto::P256_PARAMS {
                    return Err(Error::AttributeValueInvalid);
                }
                KeyType::EcP256
            }
            _ => return Err(Error::MechanismInvalid),
        };
        check_bool(private, CKA_EXTRACTABLE, false)?;
        check_bool(private, CKA_SENSITIVE, true)?;
        let label = match private.string(CKA_LABEL)? {
            Some(l) => l,
            None => public.string(CKA_LABEL)?.unwrap_or_default(),
        };
        let id = private.bytes(CKA_ID).or_else(|| public.bytes(CKA_ID));
        let rsa = matches!(key_type, KeyType::Rsa { .. });
        let spec = KeyGenSpec {
            key_type,
            label,
            id,
            usage: KeyUsage {
                sign: private.bool(CKA_SIGN)?.unwrap_or(true),
                decrypt: private.bool(CKA_DECRYPT)?.unwrap_or(rsa) && rsa,
                unwrap: private
                    .bool(CKA_UNWRAP)?
                    .unwrap_or(private.bool(CKA_DECRYPT)?.unwrap_or(rsa))
                    && rsa,
                derive: false,
                ..KeyUsage::default()
            },
        };
        let (prv, publ) = self
            .backend
            .generate_key_pair(&spec)
            .map_err(|e| self.be(e))?;
        let hp = self.add_entry(handles, publ);
        let hk = self.add_entry(handles, prv);
        Ok((hp, hk))
    }

    /// `C_GenerateRandom`.
    pub fn random(&mut self, len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let n = (len - out.len()).min(128);
            let r = self.backend.random(n).map_err(|e| self.be(e))?;
            if r.is_empty() {
                return Err(Error::Device("empty random".into()));
            }
            out.extend_from_slice(&r[..r.len().min(n)]);
        }
        Ok(out)
    }
}
