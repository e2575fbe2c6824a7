#!/usr/bin/env bash
# epass2003-tool through a real pcscd + vpcd, and interop with OpenSC and NSS both ways:
#
#   (a) a blank emulated card in a vpcd reader: `info --json` (blank), `init` (tries 10,
#       timeout, policy), `import` of a PKCS#12 with its chain, `pin change` (secrets on a
#       file descriptor), `rename` with a Japanese label, `expiring` exit code;
#   (b) the token the tool prepared is used by OpenSC (pkcs15-tool -D lists the certificate and
#       the label; pkcs11-tool signs with the imported key and the changed PIN, verified by
#       openssl) and by NSS through our module (certutil -L lists the certificate);
#   (c) a token personalised by OpenSC's pkcs15-init is read by the tool (info, certs list) and
#       its PIN changed by the tool; OpenSC logs in with the new PIN;
#   (d) the card pulled in the middle of an import: a clear card error, and the same import
#       run again completes it (nothing lost, nothing doubled).
#
# Expects from ci/lib/common.sh: a running pcscd, $EMU, $WORK, the release build.
set -uo pipefail
: "${EMU:?}" "${WORK:?}"
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e

TOOL="$RELEASE_DIR/epass2003-tool"
MODULE="$RELEASE_DIR/libepass2003_pkcs11.so"
D="$WORK/tool-pcsc"
mkdir -p "$D"
check_start tool-pcsc "$D"
# Only the PC/SC readers: no embedded emulated token, no user config.
export EPASS2003_CONF=/dev/null
unset EPASS2003_EMULATOR
export EPASS2003_PCSC=1
p11() { pkcs11-tool --module "$OPENSC_MODULE" "$@"; }

# A small PKI: root CA, client key + certificate (10 days), PKCS#12 with the chain.
pki() {
    cd "$D" || return 1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 365 \
        -subj "/C=JP/O=Example/CN=Example Root CA" &&
    openssl req -new -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
        -utf8 -subj "/C=JP/O=Example/CN=山田 太郎/UID=taro" &&
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 10 \
        -out client.pem &&
    openssl pkcs12 -export -inkey client.key -in client.pem -certfile ca.pem -name Taro \
        -passout pass:secret -out client.p12
}
check "test PKI (openssl)" pki

new_card() { # new_card STATE -> attach a blank card in reader 0
    rm -f "$1"
    "$EMU" new --state "$1" --variant aes >/dev/null && attach_card "$1" 35963
}

# ---------------------------------------------------------------- (a)
check "blank card attached to vpcd" new_card "$D/a.state"
A_PID=$CARD_PID
check "info --json: blank token, AES secure messaging" bash -c '
    "$0" info --json > "$1/info0.json" && grep -q "\"layout\": \"blank\"" "$1/info0.json" &&
    grep -q "\"secure_messaging\": \"AES\"" "$1/info0.json"' "$TOOL" "$D"
check "init: out-of-range tries refused with the range (exit 2)" bash -c '
    EPASS2003_NEW_SO_PIN=87654321 EPASS2003_NEW_PIN=12345678 "$0" init --yes --user-max-tries 11 2> "$1/e.txt"
    rc=$?; cat "$1/e.txt"; [ $rc = 2 ] && grep -q "0..10" "$1/e.txt"' "$TOOL" "$D"
check "init --yes (10 tries, timeout 30, PINs from the environment)" \
    env EPASS2003_NEW_SO_PIN=87654321 EPASS2003_NEW_PIN=12345678 "$TOOL" init --yes --label "Tool token" --timeout 30
check "import PKCS#12 with the chain" \
    env EPASS2003_PIN=12345678 EPASS2003_P12_PASSWORD=secret "$TOOL" import "$D/client.p12" --take chain
check "pin change (secrets on --secrets-fd 3)" bash -c '
    printf "12345678\n24681357\n" > "$1/secrets"; "$0" pin change --secrets-fd 3 3< "$1/secrets"' "$TOOL" "$D"
check "old PIN now wrong: exit 3 with tries left" bash -c '
    EPASS2003_PIN=12345678 "$0" rename x --json > "$1/wrong.json"; rc=$?; cat "$1/wrong.json"
    [ $rc = 3 ] && grep -q "\"tries_left\": 9" "$1/wrong.json"' "$TOOL" "$D"
check "rename to a Japanese label" env EPASS2003_PIN=24681357 "$TOOL" rename "経理部トークン"
check "info shows label, 10 tries, timeout" bash -c '
    "$0" info > "$1/info1.txt"; cat "$1/info1.txt"; grep -q "経理部トークン" "$1/info1.txt" &&
    grep -q "User PIN: *10 of 10 tries left" "$1/info1.txt" && grep -q "30 minutes" "$1/info1.txt"' "$TOOL" "$D"
