//! [`EspkToken`]: a [`TokenBackend`] for ePass2003 tokens personalised by Feitian's own
//! middleware (the "ENTERSAFE-ESPK" / MSCP layout, `docs/feitian-layout-and-new-hardware.md`
//! §A), which OpenSC's PKCS#15 code cannot read. Its objects are read-only; its user PIN can be
//! changed.
//!
//! What it does, over the host driver:
//! * [`EspkToken::detect`]: SELECT `3F00/2003` and check the FCI DF name (`ENTERSAFE-ESPK`,
//!   zero-padded). Two SELECTs, no reads.
//! * [`EspkToken::open`]: reads the index EF `6F01` and every file it lists that this backend
//!   uses (`tokeninfo`, `cardid`, `containermap`, `certNNNN`/`pubkNNNN`/`prvkNNNN`), parses them
//!   with [`crate::feitian`], and pairs keys and certificates by the rules of §A.5. The object
//!   files hold metadata and value in one attribute stream, so everything is read once at open
//!   and served from memory afterwards (the values are public: certificates and public keys).
//! * The user PIN is PIN key kid 1 in DF 2003 (external authentication, §A.7): the same card
//!   object as on OpenSC-personalised tokens, so it is verified, queried and **changed** the same
//!   way. [`TokenBackend::change_pin`] verifies the old PIN, then sends UPDATE SECRET KEY
//!   (`80 E5 04 01`, §5.11) with the maximum-tries nibble the card itself reports: the layout
//!   keeps no maximum in any file, the PIN key's record holds it, and right after a successful
//!   verification the card's counter equals that maximum (§5.12 a), so the tries query then
//!   reads it. New PINs follow [`EspkOptions::new_user_pin_policy`] (Feitian's own 8..=255).
//! * There is no SO: Feitian's admin-key unblock is not documented (§C), so every SO operation
//!   is [`BackendError::NotSupported`] with [`NO_SO`].
//! * Signing/decryption: MSE `80 01 84` with tag 81 = the private key's vendor handle (`A0xx`),
//!   then PSO DECIPHER raw RSA (§A.8, the PR #3835 path). Only RSA is described for this layout;
//!   [`TokenBackend::ecdsa_sign`] is `NotSupported`.
//! * **Every object write is refused** with [`BackendError::WriteProtected`] and
//!   [`WRITE_PROTECTED`]: the writer-side details of the layout are not public (§A.9), so
//!   anything written here might not be read by Feitian's own tool. This includes the label and
//!   the timeout (the layout has no timeout; `tokeninfo` beyond its first 32 bytes is not
//!   described) and [`TokenBackend::init_token`]: to re-initialise such a token, the token layer
//!   takes the connection back with [`EspkToken::into_connection`] and opens it with the PKCS#15
//!   backend ([`crate::card::Epass2003Token`]), whose `init_token` erases the card and creates
//!   PKCS#15.
//!
//! Tolerance: a truncated attribute stream keeps its complete triples (as the documented reader
//! does) and is logged; an object whose essential attribute is then missing stays listed, and the
//! operation that needs it fails with [`BackendError::Corrupt`] naming the file. Nothing here
//! panics on card data.

pub mod fixture;
mod x509;

use std::collections::HashMap;

use epass2003::apdu::Command;
use epass2003::card::Mode;
use epass2003::fci::Fci;
use epass2003::transport::Transport;
use epass2003::{CardSession, Connection};
use rsa::pkcs8::EncodePublicKey;
use tracing::{debug, warn};

use crate::backend::{
    BackendError, InitParams, KeyGenSpec, KeyType, KeyUsage, NewObject, ObjectKind, ObjectMeta,
    ObjectRef, PinPolicy, PinRole, PinStatus, Result, RsaKeyImport, TokenBackend, TokenDescription,
};
use crate::feitian::{
    self, cka, key_handle_kind, AttributeStream, ContainerMap, IndexRecord, KeyHandleKind,
    ObjectFileKind, ObjectName, APP_DF_FID, INDEX_FID,
};

/// The reason every object write gives.
pub const WRITE_PROTECTED: &str = "token personalised by Feitian's middleware: its objects and \
     label are read-only here (Feitian's own tool might not read what another library writes); \
     use the vendor's tool, or re-initialise with `epass2003-tool init` (erases it)";

/// The reason every SO operation gives.
pub const NO_SO: &str = "token personalised by Feitian's middleware: its SO (admin key) is not \
     documented, so it cannot unblock or set the user PIN here; use the vendor's tool, or \
     re-initialise with `epass2003-tool init` (erases it)";

