/* kl — the dense top-K reference and the KL sums of the Evaluator over the forward pass's
 * classifier tiles (see kl.h for the definitions, the tail rule and the summation order). */
#include "eval/kl.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"

struct DenseRef {
    int n, len, k;       /* windows, tokens per window, entries per position */
    uint64_t tokens;     /* hash of the windows' token ids */
    int32_t *ids;        /* (n, len-1, k) ascending per position */
    float *lp;           /* (n, len-1, k) dense log-probabilities */
    float *rest;         /* (n, len-1) remaining mass r */
};

static uint64_t windows_hash(const Windows *w) {
    return fnv1a64(FNV64_INIT, w->tokens, (size_t)w->n * w->len * sizeof *w->tokens);
}

/* A top-K candidate of the build pass. */
typedef struct {
    float v;
    int32_t id;
} Ent;

/* ---- one pass over a batch: per-row state of the current chunk of rows ---- */

typedef struct {
    int V, T, K, w0;         /* vocabulary, window length, entries, first window of the batch */
    DenseRef *ref;
    /* per row (capacity: rows of one forward call) */
    double *mx, *s;          /* running max logit and sum of exp(logit - mx) (KL: over the tail only) */
    float *val;              /* KL: (rows, K) logits of the reference's ids */
    Ent *heap;               /* build: (rows, K) the top K so far, a heap per row */
    int *cnt;                /* build: heap size; KL: next ref entry */
    double *out;             /* KL: divergence of each row of the chunk */
    double *win;             /* KL, optional: per-window sums, entry 0 = window win0 */
    int win0;
    double sum;              /* KL: sum over the batch, row order */
    int64_t n;
} Pass;

static void pass_alloc(Pass *p, int rows, int K) {
    p->mx = xmalloc((size_t)rows * sizeof *p->mx);
    p->s = xmalloc((size_t)rows * sizeof *p->s);
    p->out = xmalloc((size_t)rows * sizeof *p->out);
    p->cnt = xmalloc((size_t)rows * sizeof *p->cnt);
    p->val = xmalloc((size_t)rows * K * sizeof *p->val);
    p->heap = xmalloc((size_t)rows * K * sizeof *p->heap);
}

static void pass_free(Pass *p) {
    free(p->mx), free(p->s), free(p->out), free(p->cnt), free(p->val), free(p->heap);
}

/* Offset of row r (b*T + t - 1 of the batch) among the reference's positions. */
static size_t ref_pos(const Pass *p, int32_t r) {
    int b = r / p->T, t1 = r % p->T;
    return (size_t)(p->w0 + b) * (p->T - 1) + (size_t)t1;
}

static void lse_merge(double *mx, double *s, float bm, double bs) {
    if (bm > *mx) *s = *s * exp(*mx - (double)bm) + bs, *mx = bm;
    else *s += bs * exp((double)bm - *mx);
}

/* heap order: the worst entry (lowest logit; among equal ones the higher id) at the top */
static int worse(float va, int32_t ia, float vb, int32_t ib) { return va < vb || (va == vb && ia > ib); }

static void heap_down(Ent *h, int n, int i) {
    for (;;) {
        int a = 2 * i + 1, b = a + 1, w = i;
        if (a < n && worse(h[a].v, h[a].id, h[w].v, h[w].id)) w = a;
        if (b < n && worse(h[b].v, h[b].id, h[w].v, h[w].id)) w = b;
        if (w == i) return;
        Ent t = h[i];
        h[i] = h[w], h[w] = t, i = w;
    }
}

static void heap_up(Ent *h, int i) {
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!worse(h[i].v, h[i].id, h[p].v, h[p].id)) return;
        Ent t = h[i];
        h[i] = h[p], h[p] = t, i = p;
    }
}

static int by_id(const void *a, const void *b) {
    int32_t x = ((const Ent *)a)->id, y = ((const Ent *)b)->id;
    return (x > y) - (x < y);
}

