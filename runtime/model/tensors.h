/* tensors — the one table of a transformer layer's weight tensors: where each one lives in
 * LayerWeights, its name in Hugging Face checkpoints (after "model.layers.N.") and in GGUF
 * (after "blk.N."), the sublayer it belongs to, its shape in the layer's counts and how it is
 * treated (optional bias, RoPE rows, norm). The HF and GGUF loaders, the HF and GGUF writers
 * and synth all walk this table, in its order; a new tensor is one new row.
 *
 * Rows marked LT_REFUSED name tensors carve does not model: a checkpoint that holds one is
 * refused with a message naming it (rather than evaluated without it) — unless the row is also
 * LT_ZERO and the tensor is all zeros (the gate/up biases the HF writer completes Llama's
 * `mlp_bias` set with: transformers' LlamaMLP has all three biases or none).
 *
 * Output biases (LT_OUT: o_proj, down_proj) are what reformation's intercept and FLAP's bias
 * compensation produce; every format stores them as optional tensors (llama.cpp reads
 * attn_output.bias / ffn_down.bias for both the llama and the deci architecture). */
#ifndef CARVE_TENSORS_H
#define CARVE_TENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/model/model.h"

typedef enum {
    LT_ATTN = 0,    /* present when the layer's n_heads > 0 */
    LT_MLP = 1,     /* present when the layer's hidden_dim > 0 */
    LT_REPLACE = 2  /* the whole layer when it is a fitted linear map */
} LayerPart;

/* A tensor extent in the layer's counts (rows == LD_ONE: a vector of cols entries). */
typedef enum { LD_ONE, LD_DIM, LD_Q, LD_KV, LD_FF } LayerDim; /* 1, dim, n_heads*hd, n_kv*hd, hidden */

enum {
    LT_BIAS = 1,    /* a bias: optional (HF: required when config.json declares q/k/v biases) */
    LT_ROPE = 2,    /* rows are RoPE pairs (Q, K and their biases): permuted between layouts */
    LT_NORM = 4,    /* an RMSNorm weight */
    LT_REFUSED = 8, /* not modelled: refused when present (offset unused) */
    LT_OUT = 16,    /* with LT_BIAS: an output bias (o/down), optional in every format */
    LT_ZERO = 32    /* with LT_REFUSED: accepted (and dropped) when all zero */
};

typedef struct {
    size_t offset;      /* offsetof(LayerWeights, field) */
    const char *hf;     /* HF name after "model.layers.N." */
    const char *gguf;   /* GGUF name after "blk.N." (NULL: no GGUF form) */
    LayerPart part;
    unsigned flags;
    LayerDim rows, cols;
} LayerTensor;

extern const LayerTensor LAYER_TENSORS[];
extern const int N_LAYER_TENSORS;

static inline Tensor *layer_tensor(LayerWeights *L, const LayerTensor *d) {
    return (Tensor *)((char *)L + d->offset);
}
static inline const Tensor *layer_tensor_c(const LayerWeights *L, const LayerTensor *d) {
    return (const Tensor *)((const char *)L + d->offset);
}

/* Whether row d is stored for layer L (by its counts; a bias also needs data). */
int layer_tensor_stored(const LayerWeights *L, const LayerTensor *d);

/* Whether every element of t is 0 (LT_ZERO rows). */
int tensor_all_zero(const Tensor *t);

/* The extent e for a layer of these counts. */
int64_t layer_dim(LayerDim e, int64_t dim, int64_t head_dim, int64_t n_heads, int64_t n_kv_heads, int64_t hidden);

#endif
