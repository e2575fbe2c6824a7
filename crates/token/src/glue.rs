//! The one place that names the ePass2003 implementations of `TokenBackend`, and picks one by
//! the card's layout: OpenSC-compatible PKCS#15 (read/write; also blank cards), or a token
//! personalised by Feitian's middleware ("ENTERSAFE-ESPK": objects read-only, user PIN
//! changeable).
//!
//! A Feitian-middleware token becomes writable only by re-initialising it (`C_InitToken`), which
//! erases it and creates PKCS#15. Its only known secret is the user PIN, so `C_InitToken` must
//! be given that PIN (it becomes the new SO PIN): a certificate a user received on such a token
//! is not wiped by a call that knows nothing about the token.

use crate::error::{Error, Result};
use epass2003::transport::Transport;
use epass2003::Connection;
use pkcs15::card::{Epass2003Token, OpenOptions};
use pkcs15::espk::{EspkOptions, EspkToken};
use token_backend::{
    BackendError, CardFacts, EcKeyImport, InitParams, KeyGenSpec, NewObject, ObjectMeta, ObjectRef,
    PinRole, PinStatus, RsaKeyImport, TokenBackend, TokenDescription,
};

type Conn = Connection<Box<dyn Transport>>;

/// Open the object layer that matches the card's layout. The emulated card is in-process, so
/// its directory is read directly (no on-disk cache).
pub(crate) fn open_backend(conn: Conn, emulated: bool) -> Result<Box<dyn TokenBackend>> {
    let map = |e: BackendError| match e {
        BackendError::Removed => Error::TokenNotPresent,
        e => e.into(),
    };
    // PKCS#15 first: it is what almost every token carries, and looking for Feitian's
    // application would cost two SELECTs on every start.
    let mut p15 = Epass2003Token::open(conn, pkcs15_options(emulated)).map_err(map)?;
    if p15.describe().map_err(map)?.initialized {
        return Ok(Box::new(Layout::Pkcs15(Box::new(p15))));
    }
    // No PKCS#15: blank, or personalised by Feitian's middleware.
    let mut conn = p15.into_connection();
    let espk = {
        let mut s = conn
            .transaction()
            .map_err(|e| map(pkcs15::card::card_error(e)))?;
        let found = pkcs15::espk::detect(&mut s);
        let _ = s.end();
        found.map_err(map)?
    };
    let layout = if espk {
        let opts = EspkOptions {
            emulated,
            ..EspkOptions::default()
        };
        Layout::Espk(
            Some(Box::new(EspkToken::open(conn, opts).map_err(map)?)),
            emulated,
        )
    } else {
        Layout::Pkcs15(Box::new(
            Epass2003Token::open(conn, pkcs15_options(emulated)).map_err(map)?,
        ))
    };
    Ok(Box::new(layout))
}

fn pkcs15_options(emulated: bool) -> OpenOptions {
    OpenOptions {
        emulated,
        cache_dir: if emulated {
            None
        } else {
            pkcs15::card::cache::default_dir()
        },
    }
}

/// The backend of one token, by layout.
enum Layout {
    /// OpenSC-compatible PKCS#15 (or blank).
    Pkcs15(Box<Epass2003Token<Box<dyn Transport>>>),
    /// Feitian middleware (objects read-only, user PIN changeable). `None` only transiently
    /// during re-initialisation.
    Espk(Option<Box<EspkToken<Box<dyn Transport>>>>, bool),
}

impl Layout {
    fn inner(&mut self) -> token_backend::Result<&mut dyn TokenBackend> {
        match self {
            Layout::Pkcs15(t) => Ok(t.as_mut()),
            Layout::Espk(Some(t), _) => Ok(t.as_mut()),
            Layout::Espk(None, _) => Err(BackendError::Removed),
        }
    }
}