static void build_tile(void *ud, const int32_t *rows, int k, int v0, int vb, const float *logits) {
    Pass *p = ud;
    int K = p->K;
    bool last = v0 + vb == p->V;
#pragma omp parallel for schedule(static) if ((size_t)k * vb > 65536)
    for (int i = 0; i < k; i++) {
        const float *l = logits + (size_t)i * vb;
        Ent *h = p->heap + (size_t)i * K;
        if (v0 == 0) p->mx[i] = -INFINITY, p->s[i] = 0.0, p->cnt[i] = 0;
        float bm = l[0];
        for (int j = 1; j < vb; j++) bm = l[j] > bm ? l[j] : bm;
        double bs = 0.0;
        int c = p->cnt[i];
        for (int j = 0; j < vb; j++) {
            bs += exp((double)l[j] - bm);
            int32_t id = v0 + j;
            if (c < K) {
                h[c] = (Ent){l[j], id};
                heap_up(h, c++);
            } else if (worse(h[0].v, h[0].id, l[j], id)) {
                h[0] = (Ent){l[j], id};
                heap_down(h, K, 0);
            }
        }
        p->cnt[i] = c;
        lse_merge(&p->mx[i], &p->s[i], bm, bs);
        if (!last) continue;
        size_t at = ref_pos(p, rows[i]);
        double logz = p->mx[i] + log(p->s[i]), sk = 0.0;
        qsort(h, (size_t)K, sizeof *h, by_id);
        for (int e = 0; e < K; e++) {
            sk += exp((double)h[e].v - p->mx[i]);
            p->ref->ids[at * K + e] = h[e].id;
            p->ref->lp[at * K + e] = (float)((double)h[e].v - logz);
        }
        double r = (p->s[i] - sk) / p->s[i];
        p->ref->rest[at] = (float)(r > 0.0 ? r : 0.0);
    }
}

static void kl_tile(void *ud, const int32_t *rows, int k, int v0, int vb, const float *logits) {
    Pass *p = ud;
    int K = p->K;
    bool last = v0 + vb == p->V;
    const DenseRef *ref = p->ref;
#pragma omp parallel for schedule(static) if ((size_t)k * vb > 65536)
    for (int i = 0; i < k; i++) {
        const float *l = logits + (size_t)i * vb;
        size_t at = ref_pos(p, rows[i]);
        const int32_t *ids = ref->ids + at * K;
        float *g = p->val + (size_t)i * K;
        if (v0 == 0) p->mx[i] = -INFINITY, p->s[i] = 0.0, p->cnt[i] = 0;
        float bm = l[0];
        for (int j = 1; j < vb; j++) bm = l[j] > bm ? l[j] : bm;
        double bs = 0.0; /* the tail: ids outside the reference's top K */
        int c = p->cnt[i];
        for (int j = 0; j < vb; j++) {
            if (c < K && ids[c] == v0 + j) g[c++] = l[j];
            else bs += exp((double)l[j] - bm);
        }
        p->cnt[i] = c;
        lse_merge(&p->mx[i], &p->s[i], bm, bs);
        if (!last) continue;
        double mx = p->mx[i], sk = 0.0;
        for (int e = 0; e < K; e++) sk += exp((double)g[e] - mx);
        double z = sk + p->s[i], logz = mx + log(z), kl = 0.0;
        const float *lp = ref->lp + at * K;
        for (int e = 0; e < K; e++) {
            double lpe = lp[e];
            kl += exp(lpe) * (lpe - ((double)g[e] - logz));
        }
        double r = ref->rest[at];
        if (r > 0.0) {
            double qr = p->s[i] / z;
            if (qr < DBL_MIN) qr = DBL_MIN;
            kl += r * log(r / qr);
        }
        p->out[i] = kl;
    }
    if (last) {
        for (int i = 0; i < k; i++) p->sum += p->out[i];
        if (p->win)
            for (int i = 0; i < k; i++) p->win[p->w0 - p->win0 + rows[i] / p->T] += p->out[i];
        p->n += k;
    }
}

