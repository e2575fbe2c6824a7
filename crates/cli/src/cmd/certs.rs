//! `certs list|show|export` and `expiring`: certificate details as a user recognises them
//! (subject with UID, issuer, validity, serial in hex, fingerprint, key usage, whether the
//! key is on the token), export in DER or PEM (never a private key), and the expiry report.

use crate::cli::{CertSel, Encoding, ExportArgs};
use crate::ctx::Ctx;
use crate::error::{Result, ToolError};
use crate::output::{Lines, Report};
use crate::{t, Runtime};
use cryptoki_sys::CK_OBJECT_HANDLE;
use pkcs15::backend::{ObjectKind, ObjectMeta};
use pki_files::details::{cert_details, CertDetails};
use serde_json::{json, Value};

/// One certificate on the token.
pub struct OnToken {
    /// Handle.
    pub handle: CK_OBJECT_HANDLE,
    /// Directory metadata.
    pub meta: ObjectMeta,
    /// DER.
    pub der: Vec<u8>,
    /// Parsed details (`None`: the DER does not parse).
    pub details: Option<CertDetails>,
    /// A private key with the same CKA_ID is on the token.
    pub has_key: bool,
}

/// Read every certificate (values read only for certificates).
pub fn read_all(ctx: &Ctx) -> Result<Vec<OnToken>> {
    ctx.with(|t, hs| {
        let all = t.list_all_objects(hs)?;
        let mut out = Vec::new();
        for (h, m) in &all {
            if m.kind != ObjectKind::Certificate {
                continue;
            }
            let der = t.object_value(hs, *h)?;
            let details = cert_details(&der).ok();
            let has_key = !m.id.is_empty()
                && all
                    .iter()
                    .any(|(_, k)| k.kind == ObjectKind::PrivateKey && k.id == m.id);
            out.push(OnToken {
                handle: *h,
                meta: m.clone(),
                der,
                details,
                has_key,
            });
        }
        Ok(out)
    })
}

pub(crate) fn days_left(d: &CertDetails, now: i64) -> i64 {
    (d.not_after - now).div_euclid(86_400)
}

pub(crate) fn cert_json(c: &OnToken, now: i64) -> Value {
    let mut v = json!({
        "label": c.meta.label,
        "id": hex::encode(&c.meta.id),
        "private_key_on_token": c.has_key,
    });
    if let (Some(d), Value::Object(m)) = (&c.details, &mut v) {
        let rdns = |r: &[pki_files::details::Rdn]| -> Value {
            r.iter()
                .map(|rdn| {
                    Value::Array(
                        rdn.attrs
                            .iter()
                            .map(|(k, v)| json!({"type": k, "value": v}))
                            .collect(),
                    )
                })
                .collect()
        };
        m.insert("subject".into(), json!(d.subject_str));
        m.insert("subject_rdns".into(), rdns(&d.subject));
        m.insert("issuer".into(), json!(d.issuer_str));
        m.insert("issuer_rdns".into(), rdns(&d.issuer));
        m.insert("serial".into(), json!(d.serial_hex));
        m.insert("not_before".into(), json!(d.not_before_str));
        m.insert("not_after".into(), json!(d.not_after_str));
        m.insert("not_after_unix".into(), json!(d.not_after));
        m.insert("days_left".into(), json!(days_left(d, now)));
        m.insert("expired".into(), json!(d.not_after < now));
        m.insert("sha256_fingerprint".into(), json!(d.sha256_fingerprint));
        m.insert("key_type".into(), json!(d.key_type));
        m.insert("key_usage".into(), json!(d.key_usage));
        m.insert("extended_key_usage".into(), json!(d.extended_key_usage));
        m.insert("ca".into(), json!(d.is_ca));
        m.insert("uid".into(), json!(uid(d)));
    }
    v
}

/// The subject's UID (0.9.2342.19200300.100.1.1), if any.
fn uid(d: &CertDetails) -> Option<String> {
    d.subject
        .iter()
        .flat_map(|r| r.attrs.iter())
        .find(|(k, _)| k == "UID")
        .map(|(_, v)| v.clone())
}

