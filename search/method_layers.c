/* method_layers — the layer-level baselines: ShortGPT (lowest Block Influence), SLEB (greedy
 * removal by calibration ppl), LLM-Streamline (best contiguous span, optionally replaced by a
 * fitted linear layer), ULS (evenly spaced skipping) and attention skipping. Each builds the
 * candidate subnets for every achievable number of removed layers and keeps the one whose
 * exact budget is nearest the target. See method.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/method.h"

/* Dense subnet with the layers flagged in skip[] (both sublayers) turned off. */
static Subnet *without_layers(const Model *m, const uint8_t *skip) {
    Subnet *s = subnet_dense(m);
    for (int l = 0; l < s->n_layers; l++)
        if (skip[l]) s->layers[l].attn_on = s->layers[l].mlp_on = false;
    subnet_canonicalize(s);
    return s;
}

/* Keep the candidate (of n, budgets r[]) nearest the target in out, free the others; returns its index. */
static int keep_nearest(Subnet **cand, const double *r, int n, double target, MethodResult *out) {
    int k = method_nearest(r, n, target);
    for (int i = 0; i < n; i++)
        if (i != k) subnet_free(cand[i]);
    out->subnet = cand[k];
    out->budget = r[k];
    out->replace_first = -1;
    return k;
}

/* Fills skip[] (L flags) with the layers a method removes when it removes n of them;
 * false when the method has no candidate of n layers. */
typedef bool (*SkipFn)(const MethodInput *in, int n, uint8_t *skip, void *ctx);

/* Build the candidate for every count n = 0..L-1, keep the one whose budget (plus a
 * replacement layer when `replace` and n > 0) is nearest the target; returns that n. */
static int nearest_count(const MethodInput *in, SkipFn fill, void *ctx, bool replace, MethodResult *out) {
    const Model *m = in->model;
    int L = m->cfg.n_layers;
    Subnet **cand = xcalloc((size_t)L, sizeof *cand);
    double *r = xcalloc((size_t)L, sizeof *r);
    uint8_t *skip = xcalloc((size_t)L, 1);
    for (int n = 0; n < L; n++) {
        bool ok = fill(in, n, skip, ctx);
        cand[n] = without_layers(m, skip);
        r[n] = ok ? method_budget_of(m, cand[n], replace && n > 0) : INFINITY;
    }
    int k = keep_nearest(cand, r, L, in->budget, out);
    free(cand);
    free(r);
    free(skip);
    return k;
}

/* Append " l" for every removed layer of s to the note. */
static void note_layers(MethodResult *out, const char *prefix) {
    size_t len = strlen(out->note);
    len += (size_t)snprintf(out->note + len, sizeof out->note - len, "%s", prefix);
    for (int l = 0; l < out->subnet->n_layers && len < sizeof out->note; l++)
        if (!out->subnet->layers[l].attn_on && !out->subnet->layers[l].mlp_on)
            len += (size_t)snprintf(out->note + len, sizeof out->note - len, " %d", l);
}

/* Layer indices sorted by ascending score (stable: lower index first on ties). */
static void argsort_asc(const double *score, int n, int *order) {
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) { /* insertion sort: n is a layer count */
        int v = order[i], j = i - 1;
        while (j >= 0 && score[order[j]] > score[v]) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
}

/* ShortGPT: the first n of the layers sorted by ascending Block Influence. */
static bool skip_lowest_bi(const MethodInput *in, int n, uint8_t *skip, void *ctx) {
    const int *order = ctx;
    memset(skip, 0, (size_t)in->model->cfg.n_layers);
    for (int i = 0; i < n; i++) skip[order[i]] = 1;
    return true;
}

int method_shortgpt(const MethodInput *in, MethodResult *out) {
    int L = in->model->cfg.n_layers;
    int *order = xmalloc((size_t)L * sizeof *order);
    argsort_asc(in->scores.block_influence, L, order);
    int n = nearest_count(in, skip_lowest_bi, order, false, out);
    free(order);
    snprintf(out->note, sizeof out->note, "removed %d of %d layers by lowest Block Influence:", n, L);
    note_layers(out, "");
    return 0;
}

int method_attn_skip(const MethodInput *in, MethodResult *out) {
    const Model *m = in->model;
    int L = m->cfg.n_layers;
    Subnet **cand = xcalloc((size_t)L + 1, sizeof *cand);
    double *r = xcalloc((size_t)L + 1, sizeof *r);
    cand[0] = subnet_dense(m);
    r[0] = method_budget_of(m, cand[0], false);
    for (int n = 1; n <= L; n++) { /* attention of the last n layers off */
        cand[n] = subnet_clone(cand[n - 1]);
        cand[n]->layers[L - n].attn_on = false;
        subnet_canonicalize(cand[n]);
        r[n] = method_budget_of(m, cand[n], false);
    }
    double floor = r[L];
    keep_nearest(cand, r, L + 1, in->budget, out);
    int n = 0;
    for (int l = 0; l < L; l++) n += !out->subnet->layers[l].attn_on;
    if (in->budget < floor - 1e-9)
        snprintf(out->note, sizeof out->note,
                 "attention floor: all %d attention sublayers skipped keeps %.4f > target %.2f", L, floor, in->budget);
    else
        snprintf(out->note, sizeof out->note, "skipped the attention of the last %d of %d layers", n, L);
    free(cand);
    free(r);
    return 0;
}

