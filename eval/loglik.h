/* loglik — loglikelihood of continuations: for each token sequence, the sum of log p(token t |
 * tokens before t) over its scored span [from, len). The core of multiple-choice scoring (tasks),
 * written against forward.h so that it folds into the Evaluator as one more entry point.
 *
 * There is no KV cache in the forward pass, so an item's shared context cannot be evaluated once
 * and reused; instead all sequences are sorted longest first and packed into batches of about
 * max_tokens tokens (B sequences right-padded to the batch's longest, T): a causal model's
 * log-probs at a position do not depend on what follows, so padding changes nothing, and only the
 * scored positions reach the classifier (forward_token_logprobs). Results are in input order and
 * do not depend on the batching except through float summation inside the forward pass. */
#ifndef CARVE_LOGLIK_H
#define CARVE_LOGLIK_H

#include <stdint.h>

#include "runtime/forward/forward.h"

typedef struct {
    const int32_t *tokens; /* len ids */
    int len;
    int from; /* first scored position, 1 <= from <= len */
} LoglikSeq;

/* Called after each batch with the number of sequences done so far. */
typedef void (*LoglikProgress)(void *ud, int done, int total);

/* ll[i] = sum over t in [seqs[i].from, seqs[i].len) of log p(tokens[t] | tokens[<t]).
 * max_tokens: tokens per forward call (a longer sequence runs alone). -1 on error (err_set). */
int loglik_score(Forward *f, const LoglikSeq *seqs, int n, int max_tokens, double *ll, LoglikProgress progress,
                 void *ud);

#endif
