#!/usr/bin/env bash
# Applications end to end on OUR module (target/release/libepass2003_pkcs11.so), each against a
# real server on 127.0.0.1 that requires a client certificate from a local CA (openssl):
#
#   setup    a token initialised by pkcs11-tool; an RSA-2048 key pair generated ON the token
#            (id 01, label rsa) and an EC P-256 one (id 02, label ec);
#   OpenSSL  libp11 engine: CSR of the RSA key (openssl.cnf engine section, pin-source URI), the
#            CA's certificate written to the token, s_client client auth (PKCS11_MODULE_PATH);
#            pkcs11-provider (OpenSSL 3): CSR of the EC key, s_client with key AND certificate
#            taken from the token by pkcs11: URI; `openssl s_server -Verify 1` checks the subject;
#   OpenVPN  --show-pkcs11-ids; a client with --pkcs11-providers/--pkcs11-id (RSA, then EC)
#            against a TLS-mode server with --dev null; the PIN through the management interface;
#   NSS      certutil -K lists the token keys after login; pk12util -o of a token key refused;
#            pk12util -i of an RSA and an EC PFX each with its CA chain;
#   Java     SunPKCS11: keytool -list, jarsigner sign (RSA and EC) + jarsigner -verify;
#   OpenSSH  THROUGH pcscd + vpcd (the same token, attached by `epass2003-emu attach`):
#            ssh-keygen -D, ssh -I into a local sshd (RSA, then EC), ssh-agent + ssh-add -s.
#
# Everything runs in a private mount + network namespace (this script re-runs itself under
# `unshare -mn`): a tmpfs over /run gives its pcscd and sshd their own /run/pcscd and /run/sshd,
# and the vpcd ports and servers are invisible to the rest of the machine. All but OpenSSH use the
# embedded emulated token (EPASS2003_EMULATOR, in-process).
#
# Run as root. Expects $WORK (ci/lib/common.sh). Prints one line per check and "N passed, M failed".
# The checks are functions run through check() (ci/lib/common.sh), which shellcheck cannot see.
# shellcheck disable=SC2317
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e
if [ "${1:-}" != --inside ]; then
    unshare -mn bash "$0" --inside
    exit
fi
mount --make-rprivate /
ip link set lo up
mount -t tmpfs -o mode=0755 tmpfs /run

MOD=${MOD:-$RELEASE_DIR/libepass2003_pkcs11.so}
EMU=${EMU:-$RELEASE_DIR/epass2003-emu}
D="$WORK/apps"
rm -rf "$D"
mkdir -p "$D"
chmod 700 "$D"
check_start apps "$D/logs"
STATE="$D/token.state"
export EPASS2003_CONF=/dev/null EPASS2003_EMULATOR="$STATE" EPASS2003_PCSC=0
SO_PIN=87654321
PIN=123456
LABEL="apps test"
TOKEN_URI="pkcs11:token=apps%20test"
# The PIN for the applications that read it from a file (pkcs11-provider, NSS, ssh's askpass).
(umask 077 && printf '%s' "$PIN" > "$D/pin.txt")

p11() { pkcs11-tool --module "$MOD" --token-label "$LABEL" "$@"; }
# shows PATTERN CMD...: run CMD, show its output, succeed if it succeeded and shows PATTERN.
shows() {
    local pattern=$1 out rc
    shift
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out"
    ((rc == 0)) && grep -qE -- "$pattern" <<< "$out"
}
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_port PORT: until something listens on 127.0.0.1:PORT (5 s at most).
wait_port() {
    for _ in $(seq 50); do
        ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$1"
    return 1
}
stop() { kill "$1" 2> /dev/null; wait "$1" 2> /dev/null; }

[ -f "$MOD" ] || { echo "FAIL [apps] $MOD not built"; exit 1; }

