/* model — ownership and shape validation shared by all loaders (opening: runtime/formats/model_open.c). */
#include "runtime/model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/tokenizer/tokenizer.h"

Model *model_alloc(int n_layers) {
    Model *m = xcalloc(1, sizeof *m);
    m->cfg.n_layers = n_layers;
    m->layers = xcalloc(n_layers > 0 ? (size_t)n_layers : 1, sizeof *m->layers);
    return m;
}

void *model_own(Model *m, void *buf) {
    m->owned = xrealloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *m->owned);
    m->owned[m->n_owned++] = buf;
    return buf;
}

void model_add_file(Model *m, MappedFile *f) {
    m->files = xrealloc(m->files, (size_t)(m->n_files + 1) * sizeof *m->files);
    m->files[m->n_files++] = *f;
    memset(f, 0, sizeof *f);
}

Tensor tensor_make(DType t, int64_t rows, int64_t cols, const void *data) {
    Tensor x = {t, rows, cols, data};
    return x;
}

void tensor_row_f32(const Tensor *t, int64_t r, float *dst) {
    const uint8_t *base = t->data;
    convert_to_f32(dst, base + (size_t)(r * t->cols) * dtype_size(t->dtype), t->dtype, (size_t)t->cols);
}

void model_free(Model *m) {
    if (!m) return;
    if (m->tokenizer) tokenizer_free(m->tokenizer);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    for (int i = 0; i < m->n_files; i++) mapped_close(&m->files[i]);
    free(m->files);
    free(m->layers);
    free(m->path);
    free(m);
}

/* Tensors of at most this many elements (norms, biases, the weights of small models) are checked
 * for NaN/Inf at load; larger ones are caught by the forward pass at the first non-finite
 * activation (runtime/forward/forward.c), which names the layer. */
#define FINITE_CHECK_MAX ((int64_t)1 << 18)

static int check_finite(const Tensor *t, const char *what, const char *name, int layer) {
    if (t->rows * t->cols > FINITE_CHECK_MAX || t->cols <= 0) return 0;
    float *row = xmalloc((size_t)t->cols * sizeof *row);
    int rc = 0;
    for (int64_t r = 0; r < t->rows && !rc; r++) {
        tensor_row_f32(t, r, row);
        for (int64_t c = 0; c < t->cols; c++)
            if (!isfinite(row[c])) {
                if (layer >= 0)
                    rc = err_set("%s: tensor %s of layer %d holds a non-finite value (%g at [%lld, %lld])", what, name,
                                 layer, (double)row[c], (long long)r, (long long)c);
                else
                    rc = err_set("%s: tensor %s holds a non-finite value (%g at [%lld, %lld])", what, name,
                                 (double)row[c], (long long)r, (long long)c);
                break;
            }
    }
    free(row);
    return rc;
}

static int check_shape(const Tensor *t, int64_t rows, int64_t cols, const char *what, const char *name,
                       int layer) {
    if (!t->data) {
        if (layer >= 0) return err_set("%s: missing tensor %s of layer %d", what, name, layer);
        return err_set("%s: missing tensor %s", what, name);
    }
    if (t->rows * t->cols != rows * cols || (t->rows != rows && t->rows != 1 && rows != 1)) {
        if (layer >= 0)
            return err_set("%s: tensor %s of layer %d has shape [%lld, %lld], config says [%lld, %lld]", what,
                           name, layer, (long long)t->rows, (long long)t->cols, (long long)rows,
                           (long long)cols);
        return err_set("%s: tensor %s has shape [%lld, %lld], config says [%lld, %lld]", what, name,
                       (long long)t->rows, (long long)t->cols, (long long)rows, (long long)cols);
    }
    return check_finite(t, what, name, layer);
}

