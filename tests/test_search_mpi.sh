#!/usr/bin/env bash
# test_search_mpi — `mpirun -np N carve search` on a tiny stories260K config (a ga run with
# re-ranking, random baseline and final step, and an nsga2 run with reformed fitness):
#   - for N = 1, 2, 3, 4 the database rows (all but times) are identical to a plain run;
#   - a worker rank killed with SIGKILL stops the job with exactly one line from carve
#     (mpirun -q) and a non-zero exit; killing rank 0, a worker or mpirun itself (SIGTERM, as
#     Slurm's scancel does) at random moments, then starting the same command, ends with the
#     same rows as an uninterrupted run; PRAGMA integrity_check is ok after every kill.
#   - window groups (parallel: {group: G}) on a config whose window sets span several forward
#     batches: np=2 group 2, np=3 group 3, np=4 group 2 give the rows of a plain run without the
#     key (the YAML text stored with the run aside), and resume a run made without it; a group
#     that does not divide the ranks, or a group with a KL fitness, is one line naming the key's
#     file:line:col.
# A carve built without MPI (make MPI=0) refuses to run under mpirun with one line, and runs a
# config with a group > 1 as one process (the rows of the config without it).
# Skips when ../shared, mpirun or sqlite3 is absent.
set -u
M=$CARVE_SHARED/models/stories260K/stories260K.bin
[ -f "$M" ] || { echo "no $M"; exit 77; }
command -v mpirun >/dev/null || { echo "no mpirun"; exit 77; }
command -v sqlite3 >/dev/null || { echo "no sqlite3 shell"; exit 77; }
T=$(mktemp -d "$CARVE_TEST_TMP/mpi.XXXXXX") || { echo "cannot create a directory in CARVE_TEST_TMP=$CARVE_TEST_TMP"; exit 1; }
export CARVE_CACHE_DIR=$T/cache # calibration statistics: built by rank 0, read by the others
# CI runs as root; --oversubscribe: more ranks than this machine's cores
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# a loaded machine: give the ranks time to run their SIGTERM handler before SIGKILL (default 1 s)
export OMPI_MCA_odls_base_sigkill_timeout=5
# Under make asan the ranks run without LeakSanitizer (AddressSanitizer and UBSan still check
# every access): Open MPI unloads its plugins before exit, so LSan reports their allocations (and
# OpenBLAS's thread buffers under MPI) at "<unknown module>", which no suppression can name. Leaks
# in carve's own code are checked by the plain runs of the same paths, here and elsewhere.
MPIRUN=(env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 mpirun -q --oversubscribe)
fail() { echo "FAIL: $*"; exit 1; }

if ! "$CARVE" --version | grep -q 'with MPI'; then
  "${MPIRUN[@]}" -np 2 "$CARVE" info --model "$M" >"$T/out" 2>"$T/err" && fail "plain carve ran under mpirun"
  n=$(grep -c 'built without MPI' "$T/err")
  [ "$n" = 2 ] || fail "plain carve under mpirun: expected one line per rank, got: $(cat "$T/err")"
  echo "plain build: refuses mpirun (ok)"
fi

. "$(dirname "$0")/search_rows.inc"
cfg() { tiny_search_cfg "$1" 5 "$2"; } # name generations

dump() { dump_rows "$1" | sed "s|$T/$2.db|DB|g" | grep -v '^parallel: '; } # db name -> rows (the database's path and parallel key neutralised)

# wide NAME [GROUP]: a ga run (reformed fitness, re-ranking, random baseline, final step) whose
# window sets span several forward batches (3 calibration, 2 held-out, 2 re-ranking), so that a
# window group really splits them, and whose reformation takes scrambled statistics (every rank
# reads both statistics files from rank 0's cache); GROUP: its parallel.group
wide() {
  cat > "$T/$1.yaml" <<YAML
model: $M
calibration: {text: $CARVE_SHARED/data/tinystories/calib.txt, n: 257, len: 32, seed: 3, scramble: 0.5}
eval: {text: $CARVE_SHARED/data/tinystories/valid.txt, seq_len: 64, max_windows: 65}
space: {channel_multiple: 4, sublayers: true}
budget: {targets: [0.7], tolerance: 0.03}
algorithm: {kind: ga, population: 4, generations: 2, parents: 1, mutations: 2, crossovers: 1, seed: 5}
fitness: {reform: true}
final: {reform: true, eval: true, rerank: 2, rerank_windows: 132}
baselines: {random: 2}
output: $T/$1.db
runs:
  - name: w
YAML
  [ -n "${2:-}" ] && echo "parallel: {group: $2}" >> "$T/$1.yaml"
  return 0
}
wide wplain
"$CARVE" search "$T/wplain.yaml" --quiet || fail "wide plain run"
dump "$T/wplain.db" wplain > "$T/wplain.txt"

