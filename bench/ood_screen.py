#!/usr/bin/env python3
"""ood_screen.py — the measures and the report of bench/ood_screen.sh (see its header).

  ood_screen.py measure DENSE.f32 CAND.f32 IDS N LEN   one line of name=value logit measures
  ood_screen.py report GROUPS.tsv CAND_DIR       the correlation table (markdown) on stdout

The .f32 files are `carve eval --dump-logits` output of N windows, (N * LEN, vocab) row-major; the
rows that predict tokens 1 .. LEN-1 of each window are the scored positions; IDS holds the windows'
token ids (`carve tokenize` output, whitespace-separated, at least N * LEN)."""
import json
import os
import sys

import numpy as np

MEASURES = ["cppl", "hard", "ent", "kl1", "kl2", "kl4", "rkl", "tail10", "tail1", "wcvar25", "entw", "js", "dis1", "dist", "spread"]


def log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def scored(path, n, T):
    a = np.fromfile(path, "<f4")
    if a.size % (n * T):
        sys.exit(f"ood_screen.py: {path}: {a.size} logits are not {n} windows of {T} rows")
    return a.reshape(n, T, -1)[:, :T - 1].astype(np.float64)


def measure(dense, cand, ids_file, n, T):
    if os.path.getsize(dense) != os.path.getsize(cand):
        sys.exit(f"ood_screen.py: {cand}: {os.path.getsize(cand)} bytes of logits, the dense model's has "
                 f"{os.path.getsize(dense)}")
    ld, lc = scored(dense, n, T), scored(cand, n, T)
    lp, lq = log_softmax(ld), log_softmax(lc)
    p, q = np.exp(lp), np.exp(lq)
    kl = (p * (lp - lq)).sum(-1)  # (windows, T-1)
    ids = np.array(open(ids_file).read().split()[:n * T], dtype=np.int64)
    if ids.size != n * T:
        sys.exit(f"ood_screen.py: {ids_file}: {ids.size} token ids, fewer than {n} windows of {T}")
    nxt = ids.reshape(n, T)[:, 1:, None]
    dnll = -np.take_along_axis(lp, nxt, -1)[..., 0]  # (windows, T-1) the dense model's NLL of each token
    cnll = -np.take_along_axis(lq, nxt, -1)[..., 0]
    hard = dnll >= 5.0  # tokens the dense model finds surprising (p < 0.7 %)
    out = {"hard": cnll[hard].mean() if hard.any() else float("nan"), "ent": -(q * lq).sum(-1).mean(),
           "dense_nll": dnll.mean(), "hard_share": hard.mean(), "kl1": kl.mean()}
    for t in (2, 4):
        a, b = log_softmax(ld / t), log_softmax(lc / t)
        out[f"kl{t}"] = (np.exp(a) * (a - b)).sum(-1).mean()
    out["rkl"] = (q * (lq - lp)).sum(-1).mean()
    f = np.sort(kl.ravel())
    out["tail10"], out["tail1"] = f[-(len(f) // 10):].mean(), f[-(len(f) // 100):].mean()
    w = np.sort(kl.mean(axis=1))
    out["wcvar25"] = w[-max(1, len(w) // 4):].mean()
    H = -(p * lp).sum(-1)
    out["entw"] = (kl * H).sum() / H.sum()
    lm = np.log(0.5 * (p + q))
    out["js"] = (0.5 * (p * (lp - lm)).sum(-1) + 0.5 * (q * (lq - lm)).sum(-1)).mean()
    out["dis1"] = (ld.argmax(-1) != lc.argmax(-1)).mean()
    print(" ".join(f"{k}={v:.9g}" for k, v in out.items()))


def shares(js):
    """Per-layer kept head share and channel share of a carve-subnet/1 file (0 for a skipped sublayer)."""
    m = js["model"]
    a = [len(l.get("heads", range(m["n_heads"]))) / m["n_heads"] if l["attn"] else 0.0 for l in js["layers"]]
    c = [len(l.get("channels", range(m["hidden_dim"]))) / m["hidden_dim"] if l["mlp"] else 0.0 for l in js["layers"]]
    return np.array(a), np.array(c)


def spearman(x, y):
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    return float(np.corrcoef(rx, ry)[0, 1])


def report(groups_tsv, cand_dir):
    groups = {}
    for line in open(groups_tsv):
        run, target, role, h = line.split()
        ts, wt, cppl = map(float, open(os.path.join(cand_dir, h + ".txt")).read().split())
        met = {k: float(v) for k, v in (kv.split("=") for kv in open(os.path.join(cand_dir, h + ".met")).read().split())}
        met["cppl"] = cppl
        met["shares"] = shares(json.load(open(os.path.join(cand_dir, h + ".json"))))
        groups.setdefault((run, target), []).append(dict(role=role, ts=ts, wt=wt, **met))
    corr = {k: {"ts": [], "wt": []} for k in MEASURES}  # among all members
    half = {k: {"ts": [], "wt": []} for k in MEASURES}  # among the better half by calibration ppl
    pick = {k: [] for k in MEASURES}  # (ts, wt) / init's of the lowest-measure candidate of a group
    lines = []
    for (run, target), g in groups.items():
        init = next(c for c in g if c["role"] == "init")
        ia, ic = init["shares"]
        for c in g:
            a, ch = c["shares"]
            c["dist"] = float(np.abs(a - ia).sum() + np.abs(ch - ic).sum())
            c["spread"] = float(a.std() + ch.std())
        pop = [c for c in g if c["role"] == "member"]
        best = next(c for c in g if c["role"] == "best")
        if len(pop) < 3:
            sys.exit(f"ood_screen.py: {run} {target}: {len(pop)} population members, too few to correlate")
        top = sorted(pop + [best], key=lambda c: c["cppl"])[:(len(pop) + 1) // 2]
        for k in MEASURES:
            for y in ("ts", "wt"):
                corr[k][y].append(spearman([c[k] for c in pop], [c[y] for c in pop]))
                half[k][y].append(spearman([c[k] for c in top], [c[y] for c in top]))
            low = min(pop + [best], key=lambda c: c[k])
            pick[k].append((low["ts"] / init["ts"], low["wt"] / init["wt"]))
        gm = lambda key: float(np.exp(np.mean([np.log(c[key]) for c in pop])))
        lines.append(f"| {run} | {target} | {len(pop)} | {init['ts']:.3f} / {init['wt']:.1f} | {gm('ts'):.3f} / "
                     f"{gm('wt'):.1f} ({100 * (gm('wt') / init['wt'] - 1):+.1f} %) | {best['ts']:.3f} / {best['wt']:.1f} "
                     f"({100 * (best['wt'] / init['wt'] - 1):+.1f} %) | "
                     f"{min(c['wt'] for c in pop):.1f} .. {max(c['wt'] for c in pop):.1f} |")
    print("| run | budget | members | init TS / WT | members' geometric mean TS / WT (vs init) | best TS / WT (vs init) "
          "| members' WT range |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    print()
    names = ", ".join(f"{r} {t}" for r, t in groups)
    for table, what in ((corr, "each group's population members"),
                        (half, "the better half of each group by calibration ppl (members and best: the candidates "
                               "a selection chooses between)")):
        print(f"Spearman rank correlation among {what} (positive: the members the measure ranks better are the "
              f"better ones; the mean over groups, then each group: {names}):")
        print()
        print("| measure | with TinyStories ppl (mean; groups) | with WikiText-2 ppl (mean; groups) |")
        print("|---|---|---|")
        for k in MEASURES:
            cell = lambda y: f"{np.mean(table[k][y]):+.2f} ({', '.join(f'{v:+.2f}' for v in table[k][y])})"
            print(f"| {k} | {cell('ts')} | {cell('wt')} |")
        print()
    print("Each group's result picked by one measure (its lowest among members and best), against the init, geometric "
          "mean over groups:")
    print()
    print("| measure | TinyStories | WikiText-2 |")
    print("|---|---|---|")
    for k in MEASURES:
        r = np.exp(np.log(np.array(pick[k])).mean(axis=0)) - 1
        print(f"| {k} | {100 * r[0]:+.1f} % | {100 * r[1]:+.1f} % |")


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "measure":
        measure(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
