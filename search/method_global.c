/* method_global — baselines that rank heads and channels of all layers together: FLAP's
 * adaptive global structure (fluctuation scores z-standardised per structure type across
 * layers, the globally lowest removed until the budget is met) and random subnets (uniform
 * random scores through the same threshold, best of K by calibration ppl). See method.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/method.h"
#include "runtime/base/pcg32.h"

typedef struct {
    double z;
    int layer, unit; /* unit < 0: head -unit-1, else channel */
} Unit;

static int unit_cmp(const void *a, const void *b) {
    const Unit *x = a, *y = b;
    if (x->z != y->z) return x->z < y->z ? -1 : 1;
    if (x->layer != y->layer) return x->layer - y->layer;
    return x->unit - y->unit;
}

/* Append the units of one structure type still kept in s, z-standardised over all of them. */
static int add_standardised(const Subnet *s, const double *const *score, bool heads, Unit *u, int n) {
    double sum = 0, sq = 0;
    int first = n;
    for (int l = 0; l < s->n_layers; l++) {
        const SubnetLayer *sl = &s->layers[l];
        int cnt = heads ? sl->n_heads : sl->hidden_dim;
        bool on = heads ? sl->attn_on : sl->mlp_on;
        const uint8_t *keep = heads ? sl->head_keep : sl->chan_keep;
        if (!on || !score[l]) continue;
        for (int i = 0; i < cnt; i++) {
            if (!keep[i]) continue;
            double v = score[l][i];
            u[n++] = (Unit){v, l, heads ? -i - 1 : i};
            sum += v;
            sq += v * v;
        }
    }
    int k = n - first;
    if (k == 0) return n;
    double mean = sum / k, var = sq / k - mean * mean, sd = var > 0 ? sqrt(var) : 0;
    for (int i = first; i < n; i++) u[i].z = sd > 0 ? (u[i].z - mean) / sd : 0.0;
    return n;
}

/* s0 with the first k units of u[] removed, in a new canonical subnet. */
static Subnet *drop_first(const Subnet *s0, const Unit *u, int k) {
    Subnet *s = subnet_clone(s0);
    for (int i = 0; i < k; i++) {
        SubnetLayer *sl = &s->layers[u[i].layer];
        if (u[i].unit < 0) sl->head_keep[-u[i].unit - 1] = 0;
        else sl->chan_keep[u[i].unit] = 0;
    }
    subnet_canonicalize(s);
    return s;
}

int method_global_threshold(const Model *m, Subnet *s, const double *const *head_score,
                            const double *const *chan_score, double budget) {
    int total = 0;
    for (int l = 0; l < s->n_layers; l++) total += s->layers[l].n_heads + s->layers[l].hidden_dim;
    Unit *u = xmalloc(((size_t)total + 1) * sizeof *u);
    int n = 0;
    if (head_score) n = add_standardised(s, head_score, true, u, n);
    if (chan_score) n = add_standardised(s, chan_score, false, u, n);
    qsort(u, (size_t)n, sizeof *u, unit_cmp);
    /* the kept fraction falls monotonically with k: bisect for the fewest removals that meet the budget */
    int lo = 0, hi = n;
    Subnet *t = drop_first(s, u, hi);
    bool reachable = method_budget_of(m, t, false) <= budget + 1e-12;
    subnet_free(t);
    if (!reachable) {
        free(u);
        return err_set("budget %.4f is below what removing every scored unit reaches", budget);
    }
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        t = drop_first(s, u, mid);
        if (method_budget_of(m, t, false) <= budget + 1e-12) hi = mid;
        else lo = mid + 1;
        subnet_free(t);
    }
    t = drop_first(s, u, lo);
    for (int l = 0; l < s->n_layers; l++) { /* copy back into s */
        SubnetLayer *a = &s->layers[l], *b = &t->layers[l];
        memcpy(a->head_keep, b->head_keep, (size_t)a->n_heads);
        memcpy(a->chan_keep, b->chan_keep, (size_t)a->hidden_dim);
        a->attn_on = b->attn_on;
        a->mlp_on = b->mlp_on;
    }
    subnet_free(t);
    free(u);
    return 0;
}

int method_flap(const MethodInput *in, MethodResult *out) {
    Subnet *s = subnet_dense(in->model);
    if (method_global_threshold(in->model, s, in->scores.head_score, in->scores.chan_score, in->budget) != 0) {
        subnet_free(s);
        return err_prefix("method flap");
    }
    out->subnet = s;
    out->budget = method_budget_of(in->model, s, false);
    out->replace_first = -1;
    int h = 0, H = 0, c = 0, C = 0;
    for (int l = 0; l < s->n_layers; l++) {
        h += subnet_kept_heads(&s->layers[l]), H += s->layers[l].n_heads;
        c += subnet_kept_channels(&s->layers[l]), C += s->layers[l].hidden_dim;
    }
    snprintf(out->note, sizeof out->note,
             "kept %d/%d heads and %d/%d channels (global threshold; bias compensation: carve reform --fit bias)", h,
             H, c, C);
    return 0;
}

int method_random(const MethodInput *in, MethodResult *out) {
    const Model *m = in->model;
    int L = m->cfg.n_layers, K = in->random_k > 0 ? in->random_k : 16;
    Pcg32 rng;
    pcg32_seed(&rng, in->seed, 0x72616e646f6dULL); /* "random" */
    double **hs = xcalloc((size_t)L, sizeof *hs), **cs = xcalloc((size_t)L, sizeof *cs);
    for (int l = 0; l < L; l++) {
        hs[l] = xmalloc(((size_t)m->layers[l].n_heads + 1) * sizeof **hs);
        cs[l] = xmalloc(((size_t)m->layers[l].hidden_dim + 1) * sizeof **cs);
    }
    /* the K draws first (the random stream does not depend on the scores), then one batch */
    Subnet **cand = xcalloc((size_t)K, sizeof *cand);
    double *ppl = xcalloc((size_t)K, sizeof *ppl);
    int rc = 0, nc = 0;
    out->n_evals = 0;
    for (int k = 0; k < K && rc == 0; k++) {
        for (int l = 0; l < L; l++) {
            for (int i = 0; i < m->layers[l].n_heads; i++) hs[l][i] = pcg32_double(&rng);
            for (int i = 0; i < m->layers[l].hidden_dim; i++) cs[l][i] = pcg32_double(&rng);
        }
        cand[nc] = subnet_dense(m);
        rc = method_global_threshold(m, cand[nc], (const double *const *)hs, (const double *const *)cs, in->budget);
        nc++;
    }
    if (rc == 0) {
        rc = method_ppl_batch(in, (const Subnet *const *)cand, nc, ppl);
        out->n_evals = nc;
    }
    int b = -1; /* the lowest ppl, the first of equals */
    for (int k = 0; rc == 0 && k < nc; k++)
        if (b < 0 || ppl[k] < ppl[b]) b = k;
    Subnet *best = rc == 0 ? cand[b] : NULL;
    double best_ppl = rc == 0 ? ppl[b] : 0;
    for (int k = 0; k < nc; k++)
        if (cand[k] != best) subnet_free(cand[k]);
    free(cand);
    free(ppl);
    for (int l = 0; l < L; l++) free(hs[l]), free(cs[l]);
    free(hs);
    free(cs);
    if (rc != 0) return err_prefix("method random");
    out->subnet = best;
    out->budget = method_budget_of(m, best, false);
    out->calib_ppl = best_ppl;
    out->replace_first = -1;
    snprintf(out->note, sizeof out->note, "best of %d random subnets (calibration ppl %.3f)", K, best_ppl);
    return 0;
}
