/* Unit tests for search/method*: the selection logic of the layer-level baselines against
 * known scores (ShortGPT, ULS, attention skipping, LLM-Streamline spans, SLEB's greedy step
 * through a known perplexity function), FLAP's standardised global threshold, random subnets,
 * the batch seam (SLEB's steps and random's draws scored as batches, in another order: the
 * same choices), budget accounting exactness against eval/cost, and input errors. Also the budgets the layer
 * methods reach on the real stories260K configuration when ../shared is present. */
#include <math.h>

#include "runtime/formats/model_open.h"
#include "eval/cost.h"
#include "search/method.h"
#include "search/method_eval.h"
#include "tests/testutil.h"

#define NL 5

static bool layer_off(const Subnet *s, int l) { return !s->layers[l].attn_on && !s->layers[l].mlp_on; }
static int layers_off(const Subnet *s) {
    int n = 0;
    for (int l = 0; l < s->n_layers; l++) n += layer_off(s, l);
    return n;
}
static MethodInput input(const Model *m, double budget) {
    MethodInput in = {0};
    in.model = m;
    in.budget = budget;
    in.seed = 1;
    return in;
}

START_TEST(test_nearest) {
    double r[] = {1.0, 0.8, 0.6, 0.4};
    ck_assert_int_eq(method_nearest(r, 4, 0.9), 1);  /* tie 1.0/0.8 -> the smaller */
    ck_assert_int_eq(method_nearest(r, 4, 0.71), 1);
    ck_assert_int_eq(method_nearest(r, 4, 0.69), 2);
    ck_assert_int_eq(method_nearest(r, 4, 0.1), 3);
    ck_assert_int_eq(method_nearest(r, 4, 1.0), 0);
}
END_TEST

START_TEST(test_shortgpt_lowest_bi) {
    Model *m = tiny_zero_model(NL);
    double bi[NL] = {0.9, 0.05, 0.3, 0.01, 0.5};
    MethodInput in = input(m, 0.6);
    in.scores.block_influence = bi;
    MethodResult r;
    ck_assert_msg(method_run(method_find("shortgpt"), &in, &r) == 0, "%s", err_get());
    ck_assert_int_eq(layers_off(r.subnet), 2);
    ck_assert(layer_off(r.subnet, 3) && layer_off(r.subnet, 1));
    /* the reported budget is exactly the cost model's */
    ck_assert_double_eq_tol(r.budget, cost_ratio(m, r.subnet, COST_PARAMS, 256), 1e-12);
    ck_assert(fabs(r.budget - 0.6) < 0.01);
    method_result_free(&r);
    in.budget = 0.85; /* nearest achievable is one layer (~0.8) */
    ck_assert_int_eq(method_run(method_find("shortgpt"), &in, &r), 0);
    ck_assert_int_eq(layers_off(r.subnet), 1);
    ck_assert(layer_off(r.subnet, 3));
    method_result_free(&r);
    in.budget = 0.97; /* nearest is dense */
    ck_assert_int_eq(method_run(method_find("shortgpt"), &in, &r), 0);
    ck_assert_int_eq(layers_off(r.subnet), 0);
    ck_assert_double_eq_tol(r.budget, 1.0, 1e-12);
    method_result_free(&r);
    model_free(m);
}
END_TEST

START_TEST(test_uls_layers) {
    uint8_t s[NL];
    method_uls_layers(NL, 0, s);
    for (int l = 0; l < NL; l++) ck_assert_int_eq(s[l], 0);
    method_uls_layers(NL, 1, s);
    ck_assert(s[2] && !s[0] && !s[1] && !s[3] && !s[4]);
    method_uls_layers(NL, 2, s);
    ck_assert(s[1] && s[3] && !s[0] && !s[2] && !s[4]);
    method_uls_layers(NL, 3, s);
    ck_assert(s[1] && s[2] && s[3] && !s[0] && !s[4]);
    method_uls_layers(NL, 4, s);
    ck_assert_int_eq(s[0] + s[1] + s[2] + s[3] + s[4], 4);
    uint8_t t[32];
    for (int n = 0; n <= 32; n++) { /* always exactly n distinct layers */
        method_uls_layers(32, n, t);
        int c = 0;
        for (int l = 0; l < 32; l++) c += t[l];
        ck_assert_int_eq(c, n);
        if (n <= 30) ck_assert(!t[0] && !t[31]);
    }
    method_uls_layers(32, 8, t); /* every 30/8 = 3.75 layers from 1 */
    int want[8] = {2, 6, 10, 14, 17, 21, 25, 29};
    for (int i = 0; i < 8; i++) ck_assert_msg(t[want[i]], "layer %d", want[i]);
}
END_TEST

