//! Desktop notifications: the freedesktop Notifications interface
//! (`org.freedesktop.Notifications.Notify` on the session bus), as the vendor's tray tool shows
//! them when a token is plugged in or pulled out.
//!
//! [`Notifier`] is what `watch` (and `expiring --notify`) calls; [`DesktopNotifier`] is the D-Bus one, tests use their
//! own. No text for people is made here: the caller passes the summary and body (the messages
//! are in `cmd::watch`), and errors are the D-Bus library's own description of what failed.

use std::collections::HashMap;
use std::time::Duration;
use zbus::zvariant::Value;

/// How long a `Notify` call may wait for its reply: a bus whose notification server hangs must
/// not stall the watch loop.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The summary (title), e.g. "Token inserted".
    pub summary: String,
    /// The body.
    pub body: String,
    /// The freedesktop category hint ("device.added", "device.removed").
    pub category: &'static str,
}

/// Something that shows notifications.
pub trait Notifier {
    /// Show `n`; the error says why it could not be shown.
    fn notify(&mut self, n: &Notification) -> Result<(), String>;
}

/// Notifications through `org.freedesktop.Notifications` on a D-Bus bus.
pub struct DesktopNotifier {
    conn: zbus::blocking::Connection,
}

impl DesktopNotifier {
    /// Connect to the session bus (`DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`).
    pub fn session() -> Result<DesktopNotifier, String> {
        let b = zbus::blocking::connection::Builder::session().map_err(|e| e.to_string())?;
        Self::build(b)
    }

    /// Connect to the bus at a D-Bus address (`unix:path=...`).
    pub fn at(address: &str) -> Result<DesktopNotifier, String> {
        let b = zbus::blocking::connection::Builder::address(address).map_err(|e| e.to_string())?;
        Self::build(b)
    }

    fn build(b: zbus::blocking::connection::Builder<'_>) -> Result<DesktopNotifier, String> {
        let conn = b
            .method_timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(DesktopNotifier { conn })
    }
}

impl Notifier for DesktopNotifier {
    fn notify(&mut self, n: &Notification) -> Result<(), String> {
        let mut hints: HashMap<&str, Value<'_>> = HashMap::new();
        hints.insert("category", Value::from(n.category));
        // Urgency "normal" (0 low, 1 normal, 2 critical).
        hints.insert("urgency", Value::U8(1));
        let actions: Vec<&str> = Vec::new();
        // Notify(app_name s, replaces_id u, app_icon s, summary s, body s, actions as,
        //        hints a{sv}, expire_timeout i) -> id u; -1: the server's default timeout.
        let body = (
            "epass2003-tool",
            0u32,
            "dialog-information",
            n.summary.as_str(),
            n.body.as_str(),
            actions,
            hints,
            -1i32,
        );
        self.conn
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.Notifications"),
                "Notify",
                &body,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
