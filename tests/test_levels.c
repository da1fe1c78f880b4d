/* Tests for the level space (reform/levels, search/genome_levels) on synth random-weight models
 * (no downloads): the grid's levels (ascending, in the ratio range, on channel_multiple, "skipped"
 * first), subnets on and off the grid; the level database's stitched model bit-identical to
 * reform_oneshot of the same subnet (Llama with o/down biases, Qwen2 with Q/K/V biases; with and
 * without the intercept); level switches keep the cost in [lo, hi], and every operator's subnet
 * is on the grid. */
#include <math.h>

#include "reform/levels.h"
#include "reform/reform.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/extract.h"
#include "runtime/synth/synth.h"
#include "search/genome.h"
#include "search/init_scores.h"
#include "tests/testutil.h"

static char *dir;
static void setup(void) { dir = test_tmpdir("levels"); }
static void teardown(void) {
    test_rmtree(dir);
    free(dir);
    dir = NULL;
}

/* A synth model of `shape` in dir, opened. */
static Model *synth_open(const char *shape, bool out_bias) {
    char *out = path_join(dir, shape);
    SynthOptions o = {.shape = shape, .dtype = DT_F32, .seed = 7, .tied = -1, .bias = -1, .out_bias = out_bias};
    ck_assert_msg(synth_model(&o, out) == 0, "%s", err_get());
    Model *m = NULL;
    ck_assert_msg(model_open(out, &m) == 0, "%s", err_get());
    free(out);
    return m;
}

/* Dense statistics of m on a generated text (16 windows of 32 tokens), cached in dir. */
static StatsFile *synth_stats(const Model *m) {
    char *text = path_join(dir, "calib.txt");
    FILE *f = fopen(text, "w");
    ck_assert_ptr_nonnull(f);
    Pcg32 r;
    pcg32_seed(&r, 3, 1);
    static const char *words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "away", "home"};
    for (int i = 0; i < 6000; i++) fprintf(f, "%s%s", words[pcg32_below(&r, 12)], i % 13 == 12 ? ".\n" : " ");
    fclose(f);
    StatsOptions so = {.N = 16, .L = 32, .seed = 1, .cache_dir = dir, .quiet = true};
    StatsFile *sf = NULL;
    ck_assert_msg(stats_open(m, text, &so, &sf) == 0, "%s", err_get());
    free(text);
    return sf;
}

static SpaceConfig level_space(int K) {
    SpaceConfig sp = {.heads = true, .channels = true, .channel_multiple = 8, .sublayers = true, .layers = false,
                      .attn_ratio = {0.25, 1.0}, .mlp_ratio = {0.2, 1.0}, .levels = K};
    return sp;
}

/* The grid of space sp over m with the importance of gs (filled: saliency from sf, or magnitude). */
static LevelGrid *grid_of(const Model *m, const SpaceConfig *sp, GenomeSpace *gs, const StatsFile *sf) {
    genome_space_init(gs, m, sp, 0.8, 0.1, COST_PARAMS, 32);
    ck_assert_int_eq(importance_fill(gs, sf, sf ? IMP_SALIENCY : IMP_MAGNITUDE, NULL), 0);
    LevelSpec ls = {sp->levels, sp->heads, sp->channels, sp->sublayers, sp->channel_multiple,
                    {sp->attn_ratio[0], sp->attn_ratio[1]}, {sp->mlp_ratio[0], sp->mlp_ratio[1]}};
    LevelGrid *g = NULL;
    ck_assert_msg(level_grid_build(m, &ls, gs->head_score, gs->chan_score, &g) == 0, "%s", err_get());
    gs->levels = g;
    return g;
}

static bool on_grid(const LevelGrid *g, const Subnet *s) {
    int *lev = xmalloc((size_t)(2 * s->n_layers) * sizeof *lev);
    bool ok = level_grid_levels(g, s, lev) == 0;
    free(lev);
    return ok;
}

