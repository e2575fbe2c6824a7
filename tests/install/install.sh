#!/usr/bin/env bash
# ./ci/install and ./ci/uninstall:
#  1. into a temp prefix under a temp DESTDIR: the library stripped of debug info and small, the
#     tool, the NSS helper, the p11-kit module file, the manifest; uninstall leaves nothing (a
#     file changed after install is kept);
#  2. for real, in a private mount namespace (tmpfs over /usr/local, /etc/pkcs11 and
#     /usr/share/p11-kit/modules, so nothing of the machine is touched): `p11-kit list-modules`
#     shows the module, gnutls-cli completes TLS client authentication with a pkcs11: URI and no
#     --provider (p11-kit) against `openssl s_server -Verify 1`, and epass2003-nss-register
#     adds and removes the module in an NSS database.
# Run as root. Expects $WORK (ci/lib/common.sh). Prints one line per check and "N passed, M failed".
# The checks are functions run through check() (ci/lib/common.sh), which shellcheck cannot see.
# shellcheck disable=SC2317
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e
D="$WORK/install"
mkdir -p "$D"

# shows PATTERN CMD...: run CMD, show its output, succeed if it succeeded and shows PATTERN.
shows() {
    local pattern=$1 out rc
    shift
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out"
    ((rc == 0)) && grep -qE -- "$pattern" <<< "$out"
}

if [ "${1:-}" != --inside ]; then
    check_start install "$D"
    DEST="$D/dest"
    P=/opt/epass2003
    mkdir -p "$DEST"
    check "ci/install --prefix $P --destdir DEST (builds release)" \
        "$ROOT/ci/install" --prefix "$P" --destdir "$DEST"
    LIB="$DEST$P/lib/libepass2003_pkcs11.so"
    installed_files() {
        find "$DEST" -type f | sort | sed "s|^$DEST||" | tee "$D/files.txt"
        diff -u - "$D/files.txt" <<LIST
/etc/pkcs11/modules/epass2003.module
$P/bin/epass2003-nss-register
$P/bin/epass2003-tool
$P/lib/libepass2003_pkcs11.so
$P/lib/systemd/user/epass2003-expiring.service
$P/lib/systemd/user/epass2003-expiring.timer
$P/lib/systemd/user/epass2003-renew.service
$P/lib/systemd/user/epass2003-renew.timer
$P/share/epass2003/install-manifest
LIST
    }
    check "exactly the library, tool, NSS helper, module file and manifest" installed_files
    no_debug() {
        local f
        for f in "$LIB" "$DEST$P/bin/epass2003-tool"; do
            readelf -S "$f" | grep -q '\.debug_info' && { echo "$f has .debug_info"; return 1; }
            ls -l "$f"
        done
        file "$LIB"
        local size
        size=$(stat -c %s "$LIB")
        echo "library: $size bytes (built: $(stat -c %s "$RELEASE_DIR/libepass2003_pkcs11.so"))"
        ((size < 6 * 1024 * 1024))
    }
    check "library and tool without debug info, library under 6 MB" no_debug
    check "library still exports C_GetFunctionList" shows C_GetFunctionList nm -D --defined-only "$LIB"
    module_file() {
        local m="$DEST/etc/pkcs11/modules/epass2003.module"
        cat "$m"
        grep -qx "module: $P/lib/libepass2003_pkcs11.so" "$m" && grep -qx "critical: no" "$m"
    }
    check "epass2003.module names the installed library, critical: no" module_file
    check "installed tool runs" shows "epass2003-tool" "$DEST$P/bin/epass2003-tool" --version
    check "manifest: 8 files with checksums (4 + the 4 user systemd units)" \
        bash -c "cat '$DEST$P/share/epass2003/install-manifest'; [ \$(grep -c '^f [0-9a-f]\{64\} /' '$DEST$P/share/epass2003/install-manifest') = 8 ]"
    check "ci/uninstall --prefix $P --destdir DEST" "$ROOT/ci/uninstall" --prefix "$P" --destdir "$DEST"
    check "nothing left, not even the directories install created" \
        bash -c "find '$DEST' -mindepth 1 | tee /dev/stderr | grep -q . && exit 1; exit 0"
    changed_kept() {
        "$ROOT/ci/install" --no-build --prefix "$P" --destdir "$DEST" &&
        echo "# local change" >> "$DEST$P/bin/epass2003-nss-register" &&
        "$ROOT/ci/uninstall" --prefix "$P" --destdir "$DEST" &&
        find "$DEST" | sed "s|^$DEST||" | sort | tee "$D/after-changed.txt" &&
        diff -u - "$D/after-changed.txt" <<LIST &&

/opt
$P
$P/bin
$P/bin/epass2003-nss-register
LIST
        rm -rf "${DEST:?}/opt"
    }
    check "a file changed after install is kept by uninstall (and only it)" changed_kept
    check "ci/uninstall without a manifest refuses" \
        bash -c "! '$ROOT/ci/uninstall' --prefix '$P' --destdir '$DEST'"

    # The real locations, in a private mount namespace. A tmpfs needs a mount point: /etc/pkcs11
    # is created for it if missing and removed again afterwards.
    made_etc=""
    if [ ! -d /etc/pkcs11 ]; then mkdir /etc/pkcs11 && made_etc=1; fi
    unshare -m bash "$0" --inside
    inside=$?
    [ -z "$made_etc" ] || rmdir /etc/pkcs11
    PASS=$((PASS + $(cat "$D/inside.pass" 2> /dev/null || echo 0)))
    FAIL=$((FAIL + $(cat "$D/inside.fail" 2> /dev/null || echo 1)))
    ((inside == 0)) || FAILED+=("checks in the private mount namespace")
    check_summary
    exit
