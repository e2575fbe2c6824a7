//! `keygen` (a key pair generated on the token) and `csr` (a PKCS#10 request signed on the
//! token, for enrolment with any CA).

use super::parse_id;
use crate::cli::{CsrArgs, KeyAlg, KeygenArgs, Usage};
use crate::ctx::Ctx;
use crate::error::{Exit, Result, ToolError};
use crate::output::Report;
use crate::{t, Runtime};
use cryptoki_sys::*;
use pkcs15::backend::ObjectKind;
use serde_json::json;
use token::attr::{b, ul, Template};
use token::mechanism::Mechanism;

/// Run `keygen`.
pub fn keygen(ctx: &Ctx, rt: &mut Runtime<'_>, a: &KeygenArgs) -> Result<Report> {
    let id =
        a.id.as_deref()
            .map(parse_id)
            .transpose()
            .map_err(|e| ctx.err(e))?;
    let ec = a.alg == KeyAlg::EcP256;
    if ec && a.usage == Some(Usage::SignExchange) {
        (rt.progress)(&t!("note-ec-sign-only"));
    }
    let s = ctx.session()?;
    s.login_user(rt.secrets)?;
    let (mech, mut public) = match a.alg {
        KeyAlg::Rsa2048 | KeyAlg::Rsa1024 => (
            Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN),
            vec![
                (
                    CKA_MODULUS_BITS,
                    ul(if a.alg == KeyAlg::Rsa2048 { 2048 } else { 1024 }),
                ),
                (CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
            ],
        ),
        KeyAlg::EcP256 => (
            Mechanism::new(CKM_EC_KEY_PAIR_GEN),
            vec![(CKA_EC_PARAMS, token::crypto::P256_PARAMS.to_vec())],
        ),
    };
    public.push((CKA_TOKEN, b(true)));
    let mut private = vec![
        (CKA_TOKEN, b(true)),
        (CKA_PRIVATE, b(true)),
        (CKA_SENSITIVE, b(true)),
        (CKA_EXTRACTABLE, b(false)),
        (CKA_LABEL, a.label.as_bytes().to_vec()),
        (CKA_SIGN, b(true)),
    ];
    if !ec {
        private.push((CKA_DECRYPT, b(a.usage != Some(Usage::Sign))));
    }
    if let Some(id) = &id {
        private.push((CKA_ID, id.clone()));
    }
    (rt.progress)(&t!(
        "keygen-progress",
        kind = match a.alg {
            KeyAlg::Rsa2048 => "RSA-2048",
            KeyAlg::Rsa1024 => "RSA-1024",
            KeyAlg::EcP256 => "EC P-256",
        },
        serial = &ctx.serial
    ));
    let (_hp, hk) = s.with(|t, hs, h| {
        t.generate_key_pair(hs, h, &mech, &Template(public), &Template(private))
    })?;
    let objs = s.with(|t, hs, _| t.list_objects(hs))?;
    let meta = objs
        .iter()
        .find(|(h, _)| *h == hk)
        .map(|(_, m)| m.clone())
        .ok_or_else(|| ToolError::new(Exit::Internal, t!("err-new-key-not-listed")))?;
    (rt.progress)(&t!("done"));
    Ok(Report::ok(
        json!({"serial": ctx.serial, "label": meta.label, "id": hex::encode(&meta.id),
               "type": format!("{:?}", a.alg).to_lowercase()}),
        t!(
            "keygen-done",
            label = &meta.label,
            serial = &ctx.serial,
            id = hex::encode(&meta.id)
        ),
    ))
}

/// Run `csr`.
pub fn csr(ctx: &Ctx, rt: &mut Runtime<'_>, a: &CsrArgs) -> Result<Report> {
    let subject = pki_files::csr::parse_subject(&a.subject)
        .map_err(|e| ctx.err(ToolError::input(t!("err-subject", detail = e.to_string()))))?;
    let s = ctx.session()?;
    s.login_user(rt.secrets)?;
    let objs = s.with(|t, hs, _| t.list_objects(hs))?;
    let keys = super::delete::select(&objs, &a.sel, &[ObjectKind::PrivateKey])?;
    let (hk, meta) = match keys.as_slice() {
        [one] => (*one).clone(),
        [] => return Err(ctx.err(ToolError::input(t!("err-no-key-matches")))),
        _ => return Err(ctx.err(ToolError::input(t!("err-several-keys")))),
    };
    // The public key: the public-key object of the pair, else the certificate's.
    let spki = {
        let pubobj = objs
            .iter()
            .find(|(_, m)| m.kind == ObjectKind::PublicKey && m.id == meta.id && !m.id.is_empty());
        match pubobj {
            Some((h, _)) => s.with(|t, hs, _| t.object_value(hs, *h))?,
            None => {
                let cert = objs
                    .iter()
                    .find(|(_, m)| m.kind == ObjectKind::Certificate && m.id == meta.id)
                    .ok_or_else(|| {
                        ctx.err(ToolError::new(Exit::NotPossible, t!("err-no-public-half")))
                    })?;
                let der = s.with(|t, hs, _| t.object_value(hs, cert.0))?;
                pki_files::details::cert_details(&der)
                    .map_err(|e| ctx.err(ToolError::new(Exit::Card, e.to_string())))?
                    .spki_der
            }
        }
    };
    let ec = matches!(meta.key_type, Some(pkcs15::backend::KeyType::EcP256));
    let (alg, mech) = if ec {
        (pki_files::csr::SigAlg::EcdsaSha256, CKM_ECDSA_SHA256)
    } else {
        (pki_files::csr::SigAlg::RsaPkcs1Sha256, CKM_SHA256_RSA_PKCS)
    };
    let mut sign = |tbs: &[u8]| -> std::result::Result<Vec<u8>, String> {
        let sig = s
            .with(|t, hs, h| {
                t.sign_init(hs, h, &Mechanism::new(mech), hk)?;
                t.sign(h, tbs)
            })
            .map_err(|e| e.message)?;
        if ec {
            let sig = p256::ecdsa::Signature::from_slice(&sig).map_err(|e| e.to_string())?;
            Ok(sig.to_der().as_bytes().to_vec())
        } else {
            Ok(sig)
        }
    };
    let der = pki_files::csr::build_csr(&subject, &spki, alg, &mut sign).map_err(|e| {
        ctx.err(ToolError::new(
            Exit::Card,
            t!("err-csr", detail = e.to_string()),
        ))
    })?;
    let pem = pki_files::csr::to_pem("CERTIFICATE REQUEST", &der);
    let to_stdout = a.out.as_os_str() == "-";
    if !to_stdout {
        std::fs::write(&a.out, &pem).map_err(|e| {
            ToolError::input(t!(
                "err-file",
                file = a.out.display().to_string(),
                detail = e.to_string()
            ))
        })?;
    }
    Ok(Report::ok(
        json!({"serial": ctx.serial, "key_id": hex::encode(&meta.id), "subject": a.subject,
               "csr_pem": pem, "file": if to_stdout { None } else { Some(a.out.display().to_string()) }}),
        if to_stdout {
            pem.clone()
        } else {
            t!(
                "csr-written",
                subject = &a.subject,
                file = a.out.display().to_string()
            )
        },
    ))
}
