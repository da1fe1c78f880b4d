#!/usr/bin/env python3
"""test_tokenizer_json_real — tokenizer.json on real vocabularies: converts the four vocabulary-only
GGUF files in ../shared/tokenizers/ into Hugging Face tokenizer.json files (byte-level GPT-2:
vocab + merges + ByteLevel pre-tokenizer; DeepSeek-Coder and Refact: the Split / Digits
sequences their tokenizer.json files have, user-defined tokens as non-special added tokens;
Llama sentencepiece-style: merges derived from the
scores as HF's LlamaConverter does, Prepend/Replace normalizer, byte_fallback) and checks that
`carve tokenize` on the JSON reproduces llama.cpp's golden vectors. Skips without ../shared."""
import json, os, struct, subprocess, sys, tempfile

shared = os.environ.get('CARVE_SHARED', os.path.join(os.path.dirname(__file__), '..', '..', 'shared'))
carve = os.environ.get('CARVE', './carve')
tmp = os.environ.get('CARVE_TEST_TMP', tempfile.gettempdir())
d = os.path.join(shared, 'tokenizers')
if not os.path.isdir(d):
    print('skip: ../shared/tokenizers absent'); sys.exit(77)

def read_gguf(path):
    """the metadata of a GGUF file (scalars, strings, arrays) as a dict"""
    data, pos = open(path, 'rb').read(), 24
    fmt = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: '?', 10: 'Q', 11: 'q', 12: 'd'}
    def string():
        nonlocal pos
        n, = struct.unpack_from('<Q', data, pos); pos += 8 + n
        return data[pos - n:pos].decode('utf-8', 'surrogateescape')
    def value(t):
        nonlocal pos
        if t == 8: return string()
        if t == 9:
            et, n = struct.unpack_from('<IQ', data, pos); pos += 12
            return [value(et) for _ in range(n)]
        v, = struct.unpack_from('<' + fmt[t], data, pos); pos += struct.calcsize(fmt[t])
        return v
    kv = {}
    for _ in range(struct.unpack_from('<Q', data, 16)[0]):
        k = string(); t, = struct.unpack_from('<I', data, pos); pos += 4
        kv[k] = value(t)
    return kv

def gpt2_json(kv):
    toks = kv['tokenizer.ggml.tokens']
    return {'added_tokens': [{'id': i, 'content': t, 'special': True} for i, t in enumerate(toks)
                             if kv['tokenizer.ggml.token_type'][i] == 3],
            'normalizer': None, 'pre_tokenizer': {'type': 'ByteLevel', 'add_prefix_space': False, 'use_regex': True},
            'post_processor': {'type': 'ByteLevel'}, 'decoder': {'type': 'ByteLevel'},
            'model': {'type': 'BPE', 'vocab': {t: i for i, t in enumerate(toks)}, 'merges': kv['tokenizer.ggml.merges']}}

def split(regex):
    return {'type': 'Split', 'pattern': {'Regex': regex}, 'behavior': 'Isolated', 'invert': False}

def byte_level_json(kv, pre):
    """a byte-level tokenizer.json with the pre_tokenizer steps pre (then ByteLevel without its regex);
    control tokens (type 3) are special added tokens, user-defined ones (type 4) plain added tokens"""
    toks, types = kv['tokenizer.ggml.tokens'], kv['tokenizer.ggml.token_type']
    return {'added_tokens': [{'id': i, 'content': t, 'special': types[i] == 3} for i, t in enumerate(toks)
                             if types[i] in (3, 4)],
            'normalizer': None,
            'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': pre + [
                {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False}]},
            'post_processor': {'type': 'ByteLevel'}, 'decoder': {'type': 'ByteLevel'},
            'model': {'type': 'BPE', 'vocab': {t: i for i, t in enumerate(toks) if types[i] not in (3, 4)},
                      'merges': kv['tokenizer.ggml.merges']}}

def deepseek_coder_json(kv):
    """DeepSeek-Coder's pre_tokenizer as its tokenizer.json has it"""
    return byte_level_json(kv, [split('[\r\n]'), split('\\s?\\p{L}+'), split('\\s?\\p{P}+'),
                                split('[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+'),
                                {'type': 'Digits', 'individual_digits': True}])

def refact_json(kv):
    """Refact's (StarCoder's) pre_tokenizer: single digits, then ByteLevel with the GPT-2 regex"""
    j = byte_level_json(kv, [{'type': 'Digits', 'individual_digits': True}])
    j['pre_tokenizer']['pretokenizers'][-1]['use_regex'] = True
    return j

def llama_json(kv):
    toks, scores, types = kv['tokenizer.ggml.tokens'], kv['tokenizer.ggml.scores'], kv['tokenizer.ggml.token_type']
    vocab = {t: i for i, t in enumerate(toks)}
    merges = []
    for i in sorted(range(len(toks)), key=lambda i: -scores[i]):   # stable: ties keep id order
        if types[i] != 1: continue
        t = toks[i]
        local = [(t[:k], t[k:]) for k in range(1, len(t)) if t[:k] in vocab and t[k:] in vocab]
        merges += sorted(local, key=lambda p: (vocab[p[0]], vocab[p[1]]))
    return {'added_tokens': [{'id': i, 'content': toks[i], 'special': True} for i in (0, 1, 2)],
            'normalizer': {'type': 'Sequence', 'normalizers': [{'type': 'Prepend', 'prepend': '\u2581'},
                           {'type': 'Replace', 'pattern': {'String': ' '}, 'content': '\u2581'}]},
            'pre_tokenizer': None,
            'post_processor': {'type': 'TemplateProcessing', 'single': [{'SpecialToken': {'id': '<s>', 'type_id': 0}},
                               {'Sequence': {'id': 'A', 'type_id': 0}}],
                               'special_tokens': {'<s>': {'id': '<s>', 'ids': [1], 'tokens': ['<s>']}}},
            'model': {'type': 'BPE', 'vocab': vocab, 'merges': [[a, b] for a, b in merges],
                      'byte_fallback': True, 'unk_token': '<unk>'}}

bad = 0
for name, conv in (('ggml-vocab-gpt-2.gguf', gpt2_json), ('ggml-vocab-llama-spm.gguf', llama_json),
                   ('ggml-vocab-deepseek-coder.gguf', deepseek_coder_json), ('ggml-vocab-refact.gguf', refact_json)):
    jpath = os.path.join(tmp, name + '.tokenizer.json')
    json.dump(conv(read_gguf(os.path.join(d, name))), open(jpath, 'w', encoding='utf-8', errors='surrogateescape'))
    inp = os.path.join(d, name + '.inp')
    parts = open(inp, 'rb').read().split(b'\n__ggml_vocab_test__\n')
    n_cases = len(parts) - (parts[-1] == b'')  # a separator at the very end closes the last case
    expected = open(os.path.join(d, name + '.out')).read().split('\n')[:n_cases]
    r = subprocess.run([carve, 'tokenize', '--tokenizer', jpath, '--text', inp, '--separator', '__ggml_vocab_test__',
                        '--no-bos'], capture_output=True)
    got = r.stdout.decode().split('\n')[:-1]
    if r.returncode != 0 or len(got) != n_cases:
        print(f'{name}: carve failed or printed {len(got)} lines for {n_cases} cases: {r.stderr.decode()}'); bad += 1
    for i, (g, e) in enumerate(zip(got, expected)):
        if g.split() != e.split():
            bad += 1
            print(f'{name} (as tokenizer.json) case {i}: got {g} expected {e}')
    print(f'{name} as tokenizer.json: {n_cases} golden cases checked')
sys.exit(1 if bad else 0)
