#!/usr/bin/env bash
# A short run of every fuzz target (fuzz/) from the committed seed corpus (fuzz/seeds/TARGET)
# into a scratch corpus, with cargo-fuzz on the stable toolchain (`-s none`: libFuzzer's
# coverage guidance without a sanitizer, which needs nightly). The runs are deterministic (a
# fixed -seed and a fixed number of inputs, not a time budget), so the suite cannot flake: it
# fails only when the code changed so that these inputs find a crash, a panic, a hang or the
# 2 GB RSS limit. The input is kept under fuzz/artifacts/TARGET and becomes a regression test
# and seed. EPASS2003_FUZZ_RUNS (default 100000; token_session, which drives the whole token
# layer, a hundredth) sets the inputs per target; `cargo +nightly fuzz run TARGET` for long
# runs (fuzz/README.md).
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
RUNS=${EPASS2003_FUZZ_RUNS:-100000}

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
    local runs=$RUNS
    [ "$t" = token_session ] && runs=$((RUNS / 100))
    cargo fuzz run -s none "$t" "$corpus" "${seeds[@]}" -- \
        -seed=1 -runs="$runs" -max_total_time=120 -rss_limit_mb=2048 -timeout=20 \
        -print_final_stats=1 2>&1 |
        tail -n 25
    return "${PIPESTATUS[0]}"
}
for t in $(cargo fuzz list); do
    check "fuzz $t (seed 1, $RUNS inputs): no crash, panic or hang" run_target "$t"
done
check_summary
