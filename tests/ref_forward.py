#!/usr/bin/env python3
"""ref_forward — an independent numpy (float64) reference for carve's forward pass, perplexity
and llama2.c tokenizer. Shares no code with the C path: it reads model files itself (llama2.c
.bin; Hugging Face config.json + model.safetensors with F32/F16/BF16), applies a carve-subnet/1
JSON by masking (pruned heads/channels contribute zero, skipped sublayers are not run) rather
than by gathering, and writes random llama2.c checkpoints for tests. Hugging Face rope_scaling
"linear" and "llama3" are applied to the RoPE frequencies (inv_freq).

  ref_forward.py logits --model M --tokens ids.i32 --seq-len T [--subnet S] --out logits.f32
  ref_forward.py ppl    --model M --tokens ids.i32 --seq-len T [--subnet S]
  ref_forward.py encode --tokenizer tok.bin --text FILE --out ids.i32   (BOS + sentencepiece-style BPE)
"""
import argparse, heapq, json, os, struct, sys
import numpy as np


def load_llama2c(path):
    raw = open(path, "rb").read()
    dim, hid, nl, nh, nkv, vocab, seq = struct.unpack("<7i", raw[:28])
    tied, vocab = vocab > 0, abs(vocab)
    hd = dim // nh
    a = np.frombuffer(raw, dtype="<f4", offset=28).astype(np.float64)
    pos = 0
    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape)); t = a[pos:pos + n].reshape(shape); pos += n; return t
    emb = take(vocab, dim); an = take(nl, dim); wq = take(nl, nh * hd, dim); wk = take(nl, nkv * hd, dim)
    wv = take(nl, nkv * hd, dim); wo = take(nl, dim, nh * hd); fn_ = take(nl, dim); w1 = take(nl, hid, dim)
    w2 = take(nl, dim, hid); w3 = take(nl, hid, dim); final = take(dim); take(seq, hd)  # freq_cis tables
    cls = emb if tied else take(vocab, dim)
    layers = [dict(attn_norm=an[l], wq=wq[l], wk=wk[l], wv=wv[l], wo=wo[l], ffn_norm=fn_[l], w_gate=w1[l],
                   w_down=w2[l], w_up=w3[l]) for l in range(nl)]
    cfg = dict(dim=dim, n_heads=nh, n_kv=nkv, hd=hd, vocab=vocab, eps=1e-5, theta=10000.0, half=False, seq=seq)
    return cfg, emb, layers, final, cls


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n]); base = 8 + n; out = {}
    for name, info in hdr.items():
        if name == "__metadata__": continue
        b0, b1 = info["data_offsets"]; buf = raw[base + b0:base + b1]
        if info["dtype"] == "F32": t = np.frombuffer(buf, "<f4").astype(np.float64)
        elif info["dtype"] == "F16": t = np.frombuffer(buf, "<f2").astype(np.float64)
        elif info["dtype"] == "BF16":
            t = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else: raise SystemExit(f"{path}: unsupported dtype {info['dtype']}")
        out[name] = t.reshape(info["shape"])
    return out


def load_hf(d):
    c = json.load(open(os.path.join(d, "config.json")))
    t = load_safetensors(os.path.join(d, "model.safetensors"))
    dim, nh = c["hidden_size"], c["num_attention_heads"]
    hd = c.get("head_dim") or dim // nh
    layers = []
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        g = lambda k: t.get(p + k)
        layers.append(dict(attn_norm=g("input_layernorm.weight"), wq=g("self_attn.q_proj.weight"),
                           wk=g("self_attn.k_proj.weight"), wv=g("self_attn.v_proj.weight"),
                           bq=g("self_attn.q_proj.bias"), bk=g("self_attn.k_proj.bias"), bv=g("self_attn.v_proj.bias"),
                           wo=g("self_attn.o_proj.weight"), bo=g("self_attn.o_proj.bias"),
                           ffn_norm=g("post_attention_layernorm.weight"), w_gate=g("mlp.gate_proj.weight"),
                           w_up=g("mlp.up_proj.weight"), w_down=g("mlp.down_proj.weight"), b_down=g("mlp.down_proj.bias")))
    emb = t["model.embed_tokens.weight"]
    cls = t.get("lm_head.weight", emb)
    cfg = dict(dim=dim, n_heads=nh, n_kv=c.get("num_key_value_heads", nh), hd=hd, vocab=c["vocab_size"],
               eps=c.get("rms_norm_eps", 1e-6), theta=c.get("rope_theta", 10000.0), half=True,
               seq=c.get("max_position_embeddings", 2048), rope_scaling=c.get("rope_scaling"))
    return cfg, emb, layers, t["model.norm.weight"], cls


