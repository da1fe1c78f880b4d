/* synth — random-weight Hugging Face models of known shapes (config.json +
 * model.safetensors streamed layer by layer + a small tokenizer.json), deterministic from a
 * seed, for tests and benchmarks without downloads. Weights are Gaussian with std
 * 1/sqrt(fan_in) (activations stay O(1)); norm weights are 1 + small noise. */
#ifndef CARVE_SYNTH_H
#define CARVE_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/base/dtype.h"
#include "runtime/model/model.h"

typedef struct {
    const char *name;
    const char *hf_arch;     /* "LlamaForCausalLM" / "Qwen2ForCausalLM" */
    int dim, n_layers, n_heads, n_kv_heads, hidden_dim, vocab_size, max_pos;
    double rope_theta;
    bool tied, bias;
    int tok_family;          /* tokenizer_synth_json family: 0 sentencepiece-style, 1 byte-level */
    RopeScaling rope;        /* written as config.json rope_scaling (type NONE: none) */
    bool out_bias;           /* o_proj / down_proj biases (Llama only; no shape has them) */
} SynthShape;

typedef struct {
    const char *shape;       /* a SynthShape name */
    DType dtype;
    uint64_t seed;
    int layers;              /* 0 = the shape's */
    int vocab;               /* 0 = the shape's */
    int kv_heads;            /* 0 = the shape's */
    int tied;                /* -1 = the shape's, else 0/1 */
    int bias;                /* -1 = the shape's, else 0/1 */
    bool out_bias;           /* o_proj / down_proj biases, as reformation's intercept writes them */
    const char *rope_scaling; /* NULL = the shape's, else "none", "linear" or "llama3" */
    double rope_factor;      /* 0 = the shape's, or 32 for llama3 on a shape without it */
    int rope_orig;           /* llama3 original_max_position_embeddings; 0 = the shape's or 8192 */
    double rope_theta;       /* 0 = the shape's */
    bool force;              /* replace an existing output directory */
    bool progress;           /* print progress lines to stderr */
} SynthOptions;

/* The named shape, or NULL. */
const SynthShape *synth_shape_find(const char *name);
/* All shapes (NULL-name terminated), for --help. */
const SynthShape *synth_shapes(void);
/* Write the model into out_dir (via a temporary directory renamed at the end). */
int synth_model(const SynthOptions *o, const char *out_dir);

#endif
