//! Requests the CA holds for approval (PENDING, RFC 8894 §3.3.3) as a state of the token:
//!
//! * the reply PENDING keeps the key pair on the token and a record ([`PendingRequest`] in
//!   the record of tokens seen) of what a poll needs: the transaction id, the subject, the
//!   certificate and key that signed the request, the CA's URL and fingerprint;
//! * `enroll --poll` sends a CertPoll signed by the same key and stores the certificate when
//!   the CA has issued it (a renewal then replaces the old certificate, as `renew` does);
//!   a CA that refused it has the key pair made for it deleted;
//! * `enroll --withdraw` deletes the record and the key pair made for the request;
//! * `certs list` shows them, and `renew` of a certificate whose renewal is pending says so
//!   instead of sending a second request.

use super::{
    after_write, destroy, issued_json, key_pair_of, pick_issued, reach_ca, remember_ca, scep_err,
    self_signed, store, Ca, CardKey,
};
use crate::cli::EnrollArgs;
use crate::ctx::Ctx;
use crate::error::{Exit, Result, ToolError};
use crate::output::Report;
use crate::seen::{EnrolledFrom, PendingRequest};
use crate::{t, Runtime};
use der::{Decode, Encode};
use pkcs15::backend::ObjectKind;
use scep::message::Reply;
use serde_json::{json, Value};
use x509_cert::name::Name;
use x509_cert::Certificate;

/// A request the CA just answered PENDING.
pub(super) struct Held<'a> {
    pub transaction_id: String,
    pub request: &'static str,
    pub key_id: &'a [u8],
    pub spki: &'a [u8],
    pub new_key: bool,
    pub subject: &'a Name,
    pub signer: &'a Certificate,
    pub signer_key_id: &'a [u8],
    pub label: &'a str,
    pub chain: bool,
    pub replaces: Option<&'a [u8]>,
}

/// The JSON of a pending request.
pub(crate) fn pending_json(p: &PendingRequest) -> Value {
    json!({"key_id": p.key_id, "transaction_id": p.transaction_id, "request": p.request,
           "subject": p.subject, "url": p.url, "since": p.since, "since_unix": p.since_unix,
           "replaces": p.replaces})
}

/// The JSON of a command's report about the pending request `p` of this token.
fn pending_report_json(ctx: &Ctx, p: &PendingRequest) -> Value {
    let mut j = pending_json(p);
    if let Value::Object(m) = &mut j {
        m.insert("serial".into(), json!(ctx.serial));
        m.insert("pending".into(), json!(true));
    }
    j
}

/// One line per pending request, for `certs list`.
pub(crate) fn pending_text(p: &PendingRequest) -> String {
    t!(
        "pending-line",
        id = &p.key_id,
        subject = &p.subject,
        url = &p.url,
        since = &p.since,
        txid = &p.transaction_id
    )
}

/// Keep the record of a request the CA holds, and report it (exit 13).
pub(super) fn hold(ctx: &Ctx, rt: &mut Runtime<'_>, ca: &Ca, h: Held<'_>) -> Result<Report> {
    let p = PendingRequest {
        serial: ctx.serial.clone(),
        key_id: hex::encode(h.key_id),
        spki: hex::encode(h.spki),
        new_key: h.new_key,
        transaction_id: h.transaction_id,
        request: h.request.to_string(),
        url: ca.url.clone(),
        ca_fingerprint: ca.fingerprint.clone(),
        cacert: ca.cacert.clone(),
        subject: h.subject.to_string(),
        subject_der: hex::encode(h.subject.to_der().unwrap_or_default()),
        signer_cert: hex::encode(h.signer.to_der().unwrap_or_default()),
        signer_key_id: hex::encode(h.signer_key_id),
        label: h.label.to_string(),
        chain: h.chain,
        replaces: h.replaces.map(hex::encode),
        since_unix: rt.now,
        since: crate::seen::date(rt.now),
    };
    let recorded = match rt.state_dir.clone() {
        Some(dir) => {
            let warnings = crate::seen::remember_pending(&dir, p.clone());
            let ok = warnings.is_empty();
            for w in warnings {
                (rt.progress)(&w);
            }
            ok
        }
        None => false,
    };
    let mut text = t!(
        "scep-pending",
        txid = &p.transaction_id,
        id = &p.key_id,
        serial = &ctx.serial
    );
    if !recorded {
        text.push('\n');
        text.push_str(&t!("scep-pending-not-recorded"));
    }
    let mut j = pending_report_json(ctx, &p);
    if let Value::Object(m) = &mut j {
        m.insert("recorded".into(), json!(recorded));
    }
    Ok(Report {
        exit: Exit::Pending,
        json: j,
        text,
    })
}

