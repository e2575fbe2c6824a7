#!/usr/bin/env bash
# Upgrade, uninstall/--purge, --user install, and the NSS helper's profile discovery:
#  1. epass2003-nss-register --dry-run against fake home trees (native Firefox with profiles.ini,
#     snap, flatpak Firefox and Chromium, ~/.pki/nssdb) and a fake system root (/etc/pki/nssdb),
#     then real modutil registrations in fake profiles made with certutil -N; ci/install's paths
#     for the Debian and RPM layouts;
#  2. in a private mount namespace (tmpfs over /usr/local, /etc/pkcs11, /usr/share/p11-kit/modules):
#     install, a python3 process that has the library loaded (ctypes, C_Initialize), install
#     again: the library is a new inode, the process is named as needing a restart and still
#     works, token state, settings and an NSS registration are kept; uninstall keeps the token
#     state and settings and says so, --purge removes them;
#  3. a non-root user (useradd): ci/install without --user refuses with exit 3, --user installs
#     under ~/.local, `p11-kit list-modules` run as that user shows the module, the user's
#     Firefox profile is registered, ci/uninstall --user removes it all.
# Run as root. Expects $WORK (ci/lib/common.sh). Prints one line per check and "N passed, M failed".
# shellcheck disable=SC2317
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e
D="$WORK/upgrade"
mkdir -p "$D"
HELPER="$ROOT/dist/epass2003-nss-register.in"
BUILT="$RELEASE_DIR/libepass2003_pkcs11.so"
export EPASS2003_PCSC=0

# has PATTERN TEXT-FILE: the file has a line matching PATTERN (shown on failure).
has() { grep -qE -- "$1" "$2" || { echo "no line matching: $1"; cat "$2"; return 1; }; }
hasnt() { ! grep -qE -- "$1" "$2" || { echo "unexpected line: $1"; cat "$2"; return 1; }; }
tab=$'\t'

