/* Tests for the free space's importance-biased unit draws (search/genome.c, config
 * algorithm.unit_bias) on a synth random-weight model (no downloads): unit_bias 0 gives exactly
 * the uniform operators (the same subnets from the same generator state); a bias keeps the
 * overlap constraint and the space, and the units that biased mutation and repair keep are more
 * important (a lower mean importance rank) than the uniform operators' and less so than the
 * importance order itself. The core (space.core): every repaired subnet keeps each running
 * sublayer's ceil(core k) most important units, in the budget, with the counts repair gave. */
#include <math.h>

#include "reform/levels.h"
#include "runtime/formats/model_open.h"
#include "runtime/synth/synth.h"
#include "search/genome.h"
#include "search/init_scores.h"
#include "tests/testutil.h"

/* A synth "tiny" model (4 layers, 4 heads / 2 KV, hidden 176) written to dir and opened. */
static Model *tiny_model(const char *dir) {
    char *out = path_join(dir, "tiny");
    SynthOptions o = {.shape = "tiny", .dtype = DT_F32, .seed = 7, .tied = -1, .bias = -1, .out_bias = false};
    ck_assert_msg(synth_model(&o, out) == 0, "%s", err_get());
    Model *m = NULL;
    ck_assert_msg(model_open(out, &m) == 0, "%s", err_get());
    free(out);
    return m;
}

static void space_open_core(GenomeSpace *gs, const Model *m, double bias, double core) {
    SpaceConfig sp = {.heads = true, .channels = true, .channel_multiple = 4, .sublayers = true, .layers = false,
                      .attn_ratio = {0.25, 1.0}, .mlp_ratio = {0.2, 1.0}, .levels = 0, .core = core};
    genome_space_init(gs, m, &sp, 0.8, 0.0, COST_PARAMS, 32);
    ck_assert_int_eq(importance_fill(gs, NULL, IMP_MAGNITUDE, NULL), 0);
    gs->unit_bias = bias;
}

static void space_open(GenomeSpace *gs, const Model *m, double bias) { space_open_core(gs, m, bias, 0.0); }

/* Whether the kept set of n units holds its ceil(core * k) most important ones. */
static bool holds_core(const uint8_t *keep, int n, const float *score, double core) {
    UnitRank *rk = xmalloc((size_t)n * sizeof *rk);
    units_by_score(score, n, rk);
    int k = 0;
    for (int i = 0; i < n; i++) k += keep[i] != 0;
    bool ok = true;
    for (int i = 0; i < (int)ceil(core * k - 1e-9); i++) ok = ok && keep[rk[i].idx];
    free(rk);
    return ok;
}

/* Mean importance rank share (0 = the most important unit, 1 = the least) of the kept channels
 * of s's MLP sublayers that run. */
static double mean_rank(const GenomeSpace *gs, const Subnet *s) {
    double sum = 0;
    long n = 0;
    for (int l = 0; l < s->n_layers; l++) {
        const SubnetLayer *L = &s->layers[l];
        if (!L->mlp_on) continue;
        UnitRank *rk = xmalloc((size_t)L->hidden_dim * sizeof *rk);
        units_by_score(gs->chan_score[l], L->hidden_dim, rk);
        for (int i = 0; i < L->hidden_dim; i++)
            if (L->chan_keep[rk[i].idx]) sum += (double)i / L->hidden_dim, n++;
        free(rk);
    }
    return n ? sum / (double)n : 0;
}

/* unit_bias 0 is the uniform operators: the same subnets as DRAW_RANDOM from the same state. */
START_TEST(test_bias_zero_is_uniform) {
    char *dir = test_tmpdir("genome0");
    Model *m = tiny_model(dir);
    GenomeSpace gs;
    space_open(&gs, m, 0.0);
    Subnet *init = genome_importance_init(&gs, 0.6, 0.58, 0.6);
    ck_assert_ptr_nonnull(init);
    Pcg32 a, b;
    pcg32_seed(&a, 9, 3);
    pcg32_seed(&b, 9, 3);
    for (int t = 0; t < 50; t++) {
        Subnet *x = genome_mutate(&gs, &a, init, 0.6), *y = genome_mutate(&gs, &b, init, 0.6);
        int rx = genome_repair(&gs, &a, x, 0.48, 0.5, DRAW_BIASED), ry = genome_repair(&gs, &b, y, 0.48, 0.5, DRAW_RANDOM);
        ck_assert_int_eq(rx, ry);
        ck_assert(subnet_hash(x) == subnet_hash(y));
        subnet_free(x), subnet_free(y);
    }
    subnet_free(init);
    genome_space_free(&gs);
    model_free(m);
    test_rmtree(dir);
    free(dir);
}
END_TEST

