/* Unit tests for reformation with an intercept and FLAP's bias compensation:
 *  - lsq_ridge_solve_free with one unpenalised unknown (the intercept) against numpy.linalg.lstsq
 *    on the stacked system with a constant input (tests/ref_intercept.py), in the one-shot form
 *    (X̃ = X_S) and the cross form (X̃ ≠ X_S, sequential), with the prior on the weights only;
 *  - importance_flap_bias against numpy's W[:, removed] · mean(X[removed]);
 *  - on stories260K (skipped without ../shared): reform_oneshot with fit "bias" keeps the
 *    extracted weights and adds exactly FLAP's compensation as the o/down biases, and with fit
 *    "weights+bias" gives a lower calibration perplexity than "weights". */
#include <math.h>

#include "eval/calib.h"
#include "eval/evaluator.h"
#include "reform/importance.h"
#include "reform/lsq.h"
#include "reform/reform.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/extract.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/testutil.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dULL;
static double urand(void) {
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}
static double nrand(void) { return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

enum { M = 9, N = 20, K = 11, T = 150 };

/* X (N, T): correlated rows with non-zero means (what makes an intercept matter) */
static void make_x(double *X) {
    for (int i = 0; i < N; i++) {
        double mean = 2.0 * nrand(), scale = pow(10.0, 1.0 * i / N - 0.5);
        for (int t = 0; t < T; t++) X[i * T + t] = mean + scale * nrand() + (i ? 0.3 * X[(i - 1) * T + t] : 0);
    }
}

/* Runs tests/ref_intercept.py; 0 with fit (M, K+1) and flap (M) filled, or 77 without numpy. */
static int numpy_ref(const double *X, const double *Xt, const double *W, const int *idx, double *fit, double *flap) {
    char *dir = test_tmpdir("reform-intercept");
    test_write_lsq_case(dir, M, N, K, T, REFORM_LAMBDA_FRAC, X, Xt, W, idx);
    int status = test_run_python("tests/ref_intercept.py", dir);
    if (status == 0) test_read_f64(dir, "fit.f64", fit, (size_t)M * (K + 1)), test_read_f64(dir, "flap.f64", flap, M);
    test_rmtree(dir);
    free(dir);
    return status;
}

/* [Ŵ | b] (M, K+1) from the raw data by lsq_ridge_solve_free: C = [X X̃ᵀ | X 1], G = [X̃X̃ᵀ X̃1; 1ᵀX̃ᵀ T]. */
static void carve_fit(const double *X, const double *Xt, const double *W, const int *idx, double *out) {
    enum { KT = K + 1 };
    static double C[N * KT], G[KT * KT], P[M * K];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < KT; j++) {
            double s = 0;
            for (int t = 0; t < T; t++) s += X[i * T + t] * (j < K ? Xt[j * T + t] : 1.0);
            C[i * KT + j] = s;
        }
    for (int i = 0; i < KT; i++)
        for (int j = 0; j < KT; j++) {
            double s = 0;
            for (int t = 0; t < T; t++) s += (i < K ? Xt[i * T + t] : 1.0) * (j < K ? Xt[j * T + t] : 1.0);
            G[i * KT + j] = s;
        }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < K; j++) P[i * K + j] = W[i * N + idx[j]];
    lsq_wc(W, M, N, C, KT, out);
    LsqPrior prior = {.P = P, .n_tok = T};
    ck_assert_int_eq(lsq_ridge_solve_free(out, M, K, 1, G, REFORM_LAMBDA_FRAC, &prior), 0);
}

static void check_fit(int cross) {
    static double X[N * T], Xt[K * T], W[M * N], out[M * (K + 1)], fit[M * (K + 1)], flap[M];
    int idx[K];
    make_x(X);
    for (int i = 0; i < M * N; i++) W[i] = nrand();
    for (int j = 0; j < K; j++) idx[j] = (j * N) / K;
    for (int j = 0; j < K; j++)
        for (int t = 0; t < T; t++) Xt[j * T + t] = X[idx[j] * T + t] + (cross ? 0.2 * nrand() + 0.1 : 0);
    carve_fit(X, Xt, W, idx, out);
    if (numpy_ref(X, Xt, W, idx, fit, flap) == 77) return;
    double d = test_rel_diff(out, fit, M * (K + 1)), db = 0, nb = 0;
    for (int i = 0; i < M; i++) db += pow(out[i * (K + 1) + K] - fit[i * (K + 1) + K], 2), nb += pow(fit[i * (K + 1) + K], 2);
    printf("%s intercept fit vs numpy lstsq: relative difference %.3e (bias alone %.3e)\n", cross ? "cross" : "one-shot",
           d, sqrt(db / nb));
    ck_assert_msg(d < 1e-8, "intercept fit: %g", d);
    ck_assert_msg(sqrt(db / nb) < 1e-8, "intercept: %g", sqrt(db / nb));
}

