/* Tests for reform/importance.c's greedy OBS order (importance_obs, `space: importance: obs`) on
 * random matrices: along the elimination order a unit's score is the exact output error of
 * removing it and every unit before it with the least-squares compensation of the rest
 * (2 tr(W_R (H_RR - H_RS H_SS⁻¹ H_SR) W_Rᵀ), H damped as the saliency damps it, computed here
 * independently), each step removes the unit whose removal then costs least, the first unit
 * removed is the one of lowest saliency, and with more than 255 units (the batched steps) the
 * scores still equal those errors at the batch boundaries and end at the error of removing all; a
 * Hessian that is not positive definite is an error. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>

#include "reform/importance.h"
#include "reform/lsq.h"
#include "runtime/base/pcg32.h"
#include "tests/testutil.h"

/* W (m, n) with normal-ish entries; H (n, n) = A Aᵀ / (2n) + diag, A (n, 2n), correlated columns. */
static void random_problem(uint64_t seed, int m, int n, double **W, double **H) {
    Pcg32 r;
    pcg32_seed(&r, seed, 3);
    *W = xmalloc((size_t)m * n * sizeof **W);
    *H = xmalloc((size_t)n * n * sizeof **H);
    double *A = xmalloc((size_t)n * 2 * n * sizeof *A);
    for (int64_t i = 0; i < (int64_t)m * n; i++) (*W)[i] = pcg32_double(&r) - 0.5;
    for (int64_t i = 0; i < (int64_t)n * 2 * n; i++) A[i] = pcg32_double(&r) - 0.5;
    for (int i = 0; i < n; i++) /* a few near-copies: the case where order matters */
        if (i % 7 == 3) memcpy(A + (int64_t)i * 2 * n, A + (int64_t)(i - 1) * 2 * n, (size_t)2 * n * sizeof *A);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, 2 * n, 1.0 / (2 * n), A, 2 * n, A, 2 * n, 0.0, *H, n);
    for (int i = 0; i < n; i++) (*H)[(int64_t)i * n + i] += 1e-3;
    free(A);
}

/* The damped H the importance module uses: H + REFORM_LAMBDA_FRAC · mean diag · I. */
static double *damped(const double *H, int n) {
    double *D = xmalloc((size_t)n * n * sizeof *D), mean = 0;
    memcpy(D, H, (size_t)n * n * sizeof *D);
    for (int i = 0; i < n; i++) mean += H[(int64_t)i * n + i];
    for (int i = 0; i < n; i++) D[(int64_t)i * n + i] += REFORM_LAMBDA_FRAC * mean / n;
    return D;
}

