#!/usr/bin/env bash
# test_cli_help — one command-line vocabulary. Walks every subcommand that `carve --help` lists,
# reads its --help and checks:
#   - it exits 0 and starts with "usage: carve <command>";
#   - every command that takes --model also takes --tokenizer;
#   - an option name that several commands list has the same help line (its meaning and its
#     default) in all of them, except the names below whose meaning differs by command;
#   - every option the help lists is accepted (never "unknown option");
#   - an unknown option is a usage error (exit 1) naming it;
# and that the YAML key 'tokenizer:' works like --tokenizer (a search --dry-run with it).
set -u
CARVE=${CARVE:-./carve}
T=$(mktemp -d "${CARVE_TEST_TMP:-/tmp}/clihelp.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL $*"; fail=1; }
# Same name, another meaning (so another help line) by command:
#   method  pruning method (prune, baseline) / least-squares solver (reform)
#   out     a file, a directory or either, by what the command writes
#   format  output format: model (export) / table (front)
#   seed    calibration sampling seed / synth's weight seed
#   dtype   written weight dtype: export keeps the source's by default, synth writes f32
DIFFERENT=" method out format seed dtype "

cmds=$("$CARVE" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }')
[ -n "$cmds" ] || { echo "FAIL: no commands in carve --help"; exit 1; }
: >"$T/all"
for c in $cmds; do
    if ! "$CARVE" "$c" --help >"$T/$c.help" 2>"$T/$c.err"; then bad "$c --help exits non-zero: $(cat "$T/$c.err")"; continue; fi
    head -1 "$T/$c.help" | grep -q "^usage: carve $c" || bad "$c --help does not start with 'usage: carve $c'"
    # option lines: "  [-x, ]--name[ ARG]   help"
    sed -nE 's/^  (-[a-zA-Z], )?--([a-z][a-z0-9-]*)( [^ ]+)? {2,}(.*)$/\2\t\4/p' "$T/$c.help" >"$T/$c.opts"
    [ -s "$T/$c.opts" ] || bad "$c --help lists no options"
    sed "s/^/$c\t/" "$T/$c.opts" >>"$T/all"
    if grep -q "^model	" "$T/$c.opts" && ! grep -q "^tokenizer	" "$T/$c.opts"; then
        bad "$c takes --model but not --tokenizer"
    fi
    while IFS=$'\t' read -r name _; do
        "$CARVE" "$c" "--$name=x" --help >/dev/null 2>"$T/err"
        "$CARVE" "$c" "--$name" --help >/dev/null 2>>"$T/err"
        grep -q "unknown option" "$T/err" && bad "$c --help lists --$name, but $c does not accept it: $(head -1 "$T/err")"
    done <"$T/$c.opts"
    "$CARVE" "$c" --no-such-option >/dev/null 2>"$T/err"; rc=$?
    { [ $rc -eq 1 ] && grep -q "no-such-option" "$T/err"; } || bad "$c --no-such-option: exit $rc, $(head -1 "$T/err")"
    echo "ok   $c: $(wc -l <"$T/$c.opts") options"
done
# one help line per shared name
for name in $(cut -f2 "$T/all" | sort | uniq -d); do
    case "$DIFFERENT" in *" $name "*) continue ;; esac
    n=$(awk -F'\t' -v n="$name" '$2 == n { print $3 }' "$T/all" | sort -u | wc -l)
    if [ "$n" -ne 1 ]; then
        bad "--$name means one thing but has $n help lines:"; awk -F'\t' -v n="$name" '$2 == n { print "       " $1 ": " $3 }' "$T/all"
    else echo "ok   --$name: one help line in $(awk -F'\t' -v n="$name" '$2 == n' "$T/all" | wc -l) commands"; fi
done
# the YAML key: a search config naming a tokenizer file (stories260K and its own tok512.bin)
S=${CARVE_SHARED:-../shared}
if [ -f "$S/models/stories260K/stories260K.bin" ] && [ -f "$S/models/stories260K/tok512.bin" ]; then
    cat >"$T/tok.yaml" <<EOF
model: $S/models/stories260K/stories260K.bin
tokenizer: $S/models/stories260K/tok512.bin
calibration: {text: $S/data/tinystories/calib.txt, n: 4, len: 32}
eval: {text: $S/data/tinystories/valid.txt}
output: $T/tok.db
EOF
    if "$CARVE" search "$T/tok.yaml" --dry-run >"$T/out" 2>"$T/err"; then echo "ok   YAML tokenizer: key"
    else bad "search with a 'tokenizer:' key: $(cat "$T/err")"; fi
    printf 'tokenizer: %s/nope.bin\n' "$T" >>"$T/tok.yaml"
    "$CARVE" search "$T/tok.yaml" --dry-run >/dev/null 2>"$T/err"
    grep -q "twice" "$T/err" || bad "a repeated tokenizer: key is not refused: $(cat "$T/err")"
else
    echo "(../shared/models/stories260K absent: YAML tokenizer key not checked)"
fi
[ $fail -eq 0 ] && echo "all subcommands agree"
exit $fail
