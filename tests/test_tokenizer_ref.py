#!/usr/bin/env python3
"""test_tokenizer_ref — carve's tok512.bin encoding of TinyStories valid.txt must equal the
independent reference in tests/ref_spm_tokenizer.py token for token (skips without ../shared)."""
import os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_spm_tokenizer as ref

shared = os.environ.get('CARVE_SHARED', os.path.join(os.path.dirname(__file__), '..', '..', 'shared'))
carve = os.environ.get('CARVE', './carve')
tok = os.path.join(shared, 'models/stories260K/tok512.bin')
text_path = os.path.join(shared, 'data/tinystories/valid.txt')
if not (os.path.exists(tok) and os.path.exists(text_path)):
    print('skip: ../shared/models/stories260K/tok512.bin or data/tinystories/valid.txt absent')
    sys.exit(77)

vocab, scores = ref.load(tok)
text = open(text_path, 'rb').read()
want = [1] + ref.encode(text, vocab, scores)
r = subprocess.run([carve, 'tokenize', '--tokenizer', tok, '--text', text_path], capture_output=True)
assert r.returncode == 0, r.stderr.decode()
got = [int(x) for x in r.stdout.split()]
for i, (a, b) in enumerate(zip(got, want)):
    assert a == b, f'token {i}: carve {a}, reference {b}'
assert len(got) == len(want), f'carve {len(got)} tokens, reference {len(want)}'
# a few non-ASCII and odd inputs as well
for s in ['héllo wörld ½ 🦀', '  two  spaces\n\nand\ttabs ', 'x']:
    r = subprocess.run([carve, 'tokenize', '--tokenizer', tok, '--string', s, '--no-bos'], capture_output=True)
    assert [int(x) for x in r.stdout.split()] == ref.encode(s.encode(), vocab, scores), s
print(f'tok512 on valid.txt: {len(got)} tokens identical to the reference')
