#!/usr/bin/env bash
# test_methods_cli — `carve baseline` end to end: one-line errors with exit status 2 for bad
# input (unknown method, missing calibration file, budget out of range is a usage error, 1),
# `carve prune --method shortgpt` reaching the registry, and on stories260K (skipped when ../shared is absent) a ULS and a SLEB run at 0.8 whose
# subnet.json / result.json agree with `carve info` and say one layer of five was removed.
set -u
C=${CARVE:?}; T=${CARVE_TEST_TMP:-/tmp}/methods_cli.$$
S=${CARVE_SHARED:-../shared}
mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }
M=$S/models/stories260K/stories260K.bin
CAL=$S/data/tinystories/calib.txt

"$C" baseline --help | grep -q "shortgpt" || fail "--help lists no methods"
"$C" baseline --model x --method nope --budget 0.5 --calib c --out "$T/o" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "unknown method: exit $rc"
[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "unknown method 'nope'" "$T/err" || fail "unknown method message: $(cat "$T/err")"
"$C" baseline --model x --method uls --budget 1.5 --calib c --out "$T/o" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] || fail "budget 1.5: exit $rc"
"$C" baseline --model x --method carve-ga --budget 0.5 --calib c --out "$T/o" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "carve search" "$T/err" || fail "carve-ga via baseline: exit $rc $(cat "$T/err")"

[ -f "$M" ] && [ -f "$CAL" ] || { echo "skip: ../shared absent"; exit 77; }
"$C" baseline --model "$M" --method uls --budget 0.5 --calib "$T/missing.txt" --out "$T/o" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "missing.txt" "$T/err" || fail "missing calib: exit $rc $(cat "$T/err")"
for meth in uls sleb; do
    "$C" baseline --model "$M" --method $meth --budget 0.8 --calib "$CAL" --n 8 --len 64 --out "$T/$meth" \
        >"$T/$meth.log" 2>&1 || fail "$meth: $(cat "$T/$meth.log")"
    [ -f "$T/$meth/subnet.json" ] && [ -f "$T/$meth/result.json" ] || fail "$meth: no output files"
    "$PYTHON" - "$T/$meth" "$meth" <<'PY' || fail "$meth: result check"
import json, sys
d, meth = sys.argv[1], sys.argv[2]
r = json.load(open(d + "/result.json"))
s = json.load(open(d + "/subnet.json"))
off = [i for i, l in enumerate(s["layers"]) if l.get("attn") is False and l.get("mlp") is False]
assert r["method"] == meth and len(off) == 1, (r, off)
assert abs(r["budget"] - (227264 - 45440) / 227264) < 1e-9, r["budget"]
if meth == "uls":
    assert off == [2], off
else:
    assert r["calib_evals"] == 5 and r["calib_ppl"] > 1, r
PY
done
"$C" info --model "$M" --subnet "$T/uls/subnet.json" >"$T/info" || fail "info on the subnet"
# carve prune --method NAME hands registry methods to carve baseline; --out FILE.json form
"$C" prune --model "$M" --method shortgpt --budget 0.6 --calib "$CAL" --n 8 --len 64 --cache-dir "$T/cache" \
    --out "$T/sg.json" >"$T/sg.log" 2>&1 || fail "prune --method shortgpt: $(cat "$T/sg.log")"
grep -q '"method": "shortgpt"' "$T/sg.result.json" || fail "prune --method shortgpt: no result file"
"$PYTHON" -c 'import json,sys; s=json.load(open(sys.argv[1])); assert sum(1 for l in s["layers"] if l.get("attn") is False and l.get("mlp") is False) == 2' "$T/sg.json" \
    || fail "shortgpt at 0.6 did not remove two layers"
# the method configs: searches run in carve search, a baseline's config is refused there by name;
# their files come into a tree of their own through the mirror, as `make models` fetches them
ROOT=$PWD
CARVE_MIRROR=${CARVE_MIRROR:-$S} "$PYTHON" scripts/fetch.py --root "$T/tree" models/stories260K data/tinystories >"$T/fetch" 2>&1 \
    || fail "fetch through the mirror: $(cat "$T/fetch")"
cd "$T/tree"
"$C" search "$ROOT/configs/method-carve-ga.yaml" --dry-run >"$T/dry" 2>&1 || fail "carve search method-carve-ga.yaml: $(cat "$T/dry")"
"$C" search "$ROOT/configs/method-sleb.yaml" --dry-run 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "method-sleb.yaml:4:9: method 'sleb' is not a search" "$T/err" \
    || fail "carve search method-sleb.yaml: exit $rc $(cat "$T/err")"
echo ok
