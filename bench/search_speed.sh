#!/usr/bin/env bash
# search_speed.sh — candidates/s of `carve search` and its held-out results, on a short run of
# the default job's shape (stories260K, 96 calibration windows of 128 tokens, reformed fitness,
# reformed final step with held-out perplexity and re-ranking).
#
#   bench/search_speed.sh [CARVE_BINARY ...]      e.g. /tmp/carve-old ./carve ./carve /tmp/carve-old
#
# For each binary (default ./carve; one may be named several times, to interleave runs against a
# drifting machine load) it runs the same config once, in the order given, and prints
#   <binary>: candidates=N search_s=S candidates_per_s=R
# (N and S from the engine's last generation line: candidates evaluated and the seconds since
# the engine started, i.e. without the calibration statistics) and the held-out table
# (`carve front --by eval`), so two binaries' results can be compared digit for digit.
# The digest line hashes every candidate's fitness, reformed fitness and held-out perplexity
# exactly (Python repr). Ratios between binaries are meaningful only within one invocation (same machine load).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- ./carve
OUT=$(mktemp -d "${TMPDIR:-/tmp}/carve-search-speed.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
MODEL=${CARVE_BENCH_MODEL:-models/stories260K/stories260K.bin}
DATA=${CARVE_BENCH_DATA:-../shared/data/tinystories}
i=0
for reform in true false; do
for bin in "$@"; do
    i=$((i + 1))
    tag=$i-$(basename "$bin")-$reform
    cat >"$OUT/$tag.yaml" <<YAML
model: $(realpath "$MODEL")
calibration: {text: $(realpath "$DATA/calib.txt"), n: 96, len: 128, seed: 1}
eval: {text: $(realpath "$DATA/valid.txt"), seq_len: 256, max_windows: 40}
budget: {kind: params, targets: [0.8, 0.6], tolerance: 0.02}
algorithm: {kind: ga, population: 24, generations: 5, parents: 6, mutations: 12, crossovers: 6, seed: 1}
fitness: {reform: $reform}
final: {reform: true, eval: true, rerank: 4, rerank_windows: 32}
baselines: {random: 0}
output: $OUT/$tag.db
YAML
    "$bin" search "$OUT/$tag.yaml" 2>"$OUT/$tag.log" >/dev/null || { cat "$OUT/$tag.log" >&2; exit 1; }
    line=$(grep 'generation 5/5' "$OUT/$tag.log" | tail -1)
    n=$(sed -E 's/.*\(([0-9]+) in all.*/\1/' <<<"$line")
    el=$(sed -E 's/.*elapsed ([0-9:]+),.*/\1/' <<<"$line")
    secs=$(awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }' <<<"$el")
    echo "$bin (fitness.reform $reform): candidates=$n search_s=$secs candidates_per_s=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')"
    "$bin" front "$OUT/$tag.db" --by eval | sed 's/^/    /'
    # every stored value to the last bit: fitness, reformed fitness, held-out ppl of each candidate
    /usr/bin/python3 - "$OUT/$tag.db" <<'PY'
import hashlib, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT hash, fitness, reformed_fitness, eval_ppl FROM candidates ORDER BY id").fetchall()
text = "\n".join(" ".join(repr(v) for v in r) for r in rows)
print("    all %d candidates' values: sha256 %s" % (len(rows), hashlib.sha256(text.encode()).hexdigest()[:16]))
PY
done
done
