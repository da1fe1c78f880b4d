#!/usr/bin/env bash
# quality.sh — the measured quality benchmark: every method of configs/method-*.yaml at the
# budgets 0.9..0.5 of non-embedding parameters on stories260K, over 3 seeds, scored by held-out
# perplexity on TinyStories valid.txt and WikiText-2 (seq-len 256; the model was trained at
# 512), with wall time per method and a Pareto plot. Calibration text: calib.txt only.
# Every width baseline (magnitude, saliency, flap, random) is measured twice: as its authors
# publish it (FLAP with its bias compensation, `carve reform --fit bias`; the others as cut) and
# followed by carve's reformation (`carve reform`, the default fit, with carve-ga's calibration
# keys and the same seed) as the row NAME+reform. The report's margin table compares the searches
# with the best reformed baseline of each budget, seed by seed.
# Writes bench/RESULTS.md (the quality section; bench/speed.sh adds its own), bench/pareto.svg
# and bench/pareto.png.
#
#   bench/quality.sh [--seeds N] [--budgets "0.9 0.8"] [--methods "shortgpt sleb"] [--out DIR] [--jobs N]
#
# --jobs N: searches run at a time (default 4; each `carve search` of one seed is one process).
# The searches search the --budgets given (all five by default).
#
# Needs ./carve built (make); fetches what `make models` fetches ($CARVE_MIRROR or download); installs gnuplot-nox when missing and root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CARVE=${CARVE:-$ROOT/carve}
# the files of configs/method-*.yaml, fetched into the tree as `make models` does
MODEL=models/stories260K/stories260K.bin
CALIB=data/tinystories/calib.txt
VALID_TS=data/tinystories/valid.txt
VALID_WT=data/wikitext-2/wiki.valid.tokens
SEQ_LEN=256
SEEDS=3
SEARCH_JOBS=${SEARCH_JOBS:-4}
BUDGETS="0.9 0.8 0.7 0.6 0.5"
METHODS=""
BUDGET_COUNT=0
OUT=${TMPDIR:-/tmp}/carve-quality.$$
while [ $# -gt 0 ]; do
    case $1 in
    --seeds) SEEDS=$2; shift 2 ;;
    --budgets) BUDGETS=$2; shift 2 ;;
    --methods) METHODS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --jobs) SEARCH_JOBS=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "bench/quality.sh: unknown option '$1'" >&2; exit 1 ;;
    esac
done
die() { echo "bench/quality.sh: $*" >&2; exit 2; }
/usr/bin/python3 scripts/fetch.py models/stories260K data/tinystories data/wikitext-2 >/dev/null || exit 2
[ -x "$CARVE" ] || die "$CARVE: not built (run make)"
if ! command -v gnuplot >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        (apt-get install -y -q gnuplot-nox || (apt-get update -q && apt-get install -y -q gnuplot-nox)) >/dev/null \
            || die "apt-get install gnuplot-nox failed"
    else die "gnuplot missing (sudo apt-get install gnuplot-nox)"; fi
fi
BUDGET_COUNT=$(echo $BUDGETS | wc -w)
if [ -z "$METHODS" ]; then
    METHODS=$(for c in configs/method-*.yaml; do basename "$c" .yaml | sed 's/^method-//'; done)
fi
mkdir -p "$OUT"
RAW=$OUT/raw.tsv
printf 'method\ttarget\tseed\tkept\tppl_ts\tppl_wt\twall_s\n' >"$RAW"