macro_rules! delegate {
    ($( fn $name:ident(&mut self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        $( fn $name(&mut self $(, $arg: $ty)*) -> token_backend::Result<$ret> {
            self.inner()?.$name($($arg),*)
        } )*
    };
}

impl TokenBackend for Layout {
    delegate! {
        fn describe(&mut self) -> TokenDescription;
        fn pin_status(&mut self, role: PinRole) -> PinStatus;
        fn pin_info(&mut self, role: PinRole) -> PinStatus;
        fn login(&mut self, role: PinRole, pin: &[u8]) -> ();
        fn logout(&mut self) -> ();
        fn change_pin(&mut self, role: PinRole, old: &[u8], new: &[u8]) -> ();
        fn init_user_pin(&mut self, new_pin: &[u8]) -> ();
        fn set_label(&mut self, label: &str) -> ();
        fn set_auth_timeout(&mut self, minutes: u16) -> ();
        fn objects(&mut self) -> Vec<ObjectMeta>;
        fn read_value(&mut self, object: ObjectRef) -> Vec<u8>;
        fn generate_key_pair(&mut self, spec: &KeyGenSpec) -> (ObjectMeta, ObjectMeta);
        fn import_rsa_key(&mut self, key: &RsaKeyImport) -> ObjectMeta;
        fn import_ec_key(&mut self, key: &EcKeyImport) -> ObjectMeta;
        fn create_object(&mut self, object: &NewObject) -> ObjectMeta;
        fn delete_object(&mut self, object: ObjectRef) -> ();
        fn rsa_raw(&mut self, key: ObjectRef, block: &[u8]) -> Vec<u8>;
        fn ecdsa_sign(&mut self, key: ObjectRef, hash: &[u8]) -> Vec<u8>;
        fn random(&mut self, len: usize) -> Vec<u8>;
    }

    fn update_object(
        &mut self,
        object: ObjectRef,
        label: Option<&str>,
        id: Option<&[u8]>,
    ) -> token_backend::Result<ObjectMeta> {
        self.inner()?.update_object(object, label, id)
    }

    fn refresh(&mut self) -> token_backend::Result<bool> {
        self.inner()?.refresh()
    }

    fn card_facts(&mut self) -> CardFacts {
        self.inner().map(|t| t.card_facts()).unwrap_or_default()
    }

    fn take_login_lost(&mut self) -> bool {
        self.inner().map(|t| t.take_login_lost()).unwrap_or(false)
    }

    /// PKCS#15: erase and create. Feitian middleware: verify `params.so_pin` as the token's
    /// user PIN, then hand the card to the PKCS#15 backend, which erases it and creates PKCS#15.
    /// Whatever the layout: hand the card to the PKCS#15 backend, whose initialisation starts
    /// with the card's erase (no PIN).
    fn erase_and_init(&mut self, params: &InitParams<'_>) -> token_backend::Result<()> {
        match self {
            Layout::Pkcs15(t) => t.init_token(params),
            Layout::Espk(slot, emulated) => {
                let emulated = *emulated;
                let conn = slot.take().ok_or(BackendError::Removed)?.into_connection();
                let mut p15 = Epass2003Token::open(conn, pkcs15_options(emulated))?;
                let r = p15.init_token(params);
                *self = Layout::Pkcs15(Box::new(p15));
                r
            }
        }
    }

    fn init_token(&mut self, params: &InitParams<'_>) -> token_backend::Result<()> {
        match self {
            Layout::Pkcs15(t) => t.init_token(params),
            Layout::Espk(slot, emulated) => {
                let emulated = *emulated;
                slot.as_mut()
                    .ok_or(BackendError::Removed)?
                    .login(PinRole::User, params.so_pin)?;
                let conn = slot.take().ok_or(BackendError::Removed)?.into_connection();
                let mut p15 = Epass2003Token::open(conn, pkcs15_options(emulated))?;
                let r = p15.init_token(params);
                *self = Layout::Pkcs15(Box::new(p15));
                r
            }
        }
    }
}
