/* genome — variation operators and budget repair on Subnet masks (see genome.h).
 * A sublayer's allowed kept counts ("Units") are the multiples of its step (1 head, or
 * channel_multiple channels) inside its ratio range, plus the full count when the range
 * reaches 1; a sublayer the space does not search keeps everything. */
#include "search/genome.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"

typedef struct {
    int n, step, kmin, kmax;  /* allowed: multiples of step in [kmin, kmax] ... */
    bool full_ok;             /* ... and n itself */
    bool searchable;
} Units;

static Units units_of(int n, int step, const double range[2], bool searchable) {
    Units u = {n, 1, n, n, true, false};
    if (!searchable || n <= 0) return u;
    if (step > n) step = n;
    int kmin = (int)ceil(fmax(range[0] * n - 1e-9, 1.0) / step) * step;
    int kmax = (int)floor((range[1] * n + 1e-9) / step) * step;
    bool full_ok = range[1] >= 1.0 - 1e-12;
    if (kmax > n) kmax = n;
    if (kmin > kmax && !full_ok) return u; /* no count of the range is a multiple of step: keep all */
    u = (Units){n, step, kmin, kmax, full_ok, true};
    return u;
}

static int units_n_multiples(const Units *u) { return u->kmax >= u->kmin ? (u->kmax - u->kmin) / u->step + 1 : 0; }
static bool units_full_extra(const Units *u) {
    return u->full_ok && !(units_n_multiples(u) > 0 && u->kmax == u->n);
}

/* Largest allowed count below k, or -1. */
static int units_below(const Units *u, int k) {
    if (!u->searchable) return -1;
    int c = u->step * ((k - 1) / u->step);
    if (c > u->kmax) c = u->kmax;
    return c >= u->kmin && c >= 1 ? c : -1;
}

/* Smallest allowed count above k, or -1. */
static int units_above(const Units *u, int k) {
    if (!u->searchable) return -1;
    int c = u->step * (k / u->step + 1);
    if (c < u->kmin) c = u->kmin;
    if (c <= u->kmax) return c;
    return u->full_ok && k < u->n ? u->n : -1;
}

static int units_random(const Units *u, Pcg32 *r) {
    if (!u->searchable) return u->n;
    int nm = units_n_multiples(u), total = nm + (units_full_extra(u) ? 1 : 0);
    int i = (int)pcg32_below(r, (uint32_t)total);
    return i < nm ? u->kmin + i * u->step : u->n;
}

/* Allowed count nearest ratio * n (ties: the larger). */
static int units_round(const Units *u, double ratio) {
    if (!u->searchable) return u->n;
    double want = ratio * u->n;
    int best = -1;
    double bd = INFINITY;
    int nm = units_n_multiples(u);
    for (int i = 0; i <= nm; i++) {
        int k = i < nm ? u->kmin + i * u->step : (units_full_extra(u) ? u->n : -1);
        if (k < 0) continue;
        double d = fabs(k - want);
        if (d < bd || (d == bd && k > best)) bd = d, best = k;
    }
    return best;
}

static Units head_units(const GenomeSpace *gs, const SubnetLayer *l) {
    return units_of(l->n_heads, 1, gs->space.attn_ratio, gs->space.heads);
}
static Units chan_units(const GenomeSpace *gs, const SubnetLayer *l) {
    return units_of(l->hidden_dim, gs->space.channel_multiple, gs->space.mlp_ratio, gs->space.channels);
}

void genome_space_init(GenomeSpace *gs, const Model *m, const SpaceConfig *space, double overlap,
                       double depth_prob, CostKind kind, int seq_len) {
    memset(gs, 0, sizeof *gs);
    gs->m = m;
    gs->space = *space;
    gs->overlap = overlap;
    gs->depth_prob = depth_prob;
    gs->kind = kind;
    gs->seq_len = seq_len;
    int L = m->cfg.n_layers;
    gs->head_score = xcalloc((size_t)L, sizeof *gs->head_score);
    gs->chan_score = xcalloc((size_t)L, sizeof *gs->chan_score);
    for (int l = 0; l < L; l++) {
        gs->head_score[l] = xcalloc((size_t)(m->layers[l].n_heads + 1), sizeof(float));
        gs->chan_score[l] = xcalloc((size_t)(m->layers[l].hidden_dim + 1), sizeof(float));
    }
}