# ---------------------------------------------------------------- setup: token, keys, local CA
setup_token() {
    pkcs11-tool --module "$MOD" --init-token --label "$LABEL" --so-pin "$SO_PIN" &&
    p11 --init-pin --login --login-type so --so-pin "$SO_PIN" --new-pin "$PIN"
}
check "token initialised (pkcs11-tool: label, SO PIN, user PIN)" setup_token
check "RSA-2048 key pair generated on the token (id 01, label rsa)" \
    p11 --login --pin "$PIN" --keypairgen --key-type rsa:2048 --id 01 --label rsa
check "EC P-256 key pair generated on the token (id 02, label ec)" \
    p11 --login --pin "$PIN" --keypairgen --key-type EC:prime256v1 --id 02 --label ec
pki() {
    cd "$D" || return 1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
        -subj "/CN=Apps Test CA" -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign &&
    openssl req -new -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > server.ext &&
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile server.ext -out server.crt &&
    # the token's RSA certificate is also used by jarsigner: clientAuth and codeSigning
    printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth,codeSigning\n' > rsa.ext &&
    printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth,codeSigning\n' > ec.ext
}
check "local CA and server certificate (openssl)" pki

# ---------------------------------------------------------------- OpenSSL: libp11 engine
ENGINE_CNF="$D/openssl-engine.cnf"
cat > "$ENGINE_CNF" <<CONF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so
MODULE_PATH = $MOD
init = 0
[req]
distinguished_name = dn
[dn]
CONF
engine_csr() {
    OPENSSL_CONF="$ENGINE_CNF" openssl req -new -engine pkcs11 -keyform engine \
        -key "$TOKEN_URI;object=rsa;type=private?pin-source=file:$D/pin.txt" \
        -subj "/CN=RSA Token User/O=Apps Test" -out "$D/rsa.csr" &&
    openssl req -in "$D/rsa.csr" -noout -verify -subject &&
    # the CSR carries the token's public key
    p11 --read-object --type pubkey --id 01 -o "$D/rsa-pub.der" &&
    cmp <(openssl pkey -pubin -inform DER -in "$D/rsa-pub.der") <(openssl req -in "$D/rsa.csr" -noout -pubkey) &&
    openssl x509 -req -in "$D/rsa.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial -days 2 \
        -extfile "$D/rsa.ext" -out "$D/rsa.crt" &&
    openssl x509 -in "$D/rsa.crt" -outform DER -out "$D/rsa.der" &&
    p11 --login --pin "$PIN" --write-object "$D/rsa.der" --type cert --id 01 --label rsa
}
check "libp11 engine: CSR signed by the token's RSA key (?pin-source=file:); the CA's certificate written to the token" engine_csr

# s_tls TAG EXPECTED_CN 1.3|1.2 CLIENT_CMD...: an `openssl s_server -Verify 1 -www` on a free port
# speaking only that TLS version, then the client command (an `openssl s_client ...`, which gets
# -connect, -CAfile, -quiet, -ign_eof); both sides are checked: the server verified the client
# certificate (its "depth=0 CN = ..." line) and its page shows the protocol and the subject.
s_tls() {
    local tag=$1 cn=$2 ver=$3 srv port
    shift 3
    port=$(free_port)
    openssl s_server -accept "127.0.0.1:$port" -cert "$D/server.crt" -key "$D/server.key" \
        -CAfile "$D/ca.crt" -Verify 1 -verify_return_error "-tls${ver/./_}" -www > "$D/s_server-$tag.log" 2>&1 &
    srv=$!
    wait_port "$port" || { stop "$srv"; return 1; }
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 30 "$@" -connect "127.0.0.1:$port" -CAfile "$D/ca.crt" \
        -quiet -ign_eof > "$D/s_client-$tag.out" 2>&1
    local rc=$?
    stop "$srv"
    echo "client exit $rc"; grep -E "Protocol|Subject:|error" "$D/s_client-$tag.out"
    echo "--- server"; cat "$D/s_server-$tag.log"
    ((rc == 0)) &&
    grep -q "^depth=0 CN = $cn" "$D/s_server-$tag.log" &&
    grep -q "Protocol  : TLSv$ver" "$D/s_client-$tag.out" &&
    grep -q "Subject: CN=$cn" "$D/s_client-$tag.out"
}
# No configuration file: the engine is found by name, the module by PKCS11_MODULE_PATH.
check "libp11 engine: s_client TLS 1.3 client auth with the token's RSA key (PKCS11_MODULE_PATH)" \
    s_tls engine-rsa "RSA Token User" 1.3 env PKCS11_MODULE_PATH="$MOD" openssl s_client \
    -engine pkcs11 -keyform engine -key "$TOKEN_URI;object=rsa;type=private;pin-value=$PIN" -cert "$D/rsa.crt"

