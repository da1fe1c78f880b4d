/* levels — the level grid and the database of reformed sublayers (see levels.h). */
#include "reform/levels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"

/* ---- the grid ---- */

/* The allowed kept counts of a sublayer of n units (ascending, into a, returns how many): the
 * multiples of step in the ratio range, and n when the range reaches 1; {n} when the sublayer is
 * not searched or no multiple fits (the genome's rule for the plain space). */
static int allowed_counts(int n, int step, const double range[2], bool searched, int *a) {
    if (!searched) return a[0] = n, 1;
    if (step > n) step = n;
    int kmin = (int)ceil(fmax(range[0] * n - 1e-9, 1.0) / step) * step;
    int kmax = (int)floor((range[1] * n + 1e-9) / step) * step, k = 0;
    if (kmax > n) kmax = n;
    for (int c = kmin; c <= kmax; c += step) a[k++] = c;
    if (range[1] >= 1.0 - 1e-12 && (k == 0 || a[k - 1] != n)) a[k++] = n;
    if (k == 0) a[k++] = n;
    return k;
}

/* The levels of a sublayer of n units: K ratios evenly over range, each at the nearest allowed
 * count (ties: the larger), duplicates merged; level 0 = skipped first when skip. */
static void level_list(int n, int step, const double range[2], bool searched, bool skip, int K, LevelList *out) {
    out->count = xmalloc((size_t)(K + 2) * sizeof *out->count);
    out->n = 0;
    if (n <= 0) { /* the model has no such sublayer here */
        out->count[out->n++] = 0;
        return;
    }
    if (skip) out->count[out->n++] = 0;
    int *a = xmalloc((size_t)(n + 1) * sizeof *a), na = allowed_counts(n, step, range, searched, a);
    for (int i = 0; i < K; i++) {
        double want = (range[0] + (range[1] - range[0]) * i / (K - 1)) * n, bd = INFINITY;
        int best = a[0];
        for (int j = 0; j < na; j++)
            if (fabs(a[j] - want) < bd || (fabs(a[j] - want) == bd && a[j] > best)) bd = fabs(a[j] - want), best = a[j];
        if (out->n == 0 || out->count[out->n - 1] < best) out->count[out->n++] = best;
    }
    free(a);
}

static int unit_desc(const void *pa, const void *pb) {
    const UnitRank *x = pa, *y = pb;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->idx - y->idx;
}

void units_by_score(const float *score, int n, UnitRank *out) {
    for (int i = 0; i < n; i++) out[i] = (UnitRank){score[i], i};
    qsort(out, (size_t)n, sizeof *out, unit_desc);
}

/* Units 0..n-1 by score descending, ties by index. */
static int *importance_order(const float *score, int n) {
    UnitRank *u = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *u);
    int *order = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    units_by_score(score, n, u);
    for (int i = 0; i < n; i++) order[i] = u[i].idx;
    free(u);
    return order;
}

int level_grid_build(const Model *m, const LevelSpec *spec, float *const *head_score, float *const *chan_score,
                     LevelGrid **out) {
    *out = NULL;
    int L = m->cfg.n_layers;
    if (spec->levels < 2) return err_set("level space: levels must be at least 2, got %d", spec->levels);
    for (int l = 0; l < L; l++)
        if (m->layers[l].replace.data) return err_set("level space: layer %d is a fitted linear map, not sublayers", l);
    LevelGrid *g = xcalloc(1, sizeof *g);
    g->n_layers = L;
    g->attn = xcalloc((size_t)L, sizeof *g->attn);
    g->mlp = xcalloc((size_t)L, sizeof *g->mlp);
    g->head_order = xcalloc((size_t)L, sizeof *g->head_order);
    g->chan_order = xcalloc((size_t)L, sizeof *g->chan_order);
    for (int l = 0; l < L; l++) {
        const LayerWeights *W = &m->layers[l];
        level_list(W->n_heads, 1, spec->attn_ratio, spec->heads, spec->skip, spec->levels, &g->attn[l]);
        level_list(W->hidden_dim, spec->channel_multiple, spec->mlp_ratio, spec->channels, spec->skip, spec->levels,
                   &g->mlp[l]);
        g->head_order[l] = importance_order(head_score[l], W->n_heads);
        g->chan_order[l] = importance_order(chan_score[l], W->hidden_dim);
    }
    *out = g;
    return 0;
}

void level_grid_free(LevelGrid *g) {
    if (!g) return;
    for (int l = 0; l < g->n_layers; l++) {
        free(g->attn[l].count), free(g->mlp[l].count);
        free(g->head_order[l]), free(g->chan_order[l]);
    }
    free(g->attn), free(g->mlp), free(g->head_order), free(g->chan_order);
    free(g);
}

