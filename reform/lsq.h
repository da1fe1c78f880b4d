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
 * Shrinking towards the inherited weights. With few calibration tokens N per unknown (k per
 * row) the exact fit follows those tokens too closely (README, "Reformation", has the measured
 * figures). A second ridge shrinks Ŵ towards a prior P — the inherited weights W_S, i.e. plain
 * pruning (the identity for a replacement layer):
 *     ‖Ŵ X̃ − W X‖² + λ‖Ŵ‖² + μ‖Ŵ − P‖²,   Ŵ = (W C + μ P)(G + (λ+μ)I)⁻¹,
 * μ = k × mean(diag G) / N: the prior weighs as much as k average calibration tokens (no tuned
 * constant; it fades as N grows).
 *
 * Intercept. A fit with a bias b (m) beside Ŵ appends a constant input 1 to every token:
 *     ‖Ŵ X̃ + b 1ᵀ − W X‖² + λ‖Ŵ‖² + μ‖Ŵ − P‖²   (λ and μ on Ŵ only: the bias has no prior and no
 * ridge — its natural prior, 0, is plain pruning's bias, and the mean output it estimates is
 * the best-determined quantity of the fit). With s = X 1 (n), s̃ = X̃ 1 (k), N tokens:
 *     [Ŵ | b] [G + (λ+μ)I  s̃; s̃ᵀ  N] = [W C + μP | W s]
 * i.e. the same solve with one more, unpenalised, unknown (lsq_ridge_solve_free, nfree = 1).
 * Fixing Ŵ = W_S and solving for b alone gives b = W (s − [s̃ at S]) / N = W_removed · mean of the
 * removed inputs (one-shot): FLAP's bias compensation (reform/importance.h).
 *
 * The alternative solver, ADMM (reform/admm.h), solves the one-shot problem iteratively (λ, no prior).
 * All matrices are row-major double. */
#ifndef CARVE_LSQ_H
#define CARVE_LSQ_H

#include <stdint.h>

#include "runtime/model/model.h"

#define REFORM_LAMBDA_FRAC 1e-3

/* C (n, k) <- H[:, idx], G (k, k) <- H[idx, idx]; H: (n, n). Either output may be NULL. */
void lsq_gather(const double *H, int n, const int *idx, int k, double *C, double *G);

/* WC (m, k) <- W (m, n) · C (n, k). */
void lsq_wc(const double *W, int m, int n, const double *C, int k, double *WC);

/* The shrinkage towards a prior: P (m, k) row-major (NULL: none, μ = 0) and the number of
 * calibration tokens N that G sums over (μ as above). */
typedef struct {
    const double *P;
    double n_tok;
} LsqPrior;

/* Solve Ŵ (G + (λ+μ)I) = WC + μP in place: on entry WC (m, k), on exit Ŵ (m, k).
 * G (k, k) is not modified. λ = lambda_frac × mean(diag G); if G + λI is still not positive
 * definite λ is raised tenfold (at most 6 times). Returns -1 (err_set) when that fails.
 * prior may be NULL (μ = 0). */
int lsq_ridge_solve(double *WC, int m, int k, const double *G, double lambda_frac, const LsqPrior *prior);

/* The same with nfree further unknowns per row that get neither ridge nor prior (an intercept):
 * WC (m, k + nfree), G (k + nfree, k + nfree); P (m, k) covers the first k columns; λ and μ use
 * the mean of G's first k diagonal entries (raising λ also lifts the Schur complement of the
 * unpenalised block, N − s̃ᵀ(G + λI)⁻¹s̃ > 0). */
int lsq_ridge_solve_free(double *WC, int m, int k, int nfree, const double *G, double lambda_frac,
                         const LsqPrior *prior);

/* Exact reformation: out (m, k) <- (W C + μP)(G + (λ+μ)I)⁻¹. */
int lsq_ridge(const double *W, int m, int n, const double *C, const double *G, int k, double lambda_frac,
              const LsqPrior *prior, double *out);

/* tr(W H Wᵀ) = ‖W X‖²: the dense output energy. W (m, n), H (n, n). */
double lsq_energy(const double *W, int m, int n, const double *H);

/* ‖Ŵ X_S − W X‖² for one-shot statistics, from WC = W·H[:, S] (m, k), G = H[S, S] and
 * energy = tr(W H Wᵀ):  tr(Ŵ G Ŵᵀ) − 2 tr(Ŵ WCᵀ) + energy. */
double lsq_residual(const double *What, int m, int k, const double *WC, const double *G, double energy);

/* A weight tensor (any stored dtype) as a new (rows, cols) double matrix (free()). */
double *lsq_tensor_double(const Tensor *t);

#endif
