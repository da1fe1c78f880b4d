#!/usr/bin/env python3
"""search_efficiency — the report of bench/search_efficiency.sh: its points (option, seed, budget,
checkpoint -> forward tokens spent on fitness, held-out and out-of-domain perplexity after
reformation) as markdown tables with the issue #13 goal checks, and an SVG plot (held-out ppl vs
forward tokens, one line per option, one panel per budget; plain SVG, no matplotlib needed)."""
import argparse
import datetime
import os
import platform
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import mean_sd, replace_section  # noqa: E402

# bench/RESULTS.md, "What the search adds: margin over the best reformed baseline": the best
# reformed baseline per budget on TinyStories (saliency+reform at every budget), its mean held-out
# ppl over calibration seeds 1..3 (n 32 x 128; first 200 windows of 256 tokens of valid.txt).
BEST_REFORMED = {0.9: 7.891, 0.8: 11.131, 0.7: 17.607, 0.6: 29.224, 0.5: 41.583}
ORDER = ["ppl", "kl", "stages", "fast", "levels", "combo"]
COLORS = {"ppl": "#000000", "kl": "#d62728", "stages": "#1f77b4", "fast": "#17becf", "levels": "#2ca02c", "combo": "#9467bd"}


def load(path):
    pts = []
    for line in open(path):
        f = line.split()
        if len(f) != 10:
            continue
        pts.append(dict(opt=f[0], seed=int(f[1]), t=float(f[2]), kind=f[3], gen=int(f[4]), tok=int(f[5]),
                        rr=int(f[6]), id=int(f[7]), ts=float(f[8]), ood=float(f[9])))
    return pts


def fm(x):
    return "%.3f" % x


def mtok(x):
    return "%.3f" % (x / 1e6)


def ms(xs, fmt=fm):
    m, sd = mean_sd(xs)
    return "%s ± %s" % (fmt(m), fmt(sd)) if len(xs) > 1 else fmt(m)


def curve(pts, opt, t):
    """Mean over seeds of each checkpoint (in order) and the final result: (tokens, ts, ood, n)."""
    seeds = sorted({p["seed"] for p in pts if p["opt"] == opt and p["t"] == t})
    rows = {}
    for p in pts:
        if p["opt"] == opt and p["t"] == t and p["kind"] in ("gen", "final"):
            key = (0, p["gen"]) if p["kind"] == "gen" else (1, p["gen"])
            rows.setdefault(key, []).append(p)
    out = []
    for key in sorted(rows):
        r = rows[key]
        if len(r) != len(seeds):
            continue
        out.append((key, sum(p["tok"] + p["rr"] for p in r) / len(r), sum(p["ts"] for p in r) / len(r),
                    sum(p["ood"] for p in r) / len(r), len(r)))
    return out


