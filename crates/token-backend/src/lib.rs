//! `TokenBackend`: what the PKCS#11 layer (`crates/token`) needs from one token.
//!
//! The trait is card-agnostic and object-level. `crates/pkcs15` implements it for an ePass2003
//! with OpenSC's PKCS#15 layout (read/write) and for tokens personalised by Feitian's middleware
//! (read-only). The layering is one-directional: the PKCS#11 layer and every implementation
//! depend on this crate, and this crate on none of them (no card code here). The PKCS#11 layer owns sessions, the login state machine, the inactivity
//! timeout, PIN-policy checks and attribute semantics; the backend owns the card: which APDUs,
//! which files, in which order, and what it caches.
//!
//! Rules every implementation keeps:
//! * Read only what an operation needs, when it needs it. [`TokenBackend::objects`] returns
//!   metadata from the directory files; values (certificate DER, public keys, data) are read by
//!   [`TokenBackend::read_value`] on demand.
//! * Writes are ordered so that a card pulled at any moment leaves the directory consistent: an
//!   object is listed only after its file is complete; a deletion unlists before it deletes.
//! * Private keys never leave the card; there is no method that could return one.
//! * PINs arrive as `&[u8]` and are never logged or kept beyond the call.
//! * A card whose security state was reset behind our back (re-authentication after a lost
//!   secure-messaging session, a reset by another process) is reported once through
//!   [`TokenBackend::take_login_lost`], so the login state machine can drop to the public state.

#![forbid(unsafe_code)]

use std::fmt;

/// Who a PIN belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinRole {
    /// The user PIN (ePass2003: PIN key kid 1 in DF 5015).
    User,
    /// The security officer (ePass2003: the PUK, kid 2; it unblocks the user PIN).
    So,
}

/// Length and character rules for one PIN, enforced by the PKCS#11 layer before any APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinPolicy {
    /// Minimum length in bytes.
    pub min_len: u8,
    /// Maximum length in bytes.
    pub max_len: u8,
    /// Must contain a digit.
    pub require_digit: bool,
    /// Must contain a letter.
    pub require_letter: bool,
    /// Only digits are allowed.
    pub digits_only: bool,
    /// A *new* PIN may contain non-ASCII UTF-8 characters. When false (the default, and what a
    /// token without this setting means), a new PIN must be printable ASCII (`0x20..=0x7E`):
    /// the same PIN typed later with another input method (full-width digits of a Japanese
    /// IME are 3 bytes each) would otherwise not match. Existing PINs are never checked.
    pub allow_non_ascii: bool,
}

impl Default for PinPolicy {
    /// OpenSC's limits for this card (4..16), which keep a token usable by OpenSC.
    fn default() -> Self {
        PinPolicy {
            min_len: 4,
            max_len: 16,
            require_digit: false,
            require_letter: false,
            digits_only: false,
            allow_non_ascii: false,
        }
    }
}

/// The state of one PIN as the card reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinStatus {
    /// Tries left, if known without spending one (the card's tries query).
    pub tries_left: Option<u8>,
    /// The maximum set at initialisation.
    pub max_tries: u8,
    /// The PIN exists on the card.
    pub initialized: bool,
}

impl PinStatus {
    /// The PIN is blocked (no tries left).
    pub fn locked(&self) -> bool {
        self.tries_left == Some(0)
    }
}

/// What a token says about itself; fills `CK_TOKEN_INFO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDescription {
    /// Token label (at most 32 bytes of UTF-8).
    pub label: String,
    /// Serial number as printed by OpenSC (16 lowercase hex digits for an ePass2003).
    pub serial: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Model, e.g. "ePass2003" or "ePass2003 (emulated)".
    pub model: String,
    /// Hardware version (major, minor).
    pub hardware_version: (u8, u8),
    /// Firmware version (major, minor).
    pub firmware_version: (u8, u8),
    /// The token carries an object layout (PKCS#15 or Feitian's).
    pub initialized: bool,
    /// Objects cannot be written (a Feitian-middleware token: re-initialise to write).
    pub write_protected: Option<String>,
    /// Policy of the user PIN.
    pub user_pin_policy: PinPolicy,
    /// Policy of the SO PIN (PUK).
    pub so_pin_policy: PinPolicy,
    /// Inactivity timeout in minutes (0 = none), stored on the token.
    pub auth_timeout_minutes: u16,
    /// Total and free memory in bytes, if the card tells.
    pub memory: Option<(u32, u32)>,
}

