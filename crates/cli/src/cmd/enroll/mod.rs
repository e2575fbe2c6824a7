//! `enroll` and `renew`: certificates over SCEP (RFC 8894), straight onto the token.
//!
//! * The key pair is generated on the token; the request is signed on the card and the CA's
//!   reply (a CMS envelope) is opened by the card's key ([`CardKey`], in [`card`]): no
//!   private key ever exists on the host.
//! * The CA ([`ca`]) is trusted only after its certificate's SHA-256 fingerprint matched
//!   `--ca-fingerprint`, or a person compared it and said yes; nobody to ask is exit 16.
//! * Nothing is left half done: a failure after the new key pair was generated deletes it
//!   again; `renew` removes the old certificate (and, with a new key, the old key pair) only
//!   after the new certificate is stored and read back.
//! * PENDING (the CA holds the request for an administrator) keeps the new key on the token
//!   and a record, exit 13; `enroll --poll` / `--withdraw` finish it ([`pending`]).
//! * `--trust-ca` puts the CA into a trust store once confirmed ([`trust`]).

mod ca;
mod card;
mod pending;
mod trust;

use ca::{exchange, reach_ca, remember_ca, scep_err, Ca};
use card::{
    destroy, generate, issued_json, key_pair_of, pick_issued, request, self_signed, store,
    truncate_label, CardKey,
};

pub(crate) use pending::{pending_json, pending_text};

use super::{in_range, parse_id};
use crate::cli::{EnrollArgs, KeyAlg, RenewArgs};
use crate::ctx::Ctx;
use crate::error::{Exit, Result, ToolError};
use crate::output::Report;
use crate::secrets::{need, Secret};
use crate::{t, Runtime};
use der::Decode;
use pkcs15::backend::KeyType;
use scep::attrs::MessageType;
use scep::message::Reply;
use serde_json::{json, Value};
use x509_cert::Certificate;

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
    let command = super::expiring::renew_command(&ctx.serial, &id);
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
