#!/usr/bin/env bash
# Why no token is seen, told apart by epass2003-tool (`info --json` exit 5 with a "reason"):
#   pcscd not running, no reader, a reader without a token, a token held by another
#   application (busy), and a card that is not an ePass2003 (its ATR shown).
#
# Runs in its own mount namespace (it stops, starts and reconfigures pcscd): started by ci/test
# as `unshare -m bash tests/cli/no-token.sh`. Expects $EMU and $RELEASE_DIR (ci/lib/common.sh).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e
: "${EMU:=$RELEASE_DIR/epass2003-emu}"
TOOL="$RELEASE_DIR/epass2003-tool"
D="$WORK/no-token"
mkdir -p "$D"
check_start no-token "$D"
export EPASS2003_CONF=/dev/null
unset EPASS2003_EMULATOR
export EPASS2003_PCSC=1

# A private /run/pcscd for this script's daemons.
mount -t tmpfs tmpfs /run/pcscd 2>/dev/null || { mkdir -p /run/pcscd; mount -t tmpfs tmpfs /run/pcscd; }

reason_is() { # reason_is WANT [EN|JA]: info --json exits 5 with error.reason WANT
    local want=$1 out rc
    out=$("$TOOL" info --json 2>&1); rc=$?
    echo "$out"; echo "exit $rc"
    [ "$rc" = 5 ] && echo "$out" | grep -q "\"reason\": \"$want\""
}
stop_pcscd() {
    [ -n "${PCSCD_PID:-}" ] && kill "$PCSCD_PID" 2>/dev/null && wait "$PCSCD_PID" 2>/dev/null
    PCSCD_PID=
    rm -f /run/pcscd/pcscd.comm /run/pcscd/pcscd.pid
}

# 1. pcscd not running.
check "pcscd not running: reason pcscd_not_running, fix named" bash -c '
    out=$("$0" info 2>&1); rc=$?; echo "$out"
    [ $rc = 5 ] && echo "$out" | grep -q "systemctl start pcscd" &&
    "$0" info --json | grep -q "\"reason\": \"pcscd_not_running\""' "$TOOL"
check "the same in Japanese (LANG=ja_JP.UTF-8)" bash -c '
    out=$(LANG=ja_JP.UTF-8 "$0" info 2>&1); echo "$out"; echo "$out" | grep -q "PC/SC サービスが動作していません"' "$TOOL"

# 2. pcscd without any reader driver: no reader.
mkdir -p "$D/empty-drivers" "$D/empty-conf"
check "no reader: pcscd with no reader driver" bash -c '
    mount --bind "$0" /usr/lib/pcsc/drivers || exit 1
    mount --bind "$3" /etc/reader.conf.d || exit 1
    pcscd --foreground > "$1/pcscd-noreader.log" 2>&1 & p=$!
    for _ in $(seq 50); do [ -S /run/pcscd/pcscd.comm ] && break; sleep 0.1; done; sleep 0.5
    out=$("$2" info --json 2>&1); rc=$?; echo "$out"
    kill $p; wait $p 2>/dev/null; umount /usr/lib/pcsc/drivers /etc/reader.conf.d; rm -f /run/pcscd/pcscd.comm
    [ $rc = 5 ] && echo "$out" | grep -q "\"reason\": \"no_reader\""' "$D/empty-drivers" "$D" "$TOOL" "$D/empty-conf"

# 3..5 with the vpcd readers.
start_pcscd
check "a reader without a token: reason reader_empty" reason_is reader_empty

rm -f "$D/card.state"; "$EMU" new --state "$D/card.state" >/dev/null
attach_card "$D/card.state" 35963
check "an ePass2003 present: info works" "$TOOL" info
check "a token busy (held exclusively by another application): reason token_busy" bash -c '
    /usr/bin/python3 - "$0" <<PY &
import sys, time
from smartcard.scard import *
hr, ctx = SCardEstablishContext(SCARD_SCOPE_USER)
hr, readers = SCardListReaders(ctx, [])
r = [x for x in readers if x.endswith("00 00")][0]
hr, card, proto = SCardConnect(ctx, r, SCARD_SHARE_EXCLUSIVE, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1)
print("held", hex(hr), flush=True)
open(sys.argv[1] + "/held", "w").close()
time.sleep(6)
PY
    for _ in $(seq 50); do [ -f "$0/held" ] && break; sleep 0.1; done
    out=$("$1" info --json 2>&1); rc=$?; echo "$out"; wait
    [ $rc = 5 ] && echo "$out" | grep -q "\"reason\": \"token_busy\""' "$D" "$TOOL"
detach_card "$CARD_PID" 35963

"$EMU" attach --state "$D/card.state" --vpcd 127.0.0.1:35963 --wait 10 \
    --foreign-atr 3b8f8001804f0ca000000306030001000000006a >> "$D/emu-other.log" 2>&1 &
OTHER=$!; PIDS+=("$OTHER")
for _ in $(seq 100); do opensc-tool -l 2>/dev/null | grep -Eq "^0 +Yes" && break; sleep 0.1; done
check "a card of another kind: reason not_epass2003, ATR shown" bash -c '
    out=$("$0" info 2>&1); echo "$out"; echo "$out" | grep -q "3b8f8001804f0ca000000306030001000000006a" &&
    "$0" info --json | grep -q "\"reason\": \"not_epass2003\""' "$TOOL"
detach_card "$OTHER" 35963

check_summary