/// Which object layout a token carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenLayout {
    /// No layout: erased or never personalised.
    Blank,
    /// PKCS#15 as OpenSC (and this project) write it.
    Pkcs15,
    /// Feitian's own middleware ("ENTERSAFE-ESPK" application).
    FeitianMiddleware,
    /// The backend cannot tell.
    #[default]
    Unknown,
}

impl TokenLayout {
    /// A stable, machine-readable name (used in the tool's JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenLayout::Blank => "blank",
            TokenLayout::Pkcs15 => "pkcs15",
            TokenLayout::FeitianMiddleware => "feitian",
            TokenLayout::Unknown => "unknown",
        }
    }
}

/// Facts about the card itself (not its objects), known from connecting: no APDU to ask them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CardFacts {
    /// Secure-messaging variant: "AES", "FIPS", "DES", or "none" (plain); `None` if unknown.
    pub secure_messaging: Option<String>,
    /// The object layout.
    pub layout: TokenLayout,
    /// The card's ATR.
    pub atr: Vec<u8>,
}

/// The maximum tries [`InitParams`] accepts for either PIN. The card's counter nibble could hold
/// 15; 10 is the vendor tools' upper bound (and the minidriver default); 0 means "no retry
/// counter" (a wrong PIN answers `63 00` and is never counted).
pub const MAX_TRIES_RANGE: std::ops::RangeInclusive<u8> = 0..=10;

/// Parameters of `C_InitToken`-style initialisation (erase + create).
#[derive(Clone)]
pub struct InitParams<'a> {
    /// Token label (≤ 32 bytes).
    pub label: &'a str,
    /// The SO PIN (PUK).
    pub so_pin: &'a [u8],
    /// The user PIN, if set now (`C_InitToken` leaves it unset; the management tool sets both).
    pub user_pin: Option<&'a [u8]>,
    /// Maximum tries of the user PIN, in [`MAX_TRIES_RANGE`]; 0 = no retry counter (a wrong
    /// PIN is never counted and never locks, `docs/protocol-notes.md`).
    pub user_max_tries: u8,
    /// Maximum tries of the SO PIN (PUK), in [`MAX_TRIES_RANGE`]; 0 = no retry counter.
    pub so_max_tries: u8,
    /// PIN policies and timeout to store on the token.
    pub user_pin_policy: PinPolicy,
    /// SO PIN policy.
    pub so_pin_policy: PinPolicy,
    /// Inactivity timeout in minutes (0..=600, 0 = none).
    pub auth_timeout_minutes: u16,
}

impl fmt::Debug for InitParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitParams")
            .field("label", &self.label)
            .field("so_pin", &"<redacted>")
            .field("user_pin", &self.user_pin.map(|_| "<redacted>"))
            .field("user_max_tries", &self.user_max_tries)
            .field("so_max_tries", &self.so_max_tries)
            .field("auth_timeout_minutes", &self.auth_timeout_minutes)
            .finish()
    }
}

/// Kind of an on-token object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// X.509 certificate.
    Certificate,
    /// Public key.
    PublicKey,
    /// Private key (on-card; never extractable).
    PrivateKey,
    /// Data object.
    Data,
}

/// Asymmetric key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA with this modulus length in bits.
    Rsa {
        /// Modulus bits.
        bits: u16,
    },
    /// EC over NIST P-256.
    EcP256,
}

