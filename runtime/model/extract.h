/* extract — build an in-memory model that holds only a subnet's weights: the kept heads'
 * Q/K/V rows and O columns, the kept channels' gate/up rows and down columns, skipped
 * sublayers absent, all as owned f32 tensors. Its layers are heterogeneous (per-layer
 * n_heads / n_kv_heads / hidden_dim) and evaluate exactly like the subnet of the source.
 * Reformation edits these weights in place; export writes them out. */
#ifndef CARVE_EXTRACT_H
#define CARVE_EXTRACT_H

#include "runtime/model/model.h"
#include "runtime/model/subnet.h"

/* s == NULL extracts the dense model. The result shares nothing with m (format "memory"). */
int model_extract(const Model *m, const Subnet *s, Model **out);

#endif