void genome_space_free(GenomeSpace *gs) {
    if (!gs->m) return;
    for (int l = 0; l < gs->m->cfg.n_layers; l++) {
        free(gs->head_score[l]);
        free(gs->chan_score[l]);
    }
    free(gs->head_score);
    free(gs->chan_score);
    memset(gs, 0, sizeof *gs);
}

double genome_cost(const GenomeSpace *gs, const Subnet *s) { return cost_ratio(gs->m, s, gs->kind, gs->seq_len); }

/* ---- kept-set helpers ---- */

/* keep <- the k highest-scoring of n units (the level grid's order, reform/levels.h). */
static void keep_top(uint8_t *keep, int n, int k, const float *score) {
    UnitRank *rk = xmalloc((size_t)n * sizeof *rk);
    units_by_score(score, n, rk);
    memset(keep, 0, (size_t)n);
    for (int i = 0; i < k && i < n; i++) keep[rk[i].idx] = 1;
    free(rk);
}

/* Pick `want` random members of idx[0..n) (partial Fisher-Yates) and set keep[] for them. */
static void pick_random(Pcg32 *r, int *idx, int n, int want, uint8_t *keep) {
    for (int i = 0; i < want && i < n; i++) {
        int j = i + (int)pcg32_below(r, (uint32_t)(n - i));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        keep[idx[i]] = 1;
    }
}

/* How a random operator draws units of one sublayer: uniformly (bias 0, the paper's operators),
 * or biased toward the importance order (config algorithm.unit_bias): a unit of importance rank
 * q (0 = the most important of the sublayer's n) is drawn with weight exp(bias * (n-1-q) / n)
 * when important units are wanted (kept, added), exp(bias * q / n) when unimportant ones are
 * (removed). */
typedef struct {
    const float *score; /* the sublayer's importance (higher = more important) */
    double bias;        /* 0 = uniform */
} Draw;

typedef struct {
    double key;
    int idx;
} Keyed;

static int cmp_keyed(const void *pa, const void *pb) {
    const Keyed *a = pa, *b = pb;
    if (a->key != b->key) return a->key > b->key ? -1 : 1;
    return a->idx - b->idx;
}

/* Pick `want` of idx[0..n) (units of a sublayer of n_all) and set keep[] for them: uniformly when
 * d's bias is 0 (partial Fisher-Yates, pick_random), else without replacement with Draw's weights
 * (Gumbel-top-k: the `want` largest of log weight + Gumbel noise). */
static void pick_drawn(Pcg32 *r, const Draw *d, int *idx, int n, int want, uint8_t *keep, int n_all, bool important) {
    if (!d || d->bias <= 0 || !d->score) {
        pick_random(r, idx, n, want, keep);
        return;
    }
    UnitRank *rk = xmalloc((size_t)n_all * sizeof *rk);
    int *rank = xmalloc((size_t)n_all * sizeof *rank);
    Keyed *kv = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *kv);
    units_by_score(d->score, n_all, rk);
    for (int i = 0; i < n_all; i++) rank[rk[i].idx] = i;
    for (int i = 0; i < n; i++) {
        int q = rank[idx[i]];
        double u = pcg32_double(r), pref = important ? n_all - 1 - q : q;
        if (u <= 0) u = 1e-300;
        kv[i] = (Keyed){d->bias * pref / n_all - log(-log(u)), idx[i]};
    }
    qsort(kv, (size_t)n, sizeof *kv, cmp_keyed);
    for (int i = 0; i < want && i < n; i++) keep[kv[i].idx] = 1;
    free(kv);
    free(rank);
    free(rk);
}

/* Redraw a kept set of n units to k_new members, keeping at least `overlap` of
 * min(old, new) of the old members (Algorithm 1's overlap constraint); which old members stay and
 * which new ones come in are drawn by d (important ones preferred when biased). */
static void redraw(Pcg32 *r, const Draw *d, uint8_t *keep, int n, int k_new, double overlap) {
    int *in = xmalloc((size_t)n * sizeof *in), *out = xmalloc((size_t)n * sizeof *out);
    int k = 0, o = 0;
    for (int i = 0; i < n; i++) {
        if (keep[i]) in[k++] = i;
        else out[o++] = i;
    }
    int lo_keep = (int)ceil(overlap * (k < k_new ? k : k_new) - 1e-9);
    if (lo_keep < k_new - o) lo_keep = k_new - o;
    int hi_keep = k < k_new ? k : k_new;
    if (lo_keep > hi_keep) lo_keep = hi_keep;
    int m = lo_keep + (int)pcg32_below(r, (uint32_t)(hi_keep - lo_keep + 1));
    memset(keep, 0, (size_t)n);
    pick_drawn(r, d, in, k, m, keep, n, true);
    pick_drawn(r, d, out, o, k_new - m, keep, n, true);
    free(in);
    free(out);
}

