/* evaluator — the one owner of "how good is this model (or subnet) on these token windows".
 *
 * An Evaluator is created once over (model, windows, batch policy) and keeps one forward pass
 * (runtime/forward) that it switches between subnets and models, so scoring a candidate never
 * re-plans the model from scratch. Every perplexity carve reports goes through it: `carve
 * eval`, the search's fitness, final step and re-ranking (search/job.c), the baselines' greedy
 * steps (search/method_eval.c) and the reformation checks (`carve reform --eval`, tests).
 *
 * Scoring (the perplexity protocol, eval/calib.h): every window is one sequence of len tokens;
 * each position t >= 1 is scored with NLL = -log softmax(logits(tokens[0..t)))[tokens[t]];
 *   ppl = exp(nll_sum / n_scored).
 *
 * Order of summation (results are bit-reproducible): windows are run in batches of `batch`
 * whole windows, the batches starting at multiples of `batch` counted from window 0 (a range
 * [w0, w1) is cut at those same boundaries, so a range that starts on a boundary reproduces
 * the per-batch sums of a whole-set call). Within a batch the forward pass sums the positions
 * in row order into one double; the batch sums are added in window order. The whole-set call
 * therefore computes exactly what a caller looping forward_nll over the same batches did.
 *
 * Empty input: an Evaluator over no window, or over windows of fewer than 2 tokens, cannot be
 * created (an error naming the windows); a perplexity of zero scored tokens is an error, never
 * 1.0 or NaN. An empty range [w, w) scores nothing and returns zero sums (a share of windows
 * that happens to be empty).
 *
 * Window splitting (scoring one range together with other processes; the exchange is the
 * caller's, e.g. search/mpi: eval/ knows nothing of it): with EvalOptions.split, every
 * process of the split makes the same calls; a range's nb batches (cut as above) are dealt
 * out in contiguous blocks, process `index` of `size` scoring batches
 * [index*nb/size, (index+1)*nb/size); `combine` then gives every process all nb batch sums
 * (each entry is its one owner's value: no rounding), which are added in window order as
 * above, so a split call returns exactly the sums of an unsplit one.
 *
 * For scores of other kinds (KL to the dense model: eval/kl.h; task log-likelihoods):
 * evaluator_sums() returns the raw sums of a window range, separate from the exp();
 * evaluator_bind() hands out the bound forward pass for passes of another kind (logits,
 * classifier tiles, task continuations) under the same (model, subnet) switching rules. */
#ifndef CARVE_EVALUATOR_H
#define CARVE_EVALUATOR_H

#include <stddef.h>
#include <stdint.h>

#include "eval/calib.h"
#include "runtime/forward/forward.h"
#include "runtime/model/model.h"
#include "runtime/model/subnet.h"

#define EVAL_BATCH_TOKENS 4096 /* default batch: as many whole windows as fit this many tokens */

typedef struct Evaluator Evaluator;

/* A window split (see above). combine(ud, rc, nll, n, nb): rc is this process's status; nll[]
 * and n[] hold its own block's batch sums and zeros elsewhere, and come back holding every
 * block's; returns 0, or -1 with err_set on every process when any process's rc was not 0.
 * The statuses are agreed before any sums move, so a process that failed before its scoring
 * call joins the others' with combine(ud, -1, NULL, NULL, 0) (search/job.c). */
typedef struct {
    int index, size;
    int (*combine)(void *ud, int rc, double *nll, int64_t *n, int nb);
    void *ud;
} EvalSplit;

typedef struct {
    int batch;              /* windows per forward call; 0 = EVAL_BATCH_TOKENS / len (at least 1) */
    size_t cache_bytes;     /* compact-weight cache of the forward pass (forward.h); 0 = its default */
    const char *what;       /* names the windows in messages (e.g. the text file); NULL = "windows" */
    Evaluator *share;       /* run on this evaluator's forward pass (same model; it must outlive this
                               one): several window sets, one set of buffers; NULL = own one */
    const EvalSplit *split; /* score every range together with other processes (borrowed; it must
                               outlive the evaluator); NULL or size <= 1 = alone */
} EvalOptions;

/* Raw sums over a range of windows: the NLL of every scored position and their count. */
typedef struct {
    double nll_sum;
    int64_t n_scored;
} EvalSums;

/* An evaluator of model m over windows w (borrowed: both must outlive the evaluator). o may be
 * NULL (defaults). Errors: no window or windows shorter than 2 tokens (naming o->what), a shared
 * evaluator of another model. Token ids outside the vocabulary are errors of the scoring call. */
int  evaluator_create(const Model *m, const Windows *w, const EvalOptions *o, Evaluator **out);
void evaluator_free(Evaluator *ev);

const Windows *evaluator_windows(const Evaluator *ev);
int evaluator_batch(const Evaluator *ev);   /* windows per forward call */

/* Sums over windows [w0, w1) (0 <= w0 <= w1 <= n) of `model` under subnet s (NULL = dense).
 * model NULL = the evaluator's model. Another model (a reformed candidate: same dim, head_dim
 * and vocabulary) is bound afresh on every call, so it may be freed and another one built at
 * the same address between calls. *out is overwritten. */
int evaluator_sums(Evaluator *ev, const Model *model, const Subnet *s, int w0, int w1, EvalSums *out);
/* As evaluator_sums, but adds the range's batch sums to *acc one by one in window order:
 * consecutive calls over consecutive ranges starting on batch boundaries leave in *acc exactly
 * the sums of one call over their union. */
int evaluator_sums_add(Evaluator *ev, const Model *model, const Subnet *s, int w0, int w1, EvalSums *acc);

/* exp(nll_sum / n_scored); an error naming `what` when nothing was scored. */
int eval_ppl_of(const EvalSums *sums, const char *what, double *ppl);

/* Perplexity over all windows: of the evaluator's model under s, or of another model. */
int evaluator_ppl(Evaluator *ev, const Subnet *s, double *ppl);
int evaluator_ppl_model(Evaluator *ev, const Model *model, const Subnet *s, double *ppl);

/* Bind (model, s) as evaluator_sums does and return the forward pass, for passes of another kind
 * (forward_logits, forward_nll on other tokens); NULL with err set on error. Valid until the
 * next call on this evaluator or one sharing its forward pass. */
Forward *evaluator_bind(Evaluator *ev, const Model *model, const Subnet *s);

#endif
