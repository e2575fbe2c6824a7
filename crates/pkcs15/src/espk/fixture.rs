//! Builds an ENTERSAFE-ESPK card image **through the host driver** (so it works on the emulator,
//! in-process or attached), from the documented format (`feitian-layout-and-new-hardware.md`
//! §A.3–A.7). No vendor data was captured; every byte here is constructed. Meant for tests (this
//! crate's and the PKCS#11 layer's), not for personalising real tokens: Feitian's middleware
//! might not accept the result (§A.9 lists what is not public).
//!
//! The skeleton (MF/DF names and ACs, the FIDs of `tokeninfo`/`cardid`/`containermap`, the
//! encoders of `tokeninfo` and the index) comes from [`epass2003_emu::espk`], which the
//! emulator's factory state (`epass2003-emu new --factory`) is built from too; this module adds
//! keys, their attribute streams and certificates.
//!
//! Choices where the document is silent (all recorded in `docs/protocol-notes.md`):
//! * MF name `ESPK-MF` (the real one is unknown; a real ESPK token answers 6A82 to SELECT by the
//!   name "entersafe-fips", §A.2). DF `2003` named `ENTERSAFE-ESPK` + two zero bytes.
//! * File ACs: object/index files readable and writable under SM (`90`); private-key EFs need
//!   the user PIN (`96`) for PSO, public-key EFs are free. The real ACLs are unknown.
//! * FIDs of the listed files are not documented (the reader finds them through the index):
//!   `tokeninfo` 4001, `cardid` 4002, `containermap` 4003, object files from 4101 on. None is in
//!   the driver's ×0x20 hook range. Each EF is created 32 bytes larger than its used size, so a
//!   reader must honour the index's used size.
//! * Key EFs sit at their handle FIDs (`A0xx` private, `80xx` public) in DF 2003 and are
//!   generated on the card with GENERATE KEY PAIR; the public exponent is 65537 (the card does
//!   not return it).
//! * Attribute order and widths (§A.4 leaves them open): `CKA_CLASS` and `CKA_KEY_TYPE` as 4-byte
//!   LE, booleans as one byte, `CKA_MODULUS` with a leading `00`, the vendor handle last.
//! * `containermap`: 1024 bytes, zero header, one record per key pair, zero spare bytes.
//! * `tokeninfo`: the label space-padded to 32 bytes, then 32 zero bytes.
//! * The index also carries directory-label records (`FFFF`) for `mscp`, `tkinfdir` and
//!   `internal`, and two unused slots at the end.
//! * Certificates are minimal X.509 v3 (CN = the key label, self-signed with SHA-256 by the card
//!   key itself, so they verify).

use epass2003::commands::{KeyAlgorithm, KeyRecord};
use epass2003::error::Result;
use epass2003::fci::Fcp;
use epass2003::transport::Transport;
use epass2003::{CardSession, Connection, Error};
use rsa::pkcs8::EncodePublicKey;
use sha2::{Digest, Sha256};

use epass2003_emu::espk::{
    self as layout, AC_DF, AC_EF, AC_PRIV_KEY, AC_PUB_KEY, CARDID_FID, CONTAINERMAP_FID,
    CONTAINERMAP_LEN, EF_SLACK, FIRST_OBJECT_FID, TOKENINFO_FID, TOKENINFO_LEN,
};

use crate::feitian::{
    cka, encode_attributes, Attribute, ContainerMap, ContainerRecord, IndexRecord, APP_DF_FID,
    CMAP_HEADER_LEN, DF_NAME, INDEX_FID,
};

/// MF name used by the fixture (the real one is unknown).
pub use epass2003_emu::espk::MF_NAME;

