#!/usr/bin/env bash
# test_export_roundtrip — subnets of stories260K (uniform; heterogeneous with an attention-free,
# an MLP-free and an empty layer) exported as a Hugging Face directory and as GGUF evaluate, with
# `carve eval`, to the perplexity of the subnet evaluated in place (1e-4 relative), and the files
# hold exactly the kept parameters: the safetensors data section is 4 bytes per kept weight, the
# GGUF file 4 bytes per kept weight plus a header no larger than the dense export's.
# With reformation (the default) the exported weights are exactly what `carve reform --out`
# writes, HF and GGUF evaluate alike, and the perplexity differs from the inherited weights'.
# RoPE-scaled models (llama3, linear) keep their ppl through HF, GGUF and GGUF->GGUF export.
# o_proj / down_proj output biases (reformation's intercept, FLAP's compensation) survive HF, GGUF
# and GGUF->HF.
set -eu
cd "$(dirname "$0")/.."
. tests/export_fixtures.inc
ppl() { "$CARVE" eval --model "$1" --text "$TXT" --seq-len 128 --max-windows 8 --json "${@:2}" |
        "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["ppl"])'; }
close() { "$PYTHON" -c 'import sys; a,b=map(float,sys.argv[1:3]); sys.exit(0 if abs(a-b) <= 1e-4*abs(a) else 1)' "$1" "$2"; }
size() { stat -c %s "$1"; }

"$CARVE" export --model "$M" --format gguf --out "$T/dense.gguf" >/dev/null
P_dense=$(expected_params <(echo '{"layers":[{},{},{},{},{}]}') gguf)
overhead_dense=$(( $(size "$T/dense.gguf") - 4 * P_dense ))
[ $overhead_dense -gt 0 ] && [ $overhead_dense -lt 16384 ] || { echo "dense GGUF header $overhead_dense bytes?"; exit 1; }
ref_dense=$(ppl "$M"); got=$(ppl "$T/dense.gguf")
close "$ref_dense" "$got" || { echo "dense: ppl $ref_dense in place, $got from GGUF"; exit 1; }
echo "dense: ppl $ref_dense, GGUF $got"

for s in uniform hetero; do
    S=$T/$s.json
    "$CARVE" export --model "$M" --subnet "$S" --no-reform --format hf --out "$T/$s.hf" >/dev/null
    "$CARVE" export --model "$M" --subnet "$S" --no-reform --format gguf --out "$T/$s.gguf" >/dev/null
    ref=$(ppl "$M" --subnet "$S"); hf=$(ppl "$T/$s.hf"); gg=$(ppl "$T/$s.gguf")
    echo "$s: ppl in place $ref, HF $hf, GGUF $gg"
    close "$ref" "$hf" || { echo "$s: HF export ppl $hf != $ref"; exit 1; }
    close "$ref" "$gg" || { echo "$s: GGUF export ppl $gg != $ref"; exit 1; }
    P_hf=$(expected_params "$S" hf); P_gg=$(expected_params "$S" gguf)
    st=$T/$s.hf/model.safetensors
    hlen=$("$PYTHON" -c 'import struct,sys; print(struct.unpack("<Q", open(sys.argv[1],"rb").read(8))[0])' "$st")
    [ $(( $(size "$st") - 8 - hlen )) -eq $(( 4 * P_hf )) ] ||
        { echo "$s: safetensors data $(( $(size "$st") - 8 - hlen )) bytes, expected $(( 4 * P_hf ))"; exit 1; }
    ov=$(( $(size "$T/$s.gguf") - 4 * P_gg ))
    [ $ov -gt 0 ] && [ $ov -le $overhead_dense ] ||
        { echo "$s: GGUF is $(size "$T/$s.gguf") bytes for $P_gg weights (dense header $overhead_dense)"; exit 1; }
    echo "$s: $P_hf of $P_dense weights kept; safetensors $(size "$st") B, GGUF $(size "$T/$s.gguf") B (dense $(size "$T/dense.gguf") B)"
done

# reformed export (one-shot, small calibration): the same weights as `carve reform`, in both formats
CAL=${CARVE_SHARED:-../shared}/data/tinystories/calib.txt
RO="--calib $CAL --n 8 --len 128 --cache-dir $T/cache"
S=$T/hetero.json
"$CARVE" export --model "$M" --subnet "$S" $RO --format hf --out "$T/ref.hf" >/dev/null 2>&1
"$CARVE" export --model "$M" --subnet "$S" $RO --format gguf --out "$T/ref.gguf" >/dev/null 2>&1
"$CARVE" reform --model "$M" --subnet "$S" $RO --out "$T/reform.hf" >/dev/null 2>&1
cmp "$T/ref.hf/model.safetensors" "$T/reform.hf/model.safetensors" || { echo "reformed export differs from carve reform --out"; exit 1; }
hf=$(ppl "$T/ref.hf"); gg=$(ppl "$T/ref.gguf"); inherited=$(ppl "$T/hetero.hf")
echo "hetero reformed: ppl HF $hf, GGUF $gg (inherited weights $inherited)"
close "$hf" "$gg" || { echo "reformed: GGUF ppl $gg != HF $hf"; exit 1; }
close "$hf" "$inherited" && { echo "reformed export has the inherited weights' ppl"; exit 1; }

# Output biases (the default intercept fit, and FLAP's bias-only compensation) survive every format:
# the HF directory declares attention_bias/mlp_bias and holds the whole Llama bias sets (zeros where
# the model has none), the GGUF file holds attn_output.bias / ffn_down.bias, and HF -> GGUF -> HF
# (--no-reform) keeps the perplexity.
"$PYTHON" - "$T/ref.hf" <<'PY' || exit 1
import json, struct, sys
d = sys.argv[1]; c = json.load(open(d + "/config.json"))
raw = open(d + "/model.safetensors", "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
names = set(json.loads(raw[8:8 + n])) - {"__metadata__"}
want = {"model.layers.0.self_attn.o_proj.bias", "model.layers.0.mlp.down_proj.bias", "model.layers.0.mlp.gate_proj.bias",
        "model.layers.0.self_attn.q_proj.bias", "model.layers.3.mlp.down_proj.bias", "model.layers.2.self_attn.o_proj.bias"}
bad = [] if c.get("attention_bias") and c.get("mlp_bias") else ["config: attention_bias/mlp_bias not set"]
bad += sorted(want - names) + sorted(x for x in names if x.startswith(("model.layers.1.self_attn", "model.layers.2.mlp", "model.layers.4.")))
print("reformed HF export biases:", "ok" if not bad else bad); sys.exit(1 if bad else 0)
PY
TOK=${CARVE_SHARED:-../shared}/models/stories260K/tok512.bin
"$CARVE" reform --model "$M" --subnet "$S" $RO --fit bias --out "$T/flap.hf" >/dev/null 2>&1
for src in ref flap; do
    "$CARVE" export --model "$T/$src.hf" --no-reform --format gguf --manifest "$T/$src.manifest" --out "$T/$src.2.gguf" >/dev/null
    "$CARVE" export --model "$T/$src.2.gguf" --no-reform --format hf --out "$T/$src.3.hf" >/dev/null 2>&1
    a=$(ppl "$T/$src.hf"); b=$(ppl "$T/$src.2.gguf"); c=$(ppl "$T/$src.3.hf" --tokenizer "$TOK")
    echo "$src biases: ppl HF $a, HF->GGUF $b, GGUF->HF $c"
    close "$a" "$b" && close "$a" "$c" || { echo "$src: output biases changed the ppl across formats"; exit 1; }
    for t in blk.0.attn_output.bias blk.0.ffn_down.bias blk.3.ffn_down.bias; do
        grep -q "\"$t\"" "$T/$src.manifest" || { echo "$src: GGUF lacks $t"; exit 1; }
    done
done
fl=$(ppl "$T/flap.hf"); close "$fl" "$inherited" && { echo "FLAP compensation changed nothing"; exit 1; }

# RoPE scaling survives export: a qwen-tiny model (byte-level tokenizer, so GGUF can embed it) with
# llama3 scaling (original context 64, so windows of 128 reach the scaled pairs) and one with linear
# scaling; same weights as the plain model, whose ppl must differ. HF keeps the rope_scaling object,
# GGUF carries llama3 as rope_freqs.weight and linear as rope.scaling.type/factor; a GGUF re-export
# and a subnet of the GGUF (extracted with its rope_freqs) keep the ppl; GGUF rope_freqs -> HF is refused.
"$CARVE" synth --shape qwen-tiny --seed 5 --out "$T/rope-plain" --quiet
plain=$(ppl "$T/rope-plain")
qhead='"format": "carve-subnet/1", "model": {"n_layers": 4, "dim": 64, "n_heads": 4, "n_kv_heads": 2, "hidden_dim": 176}'
echo "{$qhead, \"layers\": [{\"heads\": [0,1]}, {\"mlp\": false}, {\"channels\": $C100}, {}]}" > "$T/rope-sub.json"
for kind in llama3 linear; do
    R=$T/rope-$kind
    if [ $kind = llama3 ]; then opt="--rope-orig 64"; else opt="--rope-factor 4"; fi
    "$CARVE" synth --shape qwen-tiny --seed 5 --rope-scaling $kind $opt --out "$R" --quiet
    "$CARVE" export --model "$R" --format hf --out "$R.hf" >/dev/null
    "$CARVE" export --model "$R" --format gguf --out "$R.gguf" >/dev/null
    "$CARVE" export --model "$R.gguf" --format gguf --out "$R.2.gguf" >/dev/null
    "$CARVE" export --model "$R.gguf" --subnet "$T/rope-sub.json" --no-reform --format gguf --out "$R.sub.gguf" >/dev/null
    ref=$(ppl "$R"); hf=$(ppl "$R.hf"); gg=$(ppl "$R.gguf"); gg2=$(ppl "$R.2.gguf")
    sub=$(ppl "$R.gguf" --subnet "$T/rope-sub.json"); subx=$(ppl "$R.sub.gguf")
    echo "rope $kind: ppl $ref (plain RoPE $plain), HF $hf, GGUF $gg, GGUF re-export $gg2; subnet in place $sub, exported $subx"
    for x in "$hf" "$gg" "$gg2"; do close "$ref" "$x" || { echo "rope $kind: export ppl $x != $ref"; exit 1; }; done
    close "$sub" "$subx" || { echo "rope $kind: subnet export ppl $subx != $sub"; exit 1; }
    close "$ref" "$plain" && { echo "rope $kind: ppl equals the plain-RoPE model's"; exit 1; }
    "$PYTHON" -c 'import json,sys; a,b=(json.load(open(p+"/config.json"))["rope_scaling"] for p in sys.argv[1:3]); sys.exit(a!=b)' "$R" "$R.hf" ||
        { echo "rope $kind: HF export rope_scaling differs"; exit 1; }
done
"$CARVE" info --model "$T/rope-llama3.gguf" | grep -q "scaling GGUF rope_freqs table" || { echo "llama3 GGUF has no rope_freqs"; exit 1; }
"$CARVE" info --model "$T/rope-linear.gguf" | grep -q "scaling linear (factor 4)" || { echo "linear GGUF lost its factor"; exit 1; }
rc=0; "$CARVE" export --model "$T/rope-llama3.gguf" --format hf --out "$T/rope-llama3.gguf.hf" >/dev/null 2>"$T/err" || rc=$?
[ $rc -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "rope_freqs.weight table, which a Hugging Face config.json cannot express" "$T/err" ||
    { echo "GGUF rope_freqs -> HF not refused:"; cat "$T/err"; exit 1; }
exit 0
