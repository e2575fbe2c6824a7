#!/usr/bin/env bash
# A short run of every fuzz target (fuzz/): seconds each from the committed seed corpus
# (fuzz/seeds/TARGET) into a scratch corpus, with cargo-fuzz on the stable toolchain
# (`-s none`: libFuzzer's coverage guidance without a sanitizer, which needs nightly). A crash,
# a panic or a leak of the 2 GB RSS limit fails the run; the input is kept under
# fuzz/artifacts/TARGET and becomes a regression test. EPASS2003_FUZZ_SECONDS (default 4)
# sets the time per target; `cargo +nightly fuzz run TARGET` for long runs (fuzz/README.md).
#
# Expects ci/lib/common.sh's $WORK. Prints one line per target and "N passed, M failed".
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../ci/lib/common.sh
source "$HERE/../../ci/lib/common.sh"
set +e
D="$WORK/fuzz"
mkdir -p "$D"
check_start fuzz "$D"
SECS=${EPASS2003_FUZZ_SECONDS:-4}

have_cargo_fuzz() {
    command -v cargo-fuzz > /dev/null || cargo install --locked cargo-fuzz
}
check "cargo-fuzz installed (crates.io)" have_cargo_fuzz
cd "$ROOT/fuzz" || exit 1
check "every target builds (cargo fuzz build -s none)" cargo fuzz build -s none

run_target() { # run_target TARGET
    local t=$1 corpus="$D/corpus/$1"
    mkdir -p "$corpus"
    local seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    cargo fuzz run -s none "$t" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 2>&1 |
        tail -n 25
    return "${PIPESTATUS[0]}"
}
for t in $(cargo fuzz list); do
    check "fuzz $t for ${SECS}s: no crash, panic or hang" run_target "$t"
done
check_summary