/// One key pair (and optionally its certificate) to put on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// `NNNN` of `prvkNNNN` / `pubkNNNN` / `certNNNN`.
    pub number: u16,
    /// RSA modulus size (1024 keeps debug tests fast).
    pub bits: u16,
    /// `CKA_LABEL` of all objects.
    pub label: String,
    /// `CKA_ID` (written only where the flags below say so).
    pub id: Vec<u8>,
    /// Private key handle / EF (`0xA0xx`).
    pub private_handle: u16,
    /// Public key handle / EF (`0x80xx`).
    pub public_handle: u16,
    /// The prvk object carries `CKA_ID`.
    pub prvk_id: bool,
    /// The prvk object carries `CKA_MODULUS`, `CKA_PUBLIC_EXPONENT` and the handle (false: the
    /// "current-generation" key of §A.5 rule 1, paired through its pubk and the containermap).
    pub prvk_modulus_and_handle: bool,
    /// The pubk object carries `CKA_ID`.
    pub pubk_id: bool,
    /// `None`: no certificate; `Some(true)`: a certificate with `CKA_ID`; `Some(false)`: one
    /// without (paired by modulus, §A.5 rule 2).
    pub cert: Option<bool>,
    /// List the pair in the containermap.
    pub in_containermap: bool,
}

impl KeySpec {
    /// A complete key `number` (IDs everywhere, modulus and handle in the prvk, a certificate),
    /// handles `A0xx`/`80xx` with `xx = 0x20 · index`.
    pub fn complete(number: u16, index: u8, label: &str, id: &[u8]) -> Self {
        let lo = u16::from(index.wrapping_mul(0x20));
        KeySpec {
            number,
            bits: 1024,
            label: label.into(),
            id: id.to_vec(),
            private_handle: 0xA000 | lo,
            public_handle: 0x8000 | lo,
            prvk_id: true,
            prvk_modulus_and_handle: true,
            pubk_id: true,
            cert: Some(true),
            in_containermap: true,
        }
    }
}

/// A raw file to list in the index as is (e.g. a damaged object file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFile {
    /// Directory name in the index.
    pub directory: String,
    /// File name in the index.
    pub name: String,
    /// Contents (the index's used size is its length).
    pub data: Vec<u8>,
}

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureSpec {
    /// Label in `tokeninfo` (≤ 32 bytes).
    pub label: String,
    /// `cardid` contents (`None`: no `cardid` file).
    pub cardid: Option<Vec<u8>>,
    /// User PIN (kid 1).
    pub pin: Vec<u8>,
    /// Its maximum tries (≤ 15).
    pub pin_max_tries: u8,
    /// Key pairs, in order.
    pub keys: Vec<KeySpec>,
    /// Extra files listed after the key objects.
    pub extra_files: Vec<RawFile>,
}

impl FixtureSpec {
    /// The standard test image, exercising every pairing rule of §A.5:
    /// * `0001` "Signing key": complete, ID `01`, certificate with ID;
    /// * `0002` "Current key": prvk without modulus, handle and ID (rule 1 via pubk 0002 and
    ///   the containermap, rule 3 for the ID), pubk with ID `02`, certificate **without** ID
    ///   (rule 2);
    /// * `0003` "Old container": prvk complete with ID `03`, pubk **without** ID (rule 2 by
    ///   modulus), no certificate, not in the containermap.
    pub fn standard() -> Self {
        let mut k2 = KeySpec::complete(2, 2, "Current key", &[0x02]);
        k2.prvk_id = false;
        k2.prvk_modulus_and_handle = false;
        k2.cert = Some(false);
        let mut k3 = KeySpec::complete(3, 3, "Old container", &[0x03]);
        k3.pubk_id = false;
        k3.cert = None;
        k3.in_containermap = false;
        FixtureSpec {
            label: "Bat-Erdene Dorj".into(),
            cardid: Some((0x10u8..0x20).collect()),
            pin: b"12345678".to_vec(),
            pin_max_tries: 10,
            keys: vec![KeySpec::complete(1, 1, "Signing key", &[0x01]), k2, k3],
            extra_files: Vec::new(),
        }
    }
}

/// One key as built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureKey {
    /// `NNNN`.
    pub number: u16,
    /// Modulus, big-endian, no leading zero.
    pub modulus: Vec<u8>,
    /// Public exponent (65537).
    pub exponent: Vec<u8>,
    /// The certificate's DER, if one was written.
    pub cert_der: Option<Vec<u8>>,
    /// SPKI DER of the public key.
    pub spki: Vec<u8>,
}