/// What a key may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsage {
    /// Sign (incl. sign-recover / non-repudiation).
    pub sign: bool,
    /// Decrypt (PKCS#15 `decrypt`, `CKA_DECRYPT`).
    pub decrypt: bool,
    /// Unwrap (PKCS#15 `unwrap`, `CKA_UNWRAP`). OpenSC writes it beside `decrypt` for
    /// `--key-usage decrypt`.
    pub unwrap: bool,
    /// Verify (public keys).
    pub verify: bool,
    /// Encrypt / wrap (public keys).
    pub encrypt: bool,
    /// Key derivation.
    pub derive: bool,
}

/// A backend-stable reference to an object, valid while the token stays in its reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef(pub u32);

/// Metadata of one object, from the directory files (no value reads needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The reference to use with the backend.
    pub reference: ObjectRef,
    /// Kind.
    pub kind: ObjectKind,
    /// Label (`CKA_LABEL`).
    pub label: String,
    /// Identifier (`CKA_ID`), shared by a key pair and its certificate.
    pub id: Vec<u8>,
    /// Visible only after user login (private keys, private data objects).
    pub private: bool,
    /// The object may be modified or deleted (false on write-protected tokens).
    pub modifiable: bool,
    /// Key type for keys (and for certificates, when the directory tells).
    pub key_type: Option<KeyType>,
    /// Usage flags for keys.
    pub usage: KeyUsage,
    /// The key was generated on the card (`CKA_LOCAL`).
    pub local: bool,
    /// Data objects: application name (`CKA_APPLICATION`).
    pub application: Option<String>,
}

/// Key generation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGenSpec {
    /// Type and size.
    pub key_type: KeyType,
    /// Label for both halves.
    pub label: String,
    /// Identifier; `None`: derived from the public key as NSS does: SHA-1 of the RSA modulus
    /// (unsigned big-endian), or of the uncompressed EC point `04 ‖ X ‖ Y`.
    pub id: Option<Vec<u8>>,
    /// Usage of the private key.
    pub usage: KeyUsage,
}

/// An RSA private key to write to the card.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaKeyImport {
    /// Modulus, big-endian.
    pub n: Vec<u8>,
    /// Public exponent, big-endian (kept in the public-key object).
    pub e: Vec<u8>,
    /// Private exponent, big-endian.
    pub d: Vec<u8>,
    /// Label.
    pub label: String,
    /// Identifier.
    pub id: Vec<u8>,
    /// Usage.
    pub usage: KeyUsage,
}

impl fmt::Debug for RsaKeyImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKeyImport")
            .field("bits", &(self.n.len() * 8))
            .field("label", &self.label)
            .field("id", &hex::encode(&self.id))
            .finish_non_exhaustive()
    }
}

/// An EC P-256 private key to write to the card. `d` is zeroized when the value is dropped.
///
/// The ePass2003's EC import APDU is not documented; this project's choice (an inference) is in
/// `docs/protocol-notes.md`.
#[derive(Clone, PartialEq, Eq)]
pub struct EcKeyImport {
    /// The private scalar, 32 bytes big-endian (secret).
    pub d: [u8; 32],
    /// The public point, uncompressed: `04 ‖ X ‖ Y` (65 bytes). Must equal d·G.
    pub point: Vec<u8>,
    /// Label.
    pub label: String,
    /// Identifier.
    pub id: Vec<u8>,
    /// Usage (an EC key has no decrypt or unwrap).
    pub usage: KeyUsage,
}

impl Drop for EcKeyImport {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.d);
    }
}

impl fmt::Debug for EcKeyImport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcKeyImport")
            .field("point", &hex::encode(&self.point))
            .field("label", &self.label)
            .field("id", &hex::encode(&self.id))
            .field("usage", &self.usage)
            .finish_non_exhaustive()
    }
}

