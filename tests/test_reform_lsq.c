/* Unit tests for reform/lsq and reform/admm: the exact ridge reformation against a brute-force
 * numpy.linalg.lstsq reference (tests/ref_reform.py), one-shot and cross-covariance
 * (sequential) forms, and ADMM's gap to the exact solution after 10/30/100 iterations. */
#include <math.h>

#include "reform/admm.h"
#include "reform/lsq.h"
#include "tests/testutil.h"

/* small deterministic generator for test data (xorshift64* + Box-Muller) */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static double urand(void) {
    rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}
static double nrand(void) { return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

enum { M = 10, N = 24, K = 12, T = 200 };

/* X (N, T) correlated: X = Mix · Z with Mix = I + 0.5·noise, row scales spread over 3 decades */
static void make_x(double *X) {
    double Z[N * T], Mix[N * N];
    for (int i = 0; i < N * T; i++) Z[i] = nrand();
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) Mix[i * N + j] = (i == j) + 0.5 * nrand();
    for (int i = 0; i < N; i++) {
        double s = pow(10.0, 1.5 * i / N - 0.5);
        for (int t = 0; t < T; t++) {
            double a = 0;
            for (int j = 0; j < N; j++) a += Mix[i * N + j] * Z[j * T + t];
            X[i * T + t] = s * a;
        }
    }
}

/* A (r, r) <- P (r, T) · Q (c, T)ᵀ with c columns */
static void gram(const double *P, int r, const double *Q, int c, double *A) {
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) {
            double s = 0;
            for (int t = 0; t < T; t++) s += P[i * T + t] * Q[j * T + t];
            A[i * c + j] = s;
        }
}

/* Runs the numpy reference; returns 0 and fills ref (M, K), or 77 when it is unavailable. */
static int numpy_ref(const double *X, const double *Xt, const double *W, const int *idx, double lam, double *ref) {
    char *dir = test_tmpdir("reform-lsq");
    test_write_lsq_case(dir, M, N, K, T, lam, X, Xt, W, idx);
    int status = test_run_python("tests/ref_reform.py", dir);
    if (status == 0) test_read_f64(dir, "ref.f64", ref, (size_t)M * K);
    test_rmtree(dir);
    free(dir);
    return status;
}

static void setup(double *X, double *W, int *idx) {
    make_x(X);
    for (int i = 0; i < M * N; i++) W[i] = nrand();
    /* keep every other column (K = N / 2), so both dead-scale and live columns are dropped */
    for (int j = 0; j < K; j++) idx[j] = 2 * j + (j % 3 == 0);
}

START_TEST(test_exact_one_shot_matches_numpy) {
    static double X[N * T], Xt[K * T], W[M * N], H[N * N], C[N * K], G[K * K], out[M * K], ref[M * K];
    int idx[K];
    setup(X, W, idx);
    for (int j = 0; j < K; j++) memcpy(Xt + j * T, X + idx[j] * T, T * sizeof(double));
    gram(X, N, X, N, H);
    lsq_gather(H, N, idx, K, C, G);
    ck_assert_int_eq(lsq_ridge(W, M, N, C, G, K, REFORM_LAMBDA_FRAC, NULL, out), 0);
    if (numpy_ref(X, Xt, W, idx, REFORM_LAMBDA_FRAC, ref) == 77) return;
    double d = test_rel_diff(out, ref, M * K);
    printf("one-shot exact vs numpy lstsq: relative difference %.3e\n", d);
    ck_assert_msg(d < 1e-4, "one-shot: %g", d);
    /* and the residual from statistics equals the direct ‖Ŵ X_S − W X‖² */
    double WC[M * K];
    lsq_wc(W, M, N, C, K, WC);
    double energy = lsq_energy(W, M, N, H), res = lsq_residual(out, M, K, WC, G, energy), direct = 0;
    for (int i = 0; i < M; i++)
        for (int t = 0; t < T; t++) {
            double e = 0;
            for (int j = 0; j < K; j++) e += out[i * K + j] * Xt[j * T + t];
            for (int j = 0; j < N; j++) e -= W[i * N + j] * X[j * T + t];
            direct += e * e;
        }
    ck_assert_msg(fabs(res - direct) <= 1e-8 * energy, "residual %g vs direct %g", res, direct);
    ck_assert(res < energy);
}
END_TEST