/// Kid of the user PIN key in DF 2003 (§A.7).
pub const USER_PIN_KID: u8 = 1;

/// Largest file this backend reads (READ BINARY offsets stop at 0x7FFF).
const MAX_FILE: usize = 0x7FFF;

/// CK_ULONG attribute numbers used only here.
mod cka_extra {
    pub(super) const KEY_TYPE: u32 = 0x100;
    pub(super) const ENCRYPT: u32 = 0x104;
    pub(super) const WRAP: u32 = 0x106;
    pub(super) const VERIFY: u32 = 0x10A;
    pub(super) const VERIFY_RECOVER: u32 = 0x10B;
    pub(super) const LOCAL: u32 = 0x163;
    /// `CKK_RSA`.
    pub(super) const CKK_RSA: u32 = 0;
}

/// Options for [`EspkToken::open`].
#[derive(Debug, Clone)]
pub struct EspkOptions {
    /// The card is the software emulator: the model reads "ePass2003 (emulated)".
    pub emulated: bool,
    /// Maximum tries of the user PIN, reported by [`TokenBackend::pin_status`]. Where an ESPK
    /// token keeps it is unknown (§A.7); Feitian's user guide gives 10 as the minidriver's
    /// default (§C.1). Used until a PIN change has read the card's own maximum (see the module
    /// docs); the value reported is `max(maximum, tries left)`.
    pub assumed_max_tries: u8,
    /// User PIN policy reported by `describe` (the layout stores none). Default 4..=255: Feitian's
    /// own PKCS#11 reports 8..=255 for such tokens (§A.6); the lower bound is OpenSC's 4 so that
    /// no PIN set by any known middleware is refused before it reaches the card.
    pub user_pin_policy: PinPolicy,
    /// Length a **new** user PIN must have ([`TokenBackend::change_pin`]; the character rules are
    /// not used): Feitian's own
    /// PKCS#11 reports 8..=255 for such tokens (§A.6), so a PIN set here is one the vendor's
    /// middleware accepts. Default 8..=255, any characters.
    pub new_user_pin_policy: PinPolicy,
}

impl Default for EspkOptions {
    fn default() -> Self {
        EspkOptions {
            emulated: false,
            assumed_max_tries: 10,
            user_pin_policy: PinPolicy {
                min_len: 4,
                max_len: 255,
                ..PinPolicy::default()
            },
            new_user_pin_policy: PinPolicy {
                min_len: 8,
                max_len: 255,
                ..PinPolicy::default()
            },
        }
    }
}

/// One object as listed, with what the backend needs to serve it.
#[derive(Debug, Clone)]
struct Entry {
    meta: ObjectMeta,
    /// Index file name (for error messages).
    file: String,
    /// Certificate DER (certificates).
    cert_der: Option<Vec<u8>>,
    /// RSA modulus, big-endian without leading zeros (keys; certificates when parsable).
    modulus: Option<Vec<u8>>,
    /// Public exponent (public keys).
    exponent: Option<Vec<u8>>,
    /// Vendor key handle (private keys: `A0xx`, public keys: `80xx`).
    handle: Option<u32>,
    /// Why the value/handle is missing, if it is (stream truncated, attribute absent).
    problem: Option<String>,
}

/// A parsed object file.
#[derive(Debug, Clone)]
struct RawObject {
    name: ObjectName,
    file: String,
    attrs: AttributeStream,
}

/// Everything read at open.
#[derive(Debug, Clone, Default)]
struct Image {
    label: Option<String>,
    cardid: Option<Vec<u8>>,
    cmap: Option<ContainerMap>,
    objects: Vec<RawObject>,
}

/// A Feitian-middleware (ENTERSAFE-ESPK) token, read-only. See the module docs.
pub struct EspkToken<T: Transport> {
    conn: Connection<T>,
    opts: EspkOptions,
    desc: TokenDescription,
    entries: Vec<Entry>,
    /// The user PIN's maximum tries as read from the card by the last PIN change.
    learned_max: Option<u8>,
}

fn dev(e: epass2003::Error) -> BackendError {
    use epass2003::Error as E;
    match e {
        E::WrongPin { tries_left } => BackendError::WrongPin { tries_left },
        E::WrongPinNoCounter => BackendError::WrongPinNoCounter,
        E::PinBlocked => BackendError::PinLocked,
        E::SecurityStatus => BackendError::NotLoggedIn,
        E::Removed | E::CardReset => BackendError::Removed,
        E::FileNotFound => BackendError::NoSuchObject,
        E::NotSupported(s) => BackendError::NotSupported(s),
        E::InvalidArgument(s) => BackendError::InvalidInput(s),
        other => BackendError::Device(other.to_string()),
    }
}

