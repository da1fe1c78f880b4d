#!/usr/bin/env python3
"""results — writes the sections of bench/RESULTS.md from the raw measurements of
bench/quality.sh (quality) and bench/speed.sh (speed). Each section lives between its own
<!-- BEGIN name --> / <!-- END name --> markers, so each script regenerates only its part."""
import argparse
import math
import os
import re
import sys


def replace_section(path, name, body):
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    text = open(path).read() if os.path.exists(path) else "# carve benchmark results\n\n"
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) + 1:]
    else:
        text = text.rstrip() + "\n\n" + block
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def mean_sd(xs):
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd


def fnum(x):
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{os.cpu_count()} cores"


def is_reformed_baseline(meth):
    """The pool the searches are compared with: width baselines followed by carve's reformation, and
    LLM-Streamline's fitted replacement layer (the one layer-level method that fits weights)."""
    return meth.endswith("+reform") or meth == "streamline-fit"


def margins(methods, budgets, cell, per_seed, n_seeds):
    """The margin table (search vs. the best reformed baseline, seed by seed) and the verdict lines."""
    searches = [m for m in methods if m.startswith("carve-")]
    names = {"ts": "TinyStories", "wt": "WikiText-2"}
    out = ["### What the search adds: margin over the best reformed baseline\n",
           "Margin = (ppl of the best reformed baseline − ppl of the search) / ppl of the best reformed "
           "baseline, in %, computed per seed (both use that seed's calibration sample) and shown as mean ± "
           "sample sd over the seeds; positive = the search's subnet has the lower held-out perplexity. The "
           "best reformed baseline of a budget and domain is the one with the lowest mean perplexity there "
           "among the NAME+reform rows and streamline-fit whose mean kept fraction is at most the target + "
           "0.005 (named in each cell). A margin counts as a win or a loss when |mean| > 2 sd / √seeds; "
           "otherwise it is within the seed spread.\n"]
    if not searches:
        return out + ["(no search measured)\n"], []
    out.append("| search | domain | " + " | ".join(budgets) + " |")
    out.append("|---|---|" + "---|" * len(budgets))
    res = {}
    for s in searches:
        for key in ("ts", "wt"):
            cells = []
            for b in budgets:
                pool = [(mean_sd(cell[(m, b)][key])[0], m) for m in methods
                        if is_reformed_baseline(m) and (m, b) in cell and cell[(m, b)][key] and cell[(m, b)]["kept"]
                        and mean_sd(cell[(m, b)]["kept"])[0] <= float(b) + 0.005]
                mine = per_seed.get((s, b, key), {})
                if not pool or not mine:
                    cells.append("not measured")
                    continue
                base = min(pool)[1]
                theirs = per_seed.get((base, b, key), {})
                ms = [100.0 * (theirs[x] - mine[x]) / theirs[x] for x in sorted(mine) if x in theirs]
                if not ms:
                    cells.append("not measured")
                    continue
                m, sd = mean_sd(ms)
                if len(ms) < 2:
                    v = "one seed"
                elif abs(m) > 2 * sd / math.sqrt(len(ms)):
                    v = "wins" if m > 0 else "loses"
                else:
                    v = "within the seed spread"
                res[(s, key, b)] = (m, sd, base, v, len(ms))
                cells.append(f"{m:+.1f} ± {sd:.1f} % vs {base}")
            out.append(f"| {s} | {names[key]} | " + " | ".join(cells) + " |")
    out.append("")
    verdicts = []
    for b in budgets:
        parts = []
        for s in searches:
            got = [f"{names[k]} {res[(s, k, b)][0]:+.1f} ± {res[(s, k, b)][1]:.1f} % over {res[(s, k, b)][2]} "
                   f"({res[(s, k, b)][3]})" for k in ("ts", "wt") if (s, k, b) in res]
            if got:
                parts.append(f"{s}: " + "; ".join(got))
        if parts:
            verdicts.append(f"- budget {b}: " + " — ".join(parts))
    return out, verdicts


