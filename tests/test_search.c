/* Unit tests for the search engine (search/genome, search/engine) with a synthetic fitness on a
 * small in-memory model with random weights: operators respect the space and the budget, the
 * GA and NSGA-II improve on their start, identical subnets are evaluated once, the same seed
 * gives the same rows, a different seed different ones, and a stopped run resumes to the same
 * database as an uninterrupted one (also in the level space, whose every candidate is on the grid). */
#include <math.h>
#include <sqlite3.h>

#include "results/store.h"
#include "search/engine.h"
#include "search/genome.h"
#include "search/init_scores.h"
#include "tests/testutil.h"

/* dim 32, 3 layers, 8 heads of 4, 4 KV heads, hidden 48, vocab 20, random weights. */
static Model *rand_model(void) {
    Model *m = model_alloc(3);
    ModelConfig *c = &m->cfg;
    snprintf(c->arch, sizeof c->arch, "test");
    c->dim = 32; c->n_heads = 8; c->n_kv_heads = 4; c->head_dim = 4; c->hidden_dim = 48;
    c->vocab_size = 20; c->max_seq_len = 64; c->rope_theta = 10000; c->norm_eps = 1e-5f;
    Pcg32 r;
    pcg32_seed(&r, 42, 1);
    size_t nw = 48 * 32;
    m->tok_embedding = tensor_make(DT_F32, 20, 32, NULL);
    float *emb = model_own(m, xmalloc(20 * 32 * sizeof(float)));
    for (int i = 0; i < 20 * 32; i++) emb[i] = (float)pcg32_normal(&r);
    m->tok_embedding.data = emb;
    m->classifier = m->tok_embedding;
    float *ones = model_own(m, xmalloc(32 * sizeof(float)));
    for (int i = 0; i < 32; i++) ones[i] = 1;
    m->final_norm = tensor_make(DT_F32, 1, 32, ones);
    for (int l = 0; l < 3; l++) {
        LayerWeights *L = &m->layers[l];
        float *w[7];
        for (int k = 0; k < 7; k++) {
            w[k] = model_own(m, xmalloc(nw * sizeof(float)));
            for (size_t i = 0; i < nw; i++) w[k][i] = (float)pcg32_normal(&r) * (float)(1 + (i % 7));
        }
        L->attn_norm = L->ffn_norm = tensor_make(DT_F32, 1, 32, ones);
        L->wq = tensor_make(DT_F32, 32, 32, w[0]);
        L->wk = tensor_make(DT_F32, 16, 32, w[1]);
        L->wv = tensor_make(DT_F32, 16, 32, w[2]);
        L->wo = tensor_make(DT_F32, 32, 32, w[3]);
        L->w_gate = tensor_make(DT_F32, 48, 32, w[4]);
        L->w_up = tensor_make(DT_F32, 48, 32, w[5]);
        L->w_down = tensor_make(DT_F32, 32, 48, w[6]);
    }
    c->tied_embeddings = true;
    model_uniform_layers(m);
    ck_assert_int_eq(model_validate(m, "rand"), 0);
    return m;
}

/* Synthetic fitness: 10 + the weight of every dropped unit (weights fixed per unit, unrelated
 * to the importance scores so the search has something to find), + 3 per skipped sublayer. */
typedef struct {
    int calls;
    int rescores;          /* re-ranking calls, with the (hash, score) of each */
    uint64_t rs_hash[64];
    double rs_score[64];
    bool rs_reform;        /* every re-ranking call asked for reformation */
    bool staged;           /* the fitness depends on the stage */
    int stage_calls[4];
    const LevelGrid *grid; /* the level space: every scored subnet must be on it */
} Synth;

static double unit_weight(int l, int kind, int i) {
    uint32_t x = (uint32_t)(l * 7919 + kind * 104729 + i * 31337);
    x ^= x >> 13, x *= 0x5bd1e995, x ^= x >> 15;
    return (x % 1000) / 1000.0;
}

