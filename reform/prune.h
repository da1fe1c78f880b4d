/* prune — turning unit scores into a subnet at a parameter budget: every layer keeps the same
 * fraction r of its query heads and of its MLP channels (its highest-scored ones), with r the
 * largest value whose subnet costs at most `budget` of the dense non-embedding parameters
 * (eval/cost.h, COST_PARAMS). Rounding: a layer keeps round(r·n) units (at least 1 head and
 * 1 channel, so no sublayer disappears); r is found by bisection on the exact cost, so the
 * result never exceeds the budget and is the closest uniform subnet below it. */
#ifndef CARVE_PRUNE_H
#define CARVE_PRUNE_H

#include "runtime/model/model.h"
#include "runtime/model/subnet.h"

/* head[l] (n_heads of layer l), chan[l] (hidden_dim). *ratio_out (may be NULL) gets r. */
int prune_uniform(const Model *m, double *const *head, double *const *chan, double budget, Subnet **out,
                  double *ratio_out);

#endif
