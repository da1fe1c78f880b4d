/* admm — the iterative reformation solver of the paper (after Boža 2024, "Fast and optimal
 * weight update for pruned LLMs"): ADMM on the one-shot problem of lsq.h,
 *     min ‖(V − W) X‖²  s.t.  V is zero outside the kept columns S,
 * as  min f(V) + g(Z), V = Z, with f the quadratic and g the support constraint.
 * The problem is first normalised so that diag(H) = 1 (D = diag(H)^½, H ← D⁻¹HD⁻¹,
 * W ← W D, result ← result D⁻¹), which makes ρ scale-free (default ρ = 1, 30 iterations).
 * Iteration (A = (H + ρI)⁻¹ computed once, B = W H):
 *     V ← (B + ρ (Z − U)) A;   Z ← V + U with the columns outside S zeroed;   U ← U + V − Z.
 * Each iteration is one (m, n) x (n, n) dgemm. */
#ifndef CARVE_ADMM_H
#define CARVE_ADMM_H

#define ADMM_RHO 1.0
#define ADMM_ITERS 30

/* W: (m, n), H: (n, n) row-major double; idx: the k kept columns ascending.
 * out (m, k): Z restricted to S after `iters` iterations. Returns -1 (err_set) on failure.
 * When trace_every > 0 and trace != NULL, after every trace_every-th iteration calls
 * trace(ud, iter, out-so-far (m, k)) — used to report the gap to the exact solution. */
typedef void (*AdmmTrace)(void *ud, int iter, const double *What);
int admm_solve(const double *W, int m, int n, const double *H, const int *idx, int k, double rho, int iters,
               double *out, int trace_every, AdmmTrace trace, void *ud);

#endif
