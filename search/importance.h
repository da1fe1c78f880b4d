/* importance — per-unit importance scores that seed the search's initial population:
 * the score of each query head and each MLP channel of every layer (higher = keep first).
 * importance_weight_magnitude is the fallback used until the reform module's calibration
 * saliency is available: it needs only the weights, no calibration data.
 * Owns: filling GenomeSpace.head_score / chan_score. */
#ifndef CARVE_IMPORTANCE_H
#define CARVE_IMPORTANCE_H

#include "search/genome.h"

/* Weight-magnitude importance: head h scores ||Wq rows of h||_F * ||Wo columns of h||_F;
 * channel c scores ||W_gate row c|| * ||W_up row c|| * ||W_down column c||. */
void importance_weight_magnitude(GenomeSpace *gs);

#endif
