//! `certs list|show|export` and `expiring`: certificate details as a user recognises them
//! (subject with UID, issuer, validity, serial in hex, fingerprint, key usage, whether the
//! key is on the token), export in DER or PEM (never a private key), and the expiry report.

use super::in_range;
use crate::cli::{CertSel, Encoding, ExpiringArgs, ExportArgs};
use crate::ctx::Ctx;
use crate::error::{Exit, Result, ToolError};
use crate::output::{Lines, Report};
use crate::Runtime;
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

fn days_left(d: &CertDetails, now: i64) -> i64 {
    (d.not_after - now).div_euclid(86_400)
}

fn cert_json(c: &OnToken, now: i64) -> Value {
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
    let id = sel.id.as_deref().map(super::parse_id).transpose()?;
    Ok(all
        .iter()
        .filter(|c| id.as_ref().is_none_or(|i| &c.meta.id == i))
        .filter(|c| sel.label.as_ref().is_none_or(|l| &c.meta.label == l))
        .collect())
}

/// Run `certs list`.
pub fn list(ctx: &Ctx, rt: &mut Runtime<'_>) -> Result<Report> {
    let all = read_all(ctx)?;
    let mut text = String::new();
    if all.is_empty() {
        text.push_str(&format!("No certificates on token {}.\n", ctx.serial));
    }
    for c in &all {
        match &c.details {
            Some(d) => text.push_str(&format!(
                "{} (id {}): {}\n    issuer {}, valid until {}{}{}\n",
                c.meta.label,
                hex::encode(&c.meta.id),
                d.subject_str,
                d.issuer_str,
                d.not_after_str,
                if d.not_after < rt.now {
                    " (EXPIRED)"
                } else {
                    ""
                },
                if c.has_key { ", key on the token" } else { "" },
            )),
            None => text.push_str(&format!(
                "{} (id {}): unreadable certificate\n",
                c.meta.label,
                hex::encode(&c.meta.id)
            )),
        }
    }
    let js: Vec<Value> = all.iter().map(|c| cert_json(c, rt.now)).collect();
    Ok(Report::ok(
        json!({"serial": ctx.serial, "certificates": js}),
        text,
    ))
}

/// Details as text.
pub fn details_text(d: &CertDetails, now: i64) -> String {
    let mut l = Lines::default();
    l.add("Subject", &d.subject_str);
    for rdn in &d.subject {
        for (k, v) in &rdn.attrs {
            l.add(format!("  {k}"), v);
        }
    }
    l.add("Issuer", &d.issuer_str);
    if d.self_signed {
        l.add("", "self-signed");
    }
    l.add("Serial", &d.serial_hex)
        .add("Valid from", &d.not_before_str)
        .add(
            "Valid until",
            format!(
                "{}{}",
                d.not_after_str,
                if d.not_after < now {
                    " (EXPIRED)".to_string()
                } else {
                    format!(" ({} days left)", days_left(d, now))
                }
            ),
        )
        .add("Key", &d.key_type)
        .add("SHA-256 fingerprint", &d.sha256_fingerprint);
    if !d.key_usage.is_empty() {
        l.add("Key usage", d.key_usage.join(", "));
    }
    if !d.extended_key_usage.is_empty() {
        l.add("Extended key usage", d.extended_key_usage.join(", "));
    }
    if d.is_ca {
        l.add("CA", "yes");
    }
    l.render(2)
}

/// Run `certs show`.
pub fn show(ctx: &Ctx, rt: &mut Runtime<'_>, sel: &CertSel) -> Result<Report> {
    let all = read_all(ctx)?;
    let chosen = select(&all, sel).map_err(|e| ctx.err(e))?;
    if chosen.is_empty() {
        return Err(ctx.err(ToolError::input(
            "no certificate matches (see `certs list`)",
        )));
    }
    let mut text = String::new();
    for c in &chosen {
        text.push_str(&format!(
            "Certificate \"{}\" (id {}){}\n",
            c.meta.label,
            hex::encode(&c.meta.id),
            if c.has_key {
                ", private key on the token"
            } else {
                ", no private key on the token"
            }
        ));
        match &c.details {
            Some(d) => text.push_str(&details_text(d, rt.now)),
            None => text.push_str("  (the certificate cannot be parsed)\n"),
        }
    }
    let js: Vec<Value> = chosen.iter().map(|c| cert_json(c, rt.now)).collect();
    Ok(Report::ok(
        json!({"serial": ctx.serial, "certificates": js}),
        text,
    ))
}

