#!/usr/bin/env python3
"""test_kl_ref — `carve eval --kl K` (eval/kl.h: KL of a subnet from the dense model, the dense
distribution kept as its top K ids + the rest of the mass) against numpy in float64:

  - from carve's own logits (`--dump-logits` of the dense model and of the subnet): the same
    coarsened KL, to 1e-6 relative — checks the top-K choice, the tail term and the sums;
  - from the independent reference forward pass (tests/ref_forward.py), to 1e-4 relative;
  - K >= vocab gives the full KL(p || q); a smaller K never exceeds it.

A random llama2.c model with a 9000-token vocabulary (three classifier tiles of 4096 ids) and
30 windows of 40 tokens (1170 scored positions: two row chunks), scored in batches of 7 windows
and in one batch; stories260K on a subnet when ../shared is there."""
import json, os, subprocess, sys, tempfile
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_forward as ref
from test_forward_ref import random_subnet

CARVE = os.environ.get("CARVE", os.path.join(os.path.dirname(__file__), "..", "carve"))
SHARED = os.environ.get("CARVE_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
TMP = tempfile.mkdtemp(dir=os.environ.get("CARVE_TEST_TMP"))
failures = []


def run(args):
    p = subprocess.run([CARVE] + args, capture_output=True, text=True)
    if p.returncode != 0: raise RuntimeError(f"carve {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return dict(kv.split("=") for kv in p.stdout.split())


def log_softmax(l):
    l = l.astype(np.float64)
    m = l.max(axis=-1, keepdims=True)
    return l - m - np.log(np.exp(l - m).sum(axis=-1, keepdims=True))


def coarse_kl(lp, lq, K):
    """Mean over rows of kl.h's divergence: top-K ids of p (ties: lower id) + the rest."""
    n, V = lp.shape
    order = np.argsort(-lp, axis=1, kind="stable")  # descending log p, ties in ascending id
    rank = np.empty_like(order)
    rank[np.arange(n)[:, None], order] = np.arange(V)[None, :]
    top = rank < min(K, V)
    p, q = np.exp(lp), np.exp(lq)
    kl = np.where(top, p * (lp - lq), 0.0).sum(axis=1)
    r = np.maximum(1.0 - np.where(top, p, 0.0).sum(axis=1), 0.0)  # kl.h: (S_all - S_K) / S_all
    qr = np.maximum(np.where(top, 0.0, q).sum(axis=1), np.finfo(float).tiny)
    kl += np.where(r > 0, r * np.log(np.where(r > 0, r, 1.0) / qr), 0.0)
    return float(kl.mean())


def scored_rows(logits, n_win, T, V):
    """Rows that predict tokens 1..T-1 of each window."""
    return logits.reshape(n_win, T, V)[:, :T - 1, :].reshape(-1, V)


def carve_kl(model, tf, T, sub, K, batch=None):
    args = ["eval", "--model", model, "--token-file", tf, "--seq-len", str(T), "--subnet", sub, "--kl", str(K)]
    if batch: args += ["--batch", str(batch)]
    return float(run(args)["kl"])


def report(ok, msg):
    print(f"{'ok  ' if ok else 'FAIL'} {msg}")
    if not ok: failures.append(msg)


def check_model(name, path, ids, T, n_win, sub, Ks, batches, with_ref):
    tf = os.path.join(TMP, name + ".i32")
    np.asarray(ids, "<i4").tofile(tf)
    dump = {}
    for which in ("dense", "sub"):
        lf = os.path.join(TMP, f"{name}-{which}.f32")
        args = ["eval", "--model", path, "--token-file", tf, "--seq-len", str(T), "--dump-logits", lf]
        if which == "sub": args += ["--subnet", sub]
        run(args)
        dump[which] = np.fromfile(lf, "<f4")
    V = dump["dense"].size // (n_win * T)
    lp = log_softmax(scored_rows(dump["dense"], n_win, T, V))
    lq = log_softmax(scored_rows(dump["sub"], n_win, T, V))
    full = float((np.exp(lp) * (lp - lq)).sum(axis=1).mean())
    if with_ref:
        model, js = ref.load(path), json.load(open(sub))
        rp = np.concatenate([log_softmax(ref.forward(model, ids[w * T:(w + 1) * T])[:T - 1]) for w in range(n_win)])
        rq = np.concatenate([log_softmax(ref.forward(model, ids[w * T:(w + 1) * T], js)[:T - 1]) for w in range(n_win)])
    for K in Ks:
        want = coarse_kl(lp, lq, K)
        for b in batches:
            got = carve_kl(path, tf, T, sub, K, b)
            # the stored dense log-probs are float32: an error of ~1e-7 relative in each, which
            # weighs by the size of the divergence as a whole (the full KL) when the top-K part is small
            err = abs(got - want) / max(want, full)
            report(err < 1e-6, f"{name} K={K} batch={b or 'default'}: carve {got:.9g} numpy(carve logits) {want:.9g} "
                               f"(error {err:.1e} of max(KL_K, full KL))")
        if with_ref:
            rw = coarse_kl(rp, rq, K)
            err = abs(got - rw) / max(rw, full)
            report(err < 1e-4, f"{name} K={K}: carve {got:.9g} numpy(reference forward) {rw:.9g} (rel {err:.1e})")
        if K >= V:
            report(abs(got - full) / full < 1e-6, f"{name} K={K} >= vocab: the full KL {full:.9g}")
        else:
            report(got <= full * (1 + 1e-6), f"{name} K={K}: {got:.9g} <= the full KL {full:.9g}")


def main():
    rng = np.random.default_rng(77)
    path = os.path.join(TMP, "big-vocab.bin")
    dim, hid, nl, H, KV, V = 16, 40, 2, 4, 2, 9000
    ref.write_llama2c(path, rng, dim, hid, nl, H, KV, V, 64, False)
    sub = os.path.join(TMP, "big-vocab.subnet.json")
    random_subnet(sub, rng, nl, dim, H, KV, hid)
    T, n_win = 40, 30
    ids = rng.integers(0, V, size=T * n_win)
    check_model("llama2c-v9000", path, ids, T, n_win, sub, [1, 7, 300, V, V + 5], [None, 7], True)
    mp = os.path.join(SHARED, "models/stories260K/stories260K.bin")
    txt = os.path.join(SHARED, "data/tinystories/valid.txt")
    if os.path.exists(mp) and os.path.exists(txt):
        tok = ref.load_tokenizer(os.path.join(SHARED, "models/stories260K/tok512.bin"))
        T, n_win = 64, 6
        ids = np.asarray(ref.encode(tok, open(txt, "rb").read())[:T * n_win])
        sp = os.path.join(TMP, "stories.subnet.json")
        random_subnet(sp, rng, 5, 64, 8, 4, 172)
        check_model("stories260K", mp, ids, T, n_win, sp, [16, 512], [None], False)
    else:
        print("note: no ../shared stories260K; its case not run")
    if failures:
        print(f"{len(failures)} failed")
        sys.exit(1)
    print("all ok")


if __name__ == "__main__":
    main()