if [ "${1:-}" != --inside ]; then
    check_start upgrade "$D"
    [ -f "$BUILT" ] && [ -f "$RELEASE_DIR/epass2003-tool" ] ||
        (cd "$ROOT" && cargo build --release --quiet -p pkcs11 -p epass2003-tool)

    # --- 1. profile discovery (decisions only) ---------------------------------------------
    H="$D/home"
    mkdir -p "$H/.mozilla/firefox/abcd.default-esr" "$H/.mozilla/firefox/work" \
        "$H/snap/firefox/common/.mozilla/firefox/snp1.default" \
        "$H/.var/app/org.mozilla.firefox/.mozilla/firefox/fp1.default-release" \
        "$H/.var/app/org.chromium.Chromium/.pki/nssdb" "$D/elsewhere/prof"
    printf '[General]\r\nStartWithLastProfile=1\r\n\r\n[Profile0]\r\nName=work\r\nIsRelative=1\r\nPath=work\r\n\r\n[Profile1]\r\nName=abs\r\nIsRelative=0\r\nPath=%s\r\n' \
        "$D/elsewhere/prof" > "$H/.mozilla/firefox/profiles.ini"
    for p in "$H/.mozilla/firefox/abcd.default-esr" "$H/.mozilla/firefox/work" "$D/elsewhere/prof" \
        "$H/.var/app/org.mozilla.firefox/.mozilla/firefox/fp1.default-release" \
        "$H/.var/app/org.chromium.Chromium/.pki/nssdb" "$H/snap/firefox/common/.mozilla/firefox/snp1.default"; do
        certutil -N -d "sql:$p" --empty-password
    done
    SYSLIB=/usr/local/lib/libepass2003_pkcs11.so
    bash "$HELPER" --dry-run --home "$H" --lib "$SYSLIB" > "$D/plan-sys.txt" 2>&1
    cat "$D/plan-sys.txt"
    check "dry-run: ~/.pki/nssdb (Chromium) to be created and registered" \
        has "^create\+register${tab}chromium${tab}$H/.pki/nssdb${tab}$SYSLIB\$" "$D/plan-sys.txt"
    check "dry-run: Firefox profiles.ini relative Path= profile" \
        has "^register${tab}firefox${tab}$H/.mozilla/firefox/work${tab}" "$D/plan-sys.txt"
    check "dry-run: Firefox profiles.ini absolute Path= profile (IsRelative=0, CRLF file)" \
        has "^register${tab}firefox${tab}$D/elsewhere/prof${tab}" "$D/plan-sys.txt"
    check "dry-run: Firefox *.default* profile not in profiles.ini" \
        has "^register${tab}firefox${tab}$H/.mozilla/firefox/abcd.default-esr${tab}" "$D/plan-sys.txt"
    check "dry-run: snap Firefox: instructions, with the hostfs path of the library" \
        has "^snap${tab}firefox-snap${tab}$H/snap/firefox/common/.mozilla/firefox/snp1.default${tab}/var/lib/snapd/hostfs$SYSLIB\$" "$D/plan-sys.txt"
    check "dry-run: flatpak Firefox, system library: override + /run/host path" \
        has "^flatpak-sys${tab}firefox-flatpak${tab}$H/.var/app/org.mozilla.firefox/.mozilla/firefox/fp1.default-release${tab}/run/host$SYSLIB\$" "$D/plan-sys.txt"
    check "dry-run: flatpak Chromium ~/.var/app/org.chromium.Chromium/.pki/nssdb" \
        has "^flatpak-sys${tab}chromium-flatpak${tab}$H/.var/app/org.chromium.Chromium/.pki/nssdb${tab}" "$D/plan-sys.txt"
    check "dry-run: each profile once" \
        bash -c "[ \$(cut -f3 '$D/plan-sys.txt' | sort | uniq -d | wc -l) = 0 ] && [ \$(wc -l < '$D/plan-sys.txt') = 7 ]"
    check "dry-run changed nothing (no ~/.pki created)" bash -c "[ ! -e '$H/.pki' ]"
    HOMELIB="$H/.local/lib/libepass2003_pkcs11.so"
    bash "$HELPER" --dry-run --home "$H" --lib "$HOMELIB" > "$D/plan-user.txt" 2>&1
    check "dry-run, library under \$HOME (--user): flatpak profiles registered directly" \
        bash -c "grep -qE '^register${tab}firefox-flatpak${tab}' '$D/plan-user.txt' && grep -qE '^register${tab}chromium-flatpak${tab}' '$D/plan-user.txt'"
    mkdir -p "$D/root/etc/pki/nssdb"
    bash "$HELPER" --dry-run --system --root "$D/root" --lib /usr/lib64/libepass2003_pkcs11.so > "$D/plan-rpm.txt" 2>&1
    check "dry-run --system --root: the RPM family's /etc/pki/nssdb" \
        has "^register${tab}system${tab}$D/root/etc/pki/nssdb${tab}/usr/lib64/libepass2003_pkcs11.so\$" "$D/plan-rpm.txt"
    layout() {
        "$ROOT/ci/install" --prefix /usr --layout rpm --print-paths | tee "$D/rpm-paths.txt" &&
        grep -qx "library /usr/lib64/libepass2003_pkcs11.so" "$D/rpm-paths.txt" &&
        "$ROOT/ci/install" --prefix /usr --layout debian --print-paths | tee "$D/deb-paths.txt" &&
        grep -qx "library /usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libepass2003_pkcs11.so" "$D/deb-paths.txt" &&
        "$ROOT/ci/install" --layout rpm --print-paths | grep -qx "library /usr/local/lib/libepass2003_pkcs11.so"
    }
    check "ci/install paths: RPM layout /usr/lib64, Debian multiarch, /usr/local/lib otherwise" layout

    # --- 1b. real registrations with modutil in those fake profiles ------------------------
    mkdir -p "$H/.local/lib" && cp "$BUILT" "$HOMELIB"
    bash "$HELPER" --home "$H" --lib "$HOMELIB" > "$D/register.txt" 2>&1
    echo "rc=$?" >> "$D/register.txt"
    cat "$D/register.txt"
    registered_in() { modutil -dbdir "sql:$1" -list 2> /dev/null | grep -A2 "ePass2003" | grep -q "$2"; }
    check "registered: exit 0" has '^rc=0$' "$D/register.txt"
    check "registered with modutil: ~/.pki/nssdb (created), both Firefox profiles.ini profiles, the *.default* one" \
        bash -c "$(declare -f registered_in); registered_in '$H/.pki/nssdb' '$HOMELIB' && registered_in '$H/.mozilla/firefox/work' '$HOMELIB' && registered_in '$D/elsewhere/prof' '$HOMELIB' && registered_in '$H/.mozilla/firefox/abcd.default-esr' '$HOMELIB'"
    check "flatpak Firefox and Chromium registered, with the flatpak override to print" \
        bash -c "$(declare -f registered_in); registered_in '$H/.var/app/org.mozilla.firefox/.mozilla/firefox/fp1.default-release' '$HOMELIB' && registered_in '$H/.var/app/org.chromium.Chromium/.pki/nssdb' '$HOMELIB' && grep -qF 'flatpak override --user --filesystem=$H/.local/lib:ro org.mozilla.firefox' '$D/register.txt' && grep -qF 'flatpak override --user --filesystem=$H/.local/lib:ro org.chromium.Chromium' '$D/register.txt'"
    check "snap Firefox: not changed, told what to do (Security Devices, snap connect firefox:pcscd)" \
        bash -c "! modutil -dbdir 'sql:$H/snap/firefox/common/.mozilla/firefox/snp1.default' -list | grep -q ePass2003 && grep -qF 'snap connect firefox:pcscd' '$D/register.txt' && grep -qF 'install system-wide' '$D/register.txt'"
    cp "$BUILT" "$D/syslib.so"
    flatpak_sys() {
        # A system library: the flatpak profile is not registered (its path differs inside the
        # sandbox); the override for the host's /usr and the in-sandbox path are printed.
        local h2="$D/home2" p
        p="$h2/.var/app/org.mozilla.firefox/.mozilla/firefox/x.default-release"
        mkdir -p "$p" "$h2/snap/firefox/common/.mozilla/firefox/s.default" &&
        certutil -N -d "sql:$p" --empty-password &&
        bash "$HELPER" --home "$h2" --lib "$D/syslib.so" > "$D/flatpak-sys.txt" 2>&1
        cat "$D/flatpak-sys.txt"
        grep -qF 'flatpak override --user --filesystem=host-os:ro org.mozilla.firefox' "$D/flatpak-sys.txt" &&
        grep -qF "file /run/host$D/syslib.so" "$D/flatpak-sys.txt" &&
        grep -qF "file /var/lib/snapd/hostfs$D/syslib.so" "$D/flatpak-sys.txt" &&
        ! modutil -dbdir "sql:$p" -list | grep -q ePass2003
    }
    check "library outside \$HOME: flatpak override host-os + /run/host path, snap hostfs path printed" flatpak_sys
    system_db() {
        certutil -N -d "sql:$D/root/etc/pki/nssdb" --empty-password &&
        bash "$HELPER" --system --root "$D/root" --lib "$D/syslib.so" &&
        modutil -dbdir "sql:$D/root/etc/pki/nssdb" -list | grep -q "$D/syslib.so" &&
        bash "$HELPER" --system --root "$D/root" --lib "$D/syslib.so" --remove &&
        ! modutil -dbdir "sql:$D/root/etc/pki/nssdb" -list | grep -q ePass2003
    }
    check "--system --root: registered in ROOT/etc/pki/nssdb with modutil, and removed" system_db
    check "--remove unregisters every discovered profile" \
        bash -c "bash '$HELPER' --home '$H' --lib '$HOMELIB' --remove && ! modutil -dbdir 'sql:$H/.mozilla/firefox/work' -list | grep -q ePass2003 && ! modutil -dbdir 'sql:$H/.pki/nssdb' -list | grep -q ePass2003"

    # --- 2. upgrade, in a private mount namespace -------------------------------------------
    made_etc="" made_pki=""
    if [ ! -d /etc/pkcs11 ]; then mkdir /etc/pkcs11 && made_etc=1; fi
    if [ ! -d /etc/pki ]; then mkdir /etc/pki && made_pki=1; fi
    unshare -m bash "$0" --inside
    inside=$?
    [ -z "$made_etc" ] || rmdir /etc/pkcs11
    [ -z "$made_pki" ] || rmdir /etc/pki
    PASS=$((PASS + $(cat "$D/inside.pass" 2> /dev/null || echo 0)))
    FAIL=$((FAIL + $(cat "$D/inside.fail" 2> /dev/null || echo 1)))
    ((inside == 0)) || FAILED+=("checks in the private mount namespace")

    # --- 3. --user, as a non-root user ------------------------------------------------------
    U="ep2003u$$"
    if useradd -m -d "$D/$U" -s /bin/bash "$U" 2> "$D/useradd.err"; then
        # The user needs to read the checkout and the built files.
        as_user() { runuser -u "$U" -- env -i HOME="$D/$U" PATH=/usr/local/bin:/usr/bin:/bin \
            WORK="$D/$U/work" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}" "$@"; }
        chmod 755 "$D" "$WORK"
        runuser -u "$U" -- mkdir -p "$D/$U/work" "$D/$U/.mozilla/firefox/u1.default-esr"
        runuser -u "$U" -- certutil -N -d "sql:$D/$U/.mozilla/firefox/u1.default-esr" --empty-password
        if as_user test -r "$BUILT"; then
            norights() {
                as_user "$ROOT/ci/install" --no-build > "$D/user-noroot.txt" 2>&1
                local rc=$?
                cat "$D/user-noroot.txt"
                ((rc == 3)) && grep -q -- "--user" "$D/user-noroot.txt"
            }
            check "non-root, no --user: refused with exit 3 and a hint at --user" norights
            user_install() {
                as_user "$ROOT/ci/install" --no-build --user > "$D/user-install.txt" 2>&1 || { cat "$D/user-install.txt"; return 1; }
                cat "$D/user-install.txt"
                [ -f "$D/$U/.local/lib/libepass2003_pkcs11.so" ] && [ -x "$D/$U/.local/bin/epass2003-tool" ] &&
                grep -qx "module: $D/$U/.local/lib/libepass2003_pkcs11.so" "$D/$U/.config/pkcs11/modules/epass2003.module" &&
                grep -qF "ssh-agent -P '$D/$U/.local/lib/*'" "$D/user-install.txt"
            }
            check "ci/install --user: ~/.local/lib, ~/.local/bin, ~/.config/pkcs11/modules, ssh-agent -P note" user_install
            check "p11-kit list-modules, as that user, shows the module" \
                bash -c "$(declare -f as_user); U=$U D=$D; as_user p11-kit list-modules 2>&1 | tee '$D/user-p11kit.txt' | grep -q '^epass2003: $D/$U/.local/lib/libepass2003_pkcs11.so'"
            check "--user: the user's Firefox profile registered (and recorded in the manifest)" \
                bash -c "modutil -dbdir 'sql:$D/$U/.mozilla/firefox/u1.default-esr' -list | grep -q '$D/$U/.local/lib/libepass2003_pkcs11.so' && grep -qx 'n $D/$U/.mozilla/firefox/u1.default-esr' '$D/$U/.local/share/epass2003/install-manifest'"
            user_uninstall() {
                as_user "$ROOT/ci/uninstall" --user > "$D/user-uninstall.txt" 2>&1 || { cat "$D/user-uninstall.txt"; return 1; }
                cat "$D/user-uninstall.txt"
                [ ! -e "$D/$U/.local/lib/libepass2003_pkcs11.so" ] && [ ! -e "$D/$U/.config/pkcs11/modules/epass2003.module" ] &&
                ! modutil -dbdir "sql:$D/$U/.mozilla/firefox/u1.default-esr" -list | grep -q ePass2003 &&
                ! as_user p11-kit list-modules 2>&1 | grep -q '^epass2003'
            }
            check "ci/uninstall --user: files, module file and the NSS registration gone" user_uninstall
        else
            check "the test user can read $BUILT (checkout readable by others)" false
        fi
        userdel -r "$U" 2> /dev/null
    else
        cat "$D/useradd.err"
        check "useradd for the --user test" false
    fi
    check_summary
    exit
