/* engine — GA / NSGA-II search loop with a persistent evaluation cache, the random
 * baseline and the final step (see engine.h for the resume and repair rules).
 * Size: over 600 lines because GA and NSGA-II, the random baseline and the final step share the
 * run context, the evaluation cache and the resume-from-database logic (engine.h). */
#include "search/engine.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"
#include "search/stages.h"

#define MAX_TRIES 50

typedef struct {
    Subnet *s;
    uint64_t hash;
    int64_t id;
    double fit, cost;
    int stage;        /* selection stage the fitness is of (0 = the first) */
    int rank;
    double crowd;
} Indiv;

/* ---- evaluation cache: subnet hash -> stored candidate (open addressing) ---- */

typedef struct {
    uint64_t hash;
    int64_t id;
    double fit, cost;
    int stage, windows;   /* stage of fit; calibration windows spent on it */
} CacheEntry;

typedef struct {
    CacheEntry *slots;   /* id == 0: empty */
    size_t cap, n;
} Cache;

static CacheEntry *cache_find(Cache *c, uint64_t h) {
    size_t i = (size_t)(h * 0x9e3779b97f4a7c15ULL) & (c->cap - 1);
    while (c->slots[i].id && c->slots[i].hash != h) i = (i + 1) & (c->cap - 1);
    return &c->slots[i];
}

static void cache_put(Cache *c, CacheEntry e) {
    if (2 * (c->n + 1) > c->cap) {
        Cache big = {xcalloc(2 * c->cap, sizeof(CacheEntry)), 2 * c->cap, 0};
        for (size_t i = 0; i < c->cap; i++)
            if (c->slots[i].id) *cache_find(&big, c->slots[i].hash) = c->slots[i], big.n++;
        free(c->slots);
        *c = big;
    }
    CacheEntry *slot = cache_find(c, e.hash);
    if (!slot->id) c->n++;
    *slot = e;
}

typedef struct {
    Engine *e;
    const SearchConfig *cfg;
    Cache cache;
    int64_t n_new, n_hits;        /* evaluations / cache hits in this process */
    int64_t gen_new;              /* evaluations in the current generation */
    int64_t tokens;               /* forward tokens of the fitness spent in the run (all processes) */
    double t0;
    bool reformed_any;            /* the final step reformed something */
} Ctx;

static void indiv_free(Indiv *v, int n) {
    for (int i = 0; i < n; i++) subnet_free(v[i].s), v[i].s = NULL;
}

int engine_task(void *engine, TaskKind kind, bool reform, int stage, const Subnet *s, TaskResult *out) {
    const Engine *e = engine;
    double t = now_seconds();
    int rc;
    memset(out, 0, sizeof *out);
    if (kind == TASK_FITNESS) {
        rc = e->fitness(e->ud, s, stage, &out->v[0]);
    } else if (kind == TASK_RESCORE) {
        rc = e->rescore(e->ud, s, reform, &out->v[0]);
    } else {
        bool reformed = false;
        out->v[1] = out->v[2] = NAN;
        rc = e->final(e->ud, s, reform, &reformed, &out->v[1], &out->v[2]);
        out->v[0] = reformed;
    }
    out->seconds = now_seconds() - t;
    return rc;
}

/* Score s[0..n) through the batch seam (or one after another here). */
static int run_batch(Ctx *c, TaskKind kind, bool reform, int stage, const Subnet *const *s, int n, TaskResult *out) {
    Engine *e = c->e;
    if (n == 0) return 0;
    if (e->batch) return e->batch(e->batch_ud, kind, reform, stage, s, n, out);
    for (int i = 0; i < n; i++)
        if (engine_task(e, kind, reform, stage, s[i], &out[i])) return -1;
    return 0;
}

/* Fill v[0..n) (each owns its s) with fitness and cost: from the cache, else scored as one
 * batch and inserted as candidate rows in the order of v (inside the caller's transaction), so
 * the rows and their ids are those of evaluating v one by one. A subnet repeated within v is
 * scored once; the later copies are cache hits. */
