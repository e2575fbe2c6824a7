//! `expiring`: certificates expired (exit 8) or expiring inside the notice window (exit 7),
//! else 0. With the token present it reads the token (and updates the record of tokens seen);
//! with the token absent it reports from that record ([`crate::seen`]), saying when each token
//! was last seen. `--notify` shows a desktop notification per certificate naming the `renew`
//! command, as the configuration's `notify_*` settings allow.

use super::certs::{cert_json, read_and_remember, OnToken};
use super::in_range;
use crate::cli::ExpiringArgs;
use crate::ctx::Ctx;
use crate::error::{Exit, Result, ToolError};
use crate::notify::{DesktopNotifier, Notification, Notifier};
use crate::output::Report;
use crate::seen::TokenSeen;
use crate::{t, Runtime};
use serde_json::{json, Value};

/// The freedesktop category hint of expiry notices (no standard category fits).
pub const CATEGORY: &str = "x-epass2003.certificate";

/// One certificate to judge, live or from the record.
struct Entry {
    token_serial: String,
    token_label: String,
    label: String,
    id: String,
    subject: String,
    cn: String,
    serial: String,
    not_after: i64,
    not_after_str: String,
    /// `Some(date)`: from the record, token last seen then.
    last_seen: Option<String>,
    json: Value,
}

impl Entry {
    fn live(ctx: &Ctx, c: &OnToken, now: i64) -> Option<Entry> {
        let d = c.details.as_ref()?;
        Some(Entry {
            token_serial: ctx.serial.clone(),
            token_label: ctx.label.clone(),
            label: c.meta.label.clone(),
            id: hex::encode(&c.meta.id),
            subject: d.subject_str.clone(),
            cn: crate::seen::cn(d),
            serial: d.serial_hex.clone(),
            not_after: d.not_after,
            not_after_str: d.not_after_str.clone(),
            last_seen: None,
            json: cert_json(c, now),
        })
    }

    fn recorded(t: &TokenSeen, c: &crate::seen::CertSeen, now: i64) -> Entry {
        Entry {
            token_serial: t.serial.clone(),
            token_label: t.label.clone(),
            label: c.label.clone(),
            id: c.id.clone(),
            subject: c.subject.clone(),
            cn: c.subject_cn.clone(),
            serial: c.serial.clone(),
            not_after: c.not_after_unix,
            not_after_str: c.not_after.clone(),
            last_seen: Some(t.last_seen.clone()),
            json: json!({
                "label": c.label,
                "id": c.id,
                "subject": c.subject,
                "subject_cn": c.subject_cn,
                "serial": c.serial,
                "not_after": c.not_after,
                "not_after_unix": c.not_after_unix,
                "days_left": (c.not_after_unix - now).div_euclid(86_400),
                "expired": c.not_after_unix < now,
                "token_serial": t.serial,
                "token_label": t.label,
                "last_seen": t.last_seen,
                "last_seen_unix": t.last_seen_unix,
            }),
        }
    }

    fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }

    /// The command that renews it.
    fn renew_command(&self) -> String {
        renew_command(&self.token_serial, &self.id)
    }
}

/// The command that renews the certificate `id_hex` on token `serial`, as notices name it.
pub(crate) fn renew_command(serial: &str, id_hex: &str) -> String {
    format!("epass2003-tool renew --serial {serial} --id {id_hex}")
}

/// Where the data came from.
enum Source {
    Live(String),
    Record(Vec<TokenSeen>),
}

/// The window: `--days`, else `notify_days` of the configuration; a refused `notify_*` setting
/// is an error here (it states the range), not a silent default.
fn window(rt: &Runtime<'_>, a: &ExpiringArgs) -> Result<i64> {
    if let Some(e) = rt
        .config
        .errors
        .iter()
        .find(|e| e.key.starts_with("notify_"))
    {
        return Err(ToolError::input(t!(
            "err-config-setting",
            detail = e.to_string()
        )));
    }
    match a.days {
        Some(d) => in_range("--days", d, 1, 120),
        None => Ok(i64::from(rt.config.expiry.days)),
    }
}

/// Whether an error of `Ctx::open` means "the token is not here" (so the record may answer),
/// rather than "several tokens, choose one".
fn is_absent(e: &ToolError) -> bool {
    e.exit == Exit::NoToken && e.details.get("reason").is_some()
}