# ---------------------------------------------------------------- OpenSSL: pkcs11-provider
PROV_CNF="$D/openssl-provider.cnf"
cat > "$PROV_CNF" <<CONF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
pkcs11 = pkcs11_sect
[default_sect]
activate = 1
[pkcs11_sect]
module = /usr/lib/x86_64-linux-gnu/ossl-modules/pkcs11.so
pkcs11-module-path = $MOD
pkcs11-module-token-pin = file:$D/pin.txt
activate = 1
[req]
distinguished_name = dn
[dn]
CONF
provider_csr() {
    OPENSSL_CONF="$PROV_CNF" openssl list -providers | tee /dev/stderr | grep -q "PKCS#11 Provider" &&
    OPENSSL_CONF="$PROV_CNF" openssl req -new -key "$TOKEN_URI;object=ec;type=private" \
        -subj "/CN=EC Token User/O=Apps Test" -out "$D/ec.csr" &&
    openssl req -in "$D/ec.csr" -noout -verify -subject &&
    openssl x509 -req -in "$D/ec.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial -days 2 \
        -extfile "$D/ec.ext" -out "$D/ec.crt" &&
    openssl x509 -in "$D/ec.crt" -outform DER -out "$D/ec.der" &&
    p11 --login --pin "$PIN" --write-object "$D/ec.der" --type cert --id 02 --label ec
}
check "pkcs11-provider: CSR signed by the token's EC key (ECDSA); the certificate written to the token" provider_csr
check "pkcs11-provider: s_client TLS 1.3, EC key and certificate both from the token (pkcs11: URIs)" \
    s_tls prov-ec "EC Token User" 1.3 env OPENSSL_CONF="$PROV_CNF" openssl s_client \
    -key "$TOKEN_URI;object=ec;type=private" -cert "$TOKEN_URI;object=ec;type=cert"
check "pkcs11-provider: s_client TLS 1.2 with the token's RSA key (id= URI)" \
    s_tls prov-rsa "RSA Token User" 1.2 env OPENSSL_CONF="$PROV_CNF" openssl s_client \
    -key "$TOKEN_URI;id=%01;type=private" -cert "$D/rsa.crt"
check "libp11 engine: s_client TLS 1.2 with the token's EC key (openssl.cnf engine section)" \
    s_tls engine-ec "EC Token User" 1.2 env OPENSSL_CONF="$ENGINE_CNF" openssl s_client \
    -engine pkcs11 -keyform engine -key "$TOKEN_URI;object=ec;type=private;pin-value=$PIN" -cert "$D/ec.crt"

