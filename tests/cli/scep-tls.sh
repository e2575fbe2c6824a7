#!/usr/bin/env bash
# `epass2003-tool enroll` and `renew` against Debian's real SCEP server (micromdm's scepserver,
# started here on 127.0.0.1 with a challenge password, and behind an HTTPS front (socat) with a
# private TLS CA: --cacert, the system store, the insecure switch), onto the embedded token; then
# the issued certificate completes a TLS 1.3 client-authentication handshake through OUR
# module (gnutls-cli --provider, key on the token) against `openssl s_server` that trusts
# only the SCEP CA. The fingerprint given to the tool is computed by openssl, independently.
# The exit codes, refusals, result file and clean-up are in crates/cli/tests/scep.rs.
#
# Expects $WORK (ci/lib/common.sh). Prints one line per check and "N passed, M failed".
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e

TOOL="$RELEASE_DIR/epass2003-tool"
MOD="$RELEASE_DIR/libepass2003_pkcs11.so"
D="$WORK/scep-tls"
rm -rf "$D"; mkdir -p "$D"
check_start scep-tls "$D"
export EPASS2003_CONF=/dev/null EPASS2003_PCSC=0 XDG_STATE_HOME="$D/state" LANG=C
export EPASS2003_EMULATOR="$D/token.state"
unset CREDENTIALS_DIRECTORY
PIN=12345678
CHALLENGE=scep-Challenge-7
[ -x /usr/bin/scepserver ] || { echo "FAIL [scep-tls] /usr/bin/scepserver missing (package scep)"; exit 1; }

