# shellcheck shell=bash
# A private D-Bus session bus with a stand-in notification server and dbus-monitor, for the
# suites that check desktop notifications (tests/cli/watch-notify.sh, expiring-notify.sh).
# Source after ci/lib/common.sh; call with `check`:
#   check "private D-Bus session bus (dbus-daemon)" dbus_start_bus "$D"   # sets BUS_ADDR, BUS_PID
#   check "stand-in notification server ..." dbus_start_server "$D"       # sets SERVER_PID
#   check "dbus-monitor captures ..." dbus_start_monitor "$D"             # sets MONITOR_PID
#   dbus_notify_seen "$D" TEXT...   # every TEXT in one captured Notify call
#   dbus_stop                       # the monitor and the bus
# The server logs each Notify call as "app<TAB>summary<TAB>body<TAB>category" to $D/server.log.
# Needs dbus-daemon, dbus-monitor (Debian dbus-daemon, dbus-bin), /usr/bin/python3 with
# python3-dbus and python3-gi.
BUS_ADDR=
BUS_PID=
SERVER_PID=
MONITOR_PID=

# Our own configuration rather than --session: no service activation (a desktop's real
# notification daemon must not be started), the socket in DIR, eavesdropping for the monitor.
dbus_start_bus() { # dbus_start_bus DIR
    local d=$1 out
    cat > "$d/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$d/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
    rm -f "$d/bus"
    out=$(dbus-daemon --config-file="$d/bus.conf" --fork --print-address=1 --print-pid=1) || return 1
    BUS_ADDR=$(sed -n 1p <<<"$out")
    BUS_PID=$(sed -n 2p <<<"$out")
    echo "bus $BUS_ADDR pid $BUS_PID"
    [ -n "$BUS_PID" ] && PIDS+=("$BUS_PID")
    [ -n "$BUS_ADDR" ] && [ -n "$BUS_PID" ] && [ -S "$d/bus" ]
}

# The stand-in notification server: owns org.freedesktop.Notifications on $BUS_ADDR, answers
# Notify with an id and logs each call.
dbus_start_server() { # dbus_start_server DIR
    local d=$1
    cat > "$d/server.py" <<'PY'
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
        return ("epass2003 tests stand-in", "epass2003-rs tests", "1", "1.2")


name = dbus.service.BusName(IFACE, bus)
Server()
print("ready", flush=True)
GLib.MainLoop().run()
PY
    : > "$d/server.log"
    /usr/bin/python3 "$d/server.py" "$BUS_ADDR" "$d/server.log" > "$d/server.out" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for _ in $(seq 100); do
        grep -q ready "$d/server.out" 2>/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$d/server.out"
    return 1
}

dbus_start_monitor() { # dbus_start_monitor DIR: the Notifications traffic to DIR/monitor.log
    local d=$1
    dbus-monitor --address "$BUS_ADDR" "interface='org.freedesktop.Notifications'" \
        > "$d/monitor.log" 2>&1 &
    MONITOR_PID=$!
    PIDS+=("$MONITOR_PID")
    sleep 0.5
    kill -0 "$MONITOR_PID"
}

# dbus_notify_seen DIR TEXT... : every TEXT in one captured Notify call (dbus-monitor prints
# each argument of the call on its own line, before the next "method call" line).
dbus_notify_seen() {
    local d=$1 t
    shift
    awk -v RS='method call' '/member=Notify/' "$d/monitor.log" > "$d/notify-calls.txt"
    for t in "$@"; do
        grep -qF -- "$t" "$d/notify-calls.txt" || { echo "no Notify call with: $t"; cat "$d/monitor.log"; return 1; }
    done
}

dbus_stop() {
    [ -n "$MONITOR_PID" ] && kill "$MONITOR_PID" 2>/dev/null
    [ -n "$BUS_PID" ] && kill "$BUS_PID" 2>/dev/null
    return 0
}