/* A bias keeps the overlap constraint and the space, and keeps more important units. */
START_TEST(test_bias_prefers_important) {
    char *dir = test_tmpdir("genome");
    Model *m = tiny_model(dir);
    double rank_mut[2] = {0, 0}, rank_rep[2] = {0, 0};
    const int T = 200;
    Subnet *init = NULL;
    for (int k = 0; k < 2; k++) { /* k = 0: uniform, 1: unit_bias 8 */
        GenomeSpace gs;
        space_open(&gs, m, k ? 8.0 : 0.0);
        if (!init) init = genome_importance_init(&gs, 0.6, 0.58, 0.6);
        ck_assert_ptr_nonnull(init);
        Pcg32 r;
        pcg32_seed(&r, 11, 5);
        for (int t = 0; t < T; t++) {
            Subnet *s = genome_mutate(&gs, &r, init, 1.0);
            for (int l = 0; l < s->n_layers; l++) { /* Algorithm 1's overlap, biased or not */
                const SubnetLayer *a = &init->layers[l], *b = &s->layers[l];
                if (!a->mlp_on || !b->mlp_on) continue;
                int ka = subnet_kept_channels(a), kb = subnet_kept_channels(b), both = 0;
                for (int c = 0; c < a->hidden_dim; c++) both += a->chan_keep[c] && b->chan_keep[c];
                ck_assert_int_ge(both, (int)ceil(0.8 * (ka < kb ? ka : kb) - 1e-9));
                ck_assert_int_eq(kb % 4, 0);
            }
            rank_mut[k] += mean_rank(&gs, s) / T;
            subnet_free(s);
            /* repair of a random dense-ish subnet down to 0.4: which channels it removes */
            Subnet *d = subnet_dense(m);
            ck_assert_int_eq(genome_repair(&gs, &r, d, 0.38, 0.4, DRAW_BIASED), 0);
            double c = genome_cost(&gs, d);
            ck_assert(c >= 0.38 && c <= 0.4);
            rank_rep[k] += mean_rank(&gs, d) / T;
            subnet_free(d);
        }
        genome_space_free(&gs);
    }
    GenomeSpace gs;
    space_open(&gs, m, 0.0);
    double rank_init = mean_rank(&gs, init);
    genome_space_free(&gs);
    /* the importance order keeps the top ranks; uniform redraws drift toward the middle (0.5) */
    ck_assert_msg(rank_init < rank_mut[1] && rank_mut[1] < rank_mut[0] - 0.02, "init %.4f biased %.4f uniform %.4f",
                  rank_init, rank_mut[1], rank_mut[0]);
    ck_assert_msg(rank_rep[1] < rank_rep[0] - 0.05, "repair: biased %.4f uniform %.4f", rank_rep[1], rank_rep[0]);
    subnet_free(init);
    model_free(m);
    test_rmtree(dir);
    free(dir);
}
END_TEST

/* space.core: repaired offspring keep the core, in the budget; beside the same offspring
 * repaired without a core (the same generator state) it moves units. */
START_TEST(test_core) {
    char *dir = test_tmpdir("genomecore");
    Model *m = tiny_model(dir);
    const double cores[] = {0.5, 0.75, 1.0};
    for (int ci = 0; ci < 3; ci++) {
        GenomeSpace gs, g0;
        space_open_core(&gs, m, 0.0, cores[ci]);
        space_open(&g0, m, 0.0);
        Subnet *init = genome_importance_init(&gs, 0.6, 0.58, 0.6);
        ck_assert_ptr_nonnull(init);
        Pcg32 r;
        pcg32_seed(&r, 13, 1 + ci);
        int kept = 0, moved = 0;
        for (int t = 0; t < 200; t++) {
            Subnet *s = genome_mutate(&gs, &r, init, 1.0);
            Subnet *free_s = subnet_clone(s);
            Pcg32 r2 = r;
            int rc = genome_repair(&gs, &r, s, 0.48, 0.5, DRAW_RANDOM);
            int rc0 = genome_repair(&g0, &r2, free_s, 0.48, 0.5, DRAW_RANDOM);
            if (rc) {
                subnet_free(s), subnet_free(free_s);
                continue;
            }
            kept++;
            double c = genome_cost(&gs, s);
            ck_assert(c >= 0.48 - 1e-12 && c <= 0.5 + 1e-12);
            bool same = rc0 == 0 && subnet_hash(s) == subnet_hash(free_s);
            for (int l = 0; l < s->n_layers; l++) {
                const SubnetLayer *L = &s->layers[l];
                if (L->attn_on) ck_assert(holds_core(L->head_keep, L->n_heads, gs.head_score[l], cores[ci]));
                if (L->mlp_on) ck_assert(holds_core(L->chan_keep, L->hidden_dim, gs.chan_score[l], cores[ci]));
            }
            moved += !same;
            subnet_free(s), subnet_free(free_s);
        }
        ck_assert_int_gt(kept, 100);
        ck_assert_int_gt(moved, 0); /* the core did move units */
        subnet_free(init);
        genome_space_free(&gs);
        genome_space_free(&g0);
    }
    model_free(m);
    test_rmtree(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("genome");
    TCase *tc = tcase_create("genome");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_bias_zero_is_uniform);
    tcase_add_test(tc, test_bias_prefers_important);
    tcase_add_test(tc, test_core);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