/// Run `certs export`.
pub fn export(ctx: &Ctx, a: &ExportArgs) -> Result<Report> {
    let all = read_all(ctx)?;
    let chosen = select(&all, &a.sel).map_err(|e| ctx.err(e))?;
    let c = match chosen.as_slice() {
        [one] => *one,
        [] => {
            return Err(ctx.err(ToolError::input(
                "no certificate matches (see `certs list`)",
            )))
        }
        _ => {
            return Err(ctx.err(ToolError::input(
                "several certificates match: choose one with --id or --label",
            )))
        }
    };
    let bytes = match a.format {
        Encoding::Der => c.der.clone(),
        Encoding::Pem => pki_files::csr::to_pem("CERTIFICATE", &c.der).into_bytes(),
    };
    let to_stdout = a.out.as_os_str() == "-";
    if to_stdout {
        if a.format == Encoding::Der {
            return Err(ToolError::input(
                "DER is binary: write it to a file with --out FILE",
            ));
        }
        return Ok(Report::ok(
            json!({"serial": ctx.serial, "id": hex::encode(&c.meta.id), "pem": String::from_utf8_lossy(&bytes)}),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    std::fs::write(&a.out, &bytes)
        .map_err(|e| ToolError::input(format!("{}: {e}", a.out.display())))?;
    Ok(Report::ok(
        json!({"serial": ctx.serial, "id": hex::encode(&c.meta.id), "file": a.out.display().to_string()}),
        format!(
            "Certificate \"{}\" written to {}",
            c.meta.label,
            a.out.display()
        ),
    ))
}

/// Run `expiring`: exit 8 if a certificate has expired, 7 if one expires within the window,
/// 0 otherwise.
pub fn expiring(ctx: &Ctx, rt: &mut Runtime<'_>, a: &ExpiringArgs) -> Result<Report> {
    let days = in_range("--days", a.days, 1, 120).map_err(|e| ctx.err(e))?;
    let all = read_all(ctx)?;
    let mut soon = Vec::new();
    let mut expired = Vec::new();
    for c in &all {
        let Some(d) = &c.details else { continue };
        if d.not_after < rt.now {
            expired.push(c);
        } else if d.not_after < rt.now + days * 86_400 {
            soon.push(c);
        }
    }
    let mut text = String::new();
    for c in &expired {
        if let Some(d) = &c.details {
            text.push_str(&format!(
                "EXPIRED  {} (id {}): {} expired {}\n",
                c.meta.label,
                hex::encode(&c.meta.id),
                d.subject_str,
                d.not_after_str
            ));
        }
    }
    for c in &soon {
        if let Some(d) = &c.details {
            text.push_str(&format!(
                "EXPIRING {} (id {}): {} expires {} ({} days left)\n",
                c.meta.label,
                hex::encode(&c.meta.id),
                d.subject_str,
                d.not_after_str,
                days_left(d, rt.now)
            ));
        }
    }
    if text.is_empty() {
        text = format!(
            "No certificate on token {} expires within {days} days.\n",
            ctx.serial
        );
    }
    let exit = if !expired.is_empty() {
        Exit::Expired
    } else if !soon.is_empty() {
        Exit::Expiring
    } else {
        Exit::Ok
    };
    Ok(Report {
        exit,
        json: json!({
            "serial": ctx.serial,
            "days": days,
            "expired": expired.iter().map(|c| cert_json(c, rt.now)).collect::<Vec<_>>(),
            "expiring": soon.iter().map(|c| cert_json(c, rt.now)).collect::<Vec<_>>(),
            "checked": all.len(),
        }),
        text,
    })
}
