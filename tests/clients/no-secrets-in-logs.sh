#!/usr/bin/env bash
# No secret in any log, at the most verbose level, through the whole stack: every command below
# runs with EPASS2003_LOG=trace and its stderr (where the library, the tool and the emulator log)
# is kept. The life cycle covers what can carry a secret: token initialisation (SO PIN, user PIN),
# login, a private data object written and read back, an RSA key pair generated and used to
# decrypt a known plaintext (a stand-in for a TLS premaster secret), a PFX imported with its
# password (the key's private exponent), a PIN change, and a PKCS#12 file served as a slot
# (its password, a decryption with its key, a password change). Then each secret is searched in
# every log, in ASCII, hex (both cases) and base64.
#
# Expects $WORK (ci/lib/common.sh). Prints one line per check and "N passed, M failed".
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e
MOD=${MOD:-$RELEASE_DIR/libepass2003_pkcs11.so}
TOOL=${TOOL:-$RELEASE_DIR/epass2003-tool}
D="$WORK/no-secrets"
rm -rf "$D"; mkdir -p "$D/logs"
check_start no-secrets "$D"
[ -f "$MOD" ] || { echo "FAIL [no-secrets] $MOD not built"; exit 1; }
[ -x "$TOOL" ] || { echo "FAIL [no-secrets] $TOOL not built"; exit 1; }

export EPASS2003_PCSC=no
export EPASS2003_CONF="$D/none.conf"
export EPASS2003_EMULATOR="$D/token.state"
export EPASS2003_LOG=trace
export XDG_STATE_HOME="$D/state"
LABEL="trace test"
SO_PIN="SOpin5820x"
PIN="userpin7391"
NEW_PIN="otherpin2846"
PFX_PW="pfxPass-4417"
P12_PW="slotpass8830"
P12_NEW="slotpass9941"
PRIVATE_VALUE="the private data object's secret value 0123456789"
PLAIN="premaster-secret-stand-in-5a5a5a5a5a5a-0123456789abcdef"

n=0
# logged CMD...: runs CMD with its stderr appended to a log of its own; stdout to $D/out.N.
logged() {
    n=$((n + 1))
    "$@" > "$D/out.$n" 2> "$D/logs/$n.log"
    local rc=$?
    cat "$D/out.$n"
    return $rc
}
p11() { logged pkcs11-tool --module "$MOD" --token-label "$LABEL" "$@"; }

init_token() {
    logged pkcs11-tool --module "$MOD" --init-token --label "$LABEL" --so-pin "$SO_PIN" &&
    p11 --init-pin --login --login-type so --so-pin "$SO_PIN" --new-pin "$PIN"
}
check "C_InitToken and C_InitPIN (SO PIN, user PIN)" init_token
check "the trace is on (the library logs APDUs)" grep -q 'APDU' "$D/logs/1.log"
printf '%s' "$PRIVATE_VALUE" > "$D/private.bin"
check "a private data object written" \
    p11 --login --pin "$PIN" --write-object "$D/private.bin" --type data --label secret \
        --application-label trace --private
read_private() {
    p11 --login --pin "$PIN" --read-object --type data --label secret -o "$D/private.out" &&
    cmp "$D/private.bin" "$D/private.out"
}
check "the private data object read back" read_private
check "RSA-2048 key pair generated on the token" \
    p11 --login --pin "$PIN" --keypairgen --key-type rsa:2048 --id 07 --label dec
decrypt_known_plaintext() {
    p11 --read-object --type pubkey --id 07 -o "$D/pub.der" &&
    openssl pkey -pubin -inform DER -in "$D/pub.der" -out "$D/pub.pem" &&
    printf '%s' "$PLAIN" > "$D/plain.bin" &&
    openssl pkeyutl -encrypt -pubin -inkey "$D/pub.pem" -in "$D/plain.bin" -out "$D/cipher.bin" &&
    p11 --login --pin "$PIN" --decrypt -m RSA-PKCS --id 07 -i "$D/cipher.bin" -o "$D/dec.bin" &&
    cmp "$D/plain.bin" "$D/dec.bin"
}
check "an RSA decryption on the token gives back the known plaintext" decrypt_known_plaintext

