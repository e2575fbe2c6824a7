//! `enroll` and `renew`: certificates over SCEP (RFC 8894), straight onto the token.
//!
//! * The key pair is generated on the token; the request is signed on the card and the CA's
//!   reply (a CMS envelope) is opened by the card's key ([`CardKey`]): no private key ever
//!   exists on the host.
//! * The CA is trusted only after its certificate's SHA-256 fingerprint matched
//!   `--ca-fingerprint`, or a person compared it and said yes; nobody to ask is exit 16.
//! * Nothing is left half done: a failure after the new key pair was generated deletes it
//!   again; `renew` removes the old certificate (and, with a new key, the old key pair) only
//!   after the new certificate is stored and read back.
//! * PENDING (the CA holds the request for an administrator) keeps the new key on the token
//!   and is exit 13, with the transaction id.

mod pending;
mod trust;

pub(crate) use pending::{pending_json, pending_text};

use super::{in_range, parse_id};
use crate::cli::{EnrollArgs, KeyAlg, RenewArgs, ScepServer};
use crate::ctx::{Ctx, Session};
use crate::error::{Exit, Result, ToolError};
use crate::output::Report;
use crate::secrets::{need, Secret};
use crate::{t, Runtime};
use cryptoki_sys::*;
use der::{Decode, Encode};
use pkcs15::backend::{KeyType, ObjectKind, ObjectMeta};
use scep::attrs::MessageType;
use scep::cacert::CaCerts;
use scep::caps::{Caps, Digest};
use scep::message::{Decryptor, Reply, Signer};
use serde_json::{json, Value};
use token::attr::{b, ul, Template};
use token::mechanism::Mechanism;
use token::session::OpKind;
use x509_cert::Certificate;
use zeroize::Zeroizing;

/// A key on the token as SCEP's signer and decryptor, with the certificate that names it.
struct CardKey<'a> {
    s: &'a Session<'a>,
    key: CK_OBJECT_HANDLE,
    cert: Certificate,
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
fn pkcs1_prefix(d: Digest) -> Vec<u8> {
    scep::message::pkcs1_scheme(d).prefix.to_vec()
}

/// A SCEP error as the tool reports it (exit code by what went wrong).
fn scep_err(e: scep::Error) -> ToolError {
    use scep::Error as E;
    let exit = match &e {
        E::Unreachable(_) | E::Tls(_) => Exit::ServerUnreachable,
        E::HttpStatus { .. } | E::NotScep(_) | E::Failure(_) | E::NoCommonAlgorithm(_) => {
            Exit::ServerRefused
        }
        E::FingerprintMismatch { .. } => Exit::CaNotTrusted,
        E::Key(_) => Exit::Card,
        E::Unsupported(_) => Exit::BadInput,
    };
    let mut err = ToolError::new(exit, t!("err-scep", detail = e.to_string()));
    if let E::Failure(fi) = &e {
        err = err.with("fail_info", fi.name());
    }
    err
}

/// The CA as GetCACaps and GetCACert describe it, trusted.
struct Ca {
    url: String,
    /// The `--cacert` file (absolute), if any.
    cacert: Option<String>,
    client: scep::Client,
    caps: Caps,
    certs: CaCerts,
    fingerprint: String,
}

/// The CA's URL and the fingerprint to check: the options, else what the record says
/// (`recorded`: where the certificate to renew was enrolled from, or where a pending request
/// went). A recorded fingerprint is used only with the recorded URL.
fn where_from(
    ctx: &Ctx,
    srv: &ScepServer,
    recorded: Option<crate::seen::EnrolledFrom>,
    renewing: bool,
) -> Result<crate::seen::EnrolledFrom> {
    let cacert = srv
        .cacert
        .as_ref()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .map(|p| p.display().to_string());
    let (url, fp, recorded_cacert) = match (&srv.url, recorded) {
        (Some(u), Some(r)) if *u == r.url => (
            u.clone(),
            srv.ca_fingerprint.clone().or(Some(r.ca_fingerprint)),
            r.cacert,
        ),
        (Some(u), _) => (u.clone(), srv.ca_fingerprint.clone(), None),
        (None, Some(r)) => (
            r.url,
            srv.ca_fingerprint.clone().or(Some(r.ca_fingerprint)),
            r.cacert,
        ),
        (None, None) => {
            return Err(ctx.err(ToolError::input(if renewing {
                t!("err-renew-no-url")
            } else {
                t!("err-enroll-no-url")
            })))
        }
    };
    Ok(crate::seen::EnrolledFrom {
        url,
        // Empty: none given, the CA is shown and asked about.
        ca_fingerprint: fp.unwrap_or_default(),
        cacert: cacert.or(recorded_cacert),
    })
}

