#!/usr/bin/env python3
"""test_tasks_ref — `carve tasks` against an independent numpy reference on stories260K.

The reference shares no code with the C path: it reads the task files itself (json, bz2),
rebuilds lm-evaluation-harness v0.4's prompts from the harness's task definitions (ARC and
OpenBookQA from the AI2 jsonl, PIQA with its labels file, BoolQ, WinoGrande's partial scoring,
HellaSwag with the harness's preprocess, and llama.cpp's HellaSwag scoring), tokenizes with
tests/ref_forward.py's sentencepiece BPE and runs its float64 forward pass one request at a time.
It must reproduce every choice's loglikelihood of the first N items (default 50) of every task
to 1e-4 + 2e-7 |ll| (float32 roundoff grows with the tokens a continuation sums: a 1,168-nat
PIQA choice differed by 1.45e-4 under -O1 with the AVX-512 kernels) and the same predictions
(acc and acc_norm), against `carve tasks --dump-items`.
`--bos` reruns one task with BOS prepended. Skips when the shared data is missing."""
import bz2, json, os, re, subprocess, sys, tempfile
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only spin
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_forward as ref

CARVE = os.environ.get("CARVE", os.path.join(os.path.dirname(__file__), "..", "carve"))
SHARED = os.environ.get("CARVE_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
TMP = tempfile.mkdtemp(dir=os.environ.get("CARVE_TEST_TMP"))
DATA = os.path.join(SHARED, "data", "tasks")
MODEL = os.path.join(SHARED, "models", "stories260K", "stories260K.bin")
TOK = os.path.join(SHARED, "models", "stories260K", "tok512.bin")
N = int(os.environ.get("TASKS_REF_ITEMS", "50"))
TOL, TOL_REL = 1e-4, 2e-7


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()][:N]


def labels(path):
    return [int(l) for l in open(path).read().split()][:N]


# Each item: (list of (context, continuation), gold, choice strings for acc_norm)
def arc(d):
    out = []
    for doc in jsonl(os.path.join(DATA, "arc_easy", "ARC-Easy-Test.jsonl")):
        ch = doc["question"]["choices"]
        ctx = "Question: " + doc["question"]["stem"] + "\nAnswer:"
        out.append(([(ctx, " " + c["text"]) for c in ch], [c["label"] for c in ch].index(doc["answerKey"]),
                    [c["text"] for c in ch]))
    return out


def obqa(d):
    out = []
    for doc in jsonl(os.path.join(DATA, "openbookqa", "test.jsonl")):
        ch = doc["question"]["choices"]
        out.append(([(doc["question"]["stem"], " " + c["text"]) for c in ch],
                    [c["label"] for c in ch].index(doc["answerKey"].lstrip()), [c["text"] for c in ch]))
    return out


def piqa(d):
    docs, gold = jsonl(os.path.join(DATA, "piqa", "valid.jsonl")), labels(os.path.join(DATA, "piqa", "valid-labels.lst"))
    return [([("Question: " + doc["goal"] + "\nAnswer:", " " + s) for s in (doc["sol1"], doc["sol2"])], g,
             [doc["sol1"], doc["sol2"]]) for doc, g in zip(docs, gold)]


def boolq(d):
    return [([(f"{doc['passage']}\nQuestion: {doc['question']}?\nAnswer:", " " + c) for c in ("no", "yes")],
             int(doc["answer"]), ["no", "yes"]) for doc in jsonl(os.path.join(DATA, "boolq", "dev.jsonl"))]


def winogrande(d):
    out = []
    for doc in jsonl(os.path.join(DATA, "winogrande", "dev.jsonl")):
        i = doc["sentence"].index("_")
        target = " " + doc["sentence"][i + 1:].strip()
        ctxs = [doc["sentence"][:i] + o for o in (doc["option1"], doc["option2"])]
        out.append(([(c, target) for c in ctxs], {"1": 0, "2": 1}[doc["answer"]], ctxs))
    return out


def hs_lines():
    lines = bz2.open(os.path.join(DATA, "hellaswag", "hellaswag_val_full.txt.bz2"), "rt", encoding="utf-8").read().split("\n")
    return [lines[6 * i:6 * i + 6] for i in range(N)]


def hs_pre(text):  # the harness's hellaswag preprocess
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def hellaswag(d):
    out = []
    for l in hs_lines():
        ends = [hs_pre(e) for e in l[2:6]]
        out.append(([(hs_pre(l[0]), " " + e) for e in ends], int(l[1]), ends))
    return out


def hellaswag_llamacpp(d):
    return [([(l[0], " " + e) for e in l[2:6]], int(l[1]), l[2:6]) for l in hs_lines()]


TASKS = {"arc_easy": (arc, True), "hellaswag": (hellaswag, True), "hellaswag_llamacpp": (hellaswag_llamacpp, False),
         "piqa": (piqa, True), "winogrande": (winogrande, False), "boolq": (boolq, False),
         "openbookqa": (obqa, True)}