/* 2 tr(W_R (D_RR - D_RS D_SS⁻¹ D_SR) W_Rᵀ) for the columns with gone[j] (D damped). */
static double removal_error(const double *W, int m, int n, const double *D, const bool *gone) {
    int *R = xmalloc((size_t)n * sizeof *R), *S = xmalloc((size_t)n * sizeof *S), nr = 0, ns = 0;
    for (int j = 0; j < n; j++)
        if (gone[j]) R[nr++] = j;
        else S[ns++] = j;
    double *Sc = xmalloc((size_t)nr * nr * sizeof *Sc);
    for (int a = 0; a < nr; a++)
        for (int b = 0; b < nr; b++) Sc[a * nr + b] = D[(int64_t)R[a] * n + R[b]];
    if (ns > 0) {
        double *Dss = xmalloc((size_t)ns * ns * sizeof *Dss), *X = xmalloc((size_t)ns * nr * sizeof *X);
        for (int a = 0; a < ns; a++) {
            for (int b = 0; b < ns; b++) Dss[a * ns + b] = D[(int64_t)S[a] * n + S[b]];
            for (int b = 0; b < nr; b++) X[a * nr + b] = D[(int64_t)S[a] * n + R[b]];
        }
        ck_assert_int_eq(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', ns, nr, Dss, ns, X, nr), 0); /* X = D_SS⁻¹ D_SR */
        for (int a = 0; a < nr; a++)
            for (int b = 0; b < nr; b++) {
                double s = 0;
                for (int c = 0; c < ns; c++) s += D[(int64_t)R[a] * n + S[c]] * X[c * nr + b];
                Sc[a * nr + b] -= s;
            }
        free(Dss), free(X);
    }
    double e = 0;
    for (int64_t i = 0; i < m; i++)
        for (int a = 0; a < nr; a++)
            for (int b = 0; b < nr; b++) e += W[i * n + R[a]] * Sc[a * nr + b] * W[i * n + R[b]];
    free(R), free(S), free(Sc);
    return 2 * e;
}

/* Units by ascending score (the elimination order); checks the scores strictly increase. */
static int *order_of(const double *score, int nu) {
    int *o = xmalloc((size_t)nu * sizeof *o);
    for (int u = 0; u < nu; u++) o[u] = u;
    for (int i = 1; i < nu; i++)
        for (int k = i; k > 0 && score[o[k - 1]] > score[o[k]]; k--) {
            int t = o[k];
            o[k] = o[k - 1], o[k - 1] = t;
        }
    for (int i = 1; i < nu; i++) ck_assert_double_lt(score[o[i - 1]], score[o[i]]);
    return o;
}

static void set_unit(bool *gone, int u, int bs, bool v) {
    for (int b = 0; b < bs; b++) gone[u * bs + b] = v;
}

/* Exact greedy (< 256 units): every score is the removal error of its prefix, and each step's unit
 * is the cheapest next removal. */
static void check_exact(uint64_t seed, int m, int n, int bs) {
    double *W, *H, *score = xmalloc((size_t)(n / bs) * sizeof *score);
    random_problem(seed, m, n, &W, &H);
    ck_assert_msg(importance_obs(W, m, n, bs, H, score) == 0, "%s", err_get());
    double *D = damped(H, n);
    int nu = n / bs, *o = order_of(score, nu);
    bool *gone = xcalloc((size_t)n, sizeof *gone);
    for (int k = 0; k < nu; k++) {
        double best = INFINITY;
        for (int u = 0; u < nu; u++) { /* the cheapest next removal */
            if (gone[u * bs]) continue;
            set_unit(gone, u, bs, true);
            best = fmin(best, removal_error(W, m, n, D, gone));
            set_unit(gone, u, bs, false);
        }
        set_unit(gone, o[k], bs, true);
        double e = removal_error(W, m, n, D, gone);
        ck_assert_msg(fabs(score[o[k]] - e) <= 1e-8 * e, "step %d: score %.12g, removal error %.12g", k, score[o[k]], e);
        ck_assert_msg(e <= best * (1 + 1e-9), "step %d: removed a unit costing %.12g, cheapest %.12g", k, e, best);
    }
    if (bs == 1) { /* the first removal is the lowest saliency: Φ_j = 2 Σ_i W_ij² / [D⁻¹]_jj */
        double *Di = xmalloc((size_t)n * n * sizeof *Di), lo = INFINITY;
        memcpy(Di, D, (size_t)n * n * sizeof *Di);
        ck_assert_int_eq(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, Di, n), 0);
        ck_assert_int_eq(LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', n, Di, n), 0);
        int arg = -1;
        for (int j = 0; j < n; j++) {
            double w2 = 0;
            for (int64_t i = 0; i < m; i++) w2 += W[i * n + j] * W[i * n + j];
            double phi = 2 * w2 / Di[(int64_t)j * n + j];
            if (phi < lo) lo = phi, arg = j;
        }
        ck_assert_int_eq(o[0], arg);
        ck_assert_double_eq_tol(score[arg], lo, 1e-9 * lo);
        free(Di);
    }
    free(W), free(H), free(D), free(score), free(o), free(gone);
}

START_TEST(test_obs_exact_channels) { check_exact(11, 6, 40, 1); }
END_TEST

START_TEST(test_obs_exact_heads) { check_exact(12, 5, 48, 4); }
END_TEST

/* 600 units: steps remove 1 + left/256 units together; at the first boundaries, one in the middle
 * and the end the score is the removal error of all units removed so far. */
START_TEST(test_obs_batched) {
    int m = 3, n = 600;
    double *W, *H, *score = xmalloc((size_t)n * sizeof *score);
    random_problem(13, m, n, &W, &H);
    ck_assert_msg(importance_obs(W, m, n, 1, H, score) == 0, "%s", err_get());
    double *D = damped(H, n);
    int *o = order_of(score, n), left = n, done = 0, checks = 0;
    bool *gone = xcalloc((size_t)n, sizeof *gone);
    for (int step = 0; left > 0; step++) {
        int g = 1 + left / 256;
        for (int p = 0; p < g; p++) gone[o[done + p]] = true;
        done += g, left -= g;
        if (step < 2 || step == 150 || left == 0) {
            double e = removal_error(W, m, n, D, gone);
            ck_assert_msg(fabs(score[o[done - 1]] - e) <= 1e-7 * e, "after %d units: score %.12g, error %.12g", done,
                          score[o[done - 1]], e);
            checks++;
        }
    }
    ck_assert_int_eq(checks, 4);
    free(W), free(H), free(D), free(score), free(o), free(gone);
}
END_TEST

/* A Hessian that is not positive definite (even after the damping) is an error, not a score. */
START_TEST(test_obs_bad_hessian) {
    double W[2 * 4] = {1, 2, 3, 4, 5, 6, 7, 8}, H[16] = {0}, score[4];
    for (int i = 0; i < 4; i++) H[i * 4 + i] = -1;
    ck_assert_int_eq(importance_obs(W, 2, 4, 1, H, score), -1);
    ck_assert_str_eq(err_get(), "obs: input Hessian (4 x 4) not positive definite (info 1)");
}
END_TEST

START_TEST(test_obs_names) {
    ImpMethod m;
    ck_assert_int_eq(imp_method_parse("obs", &m), 0);
    ck_assert_int_eq(m, IMP_OBS);
    ck_assert_str_eq(imp_method_name(IMP_OBS), "obs");
    ck_assert_int_eq(imp_method_parse("obd", &m), -1);
    ck_assert_str_eq(err_get(), "unknown importance method 'obd' (known: saliency, magnitude, flap, obs)");
}
END_TEST

int main(void) {
    Suite *s = suite_create("importance");
    TCase *tc = tcase_create("obs");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_obs_exact_channels);
    tcase_add_test(tc, test_obs_exact_heads);
    tcase_add_test(tc, test_obs_batched);
    tcase_add_test(tc, test_obs_bad_hessian);
    tcase_add_test(tc, test_obs_names);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
