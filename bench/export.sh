#!/usr/bin/env bash
# bench/export — speed-up of an exported subnet in carve's own runtime. Synthesizes a
# llama-1b-shaped model (carve synth, random weights, bf16 on disk), exports its uniform 50%
# subnet (half the query heads of every KV group, half the MLP channels in every layer) as a
# Hugging Face directory, and evaluates, in this one run, the dense model, the subnet in place
# (--subnet masks) and the exported model on the same text; prints tokens/s and the ratios.
# usage: bench/export.sh [WORKDIR]   (default bench/out/export; needs ~8 GB of disk)
# env: SEQ (default 128), WINDOWS (default 4), DTYPE (default bf16)
set -euo pipefail
cd "$(dirname "$0")/.."
CARVE=${CARVE:-./carve}
PY=${PYTHON:-/usr/bin/python3}
W=${1:-bench/out/export}
SEQ=${SEQ:-128}; WINDOWS=${WINDOWS:-4}; DTYPE=${DTYPE:-bf16}
TXT=../shared/data/tinystories/valid.txt
[ -f "$TXT" ] || { echo "bench/export: $TXT missing" >&2; exit 2; }
mkdir -p "$W"
[ -d "$W/llama-1b" ] || "$CARVE" synth --shape llama-1b --dtype "$DTYPE" --out "$W/llama-1b" --quiet
"$PY" - "$W/llama-1b/config.json" "$W/half.json" <<'PY'
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
"$CARVE" export --model "$W/llama-1b" --subnet "$W/half.json" --format hf --out "$W/llama-1b-half" --no-reform --force
du -sb "$W/llama-1b/model.safetensors" "$W/llama-1b-half/model.safetensors"
ev() { "$CARVE" eval --model "$1" --text "$TXT" --seq-len "$SEQ" --max-windows "$WINDOWS" --cache-mb 12288 --json "${@:2}"; }
dense=$(ev "$W/llama-1b"); echo "dense:          $dense"
inplace=$(ev "$W/llama-1b" --subnet "$W/half.json"); echo "subnet in place: $inplace"
exported=$(ev "$W/llama-1b-half"); echo "exported:       $exported"
"$PY" - "$dense" "$inplace" "$exported" <<'PY'
import json, sys
d, i, e = (json.loads(a) for a in sys.argv[1:4])
print("tokens/s: dense %.1f, subnet in place %.1f, exported %.1f" % (d["tokens_per_s"], i["tokens_per_s"], e["tokens_per_s"]))
print("speed-up of the exported 50%% subnet over the dense model: %.2fx (in place: %.2fx)"
      % (e["tokens_per_s"] / d["tokens_per_s"], i["tokens_per_s"] / d["tokens_per_s"]))
print("ppl exported / in place: %.6f / %.6f" % (e["ppl"], i["ppl"]))
PY
