#!/usr/bin/env bash
# test_fuzz — the libFuzzer harnesses of tests/fuzz/ (one per parser), each run for a few seconds
# (FUZZ_TEST_SECONDS, default 3) on its generated seeds and the corpus kept in build-fuzz/: any
# crash, sanitizer report, leak or timeout fails. Builds them first (`make fuzz-build`, clang).
# Skips (77) when clang or its libFuzzer runtime is absent (Debian: clang, libclang-rt-14-dev).
set -u
cd "$(dirname "$0")/.."
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "no $CC (apt-get install clang libclang-rt-14-dev)"; exit 77; }
T=$(mktemp -d "${CARVE_TEST_TMP:-/tmp}/fuzzcheck.XXXXXX")
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
    > "$T/probe.c"
"$CC" -fsanitize=fuzzer,address,undefined "$T/probe.c" -o "$T/probe" 2>/dev/null \
    || { rm -rf "$T"; echo "$CC has no libFuzzer runtime (apt-get install libclang-rt-14-dev)"; exit 77; }
rm -rf "$T"
unset MAKEFLAGS MAKELEVEL MFLAGS
nice -n 19 make --no-print-directory -s -j2 fuzz-build >/dev/null || { echo "FAIL: make fuzz-build"; exit 1; }
tests/fuzz/run.sh "${FUZZ_TEST_SECONDS:-3}" || { echo "FAIL: a fuzz target found something (build-fuzz/artifacts/)"; exit 1; }