/// Run `expiring` on the token `opened` (or, if it is absent, on the record of the token
/// `serial` (`--serial`), else of every token recorded).
pub fn run(
    opened: Result<Ctx>,
    rt: &mut Runtime<'_>,
    a: &ExpiringArgs,
    serial: Option<&str>,
) -> Result<Report> {
    let days = match &opened {
        Ok(ctx) => window(rt, a).map_err(|e| ctx.err(e))?,
        Err(_) => window(rt, a)?,
    };
    let (source, entries, checked) = match opened {
        Ok(ctx) => {
            let all = read_and_remember(&ctx, rt)?;
            let entries: Vec<Entry> = all
                .iter()
                .filter_map(|c| Entry::live(&ctx, c, rt.now))
                .collect();
            (Source::Live(ctx.serial.clone()), entries, all.len())
        }
        Err(e) if is_absent(&e) => {
            let Some(dir) = rt.state_dir.clone() else {
                return Err(e);
            };
            let (record, warning) = crate::seen::load(&dir);
            if let Some(w) = warning {
                (rt.progress)(&w);
            }
            let tokens: Vec<TokenSeen> = record
                .tokens
                .into_values()
                .filter(|t| serial.is_none_or(|s| t.serial.eq_ignore_ascii_case(s.trim())))
                .collect();
            if tokens.is_empty() {
                return Err(e);
            }
            let entries: Vec<Entry> = tokens
                .iter()
                .flat_map(|t| t.certificates.iter().map(|c| Entry::recorded(t, c, rt.now)))
                .collect();
            let n = entries.len();
            (Source::Record(tokens), entries, n)
        }
        Err(e) => return Err(e),
    };
    let (expired, soon): (Vec<&Entry>, Vec<&Entry>) = {
        let expired = entries.iter().filter(|e| e.not_after < rt.now).collect();
        let soon = entries
            .iter()
            .filter(|e| e.not_after >= rt.now && e.not_after < rt.now + days * 86_400)
            .collect();
        (expired, soon)
    };
    let mut text = String::new();
    if let Source::Record(tokens) = &source {
        for tk in tokens {
            text.push_str(&format!(
                "{}\n",
                t!(
                    "expiry-from-record",
                    serial = &tk.serial,
                    label = &tk.label,
                    date = &tk.last_seen
                )
            ));
        }
    }
    for e in &expired {
        text.push_str(&format!(
            "{}\n",
            t!(
                "expiry-expired",
                label = &e.label,
                id = &e.id,
                subject = &e.subject,
                date = &e.not_after_str
            )
        ));
    }
    for e in &soon {
        text.push_str(&format!(
            "{}\n",
            t!(
                "expiry-soon",
                label = &e.label,
                id = &e.id,
                subject = &e.subject,
                date = &e.not_after_str,
                days = e.days_left(rt.now)
            )
        ));
    }
    if expired.is_empty() && soon.is_empty() {
        match &source {
            Source::Live(serial) => {
                text.push_str(&format!(
                    "{}\n",
                    t!("expiry-none", serial = serial, days = days)
                ));
            }
            Source::Record(_) => {
                text.push_str(&format!("{}\n", t!("expiry-none-record", days = days)));
            }
        }
    }
    let notifications = if a.notify {
        notify_all(rt, &expired, &soon)
    } else {
        Vec::new()
    };
    let exit = if !expired.is_empty() {
        Exit::Expired
    } else if !soon.is_empty() {
        Exit::Expiring
    } else {
        Exit::Ok
    };
    let mut js = json!({
        "days": days,
        "expired": expired.iter().map(|e| e.json.clone()).collect::<Vec<_>>(),
        "expiring": soon.iter().map(|e| e.json.clone()).collect::<Vec<_>>(),
        "checked": checked,
    });
    if let Value::Object(m) = &mut js {
        match &source {
            Source::Live(serial) => {
                m.insert("source".into(), json!("token"));
                m.insert("serial".into(), json!(serial));
            }
            Source::Record(tokens) => {
                m.insert("source".into(), json!("record"));
                m.insert(
                    "tokens".into(),
                    tokens
                        .iter()
                        .map(|t| {
                            json!({"serial": t.serial, "label": t.label,
                                   "last_seen": t.last_seen, "last_seen_unix": t.last_seen_unix})
                        })
                        .collect(),
                );
                if let [one] = tokens.as_slice() {
                    m.insert("serial".into(), json!(one.serial));
                    m.insert("last_seen".into(), json!(one.last_seen));
                }
            }
        }
        if a.notify {
            m.insert("notifications".into(), Value::Array(notifications));
        }
    }
    Ok(Report {
        exit,
        json: js,
        text,
    })
}

