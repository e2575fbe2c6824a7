# Shared helpers for ci/test and ci/demo: install what the tests need, run a private pcscd with
# the vpcd virtual reader, attach emulated cards to it, and clean everything up on exit.
# Source it from bash; it sets `set -euo pipefail`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export ROOT
OPENSC_MODULE=${OPENSC_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
export OPENSC_MODULE
# A scratch directory per run; kept on failure for inspection.
if [ -z "${WORK:-}" ]; then
    WORK=$(mktemp -d /tmp/epass2003-ci.XXXXXX)
    OWN_WORK=1
fi
mkdir -p "$WORK"
export WORK
PIDS=()

log() { printf '\n=== %s\n' "$*" >&2; }

# Debian packages the suites use. Installs only what is missing (apt-get is slow even when idle).
DEB_PACKAGES=(pcscd vsmartcard-vpcd pcsc-tools libpcsclite-dev pkg-config opensc opensc-pkcs11
              openssl gnutls-bin libnss3-tools p11-kit p11-kit-modules python3-pyscard iproute2
              dbus-daemon dbus-bin python3-dbus python3-gi
              firefox-esr chromium xvfb xdotool imagemagick systemd)
# tests/clients/apps.sh: the applications (OpenVPN, OpenSSH client and server, the libp11 engine,
# Java's SunPKCS11 with keytool/jarsigner, zip for the jar test).
DEB_PACKAGES+=(openvpn openssh-client openssh-server libengine-pkcs11-openssl openjdk-17-jdk-headless zip)
# crates/scep/tests/real_server.rs, crates/cli/tests/scep.rs, tests/cli/scep-tls.sh: micromdm's
# SCEP server (/usr/bin/scepserver); curl waits for it to answer; socat is its HTTPS front.
DEB_PACKAGES+=(scep curl socat)
# Only in bookworm-backports (the OpenSSL 3 pkcs11 provider); see add_backports_source.
BACKPORTS_PACKAGES=(pkcs11-provider)
BACKPORTS_SUITE=bookworm-backports
# add_backports_source [sudo]: a sources entry for bookworm-backports on the mirror the machine's
# own Debian sources name (deb.debian.org if none is found), unless one exists already.
add_backports_source() {
    local sudo=${1:-}
    grep -rqs "$BACKPORTS_SUITE" /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
    local uri
    uri=$(grep -rhsE '^URIs: .*/debian/?$' /etc/apt/sources.list.d/ | head -n1 | awk '{print $2}')
    [ -n "$uri" ] || uri=$(grep -rhsE '^deb [^ ]*/debian/? ' /etc/apt/sources.list /etc/apt/sources.list.d/ | head -n1 | awk '{print $2}')
    [ -n "$uri" ] || uri=http://deb.debian.org/debian
    log "adding the $BACKPORTS_SUITE source ($uri) for: ${BACKPORTS_PACKAGES[*]}"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" "$BACKPORTS_SUITE" | $sudo tee /etc/apt/sources.list.d/epass2003-ci-backports.sources >/dev/null
}
install_deps() {
    local missing=() sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    for p in "${DEB_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        log "installing Debian packages: ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    missing=()
    for p in "${BACKPORTS_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        add_backports_source "$sudo"
        log "installing Debian packages from $BACKPORTS_SUITE: ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            -t "$BACKPORTS_SUITE" "${missing[@]}" >/dev/null
    fi
    command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required" >&2; exit 1; }
}

# Where cargo puts release artefacts (honours CARGO_TARGET_DIR).
RELEASE_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
export RELEASE_DIR
build_release() {
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --workspace --quiet)
    EMU="$RELEASE_DIR/epass2003-emu"
    export EMU
}

cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "${OWN_WORK:-}" ]; then
        if [ "$rc" = 0 ] && [ -z "${KEEP_WORK:-}" ]; then rm -rf "$WORK"; else echo "logs kept in $WORK" >&2; fi
    fi
    exit "$rc"
}
trap cleanup EXIT INT TERM