fn write_protected<R>() -> Result<R> {
    Err(BackendError::WriteProtected(WRITE_PROTECTED.into()))
}

/// A new PIN against the layout's length policy (the card hashes any bytes).
fn check_new_pin(p: &PinPolicy, pin: &[u8]) -> Result<()> {
    if pin.len() < usize::from(p.min_len) || pin.len() > usize::from(p.max_len) {
        return Err(BackendError::PinLenRange(format!(
            "a new PIN on a token personalised by Feitian's middleware has {}..={} bytes (the \
             vendor's own policy)",
            p.min_len, p.max_len
        )));
    }
    Ok(())
}

/// SELECT an EF of the current DF by its **on-card** FID (as the index gives it). The driver's
/// `select_fid` applies OpenSC's ×0x20 hook to FIDs `29xx`/`30xx..34xx`; the index FIDs are
/// already on-card values, so the SELECT is sent as is.
fn select_on_card(s: &mut CardSession<'_>, fid: u16) -> epass2003::error::Result<Fci> {
    let c = Command::new(0x00, 0xA4, 0x00, 0x00)
        .with_data(&fid.to_be_bytes())
        .with_le(0);
    Fci::parse(&s.transmit(&c)?.into_result()?)
}

/// Select DF 2003 (from the MF) and return its FCI.
fn select_app(s: &mut CardSession<'_>) -> epass2003::error::Result<Fci> {
    s.select_path(&[APP_DF_FID])
}

/// Read an EF of DF 2003 (DF 2003 current): `min(FCI size, limit)` bytes.
fn read_ef(s: &mut CardSession<'_>, fid: u16, limit: usize) -> epass2003::error::Result<Vec<u8>> {
    let fci = select_on_card(s, fid)?;
    let size = fci.size.unwrap_or(limit).min(limit).min(MAX_FILE);
    if size == 0 {
        return Ok(Vec::new());
    }
    s.read_binary(0, size)
}

impl<T: Transport> EspkToken<T> {
    /// True if the card carries the ENTERSAFE-ESPK application: DF `3F00/2003` exists and its
    /// FCI DF name is `ENTERSAFE-ESPK` with only zero padding. A card without the DF (blank,
    /// PKCS#15) gives `false`.
    /// Same as the free function [`detect`].
    pub fn detect(session: &mut CardSession<'_>) -> Result<bool> {
        detect(session)
    }

    /// Open the token: detect it, read the index and the files it lists, pair the objects.
    /// A card that is not an ESPK token is [`BackendError::NotSupported`].
    pub fn open(mut conn: Connection<T>, opts: EspkOptions) -> Result<Self> {
        let (image, chip_serial) = {
            let mut s = conn.transaction().map_err(dev)?;
            if !Self::detect(&mut s)? {
                return Err(BackendError::NotSupported(
                    "no ENTERSAFE-ESPK application (DF 3F00/2003)".into(),
                ));
            }
            let image = read_image(&mut s)?;
            let chip_serial = if image.cardid.is_none() {
                Some(s.get_serial().map_err(dev)?)
            } else {
                None
            };
            s.end().map_err(dev)?;
            (image, chip_serial)
        };
        let serial = match (&image.cardid, &chip_serial) {
            (Some(id), _) => feitian::serial_from_cardid(id),
            (None, Some(chip)) => hex::encode(chip),
            (None, None) => String::new(),
        };
        let desc = TokenDescription {
            label: image
                .label
                .clone()
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "ePass2003".into()),
            serial,
            manufacturer: "EnterSafe".into(),
            model: if opts.emulated {
                "ePass2003 (emulated)".into()
            } else {
                "ePass2003".into()
            },
            hardware_version: (0, 0),
            firmware_version: (0, 0),
            initialized: true,
            write_protected: Some(WRITE_PROTECTED.into()),
            user_pin_policy: opts.user_pin_policy.clone(),
            so_pin_policy: PinPolicy::default(),
            auth_timeout_minutes: 0,
            memory: None,
        };
        let entries = build_entries(&image);
        Ok(EspkToken {
            conn,
            opts,
            desc,
            entries,
            learned_max: None,
        })
    }

    /// Give the connection back (e.g. to re-initialise the card with the PKCS#15 backend).
    pub fn into_connection(self) -> Connection<T> {
        self.conn
    }

    fn entry(&self, r: ObjectRef) -> Result<&Entry> {
        self.entries
            .get(r.0 as usize)
            .ok_or(BackendError::NoSuchObject)
    }
}