void level_grid_set(const LevelGrid *g, Subnet *s, int l, bool attn, int v) {
    SubnetLayer *S = &s->layers[l];
    int n = attn ? S->n_heads : S->hidden_dim, c = (attn ? g->attn : g->mlp)[l].count[v];
    uint8_t *keep = attn ? S->head_keep : S->chan_keep;
    const int *order = attn ? g->head_order[l] : g->chan_order[l];
    if (n > 0) memset(keep, 0, (size_t)n);
    for (int i = 0; i < c; i++) keep[order[i]] = 1;
    if (attn) S->attn_on = c > 0;
    else S->mlp_on = c > 0;
}

Subnet *level_grid_subnet(const LevelGrid *g, const Model *m, const int *lev) {
    Subnet *s = subnet_dense(m);
    for (int l = 0; l < g->n_layers; l++) {
        level_grid_set(g, s, l, true, lev[2 * l]);
        level_grid_set(g, s, l, false, lev[2 * l + 1]);
    }
    subnet_canonicalize(s);
    return s;
}

/* The level of one sublayer whose mask is keep (n units, k kept), or -1. */
static int level_of(const LevelList *ll, const int *order, const uint8_t *keep, int k) {
    for (int v = 0; v < ll->n; v++) {
        if (ll->count[v] != k) continue;
        for (int i = 0; i < k; i++)
            if (!keep[order[i]]) return -1;
        return v;
    }
    return -1;
}

int level_grid_levels(const LevelGrid *g, const Subnet *s, int *lev) {
    if (s->n_layers != g->n_layers)
        return err_set("level space: subnet has %d layers, the grid %d", s->n_layers, g->n_layers);
    for (int l = 0; l < g->n_layers; l++) {
        const SubnetLayer *S = &s->layers[l];
        int kh = subnet_kept_heads(S), kc = subnet_kept_channels(S);
        lev[2 * l] = level_of(&g->attn[l], g->head_order[l], S->head_keep, kh);
        lev[2 * l + 1] = level_of(&g->mlp[l], g->chan_order[l], S->chan_keep, kc);
        if (lev[2 * l] < 0 || lev[2 * l + 1] < 0)
            return err_set("level space: layer %d of the subnet (%d heads, %d channels) is not on the level grid", l,
                           kh, kc);
    }
    return 0;
}

/* ---- the database ---- */

struct LevelDb {
    const Model *m;
    const LevelGrid *g;
    Model *hold;           /* owns every buffer; its embedding, classifier and norms are shared */
    LayerWeights *base;    /* per layer: the two norms */
    LayerWeights **attn;   /* [layer][level]: the attention fields of that level (skipped: empty) */
    LayerWeights **mlp;    /* [layer][level]: the MLP fields */
    size_t bytes;
};

/* An owned copy of t in db (absent stays absent). */
static Tensor dup(LevelDb *db, const Tensor *t) {
    if (!t->data) return *t;
    size_t sz = (size_t)(t->rows * t->cols) * dtype_size(t->dtype);
    void *d = model_own(db->hold, xmalloc_aligned(sz ? sz : 1));
    memcpy(d, t->data, sz);
    db->bytes += sz;
    return tensor_make(t->dtype, t->rows, t->cols, d);
}

/* The level of list ll that level index j of the build stands for: the j-th level that runs
 * (the last one when ll has fewer). */
static int build_level(const LevelList *ll, int j) {
    int v = (ll->count[0] == 0 ? 1 : 0) + j;
    return v < ll->n ? v : ll->n - 1;
}

static int running_levels(const LevelList *ll) { return ll->n - (ll->count[0] == 0 ? 1 : 0); }

/* Take level index j's pieces from E, the reformation of build subnet j. */
static void take_pieces(LevelDb *db, const Model *E, int j) {
    const LevelGrid *g = db->g;
    if (j == 0) {
        db->hold->tok_embedding = dup(db, &E->tok_embedding);
        db->hold->classifier = E->classifier.data == E->tok_embedding.data ? db->hold->tok_embedding
                                                                            : dup(db, &E->classifier);
        db->hold->final_norm = dup(db, &E->final_norm);
        db->hold->rope_freqs = dup(db, &E->rope_freqs);
    }
    for (int l = 0; l < g->n_layers; l++) {
        const LayerWeights *W = &E->layers[l];
        if (j == 0) {
            db->base[l].attn_norm = dup(db, &W->attn_norm);
            db->base[l].ffn_norm = dup(db, &W->ffn_norm);
        }
        int va = build_level(&g->attn[l], j), vm = build_level(&g->mlp[l], j);
        LayerWeights *A = &db->attn[l][va], *M = &db->mlp[l][vm];
        if (g->attn[l].count[va] > 0 && !A->wq.data) {
            A->n_heads = W->n_heads, A->n_kv_heads = W->n_kv_heads;
            A->wq = dup(db, &W->wq), A->wk = dup(db, &W->wk), A->wv = dup(db, &W->wv);
            A->bq = dup(db, &W->bq), A->bk = dup(db, &W->bk), A->bv = dup(db, &W->bv);
            A->wo = dup(db, &W->wo), A->bo = dup(db, &W->bo);
        }
        if (g->mlp[l].count[vm] > 0 && !M->w_gate.data) {
            M->hidden_dim = W->hidden_dim;
            M->w_gate = dup(db, &W->w_gate), M->w_up = dup(db, &W->w_up);
            M->w_down = dup(db, &W->w_down), M->b_down = dup(db, &W->b_down);
        }
    }
}

