#!/usr/bin/env bash
# reform_table.sh — held-out perplexity of saliency-pruned stories260K subnets before and after
# reformation (acceptance table): masks from `carve prune --method saliency` at 90/80/70/60/50% of
# the non-embedding parameters (calibration: calib.txt, 32 x 256 tokens, seed 1), with FLAP's
# bias compensation alone (--fit bias), reformed one-shot (exact ridge) without and with the
# intercept (--fit weights / weights+bias), one-shot ADMM (rho 1, 30 iterations; weights only) and
# sequential (exact) without and with the intercept, each evaluated on valid.txt (all 621 windows
# of 256 tokens). Also the LLM-Streamline comparison:
# the span with the highest boundary cosine removed plainly vs replaced by a fitted linear map.
# Prints a Markdown table. Usage: [CARVE=binary] bench/reform_table.sh [shared-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${1:-../shared}
M=$SHARED/models/stories260K/stories260K.bin
C=$SHARED/data/tinystories/calib.txt
V=$SHARED/data/tinystories/valid.txt
[ -f "$M" ] || { echo "reform_table: $M not found" >&2; exit 1; }
if [ -z "${CARVE:-}" ]; then make -s carve; CARVE=./carve; fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/reform-table.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export CARVE_CACHE_DIR=$TMP/cache
dense=$("$CARVE" eval --model "$M" --text "$V" --seq-len 256 | sed -n 's/^ppl=\([^ ]*\).*/\1/p')
echo "dense stories260K held-out ppl (valid.txt, 256-token windows): $dense"
echo
echo "| budget | kept params | no reformation | bias only (FLAP's compensation) | one-shot exact | one-shot exact + intercept | one-shot ADMM-30 | sequential exact | sequential + intercept |"
echo "|---|---|---|---|---|---|---|---|---|"
for b in 0.9 0.8 0.7 0.6 0.5; do
    kept=$("$CARVE" prune --model "$M" --method saliency --budget $b --calib "$C" --out "$TMP/s.json" 2>/dev/null |
        sed -n 's/.*kept_params=\([^ ]*\).*/\1/p')
    row=()
    for args in "--fit bias" "--fit weights" "--fit weights+bias" "--method admm" "--mode sequential --fit weights" \
                "--mode sequential --fit weights+bias"; do
        line=$("$CARVE" reform --model "$M" --subnet "$TMP/s.json" --calib "$C" $args --eval "$V" 2>/dev/null)
        before=$(sed -n 's/.*ppl_before=\([^ ]*\).*/\1/p' <<<"$line")
        row+=("$(sed -n 's/.*ppl_after=\([^ ]*\).*/\1/p' <<<"$line")")
    done
    echo "| $b | $kept | $before | ${row[0]} | ${row[1]} | ${row[2]} | ${row[3]} | ${row[4]} | ${row[5]} |"
done
echo
# LLM-Streamline: best span of n layers by boundary cosine, n = 1 and 2
json=$("$CARVE" importance --model "$M" --calib "$C" --json 2>/dev/null)
echo "| span removed (LLM-Streamline pick) | plain removal | replaced by fitted linear map |"
echo "|---|---|---|"
for n in 1 2; do
    first=$(python3 -c "
import json,sys
d=json.loads(sys.argv[1]); bc=d['boundary_cos']; L=len(bc)-1; n=int(sys.argv[2])
print(max(range(L-n+1), key=lambda i: bc[i][i+n]))" "$json" $n)
    line=$("$CARVE" reform --model "$M" --replace-span "$first:$n" --calib "$C" --eval "$V" 2>/dev/null)
    echo "| layers [$first, $((first + n))) | $(sed -n 's/.*ppl_before=\([^ ]*\).*/\1/p' <<<"$line") | $(sed -n 's/.*ppl_after=\([^ ]*\).*/\1/p' <<<"$line") |"
done
