#!/usr/bin/env bash
# search_speed.sh — candidates/s of `carve search` and its held-out results, on a short run of
# the default job's shape (stories260K, 96 calibration windows of 128 tokens, reformed final
# step with held-out perplexity and re-ranking), with the fitness reformed (the default job)
# and plain.
#
#   bench/search_speed.sh [--modes "true false"] CARVE_BINARY ...
#       e.g. bench/search_speed.sh /tmp/carve-old ./carve ./carve /tmp/carve-old
#
# Each binary (one may be named several times, to interleave runs against a drifting machine
# load) runs the same config once per mode, in the order given, and prints
#   <binary> (fitness.reform M): candidates=N search_s=S cpu_s=C candidates_per_s=N/S candidates_per_cpu_s=N/C
# N and S from the engine's last generation line (candidates evaluated, seconds since the engine
# started: whole seconds); C the process's user+system CPU seconds (everything: loading,
# search, final step; the calibration statistics come from a cache warmed before the first
# run). Then the held-out table (`carve front --by eval`) and a digest of every candidate's
# fitness, reformed fitness and held-out perplexity to the last bit (Python repr), so two
# binaries' results can be compared exactly. Ratios between binaries mean something only
# within one invocation.
set -euo pipefail
cd "$(dirname "$0")/.."
MODES="true false"
if [ "${1:-}" = --modes ]; then MODES=$2; shift 2; fi
[ $# -gt 0 ] || set -- ./carve
OUT=$(mktemp -d "${TMPDIR:-/tmp}/carve-search-speed.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
export CARVE_CACHE_DIR=$OUT/cache
MODEL=${CARVE_BENCH_MODEL:-models/stories260K/stories260K.bin}
DATA=${CARVE_BENCH_DATA:-../shared/data/tinystories}
config() { # dir, mode
    cat >"$1/speed-$2.yaml" <<YAML
model: $(realpath "$MODEL")
calibration: {text: $(realpath "$DATA/calib.txt"), n: 96, len: 128, seed: 1}
eval: {text: $(realpath "$DATA/valid.txt"), seq_len: 256, max_windows: 40}
budget: {kind: params, targets: [0.8, 0.6], tolerance: 0.02}
algorithm: {kind: ga, population: 24, generations: 5, parents: 6, mutations: 12, crossovers: 6, seed: 1}
fitness: {reform: $2}
final: {reform: true, eval: true, rerank: 4, rerank_windows: 32}
baselines: {random: 0}
output: $1/speed-$2.db
YAML
}
# warm the statistics cache (and check the config) with the first binary and a one-generation run
mkdir -p "$OUT/warm" && config "$OUT/warm" true
sed -i 's/generations: 5/generations: 1/' "$OUT/warm/speed-true.yaml"
"$1" search --quiet "$OUT/warm/speed-true.yaml" >/dev/null
i=0
for mode in $MODES; do
for bin in "$@"; do
    i=$((i + 1))
    dir=$OUT/$i; mkdir -p "$dir"; config "$dir" "$mode" # the same run name everywhere (it seeds the run)
    /usr/bin/time -f "%U %S" -o "$dir/cpu" "$bin" search "$dir/speed-$mode.yaml" 2>"$dir/log" >/dev/null ||
        { cat "$dir/log" >&2; exit 1; }
    line=$(grep 'generation 5/5' "$dir/log" | tail -1)
    n=$(sed -E 's/.*\(([0-9]+) in all.*/\1/' <<<"$line")
    el=$(sed -E 's/.*elapsed ([0-9:]+),.*/\1/' <<<"$line")
    secs=$(awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }' <<<"$el")
    cpu=$(awk '{ print $1 + $2 }' "$dir/cpu")
    echo "$bin (fitness.reform $mode): candidates=$n search_s=$secs cpu_s=$cpu" \
         "candidates_per_s=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.2f", n / s }')" \
         "candidates_per_cpu_s=$(awk -v n="$n" -v s="$cpu" 'BEGIN { printf "%.2f", n / s }')"
    "$bin" front "$dir/speed-$mode.db" --by eval | sed 's/^/    /'
    /usr/bin/python3 - "$dir/speed-$mode.db" <<'PY'
import hashlib, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT hash, fitness, reformed_fitness, eval_ppl FROM candidates ORDER BY id").fetchall()
text = "\n".join(" ".join(repr(v) for v in r) for r in rows)
print("    all %d candidates' values: sha256 %s" % (len(rows), hashlib.sha256(text.encode()).hexdigest()[:16]))
PY
done
done