SCEP_PID=
stop_scep() { [ -n "$SCEP_PID" ] && kill "$SCEP_PID" 2>/dev/null; wait "$SCEP_PID" 2>/dev/null; SCEP_PID=; }
trap stop_scep EXIT
start_scep() {
    /usr/bin/scepserver ca -init -keySize 2048 -depot "$D/depot" > "$D/ca-init.log" 2>&1 || return 1
    PORT=$((20000 + RANDOM % 20000))
    /usr/bin/scepserver -depot "$D/depot" -port "$PORT" -challenge "$CHALLENGE" \
        -allowrenew 0 -crtvalid 10 > "$D/scepserver.log" 2>&1 &
    SCEP_PID=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$PORT/scep?operation=GetCACaps" > "$D/caps.txt" && break
        sleep 0.1
    done
    cat "$D/caps.txt"
    grep -q Renewal "$D/caps.txt"
}
check "scepserver (Debian package scep) serves GetCACaps" start_scep
URL="http://127.0.0.1:$PORT/scep"
FP=$(openssl x509 -in "$D/depot/ca.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :)

init_token() {
    EPASS2003_NEW_SO_PIN=87654321 EPASS2003_NEW_PIN=$PIN "$TOOL" init --yes --label "SCEP token"
}
check "token initialised (epass2003-tool init)" init_token

enrol() {
    EPASS2003_PIN=$PIN EPASS2003_SCEP_CHALLENGE=$CHALLENGE "$TOOL" --json enroll --url "$URL" \
        --ca-fingerprint "$FP" --subject "CN=Token User,UID=token-user,O=Example" --label scep \
        < /dev/null > "$D/enroll.json"
    local rc=$?
    cat "$D/enroll.json"
    ((rc == 0)) && grep -q '"cn": "Token User"' "$D/enroll.json"
}
check "enroll: key generated on the token, certificate issued by the SCEP CA and stored" enrol

# The server's certificate from a CA of its own; the client must present one from the SCEP CA.
# (A web server's own TLS CA, as an organisation's private CA would be: no trust store has it.)
server_cert() {
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/tls-ca.key" -out "$D/tls-ca.crt" \
        -days 2 -subj "/CN=Example Private TLS CA" &&
    openssl req -newkey rsa:2048 -nodes -keyout "$D/server.key" -out "$D/server.csr" \
        -subj "/CN=localhost" &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$D/server.ext" &&
    openssl x509 -req -in "$D/server.csr" -CA "$D/tls-ca.crt" -CAkey "$D/tls-ca.key" \
        -CAcreateserial -days 2 -extfile "$D/server.ext" -out "$D/server.crt"
}
check "TLS server certificate" server_cert

tls() { # tls TAG: a TLS 1.3 handshake with the token's certificate "scep"
    local port=$((20000 + RANDOM % 20000)) srv
    openssl s_server -accept "127.0.0.1:$port" -cert "$D/server.crt" -key "$D/server.key" \
        -CAfile "$D/depot/ca.pem" -Verify 1 -verify_return_error -www > "$D/s_server-$1.log" 2>&1 &
    srv=$!
    sleep 0.5
    printf 'GET / HTTP/1.0\r\n\r\n' | GNUTLS_PIN="$PIN" gnutls-cli --provider "$MOD" \
        --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3" --x509cafile "$D/tls-ca.crt" \
        --x509keyfile "pkcs11:token=SCEP%20token;object=scep;type=private" \
        --x509certfile "pkcs11:token=SCEP%20token;object=scep;type=cert" \
        -p "$port" 127.0.0.1 > "$D/gnutls-$1.out" 2>&1
    kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
    cat "$D/gnutls-$1.out"
    grep -q "Handshake was completed" "$D/gnutls-$1.out" &&
    grep -Eq "Subject: .*CN *= *Token User|subject=.*CN *= *Token User" "$D/gnutls-$1.out"
}
check "the enrolled certificate: TLS 1.3 client authentication through the library" tls enrolled

renew() {
    EPASS2003_PIN=$PIN EPASS2003_SCEP_CHALLENGE=$CHALLENGE "$TOOL" --json renew --url "$URL" \
        --ca-fingerprint "$FP" --label scep < /dev/null > "$D/renew.json"
    local rc=$?
    cat "$D/renew.json"
    ((rc == 0)) && python3 - "$D/enroll.json" "$D/renew.json" <<'PY'
import json, sys
e, r = (json.load(open(f)) for f in sys.argv[1:])
assert r["new_key"] and r["request"] == "RenewalReq", r
assert r["issued"]["serial"] != e["issued"]["serial"] and r["id"] != e["id"], (e, r)
assert r["replaced"]["serial"] == e["issued"]["serial"] and r["replaced"]["removed"], r
PY
}
check "renew (due in the 14-day window of a 10-day certificate): a new key pair and certificate" renew
check "the renewed certificate and new key: TLS 1.3 client authentication" tls renewed

not_due() {
    "$TOOL" renew --url "$URL" --ca-fingerprint "$FP" --days 5 < /dev/null
    [ $? -eq 12 ]
}
check "renew --days 5: not due, exit 12, no PIN asked" not_due

# HTTPS: socat terminates TLS in front of scepserver with the self-signed server certificate
# above (CN=localhost, IP 127.0.0.1, from a private TLS CA no system trust store holds).
SOCAT_PID=
https_front() {
    HPORT=$((20000 + RANDOM % 20000))
    socat "OPENSSL-LISTEN:$HPORT,bind=127.0.0.1,reuseaddr,fork,cert=$D/server.crt,key=$D/server.key,verify=0" \
        "TCP:127.0.0.1:$PORT" > "$D/socat.log" 2>&1 &
    SOCAT_PID=$!
    for _ in $(seq 100); do
        curl -fs --cacert "$D/tls-ca.crt" "https://127.0.0.1:$HPORT/scep?operation=GetCACaps" > /dev/null && return 0
        sleep 0.1
    done
    return 1
}
check "socat: an HTTPS front for scepserver" https_front
HURL="https://127.0.0.1:$HPORT/scep"
trap 'stop_scep; [ -n "$SOCAT_PID" ] && kill "$SOCAT_PID" 2>/dev/null' EXIT

https_untrusted() {
    EPASS2003_PIN=$PIN EPASS2003_SCEP_CHALLENGE=$CHALLENGE "$TOOL" --json renew --url "$HURL" \
        --ca-fingerprint "$FP" --force < /dev/null > "$D/https-untrusted.json"
    local rc=$?
    cat "$D/https-untrusted.json"; echo "exit $rc"
    ((rc == 14)) && grep -q 'TLS' "$D/https-untrusted.json" && grep -q -- '--cacert' "$D/https-untrusted.json"
}
check "https:// with a server certificate no trust store holds: refused, exit 14, names --cacert" https_untrusted

https_cacert() {
    EPASS2003_PIN=$PIN EPASS2003_SCEP_CHALLENGE=$CHALLENGE "$TOOL" --json renew --url "$HURL" \
        --ca-fingerprint "$FP" --cacert "$D/tls-ca.crt" --force < /dev/null > "$D/https-cacert.json"
    local rc=$?
    cat "$D/https-cacert.json"; echo "exit $rc"
    ((rc == 0)) && grep -q '"request": "RenewalReq"' "$D/https-cacert.json"
}
check "https:// with --cacert: renewed over TLS" https_cacert

https_remembered() {
    EPASS2003_PIN=$PIN EPASS2003_SCEP_CHALLENGE=$CHALLENGE "$TOOL" --json renew --force \
        < /dev/null > "$D/https-again.json"
    local rc=$?
    cat "$D/https-again.json"; echo "exit $rc"
    ((rc == 0)) && grep -q "\"url\": \"$HURL\"" "$D/state/epass2003/tokens-seen.json" &&
        grep -q "\"cacert\": \"$D/tls-ca.crt\"" "$D/state/epass2003/tokens-seen.json"
}
check "renew with no options: the https URL, fingerprint and --cacert of the last enrolment" https_remembered

https_insecure() {
    EPASS2003_PIN=$PIN EPASS2003_SCEP_CHALLENGE=$CHALLENGE "$TOOL" renew --url "$HURL" \
        --ca-fingerprint "$FP" --insecure-skip-tls-verify --force < /dev/null > "$D/https-insecure.out" 2>&1
    local rc=$?
    cat "$D/https-insecure.out"; echo "exit $rc"
    ((rc == 0)) && grep -q "WARNING: --insecure-skip-tls-verify" "$D/https-insecure.out"
}
check "--insecure-skip-tls-verify: works, with a warning" https_insecure

https_system_store() { # the system's trust store, as OpenSSL's SSL_CERT_FILE points to it
    SSL_CERT_FILE="$D/tls-ca.crt" EPASS2003_PIN=$PIN EPASS2003_SCEP_CHALLENGE=$CHALLENGE \
        "$TOOL" renew --url "https://localhost:$HPORT/scep" --ca-fingerprint "$FP" --force < /dev/null
    local rc=$?
    echo "exit $rc"
    ((rc == 0))
}
check "https:// trusted through the system store (SSL_CERT_FILE), no --cacert" https_system_store
check "the certificate renewed over HTTPS: TLS 1.3 client authentication" tls https

unreachable() {
    stop_scep
    EPASS2003_PIN=$PIN EPASS2003_SCEP_CHALLENGE=$CHALLENGE "$TOOL" renew --url "$URL" \
        --ca-fingerprint "$FP" --force < /dev/null
    local rc=$?
    echo "exit $rc"
    ((rc == 14))
}
check "the server stopped: exit 14" unreachable
check "and the token still authenticates with the certificate it had" tls after-failure
check_summary
