"""test_export_hf — a numpy reference check of `carve export --format hf`, independent of
carve's forward pass: the llama2.c checkpoint stories260K (interleaved RoPE) is run with a
subnet applied as masks (dropped heads / channels zeroed, skipped sublayers bypassed), and the
exported Hugging Face directory (safetensors parsed here with json + numpy, config.json incl.
carve_layers) is run as HF runs Llama (rotate_half RoPE, compact weights). Logits must agree,
which checks the Q/K row permutation, the tensor names, shapes and per-layer config. Also checks
the safetensors data section holds exactly the kept parameters. Skips (77) without ../shared."""
import json
import os
import subprocess
import sys

import numpy as np

SHARED = os.environ.get("CARVE_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
CARVE = os.environ.get("CARVE", "./carve")
TMP = os.environ.get("CARVE_TEST_TMP", "/tmp")
MODEL = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
if not os.path.exists(MODEL):
    print("stories260K absent")
    sys.exit(77)


def load_llama2c(path):
    raw = open(path, "rb").read()
    dim, hidden, L, H, KV, V, S = np.frombuffer(raw[:28], np.int32)
    f = np.frombuffer(raw[28:], np.float32)
    hd = dim // H
    o = 0

    def take(*shape):
        nonlocal o
        n = int(np.prod(shape))
        a = f[o:o + n].reshape(shape)
        o += n
        return a
    w = {"emb": take(abs(V), dim)}
    for k, shp in [("an", (dim,)), ("wq", (H * hd, dim)), ("wk", (KV * hd, dim)), ("wv", (KV * hd, dim)),
                   ("wo", (dim, H * hd)), ("fn", (dim,)), ("w1", (hidden, dim)), ("w2", (dim, hidden)),
                   ("w3", (hidden, dim))]:
        w[k] = take(L, *shp)
    w["norm"] = take(dim)
    cfg = dict(dim=int(dim), L=int(L), H=int(H), KV=int(KV), F=int(hidden), hd=int(hd), eps=1e-5, theta=10000.0)
    return cfg, w


def rms(x, g, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g


def rope(x, hd, theta, interleaved):
    # x: (T, heads, hd)
    T = x.shape[0]
    freq = theta ** (-np.arange(0, hd, 2) / hd)
    ang = np.arange(T)[:, None] * freq[None, :]  # (T, hd/2)
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    if interleaved:
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2], out[..., 1::2] = a * c - b * s, a * s + b * c
        return out
    a, b = x[..., :hd // 2], x[..., hd // 2:]
    return np.concatenate([a * c - b * s, b * c + a * s], -1)


def attention(xn, wq, wk, wv, wo, nh, nkv, hd, theta, interleaved, head_mask=None):
    T = xn.shape[0]
    q = rope((xn @ wq.T).reshape(T, nh, hd), hd, theta, interleaved)
    k = rope((xn @ wk.T).reshape(T, nkv, hd), hd, theta, interleaved)
    v = (xn @ wv.T).reshape(T, nkv, hd)
    g = nh // nkv
    out = np.zeros((T, nh, hd))
    causal = np.triu(np.full((T, T), -np.inf), 1)
    for h in range(nh):
        sc = q[:, h] @ k[:, h // g].T / np.sqrt(hd) + causal
        p = np.exp(sc - sc.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        out[:, h] = p @ v[:, h // g]
    if head_mask is not None:
        out *= head_mask[None, :, None]
    return out.reshape(T, nh * hd) @ wo.T


def mlp(xn, w1, w3, w2, chan_mask=None):
    a = xn @ w1.T
    a = a / (1 + np.exp(-a)) * (xn @ w3.T)
    if chan_mask is not None:
        a = a * chan_mask
    return a @ w2.T


def ref_logits(cfg, w, subnet, toks):
    x = w["emb"][toks].astype(np.float64)
    for l in range(cfg["L"]):
        s = subnet["layers"][l] if subnet else {}
        if s.get("attn", True):
            hm = np.zeros(cfg["H"])
            hm[s.get("heads", list(range(cfg["H"])))] = 1
            x = x + attention(rms(x, w["an"][l], cfg["eps"]), w["wq"][l], w["wk"][l], w["wv"][l], w["wo"][l],
                              cfg["H"], cfg["KV"], cfg["hd"], cfg["theta"], True, hm)
        if s.get("mlp", True):
            cm = np.zeros(cfg["F"])
            cm[s.get("channels", list(range(cfg["F"])))] = 1
            x = x + mlp(rms(x, w["fn"][l], cfg["eps"]), w["w1"][l], w["w3"][l], w["w2"][l], cm)
    return rms(x, w["norm"], cfg["eps"]) @ w["emb"].T


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = int(np.frombuffer(raw[:8], np.uint64)[0])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out, nbytes = {}, 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", t
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(data[b:e], np.float32).reshape(t["shape"])
        nbytes += e - b
    assert nbytes == len(data), "safetensors data section holds bytes no tensor claims"
    return out, nbytes


def hf_logits(d, toks):
    c = json.load(open(os.path.join(d, "config.json")))
    t, _ = load_safetensors(os.path.join(d, "model.safetensors"))
    hd, eps, theta = c["head_dim"], c["rms_norm_eps"], c["rope_theta"]
    layers = c.get("carve_layers") or [{"num_attention_heads": c["num_attention_heads"],
                                        "num_key_value_heads": c["num_key_value_heads"],
                                        "intermediate_size": c["intermediate_size"]}] * c["num_hidden_layers"]
    x = t["model.embed_tokens.weight"][toks].astype(np.float64)
    for l, e in enumerate(layers):
        p = "model.layers.%d." % l
        if e["num_attention_heads"] > 0:
            x = x + attention(rms(x, t[p + "input_layernorm.weight"], eps), t[p + "self_attn.q_proj.weight"],
                              t[p + "self_attn.k_proj.weight"], t[p + "self_attn.v_proj.weight"],
                              t[p + "self_attn.o_proj.weight"], e["num_attention_heads"], e["num_key_value_heads"],
                              hd, theta, False)
        else:
            assert p + "self_attn.q_proj.weight" not in t
        if e["intermediate_size"] > 0:
            x = x + mlp(rms(x, t[p + "post_attention_layernorm.weight"], eps), t[p + "mlp.gate_proj.weight"],
                        t[p + "mlp.up_proj.weight"], t[p + "mlp.down_proj.weight"])
        else:
            assert p + "mlp.gate_proj.weight" not in t
    head = t.get("lm_head.weight", t["model.embed_tokens.weight"])
    return rms(x, t["model.norm.weight"], eps) @ head.T


def export(name, subnet_file):
    out = os.path.join(TMP, "export_hf_%d_%s" % (os.getpid(), name))
    cmd = [CARVE, "export", "--model", MODEL, "--format", "hf", "--out", out, "--no-reform"]
    if subnet_file:
        cmd += ["--subnet", subnet_file]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def main():
    cfg, w = load_llama2c(MODEL)
    toks = np.array([1, 300, 45, 267, 90, 3, 400, 259, 260, 77, 12, 500, 283, 301, 44, 270] * 2)
    head = {"n_layers": 5, "dim": 64, "n_heads": 8, "n_kv_heads": 4, "hidden_dim": 172}
    half = {"heads": [0, 2, 4, 6], "channels": list(range(0, 172, 2))}
    hetero = [{"heads": [0, 1, 4, 5], "channels": list(range(100))}, {"attn": False},
              {"heads": [1, 3, 5, 7], "mlp": False}, {"channels": list(range(50, 172, 3))},
              {"attn": False, "mlp": False}]
    # GQA groups need not be equal in HF (kept KV heads: 0 with 2 query heads, 1 with 1)
    unequal = [{"heads": [0, 1, 2]}, {}, {}, {}, {}]
    subnets = {"dense": None}
    for name, layers in [("uniform", [half] * 5), ("hetero", hetero), ("unequal", unequal)]:
        f = os.path.join(TMP, "export_hf_%d_%s.json" % (os.getpid(), name))
        json.dump({"format": "carve-subnet/1", "model": head, "layers": layers}, open(f, "w"))
        subnets[name] = f
    for name, f in subnets.items():
        d = export(name, f)
        s = json.load(open(f)) if f else None
        a, b = ref_logits(cfg, w, s, toks), hf_logits(d, toks)
        err = np.abs(a - b).max()
        print("%s: max |logit difference| %.2e (logits up to %.1f)" % (name, err, np.abs(a).max()))
        assert err < 1e-3, name
        c = json.load(open(os.path.join(d, "config.json")))
        assert c["architectures"] == (["LlamaForCausalLM"] if name in ("dense", "uniform") else ["CarveLlamaForCausalLM"])
        if name == "hetero":
            assert [e["num_attention_heads"] for e in c["carve_layers"]] == [4, 0, 4, 8, 0]
            assert [e["intermediate_size"] for e in c["carve_layers"]] == [100, 172, 0, 41, 0]
        assert os.path.exists(os.path.join(d, "tokenizer.bin"))
    print("HF exports agree with the masked reference")


if __name__ == "__main__":
    main()
