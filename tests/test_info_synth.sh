#!/usr/bin/env bash
# test_info_synth — `carve synth` writes loadable, deterministic models and `carve info`
# reports their architecture, dtype, parameter counts and the cost of a subnet.
set -u
T=${CARVE_TEST_TMP:-/tmp}/info_synth.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$CARVE" synth --shape tiny --seed 7 --out "$T/a" --quiet || fail "synth tiny"
"$CARVE" synth --shape tiny --seed 7 --out "$T/b" --quiet || fail "synth tiny again"
cmp -s "$T/a/model.safetensors" "$T/b/model.safetensors" || fail "same seed, different weights"
"$CARVE" synth --shape tiny --seed 8 --out "$T/b" --force --quiet || fail "synth --force"
cmp -s "$T/a/model.safetensors" "$T/b/model.safetensors" && fail "different seeds, same weights"
ls "$T" | grep -q tmp && fail "temporary directory left behind"

out=$("$CARVE" info --model "$T/a") || fail "info tiny"
echo "$out"
echo "$out" | grep -q "^arch: *llama, tied embeddings$" || fail "arch line"
echo "$out" | grep -q "dim 64, 4 layers, 4 heads x 16, 2 kv heads, hidden 176, vocab 512, max_seq_len 512" || fail "dims line"
echo "$out" | grep -q "^dtype: *F32$" || fail "dtype line"
echo "$out" | grep -q "^tokenizer: *sentencepiece-style BPE, 512 tokens$" || fail "tokenizer line"
echo "$out" | grep -q "params: *217664 total: embedding 32768, classifier 0, layers 184832, final norm 64" || fail "params line"

"$CARVE" synth --shape qwen-tiny --dtype bf16 --out "$T/q" --quiet || fail "synth qwen-tiny"
"$CARVE" info --model "$T/q" --json >"$T/q.json" || fail "info --json"
"$PYTHON" - "$T/q.json" <<'EOF' || fail "qwen json"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["arch"] == "qwen2" and j["format"] == "hf", j
assert j["qkv_bias"] is True and j["tied_embeddings"] is False, j
assert j["dtype"] == "BF16", j
assert j["tokenizer"] == {"kind": "byte-level BPE", "gguf_model": "gpt2", "vocab": 512}, j["tokenizer"]
# embedding and classifier 512*64 each; per layer: norms 128, q/o 2*4096, k/v 2*2048, biases 64+32+32, mlp 3*176*64
per_layer = 128 + 2 * 4096 + 2 * 2048 + 128 + 3 * 176 * 64
assert j["params"]["layers"] == 4 * per_layer, j["params"]
assert j["params"]["classifier"] == 512 * 64 and j["params"]["total"] == 2 * 512 * 64 + 4 * per_layer + 64, j["params"]
assert j["flops_per_token"] > j["flops_layers"] > 0
EOF

# a subnet: layer 0 keeps heads 0,1 (one KV group) and half the channels; layer 3 drops its MLP
"$PYTHON" - "$T/sub.json" <<'EOF'
import json, sys
layers = [{"attn": True, "heads": [0, 1], "mlp": True, "channels": list(range(88))},
          {"attn": True, "mlp": True}, {"attn": True, "mlp": True}, {"attn": True, "mlp": False}]
json.dump({"format": "carve-subnet/1",
           "model": {"n_layers": 4, "dim": 64, "n_heads": 4, "n_kv_heads": 2, "hidden_dim": 176},
           "layers": layers}, open(sys.argv[1], "w"))
EOF
"$CARVE" info --model "$T/a" --subnet "$T/sub.json" --seq-len 128 --json >"$T/s.json" || fail "info --subnet"
"$CARVE" info --model "$T/a" --subnet "$T/sub.json" | grep -q "^subnet:" || fail "subnet text"
"$PYTHON" - "$T/s.json" <<'EOF' || fail "subnet cost"
import json, sys
j = json.load(open(sys.argv[1]))
dense_layers = 184832 + 64                      # cost_of counts the final norm with the layers
l0 = (2*16*64 + 2*16*64 + 2*16*64 + 64) + (3*88*64 + 64)   # q, k+v (1 kv head), o, norm; mlp
dropped = (46208 - l0) + (3*176*64 + 64)
s = j["subnet"]
assert s["params_layers"] == dense_layers - dropped, (s, dense_layers - dropped)
assert abs(s["params_ratio"] - (dense_layers - dropped) / dense_layers) < 1e-9, s
assert 0 < s["flops_ratio"] < 1 and j["seq_len"] == 128
EOF
# a subnet for another shape is refused with exit 2
"$CARVE" synth --shape tiny --layers 2 --out "$T/two" --quiet || fail "synth --layers"
"$CARVE" info --model "$T/two" --subnet "$T/sub.json" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] || { cat "$T/err"; fail "mismatched subnet rc=$rc"; }

# the llama2.c checkpoint in ../shared still reports through the same command
if [ -f "${CARVE_SHARED:-../shared}/models/stories260K/stories260K.bin" ]; then
    "$CARVE" info --model "${CARVE_SHARED:-../shared}/models/stories260K/stories260K.bin" | grep -q "dim 64, 5 layers" \
        || fail "stories260K info"
fi
echo ok
