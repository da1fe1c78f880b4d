#!/usr/bin/env bash
# test_tasks_cli — `carve tasks`: usage errors exit 1, bad data exits 2 with one stderr line naming
# the file and line, and on stories260K (skipped without ../shared) a few items of every task give
# the documented table, --json fields, --limit counts and a subnet run.
set -u
CARVE=${CARVE:-./carve}
SHARED=${CARVE_SHARED:-../shared}
T=$(mktemp -d "${CARVE_TEST_TMP:-/tmp}/taskscli.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail=0
M=$SHARED/models/stories260K/stories260K.bin
D=$SHARED/data/tasks
[ -f "$M" ] && [ -d "$D" ] || { echo "stories260K or the task data absent"; exit 77; }
CARVE=$(realpath "$CARVE") M=$(realpath "$M") D=$(realpath "$D")

expect_rc() { # name, exit code, stderr pattern, carve args...
    local name=$1 want=$2 pat=$3; shift 3
    "$CARVE" "$@" >"$T/out" 2>"$T/err"; local rc=$?
    if [ $rc -ne "$want" ] || ! grep -q -- "$pat" "$T/err" || { [ "$want" = 2 ] && [ "$(wc -l <"$T/err")" -ne 1 ]; }; then
        echo "FAIL $name: exit $rc: $(cat "$T/err")"; fail=1
    else echo "ok   $name: $(head -1 "$T/err")"; fi
}
expect_rc "unknown task" 1 "unknown task 'mmlu'" tasks --model "$M" --task mmlu --data "$D"
expect_rc "no --task" 1 "--task is required" tasks --model "$M" --data "$D"
(cd "$T" && expect_rc "default --data" 2 "data/tasks/piqa/valid.jsonl: cannot open" tasks --model "$M" --task piqa; exit $fail) || fail=1
expect_rc "bad --limit" 1 "--limit expects" tasks --model "$M" --task piqa --data "$D" --limit 0
expect_rc "all, nothing there" 1 "no task to run" tasks --model "$M" --task all --data "$T"
expect_rc "missing folder" 2 "$T/piqa/valid.jsonl" tasks --model "$M" --task piqa --data "$T"
mkdir -p "$T/bad/boolq"
printf '{"question":"q","passage":"p","answer":true}\n{"question":"q","passage":"p"}\n' >"$T/bad/boolq/dev.jsonl"
expect_rc "bad item" 2 "$T/bad/boolq/dev.jsonl:2: missing field \"answer\"" tasks --model "$M" --task boolq --data "$T/bad"

# every task, 3 items: the table has one row per task plus the mean
"$CARVE" tasks --model "$M" --task all --data "$D" --limit 3 >"$T/table" 2>"$T/err" || { echo "FAIL all tasks: $(cat "$T/err")"; fail=1; }
for t in arc_easy hellaswag hellaswag_llamacpp piqa winogrande boolq openbookqa mean; do
    grep -q "^$t " "$T/table" || { echo "FAIL table lacks $t"; cat "$T/table"; fail=1; }
done
grep -qE '^piqa +3 ' "$T/table" || { echo "FAIL piqa row is not 3 items"; fail=1; }
# --json: the fields, acc_norm null where the harness has none
"$CARVE" tasks --model "$M" --task winogrande,piqa,piqa --data "$D" --limit 4 --json >"$T/j" 2>"$T/err" || { echo "FAIL json: $(cat "$T/err")"; fail=1; }
${PYTHON:-/usr/bin/python3} - "$T/j" <<'EOF' || fail=1
import json, sys
o = json.load(open(sys.argv[1]))
t = o["tasks"]
assert [x["task"] for x in t] == ["winogrande", "piqa"], t
assert all(x["items"] == 4 for x in t), t
assert t[0]["acc_norm"] is None and isinstance(t[1]["acc_norm"], float), t
assert abs(o["mean_acc"] - (t[0]["acc"] + t[1]["acc"]) / 2) < 1e-12 and o["n_acc_norm"] == 1, o
for x in t:
    p, n = x["acc"], x["items"]
    assert abs(x["acc_stderr"] - (p * (1 - p) / (n - 1)) ** 0.5) < 1e-9, x
print("ok   json fields")
EOF
# a subnet: every layer's MLP skipped changes the loglikelihoods but runs
cat >"$T/sub.json" <<EOF
{"format": "carve-subnet/1", "model": {"n_layers": 5, "dim": 64, "n_heads": 8, "n_kv_heads": 4, "hidden_dim": 172},
 "layers": [{"mlp": false}, {"mlp": false}, {"mlp": false}, {"mlp": false}, {"mlp": false}]}
EOF
"$CARVE" tasks --model "$M" --subnet "$T/sub.json" --task piqa --data "$D" --limit 5 --dump-items "$T/s.jsonl" >/dev/null 2>"$T/err" \
    && "$CARVE" tasks --model "$M" --task piqa --data "$D" --limit 5 --dump-items "$T/d.jsonl" >/dev/null 2>>"$T/err" \
    || { echo "FAIL subnet run: $(cat "$T/err")"; fail=1; }
if cmp -s "$T/s.jsonl" "$T/d.jsonl"; then echo "FAIL subnet gives the dense loglikelihoods"; fail=1; else echo "ok   subnet"; fi

# search integration: final.tasks scores the finals after selection, stored in the database;
# front --by TASK and show display them; adding a task to a finished run scores only that task
export CARVE_CACHE_DIR=$T/cache
S=$(realpath "$SHARED")
cfg() { # tasks-line
cat <<YAML
model: $M
calibration: {text: $S/data/tinystories/calib.txt, n: 4, len: 32}
eval: {text: $S/data/tinystories/valid.txt, seq_len: 64, max_windows: 4}
space: {channel_multiple: 4}
budget: {targets: [0.7], tolerance: 0.03}
algorithm: {kind: ga, population: 6, generations: 2, parents: 2, mutations: 2, crossovers: 2}
baselines: {random: 2}
$1
output: $T/s.db
YAML
}
cfg "final: {tasks: [piqa], tasks_data: $D, tasks_limit: 6}" >"$T/s.yaml"
"$CARVE" search "$T/s.yaml" --quiet 2>"$T/err" || { echo "FAIL search with final.tasks: $(cat "$T/err")"; fail=1; }
n=$(sqlite3 "$T/s.db" "SELECT count(*) FROM task_scores WHERE task = 'piqa' AND items = 6")
f=$(sqlite3 "$T/s.db" "SELECT count(DISTINCT candidate_id) FROM finals")
[ "$n" = "$f" ] && [ "$n" -ge 2 ] && echo "ok   final.tasks: $n finals scored on piqa" || { echo "FAIL $n piqa scores for $f finals"; fail=1; }
"$CARVE" front "$T/s.db" --by piqa >"$T/front" 2>"$T/err" && grep -q "zero-shot accuracy on piqa" "$T/front"     || { echo "FAIL front --by piqa: $(cat "$T/front" "$T/err")"; fail=1; }
id=$(sqlite3 "$T/s.db" "SELECT candidate_id FROM finals WHERE role = 'best'")
"$CARVE" show "$T/s.db" "$id" | grep -qE '^piqa +6 ' || { echo "FAIL show lacks the piqa score"; fail=1; }
expect_rc "front --by unknown" 1 "--by expects calib, eval or a task" front "$T/s.db" --by mmlu
cfg "final: {tasks: [piqa, winogrande], tasks_data: $D, tasks_limit: 6}" >"$T/s.yaml"
"$CARVE" search "$T/s.yaml" --quiet 2>"$T/err" || { echo "FAIL resume with one more task: $(cat "$T/err")"; fail=1; }
[ "$(sqlite3 "$T/s.db" "SELECT count(*) FROM task_scores WHERE task = 'winogrande'")" = "$f" ] \
    && echo "ok   a finished run gains winogrande" || { echo "FAIL winogrande not added on resume"; fail=1; }
# config errors name the file, line and column
cfg "final: {tasks: [piqa, mmlu]}" >"$T/bad.yaml"
expect_rc "unknown task in config" 2 "bad.yaml:8:23: unknown task 'mmlu' in 'final'" search "$T/bad.yaml"
cfg "final: {tasks: [piqa, piqa]}" >"$T/bad.yaml"
expect_rc "task twice" 2 "bad.yaml:8:23: task 'piqa' appears twice" search "$T/bad.yaml"
cfg "final: {tasks: boolq, tasks_data: $T}" >"$T/bad.yaml"
expect_rc "missing task file" 2 "bad.yaml:8:35: task file '$T/boolq/dev.jsonl' not found" search "$T/bad.yaml"
exit $fail
