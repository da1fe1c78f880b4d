#!/usr/bin/env bash
# test_export_gguf_reader — GGUF files carve exports (dense, a uniform and a heterogeneous
# subnet of stories260K; F32, F16 and BF16) are parsed by an independent reader, Hugging Face's
# @huggingface/gguf (npm, installed once into $BUILD/npm-gguf), and compared key by key,
# tensor by tensor (names, shapes, types, data hashes) with the manifest carve wrote of what it
# meant to write. Also checks that the tensors hold exactly the kept parameters, and RoPE scaling
# (llama3 -> rope_freqs.weight, linear -> rope.scaling.type/factor) of synth'd models.
# Skips (77) when npm/node are unavailable or the package cannot be installed.
set -eu
cd "$(dirname "$0")/.."
. tests/export_fixtures.inc
command -v node >/dev/null && command -v npm >/dev/null || { echo "node/npm not available"; exit 77; }
NPM_DIR=$PWD/${BUILD:-build}/npm-gguf
if [ ! -f "$NPM_DIR/node_modules/@huggingface/gguf/package.json" ]; then
    mkdir -p "$NPM_DIR"
    npm install --no-save --no-audit --no-fund --prefix "$NPM_DIR" @huggingface/gguf@0.4.6 >"$T/npm.log" 2>&1 ||
        { tail -3 "$T/npm.log"; echo "npm install @huggingface/gguf@0.4.6 failed"; exit 77; }
fi

check() { # NAME [export args...]
    local name=$1; shift
    "$CARVE" export --model "$M" --format gguf --out "$T/$name.gguf" --manifest "$T/$name.manifest.json" "$@"
    node tests/gguf_check.mjs "$NPM_DIR/node_modules" "$T/$name.gguf" "$T/$name.manifest.json"
}
params_in_manifest() {
    "$PYTHON" -c "import json,sys,math; print(sum(math.prod(t['shape']) for t in json.load(open(sys.argv[1]))['tensors']))" "$1"
}

check dense
check dense_f16 --dtype f16
check dense_bf16 --dtype bf16
for s in uniform hetero; do
    check "$s" --subnet "$T/$s.json" --no-reform
    want=$(expected_params "$T/$s.json" gguf); got=$(params_in_manifest "$T/$s.manifest.json")
    [ "$want" = "$got" ] || { echo "$s: the GGUF holds $got parameters, expected $want"; exit 1; }
done
# per-layer arrays of the heterogeneous export, as the independent reader saw them
"$PYTHON" - "$T/hetero.manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["metadata"]
assert m["deci.attention.head_count"]["value"] == [4, 0, 4, 8, 0], m["deci.attention.head_count"]
assert m["deci.attention.head_count_kv"]["value"] == [2, 0, 4, 4, 0], m["deci.attention.head_count_kv"]
assert m["deci.feed_forward_length"]["value"] == [100, 172, 1, 50, 0], m["deci.feed_forward_length"]
PY
# RoPE scaling: llama3 goes out as the F32 tensor rope_freqs.weight (head_dim/2 = 8 divisors: 1 for the
# fastest pairs, the factor for the slowest), linear as deci.rope.scaling.type/factor
for kind in llama3 linear; do
    "$CARVE" synth --shape qwen-tiny --rope-scaling $kind --rope-factor 4 --out "$T/rope-$kind" --quiet
    "$CARVE" export --model "$T/rope-$kind" --format gguf --out "$T/rope-$kind.gguf" --manifest "$T/rope-$kind.manifest.json"
    node tests/gguf_check.mjs "$NPM_DIR/node_modules" "$T/rope-$kind.gguf" "$T/rope-$kind.manifest.json"
done
"$PYTHON" - "$T/rope-llama3.manifest.json" "$T/rope-linear.manifest.json" <<'PY'
import json, sys
l3, lin = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
t = [x for x in l3["tensors"] if x["name"] == "rope_freqs.weight"]
assert len(t) == 1 and t[0]["shape"] == [8] and t[0]["type"] == 0, t
assert "deci.rope.scaling.type" not in l3["metadata"]
assert lin["metadata"]["deci.rope.scaling.type"]["value"] == "linear", lin["metadata"]
assert lin["metadata"]["deci.rope.scaling.factor"]["value"] == 4.0
assert not any(x["name"] == "rope_freqs.weight" for x in lin["tensors"])
PY
echo "all GGUF exports match their manifests"
