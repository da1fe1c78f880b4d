/* obs_bench — times the greedy OBS importance order (reform/importance.h, importance_obs) on one
 * projection against the saliency's work on it (the damped inverse Hessian and the column sums:
 * one dpotrf + dpotri), both in one run, and checks the order's last score (the error of removing
 * every unit) against 2 tr(W H Wᵀ).
 *
 * usage: obs_bench [m n bs]   (default 4096 11008 1: a llama2-7b down projection, W (4096, 11008),
 *        its 11008 channels as units; 4096 4096 128: its o projection with 32 heads of 128)
 * H = A Aᵀ / 64 + diag(d) with A (n, 64) normal and d spread over two decades: correlated inputs.
 * W is i.i.d. normal. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reform/importance.h"
#include "runtime/base/blas.h"
#include "runtime/base/util.h"

static uint64_t rng = 0x853c49e6748fea9bULL;
static double urand(void) {
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}
static double nrand(void) { return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand()); }

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    blas_select_kernels(argv);
    int m = argc > 1 ? atoi(argv[1]) : 4096, n = argc > 2 ? atoi(argv[2]) : 11008, bs = argc > 3 ? atoi(argv[3]) : 1;
    if (m <= 0 || n <= 0 || bs <= 0 || n % bs) {
        fprintf(stderr, "usage: obs_bench [m n bs]  (bs divides n)\n");
        return 1;
    }
    printf("BLAS: %s\n", blas_describe());
    printf("problem: W (%d, %d), %d units of %d columns\n", m, n, n / bs, bs);
    double *W = xmalloc((size_t)m * n * sizeof *W), *A = xmalloc((size_t)n * 64 * sizeof *A);
    double *H = xmalloc((size_t)n * n * sizeof *H), *score = xmalloc((size_t)(n / bs) * sizeof *score);
    for (int64_t i = 0; i < (int64_t)m * n; i++) W[i] = nrand();
    for (int64_t i = 0; i < (int64_t)n * 64; i++) A[i] = nrand();
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, 64, 1.0 / 64, A, 64, A, 64, 0.0, H, n);
    for (int64_t j = 0; j < n; j++) H[j * n + j] += pow(10.0, -2 * urand());

    double t0 = now(), *Hc = xmalloc((size_t)n * n * sizeof *Hc), sum = 0;
    memcpy(Hc, H, (size_t)n * n * sizeof *Hc);
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, Hc, n) || LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', n, Hc, n)) {
        fprintf(stderr, "obs_bench: H not positive definite\n");
        return 1;
    }
    double *col = xcalloc((size_t)n, sizeof *col); /* Φ_j = 2 Σ_i W_ij² / [H⁻¹]_jj */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) col[j] += W[i * n + j] * W[i * n + j];
    for (int64_t j = 0; j < n; j++) sum += 2 * col[j] / Hc[j * n + j];
    free(col);
    double t_sal = now() - t0;
    t0 = now();
    if (importance_obs(W, m, n, bs, H, score)) {
        fprintf(stderr, "obs_bench: %s\n", err_get());
        return 1;
    }
    double t_obs = now() - t0, last = 0, mean = 0;
    for (int u = 0; u < n / bs; u++) last = fmax(last, score[u]);
    for (int64_t j = 0; j < n; j++) mean += H[j * n + j] / n; /* the damping importance_obs adds */
    for (int64_t j = 0; j < n; j++) H[j * n + j] += 1e-3 * mean;
    double *WH = xmalloc((size_t)m * n * sizeof *WH), all = 0;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, n, 1.0, W, n, H, n, 0.0, WH, n);
    for (int64_t i = 0; i < (int64_t)m * n; i++) all += 2 * WH[i] * W[i];
    printf("saliency's inverse: %.2f s (checksum %.3g)\nobs order:          %.2f s = %.1fx\n", t_sal, sum, t_obs,
           t_obs / t_sal);
    printf("last score %.9g vs 2 tr(W H W^T) %.9g (relative difference %.1e)\n", last, all, fabs(last - all) / all);
    free(W), free(A), free(H), free(Hc), free(score), free(WH);
    return 0;
}