static int evaluate_batch(Ctx *c, Indiv *v, int n, int generation) {
    Engine *e = c->e;
    const Subnet **todo = xmalloc((size_t)(n ? n : 1) * sizeof *todo);
    int *slot = xmalloc((size_t)(n ? n : 1) * sizeof *slot); /* v[i] -> todo index, -1: cached, -2: repeat */
    int k = 0;
    for (int i = 0; i < n; i++) {
        subnet_canonicalize(v[i].s);
        v[i].hash = subnet_hash(v[i].s);
        slot[i] = -1;
        if (cache_find(&c->cache, v[i].hash)->id) continue;
        slot[i] = k;
        for (int j = 0; j < i && slot[i] >= 0; j++)
            if (slot[j] >= 0 && v[j].hash == v[i].hash) slot[i] = -2;
        if (slot[i] >= 0) todo[k++] = v[i].s;
    }
    TaskResult *res = xcalloc((size_t)(k ? k : 1), sizeof *res);
    int rc = run_batch(c, TASK_FITNESS, false, 0, todo, k, res);
    const Model *m = e->gs->m;
    int w0 = stage_windows_of(c->cfg, 0);
    for (int i = 0; i < n && !rc; i++) {
        if (slot[i] < 0) { /* cached (by now also every repeat) */
            CacheEntry *hit = cache_find(&c->cache, v[i].hash);
            assert(hit->id);
            v[i].id = hit->id, v[i].fit = hit->fit, v[i].cost = hit->cost, v[i].stage = hit->stage;
            c->n_hits++;
            continue;
        }
        Cost cost = cost_of(m, v[i].s, e->gs->seq_len);
        CandRow row = {0};
        row.run_id = e->run_id;
        row.generation = generation;
        row.hash = v[i].hash;
        row.subnet = subnet_to_json(v[i].s, m);
        row.summary = genome_summary(v[i].s);
        row.params = cost.params_total;
        row.flops = cost.flops_per_token;
        row.params_ratio = cost_ratio(m, v[i].s, COST_PARAMS, e->gs->seq_len);
        row.cost_ratio = genome_cost(e->gs, v[i].s);
        row.fitness = res[slot[i]].v[0];
        row.reformed_fitness = row.eval_ppl = NAN;
        row.eval_seconds = res[slot[i]].seconds;
        row.fit_stage = 1, row.fit_windows = w0;
        rc = store_cand_insert(e->st, &row);
        cand_row_free(&row);
        if (rc) break;
        v[i].id = row.id, v[i].fit = row.fitness, v[i].cost = row.cost_ratio, v[i].stage = 0;
        cache_put(&c->cache, (CacheEntry){v[i].hash, v[i].id, v[i].fit, v[i].cost, 0, w0});
        c->tokens += (int64_t)w0 * c->cfg->calib_len;
        c->n_new++;
        c->gen_new++;
    }
    free(res);
    free(slot);
    free(todo);
    return rc ? -1 : 0;
}

/* Staged selection over v[0..n) (already scored; groups of sizes gn[0..ng) — the populations):
 * for each later stage, the members of each group that advance (stages.h) are scored on it as one
 * batch (a subnet named in several groups once) and their rows, cache entries and every copy in v
 * take the new fitness and stage. */
static int stage_up(Ctx *c, Indiv *v, int n, const int *gn, int ng) {
    const SearchConfig *cfg = c->cfg;
    int S = stage_count(cfg), rc = 0;
    if (S < 2 || n == 0) return 0;
    double *fit = xmalloc((size_t)n * sizeof *fit);
    uint64_t *hash = xmalloc((size_t)n * sizeof *hash);
    int *stage = xmalloc((size_t)n * sizeof *stage), *pick = xmalloc((size_t)n * sizeof *pick);
    const Subnet **todo = xmalloc((size_t)n * sizeof *todo);
    int *who = xmalloc((size_t)n * sizeof *who);
    TaskResult *res = xcalloc((size_t)n, sizeof *res);
    for (int s = 1; s < S && !rc; s++) {
        for (int i = 0; i < n; i++) fit[i] = v[i].fit, hash[i] = v[i].hash, stage[i] = v[i].stage;
        int k = 0;
        for (int g = 0, at = 0; g < ng; at += gn[g], g++) {
            int np = stage_pick(fit + at, hash + at, stage + at, gn[g], s, stage_keep_of(cfg, s - 1), pick);
            for (int q = 0; q < np; q++) {
                int i = at + pick[q], dup = 0;
                for (int j = 0; j < k && !dup; j++) dup = v[who[j]].hash == v[i].hash;
                if (!dup) who[k] = i, todo[k++] = v[i].s;
            }
        }
        rc = run_batch(c, TASK_FITNESS, false, s, todo, k, res);
        int ws = stage_windows_of(cfg, s);
        for (int q = 0; q < k && !rc; q++) {
            CacheEntry *h = cache_find(&c->cache, v[who[q]].hash);
            assert(h->id);
            h->fit = res[q].v[0], h->stage = s, h->windows += ws;
            c->tokens += (int64_t)ws * cfg->calib_len;
            rc = store_cand_set_stage(c->e->st, h->id, h->fit, s + 1, h->windows, res[q].seconds);
            for (int i = 0; i < n; i++)
                if (v[i].hash == h->hash) v[i].fit = h->fit, v[i].stage = s;
        }
    }
    free(fit), free(hash), free(stage), free(pick), free(todo), free(who), free(res);
    return rc ? -1 : 0;
}

/* The 0-based selection stage of a stored candidate's fitness (fit_stage is 1-based, 0 = NULL in an
 * older database: the first stage). */
static int row_stage(const CandRow *row) { return row->fit_stage > 0 ? row->fit_stage - 1 : 0; }

/* Load stored candidate `id` as an individual. */
static int load_indiv(Ctx *c, int64_t id, Indiv *v) {
    CandRow row;
    bool found;
    if (store_cand_get(c->e->st, id, true, &row, &found)) return -1;
    if (!found) return err_set("database: candidate %lld is missing", (long long)id);
    int rc = subnet_from_json(row.subnet, c->e->gs->m, "database", &v->s);
    if (rc == 0) {
        v->hash = row.hash, v->id = row.id, v->fit = row.fitness, v->cost = row.cost_ratio;
        v->stage = row_stage(&row);
        v->rank = 0, v->crowd = 0;
    }
    cand_row_free(&row);
    return rc;
}

