/* method — the registry of pruning methods carve is compared against (the seed paper's
 * baselines) and the selection logic of the layer-level and global-structure ones.
 *
 * This header owns: the method table (name -> kind), the inputs a method draws on
 * (MethodInput: model, target budget, seed, precomputed importance scores and a
 * calibration-perplexity callback) and the result (MethodResult: a Subnet, the exact kept
 * budget, and for LLM-Streamline the span replaced by a fitted linear layer).
 *
 * Budgets are fractions of the dense model's non-embedding parameters (eval/cost.h,
 * COST_PARAMS). Layer-level methods can only reach a few budgets: they take the achievable
 * one nearest to the target (ties: the one at or below the target) and report it exactly.
 *
 * The selection functions here are pure: scores come in as arrays (computed by reform/, see
 * method_eval.h for the wiring) and perplexity through a callback, so they are unit-tested
 * against known scores without a forward pass.
 *
 * Candidate batches: the methods that score candidates (SLEB's greedy steps, random's K draws)
 * score each step's candidates as one batch through the engine's batch seam (engine.h BatchFn,
 * TASK_FITNESS without reform: the calibration perplexity), which may score them in any order
 * on any process (search/mpi); the choice (lowest ppl, the first of equals in candidate order)
 * does not depend on who scored what. Without a batch function they are scored one after
 * another through calib_ppl. */
#ifndef CARVE_METHOD_H
#define CARVE_METHOD_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/model/model.h"
#include "runtime/model/subnet.h"
#include "search/engine.h"

typedef enum {
    METHOD_UNIT = 0,   /* heads/channels, implemented by reform/ (magnitude, saliency) */
    METHOD_LAYER = 1,  /* whole layers or sublayers, implemented here */
    METHOD_GLOBAL = 2, /* heads/channels by a global threshold, implemented here (flap, random) */
    METHOD_SEARCH = 3  /* carve's own search (search/ GA / NSGA-II, `carve search`) */
} MethodKind;

/* Calibration perplexity of subnet s (lower is better). Returns 0, or -1 with err_set. */
typedef int (*MethodPplFn)(void *ud, const Subnet *s, double *ppl);

/* Importance scores a method may need; NULL when not computed. Produced by reform/. */
typedef struct {
    /* ShortGPT Block Influence of each layer: 1 - mean cos(h_in, h_out). (n_layers) */
    const double *block_influence;
    /* Mean cosine between hidden states at layer boundaries i and j, boundary b = the state
     * entering layer b (b = n_layers: leaving the last layer). LLM-Streamline scores span
     * [i, j) by boundary_cos[i * (n_layers + 1) + j]. ((n_layers+1) x (n_layers+1)) */
    const double *boundary_cos;
    /* FLAP fluctuation score of each query head / MLP channel, per layer:
     * head_score[l] has n_heads entries, chan_score[l] hidden_dim entries. */
    const double *const *head_score;
    const double *const *chan_score;
} MethodScores;

typedef struct {
    const Model *model;
    double budget;        /* target fraction of non-embedding parameters, (0, 1] */
    uint64_t seed;        /* for random */
    int random_k;         /* random: candidates drawn (default 16 when <= 0) */
    bool replace;         /* streamline: replace the removed span by one fitted linear layer */
    MethodScores scores;
    MethodPplFn calib_ppl; /* sleb, random */
    void *ppl_ud;
    BatchFn batch;        /* sleb, random: each step's candidates at once (see above); NULL = one
                             after another through calib_ppl */
    void *batch_ud;
} MethodInput;

typedef struct {
    Subnet *subnet;       /* canonical; owned */
    double budget;        /* exact kept fraction of non-embedding parameters (incl. a replacement layer) */
    int replace_first;    /* streamline with replacement: layer that becomes the linear map; -1 = none */
    int replace_n;        /* layers of the span [replace_first, replace_first + replace_n) */
    int n_evals;          /* calibration perplexity evaluations spent */
    double calib_ppl;     /* of the chosen subnet when the method measured it, else 0 */
    char note[200];       /* one line on what happened (e.g. "attention floor reached") */
} MethodResult;

typedef int (*MethodFn)(const MethodInput *in, MethodResult *out);

typedef struct {
    const char *name;
    MethodKind kind;
    MethodFn run;         /* NULL for METHOD_UNIT / METHOD_SEARCH (run elsewhere) */
    const char *summary;
} MethodInfo;

/* The registry, in report order. */
extern const MethodInfo method_table[];
extern const int method_count;
/* NULL with err_set ("unknown method 'x' (known: ...)") when not found. */
const MethodInfo *method_find(const char *name);
/* Run a METHOD_LAYER / METHOD_GLOBAL method; checks the budget and the scores it needs.
 * On error returns -1 with err_set and out zeroed. */
int  method_run(const MethodInfo *mi, const MethodInput *in, MethodResult *out);
void method_result_free(MethodResult *r);

/* The methods (exposed for tests). */
int method_shortgpt(const MethodInput *in, MethodResult *out);
int method_sleb(const MethodInput *in, MethodResult *out);
int method_streamline(const MethodInput *in, MethodResult *out);
int method_uls(const MethodInput *in, MethodResult *out);
int method_attn_skip(const MethodInput *in, MethodResult *out);
int method_flap(const MethodInput *in, MethodResult *out);
int method_random(const MethodInput *in, MethodResult *out);

/* Calibration ppl of s[0..n) into ppl[]: through in->batch when set, else in->calib_ppl one
 * after another (stopping at the first failure); n = 0 scores nothing. 0, or -1 with err_set. */
int method_ppl_batch(const MethodInput *in, const Subnet *const *s, int n, double *ppl);

/* Helpers (exposed for tests). */
/* Kept parameter fraction of s, adding one dim x dim replacement layer when `replaced`. */
double method_budget_of(const Model *m, const Subnet *s, bool replaced);
/* Index of the ratio nearest to target among ratios[0..n) (ties within 1e-9: the smaller ratio). */
int    method_nearest(const double *ratios, int n, double target);
/* The layers ULS skips when removing n of L: n evenly spaced intermediate layers
 * (first and last kept while n <= L - 2). skip[] gets L flags. */
void   method_uls_layers(int L, int n, uint8_t *skip);
/* Standardised global selection (FLAP's adaptive structure): z-score head scores across all
 * layers and channel scores across all layers, then drop units in ascending z until the kept
 * fraction is <= budget. Starts from s (modified in place). */
int    method_global_threshold(const Model *m, Subnet *s, const double *const *head_score,
                               const double *const *chan_score, double budget);

#endif