# ---------------------------------------------------------------- OpenVPN 2.6
ovpn_ids() {
    openvpn --show-pkcs11-ids "$MOD" > "$D/ovpn-ids.txt" 2>&1
    cat "$D/ovpn-ids.txt"
    grep -q "DN: *CN=RSA Token User" "$D/ovpn-ids.txt" && grep -q "DN: *CN=EC Token User" "$D/ovpn-ids.txt" &&
    [ "$(grep -c 'Serialized id: .*/apps\\x20test/0[12]$' "$D/ovpn-ids.txt")" = 2 ]
}
check "openvpn --show-pkcs11-ids lists the RSA and EC certificates with their ids" ovpn_ids
# A program started from a desktop inherits no exported variables: with none of them, the
# library still finds the emulated token through ~/.config/epass2003/pkcs11.conf.
config_file_route() {
    mkdir -p "$D/home/.config/epass2003" &&
    printf '# the README'"'"'s desktop route\nemulator = %s\npcsc = no\n' "$STATE" > "$D/home/.config/epass2003/pkcs11.conf" &&
    env -i PATH="$PATH" HOME="$D/home" openvpn --show-pkcs11-ids "$MOD" > "$D/ovpn-ids-conf.txt" 2>&1
    cat "$D/ovpn-ids-conf.txt"
    diff <(grep "Serialized id" "$D/ovpn-ids.txt") <(grep "Serialized id" "$D/ovpn-ids-conf.txt") &&
    grep -q "Serialized id" "$D/ovpn-ids-conf.txt"
}
check "no EPASS2003_* variables: the token is found through ~/.config/epass2003/pkcs11.conf (openvpn --show-pkcs11-ids)" \
    config_file_route
# The serialized id of the certificate with CKA_ID ID (01, 02), as --show-pkcs11-ids prints it.
ovpn_id() { sed -n "s|^ *Serialized id: *\(.*/$1\)$|\1|p" "$D/ovpn-ids.txt"; }
# ovpn TAG CKA_ID CN: a TLS-mode server (--dev null, client certificate required) and a client
# whose key is the token's; the PIN goes through the client's management interface.
ovpn() {
    local tag=$1 id=$2 cn=$3 sport mport srv cli rc
    local pkid
    pkid=$(ovpn_id "$id")
    [ -n "$pkid" ] || { echo "no serialized id for $id"; return 1; }
    sport=$(free_port); mport=$(free_port)
    openvpn --dev null --proto tcp-server --local 127.0.0.1 --lport "$sport" --tls-server \
        --ca "$D/ca.crt" --cert "$D/server.crt" --key "$D/server.key" --dh none --verb 3 \
        > "$D/ovpn-server-$tag.log" 2>&1 &
    srv=$!
    wait_port "$sport" || { stop "$srv"; return 1; }
    openvpn --dev null --proto tcp-client --remote 127.0.0.1 "$sport" --tls-client \
        --ca "$D/ca.crt" --remote-cert-tls server --pkcs11-providers "$MOD" --pkcs11-id "$pkid" \
        --management 127.0.0.1 "$mport" --management-query-passwords --management-hold \
        --verb 3 > "$D/ovpn-client-$tag.log" 2>&1 &
    cli=$!
    python3 "$HERE/openvpn-mgmt-pin.py" "$mport" "$D/pin.txt" 30
    rc=$?
    # the server logs its side of the handshake a moment after the client
    for _ in $(seq 30); do grep -q "Initialization Sequence Completed" "$D/ovpn-server-$tag.log" && break; sleep 0.1; done
    stop "$cli"; stop "$srv"
    echo "--- server"; grep -E "VERIFY|Peer Connection|Control Channel|Initialization|error" "$D/ovpn-server-$tag.log"
    echo "--- client"; grep -E "PKCS#11|Peer Connection|Initialization|error" "$D/ovpn-client-$tag.log"
    ((rc == 0)) &&
    grep -q "VERIFY OK: depth=0, CN=$cn" "$D/ovpn-server-$tag.log" &&
    grep -q "\[$cn\] Peer Connection Initiated" "$D/ovpn-server-$tag.log" &&
    grep -q "Initialization Sequence Completed" "$D/ovpn-client-$tag.log"
}
check "OpenVPN client, RSA key on the token: server verifies CN=RSA Token User, Peer Connection Initiated" \
    ovpn rsa 01 "RSA Token User"
