#!/usr/bin/env bash
# test_search_mpi — `mpirun -np N carve search` on a tiny stories260K config (a ga run with
# re-ranking, random baseline and final step, and an nsga2 run with reformed fitness):
#   - for N = 1, 2, 3, 4 the database rows (all but times) are identical to a plain run;
#   - a worker rank killed with SIGKILL stops the job with exactly one line from carve
#     (mpirun -q) and a non-zero exit; killing rank 0, a worker or mpirun itself (SIGTERM, as
#     Slurm's scancel does) at random moments, then starting the same command, ends with the
#     same rows as an uninterrupted run; PRAGMA integrity_check is ok after every kill.
# A carve built without MPI (make MPI=0) refuses to run under mpirun with one line.
# Skips when ../shared, mpirun or sqlite3 is absent.
set -u
M=$CARVE_SHARED/models/stories260K/stories260K.bin
[ -f "$M" ] || { echo "no $M"; exit 77; }
command -v mpirun >/dev/null || { echo "no mpirun"; exit 77; }
command -v sqlite3 >/dev/null || { echo "no sqlite3 shell"; exit 77; }
T=$(mktemp -d "$CARVE_TEST_TMP/mpi.XXXXXX")
export CARVE_CACHE_DIR=$T/cache # calibration statistics: built by rank 0, read by the others
# CI runs as root; --oversubscribe: more ranks than this machine's cores
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# a loaded machine: give the ranks time to run their SIGTERM handler before SIGKILL (default 1 s)
export OMPI_MCA_odls_base_sigkill_timeout=5
MPIRUN=(mpirun -q --oversubscribe)
fail() { echo "FAIL: $*"; exit 1; }

if ! "$CARVE" --version | grep -q 'with MPI'; then
  "${MPIRUN[@]}" -np 2 "$CARVE" info --model "$M" >"$T/out" 2>"$T/err" && fail "plain carve ran under mpirun"
  n=$(grep -c 'built without MPI' "$T/err")
  [ "$n" = 2 ] || fail "plain carve under mpirun: expected one line per rank, got: $(cat "$T/err")"
  echo "plain build: refuses mpirun (ok)"
  exit 0
fi

. "$(dirname "$0")/search_rows.inc"
cfg() { tiny_search_cfg "$1" 5 "$2"; } # name generations

dump() { dump_rows "$1" | sed "s|$T/$2.db|DB|g"; } # db name -> rows, the database's own path neutralised

# plain run (no launcher)
cfg plain 4
"$CARVE" search "$T/plain.yaml" --quiet || fail "plain run"
dump "$T/plain.db" plain > "$T/plain.txt"
[ "$(sqlite3 "$T/plain.db" 'SELECT count(*) FROM candidates')" -gt 40 ] || fail "too few candidates"

# the same rows for any number of ranks
for np in 1 2 3 4; do
  cfg np$np 4
  "${MPIRUN[@]}" -np $np "$CARVE" search "$T/np$np.yaml" --quiet 2>"$T/np$np.err" || fail "np=$np: $(cat "$T/np$np.err")"
  [ -s "$T/np$np.err" ] && fail "np=$np printed: $(cat "$T/np$np.err")"
  dump "$T/np$np.db" np$np > "$T/np$np.txt"
  cmp -s "$T/plain.txt" "$T/np$np.txt" || { diff "$T/plain.txt" "$T/np$np.txt" | head; fail "np=$np: rows differ from the plain run"; }
  echo "np=$np: same rows as the plain run"
done

# a longer run, killed and restarted until it completes; reference: the plain run of it
cfg long 10
"$CARVE" search "$T/long.yaml" --quiet || fail "plain long run"
dump "$T/long.db" long > "$T/long.txt"
rm -f "$T/long.db"
rank_pid() { # mpirun-pid rank -> the pid of that rank
  local p
  for p in $(pgrep -P "$1"); do
    tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo $p; return; }
  done
}
generation() { sqlite3 "$T/long.db" "SELECT last_generation FROM runs WHERE name = 'ga'" 2>/dev/null; }

# a worker dies once the search is under way: exactly carve's one line, a non-zero exit
"${MPIRUN[@]}" -np 3 "$CARVE" search "$T/long.yaml" --quiet 2>"$T/kill.err" &
mp=$!
for i in $(seq 1 600); do [ "$(generation)" -ge 1 ] 2>/dev/null && break; sleep 0.05; done
[ "$(generation)" -ge 1 ] || fail "no generation committed"
kill -KILL "$(rank_pid $mp 2)" || fail "no rank 2"
wait $mp && fail "job exited 0 after a rank died"
[ "$(wc -l < "$T/kill.err")" = 1 ] && grep -q '^carve: the MPI job was stopped' "$T/kill.err" \
  || fail "a worker died: expected one line, got: $(cat "$T/kill.err")"
echo "worker death: $(cat "$T/kill.err")"

kills=1
for attempt in $(seq 1 6); do
  "${MPIRUN[@]}" -np 3 "$CARVE" search "$T/long.yaml" --quiet 2>"$T/kill.err" &
  mp=$!
  sleep "$(awk -v s=$RANDOM 'BEGIN { srand(s); printf "%.3f", 0.8 + rand() * 1.2 }')"
  case $((attempt % 3)) in
    0) victim=$(rank_pid $mp 2); sig=KILL ;; # a worker dies
    1) victim=$(rank_pid $mp 0); sig=KILL ;; # rank 0 dies
    2) victim=$mp; sig=TERM ;;               # the whole job is stopped (scancel, Ctrl-C)
  esac
  if [ -n "$victim" ] && kill -$sig "$victim" 2>/dev/null; then
    wait $mp && fail "job exited 0 after its rank was killed"
    kills=$((kills + 1))
    ic=$(sqlite3 "$T/long.db" 'PRAGMA integrity_check') || fail "sqlite3 after kill"
    [ "$ic" = ok ] || fail "integrity_check after kill $kills: $ic"
  else
    wait $mp || fail "run exited with an error after $kills kills: $(cat "$T/kill.err")"
    break
  fi
done
"${MPIRUN[@]}" -np 3 "$CARVE" search "$T/long.yaml" --quiet || fail "final resume"
echo "killed $kills times"
dump "$T/long.db" long > "$T/long2.txt"
cmp -s "$T/long.txt" "$T/long2.txt" || { diff "$T/long.txt" "$T/long2.txt" | head; fail "resumed database differs"; }
[ "$(sqlite3 "$T/long.db" "SELECT count(*) FROM runs WHERE status = 'done'")" = 3 ] || fail "runs not done"
echo ok
