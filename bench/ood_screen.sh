#!/usr/bin/env bash
# ood_screen.sh — does any calibration-side measure predict a subnet's out-of-domain quality?
# (issue #13's goal (c): the search's result must not be worse on WikiText-2 than its reformed
# init, though only TinyStories calibration text may steer it.)
#
#   bench/ood_screen.sh --runs "DIR/levels+fast+obs-seed4 DIR/..." [--budgets "0.7 0.6"]
#       [--members 30] [--windows 200] [--out DIR] [--report-only]
#
# --runs: run directories of bench/search_efficiency.sh (each holds run.db of one finished
# `carve search` with the calibration keys that script uses: calib.txt, n 96, len 128, seed 1).
# For each run and budget, `members` distinct members of the budget's populations (over all
# generations; the lowest hashes, a fixed sample) plus the run's init and best are reformed
# (`carve reform`, the final step's one-shot reformation) and scored:
#   ts, wt  held-out perplexity on the first `windows` windows of 256 tokens of TinyStories valid
#           and of WikiText-2 valid (the two columns of search_efficiency.sh);
#   cppl    calibration perplexity, the first `windows` windows of 128 tokens of calib.txt;
# and, from the dense and the reformed model's logits on those calibration windows
# (`carve eval --dump-logits`), the measures a fitness could use (bench/ood_screen.py): the mean
# NLL of the tokens the dense model finds surprising (hard: its NLL >= 5 nats), the candidate's
# mean entropy (ent; a flatter distribution gives rare tokens more mass), the full
# KL(dense || candidate) (kl1), the KL of both distributions at temperature 2 and 4 (kl2, kl4),
# the reverse KL (rkl), the mean of the worst 10 % / 1 % of positions' KL (tail10,
# tail1), the mean of the worst quarter of windows' KL (wcvar25), the KL weighted by the dense
# entropy (entw), the Jensen-Shannon divergence (js), the share of positions whose most
# probable token differs from the dense model's (dis1), and two shape measures: the L1
# distance of the per-sublayer kept shares from the init's (dist) and their spread (spread:
# std over layers of the kept head share + of the kept channel share).
# Report: each group's members' geometric-mean ts / wt beside its init's and best's; for each
# measure its Spearman rank correlation with ts and with wt among the population members of
# each (run, budget) group, and among the better half of the group by cppl (members and best:
# the near-ties a selection decides between), each with the mean over groups. A measure a
# fitness or a final pick could use to guard out-of-domain quality needs a clearly positive
# correlation with wt, in every group, among the better half.
# Each candidate is scored once (by hash, cached in DIR/cand); --report-only redoes the report.
#
# Environment: CARVE (default ./carve), CARVE_SHARED (a directory with data/tinystories and
# data/wikitext-2, default: the tree's data/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CARVE=$(realpath "${CARVE:-./carve}")
RUNS="" BUDGETS="0.7" MEMBERS=30 WINDOWS=200 OUT="" REPORT_ONLY=0
while [ $# -gt 0 ]; do
    case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --budgets) BUDGETS=$2; shift 2 ;;
    --members) MEMBERS=$2; shift 2 ;;
    --windows) WINDOWS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --report-only) REPORT_ONLY=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "bench/ood_screen.sh: unknown option '$1'" >&2; exit 1 ;;
    esac
done
die() { echo "bench/ood_screen.sh: $*" >&2; exit 2; }
[ -n "$RUNS" ] || die "--runs: no run directory given"
[ -n "$OUT" ] || die "--out DIR is needed (the scores are kept there)"
[ -x "$CARVE" ] || die "$CARVE: not built (run make)"
[[ $MEMBERS =~ ^[0-9]+$ && $WINDOWS =~ ^[1-9][0-9]*$ ]] || die "--members / --windows: not a count"
MODEL=$(realpath models/stories260K/stories260K.bin)
SHARED=${CARVE_SHARED:-$ROOT}
CALIB=$(realpath "$SHARED/data/tinystories/calib.txt")
VALID=$(realpath "$SHARED/data/tinystories/valid.txt")
OOD=$(realpath "$SHARED/data/wikitext-2/wiki.valid.tokens")
mkdir -p "$OUT/cand"
ppl() { sed -E 's/^ppl=([^ ]+) .*/\1/'; }

