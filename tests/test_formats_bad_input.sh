#!/usr/bin/env bash
# test_formats_bad_input — every kind of broken Hugging Face model directory must make
# `carve info --model` exit 2 with ONE line on stderr ("carve: <file>: <problem>"), never
# crash (this runs under ASan/UBSan in `make asan`). The broken inputs are made from a
# synth'd tiny model by rewriting its safetensors header / config.json with python; the GGUF
# RoPE-scaling cases patch the rope_freqs.weight entry of an exported scaled model.
set -u
T=${CARVE_TEST_TMP:-/tmp}/fmt_bad.$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
"$CARVE" synth --shape tiny --dtype bf16 --seed 3 --out "$T/base" --quiet || { echo "synth failed"; exit 1; }
"$CARVE" info --model "$T/base" >/dev/null || { echo "base model does not load"; exit 1; }
fails=0

# edit DIR PYTHON-CODE: the code sees `hdr` (parsed header dict), `data` (bytes after the
# header), `raw` (whole file bytes) and `cfg` (parsed config.json); it may set `out_raw`
# (bytes to write verbatim) or leave hdr/data to be re-serialised.
edit() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import json, struct, sys, os
d, code = sys.argv[1], sys.argv[2]
st = os.path.join(d, "model.safetensors")
raw = open(st, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
data = raw[8 + n:]
cfg = json.load(open(os.path.join(d, "config.json")))
cfg_text = None
out_raw = None
exec(code)
if out_raw is None:
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    out_raw = struct.pack("<Q", len(h)) + h + data
open(st, "wb").write(out_raw)
if cfg_text is None:
    cfg_text = json.dumps(cfg)
open(os.path.join(d, "config.json"), "w").write(cfg_text)
EOF
}

