#!/usr/bin/env python3
"""ref_spm_tokenizer — an independent reference for carve's sentencepiece-style (score) BPE on a
llama2.c tokenizer.bin: prepend one space, split into characters (a lead byte with all its
continuation bytes is one character, any other byte stands alone), then repeatedly merge the
adjacent pair whose concatenation is a token with the highest score (leftmost on ties);
leftover non-tokens become <0xXX> byte tokens. The plain quadratic loop
is run per word: when no token has a space after its first byte (checked), no merge can cross the
start of a space-led word, so splitting there gives identical results.
usage: ref_spm_tokenizer.py TOKENIZER.bin TEXTFILE   -> ids, space-separated (BOS first)"""
import struct, sys

def load(path):
    data = open(path, 'rb').read()
    pos, vocab, scores = 4, {}, []
    while pos < len(data):
        score, n = struct.unpack_from('<fi', data, pos)
        vocab[data[pos + 8:pos + 8 + n]] = len(scores)   # later duplicates win
        scores.append(score)
        pos += 8 + n
    return vocab, scores

def encode_word(w, vocab, scores):
    syms, i = [], 0
    while i < len(w):
        n = (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4)[w[i] >> 4]
        if i + n > len(w) or any(c >> 6 != 2 for c in w[i + 1:i + n]): n = 1
        syms.append(w[i:i + n]); i += n
    while True:
        best, at = None, -1
        for k in range(len(syms) - 1):
            t = vocab.get(syms[k] + syms[k + 1])
            if t is not None and (best is None or scores[t] > scores[best]):
                best, at = t, k
        if best is None: break
        syms[at:at + 2] = [syms[at] + syms[at + 1]]
    out = []
    for s in syms:
        out += [vocab[s]] if s in vocab else [vocab[b'<0x%02X>' % b] for b in s]
    return out

def encode(text, vocab, scores):
    assert all(b' ' not in t[1:] for t in vocab), 'a token has an inner space: word split unsafe'
    text = b' ' + text
    starts = [0] + [i for i in range(1, len(text)) if text[i] == 32] + [len(text)]
    return [i for a, b in zip(starts, starts[1:]) for i in encode_word(text[a:b], vocab, scores)]

if __name__ == '__main__':
    vocab, scores = load(sys.argv[1])
    print(' '.join(map(str, [1] + encode(open(sys.argv[2], 'rb').read(), vocab, scores))))
