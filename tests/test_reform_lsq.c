/* Unit tests for reform/lsq and reform/admm: the exact ridge reformation against a brute-force
 * numpy.linalg.lstsq reference (tests/ref_reform.py), one-shot and cross-covariance
 * (sequential) forms, and ADMM's gap to the exact solution after 10/30/100 iterations. */
#include <math.h>
#include <sys/wait.h>

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

static void write_bin(const char *dir, const char *name, const double *x, size_t n) {
    char *p = path_join(dir, name);
    ck_assert_int_eq(write_file_atomic(p, x, n * sizeof *x), 0);
    free(p);
}

/* Runs the numpy reference; returns 0 and fills ref (M, K), or 77 when it is unavailable. */
static int numpy_ref(const double *X, const double *Xt, const double *W, const int *idx, double lam, double *ref) {
    char *dir = test_tmpdir("reform-lsq");
    write_bin(dir, "X.f64", X, (size_t)N * T);
    write_bin(dir, "Xt.f64", Xt, (size_t)K * T);
    write_bin(dir, "W.f64", W, (size_t)M * N);
    char buf[512], *p;
    int len = snprintf(buf, sizeof buf, "%d %d %d %d %.17g\n", M, N, K, T, lam);
    p = path_join(dir, "meta.txt");
    ck_assert_int_eq(write_file_atomic(p, buf, (size_t)len), 0);
    free(p);
    len = 0;
    for (int j = 0; j < K; j++) len += snprintf(buf + len, sizeof buf - (size_t)len, "%d ", idx[j]);
    p = path_join(dir, "idx.txt");
    ck_assert_int_eq(write_file_atomic(p, buf, (size_t)len), 0);
    free(p);
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' tests/ref_reform.py '%s'", py, dir);
    int rc = system(cmd);
    int status = (rc != -1 && WIFEXITED(rc)) ? WEXITSTATUS(rc) : -1;
    if (status == 0) {
        p = path_join(dir, "ref.f64");
        size_t n = 0;
        char *data = read_file(p, &n);
        ck_assert_msg(data && n == (size_t)M * K * sizeof(double), "bad ref.f64");
        memcpy(ref, data, n);
        free(data);
        free(p);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
    ck_assert_msg(status == 0 || status == 77, "tests/ref_reform.py failed (status %d)", status);
    return status;
}

static double rel_diff(const double *a, const double *b, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
    return sqrt(num / den);
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
    ck_assert_int_eq(lsq_ridge(W, M, N, C, G, K, REFORM_LAMBDA_FRAC, out), 0);
    if (numpy_ref(X, Xt, W, idx, REFORM_LAMBDA_FRAC, ref) == 77) return;
    double d = rel_diff(out, ref, M * K);
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
    ck_assert_int_eq(lsq_ridge(W, M, N, C, G, K, 0.05, out), 0);
    if (numpy_ref(X, Xt, W, idx, 0.05, ref) == 77) return;
    double d = rel_diff(out, ref, M * K);
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
           res / g->energy, g->exact_res / g->energy, gap, rel_diff(What, g->exact, M * K));
    if (g->n < 4) g->gap[g->n++] = gap;
}

START_TEST(test_admm_gap) {
    static double X[N * T], W[M * N], H[N * N], C[N * K], G[K * K], WC[M * K], exact[M * K], out[M * K];
    int idx[K];
    setup(X, W, idx);
    gram(X, N, X, N, H);
    lsq_gather(H, N, idx, K, C, G);
    lsq_wc(W, M, N, C, K, WC);
    /* the unregularised optimum (λ → 0) is what ADMM converges to */
    memcpy(exact, WC, sizeof exact);
    ck_assert_int_eq(lsq_ridge_solve(exact, M, K, G, 1e-12), 0);
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
    ck_assert_int_eq(lsq_ridge_solve(WC, 2, 2, G, 1e-3), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "positive definite"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("reform_lsq");
    TCase *tc = tcase_create("lsq");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_exact_one_shot_matches_numpy);
    tcase_add_test(tc, test_exact_cross_covariance_matches_numpy);
    tcase_add_test(tc, test_admm_gap);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