/// True if the card carries the ENTERSAFE-ESPK application: DF `3F00/2003` exists and its FCI
/// DF name is `ENTERSAFE-ESPK` with only zero padding. A card without the DF (blank, PKCS#15)
/// gives `false`. Leaves DF 2003 current when it is there.
pub fn detect(session: &mut CardSession<'_>) -> Result<bool> {
    match select_app(session) {
        Ok(fci) => Ok(fci.df_name.as_deref().is_some_and(feitian::is_espk_df_name)),
        Err(epass2003::Error::FileNotFound) => Ok(false),
        Err(e) => Err(dev(e)),
    }
}

/// Reads the index and the files this backend uses (DF 2003 must be current).
fn read_image(s: &mut CardSession<'_>) -> Result<Image> {
    let index = read_ef(s, INDEX_FID, 0xFFFF).map_err(|e| match e {
        epass2003::Error::FileNotFound => {
            BackendError::Corrupt("ENTERSAFE-ESPK index EF 6F01: missing".into())
        }
        e => dev(e),
    })?;
    let records = feitian::index_files(&index)
        .map_err(|e| BackendError::Corrupt(format!("index EF 6F01: {e}")))?;
    let mut image = Image::default();
    for rec in &records {
        let name = String::from_utf8_lossy(&rec.name).into_owned();
        let wanted = matches!(name.as_str(), "tokeninfo" | "cardid" | "containermap")
            || rec.object_name().is_some();
        if !wanted {
            continue;
        }
        let data = match read_listed(s, rec) {
            Ok(d) => d,
            Err(epass2003::Error::FileNotFound) => {
                warn!(file = %name, fid = format_args!("{:04X}", rec.fid), "listed in the index but missing");
                continue;
            }
            Err(e) => return Err(dev(e)),
        };
        match name.as_str() {
            "tokeninfo" => match feitian::parse_token_label(&data) {
                Ok(l) => image.label = Some(l),
                Err(e) => warn!(error = %e, "tokeninfo: no label"),
            },
            "cardid" if !data.is_empty() => image.cardid = Some(data),
            "cardid" => {}
            "containermap" => match feitian::parse_containermap(&data) {
                Ok(m) => image.cmap = Some(m),
                Err(e) => warn!(error = %e, "containermap unreadable; keys pair by modulus only"),
            },
            _ => {
                let Some(on) = rec.object_name() else {
                    continue;
                };
                let attrs = feitian::parse_attributes(&data);
                if attrs.truncated {
                    warn!(file = %name, kept = attrs.attributes.len(), "attribute stream truncated; complete attributes kept");
                }
                image.objects.push(RawObject {
                    name: on,
                    file: name,
                    attrs,
                });
            }
        }
    }
    debug!(objects = image.objects.len(), "ENTERSAFE-ESPK image read");
    Ok(image)
}

/// Select and read one listed file: `min(FCI size, used size)` bytes.
fn read_listed(s: &mut CardSession<'_>, rec: &IndexRecord) -> epass2003::error::Result<Vec<u8>> {
    read_ef(s, rec.fid, usize::from(rec.used_size))
}

// ---------------------------------------------------------------------------------------------
// Pairing (§A.5)

fn stripped(v: &[u8]) -> Vec<u8> {
    let start = v.iter().position(|&b| b != 0).unwrap_or(v.len());
    v[start..].to_vec()
}

fn bits_of(modulus: &[u8]) -> Option<u16> {
    let first = *modulus.first()?;
    let bytes = u16::try_from(modulus.len()).ok()?;
    Some((bytes - 1) * 8 + (8 - first.leading_zeros() as u16))
}

fn flag(a: &AttributeStream, ty: u32) -> Option<bool> {
    a.bool(ty).ok().flatten()
}

fn any_flag(a: &AttributeStream, tys: &[u32]) -> Option<bool> {
    let vals: Vec<bool> = tys.iter().filter_map(|&t| flag(a, t)).collect();
    if vals.is_empty() {
        None
    } else {
        Some(vals.into_iter().any(|v| v))
    }
}

