#!/usr/bin/env bash
# Real PKCS#11 consumers against OUR module (target/release/libepass2003_pkcs11.so) on the
# embedded emulated token (EPASS2003_EMULATOR=FILE, in-process: no pcscd involved):
#   pkcs11-tool (init, keygen, --test, --test-threads), NSS (modutil -add, certutil -L -h all,
#   pk12util -i of an RSA and of an EC P-256 PFX into the token), GnuTLS (gnutls-cli TLS 1.3 and TLS 1.2 with client
#   certificate authentication, key on the token, against `openssl s_server -Verify 1`).
#
# Expects $WORK (ci/lib/common.sh). Prints one line per check and "N passed, M failed".
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e
MOD=${MOD:-$RELEASE_DIR/libepass2003_pkcs11.so}
D="$WORK/clients"
mkdir -p "$D"
check_start clients "$D"
export EPASS2003_EMULATOR="$D/token.state"
rm -f "$EPASS2003_EMULATOR" "$EPASS2003_EMULATOR.lock"
SO_PIN=87654321
PIN=123456
LABEL="client test"

p11() { pkcs11-tool --module "$MOD" --token-label "$LABEL" "$@"; }
# shows PATTERN CMD...: run CMD, show its output, succeed if it succeeded and shows PATTERN.
# (Not `CMD | tee | grep -q`: under pipefail an early grep exit fails the pipeline on SIGPIPE.)
shows() {
    local pattern=$1 out rc
    shift
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out"
    ((rc == 0)) && grep -qiE -- "$pattern" <<< "$out"
}

[ -f "$MOD" ] || { echo "FAIL [clients] $MOD not built"; exit 1; }

check "pkcs11-tool lists the emulated slot" shows emulat pkcs11-tool --module "$MOD" -L
check "C_InitToken (label, SO PIN)" pkcs11-tool --module "$MOD" --init-token --label "$LABEL" --so-pin "$SO_PIN"
check "C_InitPIN as SO" p11 --init-pin --login --login-type so --so-pin "$SO_PIN" --new-pin "$PIN"
check "token flags after init" shows "PIN initialized" pkcs11-tool --module "$MOD" -L
check "RSA-2048 key pair generated on the token" \
    p11 --login --pin "$PIN" --keypairgen --key-type rsa:2048 --id 01 --label client
check "EC P-256 key pair generated on the token" \
    p11 --login --pin "$PIN" --keypairgen --key-type EC:prime256v1 --id 02 --label ec
check "pkcs11-tool --test --login" p11 --test --login --pin "$PIN"
check "pkcs11-tool --test-threads (two threads)" \
    pkcs11-tool --module "$MOD" --test-threads IL:GI:SL:T0 --test-threads IN:GI:SL:T0

# A certificate for the token's RSA key, issued by a local CA, written to the token.
make_client_cert() {
    p11 --read-object --type pubkey --id 01 -o "$D/client-pub.der" &&
    openssl pkey -pubin -inform DER -in "$D/client-pub.der" -out "$D/client-pub.pem" &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/ca.key" -out "$D/ca.crt" -days 2 \
        -subj "/CN=Clients CA" &&
    openssl req -new -newkey rsa:2048 -nodes -keyout "$D/tmp.key" -out "$D/tmp.csr" \
        -subj "/CN=Token User/UID=token-user" &&
    openssl x509 -req -in "$D/tmp.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial \
        -force_pubkey "$D/client-pub.pem" -days 2 -outform DER -out "$D/client.der" &&
    p11 --login --pin "$PIN" --write-object "$D/client.der" --type cert --id 01 --label client &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/server.key" -out "$D/server.crt" \
        -days 2 -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -CA "$D/ca.crt" -CAkey "$D/ca.key"
}
check "certificate written to the token" make_client_cert