check "OpenVPN client, EC key on the token: server verifies CN=EC Token User, Peer Connection Initiated" \
    ovpn ec 02 "EC Token User"

# ---------------------------------------------------------------- NSS
NSSDB="$D/nssdb"
nss_keys() {
    mkdir -p "$NSSDB" && certutil -N -d "sql:$NSSDB" --empty-password &&
    modutil -dbdir "sql:$NSSDB" -add epass2003 -libfile "$MOD" -force < /dev/null &&
    certutil -K -d "sql:$NSSDB" -h "$LABEL" -f "$D/pin.txt" > "$D/certutil-K.txt" 2>&1
    local rc=$?
    cat "$D/certutil-K.txt"
    ((rc == 0)) && grep -Eq '^<.*> rsa +01 +rsa$' "$D/certutil-K.txt" &&
    grep -Eq '^<.*> ec +02 +ec$' "$D/certutil-K.txt"
}
check "NSS: certutil -K lists the token's RSA and EC keys after login" nss_keys
nss_export_refused() {
    local rc
    (umask 077 && echo exportpass > "$D/p12out.pw")
    pk12util -o "$D/exported.p12" -n "$LABEL:rsa" -d "sql:$NSSDB" -k "$D/pin.txt" -w "$D/p12out.pw" \
        > "$D/pk12util-o.txt" 2>&1
    rc=$?
    cat "$D/pk12util-o.txt"; echo "exit $rc"
    ((rc != 0)) && grep -q "SEC_ERROR_PKCS12_UNABLE_TO_EXPORT_KEY" "$D/pk12util-o.txt" &&
    [ ! -s "$D/exported.p12" ] &&
    # the key is still there and still usable
    p11 --login --pin "$PIN" --list-objects --type privkey | grep -q "label: *rsa"
}
check "NSS: pk12util -o of a token key refused (SEC_ERROR_PKCS12_UNABLE_TO_EXPORT_KEY), no file, key kept" \
    nss_export_refused
# nss_pfx_chain KEYTYPE: a PFX with a key made here, its certificate and the issuing CA, imported
# into the token; certutil then shows the key and the user certificate on the token, and the CA
# certificate (NSS keeps a PFX's CA certificates in its own database, not on the token).
nss_pfx_chain() {
    local t=$1
    cd "$D" || return 1
    if [ "$t" = rsa ]; then
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "pfx-$t.key"
    else
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "pfx-$t.key"
    fi
    openssl req -new -key "pfx-$t.key" -subj "/CN=PFX $t User" -out "pfx-$t.csr" &&
    openssl x509 -req -in "pfx-$t.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile "$t.ext" -out "pfx-$t.crt" &&
    openssl pkcs12 -export -inkey "pfx-$t.key" -in "pfx-$t.crt" -certfile ca.crt -name "pfx $t" \
        -passout pass:pfxpass -out "pfx-$t.p12" &&
    openssl pkcs12 -in "pfx-$t.p12" -passin pass:pfxpass -nokeys | grep -c "BEGIN CERTIFICATE" | grep -qx 2 &&
    pk12util -i "pfx-$t.p12" -d "sql:$NSSDB" -h "$LABEL" -W pfxpass -k "$D/pin.txt" &&
    certutil -L -d "sql:$NSSDB" -h "$LABEL" -f "$D/pin.txt" | tee "certutil-L-$t.txt" &&
    grep -q "^$LABEL:pfx $t " "certutil-L-$t.txt" &&
    certutil -L -d "sql:$NSSDB" | grep -q "^Apps Test CA " &&
    certutil -K -d "sql:$NSSDB" -h "$LABEL" -f "$D/pin.txt" | grep -q "pfx $t"
}
check "NSS: pk12util -i of an RSA PFX with its CA chain into the token" nss_pfx_chain rsa
check "NSS: pk12util -i of an EC P-256 PFX with its CA chain into the token" nss_pfx_chain ec

