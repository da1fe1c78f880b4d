#!/usr/bin/env bash
# speed.sh — collects the speed benchmarks of the other modules into bench/RESULTS.md (the
# "speed" section): bench/forward.sh, bench/reform.sh and bench/export.sh, each run once here;
# every figure they print is a ratio to a reference measured in the same run (their own
# contract), and their output is copied verbatim with the command that produced it.
#
#   bench/speed.sh [--only "forward reform"]
set -euo pipefail
cd "$(dirname "$0")/.."
ONLY="forward reform export"
while [ $# -gt 0 ]; do
    case $1 in
    --only) ONLY=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "bench/speed.sh: unknown option '$1'" >&2; exit 1 ;;
    esac
done
OUT=$(mktemp -d "${TMPDIR:-/tmp}/carve-speed.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
logs=()
for b in $ONLY; do
    script=bench/$b.sh
    log=$OUT/$b.log
    if [ ! -f "$script" ]; then
        echo "($script is not in this checkout: not measured)" >"$log"
    else
        t0=$SECONDS
        { echo "\$ $script"; bash "$script" 2>&1; echo "(exit $?, $((SECONDS - t0)) s wall)"; } >"$log" || true
    fi
    echo "== $b"; tail -5 "$log"
    logs+=("$log")
done
/usr/bin/python3 bench/results.py speed --md bench/RESULTS.md "${logs[@]}"
echo "bench/speed.sh: wrote the speed section of bench/RESULTS.md"