static void random_set(Pcg32 *r, uint8_t *keep, int n, int k) {
    int *idx = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *idx);
    for (int i = 0; i < n; i++) idx[i] = i;
    memset(keep, 0, (size_t)n);
    pick_random(r, idx, n, k, keep);
    free(idx);
}

static int count_kept(const uint8_t *keep, int n) {
    int c = 0;
    for (int i = 0; i < n; i++) c += keep[i] != 0;
    return c;
}

/* Remove (grow = false) or add (grow = true) `d` units of a kept set: the least / most
 * important ones when score is given, else drawn by dr (the most / least important preferred
 * when biased). */
static void adjust_set(Pcg32 *r, uint8_t *keep, int n, int d, bool grow, const float *score, const Draw *dr) {
    int *cand = xmalloc((size_t)n * sizeof *cand), nc = 0;
    for (int i = 0; i < n; i++)
        if ((keep[i] != 0) != grow) cand[nc++] = i;
    if (score) {
        for (int t = 0; t < d && nc > 0; t++) {
            int best = 0;
            for (int i = 1; i < nc; i++) {
                float a = score[cand[i]], b = score[cand[best]];
                if (grow ? a > b : a < b) best = i;
            }
            keep[cand[best]] = grow;
            cand[best] = cand[--nc];
        }
    } else {
        uint8_t *mark = xcalloc((size_t)n, 1);
        pick_drawn(r, dr, cand, nc, d, mark, n, grow);
        for (int i = 0; i < n; i++)
            if (mark[i]) keep[i] = grow;
        free(mark);
    }
    free(cand);
}

/* ---- operators ---- */

static bool can_toggle(const GenomeSpace *gs) { return gs->space.sublayers || gs->space.layers; }

Subnet *genome_importance_init(const GenomeSpace *gs, double ratio, double lo, double hi) {
    if (gs->levels) return genome_levels_init(gs, ratio, lo, hi);
    Subnet *s = subnet_dense(gs->m);
    for (int l = 0; l < s->n_layers; l++) {
        SubnetLayer *L = &s->layers[l];
        Units hu = head_units(gs, L), cu = chan_units(gs, L);
        if (L->n_heads > 0) keep_top(L->head_keep, L->n_heads, units_round(&hu, ratio), gs->head_score[l]);
        if (L->hidden_dim > 0) keep_top(L->chan_keep, L->hidden_dim, units_round(&cu, ratio), gs->chan_score[l]);
    }
    Pcg32 r;
    pcg32_seed(&r, 0x1f2e3d4c, 7); /* only picks which sublayer to adjust: fixed for a reproducible init */
    if (genome_repair(gs, &r, s, lo, hi, DRAW_IMPORTANCE)) {
        subnet_free(s);
        return NULL;
    }
    return s;
}

/* Switch a sublayer on with a random allowed count of its most important units. */
static void switch_on(const GenomeSpace *gs, Pcg32 *r, SubnetLayer *L, int l, bool attn) {
    if (attn && L->n_heads > 0) {
        Units u = head_units(gs, L);
        keep_top(L->head_keep, L->n_heads, units_random(&u, r), gs->head_score[l]);
        L->attn_on = true;
    } else if (!attn && L->hidden_dim > 0) {
        Units u = chan_units(gs, L);
        keep_top(L->chan_keep, L->hidden_dim, units_random(&u, r), gs->chan_score[l]);
        L->mlp_on = true;
    }
}

static void toggle_depth(const GenomeSpace *gs, Pcg32 *r, SubnetLayer *L, int l) {
    if (gs->space.sublayers) {
        bool attn = pcg32_below(r, 2) == 0;
        if (attn ? L->attn_on : L->mlp_on) {
            if (attn) L->attn_on = false;
            else L->mlp_on = false;
        } else {
            switch_on(gs, r, L, l, attn);
        }
    } else if (gs->space.layers) {
        if (L->attn_on || L->mlp_on) {
            L->attn_on = L->mlp_on = false;
        } else {
            switch_on(gs, r, L, l, true);
            switch_on(gs, r, L, l, false);
        }
    }
}