static int load_population(Ctx *c, int budget, int generation, Indiv *pop, int n) {
    int64_t *ids;
    int k;
    if (store_population_get(c->e->st, c->e->run_id, budget, generation, &ids, &k)) return -1;
    if (k != n) {
        free(ids);
        return err_set("database: run '%s' generation %d holds %d individuals, expected %d", c->cfg->name,
                       generation, k, n);
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) rc = load_indiv(c, ids[i], &pop[i]);
    free(ids);
    return rc;
}

/* The PCG32 stream of (seed, run, budget, generation, purpose). The run enters only by the name
 * the config gives it: a single-run config's default name (its file's base name) does not, so
 * the same config under another file name gives the same rows. */
static void rng_for(const Ctx *c, int budget, int generation, int purpose, Pcg32 *r) {
    uint64_t h = FNV64_INIT;
    if (c->cfg->name_given) h = fnv1a64(h, c->cfg->name, strlen(c->cfg->name));
    int32_t k[3] = {budget, generation, purpose};
    h = fnv1a64(h, k, sizeof k);
    pcg32_seed(r, c->cfg->algo.seed, h);
}

static bool in_pop(const Indiv *pop, int n, uint64_t h) {
    for (int i = 0; i < n; i++)
        if (pop[i].s && pop[i].hash == h) return true;
    return false;
}

/* ---- offspring ---- */

typedef enum { OFF_MUTATE, OFF_CROSS } OffKind;

/* One repaired offspring into dst from parents par[0..np) (picked by pick(), see below),
 * distinct from pop[0..n) when possible. */
typedef int (*PickFn)(const Indiv *par, int np, Pcg32 *r);

static int pick_uniform(const Indiv *par, int np, Pcg32 *r) {
    (void)par;
    return (int)pcg32_below(r, (uint32_t)np);
}

/* NSGA-II binary tournament: lower rank, then larger crowding distance. */
static int pick_tournament(const Indiv *par, int np, Pcg32 *r) {
    int a = (int)pcg32_below(r, (uint32_t)np), b = (int)pcg32_below(r, (uint32_t)np);
    if (par[a].rank != par[b].rank) return par[a].rank < par[b].rank ? a : b;
    if (par[a].crowd != par[b].crowd) return par[a].crowd > par[b].crowd ? a : b;
    return a < b ? a : b;
}

static void make_offspring(Ctx *c, Pcg32 *r, OffKind kind, double mprob, double xprob, const Indiv *par, int np,
                           PickFn pick, double lo, double hi, const Indiv *pop, int n, Indiv *dst) {
    GenomeSpace *gs = c->e->gs;
    Subnet *fallback = NULL;
    for (int t = 0; t < MAX_TRIES; t++) {
        int a = pick(par, np, r);
        Subnet *s;
        if (kind == OFF_CROSS && np > 1) {
            int b = pick(par, np, r);
            if (b == a) b = (a + 1 + (int)pcg32_below(r, (uint32_t)(np - 1))) % np;
            s = genome_crossover(gs, r, par[a].s, par[b].s, xprob);
        } else {
            s = gs->levels ? genome_level_switch(gs, r, par[a].s, mprob, lo, hi) /* cost-keeping */
                           : genome_mutate(gs, r, par[a].s, mprob);
        }
        if (genome_repair(gs, r, s, lo, hi, DRAW_BIASED)) { /* dropped: cannot meet the budget */
            subnet_free(s);
            continue;
        }
        uint64_t h = subnet_hash(s);
        if (!in_pop(pop, n, h)) {
            subnet_free(fallback);
            dst->s = s, dst->hash = h;
            return;
        }
        if (!fallback) fallback = s;
        else subnet_free(s);
    }
    /* no new feasible subnet found: a duplicate, or a parent's copy */
    dst->s = fallback ? fallback : subnet_clone(par[pick(par, np, r)].s);
    dst->hash = subnet_hash(dst->s);
}

/* ga's ranking: a later selection stage first (stages.h), then fitness, then hash */
static int cmp_fit(const void *pa, const void *pb) {
    const Indiv *a = pa, *b = pb;
    if (a->stage != b->stage) return a->stage > b->stage ? -1 : 1;
    if (a->fit != b->fit) return a->fit < b->fit ? -1 : 1;
    return a->hash < b->hash ? -1 : a->hash > b->hash;
}

static int cmp_rank(const void *pa, const void *pb) {
    const Indiv *a = pa, *b = pb;
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    if (a->crowd != b->crowd) return a->crowd > b->crowd ? -1 : 1;
    return cmp_fit(pa, pb);
}

/* ---- NSGA-II ---- */

