/* export_gguf — write a Model (typically an extracted / reformed subnet) as a GGUF v3 file
 * with general.architecture = "deci", the per-layer variant of llama that llama.cpp reads:
 *
 *   deci.attention.head_count / head_count_kv / feed_forward_length: int32 arrays, one entry
 *   per layer (0 heads = attention-free layer, its attn_* tensors absent); block_count,
 *   context_length, embedding_length, rope.freq_base, rope.dimension_count (= head_dim),
 *   attention.key_length / value_length (= head_dim: llama.cpp would otherwise derive it from
 *   layer 0's head count), attention.layer_norm_rms_epsilon, vocab_size; general.name,
 *   general.file_type; the tokenizer as tokenizer.ggml.* (when the model has one).
 *   RoPE scaling: linear as rope.scaling.type "linear" + rope.scaling.factor; llama3 (and a
 *   GGUF source's table) as the F32 tensor rope_freqs.weight of head_dim/2 per-pair divisors
 *   of the inverse frequency, which llama.cpp applies as its freq factors.
 *   Tensors token_embd, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm,
 *   ffn_gate, ffn_up, ffn_down}.weight (+ attn_q/k/v.bias, attn_output.bias, ffn_down.bias
 *   when the model has them), output_norm, output (absent when
 *   tied). 2-D tensors in the chosen dtype, norms and biases always F32.
 *
 * Q/K rows are written in llama.cpp's interleaved RoPE order (a ROPE_HALF model, i.e. from
 * Hugging Face, is permuted per head).
 *
 * Layers deci cannot express as carve means them:
 *   - attention kept, MLP removed: llama.cpp's deci graph skips a layer whose feed-forward
 *     length is 0 *before* adding the attention output to the residual, so such a layer is
 *     written with feed_forward_length 1 and all-zero ffn_gate/ffn_up/ffn_down (its MLP
 *     adds exactly 0);
 *   - a fitted linear map ("replace") layer: rejected (deci's "linear attention" computes
 *     h + W·h, not W·h).
 * Every failure is one line naming the output and the reason. */
#ifndef CARVE_EXPORT_GGUF_H
#define CARVE_EXPORT_GGUF_H

#include "runtime/model/model.h"
#include "runtime/model/subnet.h"

typedef struct {
    DType dtype;              /* of 2-D tensors */
    const char *name;         /* general.name; NULL = "carve export" */
    const struct Tokenizer *tokenizer; /* embedded; NULL = the model's own (an extracted model
                                          has none: pass the source model's) */
    const char *manifest;     /* when set: write a JSON manifest of the metadata and tensor
                                 table carve meant to write (for the independent-reader test) */
} GGUFExportOptions;

/* 0 when the layer shapes of m can be written as deci GGUF; else -1 with the reason. */
int export_gguf_check(const Model *m);


/* Write m to path atomically (temporary name, then rename). */
int export_gguf(const Model *m, const char *path, const GGUFExportOptions *opt);

#endif