START_TEST(test_exact_cross_covariance_matches_numpy) {
    /* sequential form: the pruned model sees perturbed inputs X̃_S = X_S + noise */
    static double X[N * T], Xt[K * T], W[M * N], C[N * K], G[K * K], out[M * K], ref[M * K];
    int idx[K];
    setup(X, W, idx);
    for (int j = 0; j < K; j++)
        for (int t = 0; t < T; t++) Xt[j * T + t] = X[idx[j] * T + t] * (1 + 0.2 * nrand()) + 0.3 * nrand();
    gram(X, N, Xt, K, C);
    gram(Xt, K, Xt, K, G);
    ck_assert_int_eq(lsq_ridge(W, M, N, C, G, K, 0.05, NULL, out), 0);
    if (numpy_ref(X, Xt, W, idx, 0.05, ref) == 77) return;
    double d = test_rel_diff(out, ref, M * K);
    printf("cross-covariance exact vs numpy lstsq: relative difference %.3e\n", d);
    ck_assert_msg(d < 1e-4, "cross-covariance: %g", d);
}
END_TEST

typedef struct {
    const double *WC, *G, *exact;
    double energy, exact_res, gap[4];
    int n;
} Gap;

static void on_iter(void *ud, int iter, const double *What) {
    Gap *g = ud;
    double res = lsq_residual(What, M, K, g->WC, g->G, g->energy);
    double gap = (res - g->exact_res) / g->energy;
    printf("ADMM rho=1 after %3d iterations: relative error %.6e (exact %.6e), gap %.3e, weight diff %.3e\n", iter,
           res / g->energy, g->exact_res / g->energy, gap, test_rel_diff(What, g->exact, M * K));
    if (g->n < 4) g->gap[g->n++] = gap;
}

START_TEST(test_prior_when_calibration_is_short) {
    /* fewer calibration tokens (TS) than kept columns (K): the fit shrinks towards the prior P */
    enum { TS = 5 };
    static double X[N * T], W[M * N], P[M * K], H[N * N], C[N * K], G[K * K], out[M * K], plain[M * K];
    int idx[K];
    setup(X, W, idx);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < K; j++) P[i * K + j] = W[i * N + idx[j]];
    /* statistics of the first TS tokens only */
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double a = 0;
            for (int t = 0; t < TS; t++) a += X[i * T + t] * X[j * T + t];
            H[i * N + j] = a;
        }
    lsq_gather(H, N, idx, K, C, G);
    double lam_frac = 1e-6;
    LsqPrior prior = {.P = P, .n_tok = TS};
    ck_assert_int_eq(lsq_ridge(W, M, N, C, G, K, lam_frac, &prior, out), 0);
    ck_assert_int_eq(lsq_ridge(W, M, N, C, G, K, lam_frac, NULL, plain), 0);
    double mean = 0;
    for (int j = 0; j < K; j++) mean += G[j * K + j];
    mean /= K;
    double lam = lam_frac * mean, mu = (double)K * mean / TS;
    /* stationarity of ‖Ŵ X̃ − W X‖² + λ‖Ŵ‖² + μ‖Ŵ − P‖², evaluated on the raw tokens */
    double gmax = 0, scale = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < K; j++) {
            double g = lam * out[i * K + j] + mu * (out[i * K + j] - P[i * K + j]);
            for (int t = 0; t < TS; t++) {
                double e = 0;
                for (int c = 0; c < K; c++) e += out[i * K + c] * X[idx[c] * T + t];
                for (int c = 0; c < N; c++) e -= W[i * N + c] * X[c * T + t];
                g += e * X[idx[j] * T + t];
            }
            gmax = fmax(gmax, fabs(g));
            scale = fmax(scale, mu * fabs(P[i * K + j]));
        }
    printf("short calibration: max |gradient| %.3e (scale %.3e)\n", gmax, scale);
    ck_assert_msg(gmax <= 1e-9 * scale, "not stationary: %g vs %g", gmax, scale);
    /* a direction v the TS tokens never excite (X̃ᵀv = 0): Ŵv = μ/(λ+μ) Pv, while the plain ridge
     * sends it to zero. v = a null vector of G, from the (K - TS)-dimensional null space. */
    double v[K] = {0}, Xs[TS * TS], rhs[TS];
    for (int j = TS; j < K; j++) v[j] = j == TS ? 1.0 : 0.0;
    /* solve X̃[:TS]ᵀ-part so that Σ_j v_j x̃_j(t) = 0 for every token t */
    for (int t = 0; t < TS; t++) {
        for (int j = 0; j < TS; j++) Xs[t * TS + j] = X[idx[j] * T + t];
        rhs[t] = -X[idx[TS] * T + t];
    }
    for (int c = 0; c < TS; c++) /* Gaussian elimination with partial pivoting */
        for (int r = c + 1; r < TS; r++) {
            if (fabs(Xs[r * TS + c]) > fabs(Xs[c * TS + c]))
                for (int q = 0; q <= TS; q++) {
                    double a = q < TS ? Xs[c * TS + q] : rhs[c], b = q < TS ? Xs[r * TS + q] : rhs[r];
                    if (q < TS) Xs[c * TS + q] = b, Xs[r * TS + q] = a;
                    else rhs[c] = b, rhs[r] = a;
                }
            double f = Xs[r * TS + c] / Xs[c * TS + c];
            for (int q = c; q < TS; q++) Xs[r * TS + q] -= f * Xs[c * TS + q];
            rhs[r] -= f * rhs[c];
        }
    for (int c = TS - 1; c >= 0; c--) {
        double a = rhs[c];
        for (int q = c + 1; q < TS; q++) a -= Xs[c * TS + q] * v[q];
        v[c] = a / Xs[c * TS + c];
    }
    double want = mu / (lam + mu), worst = 0, worst_plain = 0;
    for (int i = 0; i < M; i++) {
        double wv = 0, pv = 0, zv = 0;
        for (int j = 0; j < K; j++) wv += out[i * K + j] * v[j], pv += P[i * K + j] * v[j], zv += plain[i * K + j] * v[j];
        worst = fmax(worst, fabs(wv - want * pv) / fabs(pv));
        worst_plain = fmax(worst_plain, fabs(zv) / fabs(pv));
    }
    printf("unexcited direction: |Wv - mu/(lam+mu) Pv| / |Pv| <= %.3e (plain ridge |Wv|/|Pv| <= %.3e)\n", worst,
           worst_plain);
    ck_assert_msg(worst < 1e-6, "unexcited direction not kept: %g", worst);
    /* the prior fades as the tokens grow: the same G claimed to sum 1e18 tokens gives the plain ridge */
    prior.n_tok = 1e18;
    ck_assert_int_eq(lsq_ridge(W, M, N, C, G, K, lam_frac, &prior, out), 0);
    double d = test_rel_diff(out, plain, M * K);
    printf("prior with N = 1e18: relative difference to the plain ridge %.3e\n", d);
    ck_assert_msg(d < 1e-6, "prior does not fade: %g", d);
}
END_TEST