void nsga2_rank(const double *f0, const double *f1, int n, int *rank, double *crowd) {
    int *dom_count = xcalloc((size_t)n, sizeof(int)), *front = xmalloc((size_t)n * sizeof(int));
    uint8_t *dominates = xcalloc((size_t)n * (size_t)n, 1); /* dominates[i*n+j]: i dominates j */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j) continue;
            bool le = f0[i] <= f0[j] && f1[i] <= f1[j], lt = f0[i] < f0[j] || f1[i] < f1[j];
            if (le && lt) dominates[(size_t)i * n + j] = 1, dom_count[j]++;
        }
    int done = 0, r = 0;
    for (int i = 0; i < n; i++) rank[i] = -1;
    while (done < n) {
        int nf = 0;
        for (int i = 0; i < n; i++)
            if (rank[i] < 0 && dom_count[i] == 0) front[nf++] = i;
        for (int k = 0; k < nf; k++) rank[front[k]] = r;
        for (int k = 0; k < nf; k++)
            for (int j = 0; j < n; j++)
                if (dominates[(size_t)front[k] * n + j]) dom_count[j]--;
        /* crowding distance within this front, per objective */
        for (int k = 0; k < nf; k++) crowd[front[k]] = 0;
        for (int obj = 0; obj < 2; obj++) {
            const double *f = obj ? f1 : f0;
            for (int a = 1; a < nf; a++) /* insertion sort of the front by f (then index) */
                for (int b = a; b > 0 && (f[front[b]] < f[front[b - 1]] ||
                                          (f[front[b]] == f[front[b - 1]] && front[b] < front[b - 1]));
                     b--) {
                    int t = front[b];
                    front[b] = front[b - 1];
                    front[b - 1] = t;
                }
            double span = f[front[nf - 1]] - f[front[0]];
            crowd[front[0]] = crowd[front[nf - 1]] = INFINITY;
            for (int k = 1; k + 1 < nf; k++)
                if (span > 0) crowd[front[k]] += (f[front[k + 1]] - f[front[k - 1]]) / span;
        }
        done += nf;
        r++;
    }
    free(dom_count);
    free(front);
    free(dominates);
}

static void rank_pop(Indiv *pop, int n) {
    double *f0 = xmalloc((size_t)n * sizeof(double)), *f1 = xmalloc((size_t)n * sizeof(double)),
           *cr = xmalloc((size_t)n * sizeof(double));
    int *rk = xmalloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) f0[i] = pop[i].fit, f1[i] = pop[i].cost;
    nsga2_rank(f0, f1, n, rk, cr);
    for (int i = 0; i < n; i++) pop[i].rank = rk[i], pop[i].crowd = cr[i];
    free(f0);
    free(f1);
    free(cr);
    free(rk);
}

/* ---- progress ---- */

