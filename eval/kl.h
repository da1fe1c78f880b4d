/* kl — divergence of a model (a subnet, a reformed candidate) from the dense model's next-token
 * distribution over the windows of an Evaluator: the search's `fitness: kind: kl` (EvoPress).
 *
 * Reference (DenseRef), computed once per (dense model, windows): for every scored position
 * (t = 1 .. len-1 of each window: the distribution that predicts token t, as the perplexity
 * protocol scores it) the K most probable token ids of the dense model (ties: the lower id), in
 * ascending id order, their log-probabilities log p_i, and the rest of the mass
 *   r = 1 - sum_{i in top-K} p_i, computed in double as (S_all - S_K) / S_all (S = sums of
 *   exp(logit - max) over all ids / over the top K), clamped to >= 0.
 * Memory: n * (len - 1) * (K * (4 + 4) + 4) bytes (ids int32, log p float, r float).
 *
 * Divergence at one position: KL of the two distributions coarsened to K + 1 outcomes — the
 * dense model's top-K ids and "any other token":
 *   kl = sum_{i in top-K} p_i (log p_i - log q_i) + r log(r / q_rest),
 *   p_i = exp(stored log p_i), q = softmax of the candidate's logits (log-sum-exp in double),
 *   q_rest = sum_{j not in top-K} q_j, summed over those ids directly (not 1 - sum q_i);
 * the tail term is 0 when r = 0, and q_rest is clamped to DBL_MIN. Merging outcomes cannot
 * increase a divergence, so this is at most the full KL(p || q), and equal to it when
 * K >= vocab (then r = 0). The fitness is the mean over the scored positions (nats/token).
 *
 * Summation order (bit-reproducible, as evaluator.h's perplexity): each position in double;
 * positions of a batch in row order; batches — cut at multiples of the evaluator's batch counted
 * from window 0 — in window order. Per-position work runs in parallel over rows with nothing
 * shared, so results do not depend on the number of threads.
 * Owns: DenseRef (build, size) and the KL sums of the Evaluator. */
#ifndef CARVE_EVAL_KL_H
#define CARVE_EVAL_KL_H

#include <stddef.h>
#include <stdint.h>

#include "eval/evaluator.h"

typedef struct DenseRef DenseRef;

/* The reference of ev's own model (dense, no subnet) over all of ev's windows, keeping
 * min(k, vocab) entries per position (k >= 1). */
int  dense_ref_build(Evaluator *ev, int k, DenseRef **out);
void dense_ref_free(DenseRef *r);
int  dense_ref_k(const DenseRef *r);          /* entries per position */
size_t dense_ref_bytes(const DenseRef *r);    /* memory it holds */

/* Sums over a range of windows: the divergence of every scored position and their count. */
typedef struct {
    double kl_sum;
    int64_t n_scored;
} KlSums;

/* Sums over windows [w0, w1) of `model` under s (model NULL = ev's model; as evaluator_sums).
 * ref must have been built over ev's windows (the same token ids; an error otherwise). */
int evaluator_kl_sums(Evaluator *ev, const DenseRef *ref, const Model *model, const Subnet *s, int w0, int w1,
                      KlSums *out);
/* As evaluator_kl_sums, and win[i] (w1 - w0 entries, overwritten) = the summed divergence of window
 * w0 + i's scored positions, in row order (*out's sums are the same as evaluator_kl_sums'). */
int evaluator_kl_windows(Evaluator *ev, const DenseRef *ref, const Model *model, const Subnet *s, int w0, int w1,
                         KlSums *out, double *win);
/* kl_sum / n_scored; an error naming `what` when nothing was scored. */
int eval_kl_of(const KlSums *sums, const char *what, double *kl);

#endif
