//! `import`: a PKCS#12/PFX file (key + certificate, optionally the CA chain), a P7B bundle, or
//! CRT/CER certificates in DER or PEM.
//!
//! * The key's usage is what was asked (`--usage sign` or `sign-exchange`, the vendor tool's
//!   default), written to the key's usage flags and enforced by the library.
//! * Identifiers: a certificate whose public key matches a key on the token gets that key's
//!   `CKA_ID`; otherwise (and for imported keys) the id is the SHA-1 of the RSA modulus or of
//!   the EC point, as NSS derives it, so NSS, OpenSC and the tool agree.
//! * Everything is checked before the first write (password, key type and size, duplicates).
//!   If a write fails, what this import wrote is deleted again, so a wrong password, a damaged
//!   file, a key the card cannot hold or a full card leave the token as it was. A card pulled
//!   mid-import cannot be cleaned up at that moment; each object is written pull-safe, and a
//!   repeated import of the same file completes it.

use crate::cli::{Format, ImportArgs, Take, Usage};
use crate::ctx::{Ctx, Session};
use crate::error::{Exit, Result, ToolError};
use crate::output::Report;
use crate::{t, Runtime};
use cryptoki_sys::*;
use pkcs15::backend::{KeyUsage, ObjectKind, ObjectMeta};
use pki_files::pkcs12::PrivateKey;
use serde_json::{json, Value};
use token::attr::{b, ul, Template};
use token::crypto::PublicKey;

/// The NSS-style CKA_ID of a public key (SHA-1 of the RSA modulus, or of the EC point): the
/// library's own derivation, so the tool and `C_CreateObject` agree.
pub fn derived_id(spki_der: &[u8]) -> Option<Vec<u8>> {
    PublicKey::from_spki(spki_der).map(|k| token::token::derived_id(&k))
}

/// (CKA_ID, label, public key) of a key pair on the token. Keys are compared as the library
/// compares them (key material, whatever the parameter encoding).
type KeyInfo = (Vec<u8>, String, PublicKey);

/// Public keys on the token: (CKA_ID, label, public key) of every key pair.
fn token_keys(s: &Session<'_>, objs: &[(CK_OBJECT_HANDLE, ObjectMeta)]) -> Result<Vec<KeyInfo>> {
    let mut out = Vec::new();
    for (h, m) in objs {
        if m.kind != ObjectKind::PublicKey {
            continue;
        }
        let v = s.with(|t, hs, _| t.object_value(hs, *h))?;
        if let Some(pk) = PublicKey::from_spki(&v) {
            let label = objs
                .iter()
                .find(|(_, k)| k.kind == ObjectKind::PrivateKey && k.id == m.id)
                .map_or_else(|| m.label.clone(), |(_, k)| k.label.clone());
            out.push((m.id.clone(), label, pk));
        }
    }
    Ok(out)
}

struct Written {
    handles: Vec<CK_OBJECT_HANDLE>,
    report: Vec<Value>,
}

pub(crate) fn cert_template(der: &[u8], label: &str, id: &[u8], authority: bool) -> Template {
    let mut t = vec![
        (CKA_CLASS, ul(CKO_CERTIFICATE)),
        (CKA_CERTIFICATE_TYPE, ul(CKC_X_509)),
        (CKA_TOKEN, b(true)),
        (CKA_VALUE, der.to_vec()),
        (CKA_LABEL, label.as_bytes().to_vec()),
        (CKA_ID, id.to_vec()),
    ];
    if authority {
        t.push((
            CKA_CERTIFICATE_CATEGORY,
            ul(CK_CERTIFICATE_CATEGORY_AUTHORITY),
        ));
    }
    Template(t)
}

fn rollback(s: &Session<'_>, w: &Written) {
    for h in w.handles.iter().rev() {
        let _ = s.with(|t, hs, sh| t.destroy_object(hs, sh, *h));
    }
}

