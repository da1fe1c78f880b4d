/* reform — the reformation driver: extract a subnet's compact weights (runtime/model/extract.h) and
 * replace every o_proj / down_proj that lost input columns by its least-squares fit
 * (reform/lsq.h exact ridge, or reform/admm.h):
 *   one-shot:   from the dense calibration statistics (reform/stats.h): C = H[:,S], G = H[S,S]
 *   sequential: layer by layer, from the subnet's own inputs (upstream layers already pruned
 *               and reformed) against the dense model's: C = X X̃_Sᵀ, G = X̃_S X̃_Sᵀ;
 *   both solved as Ŵ_S = (W C + μ W_S)(G + (λ+μ)I)⁻¹, shrunk towards the inherited weights W_S
 *               (reform/lsq.h), optionally with an intercept (an o/down output bias fitted
 *               beside the weights; or the bias alone: FLAP's compensation, ReformFit);
 *               within a layer o_proj is refit first and the MLP
 *               inputs are recomputed through the reformed attention before down_proj is fit.
 * One-shot is the default of `carve reform` (the comparison with sequential: README,
 * "Reformation"): it needs only the cached dense statistics (no forward pass over the subnet
 * per layer).
 * Also the LLM-Streamline layer replacement (one ridge-fitted dim x dim map in place of a span,
 * shrunk towards the identity). */
#ifndef CARVE_REFORM_H
#define CARVE_REFORM_H

#include <stdbool.h>

#include "eval/calib.h"
#include "reform/stats.h"
#include "runtime/model/model.h"
#include "runtime/model/subnet.h"

typedef enum { REFORM_EXACT = 0, REFORM_ADMM = 1 } ReformMethod;

/* What the fit changes (reform/lsq.h, "Intercept"): the kept weights; the kept weights and an
 * output bias (o_proj / down_proj bias, least squares with a constant input, no prior on it);
 * or the bias alone with the weights as inherited (FLAP's bias compensation). */
typedef enum { REFORM_FIT_WEIGHTS = 0, REFORM_FIT_WEIGHTS_BIAS = 1, REFORM_FIT_BIAS = 2 } ReformFit;
/* The defaults follow README's "Reformation" table: the intercept lowered held-out perplexity at
 * every budget one-shot and raised it at every budget sequentially. reform_defaults sets the
 * one-shot one (what the search and export use); `carve reform --mode sequential` the other. */
#define REFORM_FIT_DEFAULT REFORM_FIT_WEIGHTS_BIAS
#define REFORM_FIT_SEQUENTIAL_DEFAULT REFORM_FIT_WEIGHTS

typedef struct {
    ReformMethod method;
    ReformFit fit;        /* ADMM: REFORM_FIT_WEIGHTS only */
    bool sequential;
    double lambda_frac;   /* ridge, fraction of mean diag (REFORM_LAMBDA_FRAC) */
    double rho;           /* ADMM */
    int iters;            /* ADMM */
} ReformOptions;

void reform_defaults(ReformOptions *o);
/* "weights" | "weights+bias" | "bias"; -1 (err_set) when unknown. */
int reform_fit_parse(const char *s, ReformFit *out);
const char *reform_fit_name(ReformFit f);

/* One-shot reformation from dense statistics sf of m. *out: the reformed extracted model. */
int reform_oneshot(const Model *m, const Subnet *s, const StatsFile *sf, const ReformOptions *o, Model **out);
/* Sequential reformation over calibration windows w (exact method only). */
int reform_sequential(const Model *m, const Subnet *s, const Windows *w, const ReformOptions *o, Model **out);

/* LLM-Streamline: the extracted model of m with layers [first, first+n) removed; when fit is
 * true, layer `first` becomes the ridge fit h_{first+n} ≈ M h_first over the windows. */
int reform_replace_span(const Model *m, int first, int n, bool fit, const Windows *w, double lambda_frac,
                        Model **out);

#endif
