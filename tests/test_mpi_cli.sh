#!/usr/bin/env bash
# test_mpi_cli — the commands other than search under `mpirun -np N` (README "Running on a
# cluster"), on stories260K:
#   - carve eval (text and --json, dense and a subnet) for N = 1, 2, 3 prints the plain run's
#     result (all but the timing fields) exactly once; --dump-logits and --kl are refused with one line;
#   - carve baseline sleb (greedy steps) and random (K draws) give the plain run's subnet.json
#     and result.json (all but seconds), printed once;
#   - a rank-0 command (info) prints once what the plain run prints; a refused one (tasks,
#     reform) prints its one line and fails; a usage error is printed once.
# A carve built without MPI (make MPI=0) refuses to run under mpirun (one line per rank).
# Skips when ../shared or mpirun is absent.
set -u
M=$CARVE_SHARED/models/stories260K/stories260K.bin
V=$CARVE_SHARED/data/tinystories/valid.txt
CAL=$CARVE_SHARED/data/tinystories/calib.txt
[ -f "$M" ] && [ -f "$V" ] && [ -f "$CAL" ] || { echo "no $M or its texts"; exit 77; }
command -v mpirun >/dev/null || { echo "no mpirun"; exit 77; }
T=$(mktemp -d "$CARVE_TEST_TMP/mpicli.XXXXXX") || { echo "cannot create a directory in CARVE_TEST_TMP=$CARVE_TEST_TMP"; exit 1; }
export CARVE_CACHE_DIR=$T/cache
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# Under make asan the ranks run without LeakSanitizer (AddressSanitizer and UBSan still check
# every access): Open MPI unloads its plugins before exit, so LSan reports their allocations (and
# OpenBLAS's thread buffers under MPI) at "<unknown module>", which no suppression can name. Leaks
# in carve's own code are checked by the plain runs of the same paths, here and elsewhere.
MPIRUN=(env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 mpirun -q --oversubscribe)
fail() { echo "FAIL: $*"; exit 1; }

if ! "$CARVE" --version | grep -q 'with MPI'; then
  "${MPIRUN[@]}" -np 2 "$CARVE" eval --model "$M" --text "$V" >"$T/out" 2>"$T/err" && fail "plain carve ran under mpirun"
  [ "$(grep -c 'built without MPI' "$T/err")" = 2 ] || fail "plain carve under mpirun: $(cat "$T/err")"
  echo "plain build: refuses mpirun (ok)"
  exit 0
fi

# one line on stdout, nothing on stderr; the result without its timing fields
strip() { sed -E 's/ tokens_per_s=.*//' "$1"; }
jstrip() { "$PYTHON" -c 'import json,sys; d=json.loads(open(sys.argv[1]).read()); print([d[k] for k in ("ppl","nll","scored_tokens","windows","batch")])' "$1"; }
once() { # name file-prefix
  [ "$(wc -l < "$2.out")" = 1 ] || fail "$1: printed $(wc -l < "$2.out") lines: $(cat "$2.out")"
  [ -s "$2.err" ] && fail "$1: stderr: $(cat "$2.err")"
  return 0
}

# a sleb subnet (plain), also the subnet evaluated below
B=(--model "$M" --budget 0.6 --calib "$CAL" --n 8 --len 64)
"$CARVE" baseline "${B[@]}" --method sleb --out "$T/sleb.plain" >"$T/sleb.plain.out" || fail "plain sleb"
"$CARVE" baseline "${B[@]}" --method random --random-k 6 --out "$T/random.plain" >"$T/random.plain.out" || fail "plain random"

# eval: 23 windows in batches of 3 = 8 batches, one per rank per chunk (uneven shares)
E=(--model "$M" --text "$V" --seq-len 64 --max-windows 23 --batch 3)
for form in dense subnet json; do
  case $form in
    dense) X=() ;;
    subnet) X=(--subnet "$T/sleb.plain/subnet.json") ;;
    json) X=(--json) ;;
  esac
  "$CARVE" eval "${E[@]}" "${X[@]}" >"$T/$form.plain.out" 2>"$T/$form.plain.err" || fail "plain eval $form"
  for np in 1 2 3; do
    p=$T/$form.np$np
    "${MPIRUN[@]}" -np $np "$CARVE" eval "${E[@]}" "${X[@]}" >"$p.out" 2>"$p.err" || fail "eval $form np=$np: $(cat "$p.err")"
    once "eval $form np=$np" "$p"
    if [ $form = json ]; then a=$(jstrip "$T/$form.plain.out"); b=$(jstrip "$p.out")
    else a=$(strip "$T/$form.plain.out"); b=$(strip "$p.out"); fi
    [ "$a" = "$b" ] || fail "eval $form np=$np: '$b', plain run: '$a'"
  done
  echo "eval $form: np=1,2,3 print the plain run's result once: $a"
