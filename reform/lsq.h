/* lsq — the least-squares problems of reformation, in double precision.
 *
 * A projection y = W x (W: (m, n)) loses some input columns; S (k indices, ascending) are the
 * kept ones. Given the statistics of the inputs, find Ŵ_S (m, k) minimising
 *     ‖Ŵ_S X̃_S − W X‖²_F + λ ‖Ŵ_S‖²_F
 * where X (n, T) are the dense model's inputs and X̃_S (k, T) the inputs the pruned model sees
 * (one-shot: X̃ = X, so only H = X Xᵀ is needed). With C = X X̃_Sᵀ (n, k) and G = X̃_S X̃_Sᵀ
 * (k, k) the exact solution is  Ŵ_S = W C (G + λI)⁻¹  (one Cholesky, dpotrf/dpotrs);
 * one-shot: C = H[:, S], G = H[S, S].
 * λ = lambda_frac × mean(diag G) (REFORM_LAMBDA_FRAC by default): a small relative ridge that
 * keeps G positive definite when a kept channel is (nearly) dead in the calibration data.
 *
 * The alternative solver, ADMM (reform/admm.h), solves the same one-shot problem iteratively.
 * All matrices are row-major double. */
#ifndef CARVE_LSQ_H
#define CARVE_LSQ_H

#include <stdint.h>

#include "runtime/model.h"

#define REFORM_LAMBDA_FRAC 1e-3

/* C (n, k) <- H[:, idx], G (k, k) <- H[idx, idx]; H: (n, n). Either output may be NULL. */
void lsq_gather(const double *H, int n, const int *idx, int k, double *C, double *G);

/* WC (m, k) <- W (m, n) · C (n, k). */
void lsq_wc(const double *W, int m, int n, const double *C, int k, double *WC);

/* Solve Ŵ (G + λI) = WC in place: on entry WC (m, k), on exit Ŵ (m, k).
 * G (k, k) is not modified. λ = lambda_frac × mean(diag G); if G + λI is still not positive
 * definite λ is raised tenfold (at most 6 times). Returns -1 (err_set) when that fails. */
int lsq_ridge_solve(double *WC, int m, int k, const double *G, double lambda_frac);

/* Exact reformation: out (m, k) <- W C (G + λI)⁻¹. */
int lsq_ridge(const double *W, int m, int n, const double *C, const double *G, int k, double lambda_frac,
              double *out);

/* tr(W H Wᵀ) = ‖W X‖²: the dense output energy. W (m, n), H (n, n). */
double lsq_energy(const double *W, int m, int n, const double *H);

/* ‖Ŵ X_S − W X‖² for one-shot statistics, from WC = W·H[:, S] (m, k), G = H[S, S] and
 * energy = tr(W H Wᵀ):  tr(Ŵ G Ŵᵀ) − 2 tr(Ŵ WCᵀ) + energy. */
double lsq_residual(const double *What, int m, int k, const double *WC, const double *G, double energy);

/* A weight tensor (any stored dtype) as a new (rows, cols) double matrix (free()). */
double *lsq_tensor_double(const Tensor *t);

#endif