class Ref:
    def __init__(self):
        self.model = ref.load(MODEL)
        self.tok = ref.load_tokenizer(TOK)
        self.max_len = self.model[0]["seq"]

    def enc(self, text, bos):
        ids = ref.encode(self.tok, text.encode("utf-8"))
        return ids if bos else ids[1:]

    def logprobs(self, seq):  # log p(seq[t] | seq[:t]) for t >= 1
        return -ref.nll_rows(ref.forward(self.model, np.array(seq)), np.array(seq))

    def harness(self, ctx, cont, bos):
        n = len(ctx) - len(ctx.rstrip())
        if n: ctx, cont = ctx[:-n], ctx[-n:] + cont
        whole, ce = self.enc(ctx + cont, bos), self.enc(ctx, bos)
        seq = ce + whole[len(ce):]
        cut = max(0, len(seq) - self.max_len)
        seq, start = seq[cut:], max(1, len(ce) - cut)
        lp = self.logprobs(seq)
        return float(lp[start - 1:].sum()), len(seq) - start

    def llamacpp(self, pairs):
        seqs = [self.enc(c + k, True) for c, k in pairs]
        common = 0
        while all(common < len(s) for s in seqs) and len({s[common] for s in seqs}) == 1: common += 1
        out = []
        for s in seqs:
            lp = self.logprobs(s)[max(common, 1) - 1:]
            out.append((float(lp.mean()) if len(lp) else -np.inf, len(lp)))
        return out


def carve_items(tasks, bos):
    """carve's per-item dump and summary of each task, from one run."""
    dump = os.path.join(TMP, "items.jsonl")
    args = [CARVE, "tasks", "--model", MODEL, "--task", ",".join(tasks), "--data", DATA, "--limit", str(N), "--json",
            "--dump-items", dump] + (["--bos"] if bos else [])
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != 0: raise SystemExit(f"carve tasks failed ({p.returncode}): {p.stderr.strip()}")
    items = [json.loads(l) for l in open(dump)]
    return {t["task"]: ([i for i in items if i["task"] == t["task"]], t) for t in json.loads(p.stdout)["tasks"]}


def check(r, task, bos, carve, failures):
    build, has_norm = TASKS[task]
    items = build(None)
    got, summary = carve[task]
    assert len(got) == len(items) == N, (task, len(got), len(items))
    worst, acc, acc_norm = 0.0, 0, 0
    for i, ((pairs, gold, choices), c) in enumerate(zip(items, got)):
        if task == "hellaswag_llamacpp":
            res = r.llamacpp(pairs)
        else:
            res = [r.harness(ctx, cont, bos) for ctx, cont in pairs]
        ll = np.array([x for x, _ in res])
        if c["gold"] != gold: failures.append(f"{task} item {i}: gold {c['gold']} vs reference {gold}")
        if c["n_tok"] != [n for _, n in res]:
            failures.append(f"{task} item {i}: token counts {c['n_tok']} vs reference {[n for _, n in res]}")
            continue
        diff = np.abs(np.array(c["ll"]) - ll)
        d = float(np.max(diff))
        worst = max(worst, d)
        if np.any(diff > TOL + TOL_REL * np.abs(ll)):
            failures.append(f"{task} item {i}: loglikelihoods differ by {d:.2e}: {c['ll']} vs {ll.tolist()}")
        pred = int(np.argmax(ll))
        pred_norm = int(np.argmax(ll / np.array([float(len(s)) for s in choices])))
        if c["pred"] != pred: failures.append(f"{task} item {i}: prediction {c['pred']} vs reference {pred}")
        if has_norm and c["pred_norm"] != pred_norm:
            failures.append(f"{task} item {i}: acc_norm prediction {c['pred_norm']} vs reference {pred_norm}")
        acc += pred == gold
        acc_norm += pred_norm == gold
    if abs(summary["acc"] - acc / N) > 1e-12: failures.append(f"{task}: acc {summary['acc']} vs reference {acc / N}")
    if has_norm and abs(summary["acc_norm"] - acc_norm / N) > 1e-12:
        failures.append(f"{task}: acc_norm {summary['acc_norm']} vs reference {acc_norm / N}")
    print(f"{task}{' --bos' if bos else ''}: {N} items, max |ll diff| {worst:.2e}, acc {acc / N:.4f}"
          + (f", acc_norm {acc_norm / N:.4f}" if has_norm else ""))


def main():
    if not (os.path.isdir(DATA) and os.path.exists(MODEL)):
        print("shared task data or stories260K missing"); sys.exit(77)
    r, failures = Ref(), []
    carve = carve_items(list(TASKS), False)
    for task in TASKS: check(r, task, False, carve, failures)
    check(r, "piqa", True, carve_items(["piqa"], True), failures)
    for f in failures[:20]: print("FAIL", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