# case NAME PYTHON-CODE EXPECTED-SUBSTRING [FILE-NAMED]
case_() {
    local name=$1 code=$2 want=$3 file=${4:-model.safetensors} d="$T/$1"
    cp -r "$T/base" "$d"
    edit "$d" "$code" || { echo "FAIL $name: could not build the input"; fails=$((fails+1)); return; }
    "$CARVE" info --model "$d" >"$T/out" 2>"$T/err"
    local rc=$? lines
    lines=$(wc -l <"$T/err")
    if [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$want" "$T/err" || ! grep -q "^carve: " "$T/err" \
       || ! grep -qF -- "$d/$file" "$T/err"; then
        echo "FAIL $name: rc=$rc lines=$lines, want '$want' naming $d/$file; stderr:"; cat "$T/err"
        fails=$((fails+1))
    else
        echo "ok   $name: $(cat "$T/err")"
    fi
}

case_ truncated_header   'out_raw = raw[:8 + 100]'                               'truncated safetensors header'
case_ header_len_past_eof 'out_raw = struct.pack("<Q", len(raw)) + raw[8:]'       'truncated safetensors header'
case_ oversized_header   'out_raw = struct.pack("<Q", 1 << 50) + raw[8:]'         'is absurd'
case_ tiny_file          'out_raw = raw[:5]'                                      'truncated safetensors file (5 bytes'
case_ header_not_json    'out_raw = raw[:9] + b"\"x\" : [" + raw[16:]'            'header is not valid JSON'
case_ truncated_data     'out_raw = raw[:-1000]'                                  'runs past the end of the file'
case_ offsets_past_eof   'hdr["model.norm.weight"]["data_offsets"] = [len(data), len(data) + 128]' \
                         "tensor 'model.norm.weight' data"
case_ begin_after_end    't = hdr["model.norm.weight"]; t["data_offsets"] = t["data_offsets"][::-1]' \
                         "has data_offsets begin"
case_ overlapping        'a = hdr["model.layers.0.self_attn.q_proj.weight"]["data_offsets"]; hdr["model.layers.0.self_attn.o_proj.weight"]["data_offsets"] = list(a)' \
                         'overlap'
case_ unknown_dtype      'hdr["model.layers.1.mlp.up_proj.weight"]["dtype"] = "F12"' \
                         "tensor 'model.layers.1.mlp.up_proj.weight' has unknown dtype 'F12'"
case_ unsupported_dtype  't = hdr["model.layers.1.mlp.up_proj.weight"]; t["dtype"] = "I16"' \
                         'tensor model.layers.1.mlp.up_proj.weight has dtype I16'
case_ size_mismatch      'hdr["model.layers.2.self_attn.k_proj.weight"]["shape"] = [32, 63]' \
                         'holds 4096 bytes but shape x BF16 size needs 4032'
case_ missing_tensor     'del hdr["model.layers.2.mlp.up_proj.weight"]'           'missing tensor model.layers.2.mlp.up_proj.weight'
case_ missing_embedding  'del hdr["model.embed_tokens.weight"]'                   'missing tensor model.embed_tokens.weight'
case_ shape_vs_config    'hdr["model.layers.0.self_attn.q_proj.weight"]["shape"] = [32, 128]' \
                         'q_proj of layer 0 has shape [32, 128], config says [64, 64]'
case_ config_hidden      'cfg["intermediate_size"] = 160'                         'gate_proj of layer 0 has shape [176, 64], config says [160, 64]'
case_ config_vocab       'cfg["vocab_size"] = 1000'                               'token embedding has shape [512, 64], config says [1000, 64]'
case_ config_not_json    'cfg_text = "{\"hidden_size\": 64,,}"'                    'not valid JSON' config.json
case_ config_not_object  'cfg_text = "[1, 2, 3]"'                                 'not a JSON object' config.json
case_ config_missing_key 'del cfg["num_attention_heads"]'                         'missing key "num_attention_heads"' config.json
case_ config_bad_type    'cfg["num_hidden_layers"] = "four"'                      '"num_hidden_layers" is not an integer' config.json
case_ config_bad_heads   'cfg["num_key_value_heads"] = 3'                         'num_attention_heads 4 is not a multiple of num_key_value_heads 3' config.json
case_ config_act         'cfg["hidden_act"] = "gelu"'                              "hidden_act 'gelu' is not supported" config.json
case_ mlp_bias           'hdr["model.layers.1.mlp.up_proj.bias"] = {"dtype": "BF16", "shape": [4], "data_offsets": [len(data), len(data) + 8]}; data += bytes([0, 0x3f] * 4)' \
                         'tensor model.layers.1.mlp.up_proj.bias is not supported'
case_ config_arch        'cfg["architectures"] = ["BertModel"]'                   "unsupported architecture 'BertModel'" config.json

# rope_scaling: unsupported types and bad fields (llama3 / linear / default load, see test_hf_model)
L3='{"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}'
case_ rope_yarn          'cfg["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0}' "rope_scaling type 'yarn' is not supported" config.json
case_ rope_dynamic_old   'cfg["rope_scaling"] = {"type": "dynamic", "factor": 2.0}' "rope_scaling type 'dynamic' is not supported" config.json
case_ rope_no_type       'cfg["rope_scaling"] = {"factor": 2.0}'                   'rope_scaling has no "rope_type" (or "type") string' config.json
case_ rope_not_object    'cfg["rope_scaling"] = "llama3"'                          'rope_scaling is not an object' config.json
case_ rope_no_factor     'cfg["rope_scaling"] = {"type": "linear"}'                'rope_scaling (linear) is missing "factor"' config.json
case_ rope_factor_string "cfg['rope_scaling'] = dict(json.loads('$L3'), factor='32')" 'rope_scaling (llama3): "factor" is not a number' config.json
case_ rope_factor_zero   'cfg["rope_scaling"] = {"rope_type": "linear", "factor": 0}' 'rope_scaling (linear): "factor" = 0 must be positive' config.json
case_ rope_factor_neg    "cfg['rope_scaling'] = dict(json.loads('$L3'), factor=-8.0)" 'rope_scaling (llama3): "factor" = -8 must be positive' config.json
case_ rope_no_orig       "r = json.loads('$L3'); del r['original_max_position_embeddings']; cfg['rope_scaling'] = r" \
                         '"original_max_position_embeddings" must be a positive integer' config.json
case_ rope_low_high      "cfg['rope_scaling'] = dict(json.loads('$L3'), low_freq_factor=4.0, high_freq_factor=1.0)" \
                         'high_freq_factor 1 must exceed low_freq_factor 4' config.json

# GGUF RoPE scaling, through the CLI: a llama3-scaled model exported to GGUF carries rope_freqs.weight
# (F32, head_dim/2 = 8 values); its tensor-info entry is patched to a wrong length and a wrong dtype
"$CARVE" synth --shape qwen-tiny --seed 3 --rope-scaling llama3 --rope-orig 64 --out "$T/l3" --quiet &&
    "$CARVE" export --model "$T/l3" --format gguf --out "$T/l3.gguf" >/dev/null ||
    { echo "FAIL: could not make the scaled GGUF"; fails=$((fails+1)); }
# gguf_case NAME PYTHON-CODE EXPECTED: the code edits the bytes after the tensor name of
# rope_freqs.weight in `raw` (at `at`: n_dims u32, dims u64[n_dims], type u32, offset u64)
gguf_case() {
    local name=$1 out=$T/$1.gguf
    "$PYTHON" - "$T/l3.gguf" "$out" "$2" <<'EOF' || { echo "FAIL $name: could not build the input"; fails=$((fails+1)); return; }
import struct, sys
raw = bytearray(open(sys.argv[1], "rb").read())
key = b"rope_freqs.weight"
at = raw.index(struct.pack("<Q", len(key)) + key) + 8 + len(key)
assert struct.unpack_from("<IQ", raw, at) == (1, 8), "rope_freqs.weight is not 8 values"
exec(sys.argv[3])
open(sys.argv[2], "wb").write(raw)
EOF
    "$CARVE" info --model "$out" >/dev/null 2>"$T/err"
    local rc=$?
    if [ $rc -ne 2 ] || [ "$(wc -l <"$T/err")" -ne 1 ] || ! grep -qF -- "$3" "$T/err" || ! grep -qF -- "$out" "$T/err"; then
        echo "FAIL $name: rc=$rc, want '$3' naming $out; stderr:"; cat "$T/err"; fails=$((fails+1))
    else echo "ok   $name: $(cat "$T/err")"; fi
}
gguf_case rope_freqs_length 'struct.pack_into("<Q", raw, at + 4, 4)'  'rope_freqs.weight has shape [1, 4], expected 8 values (head_dim/2)'
gguf_case rope_freqs_f16    'struct.pack_into("<I", raw, at + 12, 1)' 'rope_freqs.weight has ggml type 1, expected F32'

# a header whose length is not a multiple of 8 leaves the data misaligned: still loads
# (the loader keeps aligned copies of such tensors), with the same parameter counts
cp -r "$T/base" "$T/misaligned"
edit "$T/misaligned" 'h = json.dumps(hdr).encode() + b"   "; h += b" " * ((-len(h) % 8) + 1); out_raw = struct.pack("<Q", len(h)) + h + data'
"$CARVE" info --model "$T/misaligned" >"$T/mis.txt" 2>"$T/err" && "$CARVE" info --model "$T/base" >"$T/base.txt" \
    && diff <(grep params "$T/base.txt") <(grep params "$T/mis.txt") >/dev/null \
    || { echo "FAIL misaligned:"; cat "$T/err"; fails=$((fails+1)); }

# no weights at all
cp -r "$T/base" "$T/noweights" && rm "$T/noweights/model.safetensors"
"$CARVE" info --model "$T/noweights" 2>"$T/err" >/dev/null
if [ $? -ne 2 ] || ! grep -q "no model.safetensors or model.safetensors.index.json" "$T/err"; then
    echo "FAIL noweights:"; cat "$T/err"; fails=$((fails+1)); else echo "ok   noweights: $(cat "$T/err")"; fi
# a missing path and an empty file
"$CARVE" info --model "$T/nope" 2>"$T/err" >/dev/null
[ $? -eq 2 ] && grep -q "no such file" "$T/err" || { echo "FAIL nope"; cat "$T/err"; fails=$((fails+1)); }
# usage errors are exit 1, --help exit 0
"$CARVE" info >/dev/null 2>&1; [ $? -eq 1 ] || { echo "FAIL info without --model"; fails=$((fails+1)); }
"$CARVE" info --help | grep -q "usage: carve info" || { echo "FAIL info --help"; fails=$((fails+1)); }
"$CARVE" synth --help | grep -q "usage: carve synth" || { echo "FAIL synth --help"; fails=$((fails+1)); }
"$CARVE" synth --shape nope --out "$T/x" >/dev/null 2>&1; [ $? -eq 1 ] || { echo "FAIL synth bad shape"; fails=$((fails+1)); }
"$CARVE" synth --shape tiny --out "$T/base" --quiet 2>"$T/err"
[ $? -eq 2 ] && grep -q "already exists" "$T/err" || { echo "FAIL synth existing out"; cat "$T/err"; fails=$((fails+1)); }
"$CARVE" synth --shape tiny --kv-heads 3 --out "$T/kv3" --quiet 2>"$T/err"
[ $? -eq 2 ] && grep -q "does not divide" "$T/err" && [ ! -e "$T/kv3" ] || { echo "FAIL synth kv 3"; cat "$T/err"; fails=$((fails+1)); }

echo "$fails failures"
[ $fails -eq 0 ]