make_pfx() {
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/user.key" -out "$D/user.crt" -days 2 \
        -subj "/CN=Trace User" 2> /dev/null &&
    openssl pkcs12 -export -in "$D/user.crt" -inkey "$D/user.key" -name "trace user" \
        -passout "pass:$PFX_PW" -out "$D/user.p12" &&
    # The private exponent's leading bytes, to look for in the logs.
    openssl pkey -in "$D/user.key" -text -noout |
        awk '/^privateExponent:/{f=1; next} /^prime1:/{f=0} f' | tr -d ' :\n' | sed 's/^00//' |
        cut -c1-48 | tr -d '\n' > "$D/d.hex" &&
    [ "$(wc -c < "$D/d.hex")" -eq 48 ]
}
check "a PFX made by OpenSSL" make_pfx
import_pfx() {
    EPASS2003_PIN="$PIN" EPASS2003_P12_PASSWORD="$PFX_PW" logged "$TOOL" import "$D/user.p12" ||
        return 1
    p11 -O | grep -q "trace user\|Trace User"
}
check "epass2003-tool import of the PFX (password and PIN from the environment)" import_pfx
check "C_SetPIN (user PIN changed)" p11 --login --pin "$PIN" --change-pin --new-pin "$NEW_PIN"
check "login with the new PIN" p11 --login --pin "$NEW_PIN" -O

make_slot_file() {
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/slot.key" -out "$D/slot.crt" -days 2 \
        -subj "/CN=Slot User" 2> /dev/null &&
    openssl pkcs12 -export -in "$D/slot.crt" -inkey "$D/slot.key" -name "slot" \
        -passout "pass:$P12_PW" -out "$D/slot.p12" &&
    openssl pkey -in "$D/slot.key" -text -noout |
        awk '/^privateExponent:/{f=1; next} /^prime1:/{f=0} f' | tr -d ' :\n' | sed 's/^00//' |
        cut -c1-48 | tr -d '\n' > "$D/slot-d.hex" &&
    [ "$(wc -c < "$D/slot-d.hex")" -eq 48 ]
}
check "a PKCS#12 file for the file slot" make_slot_file
slot_decrypt() {
    openssl pkeyutl -encrypt -certin -inkey "$D/slot.crt" -in "$D/plain.bin" -out "$D/slot-cipher.bin" &&
    EPASS2003_PKCS12="$D/slot.p12" logged pkcs11-tool --module "$MOD" --token-label slot --login \
        --pin "$P12_PW" --decrypt -m RSA-PKCS -i "$D/slot-cipher.bin" -o "$D/slot-dec.bin" &&
    cmp "$D/plain.bin" "$D/slot-dec.bin"
}
check "PKCS#12 slot: login with the file's password and decrypt" slot_decrypt
check "PKCS#12 slot: password changed (C_SetPIN)" \
    env EPASS2003_PKCS12="$D/slot.p12" pkcs11-tool --module "$MOD" --token-label slot --login \
        --pin "$P12_PW" --change-pin --new-pin "$P12_NEW" 2> "$D/logs/slot-setpin.log"

# leaked_nowhere WHAT HEX [TEXT]: WHAT's bytes (given as hex) in no log, as hex (both cases) or
# base64, nor as TEXT (the secret as typed, for the ones that are text).
leaked_nowhere() {
    local what=$1 hex=$2 ascii=${3:-} b64 lower upper f bad=0
    lower=$(tr 'A-F' 'a-f' <<< "$hex")
    upper=$(tr 'a-f' 'A-F' <<< "$hex")
    b64=$(xxd -r -p <<< "$hex" | base64 -w0 | cut -c1-20)
    for f in "$D"/logs/*.log; do
        if grep -qF -- "$lower" "$f" || grep -qF -- "$upper" "$f" || grep -qF -- "$b64" "$f" ||
            { [ -n "$ascii" ] && grep -qF -- "$ascii" "$f"; }; then
            echo "  $what found in $f"
            bad=1
        fi
    done
    return $bad
}
hex_of() { printf '%s' "$1" | xxd -p | tr -d '\n'; }
logs_total=$(cat "$D"/logs/*.log | wc -c)
echo "  $(ls "$D"/logs | wc -l) logs, $logs_total bytes of trace"
check "the logs are not empty (trace level reached the library and the tool)" \
    test "$logs_total" -gt 10000
# The search itself works: it finds what the trace does hold (the MF's DF name in its FCI).
check "the search finds what the trace does hold (the MF's name 'entersafe-fips', hex)" \
    eval '! leaked_nowhere MF-name "$(hex_of entersafe-fips)"'
for pair in "SO PIN:$SO_PIN" "user PIN:$PIN" "new user PIN:$NEW_PIN" "PFX password:$PFX_PW" \
    "PKCS#12 slot password:$P12_PW" "new PKCS#12 slot password:$P12_NEW" \
    "private data object:$PRIVATE_VALUE" "decrypted plaintext:$PLAIN"; do
    check "no ${pair%%:*} in any log" leaked_nowhere "${pair%%:*}" "$(hex_of "${pair#*:}")" "${pair#*:}"
done
check "no private exponent of the imported PFX key in any log" \
    leaked_nowhere "imported key d" "$(cat "$D/d.hex")"
check "no private exponent of the PKCS#12 slot's key in any log" \
    leaked_nowhere "slot key d" "$(cat "$D/slot-d.hex")"

check_summary
