#!/usr/bin/env bash
# `epass2003-tool watch --notify` against a private D-Bus session bus and a real pcscd + vpcd:
#
#   (a) a stand-in notification server owns org.freedesktop.Notifications on the private bus
#       and dbus-monitor captures the traffic; `watch --notify --once --json` while an emulated
#       card is attached to the vpcd reader prints one JSON line (inserted, serial, label) and
#       the captured Notify call carries "Token inserted", the label and the serial; the
#       server answered it (no warning);
#   (b) pulling the card: `watch --notify --once` prints the text line "removed: token ..."
#       and the Notify call carries "Token removed";
#   (c) no notification server on the bus: the event is still printed, one warning, exit 0;
#   (d) no session bus at all: one warning ("no D-Bus session bus"), the event is printed.
#
# Expects from ci/lib/common.sh: $EMU, $WORK, the release build; a running pcscd with the vpcd
# reader (started here if none answers: then run it in private namespaces, as root):
#   cargo build --release -p epass2003-tool -p epass2003-emu
#   unshare -mn bash -c 'ip link set lo up; mount -t tmpfs tmpfs /run/pcscd; bash tests/cli/watch-notify.sh'
# Needs dbus-daemon, dbus-monitor (Debian dbus-daemon, dbus-bin) and /usr/bin/python3 with
# python3-dbus and python3-gi (the stand-in server).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e

TOOL="$RELEASE_DIR/epass2003-tool"
EMU=${EMU:-$RELEASE_DIR/epass2003-emu}
D="$WORK/watch-notify"
mkdir -p "$D"
check_start watch-notify "$D"
# Only the PC/SC readers: no embedded emulated token (it is always present: no events).
export EPASS2003_CONF=/dev/null
unset EPASS2003_EMULATOR
export EPASS2003_PCSC=1

if [ ! -S /run/pcscd/pcscd.comm ]; then
    check "pcscd (private) started" start_pcscd
fi

# ---------------------------------------------------------------- the private session bus
# Our own configuration rather than --session: no service activation (a desktop's real
# notification daemon must not be started), the socket in $D, eavesdropping for the monitor.
cat > "$D/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$D/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
start_bus() {
    local out
    rm -f "$D/bus"
    out=$(dbus-daemon --config-file="$D/bus.conf" --fork --print-address=1 --print-pid=1) || return 1
    BUS_ADDR=$(sed -n 1p <<<"$out")
    BUS_PID=$(sed -n 2p <<<"$out")
    echo "bus $BUS_ADDR pid $BUS_PID"
    [ -n "$BUS_ADDR" ] && [ -n "$BUS_PID" ] && [ -S "$D/bus" ]
}
BUS_ADDR=
BUS_PID=
check "private D-Bus session bus (dbus-daemon)" start_bus
[ -n "$BUS_PID" ] && PIDS+=("$BUS_PID")

# The stand-in notification server: answers Notify with an id and logs each call.
cat > "$D/server.py" <<'PY'
import sys
import dbus
import dbus.service
import dbus.mainloop.glib
from gi.repository import GLib

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
bus = dbus.bus.BusConnection(sys.argv[1])
log = sys.argv[2]
IFACE = "org.freedesktop.Notifications"


class Server(dbus.service.Object):
    def __init__(self):
        super().__init__(bus, "/org/freedesktop/Notifications")
        self.last = 0

    @dbus.service.method(IFACE, in_signature="susssasa{sv}i", out_signature="u")
    def Notify(self, app, replaces, icon, summary, body, actions, hints, timeout):
        self.last += 1
        with open(log, "a", encoding="utf-8") as f:
            f.write("%s\t%s\t%s\t%s\n" % (app, summary, body, hints.get("category", "")))
        return self.last

    @dbus.service.method(IFACE, out_signature="as")
    def GetCapabilities(self):
        return ["body"]

    @dbus.service.method(IFACE, out_signature="ssss")
    def GetServerInformation(self):
        return ("watch-notify stand-in", "epass2003-rs tests", "1", "1.2")


name = dbus.service.BusName(IFACE, bus)
Server()
print("ready", flush=True)
GLib.MainLoop().run()
PY
SERVER_PID=
start_server() {
    : > "$D/server.log"
    /usr/bin/python3 "$D/server.py" "$BUS_ADDR" "$D/server.log" > "$D/server.out" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 100); do
        grep -q ready "$D/server.out" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$D/server.out"
    return 1
}
check "stand-in notification server owns org.freedesktop.Notifications" start_server

start_monitor() {
    dbus-monitor --address "$BUS_ADDR" "interface='org.freedesktop.Notifications'" \
        > "$D/monitor.log" 2>&1 &
    MONITOR_PID=$!
    PIDS+=("$MONITOR_PID")
    sleep 0.5
    kill -0 "$MONITOR_PID"
}
MONITOR_PID=
check "dbus-monitor captures the Notifications interface" start_monitor

