#!/usr/bin/env bash
# run_all — runs every test: the Check binaries in $BUILD/tests/, then tests/*.sh and
# tests/*.py (integration tests; each exits 0 = pass, 77 = skipped, anything else = fail).
# Prints one line per test and the closing line "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export CARVE=${CARVE:-$PWD/$BUILD/carve}
export PYTHON=${PYTHON:-/usr/bin/python3}
export CARVE_SHARED=${CARVE_SHARED:-$(cd .. && pwd)/shared}
export CARVE_TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/carve-test.XXXXXX")
trap 'rm -rf "$CARVE_TEST_TMP"' EXIT
export CK_FORK=yes
# Check kills a test after 4 s by default: far too tight on a loaded 2-core CI machine or under ASan.
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-600}
pass=0; fail=0; skip=0; failed=()
run_one() { # name, command...
    local name=$1; shift
    local log="$CARVE_TEST_TMP/$(basename "$name").log" t0=$SECONDS rc
    "$@" >"$log" 2>&1; rc=$?
    local dt=$((SECONDS - t0))
    if [ $rc -eq 0 ]; then pass=$((pass+1)); printf 'PASS %-40s %3ds  %s\n' "$name" $dt "$(grep -E '^[0-9]+%: Checks' "$log" | tail -1)"
    elif [ $rc -eq 77 ]; then skip=$((skip+1)); printf 'SKIP %-40s (%s)\n' "$name" "$(tail -1 "$log")"
    else fail=$((fail+1)); failed+=("$name"); printf 'FAIL %-40s %3ds\n' "$name" $dt; sed 's/^/    | /' "$log" | tail -40; fi
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in tests/*.sh; do
    [ "$t" = tests/run_all.sh ] && continue
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" bash "$t"
done
for t in tests/test_*.py; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" "$PYTHON" "$t"
done
echo
[ $fail -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