fn handle_of(o: &RawObject, want: KeyHandleKind) -> Option<u32> {
    match o.attrs.key_handle() {
        Ok(Some(h)) if key_handle_kind(h) == Some(want) => Some(h),
        Ok(Some(h)) => {
            warn!(file = %o.file, handle = format_args!("{h:08X}"), "key handle outside its documented range; ignored");
            None
        }
        Ok(None) => None,
        Err(e) => {
            warn!(file = %o.file, error = %e, "bad key handle attribute; ignored");
            None
        }
    }
}

fn label_of(o: &RawObject) -> String {
    o.attrs
        .get(cka::LABEL)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

fn is_rsa(o: &RawObject) -> bool {
    match o.attrs.u32_le(cka_extra::KEY_TYPE) {
        Ok(Some(t)) => t == cka_extra::CKK_RSA,
        _ => true,
    }
}

fn truncated_note(o: &RawObject) -> &'static str {
    if o.attrs.truncated {
        " (attribute stream truncated)"
    } else {
        ""
    }
}

/// Builds the object list: private keys, public keys, certificates (each in index order), with
/// modulus, handle and ID filled by the §A.5 rules.
fn build_entries(image: &Image) -> Vec<Entry> {
    let by_kind = |k: ObjectFileKind| image.objects.iter().filter(move |o| o.name.kind == k);
    let pubk_by_number: HashMap<u16, &RawObject> = by_kind(ObjectFileKind::PublicKey)
        .map(|o| (o.name.number, o))
        .collect();

    let mut entries: Vec<Entry> = Vec::new();
    let mut ids: Vec<Option<Vec<u8>>> = Vec::new();

    // Private keys. Rule 1: modulus/handle missing → the same-number pubk's modulus and public
    // handle, mapped to the private handle through the containermap.
    for o in by_kind(ObjectFileKind::PrivateKey) {
        let mut modulus = o.attrs.modulus().map(<[u8]>::to_vec);
        let mut handle = handle_of(o, KeyHandleKind::Private);
        if modulus.is_none() || handle.is_none() {
            if let Some(p) = pubk_by_number.get(&o.name.number) {
                if modulus.is_none() {
                    modulus = p.attrs.modulus().map(<[u8]>::to_vec);
                }
                if handle.is_none() {
                    handle = handle_of(p, KeyHandleKind::Public)
                        .and_then(|ph| image.cmap.as_ref()?.private_for_public(ph));
                }
            }
        }
        let problem = handle.is_none().then(|| {
            format!(
                "{}: no key handle (neither in the object nor through its pubk and the containermap){}",
                o.file,
                truncated_note(o)
            )
        });
        let a = &o.attrs;
        let usage = KeyUsage {
            sign: any_flag(a, &[cka::SIGN, cka::SIGN_RECOVER]).unwrap_or(true),
            decrypt: any_flag(a, &[cka::DECRYPT, cka::UNWRAP]).unwrap_or(true),
            unwrap: any_flag(a, &[cka::UNWRAP]).unwrap_or(true),
            ..KeyUsage::default()
        };
        ids.push(o.attrs.id().map(<[u8]>::to_vec));
        entries.push(Entry {
            meta: ObjectMeta {
                reference: ObjectRef(0),
                kind: ObjectKind::PrivateKey,
                label: label_of(o),
                id: Vec::new(),
                private: true,
                modifiable: false,
                key_type: modulus
                    .as_deref()
                    .filter(|_| is_rsa(o))
                    .and_then(bits_of)
                    .map(|bits| KeyType::Rsa { bits }),
                usage,
                local: flag(a, cka_extra::LOCAL).unwrap_or(false),
                application: None,
            },
            file: o.file.clone(),
            cert_der: None,
            modulus,
            exponent: None,
            handle,
            problem,
        });
    }

    // Public keys.
    for o in by_kind(ObjectFileKind::PublicKey) {
        let a = &o.attrs;
        let modulus = a.modulus().map(<[u8]>::to_vec);
        let exponent = a.public_exponent().map(stripped).filter(|e| !e.is_empty());
        let problem = (modulus.is_none() || exponent.is_none()).then(|| {
            format!(
                "{}: no CKA_MODULUS/CKA_PUBLIC_EXPONENT{}",
                o.file,
                truncated_note(o)
            )
        });
        let usage = KeyUsage {
            verify: any_flag(a, &[cka_extra::VERIFY, cka_extra::VERIFY_RECOVER]).unwrap_or(true),
            encrypt: any_flag(a, &[cka_extra::ENCRYPT, cka_extra::WRAP]).unwrap_or(true),
            ..KeyUsage::default()
        };
        ids.push(a.id().map(<[u8]>::to_vec));
        entries.push(Entry {
            meta: ObjectMeta {
                reference: ObjectRef(0),
                kind: ObjectKind::PublicKey,
                label: label_of(o),
                id: Vec::new(),
                private: false,
                modifiable: false,
                key_type: modulus
                    .as_deref()
                    .filter(|_| is_rsa(o))
                    .and_then(bits_of)
                    .map(|bits| KeyType::Rsa { bits }),
                usage,
                local: flag(a, cka_extra::LOCAL).unwrap_or(false),
                application: None,
            },
            file: o.file.clone(),
            cert_der: None,
            modulus,
            exponent,
            handle: handle_of(o, KeyHandleKind::Public),
            problem,
        });
    }

    // Certificates.
    for o in by_kind(ObjectFileKind::Certificate) {
        let der = o.attrs.value().map(<[u8]>::to_vec);
        let modulus = der.as_deref().and_then(x509::rsa_modulus);
        let problem = der
            .is_none()
            .then(|| format!("{}: no CKA_VALUE{}", o.file, truncated_note(o)));
        ids.push(o.attrs.id().map(<[u8]>::to_vec));
        entries.push(Entry {
            meta: ObjectMeta {
                reference: ObjectRef(0),
                kind: ObjectKind::Certificate,
                label: label_of(o),
                id: Vec::new(),
                private: false,
                modifiable: false,
                key_type: modulus
                    .as_deref()
                    .and_then(bits_of)
                    .map(|bits| KeyType::Rsa { bits }),
                usage: KeyUsage::default(),
                local: false,
                application: None,
            },
            file: o.file.clone(),
            cert_der: der,
            modulus,
            exponent: None,
            handle: None,
            problem,
        });
    }

    assign_ids(&mut entries, &mut ids, image.cmap.as_ref());
    for (i, (e, id)) in entries.iter_mut().zip(ids).enumerate() {
        e.meta.reference = ObjectRef(i as u32);
        e.meta.id = id.unwrap_or_default();
    }
    entries
}

