/* reform_bench — times the two reformation solvers on one projection and reports their
 * reconstruction errors: exact ridge least squares (reform/lsq) vs ADMM (reform/admm).
 *
 * usage: reform_bench [m n T keep_frac admm_iters lambda_frac]   (default 4096 11008 16384 0.5 30 1e-3:
 *        a llama2-7b down projection, W (4096, 11008), half of its 11008 input channels kept)
 * Activations X (n, T) have correlation structure: X = A·F + E with a rank-64 factor part
 * (A (n, 64), F (64, T)) plus per-channel noise of scales spread over two decades;
 * H = X Xᵀ / T by dsyrk. W is i.i.d. normal; the kept channels are a random half.
 * Errors are relative: ‖Ŵ X_S − W X‖² / ‖W X‖², both evaluated through H. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reform/admm.h"
#include "reform/lsq.h"
#include "runtime/base/blas.h"
#include "runtime/base/util.h"

static uint64_t rng = 0x853c49e6748fea9bULL;
static double urand(void) {
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}
static double nrand(void) { return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

int main(int argc, char **argv) {
    blas_select_kernels(argv);
    int m = argc > 1 ? atoi(argv[1]) : 4096, n = argc > 2 ? atoi(argv[2]) : 11008;
    int T = argc > 3 ? atoi(argv[3]) : 16384, iters = argc > 5 ? atoi(argv[5]) : ADMM_ITERS;
    double keep_frac = argc > 4 ? atof(argv[4]) : 0.5, lambda_frac = argc > 6 ? atof(argv[6]) : REFORM_LAMBDA_FRAC;
    if (m <= 0 || n <= 0 || T <= 0 || iters <= 0 || !(keep_frac > 0 && keep_frac <= 1) || !(lambda_frac >= 0)) {
        fprintf(stderr, "usage: reform_bench [m n T keep_frac admm_iters lambda_frac]\n");
        return 1;
    }
    int k = (int)(keep_frac * n + 0.5), r = 64;
    printf("BLAS: %s\n", blas_describe());
    printf("problem: W (%d, %d), X (%d, %d), kept columns %d (%.0f%%), ridge lambda %.0e x mean diag\n", m, n, n, T,
           k, 100.0 * k / n, lambda_frac);
    /* X (n, T) = A (n, r) · F (r, T) + diag(s) E */
    double *X = xmalloc_aligned((size_t)n * T * sizeof *X), *A = xmalloc((size_t)n * r * sizeof *A),
           *F = xmalloc((size_t)r * T * sizeof *F);
    for (size_t i = 0; i < (size_t)n * r; i++) A[i] = nrand() / sqrt(r);
    for (size_t i = 0; i < (size_t)r * T; i++) F[i] = nrand();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, T, r, 1.0, A, r, F, T, 0.0, X, T);
    for (int64_t i = 0; i < n; i++) {
        double s = pow(10.0, 2.0 * urand() - 1.0);
        for (int64_t t = 0; t < T; t++) X[i * T + t] += s * nrand();
    }
    free(A), free(F);
    double t0 = now_seconds();
    double *H = xmalloc_aligned((size_t)n * n * sizeof *H);
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, n, T, 1.0 / T, X, T, 0.0, H, n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) H[i * n + j] = H[j * n + i];
    printf("H = X X^T / T (dsyrk): %.2f s\n", now_seconds() - t0);
    free(X);
    double *W = xmalloc_aligned((size_t)m * n * sizeof *W);
    for (size_t i = 0; i < (size_t)m * n; i++) W[i] = nrand();
    /* a random subset of k channels, ascending */
    int *perm = xmalloc((size_t)n * sizeof *perm), *idx = xmalloc((size_t)k * sizeof *idx);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + (int)(urand() * (n - i));
        int tmp = perm[i];
        perm[i] = perm[j], perm[j] = tmp;
    }
    uint8_t *keep = xcalloc((size_t)n, 1);
    for (int i = 0; i < k; i++) keep[perm[i]] = 1;
    for (int i = 0, c = 0; i < n; i++)
        if (keep[i]) idx[c++] = i;

    /* exact: gather C = H[:, S], G = H[S, S]; Ŵ = W C (G + λI)⁻¹ */
    double *C = xmalloc_aligned((size_t)n * k * sizeof *C), *G = xmalloc_aligned((size_t)k * k * sizeof *G);
    double *exact = xmalloc_aligned((size_t)m * k * sizeof *exact), *WC = xmalloc_aligned((size_t)m * k * sizeof *WC);
    t0 = now_seconds();
    lsq_gather(H, n, idx, k, C, G);
    if (lsq_ridge(W, m, n, C, G, k, lambda_frac, NULL, exact) != 0) {
        fprintf(stderr, "reform_bench: %s\n", err_get());
        return 2;
    }
    double t_exact = now_seconds() - t0;
    free(C);
    printf("exact ridge solve (gather + dgemm + dpotrf + dpotrs): %.2f s\n", t_exact);

    double *admm = xmalloc_aligned((size_t)m * k * sizeof *admm);
    t0 = now_seconds();
    if (admm_solve(W, m, n, H, idx, k, ADMM_RHO, iters, admm, 0, NULL, NULL) != 0) {
        fprintf(stderr, "reform_bench: %s\n", err_get());
        return 2;
    }
    double t_admm = now_seconds() - t0;
    printf("ADMM rho=%g, %d iterations: %.2f s\n", ADMM_RHO, iters, t_admm);

    /* errors through H: WC = W·H[:, S] */
    t0 = now_seconds();
    double energy = lsq_energy(W, m, n, H);
    C = xmalloc_aligned((size_t)n * k * sizeof *C);
    lsq_gather(H, n, idx, k, C, NULL);
    lsq_wc(W, m, n, C, k, WC);
    free(C);
    double *plain = xmalloc_aligned((size_t)m * k * sizeof *plain);
    for (int64_t i = 0; i < m; i++)
        for (int j = 0; j < k; j++) plain[i * k + j] = W[i * n + idx[j]];
    double e_plain = lsq_residual(plain, m, k, WC, G, energy) / energy;
    double e_exact = lsq_residual(exact, m, k, WC, G, energy) / energy;
    double e_admm = lsq_residual(admm, m, k, WC, G, energy) / energy;
    printf("(error evaluation: %.2f s)\n", now_seconds() - t0);
    printf("relative reconstruction error ||W_S X_S - W X||^2 / ||W X||^2:\n");
    printf("  no reformation (kept columns as they were): %.6f\n", e_plain);
    printf("  exact ridge:                                %.6f\n", e_exact);
    printf("  ADMM %d iterations:                         %.6f\n", iters, e_admm);
    printf("speed: exact is %.1fx faster than ADMM; error ratio ADMM/exact %.4f\n", t_admm / t_exact,
           e_admm / e_exact);
    free(H), free(W), free(perm), free(idx), free(keep), free(G), free(exact), free(WC), free(admm), free(plain);
    return 0;
}