static int synth_fitness(void *ud, const Subnet *s, int stage, double *out) {
    Synth *y = (Synth *)ud;
    y->calls++;
    if (stage < 4) y->stage_calls[stage]++;
    if (y->grid) {
        int lev[16];
        ck_assert_msg(level_grid_levels(y->grid, s, lev) == 0, "%s", err_get());
    }
    double f = 10;
    for (int l = 0; l < s->n_layers; l++) {
        const SubnetLayer *L = &s->layers[l];
        for (int h = 0; h < L->n_heads; h++)
            if (!(L->attn_on && L->head_keep[h])) f += unit_weight(l, 0, h);
        for (int c = 0; c < L->hidden_dim; c++)
            if (!(L->mlp_on && L->chan_keep[c])) f += 0.3 * unit_weight(l, 1, c);
        f += 3.0 * (!L->attn_on + !L->mlp_on);
    }
    /* a noisier estimate on the smaller samples of earlier stages (staged selection) */
    if (y->staged) f += (double)((subnet_hash(s) >> (8 * stage)) % 1000) / 1000.0 / (1 + stage);
    *out = f;
    return 0;
}

static int synth_final(void *ud, const Subnet *s, bool reform, bool *reformed, double *rf, double *ev) {
    double f;
    synth_fitness(ud, s, 0, &f);
    *reformed = reform;
    *rf = reform ? f * 0.9 : NAN;
    *ev = f * 1.1;
    return 0;
}

/* Synthetic re-ranking score: the fitness plus a per-subnet offset in [0, 2) (a second sample
 * that disagrees with the first), recorded for the test to check the engine's choice. */
static int synth_rescore(void *ud, const Subnet *s, bool reform, double *score) {
    Synth *y = ud;
    double f;
    int calls = y->calls;
    synth_fitness(ud, s, 0, &f);
    y->calls = calls; /* not a fitness call */
    uint64_t h = subnet_hash(s);
    *score = f + 2.0 * (double)((h >> 7) % 1000) / 1000.0;
    if (y->rescores < 64) y->rs_hash[y->rescores] = h, y->rs_score[y->rescores] = *score;
    y->rs_reform = y->rescores == 0 ? reform : y->rs_reform && reform;
    y->rescores++;
    return 0;
}

static SearchConfig small_config(AlgoKind kind, uint64_t seed) {
    SearchConfig c;
    config_defaults(&c);
    snprintf(c.name, sizeof c.name, "t");
    c.space.channel_multiple = 4;
    c.n_targets = 3;
    c.targets[0] = 0.8, c.targets[1] = 0.6, c.targets[2] = 0.5;
    c.tolerance = 0.03;
    c.algo = (AlgoConfig){kind, 16, 6, 4, 7, 4, {0.6, 0.3}, {0.3, 0.1}, 0.1, 0.8, seed, 0};
    c.baseline_random = -1;
    return c;
}

typedef struct {
    Model *m;
    GenomeSpace gs;
    Store *st;
    int64_t run;
    Synth synth;
    Engine e;
    SearchConfig cfg;
    LevelGrid *grid;
} Fixture;

static void fixture_open(Fixture *f, const char *db, const SearchConfig *cfg) {
    memset(f, 0, sizeof *f);
    f->cfg = *cfg;
    f->m = rand_model();
    genome_space_init(&f->gs, f->m, &cfg->space, cfg->algo.overlap, cfg->algo.depth_prob, COST_PARAMS, 64);
    f->gs.unit_bias = cfg->algo.unit_bias; /* as search/job.c */
    ck_assert_int_eq(importance_fill(&f->gs, NULL, IMP_MAGNITUDE, NULL), 0);
    if (cfg->space.levels) {
        const SpaceConfig *sp = &cfg->space;
        LevelSpec ls = {sp->levels, sp->heads, sp->channels, sp->sublayers, sp->channel_multiple,
                        {sp->attn_ratio[0], sp->attn_ratio[1]}, {sp->mlp_ratio[0], sp->mlp_ratio[1]}};
        ck_assert_int_eq(level_grid_build(f->m, &ls, f->gs.head_score, f->gs.chan_score, &f->grid), 0);
        f->gs.levels = f->synth.grid = f->grid;
    }
    ck_assert_int_eq(store_open(db, true, &f->st), 0);
    StoreRun r;
    bool found;
    ck_assert_int_eq(store_run_find(f->st, cfg->name, &r, &found), 0);
    free(r.settings);
    if (found) {
        f->run = r.id;
    } else {
        StoreRunNew nr = {cfg->name, "yaml", "{}", "mem", "ga", "params", 1, cfg->algo.seed};
        ck_assert_int_eq(store_run_create(f->st, &nr, &f->run), 0);
    }
    f->e = (Engine){&f->cfg, &f->gs, f->st, f->run, synth_fitness, synth_final, &f->synth, true, 0, synth_rescore, NULL, NULL};
}

