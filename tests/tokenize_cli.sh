#!/usr/bin/env bash
# tokenize_cli — `carve tokenize` end to end: --help, usage errors (exit 1), bad inputs
# (one-line error, exit 2), round trip with --decode, ids with and without BOS.
set -u
fail() { echo "FAIL: $*"; exit 1; }
T=$CARVE_TEST_TMP/tokcli; mkdir -p "$T"
S=$CARVE_SHARED

"$CARVE" tokenize --help | grep -q "usage: carve tokenize" || fail "--help"
"$CARVE" tokenize --string x >/dev/null 2>&1; [ $? -eq 1 ] || fail "missing --tokenizer should be a usage error"
# --model with --tokenizer: the tokenizer replaces the model's own (as in every command); here the model is missing
"$CARVE" tokenize --tokenizer a --model b --string x >/dev/null 2>"$T/both.err"; [ $? -eq 2 ] && grep -q "b: no such file" "$T/both.err" || fail "model and tokenizer together"

expect_err() { # description, needle, command...
    local what=$1 needle=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"; local rc=$?
    [ $rc -eq 2 ] || fail "$what: exit $rc, expected 2"
    [ "$(wc -l <"$T/err")" -eq 1 ] || fail "$what: error is not one line: $(cat "$T/err")"
    grep -q -- "$needle" "$T/err" || fail "$what: expected '$needle' in: $(cat "$T/err")"
}
printf '{"model": {"type": "BPE"' >"$T/bad.json"
expect_err "broken json" "not valid JSON" "$CARVE" tokenize --tokenizer "$T/bad.json" --string hi
printf '{"version": "1.0"}' >"$T/nomodel.json"
expect_err "json without model" "no 'model' object" "$CARVE" tokenize --tokenizer "$T/nomodel.json" --string hi
printf '\x05\x00\x00\x00\x00\x00\x00\x00\x09\x00\x00' >"$T/trunc.bin"
expect_err "truncated tokenizer.bin" "truncated" "$CARVE" tokenize --tokenizer "$T/trunc.bin" --string hi
printf 'GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' >"$T/empty.gguf"
expect_err "gguf without tokenizer" "missing tokenizer key 'tokenizer.ggml.model'" "$CARVE" tokenize --tokenizer "$T/empty.gguf" --string hi
expect_err "missing file" "cannot open" "$CARVE" tokenize --tokenizer "$T/nope.bin" --string hi

"$CARVE" synth --help >/dev/null 2>&1 # (not required here)
if [ ! -d "$S" ]; then echo "skip: shared data absent (error paths checked)"; exit 0; fi

TOK=$S/models/llama2-tokenizer/tokenizer.bin
out=$("$CARVE" tokenize --tokenizer "$TOK" --string "Hello world") || fail "encode"
[ "$out" = "1 15043 3186" ] || fail "Hello world -> '$out'"
out=$("$CARVE" tokenize --tokenizer "$TOK" --string "Hello world" --no-bos) || fail "encode"
[ "$out" = "15043 3186" ] || fail "--no-bos -> '$out'"
printf 'line one\n  ½ 🦀 日本\n' >"$T/text.txt"
"$CARVE" tokenize --tokenizer "$S/tokenizers/ggml-vocab-gpt-2.gguf" --text "$T/text.txt" --decode >"$T/back.txt" || fail "decode"
printf 'line one\n  ½ 🦀 日本\n\n' | cmp -s - "$T/back.txt" || fail "gpt-2 round trip differs"
out=$("$CARVE" tokenize --model "$S/models/stories260K/stories260K.bin" --string "Once upon a time") || fail "--model"
[ "$out" = "1 403 407 261 378" ] || fail "stories260K tokenizer -> '$out'"
# llama.cpp's golden vectors through the CLI (--separator splits the .inp cases)
for v in llama-spm gpt-2 deepseek-coder refact; do
    G=$S/tokenizers/ggml-vocab-$v.gguf
    "$CARVE" tokenize --tokenizer "$G" --text "$G.inp" --separator __ggml_vocab_test__ --no-bos >"$T/gold.txt" || fail "golden $v"
    sed 's/^/ /; s/^ $//' "$T/gold.txt" | cmp -s - "$G.out" || fail "golden vectors differ for $v"
done
echo "ok"
