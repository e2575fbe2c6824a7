#!/usr/bin/env bash
# A PIN longer than 16 bytes and OpenSC 0.23, through a real pcscd + vpcd: a token initialised
# by epass2003-tool with `init --pin-max 32` and a 20-character user PIN.
#
#   (a) `init` warns that OpenSC cannot enter such PINs, and the policy reads 4..32;
#   (b) our module logs in with the 20-character PIN (pkcs11-tool -O lists the private key);
#   (c) OpenSC 0.23's module refuses the PIN before sending it: C_Login fails with
#       CKR_PIN_LEN_RANGE (our AODF entry says maxLength 16, and OpenSC checks it first), no
#       private key is listed, and no try is spent (the tool still reads 10 of 10);
#   (d) pkcs15-tool --verify-pin refuses it the same way ("Invalid PIN length"), no try spent;
#   (e) the first 16 characters are not the PIN either (OpenSC does not truncate; this
#       attempt does reach the card and costs a try, which is the point: a user who types
#       the long PIN into OpenSC cannot get in, and cutting it short is a wrong PIN).
#
# Expects from ci/lib/common.sh: a running pcscd, $EMU, $WORK, the release build.
# Standalone: source ci/lib/common.sh; EMU=$RELEASE_DIR/epass2003-emu; start_pcscd; bash THIS
# (inside `unshare -mn` with a private /run/pcscd, see docs).
set -uo pipefail
: "${EMU:?}" "${WORK:?}"
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e

TOOL="$RELEASE_DIR/epass2003-tool"
MODULE="$RELEASE_DIR/libepass2003_pkcs11.so"
D="$WORK/long-pin"
mkdir -p "$D"
check_start long-pin "$D"
export EPASS2003_CONF=/dev/null
unset EPASS2003_EMULATOR
export EPASS2003_PCSC=1
LONG=abcdefghij0123456789 # 20 characters
SHORT=${LONG:0:16}

new_card() { rm -f "$1" && "$EMU" new --state "$1" >/dev/null && attach_card "$1" 35963; }
check "blank card attached to vpcd" new_card "$D/card.state"
CARD=$CARD_PID

check "(a) init --pin-max 32 with a 20-character user PIN warns about OpenSC" bash -c '
    EPASS2003_NEW_SO_PIN=87654321 EPASS2003_NEW_PIN="$2" "$0" init --yes --label "long pin" \
        --pin-max 32 > "$1/init.txt" 2>&1; rc=$?; cat "$1/init.txt"
    [ $rc = 0 ] && grep -q "longer than 16 characters cannot be entered through OpenSC" "$1/init.txt"' \
    "$TOOL" "$D" "$LONG"
check "(a) the tool reads policy 4..32 and 10 of 10 tries" bash -c '
    "$0" info > "$1/info.txt"; cat "$1/info.txt"
    grep -q "User PIN policy: *4..32" "$1/info.txt" && grep -q "User PIN: *10 of 10 tries left" "$1/info.txt"' \
    "$TOOL" "$D"
check "(b) our module logs in with the 20-character PIN" bash -c '
    pkcs11-tool --module "$0" --login --pin "$2" -O > "$1/ours.txt" 2>&1; rc=$?; cat "$1/ours.txt"
    [ $rc = 0 ]' "$MODULE" "$D" "$LONG"
check "(b) our module: a key generated with the long PIN" bash -c '
    pkcs11-tool --module "$0" --login --pin "$2" --keypairgen --key-type EC:prime256v1 --label long \
        > "$1/gen.txt" 2>&1; rc=$?; cat "$1/gen.txt"; [ $rc = 0 ]' "$MODULE" "$D" "$LONG"
check "(c) OpenSC 0.23: C_Login with the 20-character PIN is CKR_PIN_LEN_RANGE, no key listed" bash -c '
    pkcs11-tool --module "$0" --login --pin "$2" -O > "$1/opensc.txt" 2>&1; rc=$?; cat "$1/opensc.txt"
    echo "exit $rc"
    [ $rc != 0 ] && grep -q "C_Login failed: rv = CKR_PIN_LEN_RANGE" "$1/opensc.txt" &&
    ! grep -q "Private Key" "$1/opensc.txt"' "$OPENSC_MODULE" "$D" "$LONG"
check "(c) ... and no try was spent (10 left)" bash -c '
    t=$("$0" info --json | tr -d " \n" | sed -n "s/.*\"user_pin\":{[^}]*\"tries_left\":\([0-9]*\).*/\1/p")
    echo "tries left: $t"; [ "$t" = 10 ]' "$TOOL"
check "(d) pkcs15-tool --verify-pin refuses it, no try spent" bash -c '
    pkcs15-tool --verify-pin --auth-id 01 --pin "$2" > "$1/p15.txt" 2>&1; rc=$?; cat "$1/p15.txt"
    echo "exit $rc"
    t=$("$0" info --json | tr -d " \n" | sed -n "s/.*\"user_pin\":{[^}]*\"tries_left\":\([0-9]*\).*/\1/p")
    echo "tries left: $t"; [ $rc != 0 ] && grep -q "Invalid PIN length" "$1/p15.txt" && [ "$t" = 10 ]' \
    "$TOOL" "$D" "$LONG"
check "(e) the first 16 characters are a wrong PIN (CKR_PIN_INCORRECT, one try spent)" bash -c '
    pkcs11-tool --module "$0" --login --pin "$3" -O > "$1/short.txt" 2>&1; rc=$?; cat "$1/short.txt"
    t=$("$2" info --json | tr -d " \n" | sed -n "s/.*\"user_pin\":{[^}]*\"tries_left\":\([0-9]*\).*/\1/p")
    echo "exit $rc, tries left: $t"
    [ $rc != 0 ] && grep -q "CKR_PIN_INCORRECT" "$1/short.txt" && [ "$t" = 9 ]' \
    "$OPENSC_MODULE" "$D" "$TOOL" "$SHORT"
check "our module still logs in with the long PIN (resets the counter)" bash -c '
    pkcs11-tool --module "$0" --login --pin "$2" -O > "$1/ours2.txt" 2>&1; rc=$?; cat "$1/ours2.txt"
    [ $rc = 0 ] && grep -q "Private Key" "$1/ours2.txt"' "$MODULE" "$D" "$LONG"
detach_card "$CARD" 35963

check_summary