START_TEST(test_uls_method) {
    Model *m = tiny_zero_model(NL);
    MethodInput in = input(m, 0.6);
    MethodResult r;
    ck_assert_int_eq(method_run(method_find("uls"), &in, &r), 0);
    ck_assert(layer_off(r.subnet, 1) && layer_off(r.subnet, 3) && layers_off(r.subnet) == 2);
    ck_assert_double_eq_tol(r.budget, cost_ratio(m, r.subnet, COST_PARAMS, 1), 1e-12);
    method_result_free(&r);
    model_free(m);
}
END_TEST

START_TEST(test_attn_skip) {
    Model *m = tiny_zero_model(NL);
    Cost dense = cost_of(m, NULL, 1);
    double attn = (2.0 * 16 * 16 + 2.0 * 8 * 16 + 16) / (double)dense.params_layers;
    MethodInput in = input(m, 1.0 - 2 * attn);
    MethodResult r;
    ck_assert_int_eq(method_run(method_find("attn-skip"), &in, &r), 0);
    for (int l = 0; l < NL; l++) {
        ck_assert(r.subnet->layers[l].mlp_on);
        ck_assert(r.subnet->layers[l].attn_on == (l < NL - 2)); /* the latter two */
    }
    ck_assert_double_eq_tol(r.budget, 1.0 - 2 * attn, 1e-12);
    method_result_free(&r);
    in.budget = 0.5; /* below what attention alone can reach: every attention off, said so */
    ck_assert_int_eq(method_run(method_find("attn-skip"), &in, &r), 0);
    for (int l = 0; l < NL; l++) ck_assert(!r.subnet->layers[l].attn_on && r.subnet->layers[l].mlp_on);
    ck_assert(r.budget > 0.5);
    ck_assert_ptr_nonnull(strstr(r.note, "attention floor"));
    method_result_free(&r);
    model_free(m);
}
END_TEST

/* cos[i][j] = 0.5 except the listed spans */
static void span_scores(double *cs) {
    for (int i = 0; i < (NL + 1) * (NL + 1); i++) cs[i] = 0.5;
    cs[0 * (NL + 1) + 1] = 0.95;  /* single layer 0 */
    cs[2 * (NL + 1) + 4] = 0.9;   /* span [2, 4) */
    cs[1 * (NL + 1) + 3] = 0.8;   /* span [1, 3) */
    cs[1 * (NL + 1) + 4] = 0.7;   /* span [1, 4) */
}

START_TEST(test_streamline_span) {
    Model *m = tiny_zero_model(NL);
    double cs[(NL + 1) * (NL + 1)];
    span_scores(cs);
    MethodInput in = input(m, 0.6);
    in.scores.boundary_cos = cs;
    MethodResult r;
    ck_assert_int_eq(method_run(method_find("streamline"), &in, &r), 0);
    ck_assert(layer_off(r.subnet, 2) && layer_off(r.subnet, 3) && layers_off(r.subnet) == 2);
    ck_assert_int_eq(r.replace_first, -1);
    method_result_free(&r);
    in.budget = 0.8;
    ck_assert_int_eq(method_run(method_find("streamline"), &in, &r), 0);
    ck_assert(layer_off(r.subnet, 0) && layers_off(r.subnet) == 1);
    method_result_free(&r);
    /* with the fitted replacement: the span plus one dim x dim layer */
    in.budget = 0.4;
    ck_assert_int_eq(method_run(method_find("streamline-fit"), &in, &r), 0);
    Cost dense = cost_of(m, NULL, 1);
    double expect = cost_ratio(m, r.subnet, COST_PARAMS, 1) + 256.0 / (double)dense.params_layers;
    ck_assert_double_eq_tol(r.budget, expect, 1e-12);
    ck_assert_int_eq(r.replace_n, layers_off(r.subnet));
    ck_assert_int_ge(r.replace_first, 0);
    for (int l = r.replace_first; l < r.replace_first + r.replace_n; l++) ck_assert(layer_off(r.subnet, l));
    method_result_free(&r);
    model_free(m);
}
END_TEST

/* A known calibration "perplexity": base plus a fixed harm per removed layer plus an
 * interaction making layer 4 cheap only once layer 1 is gone. */