# `pkcs11-tool --write-object --type cert` without --id: the certificate gets the CKA_ID of the
# key pair with the same public key (here the EC key, ID 02), so `-O` pairs them.
cert_finds_key() {
    p11 --read-object --type pubkey --id 02 -o "$D/ec-pub.der" &&
    openssl pkey -pubin -inform DER -in "$D/ec-pub.der" -out "$D/ec-pub.pem" &&
    openssl req -new -newkey rsa:2048 -nodes -keyout "$D/tmp-ec.key" -out "$D/tmp-ec.csr" \
        -subj "/CN=EC Token User" &&
    openssl x509 -req -in "$D/tmp-ec.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial \
        -force_pubkey "$D/ec-pub.pem" -days 2 -outform DER -out "$D/ec-noid.der" &&
    p11 --login --pin "$PIN" --write-object "$D/ec-noid.der" --type cert --label ec-noid &&
    p11 -O > "$D/objects-noid.txt" 2>&1
    cat "$D/objects-noid.txt"
    # the certificate block labelled ec-noid carries ID 02
    awk '/^Certificate Object/ {blk=1; lab=0} blk && /label: *ec-noid/ {lab=1}
        blk && lab && /ID:/ {print $2; exit}' "$D/objects-noid.txt" | grep -qx 02
}
check "certificate written without --id gets its key's ID (pkcs11-tool -O)" cert_finds_key

# TLS client authentication through GnuTLS, key on the token.
tls() { # tls 1.3|1.2
    local ver=$1 port prio
    port=$((20000 + RANDOM % 20000))
    openssl s_server -accept "127.0.0.1:$port" -cert "$D/server.crt" -key "$D/server.key" \
        -CAfile "$D/ca.crt" -Verify 1 -verify_return_error -www > "$D/s_server-$ver.log" 2>&1 &
    local srv=$!
    sleep 0.5
    if [ "$ver" = 1.2 ]; then prio="NORMAL:-VERS-ALL:+VERS-TLS1.2"; else prio="NORMAL:-VERS-ALL:+VERS-TLS1.3"; fi
    printf 'GET / HTTP/1.0\r\n\r\n' | GNUTLS_PIN="$PIN" gnutls-cli --provider "$MOD" \
        --priority "$prio" --x509cafile "$D/ca.crt" \
        --x509keyfile "pkcs11:token=client%20test;object=client;type=private" \
        --x509certfile "pkcs11:token=client%20test;object=client;type=cert" \
        -p "$port" 127.0.0.1 > "$D/gnutls-$ver.out" 2>&1
    kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
    cat "$D/gnutls-$ver.out"
    grep -q "Handshake was completed" "$D/gnutls-$ver.out" &&
    grep -q "(TLS$ver-X.509)" "$D/gnutls-$ver.out" &&
    grep -Eq "Subject: .*CN *= *Token User|subject=.*CN *= *Token User" "$D/gnutls-$ver.out"
}
check "gnutls-cli TLS 1.3 client auth with the token key" tls 1.3
check "gnutls-cli TLS 1.2 client auth with the token key" tls 1.2

# NSS: add the module, list the token's certificates, import a PFX into the token.
nss() {
    local db="$D/nssdb"
    rm -rf "$db"; mkdir -p "$db"
    certutil -N -d "sql:$db" --empty-password &&
    modutil -dbdir "sql:$db" -add epass2003 -libfile "$MOD" -force &&
    # modutil exits non-zero when a slot has no token (empty PC/SC readers, as under ci/test's
    # pcscd); what counts is that it lists our token.
    { modutil -dbdir "sql:$db" -list epass2003 > "$D/modutil.txt" 2>&1; cat "$D/modutil.txt";
      grep -q "Token Name: client test" "$D/modutil.txt"; } &&
    certutil -L -d "sql:$db" -h all | tee "$D/certutil-before.txt" &&
    grep -q "client test:client" "$D/certutil-before.txt" &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/pfx.key" -out "$D/pfx.crt" -days 2 \
        -subj "/CN=PFX User/UID=pfx-user" &&
    openssl pkcs12 -export -inkey "$D/pfx.key" -in "$D/pfx.crt" -name "pfx user" \
        -passout pass:pfxpass -out "$D/user.p12" &&
    echo "$PIN" > "$D/token.pw" &&
    pk12util -i "$D/user.p12" -d "sql:$db" -h "$LABEL" -W pfxpass -k "$D/token.pw" &&
    certutil -L -d "sql:$db" -h all | tee "$D/certutil-after.txt" &&
    grep -q "client test:pfx user" "$D/certutil-after.txt" &&
    shows "pfx user" certutil -K -d "sql:$db" -h "$LABEL" -f "$D/token.pw"
}
check "NSS modutil -add, certutil -L -h all, pk12util -i into the token" nss

