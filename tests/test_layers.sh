#!/usr/bin/env bash
# test_layers — the house rules a grep can check:
#   1. includes go only downward. The folders, lowest first (a folder may include its own
#      headers and those of any lower rank; the same rank = peers that include neither way):
#        0 runtime/base       util, dtype, PCG32, BLAS selection, elementwise kernels
#        1 runtime/files      GGUF and safetensors containers
#        2 runtime/tokenizer  tokenizers
#        3 runtime/model      model.h, subnets, RoPE, extraction, the layer tensor table
#        4 runtime/formats    loaders, writers, exporters, model_open
#        5 runtime/forward    the forward pass
#        6 runtime/synth      test-fixture generators (carve synth)
#        7 eval, results      evaluation (windows, Evaluator, costs) | the SQLite store (peers)
#        8 reform             statistics, importance, reformation, the export stage
#        9 search             config, genome, engines, the job, baseline methods (search/mpi/, the
#                             MPI task pool between the engine and the job, counts as search)
#       10 cli                the subcommands
#      (tests/ and bench/ may include anything.) A folder not in this list fails the test: a
#      new folder needs its place here first.
#   2. no source file over 600 lines unless its opening comment says why ("Size:").
set -u
cd "$(dirname "$0")/.."
rank() {
    case $1 in
    runtime/base) echo 0 ;; runtime/files) echo 1 ;; runtime/tokenizer) echo 2 ;; runtime/model) echo 3 ;;
    runtime/formats) echo 4 ;; runtime/forward) echo 5 ;; runtime/synth) echo 6 ;;
    eval | results) echo 7 ;; reform) echo 8 ;; search) echo 9 ;; cli) echo 10 ;;
    *) echo -1 ;;
    esac
}
fail=0
n=0
for f in $(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^\(tests\|bench\)/'); do
    [ -f "$f" ] || continue
    from=$(dirname "$f"); from=${from%/mpi}
    rf=$(rank "$from")
    if [ "$rf" -lt 0 ]; then echo "FAIL $f: folder $from has no place in the order (tests/test_layers.sh)"; fail=1; continue; fi
    while IFS= read -r inc; do
        to=$(dirname "$inc"); to=${to%/mpi}
        [ "$to" = "$from" ] && continue
        rt=$(rank "$to")
        n=$((n + 1))
        if [ "$rt" -lt 0 ]; then echo "FAIL $f includes $inc: folder $to has no place in the order"; fail=1
        elif [ "$rt" -ge "$rf" ]; then echo "FAIL $f ($from, rank $rf) includes $inc ($to, rank $rt): a back or sideways edge"; fail=1; fi
    done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/p' "$f")
done
echo "checked $n includes between folders"
for f in $(git ls-files -co --exclude-standard -- '*.c' '*.h' '*.sh' '*.py'); do
    [ -f "$f" ] || continue
    lines=$(wc -l <"$f")
    if [ "$lines" -gt 600 ] && ! head -30 "$f" | grep -q "Size:"; then
        echo "FAIL $f: $lines lines and no 'Size:' reason in its opening comment"; fail=1
    fi
done
[ $fail -eq 0 ] && echo "ok: includes only downward, every long file says why"
exit $fail
