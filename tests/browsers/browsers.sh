#!/usr/bin/env bash
# Real browsers, client-certificate authentication with the key on the emulated token, under Xvfb:
#   Firefox ESR and Chromium (Debian packages) each load OUR module (target/release/
#   libepass2003_pkcs11.so) from their NSS database (modutil), open a page of a local server that
#   requires a client certificate (tests/browsers/mtls_server.py: TLS 1.3, no tickets, no session
#   cache, `Connection: close`), get the PIN typed into their own prompt (xdotool), and are served
#   the page showing the subject the server verified (checked in the server's log; screenshots kept
#   as artefacts). A second request inside the authentication timeout is a new full handshake that
#   asks nothing; after the timeout the next full handshake asks for the PIN again.
#   Tokens: a PKCS#15 token (epass2003-tool init + import of a PFX, `timeout 1`: the token's own
#   1-minute timeout, in Firefox; Chromium overrides it with `auth_timeout_secs`), and a token in
#   Feitian's middleware layout (ENTERSAFE-ESPK; key generated on the card, certificate issued by
#   the local CA: crates/pkcs15/examples/espk_personalise.rs), in Firefox.
# The library finds the token through the config file in the browser's $HOME
# (~/.config/epass2003/pkcs11.conf), the route of a browser started from a desktop; no
# EPASS2003_* variable reaches the browsers.
#
# Expects $WORK (ci/lib/common.sh). Starts and stops its own Xvfb, server and browsers; puts a
# Chromium policy file in /etc/chromium/policies/managed for its run and removes it.
# Artefacts (screenshots, server log): $EPASS2003_ARTEFACTS/browsers, default target/artefacts/browsers.
# Prints one line per check and "N passed, M failed".
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e
MOD=${MOD:-$RELEASE_DIR/libepass2003_pkcs11.so}
TOOL=${TOOL:-$RELEASE_DIR/epass2003-tool}
D="$WORK/browsers"
ART="${EPASS2003_ARTEFACTS:-$ROOT/target/artefacts}/browsers"
rm -rf "$D"
mkdir -p "$D" "$ART"
rm -f "$ART"/*.png "$ART"/server.log
check_start browsers "$D/logs"
PIN=123456
SO_PIN=87654321
FEITIAN_PIN=12345678 # the vendor's factory default user PIN
SHORT_TIMEOUT=10     # seconds: auth_timeout_secs for the Chromium and Feitian runs
# Chromium reads every file there; where several set one policy, the file last in alphabetical
# order wins (no merge): "zz-" keeps ours last.
POLICY=/etc/chromium/policies/managed/zz-epass2003-browser-test-$$.json
BROWSER_PGID=""

browsers_cleanup() {
    local rc=$?
    [ -n "$BROWSER_PGID" ] && kill -- "-$BROWSER_PGID" 2>/dev/null
    rm -f "$POLICY"
    (exit "$rc")
    cleanup
}
trap browsers_cleanup EXIT INT TERM

for c in firefox-esr chromium Xvfb xdotool import certutil modutil openssl python3; do
    command -v "$c" >/dev/null || { echo "FAIL [browsers] $c is not installed"; exit 1; }
done
[ -f "$MOD" ] && [ -x "$TOOL" ] || { echo "FAIL [browsers] $MOD / $TOOL not built"; exit 1; }

check "build the Feitian-layout personalisation helper (pkcs15 example espk_personalise)" \
    cargo build --release --quiet -p pkcs15 --example espk_personalise
ESPK="$RELEASE_DIR/examples/espk_personalise"

# --- PKI: a local CA, the server's certificate (127.0.0.1), the user's PFX -----------------------
make_pki() {
    cat > "$D/ext.cnf" <<'EOF'
[server]
basicConstraints = CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
[client]
basicConstraints = CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
EOF
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/ca.key" -out "$D/ca.crt" -days 2 \
        -subj "/O=epass2003-rs test/CN=Browser Test CA" \
        -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
    openssl req -new -newkey rsa:2048 -nodes -keyout "$D/server.key" -subj "/CN=127.0.0.1" -out "$D/server.csr" &&
    openssl x509 -req -in "$D/server.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -days 2 \
        -extfile "$D/ext.cnf" -extensions server -out "$D/server.crt" &&
    openssl req -new -newkey rsa:2048 -nodes -keyout "$D/user.key" -out "$D/user.csr" \
        -subj "/O=epass2003-rs test/CN=Browser User" &&
    openssl x509 -req -in "$D/user.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -days 2 \
        -extfile "$D/ext.cnf" -extensions client -out "$D/user.crt" &&
    openssl pkcs12 -export -inkey "$D/user.key" -in "$D/user.crt" -name "Browser User" \
        -passout pass:pfxpass -out "$D/user.p12" &&
    rm -f "$D/user.key"
}
check "local CA, server certificate for 127.0.0.1, user PFX (CN=Browser User)" make_pki

# --- Token A: PKCS#15, initialised by the tool, the PFX imported, a 1-minute timeout -------------
P15="$D/pkcs15.state"
TOOLENV=(env EPASS2003_EMULATOR="$P15" EPASS2003_PCSC=0)
check "PKCS#15 token: epass2003-tool init" \
    "${TOOLENV[@]}" EPASS2003_NEW_SO_PIN=$SO_PIN EPASS2003_NEW_PIN=$PIN "$TOOL" --yes init --label "browser test"
check "PKCS#15 token: epass2003-tool import of the PFX" \
    "${TOOLENV[@]}" EPASS2003_PIN=$PIN EPASS2003_P12_PASSWORD=pfxpass "$TOOL" --yes import "$D/user.p12"
timeout_1min() {
    "${TOOLENV[@]}" EPASS2003_PIN=$PIN EPASS2003_SO_PIN=$SO_PIN "$TOOL" timeout 1 &&
    "${TOOLENV[@]}" "$TOOL" info | tee "$D/p15-info.txt" && grep -Eq "Inactivity timeout: *1 minute" "$D/p15-info.txt"
}
check "PKCS#15 token: epass2003-tool timeout 1 (the minimum: 1 minute, stored on the token)" timeout_1min

# --- Token B: Feitian's middleware layout, key generated on the card, certificate from the CA ----
ESPK_STATE="$D/feitian.state"
feitian_token() {
    "$ESPK" --state "$ESPK_STATE" --label "Feitian token" --key-label "Feitian User" \
        --issuer-cmd "openssl pkey -pubin -inform DER -out '$D/espk-pub.pem' &&
            openssl x509 -new -subj '/O=epass2003-rs test/CN=Feitian User' -force_pubkey '$D/espk-pub.pem' \
            -CA '$D/ca.crt' -CAkey '$D/ca.key' -days 2 -extfile '$D/ext.cnf' -extensions client -outform DER" &&
    env EPASS2003_EMULATOR="$ESPK_STATE" EPASS2003_PCSC=0 "$TOOL" info | tee "$D/espk-info.txt" &&
    grep -q "Layout: *Feitian middleware (ENTERSAFE-ESPK)" "$D/espk-info.txt" &&
    env EPASS2003_EMULATOR="$ESPK_STATE" EPASS2003_PCSC=0 EPASS2003_PIN=$FEITIAN_PIN "$TOOL" certs list |
        tee "$D/espk-certs.txt" && grep -q "CN=Feitian User" "$D/espk-certs.txt"
}
check "Feitian-layout token (ENTERSAFE-ESPK): RSA-2048 key generated on the card, certificate from the CA" feitian_token

# --- Xvfb and the server ------------------------------------------------------------------------
start_x_and_server() {
    Xvfb -displayfd 3 -screen 0 1280x900x24 -nolisten tcp 3> "$D/display" > "$D/xvfb.log" 2>&1 &
    PIDS+=("$!")
    python3 "$HERE/mtls_server.py" "$D/port" "$D/server.crt" "$D/server.key" "$D/ca.crt" \
        > "$D/server.log" 2>&1 &
    PIDS+=("$!")
    for _ in $(seq 100); do
        [ -s "$D/display" ] && [ -s "$D/port" ] && break
        sleep 0.1
    done
    [ -s "$D/display" ] && [ -s "$D/port" ] || { cat "$D/xvfb.log" "$D/server.log"; return 1; }
    DISPLAY=":$(head -1 "$D/display")"
    PORT=$(cat "$D/port")
    export DISPLAY
    echo "DISPLAY=$DISPLAY server https://127.0.0.1:$PORT/"
}
check "Xvfb and the HTTPS server (client certificate required) on 127.0.0.1" start_x_and_server
[ -n "${PORT:-}" ] || { check_summary; exit 1; }
URL="https://127.0.0.1:$PORT"

# --- The browser steps ----------------------------------------------------------------------------
# wait_window REGEX SECS: print the id of the first window whose name matches.
wait_window() {
    local w
    for _ in $(seq $(($2 * 4))); do
        w=$(xdotool search --name "$1" 2>/dev/null | head -1)
        [ -n "$w" ] && { echo "$w"; return 0; }
        sleep 0.25
    done
    return 1
}
# served PATH SECS: wait until the server logged a verified request for PATH with SUBJECT, on a
# full (not resumed) handshake completed after $MIN_HS (unix time; the request's own connection,
# not one opened earlier).
served() {
    for _ in $(seq $(($2 * 4))); do
        grep -F "VERIFIED path=$1 " "$D/server.log" | grep -F "commonName=$SUBJECT_CN'" |
            grep "resumed=False" | sed -n 's/.*handshake_at=\([0-9.]*\).*/\1/p' |
            awk -v min="${MIN_HS:-0}" '$1 > min {found=1} END {exit !found}' &&
            { grep -F "VERIFIED path=$1 " "$D/server.log"; echo "handshake after $MIN_HS"; return 0; }
        sleep 0.25
    done
    echo "the server verified no request for $1 from CN=$SUBJECT_CN on a full handshake after ${MIN_HS:-0}"
    cat "$D/server.log"
    echo "windows: $(xdotool search --name . getwindowname %@ 2>/dev/null | sort -u | tr '\n' '|')"
    shot "$RUN-not-served"
    return 1
}
shot() { # shot NAME: screenshot of the whole screen into the artefacts
    import -window root "$ART/$1.png" && [ "$(stat -c %s "$ART/$1.png")" -gt 10000 ] &&
    echo "artefact: $ART/$1.png"
}
type_pin() { # type_pin WINDOW PIN: type into the prompt, which must then close
    sleep 0.5
    xdotool windowfocus --sync "$1" && xdotool type --delay 30 "$2" && xdotool key Return || return 1
    for _ in $(seq 40); do
        xdotool getwindowname "$1" >/dev/null 2>&1 || return 0
        sleep 0.25
    done
    echo "the PIN prompt did not close"; shot "$RUN-prompt-stuck"; return 1
}
# goto PATH: type the URL into the address bar of the browser's window (titled by the page).
goto() {
    local w
    MIN_HS=$(date +%s.%N)
    w=$(xdotool search --name "epass2003 browser test" 2>/dev/null | head -1)
    [ -n "$w" ] || { echo "no browser window showing the test page"; return 1; }
    xdotool windowfocus --sync "$w" && xdotool key ctrl+l && sleep 0.3 &&
    xdotool type --delay 5 "$URL$1" && xdotool key Return
}