/// Rules 2–4 of §A.5 on `ids` (parallel to `entries`).
fn assign_ids(entries: &mut [Entry], ids: &mut [Option<Vec<u8>>], cmap: Option<&ContainerMap>) {
    // Rules 2 and 3 feed each other (a private key's ID may come from its paired public key,
    // whose ID may come from a modulus match); two passes settle every chain of length ≤ 2.
    for _ in 0..2 {
        // Rule 2: certificates and public keys without an ID take the ID of an object with the
        // same modulus (public keys first, then private keys, then certificates).
        for i in 0..entries.len() {
            if ids[i].is_some() || entries[i].meta.kind == ObjectKind::PrivateKey {
                continue;
            }
            let Some(m) = entries[i].modulus.clone() else {
                continue;
            };
            let found = [
                ObjectKind::PublicKey,
                ObjectKind::PrivateKey,
                ObjectKind::Certificate,
            ]
            .into_iter()
            .find_map(|kind| {
                entries
                    .iter()
                    .zip(ids.iter())
                    .enumerate()
                    .find_map(|(j, (e, id))| {
                        (j != i && e.meta.kind == kind && e.modulus.as_ref() == Some(&m))
                            .then(|| id.clone())
                            .flatten()
                    })
            });
            ids[i] = found;
        }
        // Rule 3: private keys without an ID take the ID of the public key the containermap
        // pairs with them; failing that (no map, no handles), the ID of a public key or
        // certificate with the same modulus.
        for i in 0..entries.len() {
            if ids[i].is_some() || entries[i].meta.kind != ObjectKind::PrivateKey {
                continue;
            }
            let paired = entries[i]
                .handle
                .and_then(|h| cmap?.public_for_private(h))
                .and_then(|ph| {
                    entries.iter().zip(ids.iter()).find_map(|(e, id)| {
                        (e.meta.kind == ObjectKind::PublicKey && e.handle == Some(ph))
                            .then(|| id.clone())
                            .flatten()
                    })
                });
            let by_modulus = || {
                let m = entries[i].modulus.as_ref()?;
                entries.iter().zip(ids.iter()).find_map(|(e, id)| {
                    (e.meta.kind != ObjectKind::PrivateKey && e.modulus.as_ref() == Some(m))
                        .then(|| id.clone())
                        .flatten()
                })
            };
            ids[i] = paired.or_else(by_modulus);
        }
    }
    // Rule 4: synthetic IDs F0 nn for the rest, skipping values already in use.
    let mut n: u8 = 0;
    for i in 0..ids.len() {
        if ids[i].is_some() {
            continue;
        }
        let id = loop {
            n = n.wrapping_add(1);
            let cand = vec![0xF0, n];
            if !ids.iter().any(|x| x.as_ref() == Some(&cand)) || n == 0xFF {
                break cand;
            }
        };
        debug!(file = %entries[i].file, id = %hex::encode(&id), "synthetic CKA_ID");
        ids[i] = Some(id);
    }
}