static void fmt_time(double s, char *out, size_t cap) {
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(out, cap, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else snprintf(out, cap, "%d:%02d", t / 60, t % 60);
}

/* Best fitness among pop members with cost <= target (NAN when none). */
static double best_under(const Indiv *pop, int n, double target) {
    double b = NAN;
    for (int i = 0; i < n; i++)
        if (pop[i].cost <= target + 1e-12 && (isnan(b) || pop[i].fit < b)) b = pop[i].fit;
    return b;
}

static void progress(Ctx *c, int g, int g_start, Indiv **pops, int n_pops, int n) {
    if (c->e->quiet) return;
    const SearchConfig *cfg = c->cfg;
    double el = now_seconds() - c->t0;
    double eta = el / (g - g_start + 1) * (cfg->algo.generations - g - 1);
    char e1[32], e2[32], best[512];
    fmt_time(el, e1, sizeof e1);
    fmt_time(eta, e2, sizeof e2);
    size_t len = 0;
    best[0] = 0;
    for (int b = 0; b < cfg->n_targets && len < sizeof best - 32; b++) {
        double v = n_pops > 1 ? pops[b][0].fit : best_under(pops[0], n, cfg->targets[b]);
        len += (size_t)snprintf(best + len, sizeof best - len, " %.2f:%.3f", cfg->targets[b], v);
    }
    fprintf(stderr, "[%s] generation %d/%d: %lld evaluated (%lld in all, %lld cached) | best%s | %.4gM fitness "
                    "tokens | elapsed %s, ETA %s\n",
            cfg->name, g + 1, cfg->algo.generations, (long long)c->gen_new, (long long)c->n_new,
            (long long)c->n_hits, best, (double)c->tokens / 1e6, e1, e2);
}

/* ---- generations ---- */

/* ga: generation 0 of budget b — the importance-initialised subnet and mutations of it. */
static int ga_init(Ctx *c, int b, double lo, double hi, Pcg32 *r, Indiv *pop, int P) {
    const SearchConfig *cfg = c->cfg;
    Subnet *init = genome_importance_init(c->e->gs, cfg->targets[b], lo, hi);
    if (!init)
        return err_set("%s: run '%s': no subnet of the search space fits budget %.3g (cost ratio in [%.3g, %.3g])",
                       cfg->file, cfg->name, cfg->targets[b], lo, hi);
    pop[0].s = init;
    pop[0].hash = subnet_hash(init);
    for (int i = 1; i < P; i++)
        make_offspring(c, r, OFF_MUTATE, cfg->algo.mutation_prob[0], 0, &pop[0], 1, pick_uniform, lo, hi, pop, i,
                       &pop[i]);
    return 0;
}

/* ga: generation g of a budget from the previous (sorted) one. */
static void ga_next(Ctx *c, int g, double lo, double hi, Pcg32 *r, const Indiv *old, Indiv *pop, int P) {
    const AlgoConfig *a = &c->cfg->algo;
    int pi = g <= 1 ? 0 : 1, k = a->parents, n = 0;
    for (; n < k; n++) { /* the parents survive (elitism) */
        pop[n].s = subnet_clone(old[n].s);
        pop[n].hash = old[n].hash;
    }
    for (int i = 0; i < a->mutations; i++, n++)
        make_offspring(c, r, OFF_MUTATE, a->mutation_prob[pi], 0, old, k, pick_uniform, lo, hi, pop, n, &pop[n]);
    for (int i = 0; i < a->crossovers; i++, n++)
        make_offspring(c, r, OFF_CROSS, a->mutation_prob[pi], a->crossover_prob[pi], old, k, pick_uniform, lo, hi,
                       pop, n, &pop[n]);
    for (; n < P; n++) /* the rest: stronger mutations of the parents (exploration) */
        make_offspring(c, r, OFF_MUTATE, a->mutation_prob[0], 0, old, k, pick_uniform, lo, hi, pop, n, &pop[n]);
}

/* nsga2: generation 0 — importance inits at every target and mutations around them. */
static int nsga_init(Ctx *c, Pcg32 *r, Indiv *pop, int P) {
    const SearchConfig *cfg = c->cfg;
    int B = cfg->n_targets;
    Indiv *inits = xcalloc((size_t)B, sizeof *inits);
    int rc = 0;
    for (int b = 0; b < B && !rc; b++) {
        inits[b].s = genome_importance_init(c->e->gs, cfg->targets[b], cfg->targets[b] - cfg->tolerance,
                                            cfg->targets[b]);
        if (!inits[b].s)
            rc = err_set("%s: run '%s': no subnet of the search space fits budget %.3g", cfg->file, cfg->name,
                         cfg->targets[b]);
    }
    for (int i = 0; i < P && !rc; i++) {
        int b = i % B;
        if (i < B) {
            pop[i].s = subnet_clone(inits[b].s);
            pop[i].hash = subnet_hash(pop[i].s);
        } else {
            make_offspring(c, r, OFF_MUTATE, cfg->algo.mutation_prob[0], 0, &inits[b], 1, pick_uniform,
                           cfg->targets[b] - cfg->tolerance, cfg->targets[b], pop, i, &pop[i]);
        }
    }
    indiv_free(inits, B);
    free(inits);
    return rc;
}

/* Commit one generation: population rows of every budget, last_generation. */
static int commit_generation(Ctx *c, int g, Indiv **pops, int n_pops, int P) {
    Engine *e = c->e;
    for (int b = 0; b < n_pops; b++)
        for (int i = 0; i < P; i++)
            if (store_population_put(e->st, e->run_id, c->cfg->algo.kind == ALGO_GA ? b : -1, g, i, pops[b][i].id))
                return -1;
    if (store_run_set_generation(e->st, e->run_id, g)) return -1;
    return store_commit(e->st);
}

static int search(Ctx *c, int last_gen, Indiv **pops, int *n_pops_out) {
    Engine *e = c->e;
    const SearchConfig *cfg = c->cfg;
    const AlgoConfig *a = &cfg->algo;
    bool ga = a->kind == ALGO_GA;
    int n_pops = ga ? cfg->n_targets : 1, P = a->population;
    *n_pops_out = n_pops;
    double lo_all = cfg->targets[0], hi_all = cfg->targets[0];
    for (int b = 0; b < cfg->n_targets; b++) {
        if (cfg->targets[b] < lo_all) lo_all = cfg->targets[b];
        if (cfg->targets[b] > hi_all) hi_all = cfg->targets[b];
    }
    lo_all -= cfg->tolerance;
    for (int b = 0; b < n_pops; b++) pops[b] = xcalloc((size_t)(P + a->mutations + a->crossovers), sizeof(Indiv));
    if (last_gen >= 0)
        for (int b = 0; b < n_pops; b++)
            if (load_population(c, ga ? b : -1, last_gen, pops[b], P)) return -1;
    int committed = 0, cap = P + a->mutations + a->crossovers;
    /* each generation: every population's offspring (all random draws here, in budget order),
     * then one batch of evaluations for all of them, then selection per population */
    Indiv *next = xcalloc((size_t)(n_pops * cap), sizeof(Indiv)), *flat = xcalloc((size_t)(n_pops * cap), sizeof(Indiv));
    int ns[CFG_MAX_TARGETS] = {0};
    int rc = 0;
    for (int g = last_gen + 1; g < a->generations && !rc; g++) {
        c->gen_new = 0;
        if (store_begin(e->st)) {
            rc = -1;
            break;
        }
        int total = 0;
        for (int b = 0; b < n_pops && !rc; b++) {
            Indiv *nx = next + (size_t)b * cap;
            Pcg32 r;
            rng_for(c, ga ? b : -1, g, 0, &r);
            double lo = ga ? cfg->targets[b] - cfg->tolerance : lo_all, hi = ga ? cfg->targets[b] : hi_all;
            int n = P;
            if (ga && g == 0) rc = ga_init(c, b, lo, hi, &r, nx, P);
            else if (ga) ga_next(c, g, lo, hi, &r, pops[b], nx, P);
            else if (g == 0) rc = nsga_init(c, &r, nx, P);
            else {
                /* offspring by tournament from the ranked previous population, then the union */
                rank_pop(pops[b], P);
                int pi = g <= 1 ? 0 : 1;
                for (int i = 0; i < P; i++) nx[i].s = subnet_clone(pops[b][i].s), nx[i].hash = pops[b][i].hash;
                for (int i = 0; i < a->mutations; i++, n++)
                    make_offspring(c, &r, OFF_MUTATE, a->mutation_prob[pi], 0, pops[b], P, pick_tournament, lo, hi,
                                   nx, n, &nx[n]);
                for (int i = 0; i < a->crossovers; i++, n++)
                    make_offspring(c, &r, OFF_CROSS, a->mutation_prob[pi], a->crossover_prob[pi], pops[b], P,
                                   pick_tournament, lo, hi, nx, n, &nx[n]);
            }
            ns[b] = n;
            if (rc) break;
            memcpy(flat + total, nx, (size_t)n * sizeof *nx);
            total += n;
        }
        if (!rc) {
            rc = evaluate_batch(c, flat, total, g);
            if (!rc && ga) rc = stage_up(c, flat, total, ns, n_pops);
            for (int b = 0, at = 0; b < n_pops; at += ns[b], b++) /* the scored copies back */
                memcpy(next + (size_t)b * cap, flat + at, (size_t)ns[b] * sizeof *flat);
        }
        for (int b = 0; b < n_pops && !rc; b++) {
            Indiv *nx = next + (size_t)b * cap;
            int n = ns[b];
            if (ga) {
                qsort(nx, (size_t)P, sizeof *nx, cmp_fit);
            } else {
                /* environmental selection: drop duplicates, rank the union, keep the best P */
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < i; j++)
                        if (nx[j].s && nx[i].hash == nx[j].hash) {
                            nx[i].fit = INFINITY; /* a duplicate ranks last */
                            nx[i].cost = INFINITY;
                        }
                rank_pop(nx, n);
                qsort(nx, (size_t)n, sizeof *nx, cmp_rank);
                indiv_free(nx + P, n - P);
                /* restore the cached values of any duplicate kept (only when n - P < duplicates) */
                for (int i = 0; i < P; i++)
                    if (isinf(nx[i].fit)) {
                        CacheEntry *h = cache_find(&c->cache, nx[i].hash);
                        nx[i].fit = h->fit, nx[i].cost = h->cost;
                    }
            }
            indiv_free(pops[b], P);
            memcpy(pops[b], nx, (size_t)P * sizeof *nx);
            memset(nx, 0, (size_t)cap * sizeof *nx);
            ns[b] = 0;
        }
        for (int b = 0; b < n_pops; b++) { /* after a failure: the offspring not yet kept */
            indiv_free(next + (size_t)b * cap, ns[b]);
            memset(next + (size_t)b * cap, 0, (size_t)cap * sizeof *next);
            ns[b] = 0;
        }
        if (rc || commit_generation(c, g, pops, n_pops, P)) {
            store_rollback(e->st);
            rc = -1;
            break;
        }
        progress(c, g, last_gen + 1, pops, n_pops, P);
        if (e->stop_after && ++committed >= e->stop_after) rc = 1;
    }
    free(next);
    free(flat);
    return rc;
}