EVAL_WINDOWS=${EVAL_WINDOWS:-200}
# Held-out ppl: the first $EVAL_WINDOWS windows of $SEQ_LEN tokens of a text; cached by the
# subnet's content (identical subnets from different seeds are evaluated once).
ppl_of() { # text model [subnet]
    local key
    if [ -n "${3:-}" ]; then key=$({ echo "$1 $2"; cat "$3"; } | sha1sum | cut -c1-16)
    elif [ -d "$2" ]; then key=$({ echo "$1"; find "$2" -type f -print0 | sort -z | xargs -0 cat; } | sha1sum | cut -c1-16)
    else key=$(echo "$1 $2" | sha1sum | cut -c1-16); fi
    if [ ! -s "$OUT/ppl/$key" ]; then
        mkdir -p "$OUT/ppl"
        "$CARVE" eval --model "$2" ${3:+--subnet "$3"} --text "$1" --seq-len $SEQ_LEN --max-windows $EVAL_WINDOWS \
            | sed -n 's/^ppl=\([0-9.eE+-]*\) .*/\1/p' >"$OUT/ppl/$key"
    fi
    cat "$OUT/ppl/$key"
}
# A config key ("calibration.n") of a method config, or the default.
cfg() { /usr/bin/python3 - "$1" "$2" "${3:-}" <<'PY'
import sys, yaml
v = yaml.safe_load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print(sys.argv[3] if v is None else v)
PY
}
# Reform subnet $3 of the model with the calibration keys of config $1, seed $2, into model dir $4
# (least-squares reformation, reform/), or with --replace-span F:N the LLM-Streamline fit.
reform_to() { # conf seed subnet|--replace-span=F:N outdir [carve reform options]
    local conf=$1 s=$2 what=$3 outdir=$4 sel
    if [[ $what == --replace-span=* ]]; then sel=(--replace-span "${what#--replace-span=}"); else sel=(--subnet "$what"); fi
    "$CARVE" reform --model "$(cfg "$conf" model "$MODEL")" "${sel[@]}" --calib "$(cfg "$conf" calibration.text "$CALIB")" \
        --n "$(cfg "$conf" calibration.n 32)" --len "$(cfg "$conf" calibration.len 128)" --seed "$s" \
        --out "$outdir" --force "${@:5}"
}

