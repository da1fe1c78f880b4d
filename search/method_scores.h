/* method_scores — computes the importance scores a registry method needs (MethodScores of
 * search/method.h) on the calibration windows, by calling reform/'s calibration statistics
 * and scores, and owns their storage (MethodScoreSet). */
#ifndef CARVE_METHOD_SCORES_H
#define CARVE_METHOD_SCORES_H

#include "reform/stats.h"
#include "search/method.h"
#include "search/method_eval.h"

typedef struct {
    MethodScores scores;   /* views into the arrays below */
    double *block_influence;
    double *boundary_cos;
    double **head_score, **chan_score;
    int n_layers;
} MethodScoreSet;

/* Fill out with the scores method mi draws on (none for uls, attn-skip, sleb, random), from
 * reform/'s statistics of the same calibration sample as cal (so gives the cache options;
 * its N, L and seed are taken from cal). */
int  method_scores_compute(const MethodInfo *mi, MethodCalib *cal, const StatsOptions *so, MethodScoreSet *out);
void method_scores_free(MethodScoreSet *s);

#endif
