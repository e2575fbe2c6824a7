//! The card side of `enroll` / `renew`: the key pair generated on the token, the CSR and the
//! self-signed certificate signed there, the token's key as SCEP's signer and decryptor
//! ([`CardKey`]), and the issued certificate checked, stored and read back.

use crate::cli::KeyAlg;
use crate::ctx::{Ctx, Session};
use crate::error::{Exit, Result, ToolError};
use crate::{t, Runtime};
use cryptoki_sys::*;
use der::{Decode, Encode};
use pkcs15::backend::{ObjectKind, ObjectMeta};
use scep::cacert::CaCerts;
use scep::caps::Digest;
use scep::message::{Decryptor, Signer};
use serde_json::{json, Value};
use token::attr::{b, ul, Template};
use token::mechanism::Mechanism;
use token::session::OpKind;
use x509_cert::Certificate;
use zeroize::Zeroizing;

/// A key on the token as SCEP's signer and decryptor, with the certificate that names it.
pub(super) struct CardKey<'a> {
    pub(super) s: &'a Session<'a>,
    pub(super) key: CK_OBJECT_HANDLE,
    pub(super) cert: Certificate,
}

impl Signer for CardKey<'_> {
    fn certificate(&self) -> &Certificate {
        &self.cert
    }
    fn sign(&self, digest: Digest, data: &[u8]) -> std::result::Result<Vec<u8>, scep::Error> {
        // DigestInfo hashed on the host, padded and signed on the card (CKM_RSA_PKCS), so
        // every digest the CA asks for works.
        let mut di = pkcs1_prefix(digest);
        di.extend_from_slice(&scep::message::hash(digest, data));
        self.s
            .with(|t, hs, h| {
                t.sign_init(hs, h, &Mechanism::new(CKM_RSA_PKCS), self.key)?;
                let r = t.sign(h, &di);
                t.session(h)?.end(OpKind::Sign);
                r
            })
            .map_err(|e| scep::Error::Key(e.message))
    }
}

impl Decryptor for CardKey<'_> {
    fn decrypt_key(
        &self,
        encrypted_key: &[u8],
    ) -> std::result::Result<Zeroizing<Vec<u8>>, scep::Error> {
        self.s
            .with(|t, hs, h| {
                t.decrypt_init(hs, h, &Mechanism::new(CKM_RSA_PKCS), self.key)?;
                let r = t.decrypt(h, Some(encrypted_key));
                t.session(h)?.end(OpKind::Decrypt);
                r
            })
            .map(Zeroizing::new)
            .map_err(|e| scep::Error::Key(e.message))
    }
}

/// The DER DigestInfo prefix of `d` (RFC 8017 §9.2).
pub(super) fn pkcs1_prefix(d: Digest) -> Vec<u8> {
    scep::message::pkcs1_scheme(d).prefix.to_vec()
}

/// Generate an RSA key pair for SCEP on the token (sign and decrypt: the CA's reply is
/// encrypted to it). Returns (private, public, CKA_ID, SPKI DER).
pub(super) fn generate(
    s: &Session<'_>,
    rt: &mut Runtime<'_>,
    alg: KeyAlg,
    label: &str,
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE, Vec<u8>, Vec<u8>)> {
    let bits = match alg {
        KeyAlg::Rsa2048 => 2048,
        KeyAlg::Rsa1024 => 1024,
        KeyAlg::EcP256 => {
            return Err(s
                .ctx()
                .err(ToolError::new(Exit::NotPossible, t!("err-scep-ec"))))
        }
    };
    let public = Template(vec![
        (CKA_TOKEN, b(true)),
        (CKA_MODULUS_BITS, ul(bits)),
        (CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
    ]);
    let private = Template(vec![
        (CKA_TOKEN, b(true)),
        (CKA_PRIVATE, b(true)),
        (CKA_SENSITIVE, b(true)),
        (CKA_EXTRACTABLE, b(false)),
        (CKA_LABEL, label.as_bytes().to_vec()),
        (CKA_SIGN, b(true)),
        (CKA_DECRYPT, b(true)),
    ]);
    (rt.progress)(&t!(
        "keygen-progress",
        kind = format!("RSA-{bits}"),
        serial = &s.ctx().serial
    ));
    let mech = Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN);
    let (hp, hk) = s.with(|t, hs, h| t.generate_key_pair(hs, h, &mech, &public, &private))?;
    let got = (|| {
        let objs = s.with(|t, hs, _| t.list_objects(hs))?;
        let id = objs
            .iter()
            .find(|(h, _)| *h == hk)
            .map(|(_, m)| m.id.clone())
            .ok_or_else(|| ToolError::new(Exit::Internal, t!("err-new-key-not-listed")))?;
        let spki = s.with(|t, hs, _| t.object_value(hs, hp))?;
        Ok((id, spki))
    })();
    match got {
        Ok((id, spki)) => Ok((hk, hp, id, spki)),
        Err(e) => {
            destroy(s, &[hk, hp]);
            Err(e)
        }
    }
}

