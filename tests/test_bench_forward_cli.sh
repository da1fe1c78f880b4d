#!/usr/bin/env bash
# test_bench_forward_cli — `carve bench-forward` (the engine of bench/forward.sh) on a tiny
# generated model: it prints every documented field, its "flops50" subnet really costs at most
# half the dense FLOPs and "layers50" keeps half of every layer's heads and channels; bad input
# exits non-zero with a one-line error (plus the usual "try --help" hint for usage errors). No timing is asserted (speed lives in bench/).
set -u
CARVE=${CARVE:-./carve}
T=$(mktemp -d "${CARVE_TEST_TMP:-/tmp}/benchfwd.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail=0
"$CARVE" synth --shape tiny --dtype bf16 --seed 3 --out "$T/m" --quiet || { echo "FAIL synth"; exit 1; }

if ! "$CARVE" bench-forward --model "$T/m" --seq-len 48 --reps 2 >"$T/out" 2>"$T/err"; then
    echo "FAIL bench-forward: $(cat "$T/err")"; fail=1
fi
cat "$T/out"
for field in "sgemm_ceiling_gflops=" "dense: seconds=" "share_of_ceiling=" "subnet layers50:" "subnet flops50:" \
    "time_ratio=" "layers_time_ratio=" "peak_rss_mb="; do
    grep -q -- "$field" "$T/out" || { echo "FAIL missing field $field"; fail=1; }
done
# tiny: 4 heads, 176 channels per layer
grep -q "subnet layers50: keep_heads=2/4 keep_channels=88/176 " "$T/out" || { echo "FAIL layers50 is not half of every layer"; fail=1; }
r=$(sed -n 's/^subnet flops50: .*flops_ratio=\([0-9.]*\) .*/\1/p' "$T/out")
if [ -z "$r" ] || ! awk -v r="$r" 'BEGIN { exit !(r > 0.3 && r <= 0.5) }'; then
    echo "FAIL flops50 FLOP ratio '$r' not in (0.3, 0.5]"; fail=1
fi

expect_fail() { # name, stderr pattern, carve args...
    local name=$1 pat=$2; shift 2
    "$CARVE" "$@" >"$T/o" 2>"$T/e"; local rc=$?
    # one line naming the problem (usage errors add the "try --help" hint on a second line)
    if [ $rc -eq 0 ] || ! head -1 "$T/e" | grep -q -- "$pat" || { [ "$(wc -l <"$T/e")" -gt 1 ] &&
        ! sed -n 2p "$T/e" | grep -q -- "--help"; }; then
        echo "FAIL $name: exit $rc: $(cat "$T/e")"; fail=1
    else echo "ok   $name: $(head -1 "$T/e")"; fi
}
expect_fail "no model" "--model" bench-forward --seq-len 8
expect_fail "missing model" "nope" bench-forward --model "$T/nope" --seq-len 8
expect_fail "bad seq-len" "seq-len" bench-forward --model "$T/m" --seq-len 0
"$CARVE" bench-forward --help | grep -q "usage: carve bench-forward" || { echo "FAIL --help"; fail=1; }
exit $fail