/// How the web server of an https:// URL is checked: the system's trust store, plus the
/// `--cacert` file; `--insecure-skip-tls-verify` with a warning every time.
fn tls_options(
    ctx: &Ctx,
    rt: &mut Runtime<'_>,
    srv: &ScepServer,
    url: &str,
    cacert: Option<&str>,
) -> Result<scep::tls::TlsOptions> {
    let mut o = scep::tls::TlsOptions::default();
    let https = url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if srv.insecure_skip_tls_verify {
        if https {
            (rt.progress)(&t!("warn-insecure-tls"));
        }
        o.accept_any_certificate = true;
    }
    if let Some(f) = cacert {
        let bytes = std::fs::read(f).map_err(|e| {
            ctx.err(ToolError::input(t!(
                "err-cacert",
                file = f,
                detail = e.to_string()
            )))
        })?;
        o.extra_roots = scep::tls::read_ca_file(&bytes).map_err(|e| {
            ctx.err(ToolError::input(t!(
                "err-cacert",
                file = f,
                detail = e.to_string()
            )))
        })?;
    }
    Ok(o)
}

/// Remember where the certificate `id` came from, for a later `renew` (best effort).
fn remember_ca(ctx: &Ctx, rt: &mut Runtime<'_>, ca: &Ca, id: &[u8], replaced: Option<&[u8]>) {
    let Some(dir) = rt.state_dir.clone() else {
        return;
    };
    let from = crate::seen::EnrolledFrom {
        url: ca.url.clone(),
        ca_fingerprint: ca.fingerprint.clone(),
        cacert: ca.cacert.clone(),
    };
    let old = replaced.map(hex::encode);
    for w in
        crate::seen::remember_enrolment(&dir, &ctx.serial, &hex::encode(id), from, old.as_deref())
    {
        (rt.progress)(&w);
    }
}

/// Reach the CA, fetch its capabilities and certificates, and decide whether to trust it.
fn reach_ca(
    ctx: &Ctx,
    rt: &mut Runtime<'_>,
    srv: &ScepServer,
    recorded: Option<crate::seen::EnrolledFrom>,
    renewing: bool,
) -> Result<Ca> {
    let from = where_from(ctx, srv, recorded, renewing)?;
    let url = from.url.clone();
    let expected = (!from.ca_fingerprint.is_empty()).then(|| from.ca_fingerprint.clone());
    let tls = tls_options(ctx, rt, srv, &url, from.cacert.as_deref())?;
    let client =
        scep::Client::with_tls(&url, srv.no_proxy, &tls).map_err(|e| ctx.err(scep_err(e)))?;
    (rt.progress)(&t!("scep-contacting", url = &url));
    let caps = client.get_ca_caps().map_err(|e| ctx.err(scep_err(e)))?;
    let certs = client.get_ca_cert().map_err(|e| ctx.err(scep_err(e)))?;
    let fingerprint = scep::cacert::fingerprint(certs.ca());
    let subject = certs.ca().tbs_certificate.subject.to_string();
    match &expected {
        Some(fp) => certs
            .check_fingerprint(fp)
            .map_err(|e| ctx.err(scep_err(e)))?,
        None => {
            let q = t!(
                "scep-trust-ca",
                subject = &subject,
                fingerprint = &fingerprint
            );
            if !(rt.confirm)(&q) {
                return Err(ctx.err(
                    ToolError::new(
                        Exit::CaNotTrusted,
                        t!(
                            "err-ca-not-trusted",
                            subject = &subject,
                            fingerprint = &fingerprint
                        ),
                    )
                    .with("ca_fingerprint", fingerprint.clone()),
                ));
            }
        }
    }
    Ok(Ca {
        url,
        cacert: from.cacert,
        client,
        caps,
        certs,
        fingerprint,
    })
}

