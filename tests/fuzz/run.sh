#!/usr/bin/env bash
# run — runs every libFuzzer harness of $FUZZ_BUILD (default build-fuzz; `make fuzz` builds them)
# for SECONDS seconds each (argument 1, default 60), one after the other at nice 19, each on its
# working corpus $FUZZ_BUILD/corpus/NAME (kept between runs) plus its generated seeds. Prints one
# line per target: executions, executions/s, corpus size, new findings (crash/leak/timeout/oom
# artifacts, written to $FUZZ_BUILD/artifacts/). Exit status 1 when a target found something.
set -u
cd "$(dirname "$0")/../.."
B=${FUZZ_BUILD:-build-fuzz}
SECS=${1:-60}
mkdir -p "$B/artifacts" "$B/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
found=0
for bin in "$B"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    corpus="$B/corpus/$name"
    mkdir -p "$corpus"
    before=$(ls "$B/artifacts" | grep -c "^$name-" || true)
    nice -n 19 "$bin" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2560 -max_len=300000 \
        -print_final_stats=1 -artifact_prefix="$B/artifacts/$name-" "$corpus" "$B/seeds/$name" \
        >"$B/logs/$name.log" 2>&1
    rc=$?
    after=$(ls "$B/artifacts" | grep -c "^$name-" || true)
    execs=$(grep -a 'stat::number_of_executed_units' "$B/logs/$name.log" | tail -1 | awk '{print $2}')
    rate=$(grep -a 'stat::average_exec_per_sec' "$B/logs/$name.log" | tail -1 | awk '{print $2}')
    n_corpus=$(ls "$corpus" | wc -l)
    new=$((after - before))
    printf '%-22s %3ss  %9s execs  %6s/s  corpus %5d  findings %d%s\n' "$name" "$SECS" "${execs:-?}" "${rate:-?}" \
        "$n_corpus" "$new" "$([ $rc -ne 0 ] && echo "  (exit $rc, see $B/logs/$name.log)")"
    if [ $rc -ne 0 ] || [ $new -gt 0 ]; then found=1; fi
done
exit $found