# ---------------------------------------------------------------- Java (SunPKCS11)
JCFG="$D/sunpkcs11.cfg"
printf 'name = epass2003\nlibrary = %s\nslotListIndex = 0\n' "$MOD" > "$JCFG"
JAVA_P11=(-storetype PKCS11 -providerClass sun.security.pkcs11.SunPKCS11 -providerArg "$JCFG")
java_list() {
    keytool -list "${JAVA_P11[@]}" -storepass "$PIN" > "$D/keytool.txt" 2>&1
    local rc=$?
    cat "$D/keytool.txt"
    ((rc == 0)) && grep -q "^rsa, PrivateKeyEntry" "$D/keytool.txt" &&
    grep -q "^ec, PrivateKeyEntry" "$D/keytool.txt"
}
check "Java keytool -list -storetype PKCS11 (SunPKCS11) lists the token's keys" java_list
# java_sign ALIAS CN ALGORITHM: sign a small jar with the token key, verify it against a
# truststore holding the local CA, then show that a changed entry no longer verifies.
java_sign() {
    local alias=$1 cn=$2 alg=$3 jar="$D/test-$1.jar"
    rm -rf "$D/jar-$alias" && mkdir -p "$D/jar-$alias" && echo "signed with the $alias token key" > "$D/jar-$alias/hello.txt" &&
    jar cf "$jar" -C "$D/jar-$alias" . &&
    jarsigner -keystore NONE "${JAVA_P11[@]}" -storepass "$PIN" "$jar" "$alias" &&
    rm -f "$D/trust.p12" &&
    keytool -importcert -noprompt -alias ca -file "$D/ca.crt" -keystore "$D/trust.p12" \
        -storetype PKCS12 -storepass trustpass > /dev/null &&
    jarsigner -verify -verbose -certs -keystore "$D/trust.p12" -storepass trustpass "$jar" \
        > "$D/jarsigner-verify-$alias.txt" 2>&1
    local rc=$?
    cat "$D/jarsigner-verify-$alias.txt"
    ((rc == 0)) && grep -q "^jar verified" "$D/jarsigner-verify-$alias.txt" &&
    grep -q "Signed by \".*CN=$cn" "$D/jarsigner-verify-$alias.txt" &&
    grep -q "Signature algorithm: $alg" "$D/jarsigner-verify-$alias.txt" || return 1
    # tamper: the signature no longer covers the entry
    echo changed > "$D/jar-$alias/hello.txt" && (cd "$D/jar-$alias" && zip -q "$jar" hello.txt) &&
    ! jarsigner -verify -strict "$jar" > "$D/jarsigner-tampered-$alias.txt" 2>&1 &&
    cat "$D/jarsigner-tampered-$alias.txt"
}
check "Java jarsigner signs a jar with the token's RSA key; jarsigner -verify (CA truststore)" \
    java_sign rsa "RSA Token User" SHA256withRSA
check "Java jarsigner signs a jar with the token's EC key; jarsigner -verify (CA truststore)" \
    java_sign ec "EC Token User" SHA256withECDSA