/* ---- random baseline ---- */

static int random_baseline(Ctx *c) {
    Engine *e = c->e;
    const SearchConfig *cfg = c->cfg;
    bool ga = cfg->algo.kind == ALGO_GA;
    for (int b = 0; b < cfg->n_targets; b++) {
        int K = cfg->baseline_random, have;
        if (K < 0) { /* as many as the search evaluated for this budget */
            if (store_population_distinct(e->st, e->run_id, ga ? b : -1, &K)) return -1;
            if (!ga) K /= cfg->n_targets;
        }
        if (K == 0) continue;
        if (store_baseline_count(e->st, e->run_id, b, &have)) return -1;
        if (have >= K) continue;
        double lo = cfg->targets[b] - cfg->tolerance, hi = cfg->targets[b];
        Pcg32 r;
        rng_for(c, b, -1, 1, &r);
        Indiv *v = xcalloc((size_t)K, sizeof *v);
        int rc = store_begin(e->st);
        c->gen_new = 0;
        for (int i = 0; i < K && !rc; i++) { /* draw all, then score them as one batch */
            for (int t = 0; t < MAX_TRIES && !v[i].s; t++) {
                Subnet *s = genome_random(e->gs, &r);
                if (genome_repair(e->gs, &r, s, lo, hi, DRAW_RANDOM) || in_pop(v, i, subnet_hash(s))) subnet_free(s);
                else v[i].s = s;
            }
            if (!v[i].s) {
                rc = err_set("%s: run '%s': no random subnet of the space fits budget %.3g", cfg->file, cfg->name,
                             cfg->targets[b]);
                break;
            }
            subnet_canonicalize(v[i].s);
            v[i].hash = subnet_hash(v[i].s);
        }
        if (!rc) rc = evaluate_batch(c, v, K, -1);
        if (!rc && ga) rc = stage_up(c, v, K, &K, 1);
        int bi = -1; /* the best member as the search ranks (cmp_fit) */
        for (int i = 0; i < K && !rc; i++) {
            rc = store_baseline_put(e->st, e->run_id, b, i, v[i].id);
            if (!rc && (bi < 0 || cmp_fit(&v[i], &v[bi]) < 0)) bi = i;
        }
        double best = bi >= 0 ? v[bi].fit : INFINITY;
        if (!rc) rc = store_commit(e->st);
        indiv_free(v, K);
        free(v);
        if (rc) {
            store_rollback(e->st);
            return -1;
        }
        if (!e->quiet)
            fprintf(stderr, "[%s] random baseline %.2f: %d subnets (%lld evaluated), best fitness %.3f\n", cfg->name,
                    cfg->targets[b], K, (long long)c->gen_new, best);
    }
    return 0;
}

