/* model_write — write any Model (typically an in-memory extracted / reformed subnet) as a
 * Hugging Face directory that carve's HF loader (runtime/formats/hf_model.c) and transformers read:
 *   config.json        a plain LlamaForCausalLM (Qwen2ForCausalLM with q/k/v biases only) config
 *                      when every layer has the same head/KV-head/channel counts and both
 *                      sublayers; otherwise carve's heterogeneous CarveLlamaForCausalLM config
 *                      with per-layer "carve_layers" (format documented in hf_model.c);
 *                      head_dim is always written (pruned heads make hidden_size/heads wrong);
 *                      rope_scaling ("linear" / "llama3") as the source declared it;
 *                      with o/down output biases attention_bias / mlp_bias are set and the
 *                      other members of transformers' Llama bias sets written as zeros
 *   model.safetensors  the weights under the Llama names, in the chosen dtype, Q/K rows
 *                      permuted to HF's rotate-half RoPE layout when the model uses the
 *                      interleaved one (llama2.c, GGUF)
 *   tokenizer files    copied from the source model: tokenizer.json (+ tokenizer_config.json,
 *                      special_tokens_map.json) of a HF source, the tok<vocab>.bin /
 *                      tokenizer.bin beside a llama2.c checkpoint (copied as tokenizer.bin)
 * The directory is built under "<dir>.tmp.<pid>" and renamed into place when complete. */
#ifndef CARVE_MODEL_WRITE_H
#define CARVE_MODEL_WRITE_H

#include <stdbool.h>

#include "runtime/model/model.h"

typedef struct {
    DType dtype;               /* of every tensor */
    const Model *tokenizer_of; /* model whose tokenizer files are copied (the export source;
                                  m itself when NULL); none found = no tokenizer files */
    bool force;                /* replace an existing dir */
} HFWriteOptions;

/* true when m has the same head/KV/channel counts and both sublayers in every layer. */
bool model_is_uniform(const Model *m);

/* 0 when m can be written as HF; -1 naming m->path when its RoPE scaling is a GGUF rope_freqs
 * table (config.json's rope_scaling expresses only linear and llama3). */
int model_write_hf_check(const Model *m);
int model_write_hf(const Model *m, const char *dir, const HFWriteOptions *opt);

#endif