void method_uls_layers(int L, int n, uint8_t *skip) {
    memset(skip, 0, (size_t)L);
    if (n <= 0) return;
    if (n > L) n = L;
    /* n evenly spaced picks from the intermediate layers 1..L-2, or from all layers when
     * n exceeds them: pick i sits at the centre of the i-th of n equal slices. */
    int lo = 1, span = L - 2;
    if (n > span) lo = 0, span = L;
    for (int i = 0; i < n; i++) {
        int l = lo + (int)(((double)i + 0.5) * span / n);
        skip[l] = 1;
    }
}

static bool skip_uls(const MethodInput *in, int n, uint8_t *skip, void *ctx) {
    (void)ctx;
    method_uls_layers(in->model->cfg.n_layers, n, skip);
    return true;
}

int method_uls(const MethodInput *in, MethodResult *out) {
    nearest_count(in, skip_uls, NULL, false, out);
    note_layers(out, "skipped evenly spaced layers");
    return 0;
}

/* LLM-Streamline: the span [i, i+n) whose entering and leaving hidden states are most similar;
 * -1 when no span of n layers has a score (reform/ leaves spans beyond its max_span NAN). */
static int best_span(const MethodInput *in, int n) {
    int L = in->model->cfg.n_layers, best = -1;
    const double *cs = in->scores.boundary_cos;
    for (int i = 0; i + n <= L; i++) {
        double v = cs[i * (L + 1) + i + n];
        if (n > 0 && isnan(v)) continue;
        if (best < 0 || v > cs[best * (L + 1) + best + n]) best = i;
    }
    return best;
}

static bool skip_span(const MethodInput *in, int n, uint8_t *skip, void *ctx) {
    (void)ctx;
    int first = best_span(in, n);
    memset(skip, 0, (size_t)in->model->cfg.n_layers);
    for (int l = first; first >= 0 && l < first + n; l++) skip[l] = 1;
    return first >= 0;
}

int method_streamline(const MethodInput *in, MethodResult *out) {
    int L = in->model->cfg.n_layers;
    int k = nearest_count(in, skip_span, NULL, in->replace, out), first = best_span(in, k);
    if (in->replace && k > 0) {
        out->replace_first = first;
        out->replace_n = k;
    }
    snprintf(out->note, sizeof out->note, "span [%d, %d) of %d layers (cos %.4f)%s", first, first + k, L,
             in->scores.boundary_cos[first * (L + 1) + first + k],
             in->replace && k > 0 ? ", replaced by a linear layer" : "");
    return 0;
}

int method_sleb(const MethodInput *in, MethodResult *out) {
    const Model *m = in->model;
    int L = m->cfg.n_layers;
    uint8_t *skip = xcalloc((size_t)L, 1);
    Subnet *cur = without_layers(m, skip);
    double cur_r = method_budget_of(m, cur, false), cur_ppl = 0;
    int removed = 0, rc = 0;
    out->n_evals = 0;
    Subnet **cand = xcalloc((size_t)L, sizeof *cand);
    int *layer = xcalloc((size_t)L, sizeof *layer);
    double *ppl = xcalloc((size_t)L, sizeof *ppl);
    while (removed < L - 1) {
        /* one greedy step: the layer whose removal gives the lowest calibration ppl; the
         * step's candidates are scored as one batch (method_ppl_batch) */
        int nc = 0;
        for (int l = 0; l < L; l++) {
            if (skip[l]) continue;
            skip[l] = 1;
            Subnet *s = without_layers(m, skip);
            skip[l] = 0;
            double rs[2] = {cur_r, method_budget_of(m, s, false)};
            if (method_nearest(rs, 2, in->budget) == 0) { /* this removal moves away from the target */
                subnet_free(s);
                continue;
            }
            cand[nc] = s, layer[nc] = l, nc++;
        }
        rc = method_ppl_batch(in, (const Subnet *const *)cand, nc, ppl);
        out->n_evals += nc;
        int best = -1; /* index into cand: the lowest ppl, the first of equals */
        for (int i = 0; rc == 0 && i < nc; i++)
            if (best < 0 || ppl[i] < ppl[best]) best = i;
        for (int i = 0; i < nc; i++)
            if (rc != 0 || i != best) subnet_free(cand[i]);
        if (rc != 0 || best < 0) break; /* failed, or no removal brings the budget nearer the target */
        subnet_free(cur);
        cur = cand[best], cur_r = method_budget_of(m, cur, false), cur_ppl = ppl[best];
        skip[layer[best]] = 1;
        removed++;
    }
    free(cand);
    free(layer);
    free(ppl);
    free(skip);
    if (rc != 0) {
        subnet_free(cur);
        return err_prefix("method sleb");
    }
    out->subnet = cur;
    out->budget = cur_r;
    out->calib_ppl = cur_ppl;
    out->replace_first = -1;
    snprintf(out->note, sizeof out->note, "greedily removed %d of %d layers (%d calibration evaluations)", removed, L,
             out->n_evals);
    return 0;
}
