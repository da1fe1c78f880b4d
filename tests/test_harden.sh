#!/usr/bin/env bash
# test_harden — the reproducers of issue #16 (hostile inputs), each of which must now give one
# line `carve: <file>: <problem>` on stderr and exit 2 (or, for the copied config, identical
# rows): a llama2.c header field of INT32_MIN; windows longer than the model's context in eval,
# prune and a search config; an empty or too short held-out text (found before anything is
# evaluated, no run left 'running'); non-finite weights (named at load for small tensors, by layer
# in the forward pass for large ones; a search on such a model ends with its run marked 'failed');
# an HF config with fewer layers than its weights; contradictory subnet files; an ID out of range;
# a hand-edited database (a cost of 'x', a corrupt stored subnet); an unusable statistics cache
# (warn and go on); and the same config under two file names (identical candidates).
# Uses stories260K from ../shared (skips without it).
set -u
S=$CARVE_SHARED
M=$S/models/stories260K/stories260K.bin
CAL=$S/data/tinystories/calib.txt
VAL=$S/data/tinystories/valid.txt
[ -f "$M" ] || { echo "no $M"; exit 77; }
T=$(mktemp -d "$CARVE_TEST_TMP/harden.XXXXXX") || { echo "cannot create a directory in CARVE_TEST_TMP=$CARVE_TEST_TMP"; exit 1; }
export CARVE_CACHE_DIR=$T/cache
fails=0
# one_line NAME WANT CMD...: exit 2, exactly one stderr line starting "carve: " and containing WANT
# (besides the progress line of a statistics build, which prune prints before it fails)
one_line() {
    local name=$1 want=$2; shift 2
    "$@" >"$T/out" 2>"$T/err.all"
    local rc=$? lines
    grep -v '^carve: computing calibration statistics' "$T/err.all" >"$T/err"
    lines=$(wc -l <"$T/err")
    if [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -q '^carve: ' "$T/err" || ! grep -qF -- "$want" "$T/err"; then
        echo "FAIL $name: rc=$rc lines=$lines, want '$want'; stderr:"; head -5 "$T/err"; fails=$((fails+1))
    else echo "ok   $name: $(cat "$T/err")"; fi
}
sq() { sqlite3 "$1" "$2"; }

# ---- 1: header integers --------------------------------------------------------------------
"$PYTHON" - "$M" "$T" <<'PY'
import struct, sys, os
src, t = sys.argv[1], sys.argv[2]
raw = bytearray(open(src, "rb").read())
dim, hid, L, H, KV, V, S = struct.unpack("<7i", raw[:28]); V = abs(V)
def put(name, off, fmt, val):
    r = bytearray(raw); r[off:off + struct.calcsize(fmt)] = struct.pack(fmt, val); open(os.path.join(t, name), "wb").write(r)
put("vmin.bin", 20, "<i", -2**31)
put("dmin.bin", 0, "<i", -2**31)
# 4: a NaN in layer 0's q_proj (after the embedding and the attention norms), an Inf in an attention norm
put("nan_w.bin", 28 + 4 * (V * dim + L * dim + 5), "<f", float("nan"))
put("inf_norm.bin", 28 + 4 * (V * dim + 3), "<f", float("inf"))
# a 1-layer model whose gate projection (64 x 4200, beyond the load-time check) holds a NaN
dim, hid, L, H, KV, V, S = 64, 4200, 1, 4, 4, 512, 512
import random; random.seed(1)
def arr(n): return struct.pack("<%df" % n, *[random.gauss(0, 0.05) for _ in range(n)])
ones = struct.pack("<%df" % dim, *[1.0] * dim)
w1 = bytearray(arr(hid * dim)); w1[4000:4004] = struct.pack("<f", float("nan"))
os.makedirs(os.path.join(t, "big"))
open(os.path.join(t, "big", "model.bin"), "wb").write(b"".join(
    [struct.pack("<7i", dim, hid, L, H, KV, V, S), arr(V * dim), ones] + [arr(dim * dim) for _ in range(4)] +
    [ones, bytes(w1), arr(dim * hid), arr(hid * dim), ones, b"\0" * (4 * S * (dim // H))]))
PY
cp "$(dirname "$M")/tok512.bin" "$T/big/tokenizer.bin"
one_line vocab_int_min "vocab=-2147483648" "$CARVE" info --model "$T/vmin.bin"
one_line dim_int_min "dim=-2147483648" "$CARVE" info --model "$T/dmin.bin"

# ---- 2: one window rule ----------------------------------------------------------------------
one_line eval_seq_len "--seq-len 513 exceeds the model's context of 512 tokens" \
    "$CARVE" eval --model "$M" --text "$VAL" --seq-len 513
one_line prune_len "--len 1024 exceeds the model's context of 512 tokens" \
    "$CARVE" prune --model "$M" --method saliency --calib "$CAL" --len 1024 --budget 0.8 --out "$T/p.json"
cfg() { # FILE EVAL-TEXT EVAL-SEQ-LEN CALIB-LEN [extra line]
    cat >"$1" <<YAML
model: $M
calibration: {text: $CAL, n: 4, len: $4}
eval: {text: $2, seq_len: $3, max_windows: 4}
space: {channel_multiple: 4}
budget: {targets: [0.7], tolerance: 0.03}
algorithm: {kind: ga, population: 6, generations: 3, parents: 2, mutations: 2, crossovers: 2}
${5:-}
YAML
}
cfg "$T/seq.yaml" "$VAL" 600 32 "output: $T/seq.db"
one_line config_eval_seq_len "$T/seq.yaml: eval.seq_len 600 exceeds the model's context of 512 tokens" \
    "$CARVE" search "$T/seq.yaml" --quiet
cfg "$T/cal.yaml" "$VAL" 64 1024 "output: $T/cal.db"
one_line config_calib_len "$T/cal.yaml: calibration.len 1024 exceeds the model's context of 512 tokens" \
    "$CARVE" search "$T/cal.yaml" --quiet
[ ! -e "$T/seq.db" ] && [ ! -e "$T/cal.db" ] || { echo "FAIL: a refused config left a database"; fails=$((fails+1)); }

# ---- 3: held-out text validated before the first evaluation ----------------------------------
: >"$T/empty.txt"
printf 'Once upon a time.\n' >"$T/short.txt"
cfg "$T/empty.yaml" "$T/empty.txt" 64 32 "output: $T/empty.db"
one_line eval_text_empty "$T/empty.txt: empty text" "$CARVE" search "$T/empty.yaml" --quiet
cfg "$T/short.yaml" "$T/short.txt" 64 32 "output: $T/short.db"
one_line eval_text_short "$T/short.txt: text has" "$CARVE" search "$T/short.yaml" --quiet
[ ! -e "$T/empty.db" ] && [ ! -e "$T/short.db" ] || { echo "FAIL: an invalid run evaluated something"; fails=$((fails+1)); }

# ---- 4: non-finite weights -------------------------------------------------------------------
one_line nan_weight "tensor q_proj of layer 0 holds a non-finite value" \
    "$CARVE" eval --model "$T/nan_w.bin" --text "$VAL" --seq-len 64 --max-windows 2
one_line inf_norm "tensor attention norm of layer 0 holds a non-finite value" \
    "$CARVE" eval --model "$T/inf_norm.bin" --text "$VAL" --seq-len 64 --max-windows 2
one_line nan_large "non-finite activation leaving layer 0" \
    "$CARVE" eval --model "$T/big/model.bin" --text "$VAL" --seq-len 64 --max-windows 2
one_line nan_prune "non-finite activation leaving layer 0" \
    "$CARVE" prune --model "$T/big/model.bin" --method saliency --calib "$CAL" --n 2 --len 32 --budget 0.8 --out "$T/p.json"
sed "s#^model: .*#model: $T/big/model.bin#" "$T/empty.yaml" | sed "s#$T/empty.txt#$VAL#; s#empty.db#nan.db#" >"$T/nan.yaml"
one_line nan_search "non-finite activation leaving layer 0" "$CARVE" search "$T/nan.yaml" --quiet
st=$(sq "$T/nan.db" "SELECT status FROM runs" 2>&1)
[ "$st" = failed ] && echo "ok   failed run marked: $st" || { echo "FAIL: run status '$st', expected failed"; fails=$((fails+1)); }

# ---- 5: smaller ones -------------------------------------------------------------------------
"$CARVE" synth --shape tiny --seed 3 --out "$T/hf" --quiet || exit 1
sed -i 's/"num_hidden_layers": 4/"num_hidden_layers": 3/' "$T/hf/config.json"
one_line hf_unused_tensors "tensor model.layers.3.input_layernorm.weight is not part of the model" \
    "$CARVE" info --model "$T/hf"
SHAPE='"model": {"n_layers": 5, "dim": 64, "n_heads": 8, "n_kv_heads": 4, "hidden_dim": 172}'
echo "{$SHAPE, \"layers\": [{\"attn\": false, \"heads\": [0, 1]}, {}, {}, {}, {}]}" >"$T/s1.json"
echo "{$SHAPE, \"layers\": [{}, {\"heads\": []}, {}, {}, {}]}" >"$T/s2.json"
echo '{"layers": [{}, {}, {}, {}, {}]}' >"$T/s3.json"
one_line subnet_attn_false_heads "layer 0: \"heads\" is given but \"attn\" is false" \
    "$CARVE" eval --model "$M" --text "$VAL" --seq-len 64 --subnet "$T/s1.json"
one_line subnet_empty_heads "layer 1: \"heads\" is empty" "$CARVE" eval --model "$M" --text "$VAL" --seq-len 64 --subnet "$T/s2.json"
one_line subnet_no_model "no \"model\" object" "$CARVE" eval --model "$M" --text "$VAL" --seq-len 64 --subnet "$T/s3.json"

# ---- 6: results depend on the config, not its file name ---------------------------------------
mkdir -p "$T/run"
cfg "$T/run/a.yaml" "$VAL" 64 32 "baselines: {random: 2}"
cp "$T/run/a.yaml" "$T/run/b.yaml"
(cd "$T/run" && "$CARVE" search a.yaml --quiet && "$CARVE" search b.yaml --quiet) || { echo "FAIL: search"; exit 1; }
Q="SELECT generation, hash, params, fitness, reformed_fitness, eval_ppl FROM candidates ORDER BY id"
if [ -n "$(sq "$T/run/a.db" "$Q")" ] && [ "$(sq "$T/run/a.db" "$Q")" = "$(sq "$T/run/b.db" "$Q")" ]; then
    echo "ok   copied config: $(sq "$T/run/a.db" "SELECT count(*) FROM candidates") identical candidate rows"
else echo "FAIL: a.yaml and b.yaml (the same config) gave different rows"; fails=$((fails+1)); fi

# the database commands on hand-edited databases (a copy of a.db)
DB=$T/run/a.db
id=$(sq "$DB" "SELECT candidate_id FROM finals WHERE role = 'best' LIMIT 1")
one_line show_id_overflow "candidate ID must be a positive integer, got '99999999999999999999'" \
    "$CARVE" show "$DB" 99999999999999999999
cp "$DB" "$T/x.db"; sq "$T/x.db" "UPDATE candidates SET cost_ratio = 'x' WHERE id = $id"
one_line front_bad_value "column cost_ratio holds 'x', not a finite number" "$CARVE" front "$T/x.db"
cp "$DB" "$T/y.db"; sq "$T/y.db" "UPDATE candidates SET subnet = '{\"layers\": 3}' WHERE id = $id"
one_line show_corrupt_subnet "stored subnet is corrupt (no \"layers\" array)" "$CARVE" show "$T/y.db" "$id"

# a statistics cache that cannot be written: a warning, and the export goes on
CARVE_CACHE_DIR=/dev/full/cache "$CARVE" export "$DB" "$id" --format hf --out "$T/exp" >"$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && grep -q "going on without caching the statistics" "$T/err" && [ -f "$T/exp/config.json" ]; then
    echo "ok   uncached export: $(grep going "$T/err")"
else echo "FAIL: export with an unusable cache: rc=$rc"; cat "$T/err"; fails=$((fails+1)); fi

[ $fails -eq 0 ] || { echo "$fails failed"; exit 1; }
echo "all passed"