/* ---- final step ---- */

/* Record (budget, role) -> candidate id[i] for i < n and run the final evaluation of each
 * candidate whose result is not stored yet (one batch; a candidate named twice is evaluated
 * once); eval_ppl[i]: its held-out perplexity (NAN when none). */
static int final_many(Ctx *c, int b, double target, const char *const *role, const int64_t *id, int n,
                      double *eval_ppl) {
    Engine *e = c->e;
    const SearchConfig *cfg = c->cfg;
    const Subnet **todo = xcalloc((size_t)(n ? n : 1), sizeof *todo);
    int *slot = xmalloc((size_t)(n ? n : 1) * sizeof *slot), k = 0, rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        slot[i] = -1;
        if (store_final_put(e->st, e->run_id, b, target, role[i], id[i])) {
            rc = -1;
            break;
        }
        CandRow row;
        bool found;
        if (store_cand_get(e->st, id[i], true, &row, &found)) {
            rc = -1;
            break;
        }
        if (!found) {
            rc = err_set("database: candidate %lld is missing", (long long)id[i]);
            break;
        }
        eval_ppl[i] = row.eval_ppl;
        for (int j = 0; j < i; j++)
            if (id[j] == id[i]) slot[i] = slot[j];
        if (slot[i] < 0 && e->final && cfg->final_eval && isnan(row.eval_ppl)) {
            Subnet *s = NULL;
            rc = subnet_from_json(row.subnet, e->gs->m, "database", &s);
            if (!rc) slot[i] = k, todo[k++] = s;
        }
        cand_row_free(&row);
    }
    TaskResult *res = xcalloc((size_t)(k ? k : 1), sizeof *res);
    if (!rc) rc = run_batch(c, TASK_FINAL, cfg->final_reform, 0, todo, k, res);
    for (int i = 0; i < n && !rc; i++) {
        if (slot[i] < 0) continue;
        const TaskResult *r = &res[slot[i]];
        bool first = true; /* stored once, by its first mention */
        for (int j = 0; j < i; j++) first &= slot[j] != slot[i];
        if (first) rc = store_cand_set_final(e->st, id[i], r->v[0] != 0, r->v[1], r->v[2]);
        c->reformed_any |= r->v[0] != 0;
        eval_ppl[i] = r->v[2];
    }
    for (int q = 0; q < k; q++) subnet_free((Subnet *)todo[q]);
    free(todo);
    free(slot);
    free(res);
    return rc ? -1 : 0;
}

/* ga: the index in pop (sorted by fitness) of the budget's result: the best fitness, or with
 * re-ranking the lowest rescore among the first K distinct members (ties: the earlier). */
static int rerank_best(Ctx *c, const Indiv *pop, int P, double target, int *best) {
    Engine *e = c->e;
    const SearchConfig *cfg = c->cfg;
    *best = 0;
    int K = cfg->final_rerank;
    if (!e->rescore || K <= 0) return 0;
    double best_score = INFINITY;
    char line[1024];
    size_t len = 0;
    line[0] = 0;
    int *which = xmalloc((size_t)K * sizeof *which), k = 0;
    const Subnet **sub = xmalloc((size_t)K * sizeof *sub);
    for (int i = 0; i < P && k < K; i++) {
        bool dup = false;
        for (int j = 0; j < i && !dup; j++) dup = pop[j].hash == pop[i].hash;
        if (!dup) which[k] = i, sub[k++] = pop[i].s;
    }
    TaskResult *res = xcalloc((size_t)K, sizeof *res);
    int rc = run_batch(c, TASK_RESCORE, cfg->final_reform, 0, sub, k, res);
    for (int q = 0; q < k && !rc; q++) {
        int i = which[q];
        double sc = res[q].v[0];
        if (sc < best_score) best_score = sc, *best = i;
        if (len < sizeof line - 40)
            len += (size_t)snprintf(line + len, sizeof line - len, " %.3f/%.3f", pop[i].fit, sc);
    }
    free(which);
    free(sub);
    free(res);
    if (rc) return -1;
    if (!e->quiet)
        fprintf(stderr, "[%s] budget %.2f: re-ranked (fitness/rescore):%s -> member %d\n", cfg->name, target, line,
                *best);
    return 0;
}