# ---------------------------------------------------------------- OpenSSH, through pcscd + vpcd
# The same token, now a card in pcscd's vpcd reader: the module sees PC/SC readers only.
unset EPASS2003_EMULATOR
export EPASS2003_PCSC=1
pcsc_up() {
    mkdir -p /run/pcscd
    pcscd --foreground --debug > "$D/pcscd.log" 2>&1 &
    PCSCD=$!
    PIDS+=("$PCSCD")
    for _ in $(seq 100); do [ -S /run/pcscd/pcscd.comm ] && break; sleep 0.1; done
    "$EMU" attach --state "$STATE" --vpcd 127.0.0.1:35963 --wait 10 > "$D/emu-attach.log" 2>&1 &
    CARD=$!
    PIDS+=("$CARD")
    for _ in $(seq 100); do
        pkcs11-tool --module "$MOD" -L > "$D/pcsc-L.txt" 2>&1 && grep -q "token label *: *$LABEL" "$D/pcsc-L.txt" &&
            break
        sleep 0.2
    done
    cat "$D/pcsc-L.txt"
    grep -q "Virtual PCD 00 00" "$D/pcsc-L.txt" && grep -q "token label *: *$LABEL" "$D/pcsc-L.txt" &&
    ! grep -q "emulated" "$D/pcsc-L.txt"
}
check "the token in a vpcd reader of a private pcscd (epass2003-emu attach); the module sees it through PC/SC" pcsc_up
ssh_keys() {
    ssh-keygen -D "$MOD" > "$D/ssh-keygen-D.txt" 2> "$D/ssh-keygen-D.err"
    local rc=$?
    cat "$D/ssh-keygen-D.txt" "$D/ssh-keygen-D.err"
    ((rc == 0)) && grep -q "^ssh-rsa AAAA.* rsa$" "$D/ssh-keygen-D.txt" &&
    grep -q "^ecdsa-sha2-nistp256 AAAA.* ec$" "$D/ssh-keygen-D.txt"
}
check "ssh-keygen -D lists the token's RSA and ECDSA public keys" ssh_keys
SSHD_PORT=
sshd_up() {
    mkdir -p /run/sshd && chmod 755 /run/sshd &&
    ssh-keygen -q -t ed25519 -N '' -f "$D/ssh_host_key" &&
    SSHD_PORT=$(free_port) &&
    cat > "$D/sshd_config" <<CONF &&
ListenAddress 127.0.0.1
Port $SSHD_PORT
HostKey $D/ssh_host_key
PidFile $D/sshd.pid
AuthorizedKeysFile $D/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel VERBOSE
CONF
    /usr/sbin/sshd -t -f "$D/sshd_config" || return 1
    /usr/sbin/sshd -D -e -f "$D/sshd_config" > "$D/sshd.log" 2>&1 &
    SSHD=$!
    PIDS+=("$SSHD")
    echo "[127.0.0.1]:$SSHD_PORT $(cat "$D/ssh_host_key.pub")" > "$D/known_hosts"
    printf '#!/bin/sh\ncat %s\n' "$D/pin.txt" > "$D/askpass" && chmod 700 "$D/askpass" &&
    wait_port "$SSHD_PORT"
}
check "sshd on 127.0.0.1 (own config, host key and authorized_keys in a temp dir)" sshd_up
SSH_OPTS=(-F /dev/null -p "$SSHD_PORT" -o UserKnownHostsFile="$D/known_hosts" -o StrictHostKeyChecking=yes
          -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o ConnectTimeout=10)
# ssh_login TAG KEYLABEL TYPE CMD...: authorized_keys holds only the token key KEYLABEL; CMD
# (an ssh ... root@127.0.0.1 'echo ...') logs in, and sshd's log shows the key it accepted.
ssh_login() {
    local tag=$1 label=$2 type=$3 fp out rc before
    shift 3
    before=$(wc -l < "$D/sshd.log")
    awk -v l="$label" 'NF == 3 && $3 == l' "$D/ssh-keygen-D.txt" > "$D/authorized_keys"
    [ "$(wc -l < "$D/authorized_keys")" = 1 ] || { echo "no single key labelled $label"; return 1; }
    fp=$(ssh-keygen -lf "$D/authorized_keys" | awk '{print $2}')
    echo "authorized: $type $fp"
    out=$(SSH_ASKPASS="$D/askpass" SSH_ASKPASS_REQUIRE=force timeout 60 "$@" "echo logged-in-$tag" < /dev/null 2>&1)
    rc=$?
    echo "$out"; echo "exit $rc"
    # only what sshd logged for this login
    tail -n +"$((before + 1))" "$D/sshd.log" | grep "Accepted publickey" | tee "$D/sshd-$tag.txt"
    ((rc == 0)) && grep -q "^logged-in-$tag\$" <<< "$out" &&
    grep -q "Accepted publickey for root from 127.0.0.1 .* $type $fp" "$D/sshd-$tag.txt"
}
check "ssh -I: login into the local sshd with the token's RSA key (PIN through SSH_ASKPASS)" \
    ssh_login ssh-rsa rsa RSA ssh "${SSH_OPTS[@]}" -I "$MOD" root@127.0.0.1
