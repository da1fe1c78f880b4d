#!/usr/bin/env bash
# tokenize_speed — encoding throughput of `carve tokenize` per tokenizer and text, in MB/s of
# input (CPU seconds, user+sys, of the whole command including loading; wall seconds beside).
# usage: bench/tokenize_speed.sh [carve binary]   (needs ../shared)
set -eu
cd "$(dirname "$0")/.."
CARVE=${1:-./carve}
S=${CARVE_SHARED:-../shared}
printf '%-44s %-22s %8s %8s %9s\n' tokenizer text MB cpu_s MB/s_cpu
for tok in models/llama2-tokenizer/tokenizer.bin models/stories260K/tok512.bin \
           tokenizers/ggml-vocab-llama-spm.gguf tokenizers/ggml-vocab-gpt-2.gguf; do
    for text in data/wikitext-2/wiki.valid.tokens data/tinystories/valid.txt; do
        [ -f "$S/$tok" ] && [ -f "$S/$text" ] || continue
        out=$( { /usr/bin/time -f '%U %S %e' "$CARVE" tokenize --tokenizer "$S/$tok" --text "$S/$text" >/dev/null; } 2>&1 )
        bytes=$(stat -c %s "$S/$text")
        echo "$out" | awk -v t="$tok" -v x="$(basename "$text")" -v b="$bytes" \
            '{cpu=$1+$2; printf "%-44s %-22s %8.2f %8.3f %9.1f   (wall %.2f s)\n", t, x, b/1e6, cpu, b/1e6/(cpu>0?cpu:1e-3), $3}'
    done
done
