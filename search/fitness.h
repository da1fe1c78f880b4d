/* fitness — the search's fitness of a candidate on a window set (config `fitness:`): calibration
 * perplexity exp(mean NLL), or with `kind: kl` the mean KL divergence from the dense model's
 * next-token distribution (eval/kl.h; the dense reference, top_k entries per position + the rest
 * of the mass, is computed once when the set is opened: n * (len - 1) * (8 top_k + 4) bytes).
 * With `worst` q < 1 (kind kl) the fitness is the mean KL of the ceil(q n) windows of the largest
 * KL among the n scored (ties: any, the sum is the same), a distributionally robust variant.
 * A score covers the first n windows of the set, so selection stages (search/stages.h) use
 * prefixes of one set. With `shuffle` the set is the given windows in a fixed random order
 * (Fisher-Yates, PCG32 seeded (seed, 55)): calibration windows are sorted by position in the
 * text, so a prefix of the shuffled set is a uniform sample of them, not the text's beginning.
 * Owns: the fitness window set, its Evaluator and its dense reference. */
#ifndef CARVE_SEARCH_FITNESS_H
#define CARVE_SEARCH_FITNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "eval/evaluator.h"
#include "eval/kl.h"
#include "search/config.h"

typedef struct {
    int kind;            /* FitnessKind */
    double worst;        /* kl: the share of windows (largest KL) the mean is over; 1 = all */
    Windows own;         /* the shuffled copy (shuffle), else empty */
    Evaluator *ev;       /* over the set, on the owner's forward pass */
    DenseRef *ref;       /* kind kl */
    const char *what;
} FitnessSet;

/* The set over w (borrowed unless shuffled; it must outlive the set), scored on owner's forward
 * pass (owner: an evaluator of model m that outlives the set); split: the window group that scores
 * it together (NULL: alone; kind ppl only). 0 or -1 with err_set. */
int  fitness_open(FitnessSet *fs, const SearchConfig *cfg, const Model *m, const Windows *w, bool shuffle,
                  uint64_t seed, Evaluator *owner, const EvalSplit *split, const char *what);
/* Fitness of `model` under s (model NULL = the owner's model) over the first n windows of the set
 * (n = 0: all). */
int  fitness_score(FitnessSet *fs, const Model *model, const Subnet *s, int n, double *out);
void fitness_close(FitnessSet *fs);

#endif