Subnet *genome_mutate(const GenomeSpace *gs, Pcg32 *r, const Subnet *parent, double prob) {
    if (gs->levels) return genome_level_switch(gs, r, parent, prob, -INFINITY, INFINITY);
    Subnet *s = subnet_clone(parent);
    for (int l = 0; l < s->n_layers; l++) {
        SubnetLayer *L = &s->layers[l];
        double ua = pcg32_double(r), um = pcg32_double(r), ud = pcg32_double(r);
        Units hu = head_units(gs, L), cu = chan_units(gs, L);
        Draw dh = {gs->head_score[l], gs->unit_bias}, dc = {gs->chan_score[l], gs->unit_bias};
        if (ua < prob && L->attn_on && hu.searchable)
            redraw(r, &dh, L->head_keep, L->n_heads, units_random(&hu, r), gs->overlap);
        if (um < prob && L->mlp_on && cu.searchable)
            redraw(r, &dc, L->chan_keep, L->hidden_dim, units_random(&cu, r), gs->overlap);
        if (ud < gs->depth_prob && can_toggle(gs)) toggle_depth(gs, r, L, l);
    }
    subnet_canonicalize(s);
    return s;
}

static void copy_layer(SubnetLayer *dst, const SubnetLayer *src) {
    memcpy(dst->head_keep, src->head_keep, (size_t)src->n_heads);
    memcpy(dst->chan_keep, src->chan_keep, (size_t)src->hidden_dim);
    dst->attn_on = src->attn_on;
    dst->mlp_on = src->mlp_on;
}

Subnet *genome_crossover(const GenomeSpace *gs, Pcg32 *r, const Subnet *a, const Subnet *b, double prob) {
    (void)gs;
    Subnet *s = subnet_clone(a);
    for (int l = 0; l < s->n_layers; l++)
        if (pcg32_double(r) < prob) copy_layer(&s->layers[l], &b->layers[l]);
    subnet_canonicalize(s);
    return s;
}

Subnet *genome_random(const GenomeSpace *gs, Pcg32 *r) {
    if (gs->levels) return genome_levels_random(gs, r);
    Subnet *s = subnet_dense(gs->m);
    for (int l = 0; l < s->n_layers; l++) {
        SubnetLayer *L = &s->layers[l];
        Units hu = head_units(gs, L), cu = chan_units(gs, L);
        if (L->n_heads > 0) random_set(r, L->head_keep, L->n_heads, units_random(&hu, r));
        if (L->hidden_dim > 0) random_set(r, L->chan_keep, L->hidden_dim, units_random(&cu, r));
        double u1 = pcg32_double(r), u2 = pcg32_double(r);
        if (gs->space.sublayers) {
            if (u1 < gs->depth_prob) L->attn_on = false;
            if (u2 < gs->depth_prob) L->mlp_on = false;
        } else if (gs->space.layers && u1 < gs->depth_prob) {
            L->attn_on = L->mlp_on = false;
        }
    }
    subnet_canonicalize(s);
    return s;
}

/* The core of one kept set (space.core, genome.h): its ceil(core * k) most important units are
 * kept; each one missing comes in for the least important kept unit outside the core. The count,
 * and so the cost, stays. */
static bool core_project(uint8_t *keep, int n, double core, const float *score) {
    int k = count_kept(keep, n), c = (int)ceil(core * k - 1e-9);
    bool changed = false;
    if (c <= 0) return false;
    UnitRank *rk = xmalloc((size_t)n * sizeof *rk);
    units_by_score(score, n, rk);
    int out = n - 1; /* rk[out..n) holds no kept unit outside the core */
    for (int i = 0; i < c; i++) {
        if (keep[rk[i].idx]) continue;
        while (!keep[rk[out].idx]) out--;
        assert(out >= c); /* k kept, fewer than c of them in the core: one lies beyond it */
        keep[rk[out].idx] = 0;
        keep[rk[i].idx] = 1;
        changed = true;
    }
    free(rk);
    return changed;
}

/* Every running searchable sublayer of s brought to the space's core (genome.h); whether any
 * unit moved. */
static bool genome_core(const GenomeSpace *gs, Subnet *s) {
    bool changed = false;
    if (!(gs->space.core > 0)) return false;
    for (int l = 0; l < s->n_layers; l++) {
        SubnetLayer *L = &s->layers[l];
        Units hu = head_units(gs, L), cu = chan_units(gs, L);
        if (L->attn_on && hu.searchable)
            changed |= core_project(L->head_keep, L->n_heads, gs->space.core, gs->head_score[l]);
        if (L->mlp_on && cu.searchable)
            changed |= core_project(L->chan_keep, L->hidden_dim, gs->space.core, gs->chan_score[l]);
    }
    return changed;
}