fi

# --- inside the private mount namespace --------------------------------------------------------
check_start upgrade "$D/inside"
mount --make-rprivate /
mount -t tmpfs tmpfs /usr/local
mount -t tmpfs tmpfs /etc/pkcs11
mount -t tmpfs tmpfs /usr/share/p11-kit/modules
mount -t tmpfs tmpfs /etc/pki
LIB=/usr/local/lib/libepass2003_pkcs11.so
export HOME="$D/uhome" XDG_STATE_HOME="$D/uhome/.local/state"
mkdir -p "$HOME/.config/epass2003"
STATE="$D/uhome/token.state"
printf 'emulator = %s\npin_min_len = 6\n' "$STATE" > "$HOME/.config/epass2003/pkcs11.conf"
unset EPASS2003_EMULATOR
check "first install" "$ROOT/ci/install" --no-build --no-nss
token() {
    EPASS2003_NEW_SO_PIN=87654321 EPASS2003_NEW_PIN=12345678 /usr/local/bin/epass2003-tool init --yes --label "upgrade test" &&
    EPASS2003_PIN=12345678 /usr/local/bin/epass2003-tool keygen --label kept-key &&
    [ -f "$STATE" ] && sha256sum "$STATE" "$HOME/.config/epass2003/pkcs11.conf" > "$D/before.sum"
}
check "emulated token (from the settings file) initialised, a key generated" token
mkdir -p "$D/nssdb" && certutil -N -d "sql:$D/nssdb" --empty-password
check "NSS database registered before the upgrade" /usr/local/bin/epass2003-nss-register "$D/nssdb"