int level_db_build(const Model *m, const LevelGrid *g, const StatsFile *sf, const ReformOptions *o, bool quiet,
                   LevelDb **out) {
    *out = NULL;
    int L = m->cfg.n_layers, most = 1;
    if (g->n_layers != L) return err_set("level database: the grid has %d layers, the model %d", g->n_layers, L);
    LevelDb *db = xcalloc(1, sizeof *db);
    db->m = m, db->g = g;
    db->hold = model_alloc(L);
    db->base = xcalloc((size_t)L, sizeof *db->base);
    db->attn = xcalloc((size_t)L, sizeof *db->attn);
    db->mlp = xcalloc((size_t)L, sizeof *db->mlp);
    for (int l = 0; l < L; l++) {
        db->attn[l] = xcalloc((size_t)g->attn[l].n, sizeof **db->attn);
        db->mlp[l] = xcalloc((size_t)g->mlp[l].n, sizeof **db->mlp);
        if (running_levels(&g->attn[l]) > most) most = running_levels(&g->attn[l]);
        if (running_levels(&g->mlp[l]) > most) most = running_levels(&g->mlp[l]);
    }
    /* one reformation per level index j: every sublayer at its j-th running level */
    int *lev = xmalloc((size_t)(2 * L) * sizeof *lev), rc = 0;
    double t0 = now_seconds();
    for (int j = 0; j < most && !rc; j++) {
        for (int l = 0; l < L; l++) lev[2 * l] = build_level(&g->attn[l], j), lev[2 * l + 1] = build_level(&g->mlp[l], j);
        Subnet *s = level_grid_subnet(g, m, lev);
        Model *E = NULL;
        rc = reform_oneshot(m, s, sf, o, &E);
        if (!rc) take_pieces(db, E, j);
        model_free(E);
        subnet_free(s);
        if (!rc && !quiet && (j + 1 == most || now_seconds() - t0 > 2.0)) /* a line per level when slow */
            fprintf(stderr, "level database: %d/%d levels reformed (%.1f MiB, %.1f s)\n", j + 1, most,
                    (double)db->bytes / 1048576.0, now_seconds() - t0);
    }
    free(lev);
    if (rc) {
        level_db_free(db);
        return err_prefix("level database");
    }
    *out = db;
    return 0;
}

int level_db_model(const LevelDb *db, const Subnet *s, Model **out) {
    *out = NULL;
    const Model *m = db->m;
    int L = m->cfg.n_layers;
    int *lev = xmalloc((size_t)(2 * L) * sizeof *lev);
    if (level_grid_levels(db->g, s, lev)) {
        free(lev);
        return -1;
    }
    Model *o = model_alloc(L);
    o->cfg = m->cfg;
    o->format = "memory";
    size_t plen = strlen(m->path ? m->path : "model") + 16;
    o->path = xmalloc(plen);
    snprintf(o->path, plen, "%s (stitched)", m->path ? m->path : "model");
    o->tok_embedding = db->hold->tok_embedding;
    o->classifier = db->hold->classifier;
    o->final_norm = db->hold->final_norm;
    o->rope_freqs = db->hold->rope_freqs;
    for (int l = 0; l < L; l++) {
        LayerWeights *O = &o->layers[l];
        const LayerWeights *A = &db->attn[l][lev[2 * l]], *M = &db->mlp[l][lev[2 * l + 1]];
        *O = db->base[l];
        O->n_heads = A->n_heads, O->n_kv_heads = A->n_kv_heads;
        O->wq = A->wq, O->wk = A->wk, O->wv = A->wv, O->bq = A->bq, O->bk = A->bk, O->bv = A->bv;
        O->wo = A->wo, O->bo = A->bo;
        O->hidden_dim = M->hidden_dim;
        O->w_gate = M->w_gate, O->w_up = M->w_up, O->w_down = M->w_down, O->b_down = M->b_down;
    }
    free(lev);
    /* the identity of the extracted model of s (runtime/model/extract.c) */
    uint64_t h = fnv1a64(FNV64_INIT, &m->identity, sizeof m->identity), sh = subnet_hash(s);
    o->identity = fnv1a64(h, &sh, sizeof sh);
    if (model_validate(o, o->path)) {
        model_free(o);
        return -1;
    }
    *out = o;
    return 0;
}

size_t level_db_bytes(const LevelDb *db) { return db->bytes; }

void level_db_free(LevelDb *db) {
    if (!db) return;
    for (int l = 0; l < db->m->cfg.n_layers; l++) free(db->attn[l]), free(db->mlp[l]);
    free(db->attn), free(db->mlp), free(db->base);
    model_free(db->hold);
    free(db);
}