typedef struct {
    int calls;
} FakePpl;
static int fake_ppl(void *ud, const Subnet *s, double *ppl) {
    static const double harm[NL] = {10, 2, 5, 1, 3};
    ((FakePpl *)ud)->calls++;
    double p = 5;
    for (int l = 0; l < NL; l++)
        if (layer_off(s, l)) p += harm[l];
    if (layer_off(s, 4) && layer_off(s, 1)) p -= 3;
    *ppl = p;
    return 0;
}
static int failing_ppl(void *ud, const Subnet *s, double *ppl) {
    (void)ud, (void)s, (void)ppl;
    return err_set("calib.txt: boom");
}

START_TEST(test_sleb_greedy) {
    Model *m = tiny_zero_model(NL);
    FakePpl f = {0};
    MethodInput in = input(m, 0.8);
    in.calib_ppl = fake_ppl;
    in.ppl_ud = &f;
    MethodResult r;
    ck_assert_int_eq(method_run(method_find("sleb"), &in, &r), 0);
    ck_assert(layer_off(r.subnet, 3) && layers_off(r.subnet) == 1); /* cheapest single layer */
    ck_assert_double_eq_tol(r.calib_ppl, 6, 1e-12);
    method_result_free(&r);
    f.calls = 0;
    in.budget = 0.4; /* steps: 3 (ppl 6), then 1 (8), then 4 (8 with the interaction) */
    ck_assert_int_eq(method_run(method_find("sleb"), &in, &r), 0);
    ck_assert(layer_off(r.subnet, 3) && layer_off(r.subnet, 1) && layer_off(r.subnet, 4));
    ck_assert_int_eq(layers_off(r.subnet), 3);
    ck_assert_double_eq_tol(r.calib_ppl, 8, 1e-12);
    ck_assert_int_eq(r.n_evals, 5 + 4 + 3);
    ck_assert_int_eq(f.calls, 12);
    method_result_free(&r);
    in.calib_ppl = failing_ppl;
    ck_assert_int_eq(method_run(method_find("sleb"), &in, &r), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "calib.txt: boom"));
    ck_assert_ptr_null(r.subnet);
    model_free(m);
}
END_TEST

START_TEST(test_flap_global) {
    Model *m = tiny_zero_model(NL);
    /* head scores are 1000x larger than channel scores: standardising per structure type
     * must still remove some heads; layer 2's units score lowest within each type */
    double hsc[NL][4], csc[NL][24];
    const double *hp[NL], *cp[NL];
    for (int l = 0; l < NL; l++) {
        for (int h = 0; h < 4; h++) hsc[l][h] = 1000.0 * (l == 2 ? 1 + h : 10 + h + l);
        for (int c = 0; c < 24; c++) csc[l][c] = (l == 2 ? 1 + c * 0.01 : 3 + c * 0.01 + l);
        hp[l] = hsc[l], cp[l] = csc[l];
    }
    MethodInput in = input(m, 0.7);
    in.scores.head_score = hp;
    in.scores.chan_score = cp;
    MethodResult r;
    ck_assert_msg(method_run(method_find("flap"), &in, &r) == 0, "%s", err_get());
    ck_assert(r.budget <= 0.7 + 1e-12);
    ck_assert_double_eq_tol(r.budget, cost_ratio(m, r.subnet, COST_PARAMS, 1), 1e-12);
    ck_assert_int_lt(subnet_kept_heads(&r.subnet->layers[2]), 4);
    ck_assert_int_lt(subnet_kept_channels(&r.subnet->layers[2]), 24);
    ck_assert_int_eq(subnet_kept_heads(&r.subnet->layers[4]), 4);
    /* minimal: restoring the last removed unit (highest z removed) would exceed the budget */
    Subnet *t = subnet_clone(r.subnet);
    int best_l = -1, best_c = -1;
    double best = -1e30;
    for (int l = 0; l < NL; l++)
        for (int c = 0; c < 24; c++)
            if (!t->layers[l].chan_keep[c] && csc[l][c] > best) best = csc[l][c], best_l = l, best_c = c;
    ck_assert_int_ge(best_l, 0);
    t->layers[best_l].mlp_on = true;
    t->layers[best_l].chan_keep[best_c] = 1;
    ck_assert(method_budget_of(m, t, false) > 0.7);
    subnet_free(t);
    method_result_free(&r);
    /* missing scores */
    in.scores.head_score = NULL;
    ck_assert_int_eq(method_run(method_find("flap"), &in, &r), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "head fluctuation scores"));
    model_free(m);
}
END_TEST