START_TEST(test_grid) {
    Model *m = synth_open("tiny", false); /* 4 layers, 4 heads / 2 KV, hidden 176 */
    SpaceConfig sp = level_space(6);
    GenomeSpace gs;
    LevelGrid *g = grid_of(m, &sp, &gs, NULL);
    for (int l = 0; l < g->n_layers; l++) {
        const LevelList *a = &g->attn[l], *c = &g->mlp[l];
        ck_assert_int_eq(a->count[0], 0); /* skipped */
        ck_assert_int_eq(c->count[0], 0);
        ck_assert_int_eq(a->n, 5);        /* 1 (0.25) .. 4 heads: 1 2 3 4 (merged from 6) */
        ck_assert_int_eq(a->count[a->n - 1], 4);
        ck_assert_int_eq(c->n, 7);        /* 6 levels of 176 channels + skipped */
        ck_assert_int_eq(c->count[c->n - 1], 176);
        for (int v = 1; v < c->n; v++) {
            ck_assert_int_gt(c->count[v], c->count[v - 1]);
            ck_assert(c->count[v] % 8 == 0 || c->count[v] == 176);
            ck_assert(c->count[v] >= 0.2 * 176);
        }
    }
    int lev[8] = {0, 3, 4, 6, 2, 1, 1, 0};
    Subnet *s = level_grid_subnet(g, m, lev);
    int back[8];
    ck_assert_int_eq(level_grid_levels(g, s, back), 0);
    ck_assert_mem_eq(back, lev, sizeof lev);
    ck_assert(!s->layers[0].attn_on && !s->layers[3].mlp_on);
    /* the right count of the wrong units is off the grid */
    SubnetLayer *L = &s->layers[2];
    int kept = -1, dropped = -1;
    for (int h = 0; h < L->n_heads; h++) {
        if (L->head_keep[h]) kept = h;
        else dropped = h;
    }
    L->head_keep[kept] = 0, L->head_keep[dropped] = 1;
    ck_assert_int_eq(level_grid_levels(g, s, back), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "layer 2"));
    subnet_free(s);
    level_grid_free(g);
    genome_space_free(&gs);
    model_free(m);
}
END_TEST

/* Every tensor of a and b: same shape, dtype and bytes. */
static void same_tensor(const Tensor *a, const Tensor *b, int l, const char *what) {
    ck_assert_msg((a->data == NULL) == (b->data == NULL), "layer %d %s: present in one only", l, what);
    if (!a->data) return;
    ck_assert_msg(a->dtype == b->dtype && a->rows == b->rows && a->cols == b->cols, "layer %d %s: shape", l, what);
    ck_assert_msg(!memcmp(a->data, b->data, (size_t)(a->rows * a->cols) * dtype_size(a->dtype)), "layer %d %s: bytes",
                  l, what);
}

static void same_model(const Model *a, const Model *b) {
    ck_assert_int_eq(a->identity, b->identity);
    ck_assert_mem_eq(&a->cfg, &b->cfg, sizeof a->cfg);
    same_tensor(&a->tok_embedding, &b->tok_embedding, -1, "embedding");
    same_tensor(&a->classifier, &b->classifier, -1, "classifier");
    same_tensor(&a->final_norm, &b->final_norm, -1, "final norm");
    for (int l = 0; l < a->cfg.n_layers; l++) {
        const LayerWeights *x = &a->layers[l], *y = &b->layers[l];
        ck_assert_int_eq(x->n_heads, y->n_heads);
        ck_assert_int_eq(x->n_kv_heads, y->n_kv_heads);
        ck_assert_int_eq(x->hidden_dim, y->hidden_dim);
        const Tensor *tx[] = {&x->attn_norm, &x->wq, &x->wk, &x->wv, &x->bq, &x->bk, &x->bv, &x->wo, &x->bo,
                              &x->ffn_norm, &x->w_gate, &x->w_up, &x->w_down, &x->b_down};
        const Tensor *ty[] = {&y->attn_norm, &y->wq, &y->wk, &y->wv, &y->bq, &y->bk, &y->bv, &y->wo, &y->bo,
                              &y->ffn_norm, &y->w_gate, &y->w_up, &y->w_down, &y->b_down};
        static const char *names[] = {"attn_norm", "wq", "wk", "wv", "bq", "bk", "bv", "wo", "bo",
                                      "ffn_norm", "w_gate", "w_up", "w_down", "b_down"};
        for (int k = 0; k < 14; k++) same_tensor(tx[k], ty[k], l, names[k]);
    }
}

/* The stitched model of 24 subnets of the grid (each level index everywhere, then random levels)
 * is bit-identical to reform_oneshot of the same subnet. */
