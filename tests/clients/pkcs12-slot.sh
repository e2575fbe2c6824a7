#!/usr/bin/env bash
# A PKCS#12 file served as a token slot by OUR module (EPASS2003_PKCS12=FILE:FILE, no card,
# no pcscd): legacy (-legacy: 3DES/RC2) and modern (PBES2 AES) files made by OpenSSL.
#   pkcs11-tool -L / -O --login, a wrong password (CKR_PIN_INCORRECT), GnuTLS TLS client
#   authentication with the file's key against `openssl s_server -Verify 1`, NSS (modutil -add,
#   certutil -L -h all after login), --change-pin that OpenSSL then opens (old password fails),
#   the password policy refusing a bad new password (file unchanged), object creation refused.
#
# Expects $WORK (ci/lib/common.sh). Prints one line per check and "N passed, M failed".
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e
MOD=${MOD:-$RELEASE_DIR/libepass2003_pkcs11.so}
D="$WORK/pkcs12-slot"
rm -rf "$D"; mkdir -p "$D"
check_start pkcs12 "$D"
[ -f "$MOD" ] || { echo "FAIL [pkcs12] $MOD not built"; exit 1; }
unset EPASS2003_EMULATOR
export EPASS2003_PCSC=no
# No config file of the user's: only what this test sets.
export EPASS2003_CONF="$D/none.conf"
PW=oldpass1
NEW=newpass2

shows() {
    local pattern=$1 out rc
    shift
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out"
    ((rc == 0)) && grep -qiE -- "$pattern" <<< "$out"
}
# fails_with PATTERN CMD...: CMD fails and its output shows PATTERN.
fails_with() {
    local pattern=$1 out rc
    shift
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out"
    ((rc != 0)) && grep -qE -- "$pattern" <<< "$out"
}

make_files() {
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/ca.key" -out "$D/ca.crt" -days 2 \
        -subj "/CN=P12 CA" &&
    openssl req -new -newkey rsa:2048 -nodes -keyout "$D/user.key" -out "$D/user.csr" \
        -subj "/CN=P12 User" &&
    openssl x509 -req -in "$D/user.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial \
        -days 2 -out "$D/user.crt" &&
    openssl pkcs12 -export -in "$D/user.crt" -inkey "$D/user.key" -name "p12 user" \
        -passout "pass:$PW" -out "$D/modern.p12" &&
    openssl pkcs12 -export -legacy -in "$D/user.crt" -inkey "$D/user.key" -name "p12 user" \
        -passout "pass:$PW" -out "$D/legacy.p12" &&
    openssl pkcs12 -export -in "$D/user.crt" -inkey "$D/user.key" -name "p12 user" \
        -certpbe NONE -passout "pass:$PW" -out "$D/plaincert.p12" &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/server.key" -out "$D/server.crt" \
        -days 2 -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1" \
        -CA "$D/ca.crt" -CAkey "$D/ca.key" &&
    { openssl pkcs12 -legacy -in "$D/legacy.p12" -passin "pass:$PW" -noout -info 2>&1 |
      grep -q "pbeWithSHA1And40BitRC2-CBC"; }
}
check "PFX files made by OpenSSL (modern, -legacy, -certpbe NONE)" make_files
export EPASS2003_PKCS12="$D/modern.p12:$D/legacy.p12:$D/plaincert.p12"

check "pkcs11-tool -L shows the PKCS#12 slots, labelled as files" \
    shows "PKCS#12 file $D/legacy.p12" pkcs11-tool --module "$MOD" -L
check "token model says PKCS#12 file, write-protected" \
    bash -c "pkcs11-tool --module '$MOD' -L | grep -A3 'token label *: modern' | grep -q 'PKCS#12 file' &&
             pkcs11-tool --module '$MOD' -L | grep -A4 'token label *: modern' | grep -q readonly"
check "an encrypted-certificate file lists nothing before login" \
    bash -c "! pkcs11-tool --module '$MOD' --token-label modern -O 2>&1 | grep -q Object"
check "a -certpbe NONE file lists its certificate before login" \
    shows "Certificate Object" pkcs11-tool --module "$MOD" --token-label plaincert -O
for f in modern legacy; do
    check "$f file: -O --login shows key, public key and certificate" \
        bash -c "out=\$(pkcs11-tool --module '$MOD' --token-label $f -O --login --pin '$PW' 2>&1); echo \"\$out\";
                 grep -q 'Private Key Object; RSA' <<< \"\$out\" && grep -q 'Public Key Object; RSA 2048' <<< \"\$out\" &&
                 grep -q 'subject: *DN: CN=P12 User' <<< \"\$out\""
done
check "a wrong password is CKR_PIN_INCORRECT" \
    fails_with CKR_PIN_INCORRECT pkcs11-tool --module "$MOD" --token-label modern --login --pin wrongpw -O
