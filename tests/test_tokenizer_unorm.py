#!/usr/bin/env python3
"""test_tokenizer_unorm — tokenizer.json Unicode normalizers against an independent oracle,
Python's unicodedata.normalize: a byte-level tokenizer.json (GPT-2 byte symbols plus 100 merges
learned here on the normalised text) with "normalizer" NFC / NFKC / NFD / NFKD; on random text
rich in combining marks, compatibility characters and Hangul, `carve tokenize --decode` must
give exactly unicodedata.normalize(form, text), and the ids must equal those of the
unicodedata-normalised text under the same tokenizer without a normalizer."""
import collections, json, os, random, subprocess, sys, tempfile, unicodedata

carve = os.environ.get('CARVE', './carve')
tmpdir = tempfile.TemporaryDirectory(dir=os.environ.get('CARVE_TEST_TMP'))
tmp = tmpdir.name

def byte_symbols():
    """GPT-2's byte -> unicode table"""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    extra = [b for b in range(256) if b not in keep]
    table = {b: chr(b) for b in keep}
    table.update({b: chr(256 + i) for i, b in enumerate(extra)})
    return table

SYM = byte_symbols()

def tokenizer_json(path, form, corpus):
    """256 byte symbols + 100 merges of the most frequent adjacent pairs in corpus (bytes)"""
    vocab = {SYM[b]: b for b in range(256)}
    words = [[SYM[b] for b in w] for w in corpus.split(b' ') if w]
    merges = []
    for _ in range(100):
        pairs = collections.Counter(p for w in words for p in zip(w, w[1:]))
        if not pairs: break
        (a, b), _ = pairs.most_common(1)[0]
        merges.append([a, b])
        vocab.setdefault(a + b, len(vocab))
        for w in words:
            i = 0
            while i < len(w) - 1:
                if w[i] == a and w[i + 1] == b: w[i:i + 2] = [a + b]
                i += 1
    tok = {'version': '1.0', 'added_tokens': [],
           'normalizer': {'type': form} if form else None,
           'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': True},
           'decoder': {'type': 'ByteLevel'}, 'post_processor': None,
           'model': {'type': 'BPE', 'vocab': vocab, 'merges': merges}}
    with open(path, 'w', encoding='utf-8') as f: json.dump(tok, f, ensure_ascii=True)

# characters assigned long before Unicode 14 (Python 3.11's tables; utf8proc 2.8 has 15.0)
POOL = (list('aeiouncAEOU ') + [chr(c) for c in range(0x300, 0x370)]     # combining diacritics
        + [chr(c) for c in range(0xc0, 0x180)] + [chr(c) for c in range(0x1e00, 0x1f00)]  # precomposed Latin
        + [chr(c) for c in range(0x386, 0x3d0)] + [chr(c) for c in range(0x1f00, 0x1ff0)]  # Greek, polytonic
        + [chr(c) for c in range(0x1100, 0x1113)] + [chr(c) for c in range(0x1161, 0x1176)]
        + [chr(c) for c in range(0x11a8, 0x11c3)] + [chr(c) for c in range(0xac00, 0xac40)]  # Hangul
        + [chr(c) for c in range(0xfb00, 0xfb07)] + [chr(c) for c in range(0xff01, 0xff5f)]  # ligatures, fullwidth
        + [chr(c) for c in range(0x2460, 0x24ff)] + [chr(c) for c in range(0x2070, 0x209d)]  # circled, super/subscripts
        + ['\u00a0', '\u3000', '\u2126', '\u212b', '\u0958', '\u093c', '\u0915', '\u0344', '\u0f73', '\ufdfa',
           '\u3300', '\u1e9b', '\u0323', '\u0345', '\u05b0', '\u0591', '\u0e48', '\n'])
POOL = [c for c in POOL if unicodedata.category(c) != 'Cn']
rng = random.Random(20261123)
lines = [''.join(rng.choice(POOL) for _ in range(rng.randint(1, 40))) for _ in range(400)]
text = '\n'.join(lines)
src = os.path.join(tmp, 'text.txt')
with open(src, 'wb') as f: f.write(text.encode())

def carve_out(*args):
    r = subprocess.run([carve, 'tokenize', '--no-bos', *args], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout

for form in ['NFC', 'NFKC', 'NFD', 'NFKD']:
    want = unicodedata.normalize(form, text).encode()
    assert want != text.encode(), f'{form}: the sample text is already normal (test would prove nothing)'
    norm_src = os.path.join(tmp, f'text.{form}.txt')
    with open(norm_src, 'wb') as f: f.write(want)
    with_norm, without = os.path.join(tmp, f'{form}.json'), os.path.join(tmp, f'{form}.none.json')
    tokenizer_json(with_norm, form, want)
    tokenizer_json(without, None, want)
    back = carve_out('--tokenizer', with_norm, '--text', src, '--decode')
    assert back.endswith(b'\n')
    if back[:-1] != want:
        got_lines, want_lines = back[:-1].decode('utf-8', 'replace').split('\n'), want.decode().split('\n')
        bad = next(i for i, (g, w) in enumerate(zip(got_lines, want_lines)) if g != w)
        sys.exit(f'FAIL {form}: line {bad}: input {ascii(lines[bad])}\n carve {ascii(got_lines[bad])}\n '
                 f'unicodedata {ascii(want_lines[bad])}')
    ids = carve_out('--tokenizer', with_norm, '--text', src).split()
    ref = carve_out('--tokenizer', without, '--text', norm_src).split()
    raw = carve_out('--tokenizer', without, '--text', src).split()
    assert ids == ref, f'{form}: ids differ from those of the unicodedata-normalised text'
    assert raw != ids, f'{form}: the normalizer changed nothing (test would prove nothing)'
    print(f'{form}: {len(text)} chars -> {len(want.decode())} chars, {len(ids)} ids, identical to unicodedata')
