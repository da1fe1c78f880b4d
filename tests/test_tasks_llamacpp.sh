#!/usr/bin/env bash
# test_tasks_llamacpp — carve's hellaswag_llamacpp scoring against llama.cpp itself: the first
# 48 HellaSwag items, stories260K converted by llama.cpp's own llama2.c converter, scored by
# `llama-perplexity --hellaswag` (which draws the items in a random order; over all of them the
# final accuracy is the same set's) and by `carve tasks --task hellaswag_llamacpp --limit 48`:
# the accuracies must be equal. Skips without ../shared/tools/llama.cpp/bin, or when that build
# cannot run on this CPU (SIGILL).
set -u
CARVE=${CARVE:-./carve}
SHARED=${CARVE_SHARED:-../shared}
L=$SHARED/tools/llama.cpp/bin
M=$SHARED/models/stories260K
HS=$SHARED/data/tasks/hellaswag/hellaswag_val_full.txt.bz2
N=48
[ -x "$L/llama-perplexity" ] && [ -f "$M/stories260K.bin" ] && [ -f "$HS" ] || { echo "llama.cpp, stories260K or HellaSwag absent"; exit 77; }
T=$(mktemp -d "${CARVE_TEST_TMP:-/tmp}/taskslcpp.XXXXXX")
trap 'rm -rf "$T"' EXIT
export LD_LIBRARY_PATH=$L${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} OMP_WAIT_POLICY=passive
"$L/llama-convert-llama2c-to-ggml" --copy-vocab-from-model "$M/tok512.bin" --llama2c-model "$M/stories260K.bin" \
    --llama2c-output-model "$T/m.gguf" >"$T/conv.log" 2>&1 || { echo "conversion failed"; tail -3 "$T/conv.log"; exit 1; }
bzcat "$HS" | head -$((6 * N)) >"$T/hs.txt"
"$L/llama-perplexity" -m "$T/m.gguf" -f "$T/hs.txt" --hellaswag --hellaswag-tasks $N -c 512 -b 512 -t 1 >"$T/lcpp.out" 2>"$T/lcpp.err"
rc=$?
# 132 = SIGILL: the shared llama.cpp build was compiled for an AVX-512 machine
[ $rc = 132 ] && { echo "llama-perplexity: illegal instruction (the shared libggml-cpu.so uses AVX-512$(grep -q avx512f /proc/cpuinfo || echo ", which this CPU lacks"))"; exit 77; }
[ $rc = 0 ] || { echo "llama-perplexity failed (exit $rc)"; tail -3 "$T/lcpp.err"; exit 1; }
want=$(awk -v n=$N '$1 == n { print $2 }' "$T/lcpp.out")
got=$("$CARVE" tasks --model "$M/stories260K.bin" --task hellaswag_llamacpp --data "$SHARED/data/tasks" --limit $N --json \
      | ${PYTHON:-/usr/bin/python3} -c 'import json,sys; print("%.8f" % (100 * json.load(sys.stdin)["tasks"][0]["acc"]))')
echo "llama.cpp: $want%  carve: $got%  ($N items)"
[ -n "$want" ] && ${PYTHON:-/usr/bin/python3} -c "import sys; sys.exit(abs($want - $got) > 1e-6)" || { echo "FAIL: accuracies differ"; exit 1; }