check "ssh -I: login with the token's ECDSA key" \
    ssh_login ssh-ec ec ECDSA ssh "${SSH_OPTS[@]}" -I "$MOD" root@127.0.0.1
# ssh-agent accepts PKCS#11 libraries only on its allow-list, by default /usr/lib*/*,/usr/local/lib*/*:
# the build directory is refused (the installed library is accepted: tests/install/install.sh).
agent() { # agent SOCKET -D|-d [ssh-agent options]: a foreground agent (-d: with its debug log)
    local sock=$1
    shift
    rm -f "$sock"
    ssh-agent -a "$sock" "$@" > "$sock.log" 2>&1 &
    AGENT=$!
    PIDS+=("$AGENT")
    for _ in $(seq 50); do [ -S "$sock" ] && return 0; sleep 0.1; done
    return 1
}
agent_refuses() {
    agent "$D/agent-default.sock" -d || return 1
    SSH_AUTH_SOCK="$D/agent-default.sock" SSH_ASKPASS="$D/askpass" SSH_ASKPASS_REQUIRE=force \
        ssh-add -s "$MOD" < /dev/null > "$D/ssh-add-refused.txt" 2>&1
    local rc=$?
    stop "$AGENT"
    cat "$D/ssh-add-refused.txt" "$D/agent-default.sock.log"; echo "exit $rc"
    ((rc != 0)) && grep -q "refused" "$D/ssh-add-refused.txt" &&
    grep -q "refusing PKCS#11 add of \"$MOD\": provider not allowed" "$D/agent-default.sock.log"
}
check "ssh-agent with its default allow-list refuses the library in the build directory" agent_refuses
# The agent holds the token's rsa and ec keys: the same blobs as ssh-keygen -D printed.
agent_has_token_keys() {
    local k blob
    ssh-add -L | tee "$D/ssh-add-L.txt" || return 1
    for k in rsa ec; do
        blob=$(awk -v l="$k" 'NF == 3 && $3 == l {print $1 " " $2}' "$D/ssh-keygen-D.txt")
        if [ -z "$blob" ] || ! grep -qF "$blob" "$D/ssh-add-L.txt"; then echo "the agent lacks the $k key"; return 1; fi
    done
}
agent_login() {
    local rc
    agent "$D/agent.sock" -D -P "$(dirname "$MOD")/*" || return 1
    export SSH_AUTH_SOCK="$D/agent.sock"
    SSH_ASKPASS="$D/askpass" SSH_ASKPASS_REQUIRE=force ssh-add -s "$MOD" < /dev/null &&
    agent_has_token_keys &&
    # no -I (and -F /dev/null: no PKCS11Provider, no key files): the agent signs with the token key
    ssh_login agent-rsa rsa RSA ssh "${SSH_OPTS[@]}" root@127.0.0.1 &&
    ssh_login agent-ec ec ECDSA ssh "${SSH_OPTS[@]}" root@127.0.0.1 &&
    ssh-add -e "$MOD" && ! ssh-add -L
    rc=$?
    unset SSH_AUTH_SOCK
    stop "$AGENT"
    return "$rc"
}
check "ssh-agent -P '<build dir>/*' + ssh-add -s: ssh logs in through the agent (RSA, ECDSA); ssh-add -e" agent_login

check_summary
