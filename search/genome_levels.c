/* genome_levels — the genome operators of the level space (see genome.h, reform/levels.h).
 * A subnet is worked on as its level vector lev (2 per layer: attention, MLP) and a working copy
 * of the subnet kept in step with it (level_grid_set), so a move's cost is one cost_ratio. */
#include "search/genome.h"

#include <math.h>
#include <stdlib.h>

#include "runtime/base/util.h"

static const LevelList *list_of(const GenomeSpace *gs, int i) {
    return i % 2 ? &gs->levels->mlp[i / 2] : &gs->levels->attn[i / 2];
}

/* The lowest level that runs (1 when level 0 is "skipped"). */
static int first_running(const LevelList *ll) { return ll->n > 1 && ll->count[0] == 0 ? 1 : 0; }

static void set_level(const GenomeSpace *gs, Subnet *s, int *lev, int i, int v) {
    lev[i] = v;
    level_grid_set(gs->levels, s, i / 2, i % 2 == 0, v);
}

/* s's level vector (malloc'ed), or NULL when s is off the grid. */
static int *levels_of(const GenomeSpace *gs, const Subnet *s) {
    int *lev = xmalloc((size_t)(2 * s->n_layers) * sizeof *lev);
    if (level_grid_levels(gs->levels, s, lev)) {
        free(lev);
        return NULL;
    }
    return lev;
}

Subnet *genome_levels_init(const GenomeSpace *gs, double ratio, double lo, double hi) {
    int n = 2 * gs->m->cfg.n_layers;
    int *lev = xmalloc((size_t)n * sizeof *lev);
    for (int i = 0; i < n; i++) {
        const LevelList *ll = list_of(gs, i);
        int units = i % 2 ? gs->m->layers[i / 2].hidden_dim : gs->m->layers[i / 2].n_heads, best = first_running(ll);
        double bd = INFINITY;
        for (int v = first_running(ll); v < ll->n && units > 0; v++) {
            double d = fabs((double)ll->count[v] / units - ratio);
            if (d <= bd) bd = d, best = v; /* ascending counts: a tie goes to the larger */
        }
        lev[i] = best;
    }
    Subnet *s = level_grid_subnet(gs->levels, gs->m, lev);
    free(lev);
    Pcg32 r;
    pcg32_seed(&r, 0x1f2e3d4c, 7); /* only picks which sublayer steps: fixed for a reproducible init */
    if (genome_levels_repair(gs, &r, s, lo, hi)) {
        subnet_free(s);
        return NULL;
    }
    return s;
}

Subnet *genome_levels_random(const GenomeSpace *gs, Pcg32 *r) {
    int n = 2 * gs->m->cfg.n_layers;
    int *lev = xmalloc((size_t)n * sizeof *lev);
    for (int i = 0; i < n; i++) {
        const LevelList *ll = list_of(gs, i);
        int f = first_running(ll);
        double u = pcg32_double(r);
        lev[i] = f == 1 && u < gs->depth_prob ? 0 : f + (int)pcg32_below(r, (uint32_t)(ll->n - f));
    }
    Subnet *s = level_grid_subnet(gs->levels, gs->m, lev);
    free(lev);
    return s;
}

int genome_levels_repair(const GenomeSpace *gs, Pcg32 *r, Subnet *s, double lo, double hi) {
    subnet_canonicalize(s);
    int *lev = levels_of(gs, s);
    if (!lev) return -1;
    int n = 2 * s->n_layers, total = 0;
    for (int i = 0; i < n; i++) total += list_of(gs, i)->n;
    int *opt = xmalloc((size_t)n * sizeof *opt), *hit = xmalloc((size_t)n * sizeof *hit);
    double c = genome_cost(gs, s);
    for (int iter = 0; iter < 4 * total + 16 && (c > hi || c < lo); iter++) {
        int d = c < lo ? 1 : -1, n_opt = 0, n_hit = 0;
        for (int i = 0; i < n; i++) { /* sublayers that run and can step in direction d */
            const LevelList *ll = list_of(gs, i);
            int v = lev[i] + d;
            if (ll->count[lev[i]] == 0 || v < first_running(ll) || v >= ll->n) continue;
            opt[n_opt++] = i;
            set_level(gs, s, lev, i, v);
            double c2 = genome_cost(gs, s);
            if (c2 >= lo && c2 <= hi) hit[n_hit++] = i;
            set_level(gs, s, lev, i, v - d);
        }
        if (n_opt == 0) break;
        int i = n_hit ? hit[pcg32_below(r, (uint32_t)n_hit)] : opt[pcg32_below(r, (uint32_t)n_opt)];
        set_level(gs, s, lev, i, lev[i] + d);
        c = genome_cost(gs, s);
    }
    free(opt), free(hit), free(lev);
    subnet_canonicalize(s);
    return c <= hi && c >= lo ? 0 : -1;
}

/* A random sublayer that can move one level in direction d (other than `not`), or -1. */
static int pick_movable(const GenomeSpace *gs, Pcg32 *r, const int *lev, int n, int d, int not, int *buf) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        int v = lev[i] + d;
        if (i != not && v >= 0 && v < list_of(gs, i)->n) buf[k++] = i;
    }
    return k ? buf[pcg32_below(r, (uint32_t)k)] : -1;
}

Subnet *genome_level_switch(const GenomeSpace *gs, Pcg32 *r, const Subnet *parent, double prob, double lo,
                            double hi) {
    Subnet *s = subnet_clone(parent);
    int *lev = levels_of(gs, s);
    if (!lev) return s;
    int n = 2 * s->n_layers, pairs = 1;
    for (int l = 1; l < s->n_layers; l++) pairs += pcg32_double(r) < prob;
    int *buf = xmalloc((size_t)n * sizeof *buf);
    for (int p = 0; p < pairs; p++)
        for (int t = 0; t < 32; t++) {
            int up = pick_movable(gs, r, lev, n, 1, -1, buf), down = pick_movable(gs, r, lev, n, -1, up, buf);
            if (up < 0 || down < 0) break;
            set_level(gs, s, lev, up, lev[up] + 1);
            set_level(gs, s, lev, down, lev[down] - 1);
            double c = genome_cost(gs, s);
            if (c >= lo && c <= hi) break;
            set_level(gs, s, lev, up, lev[up] - 1);
            set_level(gs, s, lev, down, lev[down] + 1);
        }
    free(buf), free(lev);
    subnet_canonicalize(s);
    return s;
}