START_TEST(test_intercept_one_shot_matches_numpy) { check_fit(0); }
END_TEST

START_TEST(test_intercept_cross_matches_numpy) { check_fit(1); }
END_TEST

START_TEST(test_flap_bias_matches_numpy) {
    /* importance_flap_bias on a one-layer model whose down projection is W (M = dim, N = hidden) */
    static double X[N * T], Xt[K * T], W[M * N], fit[M * (K + 1)], flap[M], bias[M], sum[N];
    static float Wf[M * N];
    int idx[K];
    uint8_t keep[N] = {0};
    make_x(X);
    for (int i = 0; i < M * N; i++) W[i] = Wf[i] = (float)nrand(); /* exact in both precisions */
    for (int j = 0; j < K; j++) idx[j] = (j * N) / K, keep[idx[j]] = 1;
    for (int j = 0; j < K; j++) memcpy(Xt + j * T, X + idx[j] * T, T * sizeof *Xt);
    for (int i = 0; i < N; i++) {
        sum[i] = 0;
        for (int t = 0; t < T; t++) sum[i] += X[i * T + t];
    }
    Model *m = model_alloc(1);
    m->cfg.dim = M;
    m->layers[0].hidden_dim = N;
    m->layers[0].w_down = tensor_make(DT_F32, M, N, Wf);
    LayerStats st = {.dim = M, .f = N, .n_tok = T, .sum_d = sum};
    importance_flap_bias(m, 0, &st, 1, keep, bias);
    m->layers[0].w_down.data = NULL;
    model_free(m);
    if (numpy_ref(X, Xt, W, idx, fit, flap) == 77) return;
    double d = test_rel_diff(bias, flap, M);
    printf("FLAP bias compensation vs numpy: relative difference %.3e\n", d);
    ck_assert_msg(d < 1e-6, "flap bias: %g", d); /* W read back as f32 rows, summed in double */
}
END_TEST

/* ---- stories260K: the reformation driver ---- */