// ---------------------------------------------------------------------------------------------

impl<T: Transport + Send> TokenBackend for EspkToken<T> {
    fn describe(&mut self) -> Result<TokenDescription> {
        Ok(self.desc.clone())
    }

    fn pin_status(&mut self, role: PinRole) -> Result<PinStatus> {
        match role {
            PinRole::So => Ok(PinStatus {
                tries_left: None,
                max_tries: 0,
                initialized: false,
            }),
            PinRole::User => {
                let mut s = self.conn.transaction().map_err(dev)?;
                select_app(&mut s).map_err(dev)?;
                let tries = s.pin_tries_left(USER_PIN_KID).map_err(dev)?;
                s.end().map_err(dev)?;
                Ok(PinStatus {
                    tries_left: Some(tries),
                    max_tries: self
                        .learned_max
                        .unwrap_or(self.opts.assumed_max_tries)
                        .max(tries),
                    initialized: true,
                })
            }
        }
    }

    fn login(&mut self, role: PinRole, pin: &[u8]) -> Result<()> {
        if role == PinRole::So {
            return Err(BackendError::NotSupported(NO_SO.into()));
        }
        let mut s = self.conn.transaction().map_err(dev)?;
        select_app(&mut s).map_err(dev)?;
        s.verify_pin(USER_PIN_KID, pin).map_err(dev)?;
        s.end().map_err(dev)
    }

    fn logout(&mut self) -> Result<()> {
        let mut s = self.conn.transaction().map_err(dev)?;
        match s.mode() {
            // No SM: the card has no way to drop its security level (driver §3.7).
            Mode::Plain => Ok(()),
            Mode::Sm(_) => {
                s.logout().map_err(dev)?;
                // Our own logout is not a login lost behind our back.
                s.take_login_lost();
                s.end().map_err(dev)
            }
        }
    }

