/* cost — the cost models of a subnet: parameters and FLOPs per token, split into the
 * embedding/classifier part (never pruned) and the prunable "non-embedding" part that
 * budgets are expressed in (fraction of the dense model's non-embedding cost). */
#ifndef CARVE_COST_H
#define CARVE_COST_H

#include <stdint.h>

#include "runtime/model/model.h"
#include "runtime/model/subnet.h"

typedef struct {
    int64_t params_embedding;   /* token embedding + untied classifier */
    int64_t params_layers;      /* kept weights of all layers: projections, biases, norms */
    int64_t params_total;
    double flops_per_token;     /* 2 x multiply-adds of all matmuls incl. classifier, at seq_len,
                                   attention scores/values counted over the causal average (seq_len+1)/2 */
    double flops_layers;        /* the layers' share of flops_per_token */
} Cost;

/* Cost of subnet s of model m (s == NULL: dense) at sequence length seq_len (for attention FLOPs). */
Cost cost_of(const Model *m, const Subnet *s, int seq_len);
/* Fraction of the dense model's non-embedding parameters (kind 0) or layer FLOPs (kind 1) kept. */
typedef enum { COST_PARAMS = 0, COST_FLOPS = 1 } CostKind;
double cost_ratio(const Model *m, const Subnet *s, CostKind kind, int seq_len);

#endif