def svg(pts, targets, opts, path, base):
    W, H, ml, mr, mt, mb = 420, 320, 60, 15, 30, 45
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
             'font-size="11">' % (W * len(targets), H + 56), '<rect width="100%" height="100%" fill="white"/>']
    for k, t in enumerate(targets):
        x0 = k * W
        cs = {o: curve(pts, o, t) for o in opts}
        inits = [p["ts"] for p in pts if p["t"] == t and p["kind"] == "init" and p["opt"] == "ppl"] or \
                [p["ts"] for p in pts if p["t"] == t and p["kind"] == "init"]
        ys = [c[2] for o in opts for c in cs[o]] + inits[:1] + ([base[t]] if t in base else [])
        xs = [c[1] for o in opts for c in cs[o]]
        if not ys or not xs:
            continue
        ylo, yhi = min(ys), max(ys)
        pad = (yhi - ylo) * 0.08 or 1
        ylo, yhi = ylo - pad, yhi + pad
        xhi = max(xs) * 1.05

        def X(v):
            return x0 + ml + (W - ml - mr) * v / xhi

        def Y(v):
            return mt + (H - mt - mb) * (yhi - v) / (yhi - ylo)
        parts.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>'
                     % (x0 + ml, mt, W - ml - mr, H - mt - mb))
        parts.append('<text x="%d" y="18" text-anchor="middle" font-weight="bold">budget %.2f of the params</text>'
                     % (x0 + W / 2, t))
        for i in range(6):
            v = xhi * i / 5
            parts.append('<text x="%.1f" y="%d" text-anchor="middle">%.1f</text>' % (X(v), H - mb + 14, v / 1e6))
            v = ylo + (yhi - ylo) * i / 5
            parts.append('<text x="%d" y="%.1f" text-anchor="end">%.1f</text>' % (x0 + ml - 4, Y(v) + 4, v))
        parts.append('<text x="%d" y="%d" text-anchor="middle">fitness forward tokens (M, mean of seeds)</text>'
                     % (x0 + ml + (W - ml - mr) / 2, H - mb + 30))
        parts.append('<text x="%d" y="%d" transform="rotate(-90 %d %d)" text-anchor="middle">held-out ppl '
                     '(TinyStories, mean of seeds)</text>' % (x0 + 14, mt + (H - mt - mb) / 2, x0 + 14,
                                                               mt + (H - mt - mb) / 2))
        refs = []
        if inits:
            refs.append((inits[0], "reformed init (ppl)", "#888"))
        if t in base:
            refs.append((base[t], "best reformed baseline", "#e08000"))
        for v, name, col in refs:
            parts.append('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="4 3"/>'
                         % (X(0), X(xhi), Y(v), Y(v), col))
            parts.append('<text x="%.1f" y="%.1f" text-anchor="end" fill="%s">%s %.2f</text>'
                         % (X(xhi) - 3, Y(v) - 3, col, name, v))
        for o in opts:
            c = cs[o]
            if not c:
                continue
            col = COLORS.get(o, "#444")
            parts.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>'
                         % (col, " ".join("%.1f,%.1f" % (X(p[1]), Y(p[2])) for p in c)))
            for p in c:
                shape = "rect" if p[0][0] == 1 else "circle"
                if shape == "circle":
                    parts.append('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>' % (X(p[1]), Y(p[2]), col))
                else:
                    parts.append('<rect x="%.1f" y="%.1f" width="6" height="6" fill="%s"/>'
                                 % (X(p[1]) - 3, Y(p[2]) - 3, col))
    lx = 10
    for o in opts:
        parts.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>'
                     % (lx, lx + 18, H + 20, H + 20, COLORS.get(o, "#444")))
        parts.append('<text x="%d" y="%d">%s</text>' % (lx + 22, H + 24, o))
        lx += 80
    parts.append('<text x="10" y="%d">circles: the generation\'s best, reformed; squares: the final result (+ its '
                 're-ranking tokens); dashed: reformed init of ppl, best reformed baseline (margin table)</text>'
                 % (H + 44))
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", required=True)
    ap.add_argument("--search-s", required=True)
    ap.add_argument("--baseline", help="this run's saliency+reform: target ts ood per line")
    ap.add_argument("--svg", required=True)
    ap.add_argument("--shape", default="")
    ap.add_argument("--machine", default="")
    ap.add_argument("--results")
    a = ap.parse_args()
    pts = load(a.points)
    opts = [o for o in ORDER if any(p["opt"] == o for p in pts)] + \
        sorted({p["opt"] for p in pts} - set(ORDER))  # joined options (a+b) after the named ones
    targets = sorted({p["t"] for p in pts}, reverse=True)
    secs = {}
    for line in open(a.search_s):
        f = line.split()
        if len(f) == 2:
            secs[f[0]] = int(f[1])
    # (target, calibration seed) -> (ts, ood, method) of the better one-shot reformed baseline re-run
    # here (lines: target ts ood [method [calibration seed]]); own: target -> that of the lowest seed
    own_cs = {}
    if a.baseline and os.path.exists(a.baseline):
        for line in open(a.baseline):
            f = line.split()
            if 3 <= len(f) <= 5:
                row = (float(f[1]), float(f[2]), f[3] if len(f) >= 4 else "saliency+reform")
                key = (float(f[0]), int(f[4]) if len(f) == 5 else 1)
                if key not in own_cs or row[0] < own_cs[key][0]:
                    own_cs[key] = row
    first_cs = min((cs for _, cs in own_cs), default=1)
    own = {t: row for (t, cs), row in own_cs.items() if cs == first_cs}
    per_seed = len({cs for _, cs in own_cs}) > 1  # each run's calibration seed is its algorithm seed
    L = []
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = "?"
    cpu = a.machine or "%d cores, %s" % (os.cpu_count(), platform.processor() or "?")
    L.append("## Search efficiency (bench/search_efficiency.sh)\n")
    L.append("Measured %s UTC, commit %s, machine: %s. Run shape: %s.\n"
             % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"), commit, cpu, a.shape))
    L.append("Forward tokens = fitness windows x calibration len of the candidates of the budget (the candidates "
             "table's fit_windows); `+ rerank` = the final step's re-ranking (rescored members x rerank_windows x "
             "len). Perplexities after reformation (`carve reform`, one-shot, as the final step), TinyStories valid "
             "(held-out) and WikiText-2 valid (out of domain, never used for selection). Search seconds: the whole "
             "`carve search` process (final step included), on a shared machine.\n")
    L.append("| option | budget | seed | fitness tokens (M) | + rerank (M) | TinyStories ppl | WikiText-2 ppl | "
             "reformed init TS / WT | search s |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    finals = {}
    for o in opts:
        for t in targets:
            rows = sorted([p for p in pts if p["opt"] == o and p["t"] == t and p["kind"] == "final"],
                          key=lambda p: p["seed"])
            init = {p["seed"]: p for p in pts if p["opt"] == o and p["t"] == t and p["kind"] == "init"}
            for p in rows:
                i = init.get(p["seed"])
                L.append("| %s | %.2f | %d | %s | %s | %s | %s | %s | %s |" % (
                    o, t, p["seed"], mtok(p["tok"]), mtok(p["rr"]), fm(p["ts"]), fm(p["ood"]),
                    "%s / %s" % (fm(i["ts"]), fm(i["ood"])) if i else "-", secs.get("%s-seed%d" % (o, p["seed"]), "-")))
            if rows:
                finals[(o, t)] = rows
                iv = [init[p["seed"]] for p in rows if p["seed"] in init]
                L.append("| **%s** | **%.2f** | mean of %d | %s | %s | **%s** | %s | %s | |" % (
                    o, t, len(rows), ms([p["tok"] for p in rows], mtok), mtok(sum(p["rr"] for p in rows) / len(rows)),
                    ms([p["ts"] for p in rows]), ms([p["ood"] for p in rows]),
                    "%s / %s" % (ms([i["ts"] for i in iv]), ms([i["ood"] for i in iv])) if iv else "-"))
    L.append("")
    L.append("Curves (mean over seeds at each checkpoint: tokens M -> TinyStories ppl / WikiText-2 ppl; `final` "
             "includes the re-ranking tokens):\n")
    L.append("| option | budget | points |")
    L.append("|---|---|---|")
    for o in opts:
        for t in targets:
            c = curve(pts, o, t)
            if c:
                L.append("| %s | %.2f | %s |" % (o, t, "; ".join(
                    "%s %s: %s / %s" % ("final" if k[0] else "gen %d" % k[1], mtok(tk), fm(ts), fm(od))
                    for k, tk, ts, od, _ in c)))
    L.append("")
    L.append("Plot: [search_efficiency.svg](search_efficiency.svg) (held-out ppl vs forward tokens, mean of seeds; "
             "dashed: the reformed importance init and the best reformed baseline of the margin table).\n")
    # goals
    L.append("### Goal checks (computed from the table)\n")
    L.append("(a) search's best >= 10%% below the best reformed baseline (the margin table's saliency+reform, mean of "
             "calibration seeds 1-3 at n 32; quoted, not re-run%s):\n" % (
                 "; beside it the better of saliency+reform and obs+reform (one-shot, uniform ratio) re-run here "
                 "with calibration n 96 " + ("on each seed's calibration sample (the mean of the per-seed margins; "
                                             "the baseline's mean shown)" if per_seed else "seed %d" % first_cs)
                 if own else ""))
    for t in targets:
        if t not in BEST_REFORMED:
            continue
        b = BEST_REFORMED[t]
        cells = []
        for o in opts:
            if (o, t) in finals:
                m = sum(p["ts"] for p in finals[(o, t)]) / len(finals[(o, t)])
                s = "%s %+.1f %%" % (o, 100 * (b - m) / b)
                rows = finals[(o, t)]
                if per_seed and all((t, p["seed"]) in own_cs for p in rows):
                    bs = [own_cs[(t, p["seed"])][0] for p in rows]
                    mg = sum(100 * (x - p["ts"]) / x for x, p in zip(bs, rows)) / len(rows)
                    s += " (%+.1f %% vs the better one-shot baseline per seed, mean %.3f)" % (mg, sum(bs) / len(bs))
                elif t in own:
                    s += " (%+.1f %% vs %s %.3f)" % (100 * (own[t][0] - m) / own[t][0], own[t][2], own[t][0])
                cells.append(s)
        L.append("- budget %.2f, baseline %.3f: %s" % (t, b, "; ".join(cells)))
    L.append("")
    if "ppl" in opts:
        L.append("(b) today's held-out quality (option ppl's final mean) with <= 1/3 of today's tokens (its final "
                 "mean, fitness + rerank): the first point of each option's mean curve at or below it:\n")
        for t in targets:
            if ("ppl", t) not in finals:
                continue
            r = finals[("ppl", t)]
            q = sum(p["ts"] for p in r) / len(r)
            tk = sum(p["tok"] + p["rr"] for p in r) / len(r)
            cells = []
            for o in opts:
                if o == "ppl":
                    continue
                c = curve(pts, o, t)
                hit = [x for x in c if x[2] <= q]
                if hit:
                    cells.append("%s reaches it at %s M = %.2f of today's (%s)" % (
                        o, mtok(hit[0][1]), hit[0][1] / tk, "final" if hit[0][0][0] else "gen %d" % hit[0][0][1]))
                elif c:
                    best = min(c, key=lambda x: x[2])
                    cells.append("%s does not (its best %s, %+.1f %%, at %s M = %.2f of today's)" % (
                        o, fm(best[2]), 100 * (best[2] - q) / q, mtok(best[1]), best[1] / tk))
            L.append("- budget %.2f, today %s at %s M: %s" % (t, fm(q), mtok(tk), "; ".join(cells)))
        L.append("")
    L.append("(c) out of domain not worse than the reformed init (WikiText-2, final result vs the run's init row; "
             "seeds worse / seeds):\n")
    for t in targets:
        cells = []
        for o in opts:
            if (o, t) not in finals:
                continue
            r = finals[(o, t)]
            init = {p["seed"]: p for p in pts if p["opt"] == o and p["t"] == t and p["kind"] == "init"}
            pairs = [(p["ood"], init[p["seed"]]["ood"]) for p in r if p["seed"] in init]
            if not pairs:
                continue
            ms_, mi = sum(x for x, _ in pairs) / len(pairs), sum(y for _, y in pairs) / len(pairs)
            cells.append("%s %s vs %s (%+.1f %%, %d/%d worse)" % (o, fm(ms_), fm(mi), 100 * (ms_ - mi) / mi,
                                                                 sum(x > y for x, y in pairs), len(pairs)))
        L.append("- budget %.2f: %s" % (t, "; ".join(cells)))
    body = "\n".join(L) + "\n"
    svg(pts, targets, opts, a.svg, BEST_REFORMED)
    print(body)
    if a.results:
        replace_section(a.results, "search_efficiency", body)


if __name__ == "__main__":
    main()
