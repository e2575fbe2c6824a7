#!/usr/bin/env bash
# `epass2003-tool expiring --notify` for a token that is not plugged in, on a private D-Bus
# session bus, and the user systemd units that run it:
#
#   (a) an emulated token (embedded emulator, no pcscd) with a certificate valid 10 days is
#       read once by `expiring` (exit 7): the record of tokens seen is written (0600);
#   (b) the token absent (EPASS2003_EMULATOR unset, no PC/SC): `expiring --notify` exits 7,
#       says "last seen DATE", and the Notify call captured by dbus-monitor on the private bus
#       names `epass2003-tool renew --serial SERIAL --id ID`; the stand-in server answered it;
#   (c) `notify_mute = ID` in the configuration file: no Notify call, still exit 7;
#       `notify_days = 121`: exit 2 naming the range;
#   (d) ./ci/install (--no-build, temp prefix and destdir) puts epass2003-expiring.service and
#       .timer into PREFIX/lib/systemd/user, ExecStart naming the installed tool; both pass
#       `systemd-analyze --user verify`; the timer is daily, randomised, persistent; the
#       service is wanted by default.target (the run at login);
#   (e) `renew --notify` with the token present and no PIN source: a notification, exit 10.
#
# Expects the release build (cargo build --release --workspace) and ci/lib/common.sh's $WORK.
# Needs openssl, dbus-daemon, dbus-monitor, python3-dbus, python3-gi, systemd (systemd-analyze).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
# shellcheck source=../../ci/lib/dbus.sh
source "$HERE/../../ci/lib/dbus.sh"
set +e

TOOL="$RELEASE_DIR/epass2003-tool"
D="$WORK/expiring-notify"
mkdir -p "$D"
check_start expiring-notify "$D"
export EPASS2003_CONF=/dev/null EPASS2003_PCSC=0 XDG_STATE_HOME="$D/state" LANG=C
unset EPASS2003_EMULATOR CREDENTIALS_DIRECTORY DBUS_SESSION_BUS_ADDRESS

check "private D-Bus session bus (dbus-daemon)" dbus_start_bus "$D"
check "stand-in notification server owns org.freedesktop.Notifications" dbus_start_server "$D"
check "dbus-monitor captures the Notifications interface" dbus_start_monitor "$D"

# ---------------------------------------------------------------- (a)
SERIAL=
ID=
prepare() {
    rm -f "$D/token.state"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 10 \
        -subj "/O=Example/CN=Timer Test" -keyout "$D/key.pem" -out "$D/cert.pem" 2>&1 || return 1
    openssl pkcs12 -export -inkey "$D/key.pem" -in "$D/cert.pem" -passout pass:secret \
        -out "$D/client.p12" || return 1
    export EPASS2003_EMULATOR="$D/token.state"
    EPASS2003_NEW_SO_PIN=87654321 EPASS2003_NEW_PIN=12345678 \
        "$TOOL" init --yes --label "Timer token" || return 1
    EPASS2003_PIN=12345678 EPASS2003_P12_PASSWORD=secret "$TOOL" import "$D/client.p12" || return 1
    "$TOOL" expiring --json > "$D/live.json"
    local rc=$?
    unset EPASS2003_EMULATOR
    cat "$D/live.json"; echo "exit $rc"
    SERIAL=$(sed -n 's/^  "serial": "\([^"]*\)".*/\1/p' "$D/live.json")
    ID=$(sed -n 's/^      "id": "\([^"]*\)".*/\1/p' "$D/live.json" | head -n 1)
    echo "serial $SERIAL id $ID"
    [ "$rc" = 7 ] && [ -n "$SERIAL" ] && [ -n "$ID" ]
}
check "token with a 10-day certificate read live: expiring exits 7" prepare
check "record of tokens seen written, mode 0600 in a 0700 directory" bash -c '
    f=$0/state/epass2003/tokens-seen.json; cat "$f" &&
    [ "$(stat -c %a "$f")" = 600 ] && [ "$(stat -c %a "$0/state/epass2003")" = 700 ] &&
    grep -q "\"$1\"" "$f" && grep -q "Timer Test" "$f"' "$D" "$SERIAL"

# ---------------------------------------------------------------- (b)
absent_notify() {
    DBUS_SESSION_BUS_ADDRESS=$BUS_ADDR "$TOOL" expiring --notify > "$D/b.out" 2> "$D/b.err"
    local rc=$?
    echo "exit $rc"; cat "$D/b.out" "$D/b.err"
    [ "$rc" = 7 ] && grep -q "is not connected: as last seen [0-9-]\{10\} " "$D/b.out" &&
        grep -q "EXPIRING" "$D/b.out" && ! grep -q warning "$D/b.err"
}
check "token absent: expiring --notify exits 7 from the record, \"last seen DATE\"" absent_notify
sleep 0.3
check "the captured Notify call names the renew command, the token and \"last seen\"" \
    dbus_notify_seen "$D" "epass2003-tool renew --serial $SERIAL --id $ID" "Timer Test" \
    "Certificate expires in" "last seen" "x-epass2003.certificate" "epass2003-tool"
check "the stand-in server answered it" bash -c '
    cat "$0/server.log"; grep -qP "^epass2003-tool\tCertificate expires in .*renew --serial $1" "$0/server.log"' "$D" "$SERIAL"
