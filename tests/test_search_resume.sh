#!/usr/bin/env bash
# test_search_resume — `carve search` on a tiny stories260K config, killed with SIGKILL at
# random moments and started again with the same command until it finishes, ends with the
# same database rows (times excluded) as an uninterrupted run, and PRAGMA integrity_check
# is ok after every kill (the ga run re-ranks its final candidates, so that step is covered
# too). Also: the same seed gives the same rows, another seed other rows.
# Skips when ../shared is absent.
set -u
M=$CARVE_SHARED/models/stories260K/stories260K.bin
[ -f "$M" ] || { echo "no $M"; exit 77; }
command -v sqlite3 >/dev/null || { echo "no sqlite3 shell"; exit 77; }
T=$(mktemp -d "$CARVE_TEST_TMP/resume.XXXXXX") || { echo "cannot create a directory in CARVE_TEST_TMP=$CARVE_TEST_TMP"; exit 1; }
export CARVE_CACHE_DIR=$T/cache   # calibration statistics
. "$(dirname "$0")/search_rows.inc"
cfg() { tiny_search_cfg "$1" "$2" 5; } # name seed

dump() { dump_rows "$1"; }
fail() { echo "FAIL: $*"; exit 1; }

cfg whole 5
"$CARVE" search "$T/whole.yaml" --quiet || fail "uninterrupted run"
dump "$T/whole.db" > "$T/whole.txt"
[ "$(sqlite3 "$T/whole.db" 'SELECT count(*) FROM candidates')" -gt 50 ] || fail "too few candidates"

# killed: SIGKILL after a random delay, again and again, until a run completes
cfg killed 5
kills=0
for attempt in $(seq 1 8); do
  "$CARVE" search "$T/killed.yaml" --quiet &
  pid=$!
  delay=$(awk -v s=$RANDOM 'BEGIN { srand(s); printf "%.3f", 0.1 + rand() * 1.2 }')
  sleep "$delay"
  if kill -9 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null
    kills=$((kills + 1))
    if [ -f "$T/killed.db" ]; then
      ic=$(sqlite3 "$T/killed.db" 'PRAGMA integrity_check') || fail "sqlite3 after kill"
      [ "$ic" = ok ] || fail "integrity_check after kill $kills: $ic"
    fi
  else
    wait "$pid" || fail "run exited with an error after $kills kills"
    break
  fi
done
"$CARVE" search "$T/killed.yaml" --quiet || fail "final resume"
[ $kills -ge 2 ] || echo "note: only $kills kills landed before completion"
echo "killed $kills times"
# the config path differs between the two files; the stored YAML text names its own output
dump "$T/killed.db" | sed "s|$T/killed.db|$T/whole.db|g" > "$T/killed.txt"
cmp -s "$T/whole.txt" "$T/killed.txt" || { diff "$T/whole.txt" "$T/killed.txt" | head -20; fail "resumed database differs"; }
[ "$(sqlite3 "$T/killed.db" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
[ "$(sqlite3 "$T/killed.db" "SELECT count(*) FROM runs WHERE status = 'done'")" = 4 ] || fail "runs not done"

# same seed -> same rows; other seed -> other rows
cfg again 5
"$CARVE" search "$T/again.yaml" --quiet || fail "second run"
dump "$T/again.db" | sed "s|$T/again.db|$T/whole.db|g" > "$T/again.txt"
cmp -s "$T/whole.txt" "$T/again.txt" || fail "same seed, different rows"
cfg other 6
"$CARVE" search "$T/other.yaml" --quiet || fail "other seed run"
dump "$T/other.db" | sed "s|$T/other.db|$T/whole.db|g;s|seed: 6|seed: 5|" > "$T/other.txt"
cmp -s "$T/whole.txt" "$T/other.txt" && fail "different seeds gave the same rows"
echo ok
