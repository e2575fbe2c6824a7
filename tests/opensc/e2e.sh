#!/usr/bin/env bash
# OpenSC 0.23 (an independent ePass2003 host) against the emulated card, through a real pcscd and
# the vpcd virtual reader. One run covers one secure-messaging variant:
#
#   tests/opensc/e2e.sh aes|fips|des
#
# Expects (from ci/lib/common.sh, which ci/test sources before calling this): a running pcscd,
# $EMU (the epass2003-emu binary), $WORK (scratch dir). Prints one line per check and
# "N passed, M failed" at the end; exits non-zero if any check failed.
#
# OpenSC 0.23 paths avoided here because they are broken for this card in 0.23 itself (see
# docs/protocol-notes.md, "OpenSC 0.23.0"): C_InitPIN / C_SetPIN as SO (overwrites the PUK),
# `pkcs15-tool --change-pin` (never authenticates the old PIN), ECDSA-SHA224/384/512 and raw
# ECDSA over inputs other than 32 bytes (0.23 returns garbage with exit 0), and concurrent
# PKCS#11 consumers (each one's INITIALIZE UPDATE kills the other's SM session).
set -uo pipefail
VARIANT=${1:?usage: e2e.sh aes|fips|des}
: "${EMU:?}" "${WORK:?}"
OPENSC_MODULE=${OPENSC_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e

D="$WORK/opensc-$VARIANT"
mkdir -p "$D"
check_start "$VARIANT" "$D"
PIN=123456
PUK=12345678

# OpenSC debug log for this variant; checked for secure-messaging failures at the end.
cat > "$D/opensc.conf" <<EOF
app default {
    debug = 3;
    debug_file = $D/opensc-debug.log;
}
EOF
export OPENSC_CONF="$D/opensc.conf"
if [ "$VARIANT" = des ]; then
    # OpenSC 0.23.0 computes the DES retail MAC with single DES, which OpenSSL 3 only has in its
    # legacy provider; without it pkcs15-init crashes at the first wrapped APDU.
    write_legacy_openssl_conf "$D/openssl-legacy.cnf"
    export OPENSSL_CONF="$D/openssl-legacy.cnf"
fi


p11() { pkcs11-tool --module "$OPENSC_MODULE" "$@"; }

# tries_left -> the user PIN's tries left. OpenSC 0.23 cannot show it: `pkcs15-tool --list-pins`
# never asks the card (its PIN-info path returns before sending an APDU, compat page §6.5), so
# the counter is read from the card itself: the emulator's state file, which the card writes
# before it answers each attempt.
tries_left() { "$EMU" info --state "$STATE" | awk '/user PIN: tries left/ {for (i = 1; i < NF; i++) if ($i == "left") {print $(i + 1); exit}}'; }

STATE="$D/card.state"
rm -f "$STATE" "$STATE.lock"
check "emulator: new $VARIANT card" "$EMU" new --state "$STATE" --variant "$VARIANT"
attach_card "$STATE" 35963 || { echo "FAIL [$VARIANT] card not visible"; exit 1; }

check "pkcs15-init erase (default transport keys)" pkcs15-init -E -T
check "pkcs15-init create PKCS#15 with PIN and PUK" \
    pkcs15-init --create-pkcs15 -T -p pkcs15+onepin --pin "$PIN" --puk "$PUK" --label "e2e $VARIANT"
check "pkcs15-init generate RSA-2048 (sign,decrypt)" \
    pkcs15-init --generate-key rsa/2048 --auth-id 01 --id 01 --label "rsa key" \
        --key-usage sign,decrypt --pin "$PIN"
check "pkcs15-init generate EC P-256" \
    pkcs15-init --generate-key ec/prime256v1 --auth-id 01 --id 02 --label "ec key" --pin "$PIN"
check "pkcs15-tool read RSA public key" pkcs15-tool --read-public-key 01 -o "$D/rsa-pub.pem"
check "pkcs15-tool read EC public key" pkcs15-tool --read-public-key 02 -o "$D/ec-pub.pem"

# A certificate for the on-card RSA key, issued by a throw-away CA, stored on the card.
make_cert() {
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/ca.key" -out "$D/ca.crt" -days 30 \
        -subj "/CN=e2e CA" &&
    openssl req -new -newkey rsa:2048 -nodes -keyout "$D/tmp.key" -out "$D/tmp.csr" \
        -subj "/CN=e2e user/UID=e2e-$VARIANT" &&
    openssl x509 -req -in "$D/tmp.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial \
        -force_pubkey "$D/rsa-pub.pem" -days 30 -out "$D/user.crt"
}
check "openssl: certificate for the card's RSA key" make_cert
check "pkcs15-init store certificate" \
    pkcs15-init --store-certificate "$D/user.crt" --id 01 --label "rsa key" --pin "$PIN"

dump_ok() {
    pkcs15-tool -D > "$D/dump.txt" 2>&1 || return 1
    cat "$D/dump.txt"
    grep -q "User PIN" "$D/dump.txt" &&
    grep -q "Private RSA Key \[rsa key\]" "$D/dump.txt" &&
    grep -q "Private EC Key \[ec key\]" "$D/dump.txt" &&
    grep -q "Public RSA Key \[rsa key\]" "$D/dump.txt" &&
    grep -q "X.509 Certificate \[rsa key\]" "$D/dump.txt" &&
    grep -q "e2e $VARIANT" "$D/dump.txt"
}
check "pkcs15-tool -D lists PIN, keys, certificate, label" dump_ok

check "pkcs11-tool --login --test" p11 --login --pin "$PIN" --test

head -c 1000 /dev/urandom > "$D/data"
rsa_sign() {
    p11 --login --pin "$PIN" --sign --id 01 --mechanism SHA256-RSA-PKCS -i "$D/data" -o "$D/rsa.sig" &&
    openssl dgst -sha256 -verify "$D/rsa-pub.pem" -signature "$D/rsa.sig" "$D/data"
}
check "RSA SHA256-RSA-PKCS signature verified by openssl" rsa_sign
rsa_pss() {
    p11 --login --pin "$PIN" --sign --id 01 --mechanism SHA256-RSA-PKCS-PSS -i "$D/data" -o "$D/pss.sig" &&
    openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 \
        -verify "$D/rsa-pub.pem" -signature "$D/pss.sig" "$D/data"
}
check "RSA SHA256-RSA-PKCS-PSS signature verified by openssl" rsa_pss
ec_sign() {
    p11 --login --pin "$PIN" --sign --id 02 --mechanism ECDSA-SHA256 --signature-format openssl \
        -i "$D/data" -o "$D/ec.sig" &&
    openssl dgst -sha256 -verify "$D/ec-pub.pem" -signature "$D/ec.sig" "$D/data"
}
check "ECDSA-SHA256 signature verified by openssl" ec_sign
ec_sign_sha1() {
    p11 --login --pin "$PIN" --sign --id 02 --mechanism ECDSA-SHA1 --signature-format openssl \
        -i "$D/data" -o "$D/ec1.sig" &&
    openssl dgst -sha1 -verify "$D/ec-pub.pem" -signature "$D/ec1.sig" "$D/data"
}
check "ECDSA-SHA1 signature verified by openssl" ec_sign_sha1
rsa_decrypt() {
    head -c 100 /dev/urandom > "$D/secret"
    openssl pkeyutl -encrypt -pubin -inkey "$D/rsa-pub.pem" -in "$D/secret" -out "$D/secret.enc" &&
    p11 --login --pin "$PIN" --decrypt --id 01 --mechanism RSA-PKCS -i "$D/secret.enc" -o "$D/secret.dec" &&
    cmp "$D/secret" "$D/secret.dec"
}
check "RSA-PKCS decryption of an openssl ciphertext" rsa_decrypt
rsa_oaep() {
    openssl pkeyutl -encrypt -pubin -inkey "$D/rsa-pub.pem" -pkeyopt rsa_padding_mode:oaep \
        -in "$D/secret" -out "$D/oaep.enc" &&
    p11 --login --pin "$PIN" --decrypt --id 01 --mechanism RSA-PKCS-OAEP --hash-algorithm SHA-1 \
        -i "$D/oaep.enc" -o "$D/oaep.dec" &&
    cmp "$D/secret" "$D/oaep.dec"
}
check "RSA-PKCS-OAEP decryption of an openssl ciphertext" rsa_oaep

# Wrong PIN until the PIN locks; the tries counter is visible after every attempt.
lockout() {
    local expect t out
    t=$(tries_left); echo "tries left before: $t"
    [ "$t" = 6 ] || { echo "expected 6 tries before the first wrong PIN, got '$t'"; return 1; }
    for expect in 5 4 3 2 1; do
        out=$(pkcs15-tool --verify-pin --auth-id 01 --pin 999999 2>&1) && { echo "wrong PIN accepted"; return 1; }
        echo "$out"; echo "$out" | grep -q "PIN code or key incorrect" || return 1
        t=$(tries_left); echo "after a wrong PIN: tries left $t"
        [ "$t" = "$expect" ] || { echo "expected $expect tries left, got '$t'"; return 1; }
    done
    out=$(pkcs15-tool --verify-pin --auth-id 01 --pin 999999 2>&1) && { echo "wrong PIN accepted"; return 1; }
    echo "$out"
    [ "$(tries_left)" = 0 ] || { echo "expected 0 tries left"; return 1; }
    # Locked now: even the right PIN is refused, as blocked.
    out=$(pkcs15-tool --verify-pin --auth-id 01 --pin "$PIN" 2>&1) && { echo "locked PIN accepted"; return 1; }
    echo "$out"; echo "$out" | grep -qi "blocked"
    "$EMU" info --state "$STATE" | grep "user PIN: tries left 0 of 6 (blocked)"
}
check "wrong PIN x6 locks the PIN, tries left shown each step" lockout
unblock() {
    pkcs15-tool --unblock-pin --auth-id 01 --puk "$PUK" --new-pin "$PIN" &&
    # OpenSC 0.23 never sends the new PIN: the card resets the counter and the old PIN stays.
    pkcs15-tool --verify-pin --auth-id 01 --pin "$PIN" &&
    [ "$(tries_left)" = 6 ]
}
check "unblock with the PUK, then login works (tries back to 6)" unblock
check "sign after unblock" rsa_sign

# The same card state after an emulator restart.
detach_card "$CARD_PID" 35963
cp "$D/rsa-pub.pem" "$D/rsa-pub-before.pem"
attach_card "$STATE" 35963 || { echo "FAIL [$VARIANT] card not visible after restart"; FAIL=$((FAIL+1)); }
check "after emulator restart: pkcs15-tool -D unchanged" dump_ok
check "after emulator restart: same RSA public key" \
    bash -c "pkcs15-tool --read-public-key 01 -o '$D/rsa-pub.pem' && cmp '$D/rsa-pub.pem' '$D/rsa-pub-before.pem'"
check "after emulator restart: RSA signature verifies" rsa_sign
check "after emulator restart: ECDSA signature verifies" ec_sign

# Nothing unexpected in OpenSC's debug log: no secure-messaging failure, no session loss
# (6985/6988), no unwrap error. Probing misses (6A82 on AID selects) are fine.
debug_log_clean() {
    local log="$D/opensc-debug.log"
    [ -s "$log" ] || { echo "no debug log"; return 1; }
    # Wrong SWs: session loss (6985/6988), SM data objects (6987), no diagnosis (6F00),
    # memory failure (6581); and any SM wrap/unwrap or MAC error the driver logs.
    grep -nE "SW 69(85|87|88)|SW 6F00|SW 6581|SW1=0x69, SW2=0x8[578]|(wrap|unwrap|mac|decrypt_response|construct_mac_tlv)[a-z_]*: .*(fail|returning with: -)|Secure messaging (error|failed)|Internal error" "$log" | head -20 > "$D/debug-bad.txt"
    if [ -s "$D/debug-bad.txt" ]; then cat "$D/debug-bad.txt"; return 1; fi
    echo "$(grep -c 'Outgoing APDU' "$log") APDUs logged, no SM failures"
}
check "OpenSC debug log has no SM failures or wrong status words" debug_log_clean

detach_card "$CARD_PID" 35963
check_summary