fn select<'a>(all: &'a [OnToken], sel: &CertSel) -> Result<Vec<&'a OnToken>> {
    let named = super::matcher(sel)?;
    Ok(all.iter().filter(|c| named(&c.meta)).collect())
}

/// Read every certificate and remember the token and them in the record of tokens seen
/// ([`crate::seen`]); its warnings go to the progress lines.
pub fn read_and_remember(ctx: &Ctx, rt: &mut Runtime<'_>) -> Result<Vec<OnToken>> {
    let all = read_all(ctx)?;
    remember(ctx, rt, &all);
    Ok(all)
}

/// Remember the token and `all` (its certificates) in the record of tokens seen.
pub fn remember(ctx: &Ctx, rt: &mut Runtime<'_>, all: &[OnToken]) {
    let Some(dir) = rt.state_dir.clone() else {
        return;
    };
    if ctx.serial.is_empty() {
        return;
    }
    let certificates = all
        .iter()
        .filter_map(|c| {
            let d = c.details.as_ref()?;
            Some(crate::seen::CertSeen {
                label: c.meta.label.clone(),
                id: hex::encode(&c.meta.id),
                subject: d.subject_str.clone(),
                subject_cn: crate::seen::cn(d),
                serial: d.serial_hex.clone(),
                not_after_unix: d.not_after,
                not_after: d.not_after_str.clone(),
            })
        })
        .collect();
    let seen = crate::seen::TokenSeen {
        serial: ctx.serial.clone(),
        label: ctx.label.clone(),
        last_seen_unix: rt.now,
        last_seen: crate::seen::date(rt.now),
        certificates,
    };
    for w in crate::seen::remember(&dir, seen) {
        (rt.progress)(&w);
    }
}

/// Run `certs list`.
pub fn list(ctx: &Ctx, rt: &mut Runtime<'_>) -> Result<Report> {
    let all = read_and_remember(ctx, rt)?;
    let mut text = String::new();
    if all.is_empty() {
        text.push_str(&format!("{}\n", t!("certs-none", serial = &ctx.serial)));
    }
    for c in &all {
        match &c.details {
            Some(d) => text.push_str(&format!(
                "{} (id {}): {}\n    {}{}{}\n",
                c.meta.label,
                hex::encode(&c.meta.id),
                d.subject_str,
                t!(
                    "certs-line",
                    issuer = &d.issuer_str,
                    until = &d.not_after_str
                ),
                if d.not_after < rt.now {
                    format!(" ({})", t!("word-expired"))
                } else {
                    String::new()
                },
                if c.has_key {
                    format!(", {}", t!("certs-key-on-token"))
                } else {
                    String::new()
                },
            )),
            None => text.push_str(&format!(
                "{} (id {}): {}\n",
                c.meta.label,
                hex::encode(&c.meta.id),
                t!("certs-unreadable")
            )),
        }
    }
    let js: Vec<Value> = all.iter().map(|c| cert_json(c, rt.now)).collect();
    // Requests the CA holds for approval (their keys are on the token already).
    let pending = match &rt.state_dir {
        Some(dir) => crate::seen::pending_of(dir, &ctx.serial),
        None => Vec::new(),
    };
    for p in &pending {
        text.push_str(&super::enroll::pending_text(p));
        text.push('\n');
    }
    let pj: Vec<Value> = pending.iter().map(super::enroll::pending_json).collect();
    Ok(Report::ok(
        json!({"serial": ctx.serial, "certificates": js, "pending": pj}),
        text,
    ))
}