static int count_ppl(void *ud, const Subnet *s, double *ppl) {
    ((FakePpl *)ud)->calls++;
    /* prefers subnets keeping layer 0's channels */
    *ppl = 100.0 - subnet_kept_channels(&s->layers[0]);
    return 0;
}

START_TEST(test_random_best_of_k) {
    Model *m = tiny_zero_model(NL);
    FakePpl f = {0};
    MethodInput in = input(m, 0.5);
    in.calib_ppl = count_ppl;
    in.ppl_ud = &f;
    in.random_k = 8;
    MethodResult a, b;
    ck_assert_int_eq(method_run(method_find("random"), &in, &a), 0);
    ck_assert_int_eq(f.calls, 8);
    ck_assert(a.budget <= 0.5 + 1e-12 && a.budget > 0.45);
    ck_assert_double_eq_tol(a.calib_ppl, 100.0 - subnet_kept_channels(&a.subnet->layers[0]), 1e-12);
    ck_assert_int_eq(method_run(method_find("random"), &in, &b), 0); /* same seed: same subnet */
    ck_assert(subnet_equal(a.subnet, b.subnet));
    method_result_free(&b);
    in.seed = 2;
    ck_assert_int_eq(method_run(method_find("random"), &in, &b), 0);
    ck_assert(!subnet_equal(a.subnet, b.subnet));
    method_result_free(&a);
    method_result_free(&b);
    model_free(m);
}
END_TEST

/* The batch seam: a batch function scoring the candidates in reverse order (as another
 * process might) gives the same choices as one-by-one scoring. */
typedef struct {
    MethodPplFn ppl;
    void *ud;
    int batches, tasks;
} FakeBatch;
static int reverse_batch(void *ud, TaskKind kind, bool reform, int stage, const Subnet *const *s, int n,
                         TaskResult *out) {
    FakeBatch *b = ud;
    ck_assert(kind == TASK_FITNESS && !reform && stage == 0);
    b->batches++, b->tasks += n;
    for (int i = n - 1; i >= 0; i--)
        if (b->ppl(b->ud, s[i], &out[i].v[0]) != 0) return -1;
    return 0;
}

START_TEST(test_batch_seam) {
    Model *m = tiny_zero_model(NL);
    for (int k = 0; k < 2; k++) { /* sleb at 0.4 (three greedy steps), random's 8 draws */
        const char *name = k ? "random" : "sleb";
        FakePpl f = {0};
        MethodInput in = input(m, k ? 0.5 : 0.4);
        in.calib_ppl = k ? count_ppl : fake_ppl;
        in.ppl_ud = &f;
        in.random_k = 8;
        MethodResult a, b;
        ck_assert_int_eq(method_run(method_find(name), &in, &a), 0);
        FakeBatch fb = {in.calib_ppl, &f, 0, 0};
        in.calib_ppl = NULL; /* the batch alone is enough */
        in.batch = reverse_batch, in.batch_ud = &fb;
        ck_assert_msg(method_run(method_find(name), &in, &b) == 0, "%s", err_get());
        ck_assert(subnet_equal(a.subnet, b.subnet));
        ck_assert(a.calib_ppl == b.calib_ppl && a.budget == b.budget);
        ck_assert_int_eq(a.n_evals, b.n_evals);
        ck_assert_int_eq(fb.tasks, b.n_evals);
        ck_assert_int_eq(fb.batches, (k ? 1 : 3)); /* one batch per greedy step */
        method_result_free(&a);
        method_result_free(&b);
        fb.ppl = failing_ppl;
        ck_assert_int_eq(method_run(method_find(name), &in, &b), -1);
        ck_assert_ptr_nonnull(strstr(err_get(), "calib.txt: boom"));
        ck_assert_ptr_null(b.subnet);
    }
    model_free(m);
}
END_TEST

START_TEST(test_registry_errors) {
    ck_assert_ptr_null(method_find("nope"));
    ck_assert_ptr_nonnull(strstr(err_get(), "unknown method 'nope'"));
    ck_assert_ptr_nonnull(strstr(err_get(), "shortgpt"));
    Model *m = tiny_zero_model(NL);
    MethodInput in = input(m, 1.5);
    MethodResult r;
    double bi[NL] = {0};
    in.scores.block_influence = bi;
    ck_assert_int_eq(method_run(method_find("shortgpt"), &in, &r), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "budget"));
    in.budget = 0.5;
    in.scores.block_influence = NULL;
    ck_assert_int_eq(method_run(method_find("shortgpt"), &in, &r), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "Block Influence"));
    ck_assert_int_eq(method_run(method_find("sleb"), &in, &r), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "calibration perplexity"));
    ck_assert_int_eq(method_run(method_find("magnitude"), &in, &r), -1);
    ck_assert_int_eq(method_run(method_find("carve-ga"), &in, &r), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "carve search"));
    for (int i = 0; i < method_count; i++) ck_assert_ptr_eq(method_find(method_table[i].name), &method_table[i]);
    model_free(m);
}
END_TEST