# carve search: one run per seed covers every budget of --budgets (run once into $OUT, its wall
# seconds in $OUT/METH-seedS.done); run_search then reforms the best subnet of budget $2 into the
# model directory $4/model.
search_db() { # conf seed
    local conf=$1 s=$2 meth db t0
    meth=$(basename "$conf" .yaml)
    db=$OUT/$meth-seed$s.db
    [ -f "$OUT/$meth-seed$s.done" ] && return 0
    t0=$SECONDS
    /usr/bin/python3 - "$conf" "$s" "$db" "$OUT/$meth-seed$s.yaml" "$EVAL_WINDOWS" "$BUDGETS" <<'PY'
import sys, yaml
conf, seed, db, out, win, budgets = sys.argv[1:]
c = yaml.safe_load(open(conf))
c.pop("method", None)  # the registry's name; the search's own keys say the rest
c.setdefault("calibration", {})["seed"] = int(seed)
c.setdefault("algorithm", {})["seed"] = int(seed)
c.setdefault("eval", {})["max_windows"] = int(win)
c.setdefault("budget", {})["targets"] = [float(b) for b in budgets.split()]
c["output"] = db
yaml.safe_dump(c, open(out, "w"), sort_keys=False)
PY
    rm -f "$db"
    "$CARVE" search "$OUT/$meth-seed$s.yaml" --quiet >"$OUT/$meth-seed$s.log" 2>&1 ||
        { echo "$conf seed $s: carve search failed: $(tail -1 "$OUT/$meth-seed$s.log")" >&2; return 1; }
    echo $((SECONDS - t0)) >"$OUT/$meth-seed$s.done"
}
# Every search of every seed, SEARCH_JOBS at a time (independent processes; the longest first).
run_searches() { # methods...
    local meth s n=0
    for meth in "$@"; do
        for s in $(seq 1 "$SEEDS"); do
            while [ "$(jobs -rp | wc -l)" -ge "$SEARCH_JOBS" ]; do wait -n || true; done
            search_db "configs/method-$meth.yaml" "$s" &
        done
    done
    wait
    for meth in "$@"; do
        for s in $(seq 1 "$SEEDS"); do [ -f "$OUT/method-$meth-seed$s.done" ] || n=$((n + 1)); done
    done
    [ $n -eq 0 ] || { echo "bench/quality.sh: $n searches failed (see above)" >&2; return 1; }
}
run_search() {
    local conf=$1 b=$2 s=$3 dir=$4 meth db id
    meth=$(basename "$conf" .yaml)
    db=$OUT/$meth-seed$s.db
    search_db "$conf" "$s" || return 1
    id=$(sqlite3 "$db" "SELECT candidate_id FROM finals WHERE role = 'best' AND abs(target - $b) < 1e-6 LIMIT 1")
    [ -n "$id" ] || { echo "$db: no best candidate for budget $b"; return 1; }
    "$CARVE" subnet "$db" "$id" --out "$dir/subnet.json" || return 1
    reform_to "$conf" "$s" "$dir/subnet.json" "$dir/model" || return 1
    /usr/bin/python3 - "$db" "$id" "$b" "$s" "$dir/result.json" <<'PY'
import json, sqlite3, sys
db, cid, b, s, out = sys.argv[1:]
r = sqlite3.connect(db).execute("SELECT params_ratio, fitness FROM candidates WHERE id = ?", (int(cid),)).fetchone()
json.dump({"method": "search", "target": float(b), "seed": int(s), "candidate": int(cid), "params_ratio": r[0],
           "calib_ppl": r[1]}, open(out, "w"), indent=2)
PY
}
# The calibration keys of carve's own reformation (the searches'), which the reformed baselines get too.
REFORM_CONF=configs/method-carve-ga.yaml
# Width baselines: their subnets are also reformed (the NAME+reform rows).
is_width() { case $1 in magnitude|saliency|flap|random) return 0 ;; *) return 1 ;; esac; }
# Run method config $1 at budget $2, seed $3 into dir $4 (subnet.json, result.json, maybe model/).
run_method() {
    local conf=$1 b=$2 s=$3 dir=$4 name
    name=$(cfg "$conf" method)
    local args=(--model "$(cfg "$conf" model "$MODEL")" --budget "$b" --calib "$(cfg "$conf" calibration.text "$CALIB")"
                --n "$(cfg "$conf" calibration.n 32)" --len "$(cfg "$conf" calibration.len 128)" --seed "$s")
    case $name in
    carve-ga|carve-nsga2) run_search "$conf" "$b" "$s" "$dir" ;;
    magnitude|saliency)
        "$CARVE" prune --method "$name" "${args[@]}" --out "$dir/subnet.json" || return 1
        kept=$("$CARVE" info --model "$MODEL" --subnet "$dir/subnet.json" --json | /usr/bin/python3 -c \
            'import json,sys; d=json.load(sys.stdin); print(d["subnet"]["params_ratio"])') || return 1
        printf '{"method": "%s", "params_ratio": %s}\n' "$name" "$kept" >"$dir/result.json" ;;
    *)
        "$CARVE" prune --method "$name" "${args[@]}" --random-k "$(cfg "$conf" baselines.random 16)" --out "$dir" || return 1
        if [ "$name" = flap ]; then # FLAP as published: its bias compensation, the kept weights as inherited
            reform_to "$conf" "$s" "$dir/subnet.json" "$dir/model" --fit bias || return 1
        elif [ "$name" = streamline-fit ]; then
            local span
            span=$(/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%d:%d" % (r["replace_first"], r["replace_n"]) if "replace_first" in r else "")' "$dir/result.json")
            [ -z "$span" ] || reform_to "$conf" "$s" "--replace-span=$span" "$dir/model" || return 1
        fi ;;
    esac
}