# Start our own pcscd (foreground, APDU log). A pcscd left running by someone else owns the socket
# and the vpcd ports, so it is stopped first: the suites need a reader they control.
start_pcscd() {
    # Only the pcscd that serves this mount namespace's /run/pcscd (its pid file) is stopped;
    # pgrep/pkill would also see daemons of other namespaces (parallel private test runs).
    if [ -f /run/pcscd/pcscd.pid ]; then
        local old
        old=$(cat /run/pcscd/pcscd.pid 2>/dev/null || true)
        if [ -n "$old" ] && kill -0 "$old" 2>/dev/null; then
            log "stopping the pcscd that is already running (pid $old)"
            kill "$old" || true
            for _ in $(seq 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
        fi
    fi
    rm -f /run/pcscd/pcscd.comm /run/pcscd/pcscd.pid 2>/dev/null || true
    mkdir -p /run/pcscd
    pcscd --foreground --debug --apdu > "$WORK/pcscd.log" 2>&1 &
    PCSCD_PID=$!
    PIDS+=("$PCSCD_PID")
    export PCSCD_PID
    for _ in $(seq 100); do
        [ -S /run/pcscd/pcscd.comm ] && opensc-tool -l >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "pcscd did not come up; see $WORK/pcscd.log" >&2
    return 1
}

# attach_card STATE PORT -> starts `epass2003-emu attach`, waits until the reader shows a card.
attach_card() {
    local state=$1 port=${2:-35963} slot
    slot=$((port - 35963))
    "$EMU" attach --state "$state" --vpcd "127.0.0.1:$port" --wait 10 >> "$WORK/emu-$port.log" 2>&1 &
    CARD_PID=$!
    PIDS+=("$CARD_PID")
    for _ in $(seq 100); do
        opensc-tool -l 2>/dev/null | grep -Eq "^$slot +Yes" && return 0
        sleep 0.1
    done
    echo "emulated card on port $port not visible; see $WORK/emu-$port.log" >&2
    return 1
}

# detach_card PID: stop one attached emulator and wait until pcscd sees the reader empty.
detach_card() {
    local pid=$1 port=${2:-35963} slot
    slot=$((port - 35963))
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        opensc-tool -l 2>/dev/null | grep -Eq "^$slot +No" && return 0
        sleep 0.1
    done
}

# An OpenSSL config that activates the legacy provider (single DES), which OpenSC 0.23.0 needs
# for the DES variant's retail MAC (docs/protocol-notes.md, OpenSC 0.23 compatibility).
write_legacy_openssl_conf() {
    cat > "$1" <<'CONF'
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
CONF
}

# The check runner of the real-stack suites (tests/opensc/*.sh, tests/clients/*.sh):
#   check_start TAG DIR     reset the tally; per-check logs go to DIR
#   check NAME CMD...       run CMD, log its output, print "ok" or "FAIL" with the log's tail
#   check_summary           print "[TAG] N passed, M failed" (and the failed names); fails if any did
check_start() {
    CHECK_TAG=$1
    CHECK_DIR=$2
    PASS=0
    FAIL=0
    FAILED=()
    mkdir -p "$CHECK_DIR"
}
check() {
    local name=$1
    shift
    local log
    log="$CHECK_DIR/$(echo "$name" | tr -c 'A-Za-z0-9_-' _).log"
    if "$@" > "$log" 2>&1; then
        PASS=$((PASS + 1)); echo "ok   [$CHECK_TAG] $name"
    else
        FAIL=$((FAIL + 1)); FAILED+=("$name"); echo "FAIL [$CHECK_TAG] $name (log: $log)"
        tail -n 15 "$log" | sed 's/^/     | /'
    fi
}
check_summary() {
    echo "[$CHECK_TAG] $PASS passed, $FAIL failed"
    ((FAIL == 0)) || { printf '  failed: %s\n' "${FAILED[@]}"; return 1; }
}