/// Delete objects, best effort (cleaning up after a failure must not hide the failure).
pub(super) fn destroy(s: &Session<'_>, handles: &[CK_OBJECT_HANDLE]) {
    for h in handles {
        let _ = s.with(|t, hs, sh| t.destroy_object(hs, sh, *h));
    }
}

/// The PKCS#10 request for `spki` (signed on the card by `key` with SHA-256).
pub(super) fn request(
    s: &Session<'_>,
    key: CK_OBJECT_HANDLE,
    subject: &x509_cert::name::Name,
    spki: &[u8],
    challenge: Option<&str>,
    email: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>> {
    let bad = |e: pki_files::Error| {
        s.ctx()
            .err(ToolError::input(t!("err-csr", detail = e.to_string())))
    };
    let mut attrs = Vec::new();
    if let Some(c) = challenge {
        attrs.push(pki_files::csr::challenge_password(c).map_err(bad)?);
    }
    if let Some(e) = email {
        attrs.push(pki_files::csr::email_san_request(e).map_err(bad)?);
    }
    let mut sign = card_signer(s, key);
    pki_files::csr::build_csr_with(
        subject,
        spki,
        pki_files::csr::SigAlg::RsaPkcs1Sha256,
        attrs,
        &mut sign,
    )
    .map(Zeroizing::new)
    .map_err(|e| {
        s.ctx().err(ToolError::new(
            Exit::Card,
            t!("err-csr", detail = e.to_string()),
        ))
    })
}

pub(super) fn card_signer<'a>(
    s: &'a Session<'a>,
    key: CK_OBJECT_HANDLE,
) -> impl FnMut(&[u8]) -> std::result::Result<Vec<u8>, String> + 'a {
    move |tbs: &[u8]| {
        s.with(|t, hs, h| {
            t.sign_init(hs, h, &Mechanism::new(CKM_SHA256_RSA_PKCS), key)?;
            let r = t.sign(h, tbs);
            // The token keeps a delivered result for a repeated call (PKCS#11 size
            // queries); this caller is done with it.
            t.session(h)?.end(OpKind::Sign);
            r
        })
        .map_err(|e| e.message)
    }
}

/// The self-signed certificate a requester without one identifies itself with (RFC 8894
/// §2.3): the request's subject and key, valid for a day.
pub(super) fn self_signed(
    s: &Session<'_>,
    rt: &Runtime<'_>,
    key: CK_OBJECT_HANDLE,
    subject: &x509_cert::name::Name,
    spki: &[u8],
) -> Result<Certificate> {
    let mut serial = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut serial);
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    let mut sign = card_signer(s, key);
    let der = pki_files::csr::build_self_signed(
        subject,
        spki,
        pki_files::csr::SigAlg::RsaPkcs1Sha256,
        &serial,
        rt.now - 60,
        rt.now + 86_400,
        &mut sign,
    )
    .and_then(|d| Ok(Certificate::from_der(&d)?))
    .map_err(|e| {
        s.ctx().err(ToolError::new(
            Exit::Card,
            t!("err-csr", detail = e.to_string()),
        ))
    })?;
    Ok(der)
}