impl EcKeyImport {
    /// Checks, without any APDU, that d is in `1..n-1`, that the point is uncompressed and
    /// equals d·G, and that the usage has no decrypt/unwrap. A mismatch is `InvalidInput`.
    pub fn validate(&self) -> Result<()> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let sk = p256::SecretKey::from_slice(&self.d)
            .map_err(|_| BackendError::InvalidInput("EC private key out of range".into()))?;
        if self.point.len() != 65 || self.point.first() != Some(&0x04) {
            return Err(BackendError::InvalidInput(
                "EC point must be uncompressed (65 bytes)".into(),
            ));
        }
        if sk.public_key().to_encoded_point(false).as_bytes() != self.point.as_slice() {
            return Err(BackendError::InvalidInput(
                "EC public point does not match the private key".into(),
            ));
        }
        if self.usage.decrypt || self.usage.unwrap || self.usage.encrypt {
            return Err(BackendError::InvalidInput(
                "an EC key cannot decrypt or unwrap".into(),
            ));
        }
        Ok(())
    }
}

/// A new non-key object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewObject {
    /// An X.509 certificate (DER).
    Certificate {
        /// DER.
        der: Vec<u8>,
        /// Label.
        label: String,
        /// Identifier (normally the matching key's).
        id: Vec<u8>,
        /// Trusted CA certificate (PKCS#15 trustedCertificates).
        authority: bool,
    },
    /// A public key (SubjectPublicKeyInfo DER).
    PublicKey {
        /// SPKI DER.
        spki: Vec<u8>,
        /// Label.
        label: String,
        /// Identifier.
        id: Vec<u8>,
    },
    /// A data object.
    Data {
        /// Label.
        label: String,
        /// Application name.
        application: String,
        /// Value.
        value: Vec<u8>,
        /// Readable only after user login.
        private: bool,
    },
}