# nss_profile DB STATE [TIMEOUT_SECS]: a fresh NSS database with the CA trusted and the module
# registered, and the library's config file in the browser's $HOME ($BHOME).
nss_profile() {
    local db=$1 state=$2 secs=${3:-}
    mkdir -p "$db" "$BHOME/.config/epass2003"
    {
        echo "emulator = $state"
        echo "pcsc = no"
        [ -n "$secs" ] && echo "auth_timeout_secs = $secs"
    } > "$BHOME/.config/epass2003/pkcs11.conf"
    certutil -N -d "sql:$db" --empty-password &&
    certutil -A -d "sql:$db" -n "Browser Test CA" -t "CT,," -i "$D/ca.crt" &&
    HOME=$BHOME modutil -dbdir "sql:$db" -add "ePass2003" -libfile "$MOD" -force &&
    HOME=$BHOME modutil -dbdir "sql:$db" -list "ePass2003" | tee "$D/$RUN-modutil.txt" &&
    grep -q "Token Name: $TOKEN_LABEL" "$D/$RUN-modutil.txt"
}

firefox_setup() { # firefox_setup STATE [TIMEOUT_SECS]
    PROFILE="$BHOME/profile"
    nss_profile "$PROFILE" "$@" || return 1
    cat > "$PROFILE/user.js" <<'JS'
user_pref("security.default_personal_cert", "Select Automatically");
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.policy.dataSubmissionPolicyBypassNotification", true);
user_pref("datareporting.policy.firstRunURL", "");
user_pref("browser.startup.page", 0);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.enabled", false);
user_pref("app.update.auto", false);
user_pref("extensions.update.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("security.osclientcerts.autoload", false);
JS
}
firefox_start() { # firefox_start PATH
    env -u EPASS2003_EMULATOR -u EPASS2003_PCSC -u EPASS2003_CONF HOME="$BHOME" MOZ_CRASHREPORTER_DISABLE=1 \
        setsid firefox-esr -no-remote -profile "$PROFILE" "$URL$1" > "$D/$RUN-browser.log" 2>&1 &
    BROWSER_PGID=$!
}
chromium_setup() { # chromium_setup STATE [TIMEOUT_SECS]
    nss_profile "$BHOME/.pki/nssdb" "$@" || return 1
    mkdir -p "$(dirname "$POLICY")"
    # Pick the token's certificate for this server without a dialog.
    printf '{ "AutoSelectCertificateForUrls": ["{\\"pattern\\":\\"%s\\",\\"filter\\":{\\"ISSUER\\":{\\"CN\\":\\"Browser Test CA\\"}}}"] }\n' \
        "$URL" > "$POLICY" && cat "$POLICY" && python3 -m json.tool "$POLICY" >/dev/null
}
chromium_start() {
    env -u EPASS2003_EMULATOR -u EPASS2003_PCSC -u EPASS2003_CONF HOME="$BHOME" \
        setsid chromium --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --user-data-dir="$BHOME/udd" \
        "$URL$1" > "$D/$RUN-browser.log" 2>&1 &
    BROWSER_PGID=$!
}
browser_stop() {
    [ -n "$BROWSER_PGID" ] || return 0
    kill -- "-$BROWSER_PGID" 2>/dev/null
    for _ in $(seq 40); do kill -0 "$BROWSER_PGID" 2>/dev/null || break; sleep 0.25; done
    kill -9 -- "-$BROWSER_PGID" 2>/dev/null
    wait "$BROWSER_PGID" 2>/dev/null
    BROWSER_PGID=""
}

# first_page: the prompt appears, the PIN is typed, the page is served.
first_page() {
    local w
    MIN_HS=$(date +%s.%N)
    "${KIND}_start" "/$RUN-1"
    w=$(wait_window "$PROMPT" 60) || { echo "no PIN prompt \"$PROMPT\""; shot "$RUN-no-prompt"; return 1; }
    echo "PIN prompt window $w: $(xdotool getwindowname "$w")"
    shot "$RUN-0-pin-prompt"
    type_pin "$w" "$RUN_PIN"
}
page_shown() { # page_shown N
    served "/$RUN-$1" 30 && sleep 1.5 && shot "$RUN-$1-page" &&
    { [ -z "$(xdotool search --name "$PROMPT" 2>/dev/null)" ] || { echo "a PIN prompt is still open"; return 1; }; }
}
# within_timeout: a new connection (full handshake) before the timeout: served, nothing asked.
within_timeout() {
    goto "/$RUN-2" && served "/$RUN-2" 20 || return 1
    if xdotool search --name "$PROMPT" >/dev/null 2>&1; then echo "the PIN was asked again"; return 1; fi
    sleep 1.5 && shot "$RUN-2-page"
}
# after_timeout: wait past it, a new full handshake: the PIN is asked again before anything is served.
after_timeout() {
    local w last wait_s
    # The last signature is the last successful handshake (a browser may pre-connect after a page
    # load, and every handshake signs and restarts the token's clock).
    while :; do
        last=$(sed -n 's/^HANDSHAKE .* at=\([0-9]*\).*/\1/p' "$D/server.log" | tail -1)
        wait_s=$((${last:-0} + RUN_TIMEOUT + 2 - $(date +%s)))
        ((wait_s > 0)) || break
        echo "last signature at $last: waiting ${wait_s}s past the ${RUN_TIMEOUT}s timeout"
        sleep "$wait_s"
    done
    goto "/$RUN-3" || return 1
    w=$(wait_window "$PROMPT" 30) || { echo "no PIN prompt after the timeout"; shot "$RUN-3-no-prompt"; return 1; }
    echo "PIN prompt window $w: $(xdotool getwindowname "$w")"
    if grep -qF "VERIFIED path=/$RUN-3 " "$D/server.log"; then echo "served before the PIN was typed"; return 1; fi
    shot "$RUN-3-pin-prompt-again" && type_pin "$w" "$RUN_PIN"
}

step() { # check, and fail if it failed
    local before=$FAIL
    check "$@"
    ((FAIL == before))
}
# run_browser RUN KIND STATE TOKEN_LABEL PIN SUBJECT_CN PROMPT TIMEOUT [SECS_OVERRIDE]
run_browser() {
    RUN=$1 KIND=$2 TOKEN_LABEL=$4 RUN_PIN=$5 SUBJECT_CN=$6 PROMPT=$7 RUN_TIMEOUT=$8
    local state=$3 secs=${9:-} what
    BHOME="$D/$RUN-home"
    if [ "$KIND" = chromium ]; then
        what="module in \$HOME/.pki/nssdb (modutil), CA trusted, AutoSelectCertificateForUrls policy"
    else
        what="module in the profile's NSS db (modutil), CA trusted, security.default_personal_cert"
    fi
    # The steps depend on each other: the first failure ends this browser's run.
    step "$RUN: $what" "${KIND}_setup" "$state" "$secs" &&
    step "$RUN: the browser's PIN prompt appears, the PIN is typed into it" first_page &&
    step "$RUN: page served, the server verified CN=$SUBJECT_CN (TLS 1.3, full handshake)" page_shown 1 &&
    step "$RUN: new connection inside the timeout: full handshake, page served, no PIN asked" within_timeout &&
    step "$RUN: after the ${RUN_TIMEOUT}s timeout a new full handshake asks for the PIN again" after_timeout &&
    step "$RUN: page served again after the PIN" page_shown 3
    browser_stop
    [ "$KIND" = chromium ] && rm -f "$POLICY"
    return 0
}

# BROWSER_RUNS chooses runs (default all three), e.g. BROWSER_RUNS=chromium; EPASS2003_LOG reaches
# the browsers (the library's trace goes to RUN-browser.log).
RUNS=${BROWSER_RUNS:-firefox chromium feitian-firefox}
START=$(date +%s)
[[ " $RUNS " == *" firefox "* ]] &&
    run_browser firefox firefox "$P15" "browser test" "$PIN" "Browser User" \
        '^Password Required' 60
[[ " $RUNS " == *" chromium "* ]] &&
    run_browser chromium chromium "$P15" "browser test" "$PIN" "Browser User" \
        '^Unlock Security Device' "$SHORT_TIMEOUT" "$SHORT_TIMEOUT"
[[ " $RUNS " == *" feitian-firefox "* ]] &&
    run_browser feitian-firefox firefox "$ESPK_STATE" "Feitian token" "$FEITIAN_PIN" "Feitian User" \
        '^Password Required' "$SHORT_TIMEOUT" "$SHORT_TIMEOUT"
echo "browser runs took $(($(date +%s) - START)) s"

cp "$D/server.log" "$ART/server.log"
check "the Chromium policy file is removed" test ! -e "$POLICY"
echo "artefacts (screenshots, server log) in $ART:"
ls "$ART" | sed 's/^/  /'
check_summary
