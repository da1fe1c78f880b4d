#!/usr/bin/env bash
# carve selects OpenBLAS's AVX-512 (SkylakeX) kernels itself on AVX-512 CPUs, also over a
# preset OPENBLAS_CORETYPE=Haswell; CARVE_BLAS_CORETYPE=keep respects the preset.
set -u
model=${CARVE_SHARED}/models/stories260K/stories260K.bin
[ -f "$model" ] || { echo "no stories260K"; exit 77; }
core() { env "$@" CARVE_VERBOSE=1 "$CARVE" info --model "$model" 2>&1 >/dev/null | sed -n 's/.*core=\([A-Za-z0-9]*\).*/\1/p' | head -1; }
fail=0
check() { if [ "$2" != "$3" ]; then echo "FAIL: $1: core '$2', expected '$3'"; fail=1; else echo "ok: $1: $2"; fi; }
if grep -q avx512f /proc/cpuinfo && grep -q avx512bw /proc/cpuinfo && grep -q avx512dq /proc/cpuinfo && grep -q avx512vl /proc/cpuinfo; then
    check "preset Haswell" "$(core OPENBLAS_CORETYPE=Haswell)" SkylakeX
    check "no preset" "$(core -u OPENBLAS_CORETYPE)" SkylakeX
    check "keep" "$(core OPENBLAS_CORETYPE=Haswell CARVE_BLAS_CORETYPE=keep)" Haswell
else
    check "no AVX-512: preset kept" "$(core OPENBLAS_CORETYPE=Haswell)" Haswell
fi
check "forced" "$(core CARVE_BLAS_CORETYPE=Haswell)" Haswell
exit $fail