# ---------------------------------------------------------------- the token
SERIAL=
prepare_card() {
    rm -f "$D/card.state"
    "$EMU" new --state "$D/card.state" --variant aes >/dev/null || return 1
    attach_card "$D/card.state" 35963 || return 1
    local pid=$CARD_PID
    EPASS2003_NEW_SO_PIN=87654321 EPASS2003_NEW_PIN=12345678 \
        "$TOOL" init --yes --label "Watch token" || { detach_card "$pid" 35963; return 1; }
    "$TOOL" info --json > "$D/info.json"
    detach_card "$pid" 35963
    SERIAL=$(sed -n 's/.*"serial": "\([^"]*\)".*/\1/p' "$D/info.json" | head -n 1)
    echo "serial $SERIAL"
    [ -n "$SERIAL" ]
}
check "a card initialised with label \"Watch token\" (then pulled)" prepare_card

# watch_start NAME ARGS... : `watch` in the background with the private bus; waits until it
# says it is watching (the slots as they are now are known: what follows is an event).
WATCH_PID=
watch_start() {
    local name=$1
    shift
    DBUS_SESSION_BUS_ADDRESS=${WATCH_BUS-$BUS_ADDR} "$TOOL" watch "$@" \
        > "$D/$name.out" 2> "$D/$name.err" &
    WATCH_PID=$!
    PIDS+=("$WATCH_PID")
    for _ in $(seq 100); do
        grep -q "Watching for tokens" "$D/$name.err" 2>/dev/null && return 0
        kill -0 "$WATCH_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$D/$name.err"
    return 1
}
# watch_end NAME : wait for the background watch (--once) to exit; show its output; exit 0?
watch_end() {
    local name=$1 rc
    for _ in $(seq 150); do kill -0 "$WATCH_PID" 2>/dev/null || break; sleep 0.1; done
    wait "$WATCH_PID"
    rc=$?
    echo "exit $rc"
    echo "--- stdout"; cat "$D/$name.out"
    echo "--- stderr"; cat "$D/$name.err"
    [ "$rc" = 0 ]
}
# notify_seen TEXT... : every TEXT in one captured Notify call (dbus-monitor prints each
# argument of the call on its own line, before the next "method call" line).
notify_seen() {
    awk -v RS='method call' '/member=Notify/' "$D/monitor.log" > "$D/notify-calls.txt"
    local t
    for t in "$@"; do
        grep -qF "$t" "$D/notify-calls.txt" || { echo "no Notify call with: $t"; cat "$D/monitor.log"; return 1; }
    done
}

# ---------------------------------------------------------------- (a)
CARD=
insert_with_notify() {
    watch_start a --notify --once --json --timeout 30 || return 1
    attach_card "$D/card.state" 35963 || return 1
    CARD=$CARD_PID
    watch_end a || return 1
    [ "$(wc -l < "$D/a.out")" = 1 ] &&
    grep -q '"event":"inserted"' "$D/a.out" &&
    grep -q "\"serial\":\"$SERIAL\"" "$D/a.out" &&
    grep -q '"label":"Watch token"' "$D/a.out" &&
    grep -q '"reader":"Virtual PCD' "$D/a.out" &&
    grep -Eq '"time":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"' "$D/a.out" &&
    ! grep -q warning "$D/a.err"
}
check "watch --notify --once --json: card inserted -> one JSON line, exit 0" insert_with_notify
sleep 0.3
check "the captured Notify call carries \"Token inserted\", the label and the serial" \
    notify_seen "Token inserted" "Watch token" "$SERIAL" "device.added" "epass2003-tool"
check "the stand-in server answered it" bash -c '
    cat "$0/server.log"; grep -qP "^epass2003-tool\tToken inserted\t.*$1" "$0/server.log"' "$D" "$SERIAL"

# ---------------------------------------------------------------- (b)
remove_with_notify() {
    watch_start b --notify --once --timeout 30 || return 1
    detach_card "$CARD" 35963
    watch_end b || return 1
    grep -Eq "^[0-9-]{10} [0-9:]{8} removed: token \"Watch token\" serial $SERIAL from Virtual PCD" "$D/b.out"
}
check "watch --notify --once: card pulled -> \"removed: token ...\" line" remove_with_notify
sleep 0.3
check "the captured Notify call carries \"Token removed\" and the serial" \
    notify_seen "Token removed" "$SERIAL" "device.removed"

# ---------------------------------------------------------------- (c)
no_server() {
    kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null
    watch_start c --notify --once --json --timeout 30 || return 1
    attach_card "$D/card.state" 35963 || return 1
    CARD=$CARD_PID
    watch_end c || return 1
    grep -q '"event":"inserted"' "$D/c.out" && [ "$(grep -c warning "$D/c.err")" = 1 ]
}
check "no notification server: the event is printed, one warning, exit 0" no_server

# ---------------------------------------------------------------- (d)
no_bus() {
    WATCH_BUS="unix:path=$D/no-such-bus" watch_start d --notify --once --timeout 30 || return 1
    detach_card "$CARD" 35963
    watch_end d || return 1
    grep -q "removed: token \"Watch token\"" "$D/d.out" &&
    [ "$(grep -c warning "$D/d.err")" = 1 ] && grep -q "no D-Bus session bus" "$D/d.err"
}
check "no session bus: one warning, watching continues, the event is printed" no_bus

[ -n "$MONITOR_PID" ] && kill "$MONITOR_PID" 2>/dev/null
[ -n "$BUS_PID" ] && kill "$BUS_PID" 2>/dev/null
check_summary
