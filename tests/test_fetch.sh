#!/usr/bin/env bash
# test_fetch — scripts/fetch.py (`make models`): without a mirror and without network it fails
# with one line naming what it could not download and leaves nothing behind; a mirror copy is
# checked by sha256 (a damaged mirror is refused in one line); the "stories" cut rebuilds
# calib.txt and valid.txt byte for byte from a TinyStories-format source (built here from the
# two files: the real source cannot be downloaded in the test); manifest errors name file:line;
# the shipped main config runs (--dry-run) on files fetched through the mirror into a tree
# outside ../shared. Parts that need ../shared skip when it is absent.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
T=${CARVE_TEST_TMP:-/tmp}/fetch.$$
S=${CARVE_SHARED:-../shared}
PY=${PYTHON:-/usr/bin/python3}
mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }
one_line() { [ "$(wc -l <"$1")" -eq 1 ] || fail "$2: not one line: $(cat "$1")"; }

# 1. no mirror, no network (every connection refused through a dead proxy): one line, exit 2,
#    nothing created under the root
env -u CARVE_MIRROR ALL_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
    "$PY" scripts/fetch.py --root "$T/none" data/tinystories >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] || fail "no network: exit $rc $(cat "$T/err")"
one_line "$T/err" "no network"
grep -q "^fetch: cannot download https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/TinyStories-valid.txt: .*needed for data/tinystories/calib.txt.*CARVE_MIRROR" "$T/err" \
    || fail "no network message: $(cat "$T/err")"
[ ! -e "$T/none" ] || fail "no network: left $(find "$T/none")"

# 2. manifest errors name the file and line
printf 'data/x.txt x.txt https://example.org/x 1234\n' >"$T/bad.manifest"
"$PY" scripts/fetch.py --root "$T/m" --manifest "$T/bad.manifest" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "bad.manifest:1: '1234' is not a sha256" "$T/err" || fail "bad sha column: exit $rc $(cat "$T/err")"
one_line "$T/err" "bad sha column"
printf '# comment\n../x.txt x.txt https://example.org/x %064d bytes:0:1\n' 0 >"$T/bad.manifest"
"$PY" scripts/fetch.py --root "$T/m" --manifest "$T/bad.manifest" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "bad.manifest:2: destination '../x.txt' must be a relative path" "$T/err" || fail "escaping dest: $(cat "$T/err")"
printf 'x.txt x.txt https://example.org/x %064d slice:0\n' 0 >"$T/bad.manifest"
"$PY" scripts/fetch.py --root "$T/m" --manifest "$T/bad.manifest" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "bad.manifest:1: unknown cut 'slice'" "$T/err" || fail "unknown cut: $(cat "$T/err")"
"$PY" scripts/fetch.py --root "$T/m" nothing/ 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "no destination starts with nothing/" "$T/err" || fail "unknown prefix: $(cat "$T/err")"

CAL=$S/data/tinystories/calib.txt; VAL=$S/data/tinystories/valid.txt
[ -f "$CAL" ] && [ -f "$VAL" ] || { echo "skip: ../shared absent (offline error paths checked)"; exit 77; }

# 3. the stories cut, from a local TinyStories-format source (file:// URL, rows of the real
#    manifest with their real checksums and cuts)
"$PY" - "$CAL" "$VAL" "$T/TinyStories-valid.txt" <<'PY' || fail "building the source"
import re, sys
cal, val = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
text = cal + b"\n" + val
# stories begin at paragraphs starting "Once upon a time" (the real file separates all stories)
src = re.sub(rb"\n\n(?=Once upon a time)", b"\n<|endoftext|>\n", text)
assert src.count(b"<|endoftext|>") > 500
open(sys.argv[3], "wb").write(b"  " + src + b"<|endoftext|>\nA last story.\n<|endoftext|>\n")
PY
grep "^data/tinystories/" scripts/fetch.manifest | sed "s|https://[^ ]*TinyStories-valid.txt|file://$T/TinyStories-valid.txt|" >"$T/ts.manifest"
[ "$(wc -l <"$T/ts.manifest")" -eq 2 ] || fail "manifest rows for data/tinystories: $(cat "$T/ts.manifest")"
env -u CARVE_MIRROR "$PY" scripts/fetch.py --root "$T/cut" --manifest "$T/ts.manifest" >"$T/out" 2>&1 || fail "stories cut: $(cat "$T/out")"
cmp -s "$T/cut/data/tinystories/calib.txt" "$CAL" && cmp -s "$T/cut/data/tinystories/valid.txt" "$VAL" || fail "cut differs"
grep -q "downloaded from file://.*(stories:475016:319358)" "$T/out" || fail "cut report: $(cat "$T/out")"
# a wrong cut fails loudly (checksum), writes nothing
sed 's/stories:0:475015/stories:1:475015/' "$T/ts.manifest" >"$T/ts2.manifest"
env -u CARVE_MIRROR "$PY" scripts/fetch.py --root "$T/cut2" --manifest "$T/ts2.manifest" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "^fetch: data/tinystories/calib.txt: sha256 mismatch (downloaded from file://" "$T/err" || fail "wrong cut: exit $rc $(cat "$T/err")"
one_line "$T/err" "wrong cut"
[ ! -e "$T/cut2/data/tinystories/calib.txt" ] || fail "wrong cut left a file"

# 4. a damaged mirror is refused in one line; the good one fills the tree; a second run keeps it
mkdir -p "$T/badmirror/data/tinystories" && head -c 1000 "$CAL" >"$T/badmirror/data/tinystories/calib.txt"
CARVE_MIRROR=$T/badmirror "$PY" scripts/fetch.py --root "$T/bm" data/tinystories/calib.txt 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "data/tinystories/calib.txt: sha256 mismatch (copied from $T/badmirror/" "$T/err" || fail "bad mirror: exit $rc $(cat "$T/err")"
one_line "$T/err" "bad mirror"
CARVE_MIRROR=$T/badmirror "$PY" scripts/fetch.py --root "$T/bm" data/tinystories/valid.txt 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "valid.txt: not found in the mirror" "$T/err" || fail "missing in mirror: $(cat "$T/err")"

MIRROR=${CARVE_MIRROR:-$S}
CARVE_MIRROR=$MIRROR "$PY" scripts/fetch.py --root "$T/tree" models/stories260K data/tinystories >"$T/out" 2>&1 || fail "mirror: $(cat "$T/out")"
[ "$(grep -c ': copied from ' "$T/out")" -eq 4 ] || fail "mirror copies: $(cat "$T/out")"
CARVE_MIRROR=$MIRROR "$PY" scripts/fetch.py --root "$T/tree" models/stories260K data/tinystories >"$T/out" 2>&1 || fail "second run: $(cat "$T/out")"
[ "$(grep -c ': present$' "$T/out")" -eq 4 ] || fail "second run re-fetched: $(cat "$T/out")"

# 5. the shipped configs name files of the tree, never ../shared; the main one runs (dry) there
grep -l '\.\./shared' configs/*.yaml && fail "configs name ../shared"
(cd "$T/tree" && "${CARVE:?}" search "$ROOT/configs/stories260k.yaml" --dry-run) >"$T/dry" 2>&1 \
    || fail "search --dry-run of the main config on the fetched tree: $(cat "$T/dry")"
echo ok