# A process that has the library loaded and the token open, waiting on a FIFO.
mkfifo "$D/go"
cat > "$D/holder.py" << 'PY'
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
assert lib.C_Initialize(None) == 0
n = ctypes.c_ulong(0)
assert lib.C_GetSlotList(1, None, ctypes.byref(n)) == 0 and n.value >= 1
print("loaded, slots with a token:", n.value, flush=True)
open(sys.argv[2]).read()  # wait until told to go on
m = ctypes.c_ulong(0)
rv = lib.C_GetSlotList(1, None, ctypes.byref(m))
print("after the upgrade: rv", rv, "slots", m.value, flush=True)
sys.exit(0 if rv == 0 and m.value == n.value and lib.C_Finalize(None) == 0 else 1)
PY
python3 "$D/holder.py" "$LIB" "$D/go" > "$D/holder.out" 2>&1 &
HOLDER=$!
for _ in $(seq 100); do grep -q loaded "$D/holder.out" 2> /dev/null && break; sleep 0.1; done
check "a python3 process has the library loaded (C_Initialize, a token seen)" has loaded "$D/holder.out"
# And a long-running old tool (watch).
/usr/local/bin/epass2003-tool watch > "$D/watch.out" 2>&1 &
WATCHER=$!
sleep 0.5
OLD_INO=$(stat -c %i "$LIB")
check "second install (the upgrade), while the library is in use" \
    bash -c "'$ROOT/ci/install' --no-build --no-nss 2>&1 | tee '$D/upgrade.txt'; exit \${PIPESTATUS[0]}"