    /// The user PIN only: verify `old`, read the maximum tries (the counter equals it right
    /// after a successful verification, §5.12 a), UPDATE SECRET KEY with `max<<4|max` and the
    /// new PIN key (§5.11). Three steps in one card transaction; the old PIN stays valid if
    /// anything before the UPDATE fails.
    fn change_pin(&mut self, role: PinRole, old: &[u8], new: &[u8]) -> Result<()> {
        if role == PinRole::So {
            return Err(BackendError::NotSupported(NO_SO.into()));
        }
        check_new_pin(&self.opts.new_user_pin_policy, new)?;
        let fallback = self.learned_max.unwrap_or(self.opts.assumed_max_tries);
        let mut s = self.conn.transaction().map_err(dev)?;
        select_app(&mut s).map_err(dev)?;
        s.verify_pin(USER_PIN_KID, old).map_err(dev)?;
        let max = match s.pin_tries_left(USER_PIN_KID) {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %e, assumed = fallback, "tries query after a verified PIN failed; assuming the maximum");
                fallback
            }
        };
        s.change_pin(USER_PIN_KID, max, new).map_err(|e| match e {
            epass2003::Error::SecurityStatus => BackendError::NotSupported(
                "token personalised by Feitian's middleware: the card refused to change its user \
                 PIN key (access condition not met by the user PIN); use the vendor's tool"
                    .into(),
            ),
            e => dev(e),
        })?;
        s.end().map_err(dev)?;
        self.learned_max = Some(max);
        Ok(())
    }

    fn init_user_pin(&mut self, _new_pin: &[u8]) -> Result<()> {
        Err(BackendError::NotSupported(NO_SO.into()))
    }

    fn init_token(&mut self, _params: &InitParams<'_>) -> Result<()> {
        write_protected()
    }

    fn set_label(&mut self, _label: &str) -> Result<()> {
        write_protected()
    }

    fn set_auth_timeout(&mut self, _minutes: u16) -> Result<()> {
        write_protected()
    }

    fn objects(&mut self) -> Result<Vec<ObjectMeta>> {
        Ok(self.entries.iter().map(|e| e.meta.clone()).collect())
    }

    fn read_value(&mut self, object: ObjectRef) -> Result<Vec<u8>> {
        let e = self.entry(object)?;
        let corrupt = || {
            BackendError::Corrupt(
                e.problem
                    .clone()
                    .unwrap_or_else(|| format!("{}: value unusable", e.file)),
            )
        };
        match e.meta.kind {
            ObjectKind::Certificate => e.cert_der.clone().ok_or_else(corrupt),
            ObjectKind::PublicKey => {
                let (Some(n), Some(x)) = (&e.modulus, &e.exponent) else {
                    return Err(corrupt());
                };
                let pk = rsa::RsaPublicKey::new(
                    rsa::BigUint::from_bytes_be(n),
                    rsa::BigUint::from_bytes_be(x),
                )
                .map_err(|err| BackendError::Corrupt(format!("{}: {err}", e.file)))?;
                pk.to_public_key_der()
                    .map(|d| d.as_bytes().to_vec())
                    .map_err(|err| BackendError::Corrupt(format!("{}: {err}", e.file)))
            }
            ObjectKind::PrivateKey => Err(BackendError::NotSupported(
                "private keys never leave the card".into(),
            )),
            ObjectKind::Data => Err(BackendError::NoSuchObject),
        }
    }

    fn generate_key_pair(&mut self, _spec: &KeyGenSpec) -> Result<(ObjectMeta, ObjectMeta)> {
        write_protected()
    }

    fn import_rsa_key(&mut self, _key: &RsaKeyImport) -> Result<ObjectMeta> {
        write_protected()
    }

    fn create_object(&mut self, _object: &NewObject) -> Result<ObjectMeta> {
        write_protected()
    }

    fn delete_object(&mut self, _object: ObjectRef) -> Result<()> {
        write_protected()
    }

    fn update_object(
        &mut self,
        _object: ObjectRef,
        _label: Option<&str>,
        _id: Option<&[u8]>,
    ) -> Result<ObjectMeta> {
        write_protected()
    }

    fn rsa_raw(&mut self, key: ObjectRef, block: &[u8]) -> Result<Vec<u8>> {
        let e = self.entry(key)?;
        if e.meta.kind != ObjectKind::PrivateKey {
            return Err(BackendError::InvalidInput("not a private key".into()));
        }
        let Some(KeyType::Rsa { bits }) = e.meta.key_type else {
            return Err(BackendError::Corrupt(format!(
                "{}: RSA modulus unknown (neither in the object nor in its pubk)",
                e.file
            )));
        };
        let Some(handle) = e.handle else {
            return Err(BackendError::Corrupt(
                e.problem
                    .clone()
                    .unwrap_or_else(|| format!("{}: no key handle", e.file)),
            ));
        };
        let k = usize::from(bits).div_ceil(8);
        if block.len() != k {
            return Err(BackendError::InvalidInput(format!(
                "RSA block of {} bytes for a {k}-byte modulus",
                block.len()
            )));
        }
        let handle = u16::try_from(handle).map_err(|_| BackendError::NoSuchObject)?;
        let mut s = self.conn.transaction().map_err(dev)?;
        select_app(&mut s).map_err(dev)?;
        let out = s.rsa_raw(handle, block).map_err(dev)?;
        s.end().map_err(dev)?;
        Ok(out)
    }

    fn ecdsa_sign(&mut self, key: ObjectRef, _hash: &[u8]) -> Result<Vec<u8>> {
        self.entry(key)?;
        Err(BackendError::NotSupported(
            "only RSA keys are described for the Feitian-middleware layout".into(),
        ))
    }

    fn random(&mut self, len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        let mut s = self.conn.transaction().map_err(dev)?;
        while out.len() < len {
            let c = s.get_challenge().map_err(dev)?;
            let n = (len - out.len()).min(c.len());
            out.extend_from_slice(&c[..n]);
        }
        s.end().map_err(dev)?;
        Ok(out)
    }

    fn take_login_lost(&mut self) -> bool {
        self.conn.take_login_lost()
    }

    /// From the connection: no APDU.
    fn card_facts(&mut self) -> crate::backend::CardFacts {
        crate::backend::CardFacts {
            secure_messaging: Some(self.conn.mode().name().to_string()),
            layout: crate::backend::TokenLayout::FeitianMiddleware,
            atr: self.conn.atr(),
        }
    }
}
