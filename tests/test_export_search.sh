#!/usr/bin/env bash
# test_export_search — exports from a real search database: a small GA search on stories260K
# (carve search), then every candidate on its Pareto front is exported by ID as a Hugging Face
# directory and as GGUF (searched heads are often spread unevenly over their KV heads: GGUF
# gets duplicated KV heads then) and evaluates to the ppl of the subnet in place (1e-4);
# one front member is also exported reformed with the run's recorded calibration settings
# (its reformation statistics on the scrambled text: calibration.scramble).
set -eu
cd "$(dirname "$0")/.."
. tests/export_fixtures.inc
S=${CARVE_SHARED:-../shared}
cat > "$T/s.yaml" <<YAML
model: $M
calibration: {text: $S/data/tinystories/calib.txt, n: 4, len: 32, scramble: 0.5}
eval: {text: $S/data/tinystories/valid.txt, seq_len: 64, max_windows: 4}
space: {channel_multiple: 4}
budget: {targets: [0.6], tolerance: 0.05}
algorithm: {kind: ga, population: 6, generations: 2, parents: 2, mutations: 2, crossovers: 2}
baselines: {random: 2}
output: $T/s.db
YAML
"$CARVE" search "$T/s.yaml" --quiet
"$CARVE" front "$T/s.db" --format csv > "$T/front.csv"
ids=$(tail -n +2 "$T/front.csv" | cut -d, -f2 | head -4)
[ -n "$ids" ] || { echo "empty front"; exit 1; }
ppl() { "$CARVE" eval --model "$1" --text "$TXT" --seq-len 128 --max-windows 4 --json "${@:2}" |
        "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["ppl"])'; }
close() { "$PYTHON" -c 'import sys; a,b=map(float,sys.argv[1:3]); sys.exit(0 if abs(a-b) <= 1e-4*abs(a) else 1)' "$1" "$2"; }
n_gguf=0
for id in $ids; do
    "$CARVE" subnet "$T/s.db" "$id" --out "$T/$id.json"
    ref=$(ppl "$M" --subnet "$T/$id.json")
    "$CARVE" export "$T/s.db" "$id" --no-reform --format hf --out "$T/$id.hf" >/dev/null
    hf=$(ppl "$T/$id.hf")
    close "$ref" "$hf" || { echo "candidate $id: HF ppl $hf != $ref in place"; exit 1; }
    "$CARVE" export "$T/s.db" "$id" --no-reform --format gguf --out "$T/$id.gguf" >/dev/null 2>"$T/err" ||
        { echo "candidate $id: GGUF export failed: $(cat "$T/err")"; exit 1; }
    gg=$(ppl "$T/$id.gguf")
    close "$ref" "$gg" || { echo "candidate $id: GGUF ppl $gg != $ref in place"; exit 1; }
    n_gguf=$((n_gguf + 1))
    echo "candidate $id: ppl in place $ref, HF $hf, GGUF $gg"
done
# reformed with the run's calibration settings (text, n 4, len 32, scramble 0.5 from the database)
id=$(echo "$ids" | head -1)
"$CARVE" export "$T/s.db" "$id" --format hf --out "$T/r.hf" --cache-dir "$T/cache" >/dev/null 2>&1
"$CARVE" export --model "$M" --subnet "$T/$id.json" --calib "$S/data/tinystories/calib.txt" --n 4 --len 32 \
    --scramble 0.5 --cache-dir "$T/cache" --format hf --out "$T/r2.hf" >/dev/null 2>&1
cmp "$T/r.hf/model.safetensors" "$T/r2.hf/model.safetensors" || { echo "DB reform did not use the run's settings"; exit 1; }
"$CARVE" export --model "$M" --subnet "$T/$id.json" --calib "$S/data/tinystories/calib.txt" --n 4 --len 32 \
    --cache-dir "$T/cache" --format hf --out "$T/r3.hf" >/dev/null 2>&1
! cmp -s "$T/r.hf/model.safetensors" "$T/r3.hf/model.safetensors" || { echo "scramble 0.5 changed no weight"; exit 1; }
echo "candidate $id reformed from the run's settings: ppl $(ppl "$T/r.hf") (inherited $(ppl "$T/$id.hf")); $n_gguf GGUF exports"
# the search's own final step reformed with the same statistics: the best subnet exported reformed
# from the database scores the held-out ppl the run stored for it
best=$(sqlite3 "$T/s.db" "SELECT candidate_id FROM final_results WHERE role = 'best' AND reformed = 1 LIMIT 1")
want=$(sqlite3 "$T/s.db" "SELECT eval_ppl FROM final_results WHERE role = 'best' AND reformed = 1 LIMIT 1")
[ -n "$best" ] || { echo "no reformed best in final_results"; exit 1; }
"$CARVE" export "$T/s.db" "$best" --format hf --out "$T/b.hf" --cache-dir "$T/cache" >/dev/null 2>&1
got=$("$CARVE" eval --model "$T/b.hf" --text "$S/data/tinystories/valid.txt" --seq-len 64 --max-windows 4 --json |
      "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["ppl"])')
close "$want" "$got" || { echo "best $best: exported reformed ppl $got, the run stored $want"; exit 1; }
echo "best $best reformed as the search did (scrambled statistics): held-out ppl $got = stored $want"