/// The notification for one certificate (`expired`: already expired, else inside the window).
fn notification(e: &Entry, expired: bool, now: i64) -> Notification {
    let name = if e.cn.is_empty() { &e.subject } else { &e.cn };
    let mut body = if expired {
        t!(
            "notice-body-expired",
            cn = name,
            id = &e.id,
            label = &e.token_label,
            serial = &e.token_serial,
            date = &e.not_after_str
        )
    } else {
        t!(
            "notice-body-expiring",
            cn = name,
            id = &e.id,
            label = &e.token_label,
            serial = &e.token_serial,
            date = &e.not_after_str,
            days = e.days_left(now)
        )
    };
    if let Some(seen) = &e.last_seen {
        body.push(' ');
        body.push_str(&t!("notice-last-seen", date = seen));
    }
    body.push(' ');
    body.push_str(&t!("notice-renew", command = e.renew_command()));
    Notification {
        summary: if expired {
            t!("notice-title-expired", cn = name)
        } else {
            t!("notice-title-expiring", cn = name, days = e.days_left(now))
        },
        body,
        category: CATEGORY,
    }
}

/// Show the notices the settings allow; one JSON object per certificate considered (shown,
/// muted, switched off, or the error).
fn notify_all(rt: &mut Runtime<'_>, expired: &[&Entry], soon: &[&Entry]) -> Vec<Value> {
    let settings = rt.config.expiry.clone();
    let mut notifier: Option<std::result::Result<DesktopNotifier, String>> = None;
    let mut out = Vec::new();
    let mut warned = false;
    let all = expired
        .iter()
        .map(|e| (*e, true))
        .chain(soon.iter().map(|e| (*e, false)));
    for (e, is_expired) in all {
        let mut v = json!({
            "token_serial": e.token_serial,
            "id": e.id,
            "serial": e.serial,
            "expired": is_expired,
            "renew_command": e.renew_command(),
        });
        let skip = if settings.is_muted(&e.serial, &e.id) {
            Some("muted")
        } else if is_expired && !settings.notify_expired {
            Some("notify_expired_off")
        } else if !is_expired && !settings.notify_expiring {
            Some("notify_expiring_off")
        } else {
            None
        };
        if let (Some(why), Value::Object(m)) = (skip, &mut v) {
            m.insert("shown".into(), json!(false));
            m.insert("skipped".into(), json!(why));
            out.push(v);
            continue;
        }
        let n = notification(e, is_expired, rt.now);
        let conn = notifier.get_or_insert_with(DesktopNotifier::session);
        let r = match conn {
            Ok(c) => c.notify(&n),
            Err(err) => Err(err.clone()),
        };
        if let Value::Object(m) = &mut v {
            m.insert("summary".into(), json!(n.summary));
            m.insert("body".into(), json!(n.body));
            m.insert("shown".into(), json!(r.is_ok()));
            if let Err(err) = &r {
                m.insert("error".into(), json!(err));
                if !warned {
                    (rt.progress)(&t!("notice-failed", detail = err));
                    warned = true;
                }
            }
        }
        out.push(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_names_the_renew_command_and_last_seen() {
        let t = TokenSeen {
            serial: "0123ABCD".into(),
            label: "Work".into(),
            last_seen_unix: 0,
            last_seen: "1970-01-01 00:00:00 UTC".into(),
            certificates: vec![],
        };
        let c = crate::seen::CertSeen {
            label: "Taro".into(),
            id: "01ab".into(),
            subject: "CN=Taro".into(),
            subject_cn: "Taro".into(),
            serial: "1F".into(),
            not_after_unix: 86_400 * 5,
            not_after: "1970-01-06 00:00:00 UTC".into(),
        };
        let e = Entry::recorded(&t, &c, 0);
        let n = notification(&e, false, 0);
        assert!(
            n.body
                .contains("epass2003-tool renew --serial 0123ABCD --id 01ab"),
            "{}",
            n.body
        );
        assert!(n.body.contains("1970-01-01"), "{}", n.body);
        assert!(n.summary.contains("Taro"), "{}", n.summary);
    }
}