/// The pending request `--id` names (or the token's only one).
fn pick(ctx: &Ctx, rt: &Runtime<'_>, a: &EnrollArgs) -> Result<PendingRequest> {
    let id =
        a.id.as_deref()
            .map(super::parse_id)
            .transpose()
            .map_err(|e| ctx.err(e))?
            .map(hex::encode);
    let all = match &rt.state_dir {
        Some(dir) => crate::seen::pending_of(dir, &ctx.serial),
        None => Vec::new(),
    };
    let mut v: Vec<PendingRequest> = all
        .into_iter()
        .filter(|p| id.as_ref().is_none_or(|i| *i == p.key_id))
        .collect();
    match v.len() {
        1 => Ok(v.remove(0)),
        0 => Err(ctx.err(ToolError::new(
            Exit::NotPossible,
            t!("err-pending-none", serial = &ctx.serial),
        ))),
        _ => Err(ctx.err(ToolError::input(t!("err-pending-several")))),
    }
}

fn bad_record(ctx: &Ctx, what: &str) -> ToolError {
    ctx.err(ToolError::new(
        Exit::Internal,
        t!("err-pending-record", detail = what),
    ))
}

fn unhex(ctx: &Ctx, s: &str, what: &str) -> Result<Vec<u8>> {
    hex::decode(s).map_err(|_| bad_record(ctx, what))
}

/// A renewal of the certificate `id` that the CA holds: reported (exit 13) rather than a
/// second request sent.
pub(super) fn renewal_of(ctx: &Ctx, rt: &Runtime<'_>, id: &[u8]) -> Option<Report> {
    let dir = rt.state_dir.as_ref()?;
    let id = hex::encode(id);
    let p = crate::seen::pending_of(dir, &ctx.serial)
        .into_iter()
        .find(|p| p.replaces.as_deref() == Some(id.as_str()))?;
    Some(Report {
        exit: Exit::Pending,
        json: pending_report_json(ctx, &p),
        text: t!(
            "renew-already-pending",
            txid = &p.transaction_id,
            since = &p.since,
            id = &p.key_id
        ),
    })
}