START_TEST(test_admm_gap) {
    static double X[N * T], W[M * N], H[N * N], C[N * K], G[K * K], WC[M * K], exact[M * K], out[M * K];
    int idx[K];
    setup(X, W, idx);
    gram(X, N, X, N, H);
    lsq_gather(H, N, idx, K, C, G);
    lsq_wc(W, M, N, C, K, WC);
    /* the unregularised optimum (λ → 0) is what ADMM converges to */
    memcpy(exact, WC, sizeof exact);
    ck_assert_int_eq(lsq_ridge_solve(exact, M, K, G, 1e-12, NULL), 0);
    Gap g = {.WC = WC, .G = G, .exact = exact, .energy = lsq_energy(W, M, N, H)};
    g.exact_res = lsq_residual(exact, M, K, WC, G, g.energy);
    int iters[3] = {10, 30, 100};
    for (int r = 0; r < 3; r++) {
        ck_assert_int_eq(admm_solve(W, M, N, H, idx, K, ADMM_RHO, iters[r], out, iters[r], on_iter, &g), 0);
    }
    ck_assert_int_eq(g.n, 3);
    /* never better than the optimum, and closing in as iterations grow */
    for (int r = 0; r < 3; r++) ck_assert(g.gap[r] >= -1e-9);
    ck_assert(g.gap[2] <= g.gap[0]);
    ck_assert_msg(g.gap[2] < 1e-3, "ADMM after 100 iterations still %g from the optimum", g.gap[2]);
    /* the reformed weights beat plain column removal by a wide margin */
    double plain[M * K];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < K; j++) plain[i * K + j] = W[i * N + idx[j]];
    ck_assert(g.exact_res < 0.5 * lsq_residual(plain, M, K, WC, G, g.energy));
}
END_TEST

START_TEST(test_bad_input) {
    double W[4] = {1, 2, 3, 4}, H[4] = {1, 0, 0, 1}, out[4];
    int idx[2] = {0, 1};
    ck_assert_int_eq(admm_solve(W, 2, 2, H, idx, 2, 0.0, 5, out, 0, NULL, NULL), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "rho"));
    /* an indefinite Gram matrix that no ridge can fix is an error, not a wrong answer */
    double G[4] = {-1e6, 0, 0, -1e6}, WC[4] = {1, 1, 1, 1};
    ck_assert_int_eq(lsq_ridge_solve(WC, 2, 2, G, 1e-3, NULL), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "positive definite"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("reform_lsq");
    TCase *tc = tcase_create("lsq");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_exact_one_shot_matches_numpy);
    tcase_add_test(tc, test_exact_cross_covariance_matches_numpy);
    tcase_add_test(tc, test_prior_when_calibration_is_short);
    tcase_add_test(tc, test_admm_gap);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
