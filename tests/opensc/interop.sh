#!/usr/bin/env bash
# PKCS#15 interop both ways between OpenSC 0.23 and our object layer (crates/pkcs15, card
# module), on an emulated AES card through a real pcscd + vpcd:
#
#   (a) a token personalised by OpenSC's pkcs15-init (onepin, RSA-2048 + EC keys, certificate)
#       is read by our crate: PIN policy 4..16, 6 tries, keys sign (verified in Rust),
#       certificate read;
#   (b) a token initialised and populated by our crate (init_token, RSA-2048 + EC generated on
#       the card, certificate stored) is listed by `pkcs15-tool -D`, signs through OpenSC's
#       PKCS#11 module (verified with openssl), and is accepted by pkcs15-init for a further key,
#       which our crate then reads and uses.
#
#   tests/opensc/interop.sh
#
# Expects (from ci/lib/common.sh, like e2e.sh): a running pcscd, $EMU (the epass2003-emu
# binary), $WORK (scratch dir). The Rust steps are the #[ignore] tests of
# crates/pkcs15/tests/interop_pcsc.rs. Prints one line per check and "N passed, M failed";
# exits non-zero if any check failed.
set -uo pipefail
: "${EMU:?}" "${WORK:?}"
OPENSC_MODULE=${OPENSC_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e

PORT=${INTEROP_PORT:-35963}
SLOT=$((PORT - 35963))
READER="Virtual PCD 00 0$SLOT"
D="$WORK/interop"
mkdir -p "$D"
check_start interop "$D"
PIN=123456
PUK=12345678

cat > "$D/opensc.conf" <<EOF
app default {
    debug = 3;
    debug_file = $D/opensc-debug.log;
}
EOF
export OPENSC_CONF="$D/opensc.conf"


p11() { pkcs11-tool --module "$OPENSC_MODULE" "$@"; }

rust_step() { # rust_step TEST_NAME
    (cd "$ROOT" && EPASS2003_TEST_READER="$READER" EPASS2003_TEST_OUT="$D" \
        cargo test --release -q -p pkcs15 --test interop_pcsc -- --ignored --exact "$1" \
        --test-threads=1 --nocapture)
}

# make_cert PUBKEY_PEM OUT_PREFIX : a certificate for PUBKEY issued by a throw-away CA.
make_cert() {
    local pub=$1 out=$2
    [ -f "$D/ca.key" ] || openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/ca.key" \
        -out "$D/ca.crt" -days 30 -subj "/CN=interop CA" || return 1
    openssl req -new -newkey rsa:2048 -nodes -keyout "$D/tmp.key" -out "$D/tmp.csr" \
        -subj "/CN=interop user" &&
    openssl x509 -req -in "$D/tmp.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial \
        -force_pubkey "$pub" -days 30 -out "$out.crt" &&
    openssl x509 -in "$out.crt" -outform DER -out "$out.der"
}

check "cargo: build the interop steps" \
    bash -c "cd '$ROOT' && cargo test --release -q -p pkcs15 --test interop_pcsc --no-run"

# ---------------------------------------------------------------------------------- (a)
STATE="$D/opensc.state"
rm -f "$STATE" "$STATE.lock"
check "emulator: new aes card (a)" "$EMU" new --state "$STATE" --variant aes
attach_card "$STATE" "$PORT" || { echo "FAIL [interop] card (a) not visible"; exit 1; }
check "(a) pkcs15-init erase" pkcs15-init --reader "$SLOT" -E -T
check "(a) pkcs15-init create PKCS#15 onepin" \
    pkcs15-init --reader "$SLOT" --create-pkcs15 -T -p pkcs15+onepin --pin "$PIN" --puk "$PUK" \
        --label "opensc made"
check "(a) pkcs15-init generate RSA-2048" \
    pkcs15-init --reader "$SLOT" --generate-key rsa/2048 --auth-id 01 --id 01 --label "rsa key" \
        --key-usage sign,decrypt --pin "$PIN"
check "(a) pkcs15-init generate EC P-256" \
    pkcs15-init --reader "$SLOT" --generate-key ec/prime256v1 --auth-id 01 --id 02 --label "ec key" \
        --pin "$PIN"
check "(a) pkcs15-tool read RSA public key" \
    pkcs15-tool --reader "$SLOT" --read-public-key 01 -o "$D/a-rsa-pub.pem"
check "(a) openssl certificate for the RSA key" make_cert "$D/a-rsa-pub.pem" "$D/a-user"
check "(a) pkcs15-init store certificate" \
    pkcs15-init --reader "$SLOT" --store-certificate "$D/a-user.crt" --id 01 --label "rsa cert" \
        --pin "$PIN"
check "(a) our crate reads the OpenSC token: policy 4..16, 6 tries, keys sign, certificate" \
    rust_step interop_read_opensc_card
detach_card "$CARD_PID" "$PORT"

# ---------------------------------------------------------------------------------- (b)
STATE="$D/rust.state"
rm -f "$STATE" "$STATE.lock"
check "emulator: new aes card (b)" "$EMU" new --state "$STATE" --variant aes
attach_card "$STATE" "$PORT" || { echo "FAIL [interop] card (b) not visible"; exit 1; }
check "(b) our crate: init_token, generate RSA-2048 (id 11) and EC (id 12)" \
    rust_step interop_personalise
b_cert() {
    openssl pkey -pubin -inform DER -in "$D/rust-rsa-pub.der" -out "$D/rust-rsa-pub.pem" &&
    make_cert "$D/rust-rsa-pub.pem" "$D/rust-user"
}
check "(b) openssl certificate for the RSA key" b_cert
check "(b) our crate: store the certificate (id 11)" rust_step interop_store_certificate

dump_ok() {
    pkcs15-tool --reader "$SLOT" -D > "$D/b-dump.txt" 2>&1 || return 1
    cat "$D/b-dump.txt"
    grep -q "User PIN" "$D/b-dump.txt" &&
    grep -q "Private RSA Key \[rust rsa\]" "$D/b-dump.txt" &&
    grep -q "Private EC Key \[rust ec\]" "$D/b-dump.txt" &&
    grep -q "Public RSA Key \[rust rsa\]" "$D/b-dump.txt" &&
    grep -q "X.509 Certificate \[rust cert\]" "$D/b-dump.txt" &&
    grep -q "rust interop" "$D/b-dump.txt"
}
check "(b) pkcs15-tool -D lists PIN, keys, certificate, label" dump_ok

echo "signed through OpenSC" > "$D/data"
rsa_sign() {
    p11 --login --pin "$PIN" --sign --id 11 --mechanism SHA256-RSA-PKCS \
        -i "$D/data" -o "$D/rsa.sig" &&
    openssl dgst -sha256 -verify "$D/rust-rsa-pub.pem" -signature "$D/rsa.sig" "$D/data"
}
check "(b) pkcs11-tool --sign SHA256-RSA-PKCS (id 11) verified by openssl" rsa_sign
ec_sign() {
    pkcs15-tool --reader "$SLOT" --read-public-key 12 -o "$D/rust-ec-pub.pem" &&
    p11 --login --pin "$PIN" --sign --id 12 --mechanism ECDSA-SHA256 --signature-format openssl \
        -i "$D/data" -o "$D/ec.sig" &&
    openssl dgst -sha256 -verify "$D/rust-ec-pub.pem" -signature "$D/ec.sig" "$D/data"
}
check "(b) pkcs11-tool --sign ECDSA-SHA256 (id 12) verified by openssl" ec_sign
check "(b) pkcs15-tool reads the stored certificate" \
    bash -c "pkcs15-tool --reader '$SLOT' --read-certificate 11 | openssl x509 -noout -subject"
check "(b) pkcs15-init accepts our layout: generate a further EC key" \
    pkcs15-init --reader "$SLOT" --generate-key ec/prime256v1 --auth-id 01 --id 13 \
        --label "opensc ec" --pin "$PIN"
check "(b) pkcs15-tool -D lists the OpenSC key next to ours" \
    bash -c "pkcs15-tool --reader '$SLOT' -D | grep -q 'Private EC Key \[opensc ec\]'"
check "(b) our crate reads the card after OpenSC's change, signs with OpenSC's key, relabels" \
    rust_step interop_reread_after_opensc
check "(b) pkcs15-tool sees our new label" \
    bash -c "pkcs15-tool --reader '$SLOT' -D | grep -q 'PKCS#15 Card \[rust again\]'"
check "(b) our crate: 5 data objects, delete the first (DODF moves to its shadow file)" \
    rust_step interop_shadow_switch
check "(b) pkcs15-tool -D lists the 4 data objects" \
    bash -c "[ \$(pkcs15-tool --reader '$SLOT' -D | grep -c 'data object [1-4] with') = 4 ]"
echo "opensc data value" > "$D/opensc-data"
check "(b) pkcs15-init stores a data object in the moved DODF" \
    pkcs15-init --reader "$SLOT" --store-data "$D/opensc-data" --label "opensc data" \
        --application-name interop --pin "$PIN"
check "(b) our crate sees OpenSC's data object next to ours" rust_step interop_reread_data
detach_card "$CARD_PID" "$PORT"

if grep -Eq "SM (wrap|unwrap) failed|Secure messaging error" "$D/opensc-debug.log" 2>/dev/null; then
    echo "note: secure-messaging errors in $D/opensc-debug.log"
fi
check_summary