/// Run `import`.
pub fn run(ctx: &Ctx, rt: &mut Runtime<'_>, yes: bool, a: &ImportArgs) -> Result<Report> {
    let data = std::fs::read(&a.file).map_err(|e| {
        ctx.err(ToolError::input(t!(
            "err-file",
            file = a.file.display().to_string(),
            detail = e.to_string()
        )))
    })?;
    let certs = match a.format {
        Format::P12 => None,
        Format::P7b | Format::Cert => {
            Some(pki_files::certs::parse_certificates(&data).map_err(|e| {
                ctx.err(ToolError::input(t!(
                    "err-file",
                    file = a.file.display().to_string(),
                    detail = e.to_string()
                )))
            })?)
        }
        Format::Auto => pki_files::certs::parse_certificates(&data).ok(),
    };
    let r = match certs {
        Some(c) => import_certs(ctx, rt, a, &c, yes),
        None => import_p12(ctx, rt, a, yes),
    };
    if r.is_ok() && rt.state_dir.is_some() {
        // The token's certificates as they are now, for the record of tokens seen (values
        // the import just read or wrote are cached by the token layer). Best effort.
        if let Ok(all) = super::certs::read_all(ctx) {
            super::certs::remember(ctx, rt, &all);
        }
    }
    r
}

fn label_of(der: &[u8]) -> String {
    pki_files::details::common_name(der).unwrap_or_else(|| t!("kind-certificate"))
}

/// Certificates only (P7B, CRT/CER).
fn import_certs(
    ctx: &Ctx,
    rt: &mut Runtime<'_>,
    a: &ImportArgs,
    certs: &[Vec<u8>],
    yes: bool,
) -> Result<Report> {
    if certs.is_empty() {
        return Err(ctx.err(ToolError::input(t!(
            "err-no-cert-in-file",
            file = a.file.display().to_string()
        ))));
    }
    let mut parsed = Vec::new();
    for der in certs {
        let d = pki_files::details::cert_details(der).map_err(|e| {
            ctx.err(ToolError::input(t!(
                "err-file",
                file = a.file.display().to_string(),
                detail = e.to_string()
            )))
        })?;
        parsed.push((der.clone(), d));
    }
    let s = ctx.session()?;
    s.login_user(rt.secrets)?;
    let objs = s.with(|t, hs, _| t.list_objects(hs))?;
    let keys = token_keys(&s, &objs)?;
    // (handle, CKA_ID, DER) of the certificates already there.
    let mut on_token: Vec<(CK_OBJECT_HANDLE, Vec<u8>, Vec<u8>)> = Vec::new();
    for (h, m) in &objs {
        if m.kind == ObjectKind::Certificate {
            on_token.push((*h, m.id.clone(), s.with(|t, hs, _| t.object_value(hs, *h))?));
        }
    }
    let existing: Vec<Vec<u8>> = on_token.iter().map(|(_, _, d)| d.clone()).collect();
    let into = a
        .into
        .as_deref()
        .map(super::parse_id)
        .transpose()
        .map_err(|e| ctx.err(e))?;
    let mut w = Written {
        handles: Vec::new(),
        report: Vec::new(),
    };
    let mut skipped = Vec::new();
    for (der, d) in &parsed {
        if existing.contains(der) {
            skipped.push(d.subject_str.clone());
            continue;
        }
        let pk = PublicKey::from_spki(&d.spki_der);
        let key = match &into {
            Some(want) => {
                let k = keys.iter().find(|(id, _, _)| id == want).ok_or_else(|| {
                    ctx.err(ToolError::input(t!(
                        "err-into-no-key",
                        id = hex::encode(want)
                    )))
                })?;
                if Some(&k.2) != pk.as_ref() {
                    return Err(ctx.err(ToolError::input(t!(
                        "err-into-mismatch",
                        id = hex::encode(want)
                    ))));
                }
                Some(k)
            }
            None => keys.iter().find(|(_, _, kp)| Some(kp) == pk.as_ref()),
        };
        // A certificate of the same key already there is replaced only after confirmation;
        // the new one is written first, so a failure leaves the old one usable.
        let old: Vec<CK_OBJECT_HANDLE> = match key {
            Some((kid, _, _)) => on_token
                .iter()
                .filter(|(_, id, _)| id == kid)
                .map(|(h, _, _)| *h)
                .collect(),
            None => Vec::new(),
        };
        if !old.is_empty() {
            super::confirm(
                rt,
                yes,
                &t!("confirm-replace-cert", subject = &d.subject_str),
            )?;
        }
        let (id, label) = match key {
            Some((id, klabel, _)) => (
                id.clone(),
                a.label.clone().unwrap_or_else(|| klabel.clone()),
            ),
            None => (
                derived_id(&d.spki_der).unwrap_or_default(),
                a.label.clone().unwrap_or_else(|| label_of(der)),
            ),
        };
        let authority = a.ca || (key.is_none() && d.is_ca);
        let r =
            s.with(|t, hs, h| t.create_object(hs, h, &cert_template(der, &label, &id, authority)));
        match r {
            Ok(h) => {
                w.handles.push(h);
                w.report.push(
                    json!({"subject": d.subject_str, "label": label, "id": hex::encode(&id),
                    "authority": authority, "paired_with_key": key.is_some(),
                    "replaced": !old.is_empty()}),
                );
                for oh in &old {
                    s.with(|t, hs, sh| t.destroy_object(hs, sh, *oh))?;
                }
            }
            Err(e) => {
                rollback(&s, &w);
                return Err(e);
            }
        }
    }
    let mut text = String::new();
    for r in &w.report {
        let (subject, label, id) = (
            r["subject"].as_str().unwrap_or(""),
            r["label"].as_str().unwrap_or(""),
            r["id"].as_str().unwrap_or(""),
        );
        let line = if r["paired_with_key"] == json!(true) {
            t!(
                "import-cert-with-key",
                subject = subject,
                label = label,
                id = id
            )
        } else if r["authority"] == json!(true) {
            t!("import-cert-ca", subject = subject, label = label, id = id)
        } else {
            t!("import-cert", subject = subject, label = label, id = id)
        };
        text.push_str(&format!("{line}\n"));
    }
    for sub in &skipped {
        text.push_str(&format!("{}\n", t!("import-already", subject = sub)));
    }
    Ok(Report::ok(
        json!({"serial": ctx.serial, "file": a.file.display().to_string(), "imported": w.report, "already_present": skipped}),
        text,
    ))
}

