#!/usr/bin/env bash
# test_search_cli — the search commands end to end on stories260K with a tiny config:
# `carve search --dry-run` prints the plan and writes nothing; config errors are one line
# naming file:line:col, exit 2; `carve front` (table/csv/json, by calib/eval), `carve show`
# and `carve subnet` read the database; bad databases and unknown IDs are one-line errors,
# exit 2; with staged selection the random baseline's result is ranked by stage, then fitness.
# Skips when ../shared is absent.
set -u
M=$CARVE_SHARED/models/stories260K/stories260K.bin
[ -f "$M" ] || { echo "no $M"; exit 77; }
T=$(mktemp -d "$CARVE_TEST_TMP/scli.XXXXXX") || { echo "cannot create a directory in CARVE_TEST_TMP=$CARVE_TEST_TMP"; exit 1; }
export CARVE_CACHE_DIR=$T/cache   # calibration statistics
fail() { echo "FAIL: $*"; exit 1; }
expect() { # exit-code expected-stderr command...
  local code=$1 msg=$2; shift 2
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  [ $rc -eq "$code" ] || fail "$* -> exit $rc, expected $code ($(cat "$T/err"))"
  [ "$(cat "$T/err")" = "$msg" ] || fail "$* -> stderr '$(cat "$T/err")', expected '$msg'"
}
cat > "$T/c.yaml" <<YAML
model: $M
calibration: {text: $CARVE_SHARED/data/tinystories/calib.txt, n: 4, len: 32}
eval: {text: $CARVE_SHARED/data/tinystories/valid.txt, seq_len: 64, max_windows: 4}
space: {channel_multiple: 4}
budget: {targets: [0.7], tolerance: 0.03}
algorithm: {kind: ga, population: 6, generations: 3, parents: 2, mutations: 2, crossovers: 2}
baselines: {random: 3}
output: $T/c.db
YAML

# dry run: the plan, no database
"$CARVE" search "$T/c.yaml" --dry-run > "$T/plan" || fail "dry run"
grep -q "population 6 x 3 generations" "$T/plan" || fail "plan: $(cat "$T/plan")"
grep -q "5 layers, dim 64" "$T/plan" || fail "plan lacks the model"
[ ! -e "$T/c.db" ] || fail "dry run wrote the database"
# a Hugging Face model directory is a model (the path check must not take it for a bad file)
"$CARVE" synth --shape tiny --seed 1 --out "$T/hf" --quiet || fail "synth"
sed "s|^model: .*|model: $T/hf\ntokenizer: $CARVE_SHARED/models/stories260K/tok512.bin|" "$T/c.yaml" > "$T/hf.yaml"
"$CARVE" search "$T/hf.yaml" --dry-run > "$T/plan" 2>"$T/err" || fail "dry run on an HF directory: $(cat "$T/err")"

# config errors through the CLI
printf 'model: %s\nalgorithm:\n  populaton: 5\n' "$M" > "$T/bad.yaml"
expect 2 "carve: $T/bad.yaml:3:3: unknown key 'populaton' in 'algorithm'" "$CARVE" search "$T/bad.yaml"
printf 'model: %s/nope.bin\n' "$T" > "$T/bad.yaml"
expect 2 "carve: $T/bad.yaml:1:8: model '$T/nope.bin' not found" "$CARVE" search "$T/bad.yaml"
expect 2 "carve: $T/c.yaml: no run named 'zz'" "$CARVE" search "$T/c.yaml" --run zz

# with staged selection the random baseline's result is its best member as the search ranks them
# (the stage reached, then fitness): a member scored on the first window alone can have a lower
# fitness than the last stage's best (with this calibration seed it has)
cat > "$T/rb.yaml" <<YAML
model: $M
calibration: {text: $CARVE_SHARED/data/tinystories/calib.txt, n: 8, len: 32, seed: 1}
eval: {text: $CARVE_SHARED/data/tinystories/valid.txt, seq_len: 64, max_windows: 2}
space: {channel_multiple: 4}
budget: {targets: [0.6], tolerance: 0.03}
algorithm: {kind: ga, population: 6, generations: 2, parents: 2, mutations: 2, crossovers: 2}
selection: {stages: [{windows: 1, keep: 1}, {windows: 8}]}
baselines: {random: 12}
output: $T/rb.db
YAML
"$CARVE" search "$T/rb.yaml" --quiet || fail "staged search with a random baseline"
rq() { sqlite3 "$T/rb.db" "SELECT $1 FROM baseline b JOIN candidates c ON c.id = b.candidate_id $2"; }
top=$(rq 'max(c.fit_stage)' '')
[ "$top" = 2 ] || fail "random members reached stage $top"
[ "$(rq 'min(c.fitness) < (SELECT min(d.fitness) FROM baseline e JOIN candidates d ON d.id = e.candidate_id
        WHERE d.fit_stage = 2)' 'WHERE c.fit_stage = 1')" = 1 ] || fail "the case is not tested: no stage-1 member below stage 2"
want=$(rq c.id 'WHERE c.fit_stage = 2 ORDER BY c.fitness, c.id LIMIT 1')
got=$(sqlite3 "$T/rb.db" "SELECT candidate_id FROM finals WHERE role = 'random'")
[ "$got" = "$want" ] || fail "random baseline result $got, the best member of the last stage is $want"

# the search
"$CARVE" search "$T/c.yaml" --quiet || fail "search"
"$CARVE" search "$T/c.yaml" 2> "$T/again" || fail "second search"
grep -q "already complete" "$T/again" || fail "a finished run is not skipped"
"$CARVE" front "$T/c.db" > "$T/front" || fail "front"
grep -q "Pareto front by calibration perplexity" "$T/front" || fail "front table"
"$CARVE" front "$T/c.db" --by eval --format csv > "$T/front.csv" || fail "front csv"
head -1 "$T/front.csv" | grep -q '^run,id,generation,cost_ratio' || fail "csv header"
[ "$(wc -l < "$T/front.csv")" -ge 2 ] || fail "empty eval front"
"$CARVE" front "$T/c.db" --format json | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); assert d and all("fitness" in r for r in d)' \
  || fail "front json"
id=$(sed -n 2p "$T/front.csv" | cut -d, -f2)
"$CARVE" show "$T/c.db" "$id" > "$T/show" || fail "show"
grep -q "^layer  4" "$T/show" || fail "show lacks layers: $(cat "$T/show")"
grep -q "held-out ppl" "$T/show" || fail "show lacks metrics"
"$CARVE" subnet "$T/c.db" "$id" --out "$T/s.json" || fail "subnet"
"$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["format"]=="carve-subnet/1" and len(d["layers"])==5' "$T/s.json" \
  || fail "subnet file"

# bad input: one line, exit 2
expect 2 "carve: $T/none.db: no such database" "$CARVE" front "$T/none.db"
echo "not sqlite at all, just some text that is long enough" > "$T/text.db"
expect 2 "carve: $T/text.db: not a carve database (not an SQLite file)" "$CARVE" show "$T/text.db" 1
expect 2 "carve: $T/c.db: no candidate with id 99999" "$CARVE" show "$T/c.db" 99999
expect 2 "carve: $T/c.db: candidate ID must be a positive integer, got 'x1'" "$CARVE" subnet "$T/c.db" x1 --out "$T/z.json"
expect 2 "carve: $T/c.db: no run named 'zz'" "$CARVE" front "$T/c.db" --run zz
echo ok
