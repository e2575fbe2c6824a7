#!/usr/bin/env bash
# Several applications on ONE embedded emulated token at the same time (EPASS2003_EMULATOR=FILE,
# in-process in each of them): a gnutls-cli that stays connected (module loaded, logged in)
# while two more gnutls-cli client authentications run in parallel, pkcs11-tool lists with a
# login and signs, and the first client then still talks over its connection.
#
# Expects $WORK (ci/lib/common.sh). Prints one line per check and "N passed, M failed".
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e
MOD=${MOD:-$RELEASE_DIR/libepass2003_pkcs11.so}
TOOL=${TOOL:-$RELEASE_DIR/epass2003-tool}
D="$WORK/two-apps"
rm -rf "$D"; mkdir -p "$D"
check_start two-apps "$D"
export EPASS2003_EMULATOR="$D/token.state"
PIN=123456
export EPASS2003_PIN=$PIN EPASS2003_NEW_PIN=$PIN EPASS2003_SO_PIN=87654321 EPASS2003_NEW_SO_PIN=87654321
[ -f "$MOD" ] && [ -x "$TOOL" ] || { echo "FAIL [two-apps] $MOD or $TOOL not built"; exit 1; }

prepare() {
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/ca.key" -out "$D/ca.crt" -days 2 \
        -subj "/CN=Two Apps CA" 2>/dev/null &&
    openssl req -new -newkey rsa:2048 -nodes -keyout "$D/client.key" -out "$D/client.csr" \
        -subj "/CN=Shared User" 2>/dev/null &&
    openssl x509 -req -in "$D/client.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial \
        -days 2 -out "$D/client.crt" 2>/dev/null &&
    openssl pkcs12 -export -inkey "$D/client.key" -in "$D/client.crt" -name client \
        -passout pass:pfx -out "$D/client.p12" &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/server.key" -out "$D/server.crt" \
        -days 2 -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1" \
        -CA "$D/ca.crt" -CAkey "$D/ca.key" 2>/dev/null &&
    "$TOOL" init --label "two apps" --yes &&
    EPASS2003_P12_PASSWORD=pfx "$TOOL" import "$D/client.p12" --yes
}
check "token initialised, client PFX imported (epass2003-tool)" prepare

# s_server reads its stdin and stops at EOF: give it a FIFO this script keeps open (nobody writes).
mkfifo "$D/server.in"
exec {SIN}<>"$D/server.in"
PORT=$((20000 + RANDOM % 20000))
openssl s_server -accept "127.0.0.1:$PORT" -cert "$D/server.crt" -key "$D/server.key" \
    -CAfile "$D/ca.crt" -Verify 1 -verify_return_error -no_ticket <&"$SIN" > "$D/s_server.log" 2>&1 &
SRV=$!
PIDS+=("$SRV")
sleep 0.5
KEY="pkcs11:token=two%20apps;object=client;type=private"
CERT="pkcs11:token=two%20apps;object=client;type=cert"
client() { # client NAME: one client authentication, its output in $D/NAME.out
    printf 'hello from %s\n' "$1" | GNUTLS_PIN="$PIN" timeout 60 gnutls-cli --provider "$MOD" \
        --x509cafile "$D/ca.crt" --x509keyfile "$KEY" --x509certfile "$CERT" \
        -p "$PORT" 127.0.0.1 > "$D/$1.out" 2>&1
    grep -q "Handshake was completed" "$D/$1.out"
}

# The holder: connected and idle, the module loaded and logged in, its stdin a FIFO.
mkfifo "$D/holder.in"
exec {HOLD}<>"$D/holder.in"
GNUTLS_PIN="$PIN" gnutls-cli --provider "$MOD" --x509cafile "$D/ca.crt" --x509keyfile "$KEY" \
    --x509certfile "$CERT" -p "$PORT" 127.0.0.1 < "$D/holder.in" > "$D/holder.out" 2>&1 &
HOLDER=$!
PIDS+=("$HOLDER")
holder_up() {
    for _ in $(seq 100); do grep -q "Handshake was completed" "$D/holder.out" && return 0; sleep 0.1; done
    cat "$D/holder.out"; return 1
}
check "a first gnutls-cli is connected and stays (module held, logged in)" holder_up

# s_server serves one client at a time: give it a second listener for the parallel clients.
PORT2=$((PORT + 1))
openssl s_server -accept "127.0.0.1:$PORT2" -cert "$D/server.crt" -key "$D/server.key" \
    -CAfile "$D/ca.crt" -Verify 1 -verify_return_error -no_ticket <&"$SIN" > "$D/s_server2.log" 2>&1 &
PIDS+=("$!")
PORT3=$((PORT + 2))
openssl s_server -accept "127.0.0.1:$PORT3" -cert "$D/server.crt" -key "$D/server.key" \
    -CAfile "$D/ca.crt" -Verify 1 -verify_return_error -no_ticket <&"$SIN" > "$D/s_server3.log" 2>&1 &
PIDS+=("$!")
sleep 0.5
parallel() {
    PORT=$PORT2 client second & local a=$!
    PORT=$PORT3 client third & local b=$!
    pkcs11-tool --module "$MOD" --token-label "two apps" --login --pin "$PIN" -O \
        > "$D/list.out" 2>&1 & local c=$!
    head -c 100 /dev/urandom > "$D/data"
    pkcs11-tool --module "$MOD" --token-label "two apps" --login --pin "$PIN" --sign \
        --mechanism SHA256-RSA-PKCS -i "$D/data" -o "$D/data.sig" > "$D/sign.out" 2>&1 & local s=$!
    local rc=0
    wait $a || { echo "second client failed:"; cat "$D/second.out"; rc=1; }
    wait $b || { echo "third client failed:"; cat "$D/third.out"; rc=1; }
    wait $c || { echo "pkcs11-tool -O failed:"; cat "$D/list.out"; rc=1; }
    wait $s || { echo "pkcs11-tool --sign failed:"; cat "$D/sign.out"; rc=1; }
    ((rc == 0)) || return 1
    grep -q "Private Key Object" "$D/list.out" &&
    openssl dgst -sha256 -verify <(openssl x509 -in "$D/client.crt" -pubkey -noout) \
        -signature "$D/data.sig" "$D/data"
}
check "while it holds the token: two gnutls-cli in parallel, pkcs11-tool -O --login and --sign" parallel
check "the servers verified the token's certificate for both parallel clients" \
    bash -c "grep -q 'CN *= *Shared User' '$D/s_server2.log' && grep -q 'CN *= *Shared User' '$D/s_server3.log'"

holder_still_talks() {
    printf 'still here\n' >&"$HOLD"
    for _ in $(seq 50); do grep -q "still here" "$D/s_server.log" && break; sleep 0.1; done
    kill -0 "$HOLDER" && grep -q "still here" "$D/s_server.log"
}
check "the first client is still connected and its data reaches the server" holder_still_talks
exec {HOLD}>&-
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null
check_summary