new_inode() {
    local new mapped
    new=$(stat -c %i "$LIB")
    mapped=$(awk -v f="$LIB" '$6 == f { print $5; exit }' "/proc/$HOLDER/maps")
    echo "old $OLD_INO, new $new, mapped by the process $mapped"
    [ "$new" != "$OLD_INO" ] && [ "$mapped" = "$OLD_INO" ] && grep -q "$LIB (deleted)" "/proc/$HOLDER/maps"
}
check "the library was renamed over (new inode); the process still maps the old one" new_inode
check "the upgrade names the process as needing a restart" has "restart: pid $HOLDER python3 \\($LIB\\)" "$D/upgrade.txt"
check "the upgrade names the old tool still running (watch)" \
    has "restart: pid $WATCHER epass2003-tool \\(/usr/local/bin/epass2003-tool\\)" "$D/upgrade.txt"
kill "$WATCHER" 2> /dev/null; wait "$WATCHER" 2> /dev/null
check "the upgrade says what it kept" has "^kept: configuration" "$D/upgrade.txt"
echo go > "$D/go"
wait "$HOLDER"
holder_rc=$?
cat "$D/holder.out"
check "the process keeps working on the old library and exits cleanly" test "$holder_rc" = 0
check "token state and settings unchanged by the upgrade" sha256sum -c "$D/before.sum"
check "the token's key is still there, through the new library" \
    bash -c "pkcs11-tool --module '$LIB' -O 2>&1 | tee '$D/objects.txt' | grep -q kept-key"