/* Run tile callback cb over windows [w0, w1) of ev under (model, s), batch by batch. */
static int over_batches(Evaluator *ev, const Model *model, const Subnet *s, int w0, int w1, ForwardTileFn cb,
                        Pass *p, double *total, int64_t *n) {
    const Windows *w = evaluator_windows(ev);
    int T = w->len, B = evaluator_batch(ev);
    Forward *f = evaluator_bind(ev, model, s);
    if (!f) return -1;
    p->T = T;
    p->V = forward_model(f)->cfg.vocab_size;
    pass_alloc(p, B * T, p->K);
    int rc = 0;
    for (int a = w0; a < w1 && !rc;) {
        int b = (a / B + 1) * B;
        if (b > w1) b = w1;
        p->w0 = a, p->sum = 0.0, p->n = 0;
        rc = forward_logit_tiles(f, w->tokens + (size_t)a * T, b - a, T, cb, p);
        *total += p->sum, *n += p->n; /* batch sums in window order */
        a = b;
    }
    pass_free(p);
    return rc;
}

int dense_ref_build(Evaluator *ev, int k, DenseRef **out) {
    *out = NULL;
    const Windows *w = evaluator_windows(ev);
    Forward *f = evaluator_bind(ev, NULL, NULL);
    if (!f) return -1;
    int V = forward_model(f)->cfg.vocab_size;
    if (k < 1) return err_set("KL reference: top_k must be at least 1, got %d", k);
    if (k > V) k = V;
    DenseRef *r = xcalloc(1, sizeof *r);
    r->n = w->n, r->len = w->len, r->k = k, r->tokens = windows_hash(w);
    size_t pos = (size_t)w->n * (w->len - 1);
    r->ids = xmalloc(pos * k * sizeof *r->ids);
    r->lp = xmalloc(pos * k * sizeof *r->lp);
    r->rest = xmalloc(pos * sizeof *r->rest);
    Pass p = {.K = k, .ref = r};
    double total = 0.0;
    int64_t n = 0;
    if (over_batches(ev, NULL, NULL, 0, w->n, build_tile, &p, &total, &n)) {
        dense_ref_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void dense_ref_free(DenseRef *r) {
    if (!r) return;
    free(r->ids), free(r->lp), free(r->rest);
    free(r);
}

int dense_ref_k(const DenseRef *r) { return r->k; }

size_t dense_ref_bytes(const DenseRef *r) {
    size_t pos = (size_t)r->n * (r->len - 1);
    return pos * r->k * (sizeof *r->ids + sizeof *r->lp) + pos * sizeof *r->rest;
}

static int kl_over(Evaluator *ev, const DenseRef *ref, const Model *model, const Subnet *s, int w0, int w1,
                   KlSums *out, double *win) {
    *out = (KlSums){0};
    const Windows *w = evaluator_windows(ev);
    if (w0 < 0 || w1 < w0 || w1 > w->n)
        return err_set("KL: window range [%d, %d) outside [0, %d)", w0, w1, w->n);
    if (ref->n != w->n || ref->len != w->len || ref->tokens != windows_hash(w))
        return err_set("KL: the dense reference was built over other windows (%d x %d) than these (%d x %d)", ref->n,
                       ref->len, w->n, w->len);
    if (w0 == w1) return 0;
    Pass p = {.K = ref->k, .ref = (DenseRef *)ref, .win = win, .win0 = w0}; /* kl_tile only reads ref */
    if (win) memset(win, 0, (size_t)(w1 - w0) * sizeof *win);
    return over_batches(ev, model, s, w0, w1, kl_tile, &p, &out->kl_sum, &out->n_scored);
}

int evaluator_kl_sums(Evaluator *ev, const DenseRef *ref, const Model *model, const Subnet *s, int w0, int w1,
                      KlSums *out) {
    return kl_over(ev, ref, model, s, w0, w1, out, NULL);
}

int evaluator_kl_windows(Evaluator *ev, const DenseRef *ref, const Model *model, const Subnet *s, int w0, int w1,
                         KlSums *out, double *win) {
    return kl_over(ev, ref, model, s, w0, w1, out, win);
}

int eval_kl_of(const KlSums *sums, const char *what, double *kl) {
    if (sums->n_scored <= 0) return err_set("%s: no scored tokens", what ? what : "evaluation");
    *kl = sums->kl_sum / (double)sums->n_scored;
    return 0;
}
