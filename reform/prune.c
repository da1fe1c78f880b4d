/* prune — uniform-ratio subnet from scores at a budget (bisection on the exact cost). See prune.h. */
#include "reform/prune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/cost.h"

typedef struct {
    double s;
    int i;
} Ranked;

static int by_score_desc(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->i - y->i; /* ties: lower index first (deterministic) */
}

/* keep[] <- the k highest of score[0..n) */
static void top_k(const double *score, int n, int k, uint8_t *keep) {
    Ranked *r = xmalloc((size_t)n * sizeof *r);
    for (int i = 0; i < n; i++) r[i] = (Ranked){isnan(score[i]) ? -INFINITY : score[i], i};
    qsort(r, (size_t)n, sizeof *r, by_score_desc);
    memset(keep, 0, (size_t)n);
    for (int i = 0; i < k && i < n; i++) keep[r[i].i] = 1;
    free(r);
}

static int kept(double r, int n) {
    int k = (int)lround(r * n);
    return k < 1 ? 1 : k > n ? n : k;
}

static void fill(const Model *m, double *const *head, double *const *chan, double r, Subnet *s) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        SubnetLayer *L = &s->layers[l];
        if (L->n_heads > 0 && L->attn_on) top_k(head[l], L->n_heads, kept(r, L->n_heads), L->head_keep);
        if (L->hidden_dim > 0 && L->mlp_on) top_k(chan[l], L->hidden_dim, kept(r, L->hidden_dim), L->chan_keep);
    }
}

int prune_uniform(const Model *m, double *const *head, double *const *chan, double budget, Subnet **out,
                  double *ratio_out) {
    *out = NULL;
    if (!(budget > 0 && budget <= 1)) return err_set("budget %g is not in (0, 1]", budget);
    Subnet *s = subnet_dense(m);
    double lo = 0, hi = 1;
    fill(m, head, chan, lo, s);
    double c0 = cost_ratio(m, s, COST_PARAMS, m->cfg.max_seq_len);
    if (c0 > budget) {
        subnet_free(s);
        return err_set("budget %.4f is below the smallest uniform subnet (1 head and 1 channel per layer: %.4f)",
                       budget, c0);
    }
    fill(m, head, chan, hi, s);
    if (cost_ratio(m, s, COST_PARAMS, m->cfg.max_seq_len) > budget) {
        for (int it = 0; it < 60; it++) {
            double mid = 0.5 * (lo + hi);
            fill(m, head, chan, mid, s);
            if (cost_ratio(m, s, COST_PARAMS, m->cfg.max_seq_len) <= budget) lo = mid;
            else hi = mid;
        }
        fill(m, head, chan, lo, s);
    } else lo = 1;
    subnet_canonicalize(s);
    if (ratio_out) *ratio_out = lo;
    *out = s;
    return 0;
}
