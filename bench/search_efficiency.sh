#!/usr/bin/env bash
# search_efficiency.sh — held-out quality against the forward tokens the search spends on fitness
# (issue #13): the GA as it was before staged selection (configs/stories260k.yaml's settings without
# its selection stages: fitness ppl, reformed, every offspring on all windows: "today") and each
# new option — fitness kind kl, staged selection, the level space — and a combination of them,
# each for several algorithm seeds, on stories260K.
#
#   bench/search_efficiency.sh [--options "ppl kl stages levels combo"] [--seeds "1 2 3"]
#       [--targets "0.7 0.5"] [--generations N] [--population P] [--checkpoints "0 3"]
#       [--combo "kl stages levels"] [--eval-windows K] [--out DIR] [--report-only] [--results]
#
# Per option and seed one `carve search` runs (one process; the calibration statistics come from
# a cache in the temp dir, warmed once). From its database: at each checkpoint generation (and
# the last), each budget's best member of that generation's population (ranked as the search
# ranks it: stage reached, then fitness) is reformed (`carve reform`, one-shot exact with the
# intercept, the run's calibration keys: what the final step does) and scored held-out on
# TinyStories valid.txt and, out of domain, WikiText-2 valid (never used for selection), both the
# first K windows of 256 tokens; its tokens are the fitness forward tokens of the budget's
# candidates first evaluated up to that generation (fit_windows x calibration len; a staged
# candidate's later stages count at its first generation). The last point is the job's result
# (final step, with re-ranking), whose tokens add the re-ranking's (rescored members x
# rerank_windows x len, counted from the log). The run's `init` row (reformed importance
# initialisation) is scored the same way. Every subnet is reformed and scored once (by hash).
# Prints a table (option x budget x seed, means over seeds) and the goal checks, writes the
# points to DIR/points.tsv and the plot bench/search_efficiency.svg; --results also writes the
# section between the search_efficiency markers of bench/RESULTS.md. --report-only redoes the
# report from an existing --out DIR (what finished).
#
# Options (fragments of the run's YAML on top of the base, configs/stories260k.yaml's settings):
#   ppl     fitness {reform: true}                    (the main job before its stages: "today")
#   kl      fitness {kind: kl, reform: true}
#   klw     fitness {kind: kl, worst: 0.25, reform: true} (klwQ: worst Q): the mean KL of the quarter
#           of windows with the largest KL (search/fitness.h)
#   stages  selection stages [{windows: 16, keep: 8}, {windows: 48, keep: 6}, {windows: 96}]
#   fast    selection stages [{windows: 8, keep: 6}, {windows: 32, keep: 3}, {windows: 96}]
#           (the main job's now: about 0.27 of ppl's fitness tokens at the main job's shape)
#   levels  space levels 16 (EFF_LEVELS)
#   bias    algorithm unit_bias 4 (EFF_BIAS; biasB: unit_bias B): the free space's mutation and
#           offspring repair prefer important units
#   core    space core 0.75 (coreA: core A): in the free space a sublayer keeping k units keeps its
#           ceil(A k) most important ones; the rest are searched (search/genome.h)
#   obs     space importance obs: units ordered by greedy OBS elimination (reform/importance.h)
#           instead of saliency (the init, the level grid and unit_bias follow it)
#   combo   the options --combo names together (default "kl stages levels")
#   A+B     options A and B together (e.g. levels+fast), named so in the report
#
# Environment: CARVE (default ./carve), CARVE_SHARED (a directory with data/tinystories and
# data/wikitext-2, default: the tree's data/), EFF_OPTIONS, EFF_SEEDS, EFF_TARGETS,
# EFF_GENERATIONS, EFF_POPULATION, EFF_MUTATIONS, EFF_CROSSOVERS, EFF_PARENTS, EFF_CHECKPOINTS,
# EFF_COMBO, EFF_EVAL_WINDOWS, EFF_LEVELS, EFF_BIAS (the defaults of the options; the defaults
# below keep a run on the project's 2-core machine to about half an hour), EFF_CALIB_SEED (the
# calibration sample's seed, default 1; `seed`: each run's is its algorithm seed, so the
# importance init, the reformation and the fitness windows change with the seed too, and the
# one-shot baselines are run on every seed's sample), EFF_SCRAMBLE (calibration.scramble of
# every run, and --scramble of the reformation before held-out scoring, baselines' included:
# their importance order, like the search's, comes from the text as is; default 0), EFF_MACHINE (the report's machine line), TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CARVE=$(realpath "${CARVE:-./carve}")
OPTIONS=${EFF_OPTIONS:-"ppl kl stages levels combo"}
SEEDS=${EFF_SEEDS:-"1 2 3"}
TARGETS=${EFF_TARGETS:-"0.7 0.5"}
GENERATIONS=${EFF_GENERATIONS:-8}
POPULATION=${EFF_POPULATION:-24}
PARENTS=${EFF_PARENTS:-6}
MUTATIONS=${EFF_MUTATIONS:-12}
CROSSOVERS=${EFF_CROSSOVERS:-6}
CHECKPOINTS=${EFF_CHECKPOINTS:-}
COMBO=${EFF_COMBO:-"kl stages levels"}
EVAL_WINDOWS=${EFF_EVAL_WINDOWS:-200}
LEVELS=${EFF_LEVELS:-16}
BIAS=${EFF_BIAS:-4}
CALIB_SEED=${EFF_CALIB_SEED:-1}
SCRAMBLE=${EFF_SCRAMBLE:-0}
OUT=""
REPORT_ONLY=0
RESULTS=0
while [ $# -gt 0 ]; do
    case $1 in
    --options) OPTIONS=$2; shift 2 ;;
    --seeds) SEEDS=$2; shift 2 ;;
    --targets) TARGETS=$2; shift 2 ;;
    --generations) GENERATIONS=$2; shift 2 ;;
    --population) POPULATION=$2; shift 2 ;;
    --checkpoints) CHECKPOINTS=$2; shift 2 ;;
    --combo) COMBO=$2; shift 2 ;;
    --eval-windows) EVAL_WINDOWS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --report-only) REPORT_ONLY=1; shift ;;
    --results) RESULTS=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "bench/search_efficiency.sh: unknown option '$1'" >&2; exit 1 ;;
    esac
