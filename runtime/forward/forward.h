/* forward — the batched full-sequence transformer forward pass over a subnet.
 *
 * For B sequences x T tokens (no KV cache) it runs RMSNorm, Q/K/V projections (+bias),
 * RoPE (either layout), causal GQA attention, output projection (+bias), residual, RMSNorm,
 * SwiGLU MLP (down projection +bias), final norm, logits and NLL. Every projection is one OpenBLAS sgemm over
 * all B*T tokens on *compact* f32 weights: the kept rows/columns gathered (and converted
 * from the stored dtype) once per subnet, so a 50% subnet costs about half the FLOPs.
 * When the compact weights of all layers do not fit the cache budget they are rebuilt
 * one layer at a time in a scratch buffer (how a 7B bf16 model runs in < 16 GiB).
 * Logits are computed in chunks of tokens, never all B*T x vocab at once. */
#ifndef CARVE_FORWARD_H
#define CARVE_FORWARD_H

#include <stdint.h>

#include "runtime/model/model.h"
#include "runtime/model/subnet.h"

/* Observation points for calibration statistics (reform/). Pointers are valid only
 * during the call. n_tok = B*T rows, row-major. Any callback may be NULL. */
typedef struct {
    /* point 0: hidden state entering layer `layer`; 1: after the attention residual;
     * 2: leaving the layer. layer == n_layers, point 0: the final hidden state before the norm. */
    void (*hidden)(void *ud, int layer, int point, const float *x, int n_tok, int dim);
    /* input of the attention output projection: (n_tok, kept_heads*head_dim) */
    void (*attn_concat)(void *ud, int layer, const float *x, int n_tok, int width);
    /* input of the MLP down projection, silu(gate)*up: (n_tok, kept_channels) */
    void (*mlp_act)(void *ud, int layer, const float *x, int n_tok, int width);
    void *ud;
} ForwardHooks;

typedef struct {
    size_t cache_bytes;  /* budget for cached compact f32 weights; 0 = default (4 GiB) */
    int max_tokens;      /* largest B*T per call; 0 = default (4096) */
    int logits_chunk;    /* tokens per logits chunk; 0 = default */
} ForwardOptions;

typedef struct Forward Forward;

/* s == NULL means the dense model. The subnet is copied. */
int  forward_create(const Model *m, const Subnet *s, const ForwardOptions *opt, Forward **out);
void forward_free(Forward *f);
/* Switch to another subnet (drops the compact weight cache; nothing happens when s equals the
 * current subnet). */
int  forward_set_subnet(Forward *f, const Subnet *s);
/* Switch to another model of the same dim, head_dim and vocabulary (e.g. a reformed extracted
 * model) under subnet s (NULL = dense): the activation buffers, RoPE tables (when the frequencies
 * are equal) and a converted classifier of the same model are kept, everything else is rebuilt,
 * so the results are those of a Forward created afresh with the same options. m must outlive its
 * use; after m is freed, bind another model before the next pass. */
int  forward_set_model(Forward *f, const Model *m, const Subnet *s);
const Model *forward_model(const Forward *f);

/* tokens: (B, T) row-major. Adds to *nll_sum the NLL of every position t >= 1 of each
 * sequence given tokens [0, t) and to *n_scored their count. hooks may be NULL. */
int forward_nll(Forward *f, const int32_t *tokens, int B, int T, const ForwardHooks *hooks,
                double *nll_sum, int64_t *n_scored);
/* Per-position log-probabilities for continuation scoring: for each sequence b and every
 * position t in [from[b], to[b]) (1 <= from[b], to[b] <= T), lp[b*T + t] = log p(tokens[b,t] |
 * tokens[b,<t]); other entries of lp (B*T) are left alone. Only those positions reach the
 * classifier, so right-padding sequences of different lengths to T costs no logits. */
int forward_token_logprobs(Forward *f, const int32_t *tokens, int B, int T, const int *from, const int *to,
                           double *lp);
/* Classifier tiles for scores over whole distributions (eval/kl.h: KL to a reference): the
 * logits of every position t >= 1 of each sequence (those that predict tokens[b,t]) are handed to
 * cb one tile at a time, (k rows, vocabulary ids [v0, v0 + vb)) row-major. rows[i] = b*T + t - 1
 * names the position whose logits row i holds; rows come in sequence order in chunks of at most
 * the pass's logits chunk, and the tiles of one chunk in vocabulary order, the last one ending at
 * vocab. Pointers are valid only during the callback, which runs on the caller's thread. */
typedef void (*ForwardTileFn)(void *ud, const int32_t *rows, int k, int v0, int vb, const float *logits);
int forward_logit_tiles(Forward *f, const int32_t *tokens, int B, int T, ForwardTileFn cb, void *ud);
/* logits: (B*T, vocab) row-major, for tests and tools. */
int forward_logits(Forward *f, const int32_t *tokens, int B, int T, float *logits);

/* Layer-by-layer control for sequential reformation:
 * embed: x (B*T, dim) <- token embeddings;
 * layer: x <- layer l applied to x (in place), under the current subnet;
 * head_nll: final norm + classifier + NLL of x against tokens. */
int forward_embed(Forward *f, const int32_t *tokens, int B, int T, float *x);
int forward_layer(Forward *f, int layer, float *x, int B, int T, const ForwardHooks *hooks);
int forward_head_nll(Forward *f, const float *x, const int32_t *tokens, int B, int T, double *nll_sum,
                     int64_t *n_scored);

/* Matmul FLOPs of one forward over B x T under the current subnet (projections, attention
 * scores and values with the causal half counted, classifier) — the numerator of the
 * "share of the sgemm ceiling" figures. */
double forward_flops(const Forward *f, int B, int T);

#endif