fn import_p12(ctx: &Ctx, rt: &mut Runtime<'_>, a: &ImportArgs, yes: bool) -> Result<Report> {
    let (contents, _pw) = super::p12::open(&a.file, rt).map_err(|e| ctx.err(e))?;
    if contents.keys.is_empty() {
        let ders: Vec<Vec<u8>> = contents.certs.iter().map(|c| c.der.clone()).collect();
        return import_certs(ctx, rt, a, &ders, yes);
    }
    // Everything checked before the first write.
    let mut plan = Vec::new();
    for (i, kb) in contents.keys.iter().enumerate() {
        let spki = kb
            .key
            .spki_der()
            .map_err(|e| ctx.err(super::p12::p12_error(&a.file, e)))?;
        let (material, ec) = match &kb.key {
            PrivateKey::Rsa { n, e, d, .. } => {
                let bits = n.iter().skip_while(|&&x| x == 0).count() * 8;
                if bits != 1024 && bits != 2048 {
                    return Err(ctx.err(ToolError::new(
                        Exit::NotPossible,
                        t!("err-rsa-size", bits = bits),
                    )));
                }
                (
                    token::token::PrivateKeyMaterial::Rsa {
                        n: n.clone(),
                        e: e.clone(),
                        d: zeroize::Zeroizing::new(d.to_vec()),
                    },
                    false,
                )
            }
            PrivateKey::EcP256 { d, point } => {
                let m = token::token::PrivateKeyMaterial::ec_p256_from_scalar(d)
                    .map_err(|e| ctx.err(crate::error::from_token(e)))?;
                if let token::token::PrivateKeyMaterial::EcP256 { point: p, .. } = &m {
                    if p != point {
                        return Err(ctx.err(ToolError::input(t!(
                            "err-ec-mismatch",
                            file = a.file.display().to_string()
                        ))));
                    }
                }
                (m, true)
            }
        };
        let cert = contents.end_entity(i);
        let id = derived_id(&spki).unwrap_or_default();
        let label = a
            .label
            .clone()
            .or_else(|| kb.friendly_name.clone())
            .or_else(|| cert.map(|c| label_of(&c.der)))
            .unwrap_or_else(|| t!("import-default-label"));
        let usage = KeyUsage {
            sign: true,
            decrypt: a.usage != Some(Usage::Sign) && !ec,
            ..KeyUsage::default()
        };
        if ec && a.usage == Some(Usage::SignExchange) {
            (rt.progress)(&t!("note-ec-sign-only"));
        }
        let chain: Vec<Vec<u8>> = if a.take == Take::Chain {
            contents.chain(i).iter().map(|c| c.der.clone()).collect()
        } else {
            Vec::new()
        };
        plan.push((
            token::token::KeyImport {
                material,
                label: label.clone(),
                id: id.clone(),
                usage,
            },
            cert.map(|c| c.der.clone()),
            chain,
            label,
            id,
            kb.key.describe(),
        ));
    }
    let s = ctx.session()?;
    s.login_user(rt.secrets)?;
    let objs = s.with(|t, hs, _| t.list_objects(hs))?;
    let mut existing = Vec::new();
    for (h, m) in &objs {
        if m.kind == ObjectKind::Certificate {
            existing.push(s.with(|t, hs, _| t.object_value(hs, *h))?);
        }
    }
    // A key already on the token (same public key, hence same id): an earlier import of this
    // file that was interrupted (card pulled) is completed; a complete one is refused.
    let mut key_present = Vec::new();
    for (_, cert, chain, _, id, _) in &plan {
        let present = objs
            .iter()
            .any(|(_, m)| m.kind == ObjectKind::PrivateKey && &m.id == id);
        let complete = cert.as_ref().is_none_or(|c| existing.contains(c))
            && chain.iter().all(|c| existing.contains(c));
        if present && complete {
            return Err(ctx.err(ToolError::new(
                Exit::NotPossible,
                t!("err-already-imported", id = hex::encode(id)),
            )));
        }
        key_present.push(present);
    }
    let mut w = Written {
        handles: Vec::new(),
        report: Vec::new(),
    };
    let mut text = String::new();
    for ((key, cert, chain, label, id, desc), present) in plan.iter().zip(key_present) {
        let r = (|| -> Result<()> {
            if present {
                (rt.progress)(&t!("import-completing"));
            } else {
                (rt.progress)(&t!("import-writing", kind = desc, serial = &ctx.serial));
                let hk = s.with(|t, hs, h| t.import_private_key(hs, h, key))?;
                w.handles.push(hk);
                // The backend writes the public half with the key; undo it too on failure.
                let objs = s.with(|t, hs, _| t.list_objects(hs))?;
                for (h, m) in &objs {
                    if m.kind == ObjectKind::PublicKey && &m.id == id && !w.handles.contains(h) {
                        w.handles.push(*h);
                    }
                }
            }
            if let Some(der) = cert {
                if !existing.contains(der) {
                    let h = s.with(|t, hs, h| {
                        t.create_object(hs, h, &cert_template(der, label, id, false))
                    })?;
                    w.handles.push(h);
                }
            }
            for ca in chain {
                if existing.contains(ca) {
                    continue;
                }
                let cid = pki_files::details::cert_details(ca)
                    .ok()
                    .and_then(|d| derived_id(&d.spki_der))
                    .unwrap_or_default();
                let h = s.with(|t, hs, h| {
                    t.create_object(hs, h, &cert_template(ca, &label_of(ca), &cid, true))
                })?;
                w.handles.push(h);
                existing.push(ca.clone());
            }
            Ok(())
        })();
        if let Err(e) = r {
            rollback(&s, &w);
            return Err(e);
        }
        let subject = cert
            .as_ref()
            .and_then(|c| pki_files::details::cert_details(c).ok())
            .map(|d| d.subject_str);
        let mut line = t!(
            "import-key",
            kind = desc,
            label = label,
            id = hex::encode(id),
            usage = if key.usage.decrypt {
                t!("usage-sign-exchange")
            } else {
                t!("usage-sign")
            }
        );
        if let Some(s) = &subject {
            line.push_str(&t!("import-key-cert", subject = s));
        }
        if !chain.is_empty() {
            line.push_str(&t!("import-key-chain", count = chain.len()));
        }
        text.push_str(&format!("{line}\n"));
        w.report
            .push(json!({"key": desc, "label": label, "id": hex::encode(id),
            "usage": if key.usage.decrypt { "sign-exchange" } else { "sign" },
            "certificate": subject, "ca_certificates": chain.len()}));
    }
    Ok(Report::ok(
        json!({"serial": ctx.serial, "file": a.file.display().to_string(), "imported": w.report}),
        text,
    ))
}
