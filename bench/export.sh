#!/usr/bin/env bash
# bench/export — speed-up of an exported subnet in carve's own runtime. Synthesizes a
# llama-1b-shaped model (carve synth, random weights, bf16 on disk), exports its uniform 50%
# subnet (half the query heads of every KV group, half the MLP channels in every layer) as a
# Hugging Face directory, and evaluates, in this one run, the dense model, the subnet in place
# (--subnet masks) and the exported model on the same text; prints tokens/s and the ratios.
# usage: bench/export.sh [WORKDIR]   (default bench/out/export; needs ~8 GB of disk)
# env: SEQ (default 128), WINDOWS (default 2), DTYPE (default bf16), REPEAT (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
CARVE=${CARVE:-./carve}
PY=${PYTHON:-/usr/bin/python3}
W=${1:-bench/out/export}
SEQ=${SEQ:-128}; WINDOWS=${WINDOWS:-2}; DTYPE=${DTYPE:-bf16}; REPEAT=${REPEAT:-2}
TXT=../shared/data/tinystories/valid.txt
TOK=../shared/models/llama2-tokenizer/tokenizer.bin  # synth writes no tokenizer at this vocabulary size
[ -f "$TXT" ] && [ -f "$TOK" ] || { echo "bench/export: $TXT or $TOK missing" >&2; exit 2; }
mkdir -p "$W"
[ -d "$W/llama-1b" ] || "$CARVE" synth --shape llama-1b --dtype "$DTYPE" --out "$W/llama-1b" --quiet
[ -f "$W/half.json" ] || "$PY" - "$W/llama-1b/config.json" "$W/half.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
H, KV, F, L = c["num_attention_heads"], c["num_key_value_heads"], c["intermediate_size"], c["num_hidden_layers"]
g = H // KV
heads = [k * g + j for k in range(KV) for j in range(g // 2)]      # half of every GQA group
layer = {"heads": heads, "channels": list(range(F // 2))}
json.dump({"format": "carve-subnet/1",
           "model": {"n_layers": L, "dim": c["hidden_size"], "n_heads": H, "n_kv_heads": KV, "hidden_dim": F},
           "layers": [layer] * L}, open(sys.argv[2], "w"))
PY
[ -d "$W/llama-1b-half" ] && [ "$W/llama-1b-half" -nt "$W/half.json" ] ||
    "$CARVE" export --model "$W/llama-1b" --subnet "$W/half.json" --format hf --out "$W/llama-1b-half" --no-reform --force
du -sb "$W/llama-1b/model.safetensors" "$W/llama-1b-half/model.safetensors"
ev() { "$CARVE" eval --model "$1" --text "$TXT" --seq-len "$SEQ" --max-windows "$WINDOWS" --cache-mb 12288 --tokenizer "$TOK" --json "${@:2}"; }
# alternate the three evaluations REPEAT times and keep each one's best tokens/s (the machine may be shared)
: > "$W/results.jsonl"
for r in $(seq "$REPEAT"); do
    echo "{\"run\": \"dense\", \"r\": $r, \"eval\": $(ev "$W/llama-1b")}" | tee -a "$W/results.jsonl"
    echo "{\"run\": \"in place\", \"r\": $r, \"eval\": $(ev "$W/llama-1b" --subnet "$W/half.json")}" | tee -a "$W/results.jsonl"
    echo "{\"run\": \"exported\", \"r\": $r, \"eval\": $(ev "$W/llama-1b-half")}" | tee -a "$W/results.jsonl"
done
"$PY" - "$W/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
best = {k: max(r["eval"]["tokens_per_s"] for r in rows if r["run"] == k) for k in ("dense", "in place", "exported")}
ppl = {r["run"]: r["eval"]["ppl"] for r in rows}
print("best tokens/s over %d alternated runs: dense %.2f, subnet in place %.2f, exported %.2f"
      % (len(rows) // 3, best["dense"], best["in place"], best["exported"]))
print("speed-up of the exported 50%% subnet over the dense model: %.2fx (subnet in place: %.2fx)"
      % (best["exported"] / best["dense"], best["in place"] / best["dense"]))
print("ppl exported %.6f, in place %.6f (random weights: only their equality matters)" % (ppl["exported"], ppl["in place"]))
PY