def quality(a):
    rows = [l.rstrip("\n").split("\t") for l in open(a.raw)][1:]
    methods, budgets, cell, wall, per_seed = [], [], {}, {}, {}
    for meth, target, seed, kept, pts, pwt, ws in rows:
        if meth not in methods:
            methods.append(meth)
        if target not in budgets:
            budgets.append(target)
        c = cell.setdefault((meth, target), {"kept": [], "ts": [], "wt": []})
        for k, v in (("kept", kept), ("ts", pts), ("wt", pwt)):
            if fnum(v) is not None:
                c[k].append(fnum(v))
                per_seed.setdefault((meth, target, k), {})[seed] = fnum(v)
        wall[meth] = wall.get(meth, 0.0) + float(ws)
    out = []
    out.append("## Quality: held-out perplexity of every method (stories260K)\n")
    out.append(f"Regenerated by `bench/quality.sh` in {a.total_s} s ({os.cpu_count()} cores). "
               f"Model ../shared/models/stories260K/stories260K.bin; calibration, importance scores, "
               f"reformation and search fitness use ../shared/data/tinystories/calib.txt only; held-out "
               f"perplexity on the first {a.eval_windows} windows of {a.seq_len} tokens of TinyStories valid.txt and of "
               f"WikiText-2 wiki.valid.tokens (seq-len {a.seq_len}; "
               f"stories260K was trained at 512). Budget = fraction of the dense non-embedding parameters "
               f"kept (eval/cost.h COST_PARAMS); layer-level methods take the achievable budget nearest the "
               f"target, shown as `@kept`. Cells: mean ± sample sd over {a.seeds} seeds. Machine: {cpu_name()}; "
               f"perplexities differ from runs on other CPUs in the last digits (BLAS kernels).\n")
    out.append("How each method runs (configs/method-NAME.yaml; `carve baseline`, `carve prune`, `carve search`):\n")
    out.append("- magnitude / saliency: reform/'s unit scores (weight norms / the seed paper's saliency), no search.")
    out.append("- flap: FLAP fluctuation scores (reform/), standardised per structure type (heads, channels) across "
               "all layers, the globally lowest removed until the budget is met, then FLAP's bias compensation "
               "(`carve reform --fit bias`: o_proj / down_proj biases b = W_removed · mean of the removed inputs, "
               "from the dense calibration statistics; the kept weights as inherited).")
    out.append("- NAME+reform (magnitude, saliency, flap, random): the same subnet followed by carve's reformation "
               "(`carve reform`, one-shot exact least squares with the default fit, kept weights + output bias; "
               "the searches' calibration keys and seed) — the baselines get the reformation carve gets.")
    out.append("- shortgpt: the layers with the lowest Block Influence. uls: evenly spaced intermediate layers. "
               "sleb: greedy, each step removes the layer whose removal gives the lowest calibration ppl.")
    out.append("- streamline: the contiguous span whose entering/leaving hidden states are most similar (mean "
               "cosine), removed; streamline-fit: the span replaced by one least-squares fitted dim x dim layer.")
    out.append("- attn-skip: attention sublayers skipped from the last layer backwards; when the target is below "
               "what skipping every attention sublayer reaches, it stops there (the `@kept` figure shows it).")
    out.append("- random: best of K random head/channel subnets at the budget by calibration ppl.")
    out.append("- carve-ga / carve-nsga2: `carve search` (GA per budget / NSGA-II, every candidate scored after "
               "reformation), the best subnet of each budget reformed (`carve reform`, as the +reform rows) "
               "before evaluation.")
    out.append("- Seeds: 1..N set the calibration sample (and random draws, and the search's seed); deterministic "
               "methods often pick the same subnet for every seed (spread 0).\n")
    out.append(f"**Dense model:** TinyStories ppl {float(a.dense[0]):.3f}, WikiText-2 ppl {float(a.dense[1]):.3f}.\n")
    for key, title in (("ts", "TinyStories valid.txt"), ("wt", "WikiText-2 valid")):
        out.append(f"### {title}\n")
        out.append("| method | " + " | ".join(budgets) + " |")
        out.append("|---|" + "---|" * len(budgets))
        for meth in methods:
            cells = []
            for b in budgets:
                c = cell.get((meth, b))
                if not c or not c[key]:
                    cells.append("not measured")
                    continue
                m, sd = mean_sd(c[key])
                kept = mean_sd(c["kept"])[0] if c["kept"] else float("nan")
                cells.append(f"{m:.3f} ± {sd:.3f} @{kept:.3f}")
            out.append(f"| {meth} | " + " | ".join(cells) + " |")
        out.append("")
    margin_lines, verdicts = margins(methods, budgets, cell, per_seed, a.seeds)
    out.extend(margin_lines)
    out.append("### Verdict per budget (from the margin table)\n")
    out.extend(verdicts or ["- nothing measured"])
    out.append("")
    out.append("### Wall time per method (all budgets and seeds; the method's own run, held-out evaluation excluded)\n")
    out.append("| method | wall s |")
    out.append("|---|---|")
    for meth in methods:
        out.append(f"| {meth} | {wall[meth]:.1f} |")
    out.append("")
    out.append("Pareto plot (held-out TinyStories ppl vs. kept parameters, one line per method; the reformed "
               "baselines NAME+reform dashed): "
               "[pareto.svg](pareto.svg) ([png](pareto.png)).\n")
    replace_section(a.md, "quality", "\n".join(out))
    # gnuplot data: one block per method (two blank lines between), columns kept ppl
    with open(a.plot_data + ".styles", "w") as f:  # per block: 2 (dashed) for the reformed baselines, else 1
        f.write(" ".join("2" if m.endswith("+reform") else "1" for m in methods) + "\n")
    with open(a.plot_data, "w") as f:
        for meth in methods:
            f.write(f'"{meth}"\n')
            pts = sorted((mean_sd(cell[(meth, b)]["kept"])[0], mean_sd(cell[(meth, b)]["ts"])[0])
                         for b in budgets if (meth, b) in cell and cell[(meth, b)]["ts"] and cell[(meth, b)]["kept"])
            for k, p in pts:
                f.write(f"{k:.5f} {p:.5f}\n")
            f.write("\n\n")


def speed(a):
    out = ["## Speed: forward, reform and export benchmarks\n",
           "Regenerated by `bench/speed.sh`; every figure is a ratio to a reference measured in the same run "
           "(the reference is named in each script's own output).\n"]
    for path in a.logs:
        name = os.path.basename(path)
        text = open(path).read().rstrip() if os.path.exists(path) else ""
        out.append(f"### {name.replace('.log', '')}\n")
        out.append("```")
        out.append(text if text else "(no output)")
        out.append("```\n")
    replace_section(a.md, "speed", "\n".join(out))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--raw", required=True)
    q.add_argument("--dense", nargs=2, required=True)
    q.add_argument("--seq-len", type=int, default=256)
    q.add_argument("--total-s", type=int, default=0)
    q.add_argument("--seeds", type=int, default=3)
    q.add_argument("--eval-windows", type=int, default=0)
    q.add_argument("--plot-data", required=True)
    q.add_argument("--md", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--md", required=True)
    s.add_argument("logs", nargs="*")
    a = p.parse_args()
    quality(a) if a.cmd == "quality" else speed(a)


if __name__ == "__main__":
    sys.exit(main())
