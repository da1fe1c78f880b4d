#!/usr/bin/env bash
# test_export_cli — `carve export` refuses bad input with one line and exit 2 (usage errors
# exit 1), writes nothing half-way (no output, no temporary left behind) and replaces an
# existing output only with --force.
set -u
cd "$(dirname "$0")/.."
. tests/export_fixtures.inc
fails=0
expect() { # WANT_RC PATTERN CMD... : exit status and a one-line message matching PATTERN
    local want=$1 pat=$2; shift 2
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne "$want" ] || ! grep -q -- "$pat" <<<"$err" || { [ "$want" = 2 ] && [ "$(wc -l <<<"$err")" -ne 1 ]; }; then
        echo "FAILED: $* -> rc $rc (want $want), stderr: $err (want /$pat/)"; fails=$((fails+1))
    else echo "ok: rc $rc: $err" | head -1; fi
}
no_leftovers() { # nothing named like the output or its temporary exists
    if compgen -G "$T/$1*" >/dev/null; then echo "FAILED: left behind: $(ls -d "$T/$1"*)"; fails=$((fails+1)); fi
}
E="$CARVE export --model $M"

# existing output: refused without --force (and left untouched), replaced with it
echo old > "$T/out.gguf"
expect 2 "out.gguf: already exists (use --force" $E --format gguf --out "$T/out.gguf"
[ "$(cat "$T/out.gguf")" = old ] || { echo "FAILED: existing output modified"; fails=$((fails+1)); }
$E --format gguf --out "$T/out.gguf" --force >/dev/null || { echo "FAILED: --force"; fails=$((fails+1)); }
[ "$(head -c 4 "$T/out.gguf")" = GGUF ] || { echo "FAILED: --force did not replace the file"; fails=$((fails+1)); }
mkdir -p "$T/outdir"; echo stale > "$T/outdir/stale.txt"
expect 2 "outdir: already exists (use --force" $E --format hf --out "$T/outdir"
$E --format hf --out "$T/outdir" --force >/dev/null || { echo "FAILED: hf --force"; fails=$((fails+1)); }
[ -f "$T/outdir/config.json" ] && [ ! -e "$T/outdir/stale.txt" ] || { echo "FAILED: hf --force did not replace the directory"; fails=$((fails+1)); }
ls "$T" | grep -q '\.tmp\.\|\.old\.' && { echo "FAILED: temporaries left: $(ls "$T")"; fails=$((fails+1)); }

# a subnet written for another model
expect 2 "other.json" $E --subnet "$T/other.json" --no-reform --format gguf --out "$T/o1.gguf"
no_leftovers o1
expect 2 "other.json" $E --subnet "$T/other.json" --no-reform --format hf --out "$T/o2"
no_leftovers o2
# kept heads spread unevenly over their KV heads: written with duplicated KV heads, same ppl
jppl() { "$CARVE" eval --model "$1" --text "$TXT" --seq-len 128 --max-windows 4 --json "${@:2}" |
         "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["ppl"])'; }
if $E --subnet "$T/unequal.json" --no-reform --format gguf --out "$T/o3.gguf" >/dev/null; then
    a=$(jppl "$M" --subnet "$T/unequal.json"); b=$(jppl "$T/o3.gguf")
    "$PYTHON" -c 'import sys; a,b=map(float,sys.argv[1:3]); sys.exit(0 if abs(a-b) <= 1e-4*abs(a) else 1)' "$a" "$b" ||
        { echo "FAILED: unequal GQA groups: GGUF ppl $b != $a in place"; fails=$((fails+1)); }
    echo "ok: unequal GQA groups: ppl in place $a, GGUF $b"
else echo "FAILED: unequal GQA groups not exported as GGUF"; fails=$((fails+1)); fi
# missing or broken inputs
expect 2 "nope.bin: no such file" $CARVE export --model "$T/nope.bin" --format gguf --out "$T/o4.gguf"
expect 2 "missing.json" $E --subnet "$T/missing.json" --no-reform --format hf --out "$T/o5"
no_leftovers o4; no_leftovers o5
# an output directory that cannot be created
expect 2 "o6" $E --format gguf --out "$T/no/such/dir/o6.gguf"
# usage errors
expect 1 "--format expects hf or gguf" $E --format onnx --out "$T/o7"
expect 1 "missing --out" $E --format hf
expect 1 "--dtype expects" $E --format hf --out "$T/o8" --dtype f8
expect 1 "--manifest applies to --format gguf" $E --format hf --out "$T/o9" --manifest "$T/m.json"
expect 1 "reformation needs calibration text" $E --subnet "$T/hetero.json" --format hf --out "$T/o11"
expect 1 "either DB ID or --model" $CARVE export db.sqlite 3 --model "$M" --format hf --out "$T/o10"
[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all bad-input cases handled"
