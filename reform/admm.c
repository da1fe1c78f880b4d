/* admm — ADMM reformation solver (normalised, fixed ρ). See admm.h. */
#include "reform/admm.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "runtime/base/util.h"

/* out (m, k) <- Z[:, idx] / d[idx]: undo the normalisation */
static void extract(const double *Z, int m, int n, const double *d, const int *idx, int k, double *out) {
    for (int64_t i = 0; i < m; i++)
        for (int j = 0; j < k; j++) out[i * k + j] = Z[i * n + idx[j]] / d[idx[j]];
}

int admm_solve(const double *W, int m, int n, const double *H, const int *idx, int k, double rho, int iters,
               double *out, int trace_every, AdmmTrace trace, void *ud) {
    if (!(rho > 0)) return err_set("ADMM: rho must be positive (got %g)", rho);
    if (m == 0 || k == 0) return 0;
    size_t nn = (size_t)n * n, mn = (size_t)m * n;
    double *d = xmalloc((size_t)n * sizeof *d);
    for (int64_t j = 0; j < n; j++) d[j] = H[j * n + j] > 0 ? sqrt(H[j * n + j]) : 1.0;
    /* A (n, n) <- (D⁻¹ H D⁻¹ + ρI)⁻¹ */
    double *A = xmalloc_aligned(nn * sizeof *A);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) A[i * n + j] = H[i * n + j] / (d[i] * d[j]);
    /* Wn (m, n) <- W D; B (m, n) <- Wn · Hn, computed before A is overwritten */
    double *Wn = xmalloc_aligned(mn * sizeof *Wn), *B = xmalloc_aligned(mn * sizeof *B);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) Wn[i * n + j] = W[i * n + j] * d[j];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, n, 1.0, Wn, n, A, n, 0.0, B, n);
    for (int64_t i = 0; i < n; i++) A[i * n + i] += rho;
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, A, n);
    if (info == 0) info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', n, A, n);
    if (info != 0) {
        free(d), free(A), free(Wn), free(B);
        return err_set("ADMM: (H + rho I) factorisation failed (info %d)", (int)info);
    }
    /* dpotri filled the lower triangle (column-major) = upper triangle row-major: mirror it */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) A[j * n + i] = A[i * n + j];
    /* keep mask */
    uint8_t *keep = xcalloc((size_t)n, 1);
    for (int j = 0; j < k; j++) keep[idx[j]] = 1;
    /* Z <- proj_S(Wn), U <- 0; Wn's buffer becomes V */
    double *Z = xmalloc_aligned(mn * sizeof *Z), *U = xcalloc(mn, sizeof *U), *V = Wn;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) Z[i * n + j] = keep[j] ? Wn[i * n + j] : 0.0;
    double *R = xmalloc_aligned(mn * sizeof *R);
    for (int it = 1; it <= iters; it++) {
        /* R (m, n) <- B + ρ (Z − U);  V (m, n) <- R · A */
        for (size_t i = 0; i < mn; i++) R[i] = B[i] + rho * (Z[i] - U[i]);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, n, 1.0, R, n, A, n, 0.0, V, n);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                size_t p = (size_t)i * n + j;
                double z = keep[j] ? V[p] + U[p] : 0.0;
                U[p] += V[p] - z;
                Z[p] = z;
            }
        if (trace && trace_every > 0 && it % trace_every == 0 && it != iters) {
            extract(Z, m, n, d, idx, k, out);
            trace(ud, it, out);
        }
    }
    extract(Z, m, n, d, idx, k, out);
    if (trace && trace_every > 0) trace(ud, iters, out);
    free(d), free(A), free(Wn), free(B), free(keep), free(Z), free(U), free(R);
    return 0;
}
