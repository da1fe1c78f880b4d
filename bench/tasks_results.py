#!/usr/bin/env python3
"""tasks_results — writes the "tasks" section of bench/RESULTS.md from the raw JSON of
bench/tasks.sh (carve tasks --json outputs in --out)."""
import argparse
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import replace_section  # noqa: E402

TASKS = ["arc_easy", "hellaswag", "piqa", "winogrande", "boolq", "openbookqa"]
CHANCE = {"arc_easy": "~0.25", "hellaswag": "0.25", "piqa": "0.50", "winogrande": "0.50", "boolq": "0.62 (majority yes)",
          "openbookqa": "0.25"}


def load(path):
    return json.load(open(path)) if os.path.exists(path) else None


def f4(x):
    return "–" if x is None else f"{x:.4f}"


def per_task(run):
    return {t["task"]: t for t in run["tasks"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--md", required=True)
    a = ap.parse_args()
    L = ["## Zero-shot tasks (`bench/tasks.sh`, `carve tasks`)", "",
         "lm-evaluation-harness v0.4 prompts and metrics (README, *Zero-shot tasks*). stories260K is a "
         "260K-parameter model trained on children's stories: its accuracies are at chance level on every "
         "task (a 4-choice task's chance is 0.25, a 2-choice one's 0.50; BoolQ's majority answer is "
         "\"yes\" for 62%), and differences between subnets are within the standard errors. What these "
         "tables prove is the machinery — the same code gives meaningful figures on real models.", ""]
    load_txt = os.path.join(a.out, "load.txt")
    full = load(os.path.join(a.out, "full.json"))
    if full:
        L += ["### Dense stories260K, every item", "",
              "| task | items | acc | ± | acc_norm | ± | chance | seconds |", "|---|---|---|---|---|---|---|---|"]
        for t in full["tasks"]:
            L.append(f"| {t['task']} | {t['items']} | {f4(t['acc'])} | {f4(t['acc_stderr'])} | {f4(t['acc_norm'])} | "
                     f"{f4(t['acc_norm_stderr'])} | {CHANCE.get(t['task'], '')} | {t['seconds']:.0f} |")
        L.append(f"| **mean** | | {f4(full['mean_acc'])} | | {f4(full['mean_acc_norm'])} | | | {full['seconds']:.0f} |")
        L += ["", f"Whole run: {full['seconds']:.0f} s (`carve tasks --task {','.join(t['task'] for t in full['tasks'])}`, "
              "task files loaded and tokenized inside that time; seconds per task exclude loading).", ""]
    sp = [(n, load(os.path.join(a.out, f"speed-{k}.json"))) for n, k in
          (("stories260K", "stories260k"), ("SmolLM-135M shape (random weights)", "smollm"))]
    if any(r for _, r in sp):
        L += ["### Speed (items/s, one process, the default --batch-tokens 4096)", "",
              "| model | task | items | seconds | items/s |", "|---|---|---|---|---|"]
        for name, r in sp:
            for t in (r or {"tasks": []})["tasks"]:
                L.append(f"| {name} | {t['task']} | {t['items']} | {t['seconds']:.1f} | {t['items_per_s']:.1f} |")
        L.append("")
    meth = sorted(glob.glob(os.path.join(a.out, "methods", "*@*.json")))
    dense = load(os.path.join(a.out, "methods", "dense.json"))
    if meth and dense:
        L += [f"### Dense model and every method's subnet at each budget (first {a.limit} items per task, seed {a.seed})", "",
              "From the subnets (reformed models where the method reforms) of a `bench/quality.sh --out` run; "
              "acc per task (acc_norm where the harness reports it in brackets), mean acc over the six tasks.", "",
              "| method | budget | " + " | ".join(TASKS) + " | mean |", "|---|---|" + "---|" * (len(TASKS) + 1)]
        def row(name, b, run):
            pt = per_task(run)
            cells = []
            for t in TASKS:
                x = pt.get(t)
                cells.append("–" if not x else f"{x['acc']:.3f}" + (f" ({x['acc_norm']:.3f})" if x["acc_norm"] is not None else ""))
            return f"| {name} | {b} | " + " | ".join(cells) + f" | {run['mean_acc']:.3f} |"
        L.append(row("dense", "1.0", dense))
        rows = []
        for p in meth:
            m, b = os.path.basename(p)[:-5].split("@")
            rows.append((m, -float(b), row(m, b, load(p))))
        L += [r for _, _, r in sorted(rows)]
        L.append("")
    if os.path.exists(load_txt):
        lines = open(load_txt).read().split("\n")
        L += [f"Load average when the runs started (2-core machine shared with other jobs): "
              f"{lines[0].split('load average:')[-1].strip()} … {[l for l in lines if l][-1].split('load average:')[-1].strip()}.", ""]
    replace_section(a.md, "tasks", "\n".join(L))


if __name__ == "__main__":
    main()