check "NSS registration kept across the upgrade" bash -c "modutil -dbdir 'sql:$D/nssdb' -list | grep -q '$LIB'"
check "no stray temporary files beside the installed ones" \
    bash -c "! find /usr/local /etc/pkcs11 -name '.*.new.*' | grep ."
check "manifest rewritten with 8 files (4 + the 4 user systemd units; no duplicates)" \
    bash -c "[ \$(grep -c '^f ' /usr/local/share/epass2003/install-manifest) = 8 ]"
third() {
    "$ROOT/ci/install" --no-build --no-nss > "$D/third.txt" 2>&1
    cat "$D/third.txt"
    grep -q "no running program uses the old library or tool" "$D/third.txt"
}
check "an upgrade with nobody using the library names no process" third
uninstall_keeps() {
    "$ROOT/ci/uninstall" > "$D/uninstall.txt" 2>&1 || return 1
    cat "$D/uninstall.txt"
    [ ! -e "$LIB" ] && sha256sum -c "$D/before.sum" &&
    grep -q "^kept (your data" "$D/uninstall.txt" && grep -qx "  $STATE" "$D/uninstall.txt" &&
    grep -qx "  $HOME/.config/epass2003/pkcs11.conf" "$D/uninstall.txt"
}
check "uninstall removes the files, keeps the token state and settings, and lists them" uninstall_keeps
purge() {
    "$ROOT/ci/install" --no-build --no-nss 2> /dev/null &&
    "$ROOT/ci/uninstall" --purge > "$D/purge.txt" 2>&1 || return 1
    cat "$D/purge.txt"
    [ ! -e "$STATE" ] && [ ! -e "$HOME/.config/epass2003" ] && grep -q "^purged $STATE" "$D/purge.txt" &&
    ! find /usr/local /etc/pkcs11 -mindepth 1 | grep .
}
check "uninstall --purge removes the token state and settings too" purge
# The RPM family's system-wide NSS database: a root install registers the library there.
system_nss() {
    mkdir -p /etc/pki/nssdb && certutil -N -d sql:/etc/pki/nssdb --empty-password &&
    "$ROOT/ci/install" --no-build > "$D/install-pki.txt" 2>&1
    cat "$D/install-pki.txt"
    modutil -dbdir sql:/etc/pki/nssdb -list | grep -q "$LIB" &&
    grep -qx "n /etc/pki/nssdb" /usr/local/share/epass2003/install-manifest &&
    "$ROOT/ci/install" --no-build > /dev/null 2>&1 &&
    grep -qx "n /etc/pki/nssdb" /usr/local/share/epass2003/install-manifest &&
    "$ROOT/ci/uninstall" &&
    ! modutil -dbdir sql:/etc/pki/nssdb -list | grep -q ePass2003
}
check "root install registers in /etc/pki/nssdb (kept across an upgrade), uninstall removes it" system_nss
echo "$PASS" > "$D/inside.pass"
echo "$FAIL" > "$D/inside.fail"
((FAIL == 0)) || printf '  failed: %s\n' "${FAILED[@]}"
((FAIL == 0))
