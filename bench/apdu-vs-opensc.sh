#!/usr/bin/env bash
# Benchmark: APDUs, bytes and wall time of one signature, this project's PKCS#11 module against
# OpenSC 0.23's, on the SAME emulated ePass2003 (AES variant, personalised by OpenSC's pkcs15-init,
# RSA-2048 key id 01) through the same pcscd + vpcd. Counts come from pcscd's APDU log (-a), so
# they include everything each module sends, from C_Initialize to C_Finalize.
#
#   bench/apdu-vs-opensc.sh            (installs, builds and starts pcscd itself)
#
# Each row is one `pkcs11-tool --login --sign` process (a cold start: load, find the key, log in,
# sign). Ours runs twice: with an empty directory cache, then with the cache the first run left.
# A second table repeats the runs with the emulator's latency model on (per APDU and per RSA
# operation), so the wall times mean something. Prints figures; fails only if a run fails.
source "$(dirname "$0")/../ci/lib/common.sh"
cd "$ROOT"
if [ -z "${EMU:-}" ]; then install_deps; build_release; fi
# Inside ci/test a pcscd is already running (PCSCD_PID set); standalone, start our own.
[ -n "${PCSCD_PID:-}" ] || start_pcscd
OURS="$RELEASE_DIR/libepass2003_pkcs11.so"
B="$WORK/bench"; mkdir -p "$B"
PIN=123456

apdus() { grep -c ' APDU: ' "$WORK/pcscd.log"; }
bytes() { # total bytes on the wire (commands + responses) in the pcscd log from line $1
    tail -n +"$1" "$WORK/pcscd.log" | awk '/ APDU: | SW: / {n += NF - 2} END {print n + 0}'
}

setup_card() { # setup_card [attach options...]
    rm -f "$B/card.state" "$B/card.state.lock"
    "$EMU" new --state "$B/card.state" --variant aes >/dev/null
    "$EMU" attach --state "$B/card.state" --wait 10 "$@" >> "$WORK/emu-bench.log" 2>&1 &
    CARD_PID=$!; PIDS+=("$CARD_PID")
    for _ in $(seq 100); do opensc-tool -l 2>/dev/null | grep -Eq "^0 +Yes" && break; sleep 0.1; done
}

personalise_opensc() {
    pkcs15-init -E -T >/dev/null 2>&1
    pkcs15-init --create-pkcs15 -T -p pkcs15+onepin --pin "$PIN" --puk 12345678 --label bench >/dev/null 2>&1
    pkcs15-init --generate-key rsa/2048 --auth-id 01 --id 01 --label bench --key-usage sign,decrypt --pin "$PIN" >/dev/null 2>&1
}

personalise_ours() { # the same key and PIN, but initialised through our library (C_InitToken..)
    local m="pkcs11-tool --module $OURS"
    export XDG_CACHE_HOME="$B/cache-init"
    $m --init-token --label bench --so-pin 87654321 >/dev/null 2>&1 &&
    $m --token-label bench --init-pin --login --login-type so --so-pin 87654321 --new-pin "$PIN" >/dev/null 2>&1 &&
    $m --token-label bench --login --pin "$PIN" --keypairgen --key-type rsa:2048 --id 01 --label bench >/dev/null 2>&1 ||
        { echo "initialisation through our library failed"; exit 1; }
    unset XDG_CACHE_HOME
}

run() { # run NAME MODULE [env...]: one cold signature process; prints a table row
    local name=$1 mod=$2; shift 2
    local a0 l0 t0 t1 a1
    sleep 1 # let pcscd power the card off, as between two real application starts
    a0=$(apdus); l0=$(($(wc -l < "$WORK/pcscd.log") + 1)); t0=$(date +%s%N)
    env "$@" pkcs11-tool --module "$mod" --login --pin "$PIN" --sign --id 01 \
        --mechanism SHA256-RSA-PKCS -i "$B/data" -o "$B/sig" > "$B/run.log" 2>&1 ||
        { cat "$B/run.log"; echo "run $name failed"; exit 1; }
    t1=$(date +%s%N); a1=$(apdus)
    openssl dgst -sha256 -verify "$B/pub.pem" -signature "$B/sig" "$B/data" >/dev/null ||
        { echo "$name: signature does not verify"; exit 1; }
    printf '| %-44s | %5d | %7d | %8.0f |\n' "$name" $((a1 - a0)) "$(bytes "$l0")" \
        "$(echo "($t1 - $t0) / 1000000" | bc -l)"
}

table() { # table TITLE PERSONALISE [attach options...]
    local title=$1 how=$2; shift 2
    setup_card "$@"
    "$how"
    pkcs15-tool --read-public-key 01 -o "$B/pub.pem" >/dev/null 2>&1
    head -c 1000 /dev/urandom > "$B/data"
    echo
    echo "$title"
    echo "| one process: C_Initialize .. login .. sign     | APDUs |   bytes |  wall ms |"
    echo "|----------------------------------------------|-------|---------|----------|"
    # The cache never trusts a TokenInfo written in the last 3 s (lastUpdate has 1 s resolution).
    sleep 3
    run "OpenSC 0.23 opensc-pkcs11.so" "$OPENSC_MODULE"
    local cache="$B/cache-$RANDOM"
    run "libepass2003_pkcs11.so, empty directory cache" "$OURS" XDG_CACHE_HOME="$cache" EPASS2003_PCSC=1
    run "libepass2003_pkcs11.so, directory cache warm" "$OURS" XDG_CACHE_HOME="$cache" EPASS2003_PCSC=1
    detach_card "$CARD_PID" 35963
}

command -v bc >/dev/null || { apt-get install -y -qq bc >/dev/null 2>&1 || true; }
table "Card personalised by OpenSC's pkcs15-init; no latency model:" personalise_opensc
table "Card initialised by our library; no latency model:" personalise_ours
table "Card initialised by our library; latency model 5 ms/APDU, 150 ms/RSA op, 2 s/keygen:" \
    personalise_ours --apdu-ms 5 --rsa-ms 150 --keygen-ms 2000
echo
echo "On a card personalised by OpenSC our directory cache is never trusted (no settings record"
echo "to validate it against), so both of our rows read the directory."
echo
echo "Warm signatures inside one process (MSE + PSO) are counted by the pkcs15 crate's"
echo "example: cargo run --release -p pkcs15 --example apdu_budget"
