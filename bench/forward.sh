#!/usr/bin/env bash
# bench/forward.sh — forward-pass speed, measured as ratios within one run (no pass/fail):
#   for SmolLM-135M- and Llama-3.2-1B-shaped random F32 models (carve synth), one sequence of
#   512 tokens: dense tokens/s, GFLOP/s and its share of the sgemm ceiling measured in the same
#   process (interleaved with the forward repetitions, best of each) on the model's largest
#   projection shape, and the time of two 50% subnets relative to dense, for the whole forward and
#   for the transformer layers alone: "layers50" keeps half the heads and half the channels of every
#   layer (the never-pruned classifier keeps its whole-forward FLOP ratio near 0.6), "flops50" keeps
#   the same fraction r of every layer with r chosen so the whole forward costs half the dense FLOPs.
#   Targets: share >= 0.75; a 50% subnet (flops50) <= 0.55x dense. llama.cpp's CPU build does
#   ~590 tokens/s on the SmolLM shape here.
#   --with-7b also evaluates a Llama-2-7B-shaped BF16 model (~13.5 GB written to $BENCH_TMP) on
#   2 windows of 512 tokens and reports its peak RSS (target <= 16 GiB).
# Environment: BENCH_TMP (default /tmp) for the synthesised models, deleted at the end.
# OPENBLAS_CORETYPE is unset so that carve picks OpenBLAS's kernels for this CPU itself
# (BENCH_KEEP_CORETYPE=1 keeps a value from the environment).
set -eu
cd "$(dirname "$0")/.."
with7b=0
for a in "$@"; do
    case $a in
    --with-7b) with7b=1 ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "bench/forward.sh: unknown argument $a" >&2; exit 1 ;;
    esac
done
make -s carve
[ "${BENCH_KEEP_CORETYPE:-0}" = 1 ] || unset OPENBLAS_CORETYPE
CARVE=$PWD/build/carve
TMP=$(mktemp -d "${BENCH_TMP:-/tmp}/carve-bench-forward.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"

for shape in smollm-135m llama-1b; do
    echo "## $shape (f32, seq 512)"
    "$CARVE" synth --shape "$shape" --dtype f32 --seed 1 --out "$TMP/$shape" --quiet
    "$CARVE" bench-forward --model "$TMP/$shape" --seq-len 512 --batch 1 --reps 5
    rm -rf "${TMP:?}/$shape"
done

if [ $with7b = 1 ]; then
    echo "## llama2-7b (bf16): carve eval, 2 windows of 512 tokens"
    df -h "$TMP" | tail -1
    "$CARVE" synth --shape llama2-7b --dtype bf16 --seed 1 --out "$TMP/7b" --quiet
    /usr/bin/python3 -c "import numpy as np; np.random.default_rng(1).integers(0, 32000, 1024).astype('<i4').tofile('$TMP/ids.i32')"
    "$CARVE" eval --model "$TMP/7b" --token-file "$TMP/ids.i32" --seq-len 512 --batch 2
    rm -rf "${TMP:?}/7b"
fi
