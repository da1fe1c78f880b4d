/* fwd_kernels — the elementwise kernels of the forward pass (everything that is not an sgemm):
 * RMSNorm, bias add, RoPE, causal softmax rows, SiLU-gating, per-row log-softmax NLL and
 * gathered dtype conversion. Each kernel parallelises over rows with OpenMP when the work is
 * large enough; they are compiled with -O3 -ffast-math (vectorised expf via libmvec), which is
 * safe here because no kernel relies on inf/nan propagation or on the order of float sums. */
#ifndef CARVE_FWD_KERNELS_H
#define CARVE_FWD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/base/dtype.h"

/* y, x: (n, d) row-major (y may equal x); w: (d). y = x * w / sqrt(mean(x^2) + eps). */
void k_rmsnorm(float *y, const float *x, const float *w, int n, int d, float eps);
/* Same, for the listed rows: y row r <- norm of x row rows[r]. y: (n, d), x: (*, d). */
void k_rmsnorm_rows(float *y, const float *x, const int32_t *rows, const float *w, int n, int d, float eps);
/* y: (n, ld) row-major; y[i, 0:w] += b[0:w]. */
void k_add_bias(float *y, int ld, const float *b, int n, int w);
/* RoPE on the first n_rot_heads heads (each hd floats) of every row of x: (n, ld).
 * Row i is position i % T. cs, sn: (T_cap, hd/2) cos/sin tables. half = 0: pairs (2j, 2j+1);
 * half = 1: pairs (j, j + hd/2). */
void k_rope(float *x, int ld, int n, int T, int n_rot_heads, int hd, const float *cs, const float *sn, int half);
/* s: (m, ld) scores of query rows q0..q0+m-1 against keys 0..kn-1 (kn <= ld).
 * Row r: softmax over keys 0..q0+r (causal), zeros after. */
void k_softmax_causal(float *s, int ld, int m, int q0, int kn);
/* gu: (n, 2c) [gate | up]; act: (n, c) = silu(gate) * up. */
void k_silu_mul(float *act, const float *gu, int n, int c);
/* Online log-sum-exp over vocabulary blocks. l: (n, vb) logits of vocabulary ids [v0, v0+vb).
 * Per row i: mx[i] running max, sum[i] running sum of exp(logit - mx[i]) (double across blocks),
 * tl[i] the logit of target[i] once its block is seen. v0 == 0 starts the rows afresh.
 * After the last block, NLL = log(sum) + mx - tl. */
void k_lse_update(const float *l, int n, int vb, int v0, const int32_t *target, float *mx, double *sum, float *tl);
/* dst[j] = src[idx[j]] for j < n, src a row in dtype t (idx == NULL: contiguous copy). */
void k_gather_f32(float *dst, const void *src, DType t, const int32_t *idx, int n);

#endif
