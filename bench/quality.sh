#!/usr/bin/env bash
# quality.sh — the measured quality benchmark: every method of configs/method-*.yaml at the
# budgets 0.9..0.5 of non-embedding parameters on stories260K, over 3 seeds, scored by held-out
# perplexity on TinyStories valid.txt and WikiText-2 (seq-len 256; the model was trained at
# 512), with wall time per method and a Pareto plot. Calibration text: calib.txt only.
# Writes bench/RESULTS.md (the quality section; bench/speed.sh adds its own), bench/pareto.svg
# and bench/pareto.png.
#
#   bench/quality.sh [--seeds N] [--budgets "0.9 0.8"] [--methods "shortgpt sleb"] [--out DIR]
#
# Needs ./carve built (make) and ../shared; installs gnuplot-nox when missing and root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CARVE=${CARVE:-$ROOT/carve}
SHARED=${CARVE_SHARED:-$(cd .. && pwd)/shared}
MODEL=$SHARED/models/stories260K/stories260K.bin
CALIB=$SHARED/data/tinystories/calib.txt
VALID_TS=$SHARED/data/tinystories/valid.txt
VALID_WT=$SHARED/data/wikitext-2/wiki.valid.tokens
SEQ_LEN=256
SEEDS=3
BUDGETS="0.9 0.8 0.7 0.6 0.5"
METHODS=""
OUT=${TMPDIR:-/tmp}/carve-quality.$$
while [ $# -gt 0 ]; do
    case $1 in
    --seeds) SEEDS=$2; shift 2 ;;
    --budgets) BUDGETS=$2; shift 2 ;;
    --methods) METHODS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/quality.sh: unknown option '$1'" >&2; exit 1 ;;
    esac
done
die() { echo "bench/quality.sh: $*" >&2; exit 2; }
for f in "$MODEL" "$CALIB" "$VALID_TS" "$VALID_WT"; do [ -f "$f" ] || die "$f: missing (needs ../shared)"; done
[ -x "$CARVE" ] || die "$CARVE: not built (run make)"
if ! command -v gnuplot >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        (apt-get install -y -q gnuplot-nox || (apt-get update -q && apt-get install -y -q gnuplot-nox)) >/dev/null \
            || die "apt-get install gnuplot-nox failed"
    else die "gnuplot missing (sudo apt-get install gnuplot-nox)"; fi
fi
if [ -z "$METHODS" ]; then
    METHODS=$(for c in configs/method-*.yaml; do basename "$c" .yaml | sed 's/^method-//'; done)
fi
mkdir -p "$OUT"
RAW=$OUT/raw.tsv
printf 'method\ttarget\tseed\tkept\tppl_ts\tppl_wt\twall_s\n' >"$RAW"

# The last "ppl" figure carve eval prints.
ppl_of() { # eval args...
    "$CARVE" eval "$@" --seq-len $SEQ_LEN | sed -n 's/.*ppl[ =:]*\([0-9.eE+-]*\).*/\1/p' | tail -1
}
# The kept fraction of non-embedding parameters of a subnet file.
kept_of() { # subnet.json
    "$CARVE" info --model "$MODEL" --subnet "$1" | sed -n 's/.*params_ratio[ =:]*\([0-9.]*\).*/\1/p' | tail -1
}
# One config key (top level) of a method config.
cfg() { /usr/bin/python3 -c 'import sys,yaml; v=yaml.safe_load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }

t_all=$SECONDS
dense_ts=$(ppl_of --model "$MODEL" --text "$VALID_TS")
dense_wt=$(ppl_of --model "$MODEL" --text "$VALID_WT")
for meth in $METHODS; do
    conf=configs/method-$meth.yaml
    [ -f "$conf" ] || die "$conf: missing"
    name=$(cfg "$conf" method)
    [ -n "$name" ] || die "$conf: no 'method:' key"
    for b in $BUDGETS; do
        for s in $(seq 1 "$SEEDS"); do
            dir=$OUT/$meth/$b/$s
            mkdir -p "$dir"
            t0=$(date +%s.%N)
            case $name in
            carve-ga|carve-nsga2)
                "$CARVE" search "$conf" --budget "$b" --seed "$s" --out "$dir" >"$dir/log" 2>&1 \
                    || die "$conf at $b seed $s failed: $(tail -1 "$dir/log")" ;;
            *)
                "$CARVE" prune --config "$conf" --budget "$b" --seed "$s" --out "$dir" >"$dir/log" 2>&1 \
                    || die "$conf at $b seed $s failed: $(tail -1 "$dir/log")" ;;
            esac
            t1=$(date +%s.%N)
            # the result: a pruned model directory (reformed / replaced weights) or a subnet file
            if [ -f "$dir/model/config.json" ]; then evalm=(--model "$dir/model"); else evalm=(--model "$MODEL" --subnet "$dir/subnet.json"); fi
            kept=$(sed -n 's/.*"params_ratio": *\([0-9.]*\).*/\1/p' "$dir/result.json" 2>/dev/null | head -1)
            [ -n "$kept" ] || kept=$(kept_of "$dir/subnet.json")
            pts=$(ppl_of "${evalm[@]}" --text "$VALID_TS")
            pwt=$(ppl_of "${evalm[@]}" --text "$VALID_WT")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%.2f\n' "$meth" "$b" "$s" "$kept" "$pts" "$pwt" \
                "$(echo "$t1 - $t0" | bc -l)" >>"$RAW"
            echo "$meth budget $b seed $s: kept $kept, TinyStories ppl $pts, WikiText-2 ppl $pwt"
        done
    done
done
/usr/bin/python3 bench/results.py quality --raw "$RAW" --dense "$dense_ts" "$dense_wt" --seq-len $SEQ_LEN \
    --total-s $((SECONDS - t_all)) --seeds "$SEEDS" --plot-data "$OUT/pareto.dat" --md bench/RESULTS.md
nblocks=$(grep -c '^"' "$OUT/pareto.dat" || true)
gnuplot -e "datafile='$OUT/pareto.dat'; outdir='bench'; nblocks=$nblocks; dense=$dense_ts" bench/plot.gp
cp "$RAW" bench/quality-raw.tsv
echo "bench/quality.sh: wrote bench/RESULTS.md, bench/pareto.svg, bench/pareto.png in $((SECONDS - t_all)) s"