/// The certificate of `issued` for the key `spki`, checked: issued by one of the CA's
/// certificates. Returns its DER.
pub(super) fn pick_issued(
    ctx: &Ctx,
    ca: &CaCerts,
    issued: &[Certificate],
    spki: &[u8],
) -> Result<Vec<u8>> {
    let ours = issued.iter().find(|c| {
        c.tbs_certificate
            .subject_public_key_info
            .to_der()
            .is_ok_and(|d| d == spki)
    });
    let Some(c) = ours else {
        return Err(ctx.err(ToolError::new(
            Exit::ServerRefused,
            t!("err-scep-not-our-key"),
        )));
    };
    if !ca
        .all
        .iter()
        .any(|a| a.tbs_certificate.subject == c.tbs_certificate.issuer)
    {
        return Err(ctx.err(ToolError::new(
            Exit::ServerRefused,
            t!(
                "err-scep-foreign-issuer",
                issuer = c.tbs_certificate.issuer.to_string()
            ),
        )));
    }
    c.to_der()
        .map_err(|e| ctx.err(ToolError::new(Exit::ServerRefused, e.to_string())))
}

/// Store the issued certificate with the key's id and read it back; with `chain`, also the
/// CA certificates not yet on the token. Returns the certificate's handle; on failure
/// nothing of this step is left.
pub(super) fn store(
    s: &Session<'_>,
    der: &[u8],
    label: &str,
    id: &[u8],
    chain: Option<&CaCerts>,
) -> Result<(CK_OBJECT_HANDLE, Vec<Value>)> {
    let hc = s.with(|t, hs, h| {
        t.create_object(
            hs,
            h,
            &crate::cmd::import::cert_template(der, label, id, false),
        )
    })?;
    let back = s.with(|t, hs, _| t.object_value(hs, hc));
    if back.as_deref().ok() != Some(der) {
        destroy(s, &[hc]);
        return Err(s
            .ctx()
            .err(ToolError::new(Exit::Card, t!("err-scep-readback"))));
    }
    let mut authorities = Vec::new();
    if let Some(ca) = chain {
        let existing: Vec<Vec<u8>> = {
            let objs = s.with(|t, hs, _| t.list_objects(hs))?;
            let mut v = Vec::new();
            for (h, m) in &objs {
                if m.kind == ObjectKind::Certificate {
                    v.push(s.with(|t, hs, _| t.object_value(hs, *h))?);
                }
            }
            v
        };
        for c in ca.ca_chain() {
            let Ok(cder) = c.to_der() else { continue };
            if existing.contains(&cder) {
                continue;
            }
            let spki = c
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .unwrap_or_default();
            let cid = crate::cmd::import::derived_id(&spki).unwrap_or_default();
            let clabel = pki_files::details::common_name(&cder).unwrap_or_else(|| "CA".into());
            let clabel: String = truncate_label(&clabel);
            // A CA certificate that does not fit is reported, never fatal: the client
            // certificate is what was asked for.
            match s.with(|t, hs, h| {
                t.create_object(
                    hs,
                    h,
                    &crate::cmd::import::cert_template(&cder, &clabel, &cid, true),
                )
            }) {
                Ok(_) => authorities.push(json!({"label": clabel, "stored": true})),
                Err(e) => {
                    authorities.push(json!({"label": clabel, "stored": false, "error": e.message}))
                }
            }
        }
    }
    Ok((hc, authorities))
}

/// At most 32 bytes, cut at a character boundary.
pub(super) fn truncate_label(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() + c.len_utf8() > 32 {
            break;
        }
        out.push(c);
    }
    out
}

/// The JSON of an issued certificate, and its fields for the result file.
pub(super) fn issued_json(der: &[u8]) -> Value {
    match pki_files::details::cert_details(der) {
        Ok(d) => json!({
            "cn": pki_files::details::common_name(der).unwrap_or_default(),
            "subject": d.subject_str,
            "issuer": d.issuer_str,
            "serial": d.serial_hex,
            "not_before": d.not_before_str,
            "not_after": d.not_after_str,
            "not_after_unix": d.not_after,
        }),
        Err(_) => json!({}),
    }
}

/// The private key (and public key, if any) with CKA_ID `id`.
pub(super) fn key_pair_of(
    objs: &[(CK_OBJECT_HANDLE, ObjectMeta)],
    id: &[u8],
) -> Option<(CK_OBJECT_HANDLE, Option<CK_OBJECT_HANDLE>, ObjectMeta)> {
    if id.is_empty() {
        return None;
    }
    let (hk, m) = objs
        .iter()
        .find(|(_, m)| m.kind == ObjectKind::PrivateKey && m.id == id)?;
    let hp = objs
        .iter()
        .find(|(_, m)| m.kind == ObjectKind::PublicKey && m.id == id)
        .map(|(h, _)| *h);
    Some((*hk, hp, m.clone()))
}