/* genome_repair's unit steps: one step of a random sublayer that can move at a time until the
 * cost is in [lo, hi] or nothing can move. Returns the cost reached. */
static double repair_steps(const GenomeSpace *gs, Pcg32 *r, Subnet *s, double lo, double hi, GenomeDraw how) {
    int total = 0;
    for (int l = 0; l < s->n_layers; l++) total += s->layers[l].n_heads + s->layers[l].hidden_dim;
    int *opt = xmalloc((size_t)(2 * s->n_layers + 1) * sizeof *opt);
    double c = genome_cost(gs, s);
    for (int iter = 0; iter < 4 * total + 16 && (c > hi || c < lo); iter++) {
        bool grow = c < lo;
        /* sublayers that can move one step in the needed direction: 2*l = attention, 2*l+1 = MLP */
        int n_opt = 0;
        for (int l = 0; l < s->n_layers; l++) {
            SubnetLayer *L = &s->layers[l];
            Units hu = head_units(gs, L), cu = chan_units(gs, L);
            int kh = count_kept(L->head_keep, L->n_heads), kc = count_kept(L->chan_keep, L->hidden_dim);
            if (L->attn_on && (grow ? units_above(&hu, kh) : units_below(&hu, kh)) > 0) opt[n_opt++] = 2 * l;
            if (L->mlp_on && (grow ? units_above(&cu, kc) : units_below(&cu, kc)) > 0) opt[n_opt++] = 2 * l + 1;
        }
        if (n_opt == 0) break;
        int pick = opt[pcg32_below(r, (uint32_t)n_opt)], l = pick / 2;
        SubnetLayer *L = &s->layers[l];
        bool attn = pick % 2 == 0;
        const float *sc = attn ? gs->head_score[l] : gs->chan_score[l];
        Draw d = {sc, how == DRAW_BIASED ? gs->unit_bias : 0};
        if (attn) {
            Units u = head_units(gs, L);
            int k = count_kept(L->head_keep, L->n_heads), k2 = grow ? units_above(&u, k) : units_below(&u, k);
            adjust_set(r, L->head_keep, L->n_heads, abs(k2 - k), grow, how == DRAW_IMPORTANCE ? sc : NULL, &d);
        } else {
            Units u = chan_units(gs, L);
            int k = count_kept(L->chan_keep, L->hidden_dim), k2 = grow ? units_above(&u, k) : units_below(&u, k);
            adjust_set(r, L->chan_keep, L->hidden_dim, abs(k2 - k), grow, how == DRAW_IMPORTANCE ? sc : NULL, &d);
        }
        c = genome_cost(gs, s);
    }
    free(opt);
    return c;
}

int genome_repair(const GenomeSpace *gs, Pcg32 *r, Subnet *s, double lo, double hi, GenomeDraw how) {
    if (gs->levels) return genome_levels_repair(gs, r, s, lo, hi);
    subnet_canonicalize(s);
    double c = repair_steps(gs, r, s, lo, hi, how);
    /* The core's swaps keep every count, but a head moved to another KV group can change the KV
     * heads kept and so the cost: then the steps again, and the core again. */
    for (int round = 0; genome_core(gs, s); round++) {
        c = genome_cost(gs, s);
        if (c <= hi && c >= lo) break;
        c = repair_steps(gs, r, s, lo, hi, how);
        if (round == 3) { /* the core may not hold after these steps: dropped */
            subnet_canonicalize(s);
            return -1;
        }
    }
    subnet_canonicalize(s);
    return c <= hi && c >= lo ? 0 : -1;
}

char *genome_summary(const Subnet *s) {
    size_t cap = (size_t)s->n_layers * 24 + 1, len = 0;
    char *out = xmalloc(cap);
    out[0] = 0;
    for (int l = 0; l < s->n_layers; l++) {
        const SubnetLayer *L = &s->layers[l];
        char h[12], c[12];
        if (subnet_kept_heads(L)) snprintf(h, sizeof h, "%d", subnet_kept_heads(L));
        else snprintf(h, sizeof h, "-");
        if (subnet_kept_channels(L)) snprintf(c, sizeof c, "%d", subnet_kept_channels(L));
        else snprintf(c, sizeof c, "-");
        len += (size_t)snprintf(out + len, cap - len, "%s%s/%s", l ? " " : "", h, c);
    }
    return out;
}