done
die() { echo "bench/search_efficiency.sh: $*" >&2; exit 2; }
[ -x "$CARVE" ] || die "$CARVE: not built (run make)"
[ -n "$CHECKPOINTS" ] || CHECKPOINTS="0 $((GENERATIONS / 2 - 1))"
MODEL=$(realpath models/stories260K/stories260K.bin)
SHARED=${CARVE_SHARED:-$ROOT}
CALIB=$(realpath "$SHARED/data/tinystories/calib.txt")
VALID=$(realpath "$SHARED/data/tinystories/valid.txt")
OOD=$(realpath "$SHARED/data/wikitext-2/wiki.valid.tokens")
N=96 LEN=128 RERANK=8 RERANK_WINDOWS=128 TOL=0.02
if [ -z "$OUT" ]; then
    [ $REPORT_ONLY = 0 ] || die "--report-only needs --out DIR"
    OUT=$(mktemp -d "${TMPDIR:-/tmp}/carve-search-eff.XXXXXX")
    trap 'rm -rf "$OUT"' EXIT
fi
mkdir -p "$OUT/eval"
export CARVE_CACHE_DIR=$OUT/cache

cseed() { # algorithm seed -> the run's calibration seed
    if [ "$CALIB_SEED" = seed ]; then echo "$1"; else echo "$CALIB_SEED"; fi
}
fragment() { # option -> YAML lines overriding the base
    case $1 in
    ppl) ;;
    kl) echo "fitness: {kind: kl, reform: true}" ;;
    klw*) local q=${1#klw}; echo "fitness: {kind: kl, worst: ${q:-0.25}, reform: true}" ;;
    stages) echo "selection: {stages: [{windows: 16, keep: 8}, {windows: 48, keep: 6}, {windows: $N}]}" ;;
    fast) echo "selection: {stages: [{windows: 8, keep: 6}, {windows: 32, keep: 3}, {windows: $N}]}" ;;
    levels) echo "space_levels: $LEVELS" ;;
    bias*) local v=${1#bias}; echo "unit_bias: ${v:-$BIAS}" ;;
    obs) echo "space_importance: obs" ;;
    core*) local a=${1#core}; echo "space_core: ${a:-0.75}" ;;
    combo) fragments "$COMBO" ;;
    *+*) fragments "${1//+/ }" ;;
    *) die "unknown option '$1' (ppl kl klw stages fast levels bias obs core combo)" ;;
    esac
}
fragments() { # "option option ..." -> their fragments together (combo among them is skipped)
    local o
    for o in $1; do [ "$o" = combo ] || fragment "$o"; done
}
config() { # option seed dir
    local frag fitness selection levels bias importance core
    frag=$(fragment "$1")
    bias=$(sed -n 's/^unit_bias: //p' <<<"$frag")
    fitness=$(grep '^fitness:' <<<"$frag" || echo "fitness: {reform: true}")
    selection=$(grep '^selection:' <<<"$frag" || true)
    levels=$(sed -n 's/^space_levels: //p' <<<"$frag")
    importance=$(sed -n 's/^space_importance: //p' <<<"$frag")
    core=$(sed -n 's/^space_core: //p' <<<"$frag")
    cat >"$3/run.yaml" <<YAML
model: $MODEL
calibration: {text: $CALIB, n: $N, len: $LEN, seed: $(cseed "$2")$([ "$SCRAMBLE" = 0 ] || echo ", scramble: $SCRAMBLE")}
eval: {text: $VALID, seq_len: 256, max_windows: $EVAL_WINDOWS}
space: {heads: true, channels: true, channel_multiple: 4, sublayers: true, layers: false,
        attn_ratio: [0.25, 1.0], mlp_ratio: [0.2, 1.0], levels: ${levels:-0},
        importance: ${importance:-saliency}${core:+, core: $core}}
budget: {kind: params, targets: [$(echo $TARGETS | sed 's/ /, /g')], tolerance: $TOL}
algorithm: {kind: ga, population: $POPULATION, generations: $GENERATIONS, parents: $PARENTS,
            mutations: $MUTATIONS, crossovers: $CROSSOVERS, mutation_prob: [0.6, 0.3],
            crossover_prob: [0.3, 0.1], overlap: 0.8, depth_prob: 0.03, seed: $2${bias:+, unit_bias: $bias}}
$fitness
$selection
final: {reform: true, eval: true, rerank: $RERANK, rerank_windows: $RERANK_WINDOWS}
baselines: {random: 0}
output: $3/run.db
YAML
}
# held-out ppl of a subnet file after reformation (calibration seed cs), TinyStories and
# WikiText-2, once per key and seed
score_file() { # key subnet.json cs -> "ts ood"
    local f=$OUT/eval/$1 ts ood
    [ "${3:-1}" = 1 ] || f=$f-c$3
    [ "$SCRAMBLE" = 0 ] || f=$f-x$SCRAMBLE
    if [ ! -s "$f" ]; then
        "$CARVE" reform --model "$MODEL" --subnet "$2" --calib "$CALIB" --n $N --len $LEN --seed "${3:-1}" \
            --scramble "$SCRAMBLE" --out "$f.model" --force >/dev/null 2>>"$OUT/eval/log"
        ts=$("$CARVE" eval --model "$f.model" --text "$VALID" --seq-len 256 --max-windows "$EVAL_WINDOWS" |
             sed -E 's/^ppl=([^ ]+) .*/\1/')
        ood=$("$CARVE" eval --model "$f.model" --text "$OOD" --seq-len 256 --max-windows "$EVAL_WINDOWS" |
              sed -E 's/^ppl=([^ ]+) .*/\1/')
        rm -rf "$f.model"
        [[ $ts =~ ^[0-9.]+$ && $ood =~ ^[0-9.]+$ ]] ||
            die "$2: carve reform + eval failed (see $OUT/eval/log); nothing cached"
        echo "$ts $ood" >"$f"
    fi
    cat "$f"
}
score() { # db id cs -> "ts ood" (a stored candidate, by its hash)
    local h
    h=$(sqlite3 "$1" "SELECT hash FROM candidates WHERE id = $2")
    [ -s "$OUT/eval/$h.json" ] || "$CARVE" subnet "$1" "$2" --out "$OUT/eval/$h.json" >/dev/null
    score_file "$h" "$OUT/eval/$h.json" "$3"
}
# the points of one finished run: option seed target kind generation tokens rerank_tokens id ts ood
points() { # option seed dir
    local opt=$1 s=$2 dir=$3 db=$3/run.db b=0 t lo inb g id tok rr ts ood cs
    cs=$(cseed "$s")
    for t in $TARGETS; do
        lo=$(awk -v t="$t" -v d=$TOL 'BEGIN { printf "%.9f", t - d - 1e-9 }')
        inb="cost_ratio >= $lo AND cost_ratio <= $t + 1e-9"
        for g in $CHECKPOINTS $((GENERATIONS - 1)); do
            id=$(sqlite3 "$db" "SELECT c.id FROM population p JOIN candidates c ON c.id = p.candidate_id
                 WHERE p.budget = $b AND p.generation = $g ORDER BY c.fit_stage DESC, c.fitness, c.hash LIMIT 1")
            [ -n "$id" ] || continue
            tok=$(sqlite3 "$db" "SELECT sum(fit_windows) * $LEN FROM candidates WHERE generation <= $g AND $inb")
            echo "$opt $s $t gen $g $tok 0 $id $(score "$db" "$id" "$cs")"
        done
        tok=$(sqlite3 "$db" "SELECT sum(fit_windows) * $LEN FROM candidates WHERE $inb")
        rr=$(grep "budget $(printf '%.2f' "$t"): re-ranked" "$dir/log" | tail -1 | sed 's/.*rescore)://; s/->.*//' | wc -w)
        id=$(sqlite3 "$db" "SELECT candidate_id FROM finals WHERE budget = $b AND role = 'best'")
        read -r ts ood <<<"$(score "$db" "$id" "$cs")"
        awk -v a="$(sqlite3 "$db" "SELECT eval_ppl FROM candidates WHERE id = $id")" -v b="$ts" \
            'BEGIN { exit !(a - b < 1e-5 * b && b - a < 1e-5 * b) }' ||
            die "$db: candidate $id: carve reform + eval gives $ts, the final step stored another held-out ppl"
        echo "$opt $s $t final $GENERATIONS $tok $((rr * RERANK_WINDOWS * LEN)) $id $ts $ood"
        id=$(sqlite3 "$db" "SELECT candidate_id FROM finals WHERE budget = $b AND role = 'init'")
        echo "$opt $s $t init 0 0 0 $id $(score "$db" "$id" "$cs")"
        b=$((b + 1))
    done
}

t0=$SECONDS
if [ $REPORT_ONLY = 0 ]; then
    # warm the statistics cache (and check a config) with a one-generation run
    mkdir -p "$OUT/warm" && config ppl 1 "$OUT/warm"
    sed -i "s/generations: $GENERATIONS,/generations: 1,/" "$OUT/warm/run.yaml"
    "$CARVE" search --quiet "$OUT/warm/run.yaml" >/dev/null
    # saliency+reform (the margin table's baseline, re-run cheaply) and obs+reform (the greedy OBS
    # order as a one-shot method) with this run's calibration keys: each seed's with EFF_CALIB_SEED=seed
    for cs in $(if [ "$CALIB_SEED" = seed ]; then echo "$SEEDS"; else echo "$CALIB_SEED"; fi); do
        for t in $TARGETS; do
            for m in saliency obs; do
                "$CARVE" prune --method $m --model "$MODEL" --budget "$t" --calib "$CALIB" --n $N --len $LEN \
                    --seed "$cs" --out "$OUT/eval/$m-$t-s$cs.json" >/dev/null
                echo "$t $(score_file "$m-$t" "$OUT/eval/$m-$t-s$cs.json" "$cs") $m+reform $cs"
            done
        done
    done >"$OUT/baseline.tsv"
    for s in $SEEDS; do # seed-major: a run cut short still has every option
        for opt in $OPTIONS; do
            dir=$OUT/$opt-seed$s
            [ -f "$dir/points" ] && continue
            mkdir -p "$dir" && rm -f "$dir/run.db" && config "$opt" "$s" "$dir"
            t1=$SECONDS
            "$CARVE" search "$dir/run.yaml" >/dev/null 2>"$dir/log" || { tail -3 "$dir/log" >&2; die "$opt seed $s: carve search failed"; }
            echo $((SECONDS - t1)) >"$dir/search_s"
            points "$opt" "$s" "$dir" >"$dir/points.tmp" && mv "$dir/points.tmp" "$dir/points"
            echo "$opt seed $s: search $(cat "$dir/search_s") s, $((SECONDS - t0)) s in all" >&2
        done
    done
fi
cat "$OUT"/*-seed*/points >"$OUT/points.tsv"
for d in "$OUT"/*-seed*/; do [ -f "$d/search_s" ] && echo "$(basename "$d") $(cat "$d/search_s")"; done >"$OUT/search_s.tsv"
args=(--points "$OUT/points.tsv" --baseline "$OUT/baseline.tsv" --search-s "$OUT/search_s.tsv" --svg bench/search_efficiency.svg
      --shape "targets [$TARGETS], population $POPULATION, generations $GENERATIONS, parents $PARENTS, mutations $MUTATIONS, crossovers $CROSSOVERS, calibration $N x $LEN (seed $([ "$CALIB_SEED" = seed ] && echo "= the algorithm seed" || echo "$CALIB_SEED")$([ "$SCRAMBLE" = 0 ] || echo ", reformation statistics on the text with $SCRAMBLE of its words scrambled")), re-ranking top $RERANK on $RERANK_WINDOWS windows, random baseline off; held-out: first $EVAL_WINDOWS windows of 256 tokens; combo = $COMBO; levels $LEVELS; checkpoints: generations $CHECKPOINTS $((GENERATIONS - 1)) and the final result")
[ $RESULTS = 0 ] || args+=(--results bench/RESULTS.md)
MACHINE=${EFF_MACHINE:-"$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"}
args+=(--machine "$MACHINE")
/usr/bin/python3 bench/search_efficiency.py "${args[@]}"
echo "bench/search_efficiency.sh: $((SECONDS - t0)) s" >&2