/// What went wrong, in terms the PKCS#11 layer maps to `CK_RV`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// Wrong PIN; the card says how many tries are left.
    #[error("wrong PIN ({tries_left} tries left)")]
    WrongPin {
        /// Tries left after this failure.
        tries_left: u8,
    },
    /// Wrong PIN, and the PIN has no retry counter (max tries 0): nothing was counted, the
    /// tries left are unlimited.
    #[error("wrong PIN (no retry counter)")]
    WrongPinNoCounter,
    /// The PIN is blocked.
    #[error("PIN blocked")]
    PinLocked,
    /// A new PIN whose length is outside the token's own policy (reason given).
    #[error("PIN length outside the token's policy: {0}")]
    PinLenRange(String),
    /// A new PIN whose characters the token's own policy refuses (reason given).
    #[error("PIN refused by the token's policy: {0}")]
    PinInvalid(String),
    /// The operation needs a login the card does not have.
    #[error("not logged in")]
    NotLoggedIn,
    /// The token was removed (or reset in a way that lost our state).
    #[error("token removed")]
    Removed,
    /// The token is write-protected (reason given).
    #[error("token is write-protected: {0}")]
    WriteProtected(String),
    /// The token is not initialised.
    #[error("token not initialised")]
    NotInitialized,
    /// No such object (stale reference).
    #[error("no such object")]
    NoSuchObject,
    /// The card or this backend cannot do this.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// Bad input from the caller (size, type, template).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The card is out of memory or object slots.
    #[error("token memory full")]
    NoMemory,
    /// On-card data is corrupt (names the file).
    #[error("corrupt data on token: {0}")]
    Corrupt(String),
    /// Any other device failure.
    #[error("device error: {0}")]
    Device(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, BackendError>;

/// One token, as the PKCS#11 layer sees it. See the module docs for the rules.
pub trait TokenBackend: Send {
    /// Describe the token (label, serial, policies, timeout). Cheap after the first call.
    fn describe(&mut self) -> Result<TokenDescription>;
    /// Status of a PIN (tries left without spending one, where the card allows).
    fn pin_status(&mut self, role: PinRole) -> Result<PinStatus>;
    /// What is known of a PIN without asking the card for its tries: existence and maximum
    /// tries from the directory; `tries_left` may be `None`. The PKCS#11 layer uses it when a
    /// token is opened, and learns the tries from login results or from [`Self::pin_status`]
    /// when it needs them. Default: [`Self::pin_status`].
    fn pin_info(&mut self, role: PinRole) -> Result<PinStatus> {
        self.pin_status(role)
    }
    /// Verify a PIN; raises the card's security state.
    fn login(&mut self, role: PinRole, pin: &[u8]) -> Result<()>;
    /// Drop the card's security state (every PIN-verified level).
    fn logout(&mut self) -> Result<()>;
    /// Change a PIN after verifying the old one.
    fn change_pin(&mut self, role: PinRole, old: &[u8], new: &[u8]) -> Result<()>;
    /// With the SO logged in: set a new user PIN and reset its retry counter (unblock).
    fn init_user_pin(&mut self, new_pin: &[u8]) -> Result<()>;
    /// Erase the token and create a fresh layout.
    fn init_token(&mut self, params: &InitParams<'_>) -> Result<()>;
    /// Rename the token.
    fn set_label(&mut self, label: &str) -> Result<()>;
    /// Change the stored inactivity timeout (minutes, 0..=600).
    fn set_auth_timeout(&mut self, minutes: u16) -> Result<()>;
    /// List objects (metadata only). Private objects are included; the PKCS#11 layer decides
    /// visibility.
    fn objects(&mut self) -> Result<Vec<ObjectMeta>>;
    /// Read an object's value: certificate DER, public key SPKI DER, data value. Private keys:
    /// `NotSupported`. Private data objects need a login.
    fn read_value(&mut self, object: ObjectRef) -> Result<Vec<u8>>;
    /// Generate a key pair on the card; returns (private, public) metadata.
    fn generate_key_pair(&mut self, spec: &KeyGenSpec) -> Result<(ObjectMeta, ObjectMeta)>;
    /// Import an RSA private key (and its public half).
    fn import_rsa_key(&mut self, key: &RsaKeyImport) -> Result<ObjectMeta>;
    /// Import an EC P-256 private key (and its public half). Implementations validate the key
    /// ([`EcKeyImport::validate`]) before any APDU. Default: `NotSupported`.
    fn import_ec_key(&mut self, key: &EcKeyImport) -> Result<ObjectMeta> {
        let _ = key;
        Err(BackendError::NotSupported("EC private-key import".into()))
    }
    /// Store a certificate, public key or data object.
    fn create_object(&mut self, object: &NewObject) -> Result<ObjectMeta>;
    /// Delete an object (unlisted first, then its file deleted).
    fn delete_object(&mut self, object: ObjectRef) -> Result<()>;
    /// Change an object's label and/or identifier.
    fn update_object(
        &mut self,
        object: ObjectRef,
        label: Option<&str>,
        id: Option<&[u8]>,
    ) -> Result<ObjectMeta>;
    /// Raw RSA private-key operation (`x^d mod n`) on a modulus-length block: used for
    /// signatures (the host pads) and decryption (the host unpads).
    fn rsa_raw(&mut self, key: ObjectRef, block: &[u8]) -> Result<Vec<u8>>;
    /// ECDSA over a hash (leftmost 256 bits used); returns `r ‖ s`, 64 bytes.
    fn ecdsa_sign(&mut self, key: ObjectRef, hash: &[u8]) -> Result<Vec<u8>>;
    /// Random bytes from the card.
    fn random(&mut self, len: usize) -> Result<Vec<u8>>;
    /// True once after the card's security state was lost behind our back.
    fn take_login_lost(&mut self) -> bool;
    /// Freshness check: re-read what tells whether another process changed the token, and the
    /// directory if it did. `Ok(true)`: [`Self::objects`] may now answer differently (metadata
    /// previously returned may be stale). Default: nothing to check.
    fn refresh(&mut self) -> Result<bool> {
        Ok(false)
    }
    /// Erase the card with its own erase command (no PIN: it works when the SO PIN is unknown
    /// or locked) and create a fresh layout. Default: [`Self::init_token`], for backends whose
    /// `init_token` needs no PIN.
    fn erase_and_init(&mut self, params: &InitParams<'_>) -> Result<()> {
        self.init_token(params)
    }
    /// Facts about the card known from connecting (variant, layout, ATR). Default: unknown.
    fn card_facts(&mut self) -> CardFacts {
        CardFacts::default()
    }
}