static void check_stitched(const char *shape, bool out_bias, ReformFit fit) {
    Model *m = synth_open(shape, out_bias);
    StatsFile *sf = synth_stats(m);
    SpaceConfig sp = level_space(4);
    GenomeSpace gs;
    LevelGrid *g = grid_of(m, &sp, &gs, sf);
    ReformOptions ro;
    reform_defaults(&ro);
    ro.fit = fit;
    LevelDb *db = NULL;
    ck_assert_msg(level_db_build(m, g, sf, &ro, true, &db) == 0, "%s", err_get());
    ck_assert_int_gt(level_db_bytes(db), 0);
    int L = m->cfg.n_layers, *lev = xmalloc((size_t)(2 * L) * sizeof *lev);
    Pcg32 r;
    pcg32_seed(&r, 11, 2);
    int refit = 0; /* subnets whose reformation changed an o_proj (the comparison is not trivial) */
    for (int t = 0; t < 24; t++) {
        for (int i = 0; i < 2 * L; i++) {
            const LevelList *ll = i % 2 ? &g->mlp[i / 2] : &g->attn[i / 2];
            lev[i] = t < 6 ? (t < ll->n ? t : ll->n - 1) : (int)pcg32_below(&r, (uint32_t)ll->n);
        }
        Subnet *s = level_grid_subnet(g, m, lev);
        Model *a = NULL, *b = NULL;
        ck_assert_msg(level_db_model(db, s, &a) == 0, "%s", err_get());
        ck_assert_msg(reform_oneshot(m, s, sf, &ro, &b) == 0, "%s", err_get());
        same_model(a, b);
        Model *e = NULL;
        ck_assert_int_eq(model_extract(m, s, &e), 0);
        for (int l = 0; l < L; l++)
            if (a->layers[l].wo.data && a->layers[l].wo.cols < m->layers[l].wo.cols)
                refit += memcmp(a->layers[l].wo.data, e->layers[l].wo.data,
                                (size_t)(a->layers[l].wo.rows * a->layers[l].wo.cols) * sizeof(float)) != 0;
        model_free(e);
        model_free(a), model_free(b);
        subnet_free(s);
    }
    ck_assert_int_gt(refit, 10);
    /* a subnet off the grid is refused */
    Subnet *d = subnet_dense(m);
    d->layers[0].chan_keep[0] = 0;
    Model *a = NULL;
    ck_assert_int_eq(level_db_model(db, d, &a), -1);
    ck_assert_ptr_null(a);
    subnet_free(d);
    free(lev);
    level_db_free(db);
    level_grid_free(g);
    genome_space_free(&gs);
    stats_close(sf);
    model_free(m);
}

START_TEST(test_stitched_llama_bias) { check_stitched("tiny", true, REFORM_FIT_DEFAULT); }
END_TEST
START_TEST(test_stitched_qwen) { check_stitched("qwen-tiny", false, REFORM_FIT_DEFAULT); }
END_TEST
START_TEST(test_stitched_weights_only) { check_stitched("tiny", false, REFORM_FIT_WEIGHTS); }
END_TEST

/* Level switches keep the cost in [lo, hi]; init, switches, crossover + repair and random + repair
 * give subnets on the grid; the switches move. */
START_TEST(test_level_switch) {
    Model *m = synth_open("tiny", false);
    SpaceConfig sp = level_space(8);
    GenomeSpace gs;
    LevelGrid *g = grid_of(m, &sp, &gs, NULL);
    const double bud[][2] = {{0.68, 0.7}, {0.48, 0.5}, {0.87, 0.9}};
    for (int b = 0; b < 3; b++) {
        double lo = bud[b][0], hi = bud[b][1];
        Subnet *init = genome_importance_init(&gs, hi, lo, hi);
        ck_assert_ptr_nonnull(init);
        ck_assert(on_grid(g, init));
        double c0 = genome_cost(&gs, init);
        ck_assert(c0 >= lo && c0 <= hi);
        Pcg32 r;
        pcg32_seed(&r, 5, (uint64_t)b);
        Subnet *cur = subnet_clone(init);
        int moved = 0, repaired = 0;
        for (int t = 0; t < 300; t++) {
            Subnet *s = genome_level_switch(&gs, &r, cur, 0.5, lo, hi);
            double c = genome_cost(&gs, s);
            ck_assert_msg(c >= lo && c <= hi, "switch left the budget: %.4f not in [%.2f, %.2f]", c, lo, hi);
            ck_assert(on_grid(g, s));
            moved += !subnet_equal(s, cur);
            Subnet *x = genome_crossover(&gs, &r, s, init, 0.5);
            if (genome_repair(&gs, &r, x, lo, hi, DRAW_RANDOM) == 0) {
                c = genome_cost(&gs, x);
                ck_assert(c >= lo && c <= hi);
                repaired++;
            }
            ck_assert(on_grid(g, x));
            subnet_free(x);
            Subnet *y = genome_random(&gs, &r);
            ck_assert(on_grid(g, y));
            if (genome_repair(&gs, &r, y, lo, hi, DRAW_RANDOM) == 0) ck_assert(genome_cost(&gs, y) <= hi);
            ck_assert(on_grid(g, y));
            subnet_free(y);
            subnet_free(cur);
            cur = s;
        }
        ck_assert_int_gt(moved, 150);
        ck_assert_int_gt(repaired, 150);
        subnet_free(cur);
        subnet_free(init);
    }
    level_grid_free(g);
    genome_space_free(&gs);
    model_free(m);
}
END_TEST

int main(void) {
    Suite *su = suite_create("levels");
    TCase *tc = tcase_create("synth");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_grid);
    tcase_add_test(tc, test_stitched_llama_bias);
    tcase_add_test(tc, test_stitched_qwen);
    tcase_add_test(tc, test_stitched_weights_only);
    tcase_add_test(tc, test_level_switch);
    suite_add_tcase(su, tc);
    return run_suite(su);
}