if ! "$CARVE" --version | grep -q 'with MPI'; then
  wide wg2 2
  "$CARVE" search "$T/wg2.yaml" --quiet || fail "plain build, group 2"
  dump "$T/wg2.db" wg2 > "$T/wg2.txt"
  cmp -s "$T/wplain.txt" "$T/wg2.txt" || { diff "$T/wplain.txt" "$T/wg2.txt" | head; fail "plain build, group 2: rows differ"; }
  echo "plain build: group 2 runs as one process (ok)"
  exit 0
fi

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

# window groups: the same rows as the plain run without the key
for v in "2 2" "3 3" "4 2"; do
  set -- $v
  wide wnp$1g$2 $2
  "${MPIRUN[@]}" -np $1 "$CARVE" search "$T/wnp$1g$2.yaml" --quiet 2>"$T/wg.err" || fail "np=$1 group $2: $(cat "$T/wg.err")"
  [ -s "$T/wg.err" ] && fail "np=$1 group $2 printed: $(cat "$T/wg.err")"
  dump "$T/wnp$1g$2.db" wnp$1g$2 > "$T/wg.txt"
  cmp -s "$T/wplain.txt" "$T/wg.txt" || { diff "$T/wplain.txt" "$T/wg.txt" | head; fail "np=$1 group $2: rows differ from the plain run"; }
  echo "np=$1 group $2: same rows as the plain run"
done
# not part of the run's settings: a run made without the key is found complete with it
wide wres 2
cp "$T/wplain.db" "$T/wres.db"
"${MPIRUN[@]}" -np 2 "$CARVE" search "$T/wres.yaml" 2>"$T/wg.err" || fail "group 2 on the plain run's database: $(cat "$T/wg.err")"
grep -q 'already complete' "$T/wg.err" || fail "group 2 on the plain run's database: $(cat "$T/wg.err")"
# a group that does not divide the ranks: one line at the key's place
wide wbad 3
"${MPIRUN[@]}" -np 2 "$CARVE" search "$T/wbad.yaml" --quiet >"$T/wg.out" 2>"$T/wg.err" && fail "group 3 of 2 ranks ran"
line=$(grep -n '^parallel:' "$T/wbad.yaml" | cut -d: -f1)
want="carve: $T/wbad.yaml:$line:19: parallel: group 3 does not divide the 2 MPI ranks into equal groups"
[ "$(cat "$T/wg.err")" = "$want" ] && [ ! -s "$T/wg.out" ] || fail "group 3 of 2 ranks: expected '$want', got: $(cat "$T/wg.err")"
echo "bad group: $(cat "$T/wg.err")"
# window groups with a KL fitness: refused (the KL is not split), one line at the key's place
wide wkl 2
sed -i 's/^fitness: {reform: true}/fitness: {reform: true, kind: kl}/' "$T/wkl.yaml"
"${MPIRUN[@]}" -np 2 "$CARVE" search "$T/wkl.yaml" --quiet >"$T/wg.out" 2>"$T/wg.err" && fail "group 2 with kind kl ran"
line=$(grep -n '^parallel:' "$T/wkl.yaml" | cut -d: -f1)
want="carve: $T/wkl.yaml:$line:19: parallel: window groups score perplexity only; a fitness of kind kl runs candidate-parallel (group 1)"
[ "$(cat "$T/wg.err")" = "$want" ] || fail "group 2 with kind kl: expected '$want', got: $(cat "$T/wg.err")"
echo "kl with groups: $(cat "$T/wg.err")"

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
[ "$(sqlite3 "$T/long.db" "SELECT count(*) FROM runs WHERE status = 'done'")" = 4 ] || fail "runs not done"
echo ok
