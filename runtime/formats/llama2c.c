/* llama2c — loader for karpathy's llama2.c legacy checkpoints (format in ../shared/README.md):
 * seven int32 header fields, then fp32 arrays; a positive vocab_size means the classifier
 * shares the token embedding. RoPE uses interleaved pairs. A tokenizer named
 * tok<vocab>.bin or tokenizer.bin beside the checkpoint is loaded with it. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/tokenizer/tokenizer.h"

static void attach_tokenizer(Model *m, const char *path, int vocab) {
    char *copy = xstrdup(path);
    const char *dir = dirname(copy);
    char name[64];
    snprintf(name, sizeof name, "tok%d.bin", vocab);
    const char *candidates[] = {name, "tokenizer.bin"};
    for (int i = 0; i < 2 && !m->tokenizer; i++) {
        char *p = path_join(dir, candidates[i]);
        if (path_exists(p)) {
            Tokenizer *t = NULL;
            if (tokenizer_load(p, &t) == 0 && tokenizer_vocab_size(t) == vocab) m->tokenizer = t;
            else if (t) tokenizer_free(t);
        }
        free(p);
    }
    free(copy);
    err_set("%s", "");
}

int model_open_llama2c(const char *path, Model *m) {
    MappedFile f;
    if (mapped_open(&f, path) != 0) return -1;
    if (f.size < 7 * 4) {
        mapped_close(&f);
        return err_set("%s: too short for a llama2.c checkpoint header (%zu bytes)", path, f.size);
    }
    int32_t h[7];
    memcpy(h, f.data, sizeof h);
    int dim = h[0], hidden = h[1], n_layers = h[2], n_heads = h[3], n_kv = h[4], vocab = h[5], seq = h[6];
    bool shared = vocab > 0;
    /* every field is range-checked before any arithmetic: -INT32_MIN is not an int */
    if (vocab < 0) vocab = vocab == INT32_MIN ? 0 : -vocab;
    if (dim <= 0 || hidden <= 0 || n_layers <= 0 || n_layers > 4096 || n_heads <= 0 || n_kv <= 0 || vocab <= 0 ||
        seq <= 0 || dim % n_heads != 0 || n_heads % n_kv != 0 || dim > 65536 || hidden > 1 << 20) {
        mapped_close(&f);
        return err_set("%s: not a llama2.c checkpoint (header dim=%d hidden=%d layers=%d heads=%d kv=%d vocab=%d seq=%d)",
                       path, h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
    }
    int hd = dim / n_heads;
    int64_t L = n_layers, D = dim, F = hidden, kvd = (int64_t)n_kv * hd, V = vocab, S = seq;
    int64_t floats = V * D + L * D + L * D * D + 2 * L * kvd * D + L * D * D + L * D + 3 * L * F * D + D +
                     S * hd; /* freq_cis real + imag: S*hd/2 each */
    if (!shared) floats += V * D;
    size_t need = 28 + (size_t)floats * 4;
    size_t need_no_freq = need - (size_t)(S * hd) * 4;
    size_t have = f.size; /* (mapped_close clears f) */
    if (have < need_no_freq) {
        mapped_close(&f);
        return err_set("%s: truncated llama2.c checkpoint: %zu bytes, header needs %zu", path, have, need);
    }
    Model *mm = m;
    free(mm->layers);
    mm->layers = xcalloc((size_t)n_layers, sizeof *mm->layers);
    ModelConfig *c = &mm->cfg;
    snprintf(c->arch, sizeof c->arch, "llama2c");
    c->dim = dim;
    c->n_layers = n_layers;
    c->n_heads = n_heads;
    c->n_kv_heads = n_kv;
    c->head_dim = hd;
    c->hidden_dim = hidden;
    c->vocab_size = vocab;
    c->max_seq_len = seq;
    c->rope_theta = 10000.0f;
    c->norm_eps = 1e-5f;
    c->rope_layout = ROPE_INTERLEAVED;
    c->tied_embeddings = shared;
    const float *p = (const float *)(f.data + 28);
#define TAKE(t, rows, cols) do { (t) = tensor_make(DT_F32, (rows), (cols), p); p += (int64_t)(rows) * (cols); } while (0)
    TAKE(mm->tok_embedding, V, D);
    for (int l = 0; l < n_layers; l++) TAKE(mm->layers[l].attn_norm, 1, D);
    for (int l = 0; l < n_layers; l++) TAKE(mm->layers[l].wq, D, D);
    for (int l = 0; l < n_layers; l++) TAKE(mm->layers[l].wk, kvd, D);
    for (int l = 0; l < n_layers; l++) TAKE(mm->layers[l].wv, kvd, D);
    for (int l = 0; l < n_layers; l++) TAKE(mm->layers[l].wo, D, D);
    for (int l = 0; l < n_layers; l++) TAKE(mm->layers[l].ffn_norm, 1, D);
    for (int l = 0; l < n_layers; l++) TAKE(mm->layers[l].w_gate, F, D);
    for (int l = 0; l < n_layers; l++) TAKE(mm->layers[l].w_down, D, F);
    for (int l = 0; l < n_layers; l++) TAKE(mm->layers[l].w_up, F, D);
    TAKE(mm->final_norm, 1, D);
    p += S * hd; /* skip the legacy freq_cis_real/imag tables: carve computes RoPE itself */
    if (shared) mm->classifier = mm->tok_embedding;
    else TAKE(mm->classifier, V, D);
#undef TAKE
    if (!shared && have < 28 + (size_t)floats * 4) {
        mapped_close(&f);
        return err_set("%s: truncated llama2.c checkpoint: %zu bytes, header needs %zu", path, have, need);
    }
    model_add_file(mm, &f);
    model_uniform_layers(mm);
    if (model_validate(mm, path) != 0) return -1;
    attach_tokenizer(mm, path, vocab);
    return 0;
}