check "expiring: the 10-day certificate is reported (exit 7)" bash -c '
    "$0" expiring; [ $? = 7 ]' "$TOOL"

# ---------------------------------------------------------------- (b)
check "OpenSC pkcs15-tool -D lists the imported certificate" bash -c '
    pkcs15-tool -D > "$0/p15.txt" 2>&1; cat "$0/p15.txt"; grep -q "Taro" "$0/p15.txt"' "$D"
check "OpenSC sees the new label" bash -c '
    pkcs11-tool --module "$0" -L > "$1/L.txt" 2>&1; cat "$1/L.txt"; grep -q "経理部トークン" "$1/L.txt"' "$OPENSC_MODULE" "$D"
check "OpenSC signs with the imported key and the changed PIN; openssl verifies" bash -c '
    echo "hello token" > "$1/msg"
    pkcs11-tool --module "$0" --login --pin 24681357 --sign -m SHA256-RSA-PKCS \
        --label Taro -i "$1/msg" -o "$1/msg.sig" &&
    openssl x509 -in "$1/client.pem" -pubkey -noout > "$1/client.pub" &&
    openssl dgst -sha256 -verify "$1/client.pub" -signature "$1/msg.sig" "$1/msg"' "$OPENSC_MODULE" "$D"
check "NSS (certutil through our module) lists the certificate" bash -c '
    rm -rf "$1/nss"; mkdir -p "$1/nss"; certutil -N -d "sql:$1/nss" --empty-password &&
    modutil -dbdir "sql:$1/nss" -add epass2003 -libfile "$0" -force >/dev/null &&
    certutil -L -d "sql:$1/nss" -h all > "$1/nss.txt" 2>&1; cat "$1/nss.txt"; grep -q "Taro" "$1/nss.txt"' "$MODULE" "$D"

# The whole loop: key generated on the token, CSR, a local CA signs it, import (the certificate
# finds its key), then OpenSC signs with the pair and a TLS client authenticates with it.
loop() {
    local id port srv
    id=$(EPASS2003_PIN=24681357 "$TOOL" keygen --type rsa2048 --label loopkey --json | sed -n 's/.*"id": "\([0-9a-f]*\)".*/\1/p')
    echo "key id $id"; [ -n "$id" ] || return 1
    EPASS2003_PIN=24681357 "$TOOL" csr --id "$id" --subject "CN=Loop User,UID=loop,O=Example,C=JP" -o "$D/loop.csr" || return 1
    openssl x509 -req -in "$D/loop.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial -days 30 -out "$D/loop.pem" || return 1
    EPASS2003_PIN=24681357 "$TOOL" import "$D/loop.pem" --json > "$D/loop-import.json"; cat "$D/loop-import.json"
    grep -q "\"id\": \"$id\"" "$D/loop-import.json" && grep -q '"paired_with_key": true' "$D/loop-import.json" || return 1
    echo "signed by OpenSC" > "$D/loop.msg"
    pkcs11-tool --module "$OPENSC_MODULE" --login --pin 24681357 --sign -m SHA256-RSA-PKCS --id "$id" \
        -i "$D/loop.msg" -o "$D/loop.sig" || return 1
    openssl x509 -in "$D/loop.pem" -pubkey -noout > "$D/loop.pub" &&
    openssl dgst -sha256 -verify "$D/loop.pub" -signature "$D/loop.sig" "$D/loop.msg" || return 1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/server.key" -out "$D/server.crt" -days 2 \
        -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1" -CA "$D/ca.pem" -CAkey "$D/ca.key" 2>/dev/null || return 1
    port=$((20000 + RANDOM % 20000))
    openssl s_server -accept "127.0.0.1:$port" -cert "$D/server.crt" -key "$D/server.key" \
        -CAfile "$D/ca.pem" -Verify 1 -verify_return_error -www > "$D/loop-server.log" 2>&1 &
    srv=$!
    sleep 0.5
    printf 'GET / HTTP/1.0\r\n\r\n' | GNUTLS_PIN=24681357 gnutls-cli --provider "$MODULE" \
        --x509cafile "$D/ca.pem" --x509keyfile "pkcs11:object=loopkey;type=private" \
        --x509certfile "pkcs11:object=loopkey;type=cert" -p "$port" 127.0.0.1 > "$D/loop-tls.out" 2>&1
    kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
    cat "$D/loop-tls.out"
    grep -q "Handshake was completed" "$D/loop-tls.out" && grep -q "Loop User" "$D/loop-tls.out"
}
check "keygen, CSR, local CA, import: OpenSC signs with the pair and gnutls-cli authenticates" loop
detach_card "$A_PID" 35963