static void fixture_close(Fixture *f) {
    store_close(f->st);
    level_grid_free(f->grid);
    genome_space_free(&f->gs);
    model_free(f->m);
}

/* Every row of the database except times, as one string (the "same content" comparison). */
static char *dump_db(const char *path) {
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    const char *q[] = {
        "SELECT id, run_id, generation, hash, subnet, summary, params, flops, params_ratio, cost_ratio, fitness, "
        "reformed, reformed_fitness, eval_ppl, fit_stage, fit_windows FROM candidates ORDER BY id",
        "SELECT * FROM population ORDER BY run_id, budget, generation, slot",
        "SELECT * FROM baseline ORDER BY run_id, budget, slot",
        "SELECT * FROM finals ORDER BY run_id, budget, role, candidate_id",
        "SELECT id, name, status, last_generation FROM runs ORDER BY id"};
    size_t cap = 1 << 16, len = 0;
    char *out = xmalloc(cap);
    for (size_t k = 0; k < sizeof q / sizeof q[0]; k++) {
        sqlite3_stmt *s;
        ck_assert_int_eq(sqlite3_prepare_v2(db, q[k], -1, &s, NULL), SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(s); i++) {
                const char *t = (const char *)sqlite3_column_text(s, i);
                size_t n = strlen(t ? t : "NULL") + 2;
                while (len + n + 1 > cap) out = xrealloc(out, cap *= 2);
                len += (size_t)snprintf(out + len, cap - len, "%s|", t ? t : "NULL");
            }
            out[len++] = '\n';
            out[len] = 0;
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return out;
}

static char *run_to_db(const char *dir, const char *name, const SearchConfig *cfg, int stop_after, int *calls) {
    char *db = path_join(dir, name);
    Fixture f;
    fixture_open(&f, db, cfg);
    f.e.stop_after = stop_after;
    ck_assert_msg(engine_run(&f.e) == 0, "engine_run: %s", err_get());
    if (calls) *calls += f.synth.calls;
    fixture_close(&f);
    return db;
}

START_TEST(test_operators_respect_space) {
    SearchConfig cfg = small_config(ALGO_GA, 1);
    cfg.space.mlp_ratio[0] = 0.25;
    Model *m = rand_model();
    GenomeSpace gs;
    genome_space_init(&gs, m, &cfg.space, 0.8, 0.2, COST_PARAMS, 64);
    ck_assert_int_eq(importance_fill(&gs, NULL, IMP_MAGNITUDE, NULL), 0);
    Subnet *init = genome_importance_init(&gs, 0.6, 0.57, 0.6);
    ck_assert_ptr_nonnull(init);
    double c0 = genome_cost(&gs, init);
    ck_assert(c0 >= 0.57 && c0 <= 0.6);
    Pcg32 r;
    pcg32_seed(&r, 5, 5);
    for (int t = 0; t < 300; t++) {
        Subnet *s = (t % 3 == 0)   ? genome_random(&gs, &r)
                    : (t % 3 == 1) ? genome_mutate(&gs, &r, init, 0.6)
                                   : genome_crossover(&gs, &r, init, init, 0.5);
        /* mutation keeps >= 80% of a mutated layer's old heads (before repair) */
        if (t % 3 == 1)
            for (int l = 0; l < s->n_layers; l++) {
                const SubnetLayer *a = &init->layers[l], *b = &s->layers[l];
                if (!a->attn_on || !b->attn_on) continue;
                int ka = subnet_kept_heads(a), kb = subnet_kept_heads(b), both = 0;
                for (int h = 0; h < a->n_heads; h++) both += a->head_keep[h] && b->head_keep[h];
                ck_assert_int_ge(both, (int)ceil(0.8 * (ka < kb ? ka : kb) - 1e-9));
            }
        if (genome_repair(&gs, &r, s, 0.57, 0.6, t % 2 ? DRAW_IMPORTANCE : DRAW_RANDOM) == 0) {
            double c = genome_cost(&gs, s);
            ck_assert(c >= 0.57 && c <= 0.6);
        }
        for (int l = 0; l < s->n_layers; l++) {
            int kc = subnet_kept_channels(&s->layers[l]);
            ck_assert_msg(kc == 0 || kc == 48 || (kc % 4 == 0 && kc >= 12), "channels %d", kc);
        }
        subnet_free(s);
    }
    /* importance init (and importance-guided repair) keeps the highest-scoring heads of layer 0 */
    int worst_kept = -1, best_dropped = -1;
    for (int h = 0; h < 8; h++) {
        float sc = gs.head_score[0][h];
        if (init->layers[0].head_keep[h] && (worst_kept < 0 || sc < gs.head_score[0][worst_kept])) worst_kept = h;
        if (!init->layers[0].head_keep[h] && (best_dropped < 0 || sc > gs.head_score[0][best_dropped]))
            best_dropped = h;
    }
    if (worst_kept >= 0 && best_dropped >= 0)
        ck_assert(gs.head_score[0][worst_kept] >= gs.head_score[0][best_dropped]);
    subnet_free(init);
    /* an unreachable budget: heads fixed, channels fixed -> nothing fits 0.3 */
    SpaceConfig fixed = cfg.space;
    fixed.heads = fixed.channels = fixed.sublayers = fixed.layers = false;
    GenomeSpace g2;
    genome_space_init(&g2, m, &fixed, 0.8, 0.2, COST_PARAMS, 64);
    ck_assert_ptr_null(genome_importance_init(&g2, 0.3, 0.28, 0.3));
    genome_space_free(&g2);
    genome_space_free(&gs);
    model_free(m);
}
END_TEST

START_TEST(test_nsga2_rank) {
    /* points: (1,5) (2,2) (5,1) front 0; (3,3) dominated by (2,2); (6,6) last */
    double f0[] = {1, 2, 5, 3, 6}, f1[] = {5, 2, 1, 3, 6}, cr[5];
    int rk[5];
    nsga2_rank(f0, f1, 5, rk, cr);
    ck_assert_int_eq(rk[0], 0);
    ck_assert_int_eq(rk[1], 0);
    ck_assert_int_eq(rk[2], 0);
    ck_assert_int_eq(rk[3], 1);
    ck_assert_int_eq(rk[4], 2);
    ck_assert(isinf(cr[0]) && isinf(cr[2]));
    ck_assert_double_eq_tol(cr[1], (5.0 - 1) / 4 + (5.0 - 1) / 4, 1e-12);
}
END_TEST

/* Column col of the budget's final role: 0 fitness, 1 eval_ppl, 2 cost_ratio, 3 candidate id. */
static double final_col(const char *db, const char *role, int budget, int col) {
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *s;
    ck_assert_int_eq(sqlite3_prepare_v2(h,
                                        "SELECT c.fitness, c.eval_ppl, c.cost_ratio, c.id FROM finals f JOIN candidates c "
                                        "ON c.id = f.candidate_id WHERE f.role = ? AND f.budget = ?",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, role, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, budget);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    double v = sqlite3_column_double(s, col);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

static double final_of(const char *db, const char *role, int budget, bool eval) {
    return final_col(db, role, budget, eval ? 1 : 0);
}

START_TEST(test_ga_improves_and_caches) {
    char *dir = test_tmpdir("ga");
    SearchConfig cfg = small_config(ALGO_GA, 3);
    cfg.algo.generations = 12;
    int calls = 0;
    char *db = run_to_db(dir, "a.db", &cfg, 0, &calls);
    Store *st;
    ck_assert_int_eq(store_open(db, false, &st), 0);
    CandRow *rows;
    int n;
    ck_assert_int_eq(store_cand_list(st, 1, &rows, &n), 0);
    /* every fitness call made exactly one row: nothing evaluated twice (+ final-step calls) */
    int finals = 0;
    for (int i = 0; i < n; i++) finals += !isnan(rows[i].eval_ppl);
    ck_assert_int_eq(calls, n + finals);
    free(rows);
    for (int b = 0; b < 3; b++) {
        double best = final_of(db, "best", b, false), init = final_of(db, "init", b, false),
               rnd = final_of(db, "random", b, false);
        ck_assert_msg(best < init, "budget %d: best %g init %g", b, best, init);
        ck_assert_msg(best < rnd, "budget %d: best %g random %g", b, best, rnd);
        ck_assert(!isnan(final_of(db, "best", b, true)));
    }
    bool ok;
    ck_assert_int_eq(store_integrity_ok(st, &ok), 0);
    ck_assert(ok);
    store_close(st);
    free(db);
    free(dir);
}
END_TEST

START_TEST(test_same_seed_same_rows) {
    char *dir = test_tmpdir("seed");
    for (int k = 0; k < 2; k++) {
        SearchConfig cfg = small_config(k ? ALGO_NSGA2 : ALGO_GA, 7);
        char *a = run_to_db(dir, k ? "n1.db" : "g1.db", &cfg, 0, NULL);
        char *b = run_to_db(dir, k ? "n2.db" : "g2.db", &cfg, 0, NULL);
        cfg.algo.seed = 8;
        char *c = run_to_db(dir, k ? "n3.db" : "g3.db", &cfg, 0, NULL);
        char *da = dump_db(a), *db = dump_db(b), *dc = dump_db(c);
        ck_assert(strlen(da) > 1000);
        ck_assert_str_eq(da, db);
        ck_assert_str_ne(da, dc);
        free(da), free(db), free(dc), free(a), free(b), free(c);
    }
    free(dir);
}
END_TEST

START_TEST(test_resume_same_rows) {
    char *dir = test_tmpdir("resume");
    char *plain_rows = NULL;
    for (int k = 0; k < 6; k++) { /* ga, nsga2, both in the level space, ga with unit_bias, ga with a core */
        SearchConfig cfg = small_config(k % 2 ? ALGO_NSGA2 : ALGO_GA, 11);
        cfg.space.levels = k == 2 || k == 3 ? 6 : 0;
        cfg.algo.unit_bias = k == 4 ? 6 : 0;
        cfg.space.core = k == 5 ? 0.5 : 0;
        static const char *const part_of[3] = {"w", "p", "w2"}; /* whole, parts, whole again */
        char names[3][8];
        for (int i = 0; i < 3; i++)
            snprintf(names[i], sizeof names[i], "%c%c%s.db", "ppllbc"[k], k % 2 ? 'n' : 'g', part_of[i]);
        char *whole = run_to_db(dir, names[0], &cfg, 0, NULL);
        /* stop after 1 and 2 more generations, then finish; calls in the resumed parts
         * must not re-evaluate stored candidates */
        int calls = 0;
        char *part = run_to_db(dir, names[1], &cfg, 1, &calls);
        free(run_to_db(dir, names[1], &cfg, 2, &calls));
        free(run_to_db(dir, names[1], &cfg, 0, &calls));
        int calls_whole = 0;
        free(run_to_db(dir, names[2], &cfg, 0, &calls_whole));
        ck_assert_int_eq(calls, calls_whole);
        char *a = dump_db(whole), *b = dump_db(part);
        ck_assert_str_eq(a, b);
        if (k == 0) plain_rows = xstrdup(a);
        if (k >= 2 && k != 3) ck_assert_str_ne(a, plain_rows); /* other subnets searched */
        free(a), free(b), free(whole), free(part);
    }
    free(plain_rows);
    free(dir);
}
END_TEST

/* Candidate id of a budget's final role. */
static int64_t final_id(const char *db, const char *role, int budget) {
    return (int64_t)final_col(db, role, budget, 3);
}

/* Final re-ranking: "best" is the lowest rescore among the top K distinct members of the final
 * population (not always the best fitness), reformed when final.reform, the same on a second
 * run and on a resumed one; K = 0 keeps the best fitness and never calls the callback. */
START_TEST(test_rerank) {
    char *dir = test_tmpdir("rerank");
    SearchConfig cfg = small_config(ALGO_GA, 5);
    cfg.final_rerank = 4;
    Fixture f;
    char *db = path_join(dir, "r.db");
    fixture_open(&f, db, &cfg);
    ck_assert_msg(engine_run(&f.e) == 0, "engine_run: %s", err_get());
    ck_assert_int_eq(f.synth.rescores, 3 * 4);
    ck_assert(f.synth.rs_reform);
    int moved = 0;
    for (int b = 0; b < 3; b++) {
        int64_t *ids;
        int n;
        ck_assert_int_eq(store_population_get(f.st, f.run, b, cfg.algo.generations - 1, &ids, &n), 0);
        ck_assert_int_eq(n, cfg.algo.population);
        /* the first 4 distinct members in population order (sorted by fitness) */
        int64_t want = 0, first = 0;
        double best = INFINITY, prev_fit = -INFINITY;
        uint64_t seen[4];
        int k = 0;
        for (int i = 0; i < n && k < 4; i++) {
            CandRow row;
            bool found;
            ck_assert_int_eq(store_cand_get(f.st, ids[i], false, &row, &found), 0);
            ck_assert(found);
            ck_assert(row.fitness >= prev_fit);
            prev_fit = row.fitness;
            bool dup = false;
            for (int j = 0; j < k; j++) dup |= seen[j] == row.hash;
            if (!dup) {
                seen[k++] = row.hash;
                if (!first) first = row.id;
                int r = b * 4 + k - 1; /* rescores run budget by budget, in population order */
                ck_assert(f.synth.rs_hash[r] == row.hash);
                if (f.synth.rs_score[r] < best) best = f.synth.rs_score[r], want = row.id;
            }
            cand_row_free(&row);
        }
        free(ids);
        ck_assert_int_eq(k, 4);
        ck_assert_int_eq(final_id(db, "best", b), want);
        moved += want != first;
    }
    ck_assert_msg(moved > 0, "re-ranking never changed the result: the test shows nothing");
    fixture_close(&f);
    /* deterministic: a second run and a stopped-and-resumed one store the same rows */
    char *again = run_to_db(dir, "r2.db", &cfg, 0, NULL);
    free(run_to_db(dir, "r3.db", &cfg, 2, NULL));
    char *resumed = run_to_db(dir, "r3.db", &cfg, 0, NULL);
    char *da = dump_db(db), *d2 = dump_db(again), *d3 = dump_db(resumed);
    ck_assert_str_eq(da, d2);
    ck_assert_str_eq(da, d3);
    /* off: the best fitness, no re-ranking calls */
    cfg.final_rerank = 0;
    char *off = path_join(dir, "r0.db");
    fixture_open(&f, off, &cfg);
    ck_assert_msg(engine_run(&f.e) == 0, "engine_run: %s", err_get());
    ck_assert_int_eq(f.synth.rescores, 0);
    for (int b = 0; b < 3; b++) {
        int64_t *ids;
        int n;
        ck_assert_int_eq(store_population_get(f.st, f.run, b, cfg.algo.generations - 1, &ids, &n), 0);
        ck_assert_int_eq(final_id(off, "best", b), ids[0]);
        free(ids);
    }
    fixture_close(&f);
    free(off);
    free(da), free(d2), free(d3), free(again), free(resumed), free(db), free(dir);
}
END_TEST

/* Staged selection: every candidate's fitness is of the stage it reached and fit_windows the
 * windows of the stages up to it; no more than `keep` of a population advance per generation; a
 * population is ranked by stage, then fitness; the rows are the same for a second run and a run
 * stopped twice and resumed. */
START_TEST(test_staged_selection) {
    char *dir = test_tmpdir("staged");
    SearchConfig cfg = small_config(ALGO_GA, 9);
    cfg.calib_n = 16;
    cfg.n_stages = 3;
    int win[3] = {4, 8, 16}, keep[3] = {5, 2, 0};
    memcpy(cfg.stage_windows, win, sizeof win);
    memcpy(cfg.stage_keep, keep, sizeof keep);
    cfg.final_rerank = 3;
    char *db = path_join(dir, "s.db");
    Fixture f;
    fixture_open(&f, db, &cfg);
    f.synth.staged = true;
    ck_assert_msg(engine_run(&f.e) == 0, "engine_run: %s", err_get());
    int G = cfg.algo.generations, B = cfg.n_targets;
    /* per generation and population at most keep advance (the random baseline: once per budget) */
    ck_assert_int_gt(f.synth.stage_calls[1], 0);
    ck_assert_int_le(f.synth.stage_calls[1], (G + 1) * B * 5);
    ck_assert_int_gt(f.synth.stage_calls[2], 0);
    ck_assert_int_le(f.synth.stage_calls[2], (G + 1) * B * 2);
    ck_assert_int_eq(f.synth.stage_calls[3], 0);
    CandRow *rows;
    int n, at[3] = {0};
    ck_assert_int_eq(store_cand_list(f.st, f.run, &rows, &n), 0);
    for (int i = 0; i < n; i++) {
        ck_assert(rows[i].fit_stage >= 1 && rows[i].fit_stage <= 3);
        int want = 0;
        for (int s = 0; s < rows[i].fit_stage; s++) want += win[s];
        ck_assert_int_eq(rows[i].fit_windows, want);
        at[rows[i].fit_stage - 1]++;
    }
    ck_assert_int_eq(at[1] + at[2], f.synth.stage_calls[1]);
    ck_assert_int_eq(at[2], f.synth.stage_calls[2]);
    free(rows);
    for (int b = 0; b < B; b++) { /* the final population: by stage (later first), then fitness */
        int64_t *ids;
        ck_assert_int_eq(store_population_get(f.st, f.run, b, G - 1, &ids, &n), 0);
        int prev_stage = 99;
        double prev_fit = -INFINITY;
        for (int i = 0; i < n; i++) {
            CandRow r;
            bool found;
            ck_assert_int_eq(store_cand_get(f.st, ids[i], false, &r, &found), 0);
            ck_assert(found);
            ck_assert_int_le(r.fit_stage, prev_stage);
            if (r.fit_stage == prev_stage) ck_assert(r.fitness >= prev_fit);
            if (i < cfg.algo.parents) ck_assert_int_eq(r.fit_stage, 3); /* parents were scored on all windows */
            prev_stage = r.fit_stage, prev_fit = r.fitness;
        }
        free(ids);
    }
    fixture_close(&f);
    /* deterministic across runs and across stop + resume */
    Fixture g;
    char *again = path_join(dir, "s2.db"), *resumed = path_join(dir, "s3.db");
    for (int k = 0; k < 4; k++) {
        fixture_open(&g, k == 0 ? again : resumed, &cfg);
        g.synth.staged = true;
        g.e.stop_after = k == 0 || k == 3 ? 0 : 1;
        ck_assert_msg(engine_run(&g.e) == 0, "engine_run: %s", err_get());
        fixture_close(&g);
    }
    char *da = dump_db(db), *d2 = dump_db(again), *d3 = dump_db(resumed);
    ck_assert_str_eq(da, d2);
    ck_assert_str_eq(da, d3);
    free(da), free(d2), free(d3), free(again), free(resumed), free(db), free(dir);
}
END_TEST

START_TEST(test_store_rejects_other_files) {
    char *dir = test_tmpdir("store");
    char *p = path_join(dir, "x.txt");
    ck_assert_int_eq(write_file_atomic(p, "hello, not a database at all", 28), 0);
    Store *st;
    ck_assert_int_eq(store_open(p, false, &st), -1);
    ck_assert_msg(strstr(err_get(), "not a carve database") != NULL, "%s", err_get());
    char *q = path_join(dir, "missing.db");
    ck_assert_int_eq(store_open(q, false, &st), -1);
    ck_assert_msg(strstr(err_get(), "no such database") != NULL, "%s", err_get());
    /* an SQLite file of another program */
    char *o = path_join(dir, "other.db");
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(o, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(store_open(o, true, &st), -1);
    ck_assert_msg(strstr(err_get(), "not a carve database") != NULL, "%s", err_get());
    free(p), free(q), free(o), free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("search");
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_operators_respect_space);
    tcase_add_test(tc, test_nsga2_rank);
    tcase_add_test(tc, test_ga_improves_and_caches);
    tcase_add_test(tc, test_same_seed_same_rows);
    tcase_add_test(tc, test_resume_same_rows);
    tcase_add_test(tc, test_store_rejects_other_files);
    tcase_add_test(tc, test_rerank);
    tcase_add_test(tc, test_staged_selection);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
