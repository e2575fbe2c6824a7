//! `delete cert|key|all`: a certificate, a key pair (and its certificate with `--with-cert`),
//! or every object. Asks for confirmation (`--yes` for scripts) and the user PIN (private keys
//! and the directory files are protected by it).

use super::confirm;
use crate::cli::{CertSel, DeleteArgs, DeleteWhat};
use crate::ctx::Ctx;
use crate::error::{Exit, Result, ToolError};
use crate::output::Report;
use crate::{t, Runtime};
use cryptoki_sys::CK_OBJECT_HANDLE;
use pkcs15::backend::{ObjectKind, ObjectMeta};
use serde_json::json;

/// The objects `sel` names among `objs`, of the given kinds.
pub fn select<'a>(
    objs: &'a [(CK_OBJECT_HANDLE, ObjectMeta)],
    sel: &CertSel,
    kinds: &[ObjectKind],
) -> Result<Vec<&'a (CK_OBJECT_HANDLE, ObjectMeta)>> {
    let named = super::matcher(sel)?;
    Ok(objs
        .iter()
        .filter(|(_, m)| kinds.contains(&m.kind) && named(m))
        .collect())
}

fn kind_name(k: ObjectKind) -> String {
    match k {
        ObjectKind::Certificate => t!("kind-certificate"),
        ObjectKind::PublicKey => t!("kind-public-key"),
        ObjectKind::PrivateKey => t!("kind-private-key"),
        ObjectKind::Data => t!("kind-data"),
    }
}

fn kind_key(k: ObjectKind) -> &'static str {
    match k {
        ObjectKind::Certificate => "certificate",
        ObjectKind::PublicKey => "public_key",
        ObjectKind::PrivateKey => "private_key",
        ObjectKind::Data => "data",
    }
}

/// Run `delete`.
pub fn run(ctx: &Ctx, rt: &mut Runtime<'_>, yes: bool, a: &DeleteArgs) -> Result<Report> {
    if a.what != DeleteWhat::All && a.sel.id.is_none() && a.sel.label.is_none() {
        return Err(ctx.err(ToolError::input(t!("err-say-which"))));
    }
    let s = ctx.session()?;
    s.login_user(rt.secrets)?;
    let objs = s.with(|t, hs, _| t.list_objects(hs))?;
    let chosen: Vec<&(CK_OBJECT_HANDLE, ObjectMeta)> = match a.what {
        DeleteWhat::All => objs.iter().collect(),
        DeleteWhat::Cert => select(&objs, &a.sel, &[ObjectKind::Certificate])?,
        DeleteWhat::Key => {
            let keys = select(
                &objs,
                &a.sel,
                &[ObjectKind::PrivateKey, ObjectKind::PublicKey],
            )?;
            let ids: Vec<&Vec<u8>> = keys.iter().map(|(_, m)| &m.id).collect();
            let mut v = keys.clone();
            // The other half of each pair (same CKA_ID), and the certificate if asked.
            for o in &objs {
                let pair = matches!(o.1.kind, ObjectKind::PrivateKey | ObjectKind::PublicKey)
                    || (a.with_cert && o.1.kind == ObjectKind::Certificate);
                if pair
                    && !o.1.id.is_empty()
                    && ids.contains(&&o.1.id)
                    && !v.iter().any(|x| x.0 == o.0)
                {
                    v.push(o);
                }
            }
            v
        }
    };
    if chosen.is_empty() {
        return Err(ctx.err(ToolError::new(Exit::BadInput, t!("err-nothing-matches"))));
    }
    let list: Vec<String> = chosen
        .iter()
        .map(|(_, m)| {
            t!(
                "object-named",
                kind = kind_name(m.kind),
                label = &m.label,
                id = hex::encode(&m.id)
            )
        })
        .collect();
    confirm(
        rt,
        yes,
        &t!(
            "confirm-delete",
            serial = &ctx.serial,
            list = list.join(", ")
        ),
    )?;
    // Certificates first, then public keys, then private keys: a pair is never left with a
    // certificate that has no key.
    let mut order = chosen.clone();
    order.sort_by_key(|(_, m)| match m.kind {
        ObjectKind::Certificate => 0,
        ObjectKind::Data => 1,
        ObjectKind::PublicKey => 2,
        ObjectKind::PrivateKey => 3,
    });
    let mut deleted = Vec::new();
    for (h, m) in order {
        s.with(|t, hs, sh| t.destroy_object(hs, sh, *h))?;
        deleted.push(json!({"kind": kind_key(m.kind), "label": m.label, "id": hex::encode(&m.id)}));
    }
    Ok(Report::ok(
        json!({"serial": ctx.serial, "deleted": deleted}),
        t!("deleted", serial = &ctx.serial, list = list.join(", ")),
    ))
}