t_all=$SECONDS
dense_ts=$(ppl_of "$VALID_TS" "$MODEL")
dense_wt=$(ppl_of "$VALID_WT" "$MODEL")
echo "dense: TinyStories ppl $dense_ts, WikiText-2 ppl $dense_wt"
# Every budget and seed of one method; rows go to $OUT/raw-METHOD.tsv.
run_one_method() {
    local meth=$1 conf=configs/method-$1.yaml b s dir t0 t1 t2 tr kept pts pwt evalm
    [ -f "$conf" ] || die "$conf: missing"
    [ -n "$(cfg "$conf" method)" ] || die "$conf: no 'method:' key"
    : >"$OUT/raw-$meth.tsv"
    if is_width "$meth"; then : >"$OUT/raw-$meth+reform.tsv"; fi
    for b in $BUDGETS; do
        for s in $(seq 1 "$SEEDS"); do
            dir=$OUT/$meth/$b/$s
            mkdir -p "$dir"
            t0=$(date +%s.%N)
            run_method "$conf" "$b" "$s" "$dir" >"$dir/log" 2>&1 || die "$conf at budget $b seed $s failed: $(tail -1 "$dir/log")"
            t1=$(date +%s.%N)
            if [[ $meth == carve-* ]] && [ ! -f "$OUT/$meth-seed$s.counted" ]; then # the search's own wall, once per seed
                t1=$(awk "BEGIN { printf \"%.6f\", $t1 + $(cat "$OUT/method-$meth-seed$s.done") }"); touch "$OUT/$meth-seed$s.counted"
            fi
            kept=$(sed -n 's/.*"params_ratio": *\([0-9.eE+-]*\).*/\1/p' "$dir/result.json" | head -1)
            if [ -f "$dir/model/config.json" ]; then evalm=("$dir/model"); else evalm=("$MODEL" "$dir/subnet.json"); fi
            pts=$(ppl_of "$VALID_TS" "${evalm[@]}")
            pwt=$(ppl_of "$VALID_WT" "${evalm[@]}")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%.2f\n' "$meth" "$b" "$s" "$kept" "$pts" "$pwt" \
                "$(awk "BEGIN { print $t1 - $t0 }")" >>"$OUT/raw-$meth.tsv"
            echo "$meth budget $b seed $s: kept $kept, TinyStories ppl $pts, WikiText-2 ppl $pwt"
            if is_width "$meth"; then # the same subnet, followed by carve's reformation
                tr=$(date +%s.%N)
                reform_to "$REFORM_CONF" "$s" "$dir/subnet.json" "$dir/reformed" >"$dir/reform.log" 2>&1 ||
                    die "$conf at budget $b seed $s: reformation failed: $(tail -1 "$dir/reform.log")"
                t2=$(date +%s.%N)
                pts=$(ppl_of "$VALID_TS" "$dir/reformed")
                pwt=$(ppl_of "$VALID_WT" "$dir/reformed")
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%.2f\n' "$meth+reform" "$b" "$s" "$kept" "$pts" "$pwt" \
                    "$(awk "BEGIN { print $t1 - $t0 + $t2 - $tr }")" >>"$OUT/raw-$meth+reform.tsv"
                echo "$meth+reform budget $b seed $s: kept $kept, TinyStories ppl $pts, WikiText-2 ppl $pwt"
            fi
        done
    done
}
# Two streams: the searches (SEARCH_JOBS processes at a time) beside the baselines.
searches=""; others=""
for meth in $METHODS; do case $meth in carve-*) searches="$searches $meth" ;; *) others="$others $meth" ;; esac; done
( run_searches $searches && for meth in $searches; do run_one_method "$meth"; done ) &
bg=$!
for meth in $others; do run_one_method "$meth"; done
wait $bg || die "the search stream failed (see above)"
for meth in $METHODS; do
    cat "$OUT/raw-$meth.tsv" >>"$RAW"
    if is_width "$meth"; then cat "$OUT/raw-$meth+reform.tsv" >>"$RAW"; fi
done
/usr/bin/python3 bench/results.py quality --raw "$RAW" --dense "$dense_ts" "$dense_wt" --seq-len $SEQ_LEN \
    --total-s $((SECONDS - t_all)) --seeds "$SEEDS" --eval-windows $EVAL_WINDOWS --plot-data "$OUT/pareto.dat" --md bench/RESULTS.md
nblocks=$(grep -c '^"' "$OUT/pareto.dat" || true)
gnuplot -e "datafile='$OUT/pareto.dat'; outdir='bench'; nblocks=$nblocks; dense=$dense_ts; dts='$(cat "$OUT/pareto.dat.styles")'" bench/plot.gp
cp "$RAW" bench/quality-raw.tsv
echo "bench/quality.sh: wrote bench/RESULTS.md, bench/pareto.svg, bench/pareto.png in $((SECONDS - t_all)) s"
