/* stages — staged selection (config selection.stages; EvoPress's multi-step selection): each
 * generation's offspring are scored on stage 0's windows; of the members of a population whose
 * fitness is of stage s - 1, the best stage_keep[s - 1] (distinct subnets; ties: the lower hash)
 * are scored again on stage s's larger sample, and so on. A candidate keeps the fitness of the
 * last stage it reached; selection ranks later stages first (a fitness on more windows beats one
 * on fewer), then fitness. Without stages there is one stage of all calibration windows and the
 * ranking is by fitness alone, as before.
 * Owns: the stage arithmetic (windows per stage, windows spent) and the choice of who advances. */
#ifndef CARVE_SEARCH_STAGES_H
#define CARVE_SEARCH_STAGES_H

#include <stdint.h>

#include "search/config.h"

/* Number of stages (at least 1). */
int stage_count(const SearchConfig *c);
/* Calibration windows of stage s (0-based): the first stage_windows[s] of the shuffled sample, or
 * all calibration windows without stages. */
int stage_windows_of(const SearchConfig *c, int s);
/* How many advance from stage s to s + 1 (0 for the last stage). */
int stage_keep_of(const SearchConfig *c, int s);

/* Indices (into the n members fit/hash/stage) of the ones that advance from stage s - 1 to s: the
 * best `keep` distinct subnets (by fitness, ties by hash) among those whose stage is s - 1, in that
 * order; returns how many (written to out, room for n). */
int stage_pick(const double *fit, const uint64_t *hash, const int *stage, int n, int s, int keep, int *out);

#endif
