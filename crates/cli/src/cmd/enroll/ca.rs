//! The CA side of `enroll` / `renew`: where the CA is (options, else the record), how its web
//! server is checked (HTTPS trust), reaching it (GetCACaps, GetCACert) and trusting it (the
//! SHA-256 fingerprint given or confirmed by a person), and SCEP errors as exit codes.

use super::card::CardKey;
use crate::cli::ScepServer;
use crate::ctx::Ctx;
use crate::error::{Exit, Result, ToolError};
use crate::{t, Runtime};
use scep::attrs::MessageType;
use scep::cacert::CaCerts;
use scep::caps::Caps;
use scep::message::Reply;

/// A SCEP error as the tool reports it (exit code by what went wrong).
pub(super) fn scep_err(e: scep::Error) -> ToolError {
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
pub(super) struct Ca {
    pub(super) url: String,
    /// The `--cacert` file (absolute), if any.
    pub(super) cacert: Option<String>,
    pub(super) client: scep::Client,
    pub(super) caps: Caps,
    pub(super) certs: CaCerts,
    pub(super) fingerprint: String,
}

/// The CA's URL and the fingerprint to check: the options, else what the record says
/// (`recorded`: where the certificate to renew was enrolled from, or where a pending request
/// went). A recorded fingerprint is used only with the recorded URL.
pub(super) fn where_from(
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
pub(super) fn tls_options(
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
        let bad = |detail: String| {
            ctx.err(ToolError::input(t!(
                "err-cacert",
                file = f,
                detail = detail
            )))
        };
        let bytes = std::fs::read(f).map_err(|e| bad(e.to_string()))?;
        o.extra_roots = scep::tls::read_ca_file(&bytes).map_err(|e| bad(e.to_string()))?;
    }
    Ok(o)
}

/// Remember where the certificate `id` came from, for a later `renew` (best effort).
pub(super) fn remember_ca(
    ctx: &Ctx,
    rt: &mut Runtime<'_>,
    ca: &Ca,
    id: &[u8],
    replaced: Option<&[u8]>,
) {
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
pub(super) fn reach_ca(
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

/// Send the request and read the reply, with the exit code of what happened.
pub(super) fn exchange(
    ctx: &Ctx,
    ca: &Ca,
    kind: MessageType,
    csr: &[u8],
    key: &CardKey<'_>,
) -> Result<Reply> {
    ca.client
        .send(kind, &ca.caps, &ca.certs, csr, key, key, true)
        .map_err(|e| ctx.err(scep_err(e)))
}