check "the legacy key signs (pkcs11-tool --sign, verified by openssl)" \
    bash -c "echo hello > '$D/msg' &&
             pkcs11-tool --module '$MOD' --token-label legacy --login --pin '$PW' --sign -m SHA256-RSA-PKCS \
                 -i '$D/msg' -o '$D/msg.sig' &&
             openssl x509 -in '$D/user.crt' -pubkey -noout > '$D/user.pub' &&
             openssl dgst -sha256 -verify '$D/user.pub' -signature '$D/msg.sig' '$D/msg'"
check "object creation is refused (CKR_TOKEN_WRITE_PROTECTED)" \
    fails_with "CKR_TOKEN_WRITE_PROTECTED|CKR_SESSION_READ_ONLY" pkcs11-tool --module "$MOD" --token-label modern \
        --login --pin "$PW" --write-object "$D/ca.crt" --type cert --label ca

# TLS client authentication through GnuTLS, key and certificate from the PKCS#12 slot.
tls() { # tls TOKEN PASSWORD
    local tok=$1 pw=$2 port srv
    port=$((20000 + RANDOM % 20000))
    openssl s_server -accept "127.0.0.1:$port" -cert "$D/server.crt" -key "$D/server.key" \
        -CAfile "$D/ca.crt" -Verify 1 -verify_return_error -www > "$D/s_server-$tok.log" 2>&1 &
    srv=$!
    sleep 0.5
    printf 'GET / HTTP/1.0\r\n\r\n' | GNUTLS_PIN="$pw" gnutls-cli --provider "$MOD" \
        --x509cafile "$D/ca.crt" \
        --x509keyfile "pkcs11:token=$tok;object=p12%20user;type=private" \
        --x509certfile "pkcs11:token=$tok;object=p12%20user;type=cert" \
        -p "$port" 127.0.0.1 > "$D/gnutls-$tok.out" 2>&1
    kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
    cat "$D/gnutls-$tok.out" "$D/s_server-$tok.log"
    grep -q "Handshake was completed" "$D/gnutls-$tok.out" &&
    grep -q "CN *= *P12 User" "$D/s_server-$tok.log"
}
check "gnutls-cli TLS client auth with the modern file's key" tls modern "$PW"
check "gnutls-cli TLS client auth with the legacy file's key" tls legacy "$PW"

nss() {
    local db="$D/nssdb"
    rm -rf "$db"; mkdir -p "$db"
    certutil -N -d "sql:$db" --empty-password &&
    modutil -dbdir "sql:$db" -add epass2003 -libfile "$MOD" -force &&
    { modutil -dbdir "sql:$db" -list epass2003 > "$D/modutil.txt" 2>&1; cat "$D/modutil.txt";
      grep -q "Token Name: modern" "$D/modutil.txt"; } &&
    echo "$PW" > "$D/pw.txt" &&
    certutil -L -d "sql:$db" -h modern -f "$D/pw.txt" | tee "$D/certutil.txt" &&
    grep -q "modern:p12 user" "$D/certutil.txt" &&
    shows "p12 user" certutil -K -d "sql:$db" -h modern -f "$D/pw.txt"
}
check "NSS: modutil -add, certutil -L after login shows the file's certificate, -K its key" nss

# Password change: the policy first (file unchanged), then a real change OpenSSL opens.
export EPASS2003_PKCS12_PASSWORD_POLICY="min-len=4,max-len=16,lower-alnum"
policy_refuses() {
    local before after
    before=$(sha256sum "$D/modern.p12")
    fails_with "CKR_PIN_INVALID" pkcs11-tool --module "$MOD" --token-label modern --login \
        --pin "$PW" --change-pin --new-pin "Upper-Case1" &&
    fails_with "CKR_PIN_LEN_RANGE" pkcs11-tool --module "$MOD" --token-label modern --login \
        --pin "$PW" --change-pin --new-pin "abc" &&
    after=$(sha256sum "$D/modern.p12") && [ "$before" = "$after" ]
}
check "the password policy refuses bad new passwords (CKR_PIN_INVALID/LEN_RANGE), file unchanged" policy_refuses
change() {
    pkcs11-tool --module "$MOD" --token-label modern --login --pin "$PW" --change-pin \
        --new-pin "$NEW" &&
    openssl pkcs12 -in "$D/modern.p12" -passin "pass:$NEW" -noout &&
    ! openssl pkcs12 -in "$D/modern.p12" -passin "pass:$PW" -noout &&
    [ "$(stat -c %a "$D/modern.p12")" = 600 ] &&
    ! ls -A "$D" | grep -q '\.tmp$' &&
    shows "Private Key Object" pkcs11-tool --module "$MOD" --token-label modern -O --login --pin "$NEW"
}
check "--change-pin: OpenSSL opens the file with the new password, not the old; 0600; no temp left" change
check "C_SetPIN with a wrong old password is CKR_PIN_INCORRECT" \
    fails_with CKR_PIN_INCORRECT pkcs11-tool --module "$MOD" --token-label modern \
        --change-pin --pin wrongold --new-pin abcd1234

check_summary