done

"${MPIRUN[@]}" -np 2 "$CARVE" eval "${E[@]}" --dump-logits "$T/logits.f32" >"$T/dump.out" 2>"$T/dump.err" \
  && fail "eval --dump-logits ran under mpirun"
[ "$(wc -l < "$T/dump.err")" = 1 ] && grep -q '^carve: eval: --dump-logits writes one file from one process' "$T/dump.err" \
  || fail "eval --dump-logits under mpirun: $(cat "$T/dump.err")"
[ -e "$T/logits.f32" ] && fail "eval --dump-logits wrote a file under mpirun"
echo "eval --dump-logits: $(cat "$T/dump.err")"
"${MPIRUN[@]}" -np 2 "$CARVE" eval "${E[@]}" --kl 8 >"$T/kl.out" 2>"$T/kl.err" && fail "eval --kl ran under mpirun"
[ "$(wc -l < "$T/kl.err")" = 1 ] && grep -q '^carve: eval: --kl is not shared out across MPI ranks' "$T/kl.err" \
  || fail "eval --kl under mpirun: $(cat "$T/kl.err")"

# baselines: the candidates of each step go through the pool
for run in "sleb 1" "sleb 2" "sleb 3" "random 3"; do
  set -- $run
  p=$T/$1.np$2
  X=(); [ $1 = random ] && X=(--random-k 6)
  "${MPIRUN[@]}" -np $2 "$CARVE" baseline "${B[@]}" --method $1 "${X[@]}" --out "$p" >"$p.out" 2>"$p.err" \
    || fail "$1 np=$2: $(cat "$p.err")"
  once "$1 np=$2" "$p"
  cmp -s "$T/$1.plain.out" "$p.out" || fail "$1 np=$2 printed: $(cat "$p.out")"
  cmp -s "$T/$1.plain/subnet.json" "$p/subnet.json" || fail "$1 np=$2: subnet.json differs from the plain run"
  cmp -s <(grep -v '"seconds"' "$T/$1.plain/result.json") <(grep -v '"seconds"' "$p/result.json") \
    || fail "$1 np=$2: result.json differs: $(diff "$T/$1.plain/result.json" "$p/result.json")"
  echo "$1 np=$2: the plain run's subnet and result"
done

# a rank-0 command: printed once, as in a plain run
"$CARVE" info --model "$M" >"$T/info.plain.out" || fail "plain info"
"${MPIRUN[@]}" -np 3 "$CARVE" info --model "$M" >"$T/info.out" 2>"$T/info.err" || fail "info np=3: $(cat "$T/info.err")"
cmp -s "$T/info.plain.out" "$T/info.out" || fail "info np=3 printed: $(cat "$T/info.out")"
[ -s "$T/info.err" ] && fail "info np=3: stderr: $(cat "$T/info.err")"
echo "info np=3: the plain run's output once"

# refused commands: one line, a failing exit
for cmd in tasks reform; do
  "${MPIRUN[@]}" -np 2 "$CARVE" $cmd --model "$M" >"$T/$cmd.out" 2>"$T/$cmd.err" && fail "$cmd ran under mpirun"
  [ "$(wc -l < "$T/$cmd.err")" = 1 ] && [ ! -s "$T/$cmd.out" ] \
    && grep -qx "carve: $cmd: its work is not shared out across MPI ranks; run it without mpirun (or with -np 1)" "$T/$cmd.err" \
    || fail "$cmd under mpirun: $(cat "$T/$cmd.err" "$T/$cmd.out")"
done
echo "refused: $(cat "$T/tasks.err")"

# a usage error of a command on every rank: printed once
"${MPIRUN[@]}" -np 2 "$CARVE" eval --model "$M" >"$T/usage.out" 2>"$T/usage.err" && fail "eval without --text ran"
[ "$(grep -c 'carve eval: --text is required' "$T/usage.err")" = 1 ] || fail "usage error: $(cat "$T/usage.err")"
echo ok
