/* importance — fills the search space's per-unit importance scores (GenomeSpace.head_score /
 * chan_score), which seed the initial population, from the reform module's scores
 * (reform/importance.h): saliency from calibration statistics in the search, weight magnitude
 * where no statistics exist (the engine's unit tests).
 * Owns: the copy from reform's per-layer double scores into the genome space. */
#ifndef CARVE_SEARCH_IMPORTANCE_H
#define CARVE_SEARCH_IMPORTANCE_H

#include "reform/importance.h"
#include "reform/stats.h"
#include "search/genome.h"

/* sf may be NULL for IMP_MAGNITUDE; split: this process's share of the layers when several
 * processes score them together (a collective then; NULL: all here). Returns -1 (err_set) on failure. */
int importance_fill(GenomeSpace *gs, const StatsFile *sf, ImpMethod method, const ImpSplit *split);

#endif
