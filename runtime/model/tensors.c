/* tensors — the layer tensor table (see tensors.h). */
#include "runtime/model/tensors.h"

#include <stdlib.h>

#define F(field) offsetof(LayerWeights, field)

const LayerTensor LAYER_TENSORS[] = {
    /* field          HF name                              GGUF name             part        flags            rows    cols */
    {F(attn_norm), "input_layernorm.weight",          "attn_norm.weight",   LT_ATTN,    LT_NORM,           LD_ONE, LD_DIM},
    {F(wq),        "self_attn.q_proj.weight",         "attn_q.weight",      LT_ATTN,    LT_ROPE,           LD_Q,   LD_DIM},
    {F(wk),        "self_attn.k_proj.weight",         "attn_k.weight",      LT_ATTN,    LT_ROPE,           LD_KV,  LD_DIM},
    {F(wv),        "self_attn.v_proj.weight",         "attn_v.weight",      LT_ATTN,    0,                 LD_KV,  LD_DIM},
    {F(bq),        "self_attn.q_proj.bias",           "attn_q.bias",        LT_ATTN,    LT_BIAS | LT_ROPE, LD_ONE, LD_Q},
    {F(bk),        "self_attn.k_proj.bias",           "attn_k.bias",        LT_ATTN,    LT_BIAS | LT_ROPE, LD_ONE, LD_KV},
    {F(bv),        "self_attn.v_proj.bias",           "attn_v.bias",        LT_ATTN,    LT_BIAS,           LD_ONE, LD_KV},
    {F(wo),        "self_attn.o_proj.weight",         "attn_output.weight", LT_ATTN,    0,                 LD_DIM, LD_Q},
    {F(bo),        "self_attn.o_proj.bias",           "attn_output.bias",   LT_ATTN,    LT_BIAS | LT_OUT,  LD_ONE, LD_DIM},
    {F(ffn_norm),  "post_attention_layernorm.weight", "ffn_norm.weight",    LT_MLP,     LT_NORM,           LD_ONE, LD_DIM},
    {F(w_gate),    "mlp.gate_proj.weight",            "ffn_gate.weight",    LT_MLP,     0,                 LD_FF,  LD_DIM},
    {F(w_up),      "mlp.up_proj.weight",              "ffn_up.weight",      LT_MLP,     0,                 LD_FF,  LD_DIM},
    {F(w_down),    "mlp.down_proj.weight",            "ffn_down.weight",    LT_MLP,     0,                 LD_DIM, LD_FF},
    {F(b_down),    "mlp.down_proj.bias",              "ffn_down.bias",      LT_MLP,     LT_BIAS | LT_OUT,  LD_ONE, LD_DIM},
    {F(replace),   "replace.weight",                  NULL,                 LT_REPLACE, 0,                 LD_DIM, LD_DIM},
    {0,            "mlp.gate_proj.bias",              "ffn_gate.bias",      LT_MLP,     LT_REFUSED | LT_ZERO, LD_ONE, LD_FF},
    {0,            "mlp.up_proj.bias",                "ffn_up.bias",        LT_MLP,     LT_REFUSED | LT_ZERO, LD_ONE, LD_FF},
};
const int N_LAYER_TENSORS = (int)(sizeof LAYER_TENSORS / sizeof LAYER_TENSORS[0]);

int layer_tensor_stored(const LayerWeights *L, const LayerTensor *d) {
    if (d->flags & LT_REFUSED) return 0;
    if (L->replace.data) return d->part == LT_REPLACE;
    int on = d->part == LT_ATTN ? L->n_heads > 0 : d->part == LT_MLP ? L->hidden_dim > 0 : 0;
    if (on && (d->flags & LT_BIAS)) return layer_tensor_c(L, d)->data != NULL;
    return on;
}

int64_t layer_dim(LayerDim e, int64_t dim, int64_t head_dim, int64_t n_heads, int64_t n_kv_heads, int64_t hidden) {
    switch (e) {
    case LD_ONE: return 1;
    case LD_DIM: return dim;
    case LD_Q: return n_heads * head_dim;
    case LD_KV: return n_kv_heads * head_dim;
    case LD_FF: return hidden;
    }
    return 0;
}

int tensor_all_zero(const Tensor *t) {
    float *row = xmalloc((size_t)(t->cols > 0 ? t->cols : 1) * sizeof *row);
    int zero = 1;
    for (int64_t r = 0; zero && r < t->rows; r++) {
        tensor_row_f32(t, r, row);
        for (int64_t c = 0; c < t->cols; c++)
            if (row[c] != 0.0f) zero = 0;
    }
    free(row);
    return zero;
}