# one candidate: DIR/cand/HASH.txt = "ts wt cppl" and HASH.met = the logit measures
score() { # db id
    local h f ts wt cp
    h=$(sqlite3 "$1" "SELECT hash FROM candidates WHERE id = $2")
    f=$OUT/cand/$h
    echo "$h"
    # done when scored and measured (a .met without `hard`, written before that measure existed, is redone)
    [ -s "$f.txt" ] && grep -q '^hard=' "$f.met" 2>/dev/null && return
    "$CARVE" subnet "$1" "$2" --out "$f.json" >/dev/null
    "$CARVE" reform --model "$MODEL" --subnet "$f.json" --calib "$CALIB" --n 96 --len 128 --seed 1 \
        --out "$f.model" --force >/dev/null 2>>"$OUT/log" || die "$1: candidate $2: carve reform failed (see $OUT/log)"
    if [ ! -s "$f.txt" ]; then
        ts=$("$CARVE" eval --model "$f.model" --text "$VALID" --seq-len 256 --max-windows "$WINDOWS" | ppl)
        wt=$("$CARVE" eval --model "$f.model" --text "$OOD" --seq-len 256 --max-windows "$WINDOWS" | ppl)
    fi
    cp=$("$CARVE" eval --model "$f.model" --text "$CALIB" --seq-len 128 --max-windows "$WINDOWS" \
         --dump-logits "$f.f32" | ppl)
    [ -s "$f.txt" ] || [[ $ts =~ ^[0-9.]+$ && $wt =~ ^[0-9.]+$ ]] || die "$1: candidate $2: carve eval failed"
    [[ $cp =~ ^[0-9.]+$ ]] || die "$1: candidate $2: carve eval on the calibration text failed"
    rm -rf "$f.model"
    /usr/bin/python3 bench/ood_screen.py measure "$OUT/dense.f32" "$f.f32" "$OUT/dense.ids" "$(cat "$OUT/dense.n")" 128 \
        >"$f.met.tmp"
    rm -f "$f.f32"
    mv "$f.met.tmp" "$f.met"
    [ -s "$f.txt" ] || echo "$ts $wt $cp" >"$f.txt"
}

t0=$SECONDS
if [ $REPORT_ONLY = 0 ]; then
    [ -s "$OUT/dense.n" ] || "$CARVE" eval --model "$MODEL" --text "$CALIB" --seq-len 128 --max-windows "$WINDOWS" \
        --dump-logits "$OUT/dense.f32" | sed -E 's/.* windows=([0-9]+) .*/\1/' >"$OUT/dense.n"
    [ -s "$OUT/dense.ids" ] || "$CARVE" tokenize --model "$MODEL" --text "$CALIB" >"$OUT/dense.ids"
    : >"$OUT/groups.tsv"
    for dir in $RUNS; do
        db=$dir/run.db
        [ -s "$db" ] || die "$dir: no run.db"
        for t in $BUDGETS; do
            b=$(sqlite3 "$db" "SELECT budget FROM finals WHERE role = 'init' AND abs(target - $t) < 1e-9")
            [ -n "$b" ] || die "$db: no budget $t"
            init=$(sqlite3 "$db" "SELECT candidate_id FROM finals WHERE budget = $b AND role = 'init'")
            best=$(sqlite3 "$db" "SELECT candidate_id FROM finals WHERE budget = $b AND role = 'best'")
            members=$(sqlite3 "$db" "SELECT DISTINCT c.id, c.hash FROM population p JOIN candidates c ON c.id = p.candidate_id
                      WHERE p.budget = $b AND c.id NOT IN ($init, $best) ORDER BY c.hash LIMIT $MEMBERS" | cut -d'|' -f1)
            g="$(basename "$dir") $t"
            for id in "init $init" "best $best" $(for m in $members; do echo "member:$m"; done); do
                role=${id%%[ :]*} h=$(score "$db" "${id##*[ :]}")
                echo "$g $role $h" >>"$OUT/groups.tsv"
            done
            echo "$g: $(wc -l <"$OUT/groups.tsv") candidates so far, $((SECONDS - t0)) s" >&2
        done
    done
fi
/usr/bin/python3 bench/ood_screen.py report "$OUT/groups.tsv" "$OUT/cand"
