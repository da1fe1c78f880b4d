#!/usr/bin/env bash
# tasks.sh — the zero-shot benchmark (carve tasks, eval/tasks.h) on stories260K; writes the
# "tasks" section of bench/RESULTS.md (bench/tasks_results.py) and leaves raw JSON in --out.
#   1. the dense model on every item of the six shared tasks, with its run time;
#   2. speed: items/s on stories260K and on the SmolLM-135M shape (`carve synth`, random
#      weights: speed only) over the first --speed-items items of arc_easy, piqa and hellaswag;
#   3. with --quality-out DIR (the --out of a bench/quality.sh run): the dense model and every
#      method's subnet of seed --seed at each budget (the reformed model when the run made one,
#      as quality.sh evaluates it, and METHOD+reform from its reformed/ model) on the first
#      --limit items of each task.
#
#   bench/tasks.sh [--quality-out DIR] [--limit N] [--seed S] [--speed-items N] [--skip-full] [--out DIR]
#
# Needs ./carve built (make); the task files come from `make tasks` ($CARVE_MIRROR or download).
set -euo pipefail
cd "$(dirname "$0")/.."
CARVE=${CARVE:-$PWD/carve}
MODEL=models/stories260K/stories260K.bin
DATA=data/tasks
TASKS=arc_easy,hellaswag,piqa,winogrande,boolq,openbookqa
QOUT="" LIMIT=200 SEED=1 SPEED_ITEMS=200 FULL=1 OUT=${TMPDIR:-/tmp}/carve-tasks.$$
while [ $# -gt 0 ]; do
    case $1 in
    --quality-out) QOUT=$2; shift 2 ;;
    --limit) LIMIT=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --speed-items) SPEED_ITEMS=$2; shift 2 ;;
    --skip-full) FULL=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "bench/tasks.sh: unknown option '$1'" >&2; exit 1 ;;
    esac
done
die() { echo "bench/tasks.sh: $*" >&2; exit 2; }
[ -x "$CARVE" ] || die "$CARVE: not built (run make)"
/usr/bin/python3 scripts/fetch.py models/stories260K data/tasks >/dev/null || exit 2
mkdir -p "$OUT"
run() { # out.json, carve tasks args... (kept when already there: a rerun resumes)
    local out=$1; shift
    [ -s "$out" ] && return 0
    uptime >>"$OUT/load.txt"
    "$CARVE" tasks --json "$@" >"$out.tmp" || die "carve tasks $* failed"
    mv "$out.tmp" "$out"
}
if [ $FULL = 1 ]; then
    echo "dense stories260K, every item of $TASKS ..."
    run "$OUT/full.json" --model "$MODEL" --task "$TASKS" --data "$DATA"
fi
echo "speed ..."
run "$OUT/speed-stories260k.json" --model "$MODEL" --task arc_easy,piqa,hellaswag --data "$DATA" --limit "$SPEED_ITEMS"
[ -f "$OUT/smollm/config.json" ] || "$CARVE" synth --shape smollm-135m --out "$OUT/smollm" --quiet --force
run "$OUT/speed-smollm.json" --model "$OUT/smollm" --task arc_easy,piqa,hellaswag --data "$DATA" --limit $((SPEED_ITEMS / 5))
if [ -n "$QOUT" ]; then
    echo "methods of $QOUT at seed $SEED, first $LIMIT items ..."
    mkdir -p "$OUT/methods"
    run "$OUT/methods/dense.json" --model "$MODEL" --task "$TASKS" --data "$DATA" --limit "$LIMIT"
    for dir in "$QOUT"/*/*/"$SEED"; do
        [ -f "$dir/subnet.json" ] || [ -f "$dir/model/config.json" ] || continue
        b=$(basename "$(dirname "$dir")") meth=$(basename "$(dirname "$(dirname "$dir")")")
        if [ -f "$dir/model/config.json" ]; then m=(--model "$dir/model"); else m=(--model "$MODEL" --subnet "$dir/subnet.json"); fi
        echo "  $meth $b"
        run "$OUT/methods/$meth@$b.json" "${m[@]}" --task "$TASKS" --data "$DATA" --limit "$LIMIT"
        if [ -f "$dir/reformed/config.json" ]; then # quality.sh's METHOD+reform
            echo "  $meth+reform $b"
            run "$OUT/methods/$meth+reform@$b.json" --model "$dir/reformed" --task "$TASKS" --data "$DATA" --limit "$LIMIT"
        fi
    done
fi
/usr/bin/python3 bench/tasks_results.py --out "$OUT" --limit "$LIMIT" --seed "$SEED" --md bench/RESULTS.md
echo "bench/tasks.sh: wrote the tasks section of bench/RESULTS.md (raw: $OUT)"