/// What was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    /// Keys, in spec order.
    pub keys: Vec<FixtureKey>,
    /// Every listed file: (index record, contents).
    pub files: Vec<(IndexRecord, Vec<u8>)>,
}

fn attr(ty: u32, value: impl Into<Vec<u8>>) -> Attribute {
    Attribute {
        ty,
        value: value.into(),
    }
}

fn ulong(ty: u32, v: u32) -> Attribute {
    attr(ty, v.to_le_bytes().to_vec())
}

fn with_leading_zero(m: &[u8]) -> Vec<u8> {
    let mut v = vec![0x00];
    v.extend_from_slice(m);
    v
}

/// DER TLV with a definite length.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else if n < 0x100 {
        v.extend_from_slice(&[0x81, n as u8]);
    } else {
        v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    v.extend_from_slice(content);
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// PKCS#1 v1.5 type-1 block of SHA-256(msg) for a `k`-byte modulus.
pub fn pkcs1_sha256_block(msg: &[u8], k: usize) -> Vec<u8> {
    const PREFIX: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    let mut t = PREFIX.to_vec();
    t.extend_from_slice(&Sha256::digest(msg));
    let mut b = vec![0x00, 0x01];
    b.resize(k.saturating_sub(t.len() + 1), 0xFF);
    b.push(0x00);
    b.extend_from_slice(&t);
    b
}

/// A self-signed X.509 v3 certificate for `spki`, signed on the card with `priv_handle` (the
/// user PIN must be verified).
fn self_signed_cert(
    s: &mut CardSession<'_>,
    serial: u16,
    cn: &str,
    spki: &[u8],
    priv_handle: u16,
    k: usize,
) -> Result<Vec<u8>> {
    let sig_alg = der(
        0x30,
        &cat(&[
            &der(
                0x06,
                &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B],
            ),
            &[0x05, 0x00],
        ]),
    );
    let name = der(
        0x30,
        &der(
            0x31,
            &der(
                0x30,
                &cat(&[&der(0x06, &[0x55, 0x04, 0x03]), &der(0x0C, cn.as_bytes())]),
            ),
        ),
    );
    let validity = der(
        0x30,
        &cat(&[&der(0x17, b"250101000000Z"), &der(0x17, b"350101000000Z")]),
    );
    let mut serial_bytes = serial.to_be_bytes().to_vec();
    if serial_bytes[0] == 0 {
        serial_bytes.remove(0);
    }
    if serial_bytes[0] & 0x80 != 0 {
        serial_bytes.insert(0, 0);
    }
    let tbs = der(
        0x30,
        &cat(&[
            &der(0xA0, &der(0x02, &[0x02])),
            &der(0x02, &serial_bytes),
            &sig_alg,
            &name,
            &validity,
            &name,
            spki,
        ]),
    );
    let sig = s.rsa_raw(priv_handle, &pkcs1_sha256_block(&tbs, k))?;
    let mut bits = vec![0x00];
    bits.extend_from_slice(&sig);
    Ok(der(0x30, &cat(&[&tbs, &sig_alg, &der(0x03, &bits)])))
}

fn index_record(fid: u16, dir: &str, name: &str, used: usize) -> Result<IndexRecord> {
    let used = u16::try_from(used)
        .map_err(|_| Error::InvalidArgument(format!("{name}: file too large")))?;
    Ok(IndexRecord {
        fid,
        directory: dir.as_bytes().to_vec(),
        name: name.as_bytes().to_vec(),
        acl: 0x00,
        used_size: used,
        allocated_size: used.saturating_add(EF_SLACK),
    })
}

/// Issues the certificate of a key whose [`KeySpec::cert`] is `Some`, given the spec and the
/// SPKI DER of the key just generated on the card: the certificate's DER, or `None` for the
/// fixture's own self-signed one. Lets a test have a CA of its own issue the certificate (as
/// when Feitian's middleware enrols a key generated on the token).
pub type Issuer<'a> = dyn FnMut(&KeySpec, &[u8]) -> Result<Option<Vec<u8>>> + 'a;

/// Erase the card and build the image described by `spec`, every certificate self-signed by
/// its card key. Leaves the card logged out.
pub fn build<T: Transport>(conn: &mut Connection<T>, spec: &FixtureSpec) -> Result<Fixture> {
    build_with_issuer(conn, spec, &mut |_, _| Ok(None))
}