/// Run `enroll --poll`.
pub(super) fn poll(ctx: &Ctx, rt: &mut Runtime<'_>, yes: bool, a: &EnrollArgs) -> Result<Report> {
    let p = pick(ctx, rt, a)?;
    let key_id = unhex(ctx, &p.key_id, "key_id")?;
    let signer_key_id = unhex(ctx, &p.signer_key_id, "signer_key_id")?;
    let spki = unhex(ctx, &p.spki, "spki")?;
    let replaces = p
        .replaces
        .as_deref()
        .map(|r| unhex(ctx, r, "replaces"))
        .transpose()?;
    let subject = Name::from_der(&unhex(ctx, &p.subject_der, "subject_der")?)
        .map_err(|_| bad_record(ctx, "subject_der"))?;
    let mut signer_cert = Certificate::from_der(&unhex(ctx, &p.signer_cert, "signer_cert")?)
        .map_err(|_| bad_record(ctx, "signer_cert"))?;
    let recorded = EnrolledFrom {
        url: p.url.clone(),
        ca_fingerprint: p.ca_fingerprint.clone(),
        cacert: p.cacert.clone(),
    };
    let ca = reach_ca(ctx, rt, &a.server, Some(recorded), false)?;
    let s = ctx.session()?;
    s.login_user(rt.secrets)?;
    let objs = s.with(|t, hs, _| t.list_objects(hs))?;
    let Some((signer_key, _, _)) = key_pair_of(&objs, &signer_key_id) else {
        return Err(ctx.err(ToolError::new(
            Exit::NotPossible,
            t!("err-pending-key-gone", id = &p.signer_key_id),
        )));
    };
    // The self-signed certificate of a new key is valid for a day; a poll after that gets
    // a fresh one over the same key and subject (the CA matches the key).
    let expired = signer_cert
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration()
        .as_secs() as i64
        <= rt.now;
    if expired && replaces.is_none() {
        signer_cert = self_signed(&s, rt, signer_key, &subject, &spki)?;
    }
    let key = CardKey {
        s: &s,
        key: signer_key,
        cert: signer_cert,
    };
    (rt.progress)(&t!("scep-polling", txid = &p.transaction_id));
    let reply = ca.client.poll(
        &ca.caps,
        &ca.certs,
        &p.transaction_id,
        &subject,
        &key,
        &key,
        true,
    );
    let forget = |rt: &mut Runtime<'_>| {
        if let Some(dir) = rt.state_dir.clone() {
            for w in crate::seen::forget_pending(&dir, &ctx.serial, &p.key_id) {
                (rt.progress)(&w);
            }
        }
    };
    let certs = match reply {
        Ok(Reply::Pending { .. }) => {
            return Ok(Report {
                exit: Exit::Pending,
                json: pending_report_json(ctx, &p),
                text: t!(
                    "scep-still-pending",
                    txid = &p.transaction_id,
                    since = &p.since
                ),
            });
        }
        Err(scep::Error::Failure(fi)) => {
            // Refused: nothing more can come of this request.
            let mut deleted = false;
            if p.new_key {
                if let Some((hk, hp, _)) = key_pair_of(&objs, &key_id) {
                    let mut hs = vec![hk];
                    hs.extend(hp);
                    destroy(&s, &hs);
                    deleted = true;
                }
            }
            forget(rt);
            after_write(ctx, rt);
            return Err(ctx.err(
                ToolError::new(
                    Exit::ServerRefused,
                    t!(
                        "err-pending-refused",
                        txid = &p.transaction_id,
                        detail = fi.name(),
                        deleted = if deleted {
                            t!("pending-key-deleted", id = &p.key_id)
                        } else {
                            String::new()
                        }
                    ),
                )
                .with("fail_info", fi.name())
                .with("key_deleted", deleted),
            ));
        }
        Err(e) => return Err(ctx.err(scep_err(e))),
        Ok(Reply::Issued(certs)) => certs,
    };
    let der = pick_issued(ctx, &ca.certs, &certs, &spki)?;
    // The certificates a renewal replaces, listed before the new one is stored (with a
    // reused key they share its id).
    let old_certs: Vec<_> = match &replaces {
        Some(old) => objs
            .iter()
            .filter(|(_, m)| m.kind == ObjectKind::Certificate && &m.id == old)
            .map(|(h, _)| *h)
            .collect(),
        None => Vec::new(),
    };
    let chain = p.chain.then_some(&ca.certs);
    let (_hc, authorities) = store(&s, &der, &p.label, &key_id, chain)?;
    let mut removed = old_certs;
    if let (Some(old), true) = (&replaces, p.new_key) {
        if let Some((hk, hp, _)) = key_pair_of(&objs, old) {
            removed.push(hk);
            removed.extend(hp);
        }
    }
    let mut not_removed = Vec::new();
    for h in &removed {
        if let Err(e) = s.with(|t, hs, sh| t.destroy_object(hs, sh, *h)) {
            not_removed.push(e.message);
        }
    }
    forget(rt);
    remember_ca(ctx, rt, &ca, &key_id, replaces.as_deref());
    after_write(ctx, rt);
    let issued = issued_json(&der);
    let mut text = t!(
        "scep-enrolled",
        subject = issued["subject"].as_str().unwrap_or_default(),
        serial = issued["serial"].as_str().unwrap_or_default(),
        expires = issued["not_after"].as_str().unwrap_or_default(),
        token = &ctx.serial,
        id = &p.key_id
    );
    if replaces.is_some() {
        text.push('\n');
        text.push_str(&if not_removed.is_empty() {
            t!("pending-old-replaced")
        } else {
            t!("renew-old-not-removed", detail = not_removed.join("; "))
        });
    }
    let mut r = Report::ok(
        json!({"serial": ctx.serial, "id": p.key_id, "label": p.label, "issued": issued,
               "ca_fingerprint": ca.fingerprint, "request": p.request, "polled": true,
               "transaction_id": p.transaction_id,
               "replaced": replaces.as_ref().map(|_| json!({"removed": not_removed.is_empty()})),
               "authorities": authorities}),
        text,
    );
    super::maybe_trust(rt, yes, a, &ca, &mut r);
    Ok(r)
}

/// Run `enroll --withdraw`.
pub(super) fn withdraw(ctx: &Ctx, rt: &mut Runtime<'_>, a: &EnrollArgs) -> Result<Report> {
    let p = pick(ctx, rt, a)?;
    let key_id = unhex(ctx, &p.key_id, "key_id")?;
    let mut deleted = false;
    if p.new_key {
        let s = ctx.session()?;
        s.login_user(rt.secrets)?;
        let objs = s.with(|t, hs, _| t.list_objects(hs))?;
        if let Some((hk, hp, _)) = key_pair_of(&objs, &key_id) {
            s.with(|t, hs, sh| t.destroy_object(hs, sh, hk))?;
            if let Some(hp) = hp {
                s.with(|t, hs, sh| t.destroy_object(hs, sh, hp))?;
            }
            deleted = true;
        }
    }
    if let Some(dir) = rt.state_dir.clone() {
        for w in crate::seen::forget_pending(&dir, &ctx.serial, &p.key_id) {
            (rt.progress)(&w);
        }
    }
    if deleted {
        after_write(ctx, rt);
    }
    Ok(Report::ok(
        json!({"serial": ctx.serial, "withdrawn": true, "transaction_id": p.transaction_id,
               "key_id": p.key_id, "key_deleted": deleted, "url": p.url}),
        t!(
            "pending-withdrawn",
            txid = &p.transaction_id,
            url = &p.url,
            deleted = if deleted {
                t!("pending-key-deleted", id = &p.key_id)
            } else {
                String::new()
            }
        ),
    ))
}