START_TEST(test_reform_bias_fits) {
    char *mp = shared_path("models/stories260K/stories260K.bin"), *cp = shared_path("data/tinystories/calib.txt");
    if (!mp || !cp) {
        free(mp), free(cp);
        printf("../shared absent: skipped\n");
        return;
    }
    Model *m = NULL;
    ck_assert_int_eq(model_open(mp, &m), 0);
    char *cache = test_tmpdir("intercept-cache");
    StatsOptions so = {.N = 16, .L = 128, .seed = 1, .cache_dir = cache, .quiet = true};
    StatsFile *sf = NULL;
    ck_assert_int_eq(stats_open(m, cp, &so, &sf), 0);
    /* every layer loses every third head and channel */
    Subnet *s = subnet_dense(m);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        for (int h = 0; h < s->layers[l].n_heads; h++) s->layers[l].head_keep[h] = h % 3 != 1;
        for (int c = 0; c < s->layers[l].hidden_dim; c++) s->layers[l].chan_keep[c] = c % 3 != 1;
    }
    subnet_canonicalize(s);
    Model *E = NULL, *Rb = NULL, *Rw = NULL, *Rwb = NULL;
    ReformOptions ro;
    reform_defaults(&ro);
    ck_assert_int_eq(ro.fit, REFORM_FIT_DEFAULT);
    ck_assert_int_eq(model_extract(m, s, &E), 0);
    ro.fit = REFORM_FIT_BIAS;
    ck_assert_int_eq(reform_oneshot(m, s, sf, &ro, &Rb), 0);
    int D = m->cfg.dim, hd = m->cfg.head_dim;
    double *bias = xmalloc((size_t)D * sizeof *bias), worst = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        LayerStats st;
        ck_assert_int_eq(stats_layer(sf, l, &st), 0);
        const SubnetLayer *S = &s->layers[l];
        for (int which = 0; which < 2; which++) {
            int n = which ? S->hidden_dim : S->n_heads * hd;
            uint8_t *keep = xmalloc((size_t)n);
            for (int j = 0; j < n; j++) keep[j] = which ? S->chan_keep[j] : S->head_keep[j / hd];
            importance_flap_bias(m, l, &st, which, keep, bias);
            const Tensor *b = which ? &Rb->layers[l].b_down : &Rb->layers[l].bo;
            const Tensor *w = which ? &Rb->layers[l].w_down : &Rb->layers[l].wo;
            const Tensor *we = which ? &E->layers[l].w_down : &E->layers[l].wo;
            ck_assert_msg(b->data && b->rows == 1 && b->cols == D, "layer %d: no %s bias", l, which ? "down" : "o");
            for (int i = 0; i < D; i++) {
                double e = fabs(((const float *)b->data)[i] - bias[i]) / (fabs(bias[i]) + 1e-6);
                if (e > worst) worst = e;
            }
            ck_assert_int_eq(memcmp(w->data, we->data, (size_t)(w->rows * w->cols) * sizeof(float)), 0);
            free(keep);
        }
        layer_stats_free(&st);
    }
    printf("fit bias: largest relative difference to importance_flap_bias %.2e\n", worst);
    ck_assert_msg(worst < 1e-5, "fit bias differs from FLAP's formula: %g", worst);
    /* the intercept lowers the calibration perplexity (the fit's own objective, in-sample) */
    ro.fit = REFORM_FIT_WEIGHTS;
    ck_assert_int_eq(reform_oneshot(m, s, sf, &ro, &Rw), 0);
    ro.fit = REFORM_FIT_WEIGHTS_BIAS;
    ck_assert_int_eq(reform_oneshot(m, s, sf, &ro, &Rwb), 0);
    int32_t *ids;
    size_t nid;
    Windows w = {0};
    ck_assert_int_eq(text_tokenize_file(m->tokenizer, cp, &ids, &nid), 0);
    ck_assert_int_eq(windows_sample(ids, nid, 16, 128, 1, cp, &w), 0);
    free(ids);
    Evaluator *ev;
    double pw, pwb, pb, pe;
    ck_assert_int_eq(evaluator_create(m, &w, NULL, &ev), 0);
    ck_assert_int_eq(evaluator_ppl_model(ev, E, NULL, &pe), 0);
    ck_assert_int_eq(evaluator_ppl_model(ev, Rb, NULL, &pb), 0);
    ck_assert_int_eq(evaluator_ppl_model(ev, Rw, NULL, &pw), 0);
    ck_assert_int_eq(evaluator_ppl_model(ev, Rwb, NULL, &pwb), 0);
    evaluator_free(ev);
    printf("calibration ppl: inherited %.4f, bias only %.4f, weights %.4f, weights+bias %.4f\n", pe, pb, pw, pwb);
    ck_assert(pb < pe);
    ck_assert(pwb < pw);
    ck_assert(pw < pb);
    /* ADMM fits the weights only */
    Model *Ra = NULL;
    ro.method = REFORM_ADMM;
    ck_assert_int_eq(reform_oneshot(m, s, sf, &ro, &Ra), -1);
    ck_assert_ptr_null(Ra);
    windows_free(&w);
    free(bias);
    model_free(E), model_free(Rb), model_free(Rw), model_free(Rwb);
    subnet_free(s);
    stats_close(sf);
    model_free(m);
    test_rmtree(cache);
    free(cache), free(mp), free(cp);
}
END_TEST

START_TEST(test_fit_names) {
    ReformFit f;
    ck_assert_int_eq(reform_fit_parse("weights+bias", &f), 0);
    ck_assert_int_eq(f, REFORM_FIT_WEIGHTS_BIAS);
    ck_assert_int_eq(reform_fit_parse("both", &f), -1);
    ck_assert_str_eq(reform_fit_name(REFORM_FIT_BIAS), "bias");
}
END_TEST

int main(void) {
    Suite *s = suite_create("reform_intercept");
    TCase *tc = tcase_create("intercept");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_intercept_one_shot_matches_numpy);
    tcase_add_test(tc, test_intercept_cross_matches_numpy);
    tcase_add_test(tc, test_flap_bias_matches_numpy);
    tcase_add_test(tc, test_reform_bias_fits);
    tcase_add_test(tc, test_fit_names);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