check "JSON from the record: source record, last_seen" bash -c '
    "$0" expiring --json > "$1/b.json"; rc=$?; cat "$1/b.json"
    [ $rc = 7 ] && grep -q "\"source\": \"record\"" "$1/b.json" && grep -q "\"last_seen\": \"" "$1/b.json"' "$TOOL" "$D"

# ---------------------------------------------------------------- (c)
muted() {
    local before after rc
    before=$(grep -c "member=Notify" "$D/monitor.log")
    printf 'notify_mute = %s\n' "$ID" > "$D/muted.conf"
    EPASS2003_CONF="$D/muted.conf" DBUS_SESSION_BUS_ADDRESS=$BUS_ADDR \
        "$TOOL" expiring --notify --json > "$D/c.json"
    rc=$?
    cat "$D/c.json"
    sleep 0.3
    after=$(grep -c "member=Notify" "$D/monitor.log")
    echo "exit $rc; Notify calls before $before after $after"
    [ "$rc" = 7 ] && [ "$before" = "$after" ] && grep -q '"skipped": "muted"' "$D/c.json"
}
check "notify_mute = ID: no notification, still exit 7" muted
check "notify_days = 121: exit 2 naming the range 1..=120" bash -c '
    printf "notify_days = 121\n" > "$1/bad.conf"
    out=$(EPASS2003_CONF="$1/bad.conf" "$0" expiring 2>&1); rc=$?; echo "$out"
    [ $rc = 2 ] && echo "$out" | grep -q "1..=120"' "$TOOL" "$D"

# ---------------------------------------------------------------- (e)
# A timer-run renewal with no PIN source: the token present, the certificate due, no variable,
# no secrets file, no credential, no terminal: a notification naming the command, exit 10,
# result file "canceled" (120), and no PIN asked.
renew_no_pin() {
    EPASS2003_EMULATOR="$D/token.state" DBUS_SESSION_BUS_ADDRESS=$BUS_ADDR \
        "$TOOL" --json renew --notify --id "$ID" < /dev/null > "$D/e.json" 2> "$D/e.err"
    local rc=$?
    echo "exit $rc"; cat "$D/e.json" "$D/e.err"
    [ "$rc" = 10 ] && grep -q '"reason": "no_pin_source"' "$D/e.json" &&
        grep -q '"notified": true' "$D/e.json" &&
        grep -q "^Result: canceled$" "$D/state/epass2003/result.txt" &&
        grep -q "^Code: 120$" "$D/state/epass2003/result.txt"
}
check "renew --notify, no PIN source, no terminal: notifies instead of renewing, exit 10" renew_no_pin
sleep 0.3
check "the captured Notify call names the renew command" \
    dbus_notify_seen "$D" "epass2003-tool renew --serial $SERIAL --id $ID" "due for renewal" \
    "no PIN is configured"

# ---------------------------------------------------------------- (d)
P=/opt/epass2003-units
DEST="$D/dest"
UNITS="$DEST$P/lib/systemd/user"
check "ci/install --no-build puts the user units into PREFIX/lib/systemd/user" bash -c '
    "$0/ci/install" --no-build --prefix "$1" --destdir "$2" --p11-kit-dir /etc/pkcs11/modules &&
    ls -l "$3" && grep -qx "ExecStart=$1/bin/epass2003-tool expiring --notify" "$3/epass2003-expiring.service"' \
    "$ROOT" "$P" "$DEST" "$UNITS"
check "timer: daily, RandomizedDelaySec, Persistent=true; service wanted by default.target" bash -c '
    t=$0/epass2003-expiring.timer; s=$0/epass2003-expiring.service
    grep -qx "OnCalendar=daily" "$t" && grep -q "^RandomizedDelaySec=" "$t" &&
    grep -qx "Persistent=true" "$t" && grep -qx "WantedBy=default.target" "$s"' "$UNITS"
verify_units() {
    if ! command -v systemd-analyze > /dev/null; then
        echo "systemd-analyze not installed (Debian package systemd)"; return 1
    fi
    # The installed tool path must exist for verify: point a copy of the service at the build.
    mkdir -p "$D/verify" "$D/run" && chmod 700 "$D/run"
    local u
    for u in expiring renew; do
        sed "s|^ExecStart=$P/bin/|ExecStart=$RELEASE_DIR/|" "$UNITS/epass2003-$u.service" \
            > "$D/verify/epass2003-$u.service"
        cp "$UNITS/epass2003-$u.timer" "$D/verify/"
    done
    grep -qx "ExecStart=$RELEASE_DIR/epass2003-tool renew --notify" "$D/verify/epass2003-renew.service" || return 1
    XDG_RUNTIME_DIR="$D/run" systemd-analyze --user verify \
        "$D/verify/epass2003-expiring.service" "$D/verify/epass2003-expiring.timer" \
        "$D/verify/epass2003-renew.service" "$D/verify/epass2003-renew.timer" 2>&1 | tee "$D/verify.log"
    local rc=${PIPESTATUS[0]}
    echo "exit $rc"
    [ "$rc" = 0 ] && ! grep -qi "warn\|error\|bad" "$D/verify.log"
}
check "systemd-analyze --user verify: service and timer" verify_units
check "ci/uninstall removes the units" bash -c '
    "$0/ci/uninstall" --prefix "$1" --destdir "$2" && [ ! -e "$3/epass2003-expiring.timer" ]' "$ROOT" "$P" "$DEST" "$UNITS"

dbus_stop
check_summary