/* The real stories260K configuration: one layer is 45440 of 227264 non-embedding parameters. */
START_TEST(test_stories260k_budgets) {
    char *p = shared_path("models/stories260K/stories260K.bin");
    if (!p) return;
    Model *m = NULL;
    ck_assert_msg(model_open(p, &m) == 0, "%s", err_get());
    free(p);
    Cost dense = cost_of(m, NULL, 256);
    ck_assert_int_eq(dense.params_layers, 227264);
    double bi[5] = {0.5, 0.1, 0.2, 0.3, 0.4};
    const double targets[5] = {0.9, 0.8, 0.7, 0.6, 0.5};
    const int want_off[5] = {1, 1, 2, 2, 3};
    for (int i = 0; i < 5; i++) {
        MethodInput in = input(m, targets[i]);
        in.scores.block_influence = bi;
        MethodResult r;
        ck_assert_int_eq(method_run(method_find("shortgpt"), &in, &r), 0);
        ck_assert_int_eq(layers_off(r.subnet), want_off[i]);
        ck_assert_double_eq_tol(r.budget, (227264.0 - 45440.0 * want_off[i]) / 227264.0, 1e-12);
        method_result_free(&r);
    }
    model_free(m);
}
END_TEST

/* SLEB's first greedy step on the real model: the removed layer is the one whose removal gives
 * the lowest calibration ppl among all five single-layer removals, each measured here. */
START_TEST(test_sleb_step_stories260k) {
    char *p = shared_path("models/stories260K/stories260K.bin"), *c = shared_path("data/tinystories/calib.txt");
    if (!p || !c) {
        free(p), free(c);
        return;
    }
    Model *m = NULL;
    ck_assert_msg(model_open(p, &m) == 0, "%s", err_get());
    MethodCalib cal;
    ck_assert_msg(method_calib_open(m, c, 8, 64, 1, &cal) == 0, "%s", err_get());
    double dense, single[5];
    ck_assert_int_eq(method_calib_ppl(&cal, NULL, &dense), 0);
    int argmin = 0;
    for (int l = 0; l < 5; l++) {
        Subnet *s = subnet_dense(m);
        s->layers[l].attn_on = s->layers[l].mlp_on = false;
        subnet_canonicalize(s);
        ck_assert_int_eq(method_calib_ppl(&cal, s, &single[l]), 0);
        ck_assert(single[l] > dense); /* every layer of the trained model matters */
        if (single[l] < single[argmin]) argmin = l;
        subnet_free(s);
    }
    MethodInput in = input(m, 0.8);
    in.calib_ppl = method_calib_ppl;
    in.ppl_ud = &cal;
    MethodResult r;
    ck_assert_msg(method_run(method_find("sleb"), &in, &r) == 0, "%s", err_get());
    ck_assert_int_eq(layers_off(r.subnet), 1);
    ck_assert(layer_off(r.subnet, argmin));
    ck_assert_double_eq_tol(r.calib_ppl, single[argmin], 1e-9 * single[argmin]);
    ck_assert_int_eq(r.n_evals, 5);
    ck_assert_double_eq_tol(r.budget, (227264.0 - 45440.0) / 227264.0, 1e-12);
    method_result_free(&r);
    method_calib_close(&cal);
    /* a calibration file too short for the windows is a one-line error naming it */
    ck_assert_int_eq(method_calib_open(m, c, 100000, 256, 1, &cal), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "calib.txt"));
    model_free(m);
    free(p);
    free(c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("methods");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_nearest);
    tcase_add_test(tc, test_shortgpt_lowest_bi);
    tcase_add_test(tc, test_uls_layers);
    tcase_add_test(tc, test_uls_method);
    tcase_add_test(tc, test_attn_skip);
    tcase_add_test(tc, test_streamline_span);
    tcase_add_test(tc, test_sleb_greedy);
    tcase_add_test(tc, test_flap_global);
    tcase_add_test(tc, test_random_best_of_k);
    tcase_add_test(tc, test_batch_seam);
    tcase_add_test(tc, test_registry_errors);
    tcase_add_test(tc, test_stories260k_budgets);
    tcase_add_test(tc, test_sleb_step_stories260k);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