/// [`build`], with the certificates from `issuer` (falling back to self-signed where it
/// answers `None`). Leaves the card logged out.
pub fn build_with_issuer<T: Transport>(
    conn: &mut Connection<T>,
    spec: &FixtureSpec,
    issuer: &mut Issuer<'_>,
) -> Result<Fixture> {
    let mut s = conn.transaction()?;
    s.erase_card()?;
    s.create_file(&Fcp::df(0x3F00, MF_NAME, AC_DF)?)?;
    let mut df_name = DF_NAME.to_vec();
    df_name.resize(16, 0);
    s.create_file(&Fcp::df(APP_DF_FID, &df_name, AC_DF)?)?;
    s.install_secret_key(&KeyRecord::user_pin(&spec.pin, spec.pin_max_tries))?;

    // Keys: generate on the card, read the modulus back.
    let e = vec![0x01, 0x00, 0x01];
    let mut moduli = Vec::new();
    for k in &spec.keys {
        s.create_file(&Fcp::private_key(k.private_handle, k.bits, AC_PRIV_KEY)?)?;
        s.create_file(&Fcp::public_key(k.public_handle, k.bits, AC_PUB_KEY)?)?;
        s.generate_key_pair(KeyAlgorithm::Rsa(k.bits), k.private_handle, k.public_handle)?;
        let n = s.read_rsa_public_key(k.public_handle, k.bits)?;
        let start = n.iter().position(|&b| b != 0).unwrap_or(n.len());
        moduli.push(n[start..].to_vec());
    }

    // Files (attribute streams etc.), then certificates signed by the card.
    let needs_login = spec.keys.iter().any(|k| k.cert.is_some());
    if needs_login {
        s.verify_pin(1, &spec.pin)?;
    }
    let mut files: Vec<(IndexRecord, Vec<u8>)> = Vec::new();
    let mut keys = Vec::new();
    let mut next_fid = FIRST_OBJECT_FID;
    let mut add =
        |files: &mut Vec<(IndexRecord, Vec<u8>)>, dir: &str, name: &str, data: Vec<u8>| {
            let fid = next_fid;
            next_fid += 1;
            files.push((index_record(fid, dir, name, data.len())?, data));
            Ok::<(), Error>(())
        };
    for (k, n) in spec.keys.iter().zip(&moduli) {
        let pk = rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(n),
            rsa::BigUint::from_bytes_be(&e),
        )
        .map_err(|err| Error::Malformed(format!("generated key: {err}")))?;
        let spki = pk
            .to_public_key_der()
            .map_err(|err| Error::Malformed(format!("SPKI: {err}")))?
            .as_bytes()
            .to_vec();
        let label = || attr(cka::LABEL, k.label.as_bytes().to_vec());
        let id = || attr(cka::ID, k.id.clone());
        let handle = |h: u16| attr(cka::VENDOR_KEY_HANDLE, u32::from(h).to_le_bytes().to_vec());

        let mut prvk = vec![
            ulong(cka::CLASS, 3),
            attr(cka::TOKEN, [1]),
            attr(cka::PRIVATE, [1]),
            ulong(0x100, 0),
            label(),
        ];
        if k.prvk_id {
            prvk.push(id());
        }
        for ty in [cka::DECRYPT, cka::UNWRAP, cka::SIGN, cka::SIGN_RECOVER] {
            prvk.push(attr(ty, [1]));
        }
        if k.prvk_modulus_and_handle {
            prvk.push(attr(cka::MODULUS, with_leading_zero(n)));
            prvk.push(attr(cka::PUBLIC_EXPONENT, e.clone()));
            prvk.push(handle(k.private_handle));
        }
        let mut pubk = vec![
            ulong(cka::CLASS, 2),
            attr(cka::TOKEN, [1]),
            attr(cka::PRIVATE, [0]),
            ulong(0x100, 0),
            label(),
        ];
        if k.pubk_id {
            pubk.push(id());
        }
        pubk.push(attr(0x104, [1])); // CKA_ENCRYPT
        pubk.push(attr(0x10A, [1])); // CKA_VERIFY
        pubk.push(attr(cka::MODULUS, with_leading_zero(n)));
        pubk.push(attr(cka::PUBLIC_EXPONENT, e.clone()));
        pubk.push(handle(k.public_handle));

        let nnnn = format!("{:04}", k.number);
        add(
            &mut files,
            "mscp",
            &format!("prvk{nnnn}"),
            encode_attributes(&prvk).map_err(p15)?,
        )?;
        add(
            &mut files,
            "mscp",
            &format!("pubk{nnnn}"),
            encode_attributes(&pubk).map_err(p15)?,
        )?;
        let cert_der = match k.cert {
            None => None,
            Some(with_id) => {
                let der = match issuer(k, &spki)? {
                    Some(der) => der,
                    None => self_signed_cert(
                        &mut s,
                        k.number,
                        &k.label,
                        &spki,
                        k.private_handle,
                        n.len(),
                    )?,
                };
                let mut c = vec![
                    ulong(cka::CLASS, 1),
                    attr(cka::TOKEN, [1]),
                    ulong(0x80, 0), // CKA_CERTIFICATE_TYPE = CKC_X_509
                    label(),
                ];
                if with_id {
                    c.push(id());
                }
                c.push(attr(cka::VALUE, der.clone()));
                add(
                    &mut files,
                    "mscp",
                    &format!("cert{nnnn}"),
                    encode_attributes(&c).map_err(p15)?,
                )?;
                Some(der)
            }
        };
        keys.push(FixtureKey {
            number: k.number,
            modulus: n.clone(),
            exponent: e.clone(),
            cert_der,
            spki,
        });
    }
    for f in &spec.extra_files {
        add(&mut files, &f.directory, &f.name, f.data.clone())?;
    }

    // tokeninfo, cardid, containermap.
    let tokeninfo = layout::tokeninfo(&spec.label)
        .ok_or_else(|| Error::InvalidArgument("label longer than 32 bytes".into()))?;
    files.push((
        index_record(TOKENINFO_FID, "tkinfdir", "tokeninfo", TOKENINFO_LEN)?,
        tokeninfo,
    ));
    if let Some(id) = &spec.cardid {
        files.push((
            index_record(CARDID_FID, "mscp", "cardid", id.len())?,
            id.clone(),
        ));
    }
    let cmap = ContainerMap {
        header: [0; CMAP_HEADER_LEN],
        records: spec
            .keys
            .iter()
            .filter(|k| k.in_containermap)
            .map(|k| ContainerRecord {
                private_handle: u32::from(k.private_handle),
                public_handle: u32::from(k.public_handle),
                spare: [0; 16],
            })
            .collect(),
    };
    files.push((
        index_record(
            CONTAINERMAP_FID,
            "internal",
            "containermap",
            CONTAINERMAP_LEN,
        )?,
        cmap.to_file(CONTAINERMAP_LEN).map_err(p15)?,
    ));

    // The index: directory labels, the files, two unused slots.
    let records = files
        .iter()
        .map(|(rec, _)| rec.to_bytes().map_err(p15))
        .collect::<Result<Vec<_>>>()?;
    let index = layout::index_file(&records)
        .ok_or_else(|| Error::InvalidArgument("index record".into()))?;

    // Create and fill: the files first, the index last.
    for (rec, data) in &files {
        s.create_file(&Fcp::transparent(rec.fid, rec.allocated_size, AC_EF)?)?;
        if !data.is_empty() {
            s.update_binary(0, data)?;
        }
    }
    let index_len =
        u16::try_from(index.len()).map_err(|_| Error::InvalidArgument("index too large".into()))?;
    s.create_file(&Fcp::transparent(INDEX_FID, index_len, AC_EF)?)?;
    s.update_binary(0, &index)?;

    if needs_login {
        match s.logout() {
            Ok(()) | Err(Error::NotSupported(_)) => {}
            Err(e) => return Err(e),
        }
    }
    s.take_login_lost();
    s.end()?;
    Ok(Fixture { keys, files })
}

fn p15(e: crate::error::Error) -> Error {
    Error::InvalidArgument(e.to_string())
}
