/* lsq — exact (ridge) least-squares reformation with OpenBLAS + LAPACKE. See lsq.h. */
#include "reform/lsq.h"

#include <cblas.h>
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"

void lsq_gather(const double *H, int n, const int *idx, int k, double *C, double *G) {
    /* C: (n, k), G: (k, k), H: (n, n), all row-major */
    if (C)
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < k; j++) C[i * k + j] = H[i * n + idx[j]];
    if (G)
        for (int64_t i = 0; i < k; i++)
            for (int j = 0; j < k; j++) G[i * k + j] = H[(int64_t)idx[i] * n + idx[j]];
}

void lsq_wc(const double *W, int m, int n, const double *C, int k, double *WC) {
    /* WC (m, k) = W (m, n) · C (n, k) */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, n, 1.0, W, n, C, k, 0.0, WC, k);
}

int lsq_ridge_solve(double *WC, int m, int k, const double *G, double lambda_frac, const LsqPrior *prior) {
    return lsq_ridge_solve_free(WC, m, k, 0, G, lambda_frac, prior);
}

int lsq_ridge_solve_free(double *WC, int m, int k, int nfree, const double *G, double lambda_frac,
                         const LsqPrior *prior) {
    int kt = k + nfree; /* unknowns per row; the last nfree are unpenalised */
    if (kt == 0 || m == 0) return 0;
    double mean = 0;
    for (int64_t i = 0; i < k; i++) mean += G[i * kt + i];
    mean = k > 0 ? mean / k : 0;
    if (!(mean > 0)) mean = 1.0; /* all kept inputs dead: Ŵ = μ/(λ+μ) P, or 0 without a prior */
    double lambda = lambda_frac * mean, mu = 0;
    if (!(lambda > 0)) lambda = 1e-12 * mean;
    if (prior && prior->P && prior->n_tok > 0) mu = k * mean / prior->n_tok; /* the prior weighs as k tokens */
    double *F = xmalloc_aligned((size_t)kt * kt * sizeof *F);
    for (int attempt = 0;; attempt++) {
        memcpy(F, G, (size_t)kt * kt * sizeof *F);
        for (int64_t i = 0; i < k; i++) F[i * kt + i] += lambda + mu;
        /* G is symmetric, so row- and column-major agree; the lower triangle is factored. */
        lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', kt, F, kt);
        if (info == 0) break;
        if (info < 0 || attempt == 6) {
            free(F);
            return err_set("reformation: Gram matrix (%d x %d) is not positive definite even with ridge %g "
                           "(dpotrf info %d)", kt, kt, lambda, (int)info);
        }
        lambda *= 10;
    }
    if (mu > 0)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < k; j++) WC[i * kt + j] += mu * prior->P[i * k + j];
    /* WC row-major (m, kt) is (WC)ᵀ column-major (kt, m): solve (G + (λ+μ)I) Ŵᵀ = (WC)ᵀ in place. */
    lapack_int info = LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', kt, m, F, kt, WC, kt);
    free(F);
    if (info != 0) return err_set("reformation: dpotrs failed (info %d)", (int)info);
    return 0;
}

int lsq_ridge(const double *W, int m, int n, const double *C, const double *G, int k, double lambda_frac,
              const LsqPrior *prior, double *out) {
    lsq_wc(W, m, n, C, k, out);
    return lsq_ridge_solve(out, m, k, G, lambda_frac, prior);
}

double lsq_energy(const double *W, int m, int n, const double *H) {
    /* WH (m, n) = W · H (H symmetric); energy = Σ WH ∘ W */
    double *WH = xmalloc_aligned((size_t)m * n * sizeof *WH);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, n, 1.0, W, n, H, n, 0.0, WH, n);
    double e = 0;
    for (int64_t i = 0; i < (int64_t)m * n; i++) e += WH[i] * W[i];
    free(WH);
    return e;
}

double lsq_residual(const double *What, int m, int k, const double *WC, const double *G, double energy) {
    if (k == 0 || m == 0) return energy;
    /* P (m, k) = Ŵ · G */
    double *P = xmalloc_aligned((size_t)m * k * sizeof *P);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, k, k, 1.0, What, k, G, k, 0.0, P, k);
    double quad = 0, cross = 0;
    for (int64_t i = 0; i < (int64_t)m * k; i++) {
        quad += P[i] * What[i];
        cross += What[i] * WC[i];
    }
    free(P);
    return quad - 2 * cross + energy;
}

double *lsq_tensor_double(const Tensor *t) {
    double *d = xmalloc_aligned((size_t)t->rows * t->cols * sizeof *d + 8);
    float *row = xmalloc((size_t)t->cols * sizeof *row + 4);
    for (int64_t r = 0; r < t->rows; r++) {
        tensor_row_f32(t, r, row);
        for (int64_t c = 0; c < t->cols; c++) d[r * t->cols + c] = row[c];
    }
    free(row);
    return d;
}