static int finals(Ctx *c, Indiv **pops) {
    Engine *e = c->e;
    const SearchConfig *cfg = c->cfg;
    bool ga = cfg->algo.kind == ALGO_GA;
    int P = cfg->algo.population;
    for (int b = 0; b < cfg->n_targets; b++) {
        double t = cfg->targets[b];
        if (store_begin(e->st)) return -1;
        int rc = 0;
        double ev_best = NAN, ev_init = NAN, ev_rand = NAN;
        /* the search's best subnet within the budget */
        int best = -1;
        if (ga) rc = rerank_best(c, pops[b], P, t, &best);
        else
            for (int i = 0; i < P; i++)
                if (pops[0][i].cost <= t + 1e-12 && (best < 0 || pops[0][i].fit < pops[0][best].fit)) best = i;
        const Indiv *bi = best >= 0 ? &pops[ga ? b : 0][best] : NULL;
        /* the importance-initialised subnet (a generation-0 member, so a cache hit) */
        Indiv init = {0};
        init.s = genome_importance_init(e->gs, t, t - cfg->tolerance, t);
        bool have_init = init.s != NULL;
        if (!rc && have_init) rc = evaluate_batch(c, &init, 1, 0);
        subnet_free(init.s);
        /* the best of the random baseline */
        int64_t *ids = NULL;
        int k = 0;
        if (!rc) rc = store_baseline_get(e->st, e->run_id, b, &ids, &k);
        int64_t rbest = 0;
        Indiv rb = {0}; /* the best member as the search ranks (cmp_fit) */
        for (int i = 0; i < k && !rc; i++) {
            CandRow row;
            bool found;
            rc = store_cand_get(e->st, ids[i], false, &row, &found);
            if (rc || !found) continue;
            Indiv m = {.hash = row.hash, .fit = row.fitness, .stage = row_stage(&row)};
            if (!rbest || cmp_fit(&m, &rb) < 0) rb = m, rbest = ids[i];
        }
        free(ids);
        /* their final evaluations as one batch */
        const char *roles[3];
        int64_t fid[3];
        double *evp[3], ev[3];
        int nf = 0;
        if (bi) roles[nf] = "best", fid[nf] = bi->id, evp[nf++] = &ev_best;
        if (have_init) roles[nf] = "init", fid[nf] = init.id, evp[nf++] = &ev_init;
        if (rbest) roles[nf] = "random", fid[nf] = rbest, evp[nf++] = &ev_rand;
        if (!rc) rc = final_many(c, b, t, roles, fid, nf, ev);
        for (int i = 0; i < nf && !rc; i++) *evp[i] = ev[i];
        if (!rc) rc = store_commit(e->st);
        if (rc) {
            store_rollback(e->st);
            return -1;
        }
        if (!e->quiet && e->final && cfg->final_eval)
            fprintf(stderr, "[%s] budget %.2f: held-out ppl%s: search %.3f | importance init %.3f | best random %.3f\n",
                    cfg->name, t, c->reformed_any ? " after reformation" : "", ev_best, ev_init, ev_rand);
    }
    if (!ga) { /* every member of the final front */
        rank_pop(pops[0], P);
        if (store_begin(e->st)) return -1;
        const char **roles = xmalloc((size_t)P * sizeof *roles);
        int64_t *fid = xmalloc((size_t)P * sizeof *fid);
        double *ev = xmalloc((size_t)P * sizeof *ev);
        int nf = 0;
        for (int i = 0; i < P; i++)
            if (pops[0][i].rank == 0) roles[nf] = "front", fid[nf++] = pops[0][i].id;
        int rc = final_many(c, -1, NAN, roles, fid, nf, ev);
        free(roles);
        free(fid);
        free(ev);
        if (!rc) rc = store_commit(e->st);
        if (rc) {
            store_rollback(e->st);
            return -1;
        }
    }
    return 0;
}

int engine_run(Engine *e) {
    Ctx c = {0};
    c.e = e;
    c.cfg = e->cfg;
    c.t0 = now_seconds();
    c.cache.cap = 1024;
    c.cache.slots = xcalloc(c.cache.cap, sizeof(CacheEntry));
    CandRow *rows;
    int n;
    if (store_cand_list(e->st, e->run_id, &rows, &n)) return -1;
    for (int i = 0; i < n; i++) {
        cache_put(&c.cache, (CacheEntry){rows[i].hash, rows[i].id, rows[i].fitness, rows[i].cost_ratio,
                                         row_stage(&rows[i]), rows[i].fit_windows});
        c.tokens += (int64_t)rows[i].fit_windows * e->cfg->calib_len;
    }
    free(rows);
    StoreRun run;
    bool found;
    if (store_run_find(e->st, e->cfg->name, &run, &found)) {
        free(c.cache.slots);
        return -1;
    }
    free(run.settings);
    if (!found) {
        free(c.cache.slots);
        return err_set("database: run '%s' is missing", e->cfg->name);
    }
    Indiv *pops[CFG_MAX_TARGETS] = {0};
    int n_pops = 0;
    int rc = search(&c, run.last_generation, pops, &n_pops);
    if (rc == 0) rc = random_baseline(&c);
    if (rc == 0) rc = finals(&c, pops);
    if (rc == 0) rc = store_run_finish(e->st, e->run_id);
    for (int b = 0; b < n_pops; b++) {
        if (pops[b]) indiv_free(pops[b], e->cfg->algo.population);
        free(pops[b]);
    }
    free(c.cache.slots);
    return rc < 0 ? -1 : 0;
}