def load(path):
    return load_hf(path) if os.path.isdir(path) else load_llama2c(path)


def rmsnorm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def inv_freq(cfg, hd):
    """Rotation speed of each pair (hd/2,), with the config's rope_scaling as transformers defines it:
    "linear" divides every frequency by factor; "llama3" (Llama-3.1) keeps frequencies whose wavelength
    is under orig/high_freq_factor, divides those over orig/low_freq_factor by factor, and blends
    linearly in orig/wavelength between the two."""
    freq = 1.0 / cfg["theta"] ** (np.arange(0, hd, 2) / hd)
    rs = cfg.get("rope_scaling")
    kind = (rs.get("rope_type") or rs.get("type")) if rs else "default"
    if kind == "default": return freq
    if kind == "linear": return freq / rs["factor"]
    if kind != "llama3": raise SystemExit(f"ref_forward: rope_scaling {kind} not implemented")
    f, lo, hi, orig = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
    wavelen = 2 * np.pi / freq
    t = (orig / wavelen - lo) / (hi - lo)  # 0 at the low-frequency edge, 1 at the high-frequency edge
    blended = (1 - t) * freq / f + t * freq
    return np.where(wavelen < orig / hi, freq, np.where(wavelen > orig / lo, freq / f, blended))


def rope(x, cfg):  # x: (T, heads, hd)
    T, _, hd = x.shape
    ang = np.arange(T)[:, None] * inv_freq(cfg, hd)[None, :]  # (T, hd/2)
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    if cfg["half"]: a, b = x[..., :hd // 2], x[..., hd // 2:]
    else: a, b = x[..., 0::2], x[..., 1::2]
    ra, rb = a * c - b * s, a * s + b * c
    return np.concatenate([ra, rb], -1) if cfg["half"] else np.stack([ra, rb], -1).reshape(x.shape)


def forward(model, tokens, sub=None):
    """tokens: (T,) ids of one sequence -> logits (T, vocab), float64."""
    cfg, emb, layers, final, cls = model
    T, H, KV, hd = len(tokens), cfg["n_heads"], cfg["n_kv"], cfg["hd"]
    x = emb[tokens].copy()
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l, L in enumerate(layers):
        S = sub["layers"][l] if sub else {}
        if S.get("attn", True):
            keep = np.zeros(H); keep[S.get("heads", range(H))] = 1.0
            h = rmsnorm(x, L["attn_norm"], cfg["eps"])
            q, k, v = h @ L["wq"].T, h @ L["wk"].T, h @ L["wv"].T
            if L.get("bq") is not None: q, k, v = q + L["bq"], k + L["bk"], v + L["bv"]
            q, k, v = rope(q.reshape(T, H, hd), cfg), rope(k.reshape(T, KV, hd), cfg), v.reshape(T, KV, hd)
            o = np.zeros((T, H, hd))
            for i in range(H):
                j = i // (H // KV)
                a = q[:, i] @ k[:, j].T / np.sqrt(hd) + mask
                a = np.exp(a - a.max(-1, keepdims=True)); a /= a.sum(-1, keepdims=True)
                o[:, i] = (a @ v[:, j]) * keep[i]
            x = x + o.reshape(T, H * hd) @ L["wo"].T
            if L.get("bo") is not None: x = x + L["bo"]
        if S.get("mlp", True):
            F = L["w_gate"].shape[0]
            keep = np.zeros(F); keep[S.get("channels", range(F))] = 1.0
            h = rmsnorm(x, L["ffn_norm"], cfg["eps"])
            g = h @ L["w_gate"].T
            x = x + (g / (1 + np.exp(-g)) * (h @ L["w_up"].T) * keep) @ L["w_down"].T
            if L.get("b_down") is not None: x = x + L["b_down"]
    return rmsnorm(x, final, cfg["eps"]) @ cls.T


def nll_rows(logits, tokens):  # NLL of tokens[1:] given logits[:-1]
    z = logits[:-1]; m = z.max(-1, keepdims=True)
    lse = np.log(np.exp(z - m).sum(-1)) + m[:, 0]
    return lse - z[np.arange(len(z)), tokens[1:]]


def load_tokenizer(path):
    raw = open(path, "rb").read(); pos = 4; pieces, scores = [], []
    while pos < len(raw):
        sc, n = struct.unpack("<fi", raw[pos:pos + 8]); pieces.append(raw[pos + 8:pos + 8 + n]); scores.append(sc)
        pos += 8 + n
    return pieces, scores


def encode(tok, text):
    """BOS, then one space + text as code points (byte tokens id = byte + 3 when a code point has no
    token), then repeatedly merge the adjacent pair whose concatenation has the highest score (leftmost
    on ties). The merge loop uses a heap over a linked list; same result as rescanning each time."""
    pieces, scores = tok
    ids = {p: i for i, p in reversed(list(enumerate(pieces)))}
    data = b" " + text
    syms, i = [], 0
    while i < len(data):
        j = i + 1
        while j < len(data) and (data[j] & 0xC0) == 0x80 and j - i < 4: j += 1
        cp = data[i:j]
        if cp in ids: syms.append(ids[cp])
        else: syms.extend(b + 3 for b in cp)
        i = j
    n = len(syms); nxt = list(range(1, n + 1)); prv = list(range(-1, n - 1)); alive = [True] * n
    heap = []
    def push(a):
        b = nxt[a]
        if b < n:
            m = ids.get(pieces[syms[a]] + pieces[syms[b]])
            if m is not None: heapq.heappush(heap, (-scores[m], a, syms[a], syms[b], m))
    for a in range(n - 1): push(a)
    while heap:
        _, a, sa, sb, m = heapq.heappop(heap)
        b = nxt[a] if a < n and alive[a] else n
        if b >= n or syms[a] != sa or syms[b] != sb: continue  # stale entry
        syms[a] = m; alive[b] = False; nxt[a] = nxt[b]
        if nxt[b] < n: prv[nxt[b]] = a
        if prv[a] >= 0: push(prv[a])
        push(a)
    return [1] + [syms[a] for a in range(n) if alive[a]]


def write_llama2c(path, rng, dim, hidden, n_layers, n_heads, n_kv, vocab, seq, tied):
    hd = dim // n_heads
    shapes = [(vocab, dim), (n_layers, dim), (n_layers, dim, dim), (n_layers, n_kv * hd, dim),
              (n_layers, n_kv * hd, dim), (n_layers, dim, dim), (n_layers, dim), (n_layers, hidden, dim),
              (n_layers, dim, hidden), (n_layers, hidden, dim), (dim,), (seq, hd)]
    if not tied: shapes.append((vocab, dim))
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", dim, hidden, n_layers, n_heads, n_kv, vocab if tied else -vocab, seq))
        for k, s in enumerate(shapes):
            norm = k in (1, 6, 10)
            a = 1.0 + 0.1 * rng.standard_normal(s) if norm else rng.standard_normal(s) * (0.5 / np.sqrt(s[-1]) if k else 1.0)
            f.write(a.astype("<f4").tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["logits", "ppl", "encode"])
    ap.add_argument("--model"); ap.add_argument("--tokens"); ap.add_argument("--seq-len", type=int)
    ap.add_argument("--subnet"); ap.add_argument("--out"); ap.add_argument("--tokenizer"); ap.add_argument("--text")
    a = ap.parse_args()
    if a.cmd == "encode":
        ids = encode(load_tokenizer(a.tokenizer), open(a.text, "rb").read())
        np.asarray(ids, "<i4").tofile(a.out); return
    model = load(a.model); sub = json.load(open(a.subnet)) if a.subnet else None
    ids = np.fromfile(a.tokens, "<i4"); T = a.seq_len; nw = len(ids) // T
    total, count, out = 0.0, 0, open(a.out, "wb") if a.out else None
    for w in range(nw):
        toks = ids[w * T:(w + 1) * T]; lg = forward(model, toks, sub)
        if out: out.write(lg.astype("<f4").tobytes())
        r = nll_rows(lg, toks); total += r.sum(); count += len(r)
    if a.cmd == "ppl": print(f"ppl={np.exp(total / count):.6f} nll={total / count:.8f} scored_tokens={count}")


if __name__ == "__main__":
    main()