/// Details as text.
pub fn details_text(d: &CertDetails, now: i64) -> String {
    let mut l = Lines::default();
    l.add(t!("cert-subject"), &d.subject_str);
    for rdn in &d.subject {
        for (k, v) in &rdn.attrs {
            l.add(format!("  {k}"), v);
        }
    }
    l.add(t!("cert-issuer"), &d.issuer_str);
    for rdn in &d.issuer {
        for (k, v) in &rdn.attrs {
            l.add(format!("  {k}"), v);
        }
    }
    if d.self_signed {
        l.add("", t!("cert-self-signed"));
    }
    l.add(t!("cert-serial"), &d.serial_hex)
        .add(t!("cert-valid-from"), &d.not_before_str)
        .add(
            t!("cert-valid-until"),
            format!(
                "{} ({})",
                d.not_after_str,
                if d.not_after < now {
                    t!("word-expired")
                } else {
                    t!("cert-days-left", days = days_left(d, now))
                }
            ),
        )
        .add(t!("cert-key"), &d.key_type)
        .add(t!("cert-fingerprint"), &d.sha256_fingerprint);
    if !d.key_usage.is_empty() {
        l.add(t!("cert-key-usage"), d.key_usage.join(", "));
    }
    if !d.extended_key_usage.is_empty() {
        l.add(t!("cert-eku"), d.extended_key_usage.join(", "));
    }
    if d.is_ca {
        l.add("CA", t!("word-yes"));
    }
    l.render(2)
}

/// Run `certs show`.
pub fn show(ctx: &Ctx, rt: &mut Runtime<'_>, sel: &CertSel) -> Result<Report> {
    let all = read_and_remember(ctx, rt)?;
    let chosen = select(&all, sel).map_err(|e| ctx.err(e))?;
    if chosen.is_empty() {
        return Err(ctx.err(ToolError::input(t!("err-no-cert-matches"))));
    }
    let mut text = String::new();
    for c in &chosen {
        text.push_str(&format!(
            "{}\n",
            if c.has_key {
                t!(
                    "cert-header-key",
                    label = &c.meta.label,
                    id = hex::encode(&c.meta.id)
                )
            } else {
                t!(
                    "cert-header-nokey",
                    label = &c.meta.label,
                    id = hex::encode(&c.meta.id)
                )
            }
        ));
        match &c.details {
            Some(d) => {
                text.push_str(&details_text(d, rt.now));
                // Whether the issuer is on the token: a neutral line, never an error.
                if !d.self_signed {
                    let issuer_here = all.iter().any(|o| {
                        o.details
                            .as_ref()
                            .is_some_and(|x| x.subject_str == d.issuer_str)
                    });
                    text.push_str(&format!(
                        "  {}\n",
                        if issuer_here {
                            t!("cert-issuer-on-token")
                        } else {
                            t!("cert-issuer-not-on-token")
                        }
                    ));
                }
            }
            None => text.push_str(&format!("  {}\n", t!("certs-unreadable"))),
        }
    }
    let js: Vec<Value> = chosen.iter().map(|c| cert_json(c, rt.now)).collect();
    Ok(Report::ok(
        json!({"serial": ctx.serial, "certificates": js}),
        text,
    ))
}

/// Run `certs export`.
pub fn export(ctx: &Ctx, rt: &mut Runtime<'_>, a: &ExportArgs) -> Result<Report> {
    let all = read_and_remember(ctx, rt)?;
    let chosen = select(&all, &a.sel).map_err(|e| ctx.err(e))?;
    let c = match chosen.as_slice() {
        [one] => *one,
        [] => return Err(ctx.err(ToolError::input(t!("err-no-cert-matches")))),
        _ => return Err(ctx.err(ToolError::input(t!("err-several-certs")))),
    };
    let bytes = match a.format {
        Encoding::Der => c.der.clone(),
        Encoding::Pem => pki_files::csr::to_pem("CERTIFICATE", &c.der).into_bytes(),
    };
    let to_stdout = a.out.as_os_str() == "-";
    if to_stdout {
        if a.format == Encoding::Der {
            return Err(ToolError::input(t!("err-der-stdout")));
        }
        return Ok(Report::ok(
            json!({"serial": ctx.serial, "id": hex::encode(&c.meta.id), "pem": String::from_utf8_lossy(&bytes)}),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    std::fs::write(&a.out, &bytes).map_err(|e| {
        ToolError::input(t!(
            "err-file",
            file = a.out.display().to_string(),
            detail = e.to_string()
        ))
    })?;
    Ok(Report::ok(
        json!({"serial": ctx.serial, "id": hex::encode(&c.meta.id), "file": a.out.display().to_string()}),
        t!(
            "cert-written",
            label = &c.meta.label,
            file = a.out.display().to_string()
        ),
    ))
}
