#!/usr/bin/env bash
# The driver's PC/SC suite (crates/epass2003, `#[ignore]` tests) against two emulated cards in
# vpcd's two readers of a running pcscd. Expects $EMU and $WORK (ci/lib/common.sh).
source "$(dirname "$0")/../../ci/lib/common.sh"
cd "$ROOT"
rc=0
for v in aes fips des; do
    s0="$WORK/pcsc-$v-0.state"; s1="$WORK/pcsc-$v-1.state"
    rm -f "$s0" "$s1"
    "$EMU" new --state "$s0" --variant "$v" >/dev/null
    "$EMU" new --state "$s1" --variant "$v" >/dev/null
    attach_card "$s0" 35963; p0=$CARD_PID
    attach_card "$s1" 35964; p1=$CARD_PID
    log "driver PC/SC tests, $v variant"
    EPASS2003_TEST_READER="Virtual PCD 00 00" EPASS2003_TEST_READER2="Virtual PCD 00 01" \
        cargo test --release -p epass2003 -- --ignored --test-threads=1 || rc=1
    detach_card "$p0" 35963; detach_card "$p1" 35964
done
exit $rc