/// Generate an RSA key pair for SCEP on the token (sign and decrypt: the CA's reply is
/// encrypted to it). Returns (private, public, CKA_ID, SPKI DER).
fn generate(
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
fn destroy(s: &Session<'_>, handles: &[CK_OBJECT_HANDLE]) {
    for h in handles {
        let _ = s.with(|t, hs, sh| t.destroy_object(hs, sh, *h));
    }
}

/// The PKCS#10 request for `spki` (signed on the card by `key` with SHA-256).
fn request(
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

fn card_signer<'a>(
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
fn self_signed(
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
fn pick_issued(ctx: &Ctx, ca: &CaCerts, issued: &[Certificate], spki: &[u8]) -> Result<Vec<u8>> {
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
fn store(
    s: &Session<'_>,
    der: &[u8],
    label: &str,
    id: &[u8],
    chain: Option<&CaCerts>,
) -> Result<(CK_OBJECT_HANDLE, Vec<Value>)> {
    let hc = s.with(|t, hs, h| {
        t.create_object(hs, h, &super::import::cert_template(der, label, id, false))
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
            let cid = super::import::derived_id(&spki).unwrap_or_default();
            let clabel = pki_files::details::common_name(&cder).unwrap_or_else(|| "CA".into());
            let clabel: String = truncate_label(&clabel);
            // A CA certificate that does not fit is reported, never fatal: the client
            // certificate is what was asked for.
            match s.with(|t, hs, h| {
                t.create_object(
                    hs,
                    h,
                    &super::import::cert_template(&cder, &clabel, &cid, true),
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
fn truncate_label(s: &str) -> String {
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
fn issued_json(der: &[u8]) -> Value {
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

/// Send the request and read the reply, with the exit code of what happened.
fn exchange(ctx: &Ctx, ca: &Ca, kind: MessageType, csr: &[u8], key: &CardKey<'_>) -> Result<Reply> {
    ca.client
        .send(kind, &ca.caps, &ca.certs, csr, key, key, true)
        .map_err(|e| ctx.err(scep_err(e)))
}

/// Run `enroll`.
pub fn enroll(ctx: &Ctx, rt: &mut Runtime<'_>, yes: bool, a: &EnrollArgs) -> Result<Report> {
    if a.poll {
        return pending::poll(ctx, rt, yes, a);
    }
    if a.withdraw {
        return pending::withdraw(ctx, rt, a);
    }
    let cn_only = |cn: &str| format!("CN={}", cn.replace(',', "\\,"));
    let subject_str = match (&a.subject, &a.cn, a.host_cn) {
        (Some(s), _, _) => s.clone(),
        (None, Some(cn), _) => cn_only(cn),
        (None, None, true) => match host_name() {
            Some(h) => cn_only(&h),
            None => return Err(ctx.err(ToolError::input(t!("err-enroll-no-subject")))),
        },
        (None, None, false) => match crate::result_file::current_user() {
            u if !u.is_empty() => cn_only(&u),
            _ => match host_name() {
                Some(h) => cn_only(&h),
                None => return Err(ctx.err(ToolError::input(t!("err-enroll-no-subject")))),
            },
        },
    };
    let subject = pki_files::csr::parse_subject(&subject_str)
        .map_err(|e| ctx.err(ToolError::input(t!("err-subject", detail = e.to_string()))))?;
    if let Some(e) = &a.email {
        pki_files::csr::email_san_request(e)
            .map_err(|e| ctx.err(ToolError::input(t!("err-email", detail = e.to_string()))))?;
    }
    if a.alg == KeyAlg::EcP256 {
        return Err(ctx.err(ToolError::new(Exit::NotPossible, t!("err-scep-ec"))));
    }
    let cn = subject_cn(&subject).unwrap_or_else(|| subject_str.clone());
    let label = a.label.clone().unwrap_or_else(|| truncate_label(&cn));
    let ca = reach_ca(ctx, rt, &a.server, None, false)?;
    if !a.force_new {
        // A valid certificate from this CA for the same subject, with its key on the token:
        // renewed rather than a second one enrolled (--new for that).
        let all = super::certs::read_all(ctx)?;
        let existing = all.iter().find_map(|c| {
            let d = c.details.as_ref()?;
            let cert = Certificate::from_der(&c.der).ok()?;
            let same = c.has_key
                && !d.is_ca
                && d.not_after > rt.now
                && cert.tbs_certificate.subject == subject
                && ca
                    .certs
                    .all
                    .iter()
                    .any(|x| x.tbs_certificate.subject == cert.tbs_certificate.issuer);
            same.then(|| (c, d.clone()))
        });
        if let Some((old, d)) = existing {
            (rt.progress)(&t!(
                "enroll-renews-existing",
                subject = &d.subject_str,
                id = hex::encode(&old.meta.id)
            ));
            let ra = RenewArgs {
                sel: crate::cli::CertSel {
                    id: Some(hex::encode(&old.meta.id)),
                    label: None,
                },
                server: a.server.clone(),
                days: None,
                force: true,
                reuse_key: false,
                alg: Some(a.alg),
                notify: false,
            };
            let mut r = renew_cert(ctx, rt, &ra, old, &d, &ca)?;
            if let Value::Object(m) = &mut r.json {
                m.insert("renewed_existing".into(), json!(true));
            }
            maybe_trust(rt, yes, a, &ca, &mut r);
            return Ok(r);
        }
    }
    let s = ctx.session()?;
    s.login_user(rt.secrets)?;
    let challenge = need(rt.secrets, Secret::Challenge)?;
    let (hk, hp, id, spki) = generate(&s, rt, a.alg, &label)?;
    let outcome = (|| -> Result<Report> {
        let csr = request(
            &s,
            hk,
            &subject,
            &spki,
            Some(&challenge),
            a.email.as_deref(),
        )?;
        let key = CardKey {
            s: &s,
            key: hk,
            cert: self_signed(&s, rt, hk, &subject, &spki)?,
        };
        (rt.progress)(&t!("scep-sending", kind = "PKCSReq"));
        match exchange(ctx, &ca, MessageType::PkcsReq, &csr, &key)? {
            Reply::Pending { transaction_id } => pending::hold(
                ctx,
                rt,
                &ca,
                pending::Held {
                    transaction_id,
                    request: "PKCSReq",
                    key_id: &id,
                    spki: &spki,
                    new_key: true,
                    subject: &subject,
                    signer: &key.cert,
                    signer_key_id: &id,
                    label: &label,
                    chain: a.server.chain,
                    replaces: None,
                },
            ),
            Reply::Issued(certs) => {
                let der = pick_issued(ctx, &ca.certs, &certs, &spki)?;
                let chain = a.server.chain.then_some(&ca.certs);
                let (_hc, authorities) = store(&s, &der, &label, &id, chain)?;
                let issued = issued_json(&der);
                let text = t!(
                    "scep-enrolled",
                    subject = issued["subject"].as_str().unwrap_or_default(),
                    serial = issued["serial"].as_str().unwrap_or_default(),
                    expires = issued["not_after"].as_str().unwrap_or_default(),
                    token = &ctx.serial,
                    id = hex::encode(&id)
                );
                Ok(Report::ok(
                    json!({"serial": ctx.serial, "id": hex::encode(&id), "label": label,
                           "issued": issued, "ca_fingerprint": ca.fingerprint,
                           "request": "PKCSReq", "authorities": authorities}),
                    text,
                ))
            }
        }
    })();
    let mut outcome = outcome;
    match &mut outcome {
        Ok(r) if r.exit == Exit::Pending => {}
        Ok(r) => {
            remember_ca(ctx, rt, &ca, &id, None);
            after_write(ctx, rt);
            maybe_trust(rt, yes, a, &ca, r);
        }
        Err(_) => destroy(&s, &[hk, hp]),
    }
    outcome
}

/// `--trust-ca`: after a certificate was issued, the CA into the trust store asked for.
fn maybe_trust(rt: &mut Runtime<'_>, yes: bool, a: &EnrollArgs, ca: &Ca, r: &mut Report) {
    if let (Some(store), Exit::Ok) = (a.trust_ca, r.exit) {
        let done = trust::trust_ca(rt, yes, ca, store);
        if let Value::Object(m) = &mut r.json {
            m.insert("trust_ca".into(), done);
        }
    }
}

/// This machine's host name (the kernel's, as `hostname` prints it), if it has one.
fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h != "(none)")
}

/// The record of tokens seen, refreshed after a write (best effort).
fn after_write(ctx: &Ctx, rt: &mut Runtime<'_>) {
    if rt.state_dir.is_some() {
        if let Ok(all) = super::certs::read_all(ctx) {
            super::certs::remember(ctx, rt, &all);
        }
    }
}

fn subject_cn(n: &x509_cert::name::Name) -> Option<String> {
    pki_files::details::name_common_name(n)
}

/// The certificate `renew` works on: the one `--id` / `--label` names, else the only
/// end-entity certificate of the token.
fn renew_target<'a>(
    ctx: &Ctx,
    all: &'a [super::certs::OnToken],
    a: &RenewArgs,
) -> Result<&'a super::certs::OnToken> {
    let id = a
        .sel
        .id
        .as_deref()
        .map(parse_id)
        .transpose()
        .map_err(|e| ctx.err(e))?;
    let named: Vec<&super::certs::OnToken> = all
        .iter()
        .filter(|c| {
            id.as_ref().is_none_or(|i| &c.meta.id == i)
                && a.sel.label.as_ref().is_none_or(|l| &c.meta.label == l)
        })
        .collect();
    let candidates: Vec<&super::certs::OnToken> = if id.is_none() && a.sel.label.is_none() {
        named
            .into_iter()
            .filter(|c| c.details.as_ref().is_some_and(|d| !d.is_ca))
            .collect()
    } else {
        named
    };
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(ctx.err(ToolError::input(t!("err-renew-no-cert")))),
        _ => Err(ctx.err(ToolError::input(t!("err-renew-several")))),
    }
}

/// Run `renew`.
pub fn renew(ctx: &Ctx, rt: &mut Runtime<'_>, a: &RenewArgs) -> Result<Report> {
    let days = match a.days {
        Some(d) => in_range("--days", d, 1, 120).map_err(|e| ctx.err(e))?,
        None => i64::from(rt.config.expiry.days),
    };
    let all = super::certs::read_all(ctx)?;
    let old = renew_target(ctx, &all, a)?;
    if let Some(r) = pending::renewal_of(ctx, rt, &old.meta.id) {
        return Ok(r);
    }
    let Some(d) = old.details.clone() else {
        return Err(ctx.err(ToolError::new(Exit::Card, t!("err-renew-unreadable"))));
    };
    let days_left = (d.not_after - rt.now).div_euclid(86_400);
    let due = d.not_after - rt.now <= days * 86_400;
    if !due && !a.force {
        return Ok(Report {
            exit: Exit::NotDue,
            json: json!({"serial": ctx.serial, "due": false, "id": hex::encode(&old.meta.id),
                         "not_after": d.not_after_str, "days_left": days_left, "days": days}),
            text: t!(
                "renew-not-due",
                subject = &d.subject_str,
                expires = &d.not_after_str,
                days_left = days_left.to_string(),
                days = days.to_string()
            ),
        });
    }
    if a.notify && !rt.secrets.available(Secret::UserPin) {
        return Ok(notify_no_pin(ctx, rt, old, &d));
    }
    let recorded = rt
        .state_dir
        .as_ref()
        .and_then(|dir| crate::seen::enrolled_from(dir, &ctx.serial, &hex::encode(&old.meta.id)));
    let ca = reach_ca(ctx, rt, &a.server, recorded, true)?;
    renew_cert(ctx, rt, a, old, &d, &ca)
}

/// `renew --notify` with the renewal due and no PIN source: a desktop notification naming the
/// command to run (unless the certificate is muted), and exit 10 ("needs input").
fn notify_no_pin(
    ctx: &Ctx,
    rt: &mut Runtime<'_>,
    old: &super::certs::OnToken,
    d: &pki_files::details::CertDetails,
) -> Report {
    let id = hex::encode(&old.meta.id);
    let command = format!("epass2003-tool renew --serial {} --id {id}", ctx.serial);
    let cn = pki_files::details::common_name(&old.der).unwrap_or_else(|| d.subject_str.clone());
    let muted = rt.config.expiry.is_muted(&d.serial_hex, &id);
    let shown = if muted {
        Err("muted".to_string())
    } else {
        let n = crate::notify::Notification {
            summary: t!("notice-title-renew-pin", cn = &cn),
            body: t!(
                "notice-body-renew-pin",
                cn = &cn,
                id = &id,
                serial = &ctx.serial,
                date = &d.not_after_str,
                command = &command
            ),
            category: super::expiring::CATEGORY,
        };
        crate::notify::DesktopNotifier::session().and_then(|mut dn| {
            use crate::notify::Notifier;
            dn.notify(&n)
        })
    };
    let mut j = json!({"serial": ctx.serial, "id": id, "due": true, "renewed": false,
                       "reason": "no_pin_source", "not_after": d.not_after_str,
                       "renew_command": command, "notified": shown.is_ok()});
    if let (Err(e), Value::Object(m)) = (&shown, &mut j) {
        m.insert("notify_error".into(), json!(e));
    }
    Report {
        exit: Exit::Cancelled,
        json: j,
        text: t!(
            "renew-no-pin-source",
            cn = &cn,
            date = &d.not_after_str,
            command = &command
        ),
    }
}

/// Renew `old` (details `d`) at the CA `ca`, reached and trusted.
fn renew_cert(
    ctx: &Ctx,
    rt: &mut Runtime<'_>,
    a: &RenewArgs,
    old: &super::certs::OnToken,
    d: &pki_files::details::CertDetails,
    ca: &Ca,
) -> Result<Report> {
    let old_cert = Certificate::from_der(&old.der)
        .map_err(|e| ctx.err(ToolError::new(Exit::Card, e.to_string())))?;
    let subject = old_cert.tbs_certificate.subject.clone();
    let s = ctx.session()?;
    s.login_user(rt.secrets)?;
    let objs = s.with(|t, hs, _| t.list_objects(hs))?;
    let old_key = key_pair_of(&objs, &old.meta.id);
    let Some((old_priv, old_pub, old_meta)) = old_key else {
        return Err(ctx.err(ToolError::new(Exit::NotPossible, t!("err-renew-no-key"))));
    };
    let old_bits = match old_meta.key_type {
        Some(KeyType::Rsa { bits }) => bits,
        _ => return Err(ctx.err(ToolError::new(Exit::NotPossible, t!("err-scep-ec")))),
    };
    // RenewalReq (signed by the old certificate and key, RFC 8894 §3.3.1.2) when the CA
    // offers it and the old key can open the reply; else a new PKCSReq.
    let renewal = ca.caps.renewal() && old_meta.usage.decrypt;
    let challenge = if !renewal || rt.secrets.available(Secret::Challenge) {
        Some(need(rt.secrets, Secret::Challenge)?)
    } else {
        None
    };
    let alg = a.alg.unwrap_or(if old_bits <= 1024 {
        KeyAlg::Rsa1024
    } else {
        KeyAlg::Rsa2048
    });
    let label = old.meta.label.clone();
    let new_key = if a.reuse_key {
        None
    } else {
        Some(generate(&s, rt, alg, &label)?)
    };
    let (hk, id, spki) = match &new_key {
        Some((hk, _, id, spki)) => (*hk, id.clone(), spki.clone()),
        None => (old_priv, old_meta.id.clone(), d.spki_der.clone()),
    };
    let kind = if renewal {
        MessageType::RenewalReq
    } else {
        MessageType::PkcsReq
    };
    let kind_name = if renewal { "RenewalReq" } else { "PKCSReq" };
    let outcome = (|| -> Result<Report> {
        let csr = request(
            &s,
            hk,
            &subject,
            &spki,
            challenge.as_deref().map(|c| c.as_str()),
            None,
        )?;
        let key = if renewal {
            CardKey {
                s: &s,
                key: old_priv,
                cert: old_cert.clone(),
            }
        } else {
            CardKey {
                s: &s,
                key: hk,
                cert: self_signed(&s, rt, hk, &subject, &spki)?,
            }
        };
        (rt.progress)(&t!("scep-sending", kind = kind_name));
        match exchange(ctx, ca, kind, &csr, &key)? {
            Reply::Pending { transaction_id } => pending::hold(
                ctx,
                rt,
                ca,
                pending::Held {
                    transaction_id,
                    request: kind_name,
                    key_id: &id,
                    spki: &spki,
                    new_key: new_key.is_some(),
                    subject: &subject,
                    signer: &key.cert,
                    signer_key_id: if renewal { &old.meta.id } else { &id },
                    label: &label,
                    chain: a.server.chain,
                    replaces: Some(&old.meta.id),
                },
            ),
            Reply::Issued(certs) => {
                let der = pick_issued(ctx, &ca.certs, &certs, &spki)?;
                let chain = a.server.chain.then_some(&ca.certs);
                let (_hc, authorities) = store(&s, &der, &label, &id, chain)?;
                // Stored and read back: only now does the old certificate go (and the old
                // key pair, when a new one replaced it).
                let mut removed = vec![old.handle];
                if new_key.is_some() {
                    removed.push(old_priv);
                    removed.extend(old_pub);
                }
                let mut not_removed = Vec::new();
                for h in &removed {
                    if let Err(e) = s.with(|t, hs, sh| t.destroy_object(hs, sh, *h)) {
                        not_removed.push(e.message);
                    }
                }
                let issued = issued_json(&der);
                let mut text = t!(
                    "scep-renewed",
                    subject = issued["subject"].as_str().unwrap_or_default(),
                    serial = issued["serial"].as_str().unwrap_or_default(),
                    expires = issued["not_after"].as_str().unwrap_or_default(),
                    token = &ctx.serial,
                    kind = kind_name,
                    key = if new_key.is_some() {
                        t!("renew-new-key")
                    } else {
                        t!("renew-same-key")
                    }
                );
                if !not_removed.is_empty() {
                    text.push('\n');
                    text.push_str(&t!(
                        "renew-old-not-removed",
                        detail = not_removed.join("; ")
                    ));
                }
                Ok(Report::ok(
                    json!({"serial": ctx.serial, "id": hex::encode(&id), "label": label,
                           "issued": issued, "ca_fingerprint": ca.fingerprint,
                           "request": kind_name, "new_key": new_key.is_some(),
                           "replaced": {"serial": d.serial_hex, "not_after": d.not_after_str,
                                        "removed": not_removed.is_empty()},
                           "authorities": authorities}),
                    text,
                ))
            }
        }
    })();
    match (&outcome, &new_key) {
        (Ok(r), _) if r.exit == Exit::Pending => {}
        (Ok(_), _) => {
            remember_ca(ctx, rt, ca, &id, Some(&old.meta.id));
            after_write(ctx, rt);
        }
        (Err(_), Some((hk, hp, _, _))) => destroy(&s, &[*hk, *hp]),
        (Err(_), None) => {}
    }
    outcome
}

/// The private key (and public key, if any) with CKA_ID `id`.
fn key_pair_of(
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
