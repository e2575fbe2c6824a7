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
# shellcheck source=../../ci/lib/dbus.sh
source "$HERE/../../ci/lib/dbus.sh"
check "private D-Bus session bus (dbus-daemon)" dbus_start_bus "$D"
check "stand-in notification server owns org.freedesktop.Notifications" dbus_start_server "$D"
check "dbus-monitor captures the Notifications interface" dbus_start_monitor "$D"

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
notify_seen() { dbus_notify_seen "$D" "$@"; }

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

dbus_stop
check_summary