# The imported PFX key signs on the card: verify with the PFX certificate's public key.
pfx_sign() {
    head -c 500 /dev/urandom > "$D/data"
    local id
    # The key shares its CKA_ID with the imported certificate (labelled with the PFX nickname).
    id=$(p11 --list-objects --type cert 2>/dev/null | awk '/label: *pfx user/ {f=1} f && /ID:/ {print $2; exit}')
    [ -n "$id" ] || { p11 --list-objects; echo "no certificate labelled 'pfx user'"; return 1; }
    p11 --login --pin "$PIN" --list-objects --type privkey | grep -q "ID: *$id" ||
        { echo "no private key with the certificate's ID $id"; return 1; }
    p11 --login --pin "$PIN" --sign --id "$id" --mechanism SHA256-RSA-PKCS -i "$D/data" -o "$D/pfx.sig" &&
    openssl dgst -sha256 -verify <(openssl x509 -in "$D/pfx.crt" -pubkey -noout) -signature "$D/pfx.sig" "$D/data"
}
check "the key imported from the PFX signs on the token" pfx_sign

# An EC P-256 PFX: pk12util -i imports the private key through C_CreateObject (CKK_EC,
# CKA_VALUE = d; the card's EC import APDU is an inference, docs/protocol-notes.md).
nss_ec() {
    local db="$D/nssdb"
    openssl ecparam -genkey -name prime256v1 -noout -out "$D/ec.key" &&
    openssl req -x509 -new -key "$D/ec.key" -out "$D/ec.crt" -days 2 \
        -subj "/CN=EC PFX User/UID=ec-pfx-user" &&
    openssl pkcs12 -export -inkey "$D/ec.key" -in "$D/ec.crt" -name "ec pfx user" \
        -passout pass:pfxpass -out "$D/ec.p12" &&
    pk12util -i "$D/ec.p12" -d "sql:$db" -h "$LABEL" -W pfxpass -k "$D/token.pw" &&
    certutil -L -d "sql:$db" -h all | tee "$D/certutil-ec.txt" &&
    grep -q "client test:ec pfx user" "$D/certutil-ec.txt" &&
    shows "ec pfx user" certutil -K -d "sql:$db" -h "$LABEL" -f "$D/token.pw"
}
check "NSS pk12util -i of an EC P-256 PFX into the token" nss_ec

# The imported EC key signs on the card (ECDSA-SHA256, verified with openssl against the PFX
# certificate), and its usage is what NSS asked for: sign, never decrypt.
ec_pfx_sign() {
    local id
    id=$(p11 --list-objects --type cert 2>/dev/null | awk '/label: *ec pfx user/ {f=1} f && /ID:/ {print $2; exit}')
    [ -n "$id" ] || { p11 --list-objects; echo "no certificate labelled 'ec pfx user'"; return 1; }
    p11 --login --pin "$PIN" --list-objects --type privkey > "$D/ec-privkeys.txt" 2>&1
    # the object block (header to the next header) whose ID is the certificate's
    awk -v id="$id" '/^Private Key Object/ {if (hit) print blk; blk=""; hit=0}
        {blk=blk $0 "\n"} /ID:/ && $2==id {hit=1} END {if (hit) print blk}' \
        "$D/ec-privkeys.txt" > "$D/ec-privkey.txt"
    cat "$D/ec-privkey.txt"
    grep -q "EC" "$D/ec-privkey.txt" || { echo "no EC private key with the certificate's ID $id"; return 1; }
    grep -q "Usage:.*sign" "$D/ec-privkey.txt" || { echo "imported EC key has no sign usage"; return 1; }
    if grep -q "Usage:.*decrypt" "$D/ec-privkey.txt"; then echo "EC key reports decrypt"; return 1; fi
    p11 --login --pin "$PIN" --sign --id "$id" --mechanism ECDSA-SHA256 --signature-format openssl \
        -i "$D/data" -o "$D/ec.sig" &&
    openssl dgst -sha256 -verify <(openssl x509 -in "$D/ec.crt" -pubkey -noout) -signature "$D/ec.sig" "$D/data"
}
check "the EC key imported from the PFX signs on the token (ECDSA-SHA256)" ec_pfx_sign

check_summary
