/* evaluator — perplexity sums of a model or subnet over token windows through one reused
 * forward pass (see evaluator.h for the API, the summation order and the empty-input rule). */
#include "eval/evaluator.h"

#include <math.h>
#include <stdlib.h>

struct Evaluator {
    const Model *m;       /* the evaluator's model (subnets are of it) */
    const Windows *w;     /* borrowed */
    const char *what;
    int batch;            /* windows per forward call */
    Forward *f;           /* own (f_owned) or the shared evaluator's */
    bool f_owned;
    const EvalSplit *split; /* NULL: alone */
};

int evaluator_create(const Model *m, const Windows *w, const EvalOptions *o, Evaluator **out) {
    *out = NULL;
    EvalOptions d = {0};
    if (!o) o = &d;
    const char *what = o->what ? o->what : "windows";
    if (w->n < 1 || w->len < 2)
        return err_set("%s: nothing to score (%d windows of %d tokens; every window needs at least 2)", what, w->n,
                       w->len);
    if (model_check_window(m, w->len, what, "window of")) return -1;
    if (o->share && o->share->m != m) return err_set("%s: evaluator shares the forward pass of another model", what);
    if (o->batch < 0) return err_set("%s: batch of %d windows", what, o->batch);
    Evaluator *ev = xcalloc(1, sizeof *ev);
    ev->m = m, ev->w = w, ev->what = what;
    ev->split = o->split && o->split->size > 1 ? o->split : NULL;
    ev->batch = o->batch > 0 ? o->batch : (EVAL_BATCH_TOKENS / w->len > 0 ? EVAL_BATCH_TOKENS / w->len : 1);
    if (ev->batch > w->n) ev->batch = w->n; /* the pass never needs room for more */
    if (o->share) {
        ev->f = o->share->f;
    } else {
        /* room for one batch; reform_ppl's and method_eval's passes were sized the same way */
        int default_batch = EVAL_BATCH_TOKENS / w->len > 0 ? EVAL_BATCH_TOKENS / w->len : 1;
        int rows = o->batch > 0 ? o->batch : default_batch;
        ForwardOptions fo = {.cache_bytes = o->cache_bytes, .max_tokens = rows * w->len};
        if (forward_create(m, NULL, &fo, &ev->f) != 0) {
            free(ev);
            return -1;
        }
        ev->f_owned = true;
    }
    *out = ev;
    return 0;
}

void evaluator_free(Evaluator *ev) {
    if (!ev) return;
    if (ev->f_owned) forward_free(ev->f);
    free(ev);
}

const Windows *evaluator_windows(const Evaluator *ev) { return ev->w; }
int evaluator_batch(const Evaluator *ev) { return ev->batch; }

Forward *evaluator_bind(Evaluator *ev, const Model *model, const Subnet *s) {
    int rc;
    if (!model || model == ev->m) /* ev->m is alive, so an equal address really is it */
        rc = forward_model(ev->f) == ev->m ? forward_set_subnet(ev->f, s) : forward_set_model(ev->f, ev->m, s);
    else
        rc = forward_set_model(ev->f, model, s); /* always afresh: another model may sit at a freed one's address */
    return rc == 0 ? ev->f : NULL;
}

/* The batches of [w0, w1): cut at multiples of B counted from window 0. */
static int n_batches(int w0, int w1, int B) { return w0 == w1 ? 0 : (w1 - 1) / B - w0 / B + 1; }

/* Batch i of [w0, w1) as [*a, *b). */
static void batch_range(int w0, int w1, int B, int i, int *a, int *b) {
    *a = i == 0 ? w0 : (w0 / B + i) * B;
    *b = (w0 / B + i + 1) * B < w1 ? (w0 / B + i + 1) * B : w1;
}

/* Split: this process's block of the range's batches, then every block's sums from combine. */
static int sums_split(Evaluator *ev, const Model *model, const Subnet *s, int w0, int w1, EvalSums *acc) {
    const EvalSplit *sp = ev->split;
    int T = ev->w->len, B = ev->batch, nb = n_batches(w0, w1, B);
    double *nll = xcalloc((size_t)nb + 1, sizeof *nll);
    int64_t *n = xcalloc((size_t)nb + 1, sizeof *n);
    int i0 = (int)((int64_t)sp->index * nb / sp->size), i1 = (int)((int64_t)(sp->index + 1) * nb / sp->size);
    Forward *f = i0 < i1 ? evaluator_bind(ev, model, s) : NULL;
    int rc = i0 < i1 && !f ? -1 : 0;
    for (int i = i0; i < i1 && rc == 0; i++) {
        int a, b;
        batch_range(w0, w1, B, i, &a, &b);
        rc = forward_nll(f, ev->w->tokens + (size_t)a * T, b - a, T, NULL, &nll[i], &n[i]);
    }
    rc = sp->combine(sp->ud, rc, nll, n, nb);
    for (int i = 0; i < nb && rc == 0; i++) acc->nll_sum += nll[i], acc->n_scored += n[i];
    free(nll);
    free(n);
    return rc;
}

int evaluator_sums_add(Evaluator *ev, const Model *model, const Subnet *s, int w0, int w1, EvalSums *acc) {
    const Windows *w = ev->w;
    if (w0 < 0 || w1 < w0 || w1 > w->n)
        return err_set("%s: window range [%d, %d) outside [0, %d)", ev->what, w0, w1, w->n);
    if (w0 == w1) return 0;
    if (ev->split) return sums_split(ev, model, s, w0, w1, acc);
    Forward *f = evaluator_bind(ev, model, s);
    if (!f) return -1;
    int T = w->len, B = ev->batch;
    for (int i = 0, nb = n_batches(w0, w1, B); i < nb; i++) {
        int a, b;
        batch_range(w0, w1, B, i, &a, &b);
        if (forward_nll(f, w->tokens + (size_t)a * T, b - a, T, NULL, &acc->nll_sum, &acc->n_scored) != 0) return -1;
    }
    return 0;
}

int evaluator_sums(Evaluator *ev, const Model *model, const Subnet *s, int w0, int w1, EvalSums *out) {
    *out = (EvalSums){0};
    return evaluator_sums_add(ev, model, s, w0, w1, out);
}

int eval_ppl_of(const EvalSums *sums, const char *what, double *ppl) {
    if (sums->n_scored <= 0) return err_set("%s: no scored tokens", what ? what : "evaluation");
    *ppl = exp(sums->nll_sum / (double)sums->n_scored);
    return 0;
}

int evaluator_ppl_model(Evaluator *ev, const Model *model, const Subnet *s, double *ppl) {
    EvalSums sums;
    if (evaluator_sums(ev, model, s, 0, ev->w->n, &sums) != 0) return -1;
    return eval_ppl_of(&sums, ev->what, ppl);
}

int evaluator_ppl(Evaluator *ev, const Subnet *s, double *ppl) { return evaluator_ppl_model(ev, NULL, s, ppl); }