fi

# --- inside the private mount namespace --------------------------------------------------------
check_start install "$D/inside"
mount --make-rprivate /
mount -t tmpfs tmpfs /usr/local
mount -t tmpfs tmpfs /etc/pkcs11
mount -t tmpfs tmpfs /usr/share/p11-kit/modules
check "ci/install (default prefix /usr/local, system p11-kit dir)" "$ROOT/ci/install" --no-build --no-nss
check "installed to /usr/local/lib and /etc/pkcs11/modules" \
    bash -c "ls -l /usr/local/lib/libepass2003_pkcs11.so /usr/local/bin/epass2003-tool /etc/pkcs11/modules/epass2003.module && cat /etc/pkcs11/modules/epass2003.module"
export EPASS2003_EMULATOR="$D/token.state" EPASS2003_PCSC=0
rm -f "$EPASS2003_EMULATOR" "$EPASS2003_EMULATOR.lock"
check "p11-kit list-modules shows epass2003" \
    shows '^epass2003: /usr/local/lib/libepass2003_pkcs11.so' p11-kit list-modules
PIN=12345678
make_token() {
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/ca.key" -out "$D/ca.crt" -days 2 \
        -subj "/CN=Install CA" &&
    openssl req -new -newkey rsa:2048 -nodes -keyout "$D/user.key" -out "$D/user.csr" \
        -subj "/CN=Install User" &&
    openssl x509 -req -in "$D/user.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial \
        -days 2 -out "$D/user.crt" &&
    openssl pkcs12 -export -inkey "$D/user.key" -in "$D/user.crt" -name "install user" \
        -passout pass:p12pass -out "$D/user.p12" &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/server.key" -out "$D/server.crt" \
        -days 2 -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1" \
        -CA "$D/ca.crt" -CAkey "$D/ca.key" &&
    EPASS2003_NEW_SO_PIN=87654321 EPASS2003_NEW_PIN=$PIN \
        /usr/local/bin/epass2003-tool init --yes --label "install test" &&
    EPASS2003_PIN=$PIN EPASS2003_P12_PASSWORD=p12pass /usr/local/bin/epass2003-tool import "$D/user.p12" &&
    p11tool --list-all "pkcs11:token=install%20test"
}
check "emulated token: installed epass2003-tool init + import of a PKCS#12" make_token
check "p11tool (p11-kit) lists the token" shows 'token=install%20test' p11tool --list-tokens
tls() {
    local port srv
    port=$((20000 + RANDOM % 20000))
    openssl s_server -accept "127.0.0.1:$port" -cert "$D/server.crt" -key "$D/server.key" \
        -CAfile "$D/ca.crt" -Verify 1 -verify_return_error -www > "$D/s_server.log" 2>&1 &
    srv=$!
    sleep 0.5
    printf 'GET / HTTP/1.0\r\n\r\n' | GNUTLS_PIN="$PIN" gnutls-cli --x509cafile "$D/ca.crt" \
        --x509keyfile "pkcs11:token=install%20test;object=install%20user;type=private" \
        --x509certfile "pkcs11:token=install%20test;object=install%20user;type=cert" \
        -p "$port" 127.0.0.1 > "$D/gnutls.out" 2>&1
    kill "$srv" 2> /dev/null; wait "$srv" 2> /dev/null
    cat "$D/gnutls.out"
    grep -E "Handshake was completed|^- Description" "$D/gnutls.out" > "$D/handshake.txt"
    grep -q "Handshake was completed" "$D/gnutls.out" &&
    grep -Eq "Subject: .*CN *= *Install User|subject=.*CN *= *Install User" "$D/gnutls.out"
}
check "gnutls-cli TLS client auth, pkcs11: URI, no --provider (p11-kit)" tls
nss() {
    mkdir -p "$D/nssdb" && certutil -N -d "sql:$D/nssdb" --empty-password &&
    /usr/local/bin/epass2003-nss-register "$D/nssdb" &&
    modutil -dbdir "sql:$D/nssdb" -list | grep -q "ePass2003" &&
    modutil -dbdir "sql:$D/nssdb" -list | grep -q "/usr/local/lib/libepass2003_pkcs11.so" &&
    /usr/local/bin/epass2003-nss-register "$D/nssdb" | grep -q "already registered" &&
    /usr/local/bin/epass2003-nss-register --remove "$D/nssdb" &&
    ! modutil -dbdir "sql:$D/nssdb" -list | grep -q "ePass2003"
}
check "epass2003-nss-register adds, sees it registered, removes" nss
firefox_running() {
    # A profile whose `lock` names a live process (here: this shell) is refused, and left alone.
    local prof="$D/firefox/abcd.default-esr"
    mkdir -p "$prof" && certutil -N -d "sql:$prof" --empty-password &&
    ln -s "127.0.0.1:+$$" "$prof/lock" &&
    ! /usr/local/bin/epass2003-nss-register "$prof" &&
    ! modutil -dbdir "sql:$prof" -list | grep -q "ePass2003"
}
check "epass2003-nss-register refuses a profile a running Firefox holds" firefox_running
# ssh-agent's default PKCS#11 allow-list (/usr/lib*/*,/usr/local/lib*/*) accepts the library.
ssh_agent() {
    local agent rc
    printf '#!/bin/sh\necho %s\n' "$PIN" > "$D/askpass" && chmod +x "$D/askpass" || return 1
    ssh-agent -D -a "$D/agent.sock" > "$D/ssh-agent.log" 2>&1 &
    agent=$!
    for _ in $(seq 50); do [ -S "$D/agent.sock" ] && break; sleep 0.1; done
    SSH_AUTH_SOCK="$D/agent.sock" SSH_ASKPASS="$D/askpass" SSH_ASKPASS_REQUIRE=force \
        ssh-add -s /usr/local/lib/libepass2003_pkcs11.so < /dev/null &&
    SSH_AUTH_SOCK="$D/agent.sock" ssh-add -L | tee "$D/ssh-add-L.txt" | grep -q "^ssh-rsa "
    rc=$?
    kill "$agent" 2> /dev/null; wait "$agent" 2> /dev/null
    return "$rc"
}
if command -v ssh-agent > /dev/null; then
    check "ssh-agent (default allow-list) loads /usr/local/lib/libepass2003_pkcs11.so: ssh-add -s, -L" ssh_agent
fi
check "ci/uninstall (default prefix)" "$ROOT/ci/uninstall"
check "/usr/local, /etc/pkcs11 empty again" \
    bash -c "find /usr/local /etc/pkcs11 -mindepth 1 | tee /dev/stderr | grep -q . && exit 1; exit 0"
check "p11-kit list-modules no longer shows epass2003" \
    bash -c "! p11-kit list-modules | grep -q '^epass2003'"
echo "$PASS" > "$D/inside.pass"
echo "$FAIL" > "$D/inside.fail"
((FAIL == 0)) || printf '  failed: %s\n' "${FAILED[@]}"
((FAIL == 0))