int model_validate(Model *m, const char *what) {
    ModelConfig *c = &m->cfg;
    if (c->dim <= 0 || c->n_layers <= 0 || c->vocab_size <= 0 || c->head_dim <= 0)
        return err_set("%s: invalid configuration (dim=%d, n_layers=%d, vocab=%d, head_dim=%d)", what, c->dim,
                       c->n_layers, c->vocab_size, c->head_dim);
    if (c->n_heads <= 0 || c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads != 0)
        return err_set("%s: invalid head counts (n_heads=%d, n_kv_heads=%d)", what, c->n_heads, c->n_kv_heads);
    if (c->rope_layout == ROPE_INTERLEAVED || c->rope_layout == ROPE_HALF) {
        if (c->head_dim % 2) return err_set("%s: head_dim %d must be even for RoPE", what, c->head_dim);
    }
    if (check_shape(&m->tok_embedding, c->vocab_size, c->dim, what, "token embedding", -1)) return -1;
    if (check_shape(&m->final_norm, 1, c->dim, what, "final norm", -1)) return -1;
    if (check_shape(&m->classifier, c->vocab_size, c->dim, what, "classifier (lm_head)", -1)) return -1;
    if (m->rope_freqs.data && m->rope_freqs.dtype == DT_F32 &&
        check_finite(&m->rope_freqs, what, "rope_freqs", -1))
        return -1;
    c->heterogeneous = false;
    for (int l = 0; l < c->n_layers; l++) {
        LayerWeights *L = &m->layers[l];
        if (L->replace.data) {
            if (check_shape(&L->replace, c->dim, c->dim, what, "replacement map", l)) return -1;
            c->heterogeneous = true;
            continue;
        }
        if (L->n_heads != c->n_heads || L->n_kv_heads != c->n_kv_heads || L->hidden_dim != c->hidden_dim)
            c->heterogeneous = true;
        if (L->n_heads > 0) {
            if (L->n_kv_heads <= 0 || L->n_heads % L->n_kv_heads != 0)
                return err_set("%s: layer %d: %d query heads cannot be grouped over %d KV heads", what, l,
                               L->n_heads, L->n_kv_heads);
            int64_t q = (int64_t)L->n_heads * c->head_dim, kv = (int64_t)L->n_kv_heads * c->head_dim;
            if (check_shape(&L->attn_norm, 1, c->dim, what, "attention norm", l)) return -1;
            if (check_shape(&L->wq, q, c->dim, what, "q_proj", l)) return -1;
            if (check_shape(&L->wk, kv, c->dim, what, "k_proj", l)) return -1;
            if (check_shape(&L->wv, kv, c->dim, what, "v_proj", l)) return -1;
            if (check_shape(&L->wo, c->dim, q, what, "o_proj", l)) return -1;
            if (L->bq.data && check_shape(&L->bq, 1, q, what, "q_proj bias", l)) return -1;
            if (L->bk.data && check_shape(&L->bk, 1, kv, what, "k_proj bias", l)) return -1;
            if (L->bv.data && check_shape(&L->bv, 1, kv, what, "v_proj bias", l)) return -1;
            if (L->bo.data && check_shape(&L->bo, 1, c->dim, what, "o_proj bias", l)) return -1;
        }
        if (L->hidden_dim > 0) {
            if (check_shape(&L->ffn_norm, 1, c->dim, what, "MLP norm", l)) return -1;
            if (check_shape(&L->w_gate, L->hidden_dim, c->dim, what, "gate_proj", l)) return -1;
            if (check_shape(&L->w_up, L->hidden_dim, c->dim, what, "up_proj", l)) return -1;
            if (check_shape(&L->w_down, c->dim, L->hidden_dim, what, "down_proj", l)) return -1;
            if (L->b_down.data && check_shape(&L->b_down, 1, c->dim, what, "down_proj bias", l)) return -1;
        }
    }
    return 0;
}

int model_check_window(const Model *m, int len, const char *what, const char *name) {
    if (len > m->cfg.max_seq_len)
        return err_set("%s: %s %d exceeds the model's context of %d tokens", what, name, len, m->cfg.max_seq_len);
    return 0;
}

void model_uniform_layers(Model *m) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        m->layers[l].n_heads = m->cfg.n_heads;
        m->layers[l].n_kv_heads = m->cfg.n_kv_heads;
        m->layers[l].hidden_dim = m->cfg.hidden_dim;
    }
}

ParamCount model_param_count(const Model *m) {
    ParamCount p = {0};
    p.embedding = m->tok_embedding.rows * m->tok_embedding.cols;
    if (m->classifier.data != m->tok_embedding.data) p.classifier = m->classifier.rows * m->classifier.cols;
    p.other = m->final_norm.cols;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const LayerWeights *L = &m->layers[l];
        const Tensor *ts[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->bq, &L->bk, &L->bv, &L->wo,
                              &L->bo, &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down, &L->b_down, &L->replace};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            if (ts[i]->data) p.layers += ts[i]->rows * ts[i]->cols;
    }
    return p;
}