# ---------------------------------------------------------------- (c)
check "blank card for OpenSC" new_card "$D/c.state"
C_PID=$CARD_PID
check "OpenSC personalises it (pkcs15-init, RSA key, certificate)" bash -c '
    pkcs15-init -E -T >/dev/null 2>&1
    pkcs15-init -C -T -p pkcs15+onepin --pin 123456 --puk 12345678 --label "OpenSC token" &&
    pkcs15-init -G rsa/2048 -a 01 --pin 123456 --label osc --id 45 -u sign,decrypt &&
    pkcs15-init -X "$0/client.pem" --pin 123456 --id 46 --label "osc cert"' "$D"
check "the tool reads it: layout pkcs15, label, 6 tries" bash -c '
    "$0" info --json > "$1/c.json"; cat "$1/c.json"; grep -q "\"layout\": \"pkcs15\"" "$1/c.json" &&
    grep -q "OpenSC token" "$1/c.json" && grep -q "\"max_tries\": 6" "$1/c.json"' "$TOOL" "$D"
check "the tool lists OpenSC's certificate with its details" bash -c '
    "$0" certs list > "$1/c-certs.txt"; cat "$1/c-certs.txt"; grep -q "UID=taro" "$1/c-certs.txt"' "$TOOL" "$D"
check "the tool changes the PIN of OpenSC's token" \
    env EPASS2003_PIN=123456 EPASS2003_NEW_PIN=654321 "$TOOL" pin change
check "OpenSC logs in with the new PIN" bash -c '
    pkcs11-tool --module "$0" --login --pin 654321 -O > "$1/c-O.txt" 2>&1; cat "$1/c-O.txt"; grep -q "Private Key" "$1/c-O.txt"' "$OPENSC_MODULE" "$D"
detach_card "$C_PID" 35963

# ---------------------------------------------------------------- (d)
wait_token() { # until the tool can read the token again (the emulator reinserts it)
    for _ in $(seq 50); do "$TOOL" info >/dev/null 2>&1 && return 0; sleep 0.2; done
    return 1
}
pulled_import() {
    # The card is pulled after N APDUs of the import process; N is chosen so that the pull
    # falls after the first write (the progress line "Writing ..." is printed before it).
    local n rc pid
    for n in 45 55 65 75 85 95 105; do
        rm -f "$D/d.state" && "$EMU" new --state "$D/d.state" >/dev/null || return 1
        "$EMU" attach --state "$D/d.state" --vpcd 127.0.0.1:35963 --wait 10 >> "$D/emu-d.log" 2>&1 &
        pid=$!
        wait_token || { kill $pid; return 1; }
        EPASS2003_NEW_SO_PIN=87654321 EPASS2003_NEW_PIN=12345678 "$TOOL" init --yes >/dev/null 2>&1 || { kill $pid; return 1; }
        detach_card "$pid" 35963
        "$EMU" attach --state "$D/d.state" --vpcd 127.0.0.1:35963 --wait 10 --pull-after "$n" >> "$D/emu-d.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        PULL_PID=$pid
        for _ in $(seq 100); do opensc-tool -l 2>/dev/null | grep -Eq "^0 +Yes" && break; sleep 0.1; done
        EPASS2003_PIN=12345678 EPASS2003_P12_PASSWORD=secret "$TOOL" import "$D/client.p12" --take chain > "$D/pull1.txt" 2>&1
        rc=$?
        echo "pull after $n APDUs: first import exit $rc"; cat "$D/pull1.txt"
        if [ $rc = 6 ] && grep -q "Writing" "$D/pull1.txt"; then break; fi
        detach_card "$pid" 35963
        [ $rc = 0 ] && { echo "import finished before the pull"; return 1; }
    done
    [ $rc = 6 ] || return 1
    wait_token || return 1
    EPASS2003_PIN=12345678 EPASS2003_P12_PASSWORD=secret "$TOOL" import "$D/client.p12" --take chain || return 1
    EPASS2003_PIN=12345678 "$TOOL" info --json > "$D/d.json"; cat "$D/d.json"
    grep -q "\"certificates\": 2" "$D/d.json" && grep -q "\"public_keys\": 1" "$D/d.json"
}
PULL_PID=
check "card pulled mid-import: exit 6, then the same import completes it" pulled_import
# Leave the reader empty for the next suite.
[ -n "$PULL_PID" ] && detach_card "$PULL_PID" 35963

check_summary
