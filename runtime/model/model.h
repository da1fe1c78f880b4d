/* model — the in-memory description of a Llama-family model: its configuration
 * and a view of every weight tensor in its stored dtype (memory-mapped or owned).
 *
 * The loaders of runtime/formats/ fill it (runtime/formats/model_open.h opens any format).
 * Layers may be heterogeneous (per-layer head and channel counts, skipped sublayers):
 * reformed and exported subnets load back as such models. */
#ifndef CARVE_MODEL_H
#define CARVE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/base/dtype.h"
#include "runtime/base/util.h"

struct Tokenizer;

typedef enum {
    ROPE_INTERLEAVED = 0, /* llama2.c / GGUF: rotate pairs (x[2i], x[2i+1]) */
    ROPE_HALF = 1         /* Hugging Face rotate_half: pairs (x[i], x[i + head_dim/2]) */
} RopeLayout;

/* RoPE frequency scaling declared by the checkpoint (runtime/model/rope.h turns it into frequencies). */
typedef enum {
    ROPE_SCALING_NONE = 0,   /* plain RoPE (HF "default"/null, GGUF "none" or absent) */
    ROPE_SCALING_LINEAR = 1, /* every inverse frequency / factor (HF and GGUF "linear") */
    ROPE_SCALING_LLAMA3 = 2  /* Llama-3.1 per-frequency smooth interpolation (HF "llama3") */
} RopeScalingType;

typedef struct {
    RopeScalingType type;
    float factor;            /* LINEAR, LLAMA3: > 0 */
    float low_freq_factor;   /* LLAMA3: > 0 */
    float high_freq_factor;  /* LLAMA3: > low_freq_factor */
    int orig_max_pos;        /* LLAMA3: original_max_position_embeddings > 0 */
} RopeScaling;

/* A 2-D row-major tensor view (a vector has rows = 1). data == NULL means absent. */
typedef struct {
    DType dtype;
    int64_t rows, cols;
    const void *data;
} Tensor;

typedef struct {
    int n_heads;      /* query heads; 0 = this layer has no attention sublayer */
    int n_kv_heads;   /* key/value heads; n_heads % n_kv_heads == 0 when n_heads > 0 */
    int hidden_dim;   /* MLP channels; 0 = this layer has no MLP sublayer */
    Tensor attn_norm; /* (1, dim) */
    Tensor wq;        /* (n_heads*head_dim, dim) */
    Tensor wk, wv;    /* (n_kv_heads*head_dim, dim) */
    Tensor bq, bk, bv;/* (1, rows of wq/wk/wv) or absent */
    Tensor wo;        /* (dim, n_heads*head_dim) */
    Tensor bo;        /* (1, dim) o_proj bias or absent (reformation's intercept, FLAP's compensation) */
    Tensor ffn_norm;  /* (1, dim) */
    Tensor w_gate;    /* (hidden_dim, dim)  "w1" */
    Tensor w_up;      /* (hidden_dim, dim)  "w3" */
    Tensor w_down;    /* (dim, hidden_dim)  "w2" */
    Tensor b_down;    /* (1, dim) down_proj bias or absent (as bo) */
    Tensor replace;   /* (dim, dim): when present the layer is a fitted linear map h <- replace · h
                         (LLM-Streamline) and every other field of the layer is unused */
} LayerWeights;

typedef struct {
    char arch[64];    /* "llama", "mistral", "qwen2", "deci", "llama2c", "carve" */
    int dim;
    int n_layers;
    int n_heads;      /* base (dense) values; per-layer values live in LayerWeights */
    int n_kv_heads;
    int head_dim;
    int hidden_dim;
    int vocab_size;
    int max_seq_len;
    float rope_theta;
    float norm_eps;
    RopeLayout rope_layout;
    bool tied_embeddings;
    bool qkv_bias;
    bool heterogeneous; /* some layer differs from the base head/channel counts */
    RopeScaling rope_scaling;
} ModelConfig;

typedef struct Model {
    ModelConfig cfg;
    LayerWeights *layers;   /* cfg.n_layers entries */
    Tensor tok_embedding;   /* (vocab, dim) */
    Tensor final_norm;      /* (1, dim) */
    Tensor classifier;      /* (vocab, dim); same data as tok_embedding when tied */
    Tensor rope_freqs;      /* (1, head_dim/2) F32 GGUF rope_freqs.weight: divisor of each RoPE pair's
                               inverse frequency (llama.cpp's freq factors), or absent */
    char *path;             /* as given to model_open */
    const char *format;     /* "hf", "llama2c", "gguf", "memory" */
    MappedFile *files;      /* mapped weight files, n_files entries */
    int n_files;
    void **owned;           /* heap buffers owned by the model, freed by model_free */
    int n_owned;
    struct Tokenizer *tokenizer; /* found with the model (tokenizer.json, GGUF metadata,
                                    tok<vocab>.bin / tokenizer.bin beside a llama2.c file); may be NULL */
    uint64_t identity;      /* hash of the config and weight file names/sizes/mtimes: cache key */
} Model;

void model_free(Model *m);

/* Helpers for loaders and in-memory models. */
Model *model_alloc(int n_layers);                /* zeroed model with n_layers layers */
void  *model_own(Model *m, void *buf);           /* record buf as owned; returns buf */
void   model_add_file(Model *m, MappedFile *f);  /* takes ownership of a mapped file */
/* Set every layer's n_heads/n_kv_heads/hidden_dim to the base values in cfg
 * (loaders of uniform models call this; heterogeneous loaders set them per layer). */
void   model_uniform_layers(Model *m);
/* Validate every tensor's shape against cfg and the per-layer counts; sets
 * cfg.heterogeneous. Returns -1 with a message naming `what` (the file). */
int    model_validate(Model *m, const char *what);
/* The one window-length rule (eval --seq-len, calibration --len / calibration.len, eval.seq_len,
 * statistics, the forward pass): a window may not exceed the trained context cfg.max_seq_len.
 * Returns -1 with "<what>: <name> <len> exceeds the model's context of <n> tokens". */
int    model_check_window(const Model *m, int len, const char *what, const char *name);
Tensor tensor_make(DType t, int64_t rows, int64_t cols, const void *data);
/* Copy row r of t into dst as f32 (cols floats). */
void   tensor_row_f32(const Tensor *t, int64_t r, float *dst);

/* Parameter counts of the model as stored (embedding and classifier counted apart). */
typedef struct {
    int64_t embedding;   /* token embedding */
    int64_t classifier;  /* 0 when tied */
    int64_t layers;      /* all layer weights incl. norms and biases */
    int64_t other;       /* final norm */
} ParamCount;
ParamCount model_param_count(const Model *m);

#endif
