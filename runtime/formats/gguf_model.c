/* gguf_model — loader of GGUF model files (general.architecture "llama" or "deci") with
 * F32/F16/BF16 tensors kept as views into the mapping, and the tokenizer from the GGUF
 * metadata. Deci (Nemotron-NAS) files give head counts and MLP widths per layer as arrays;
 * 0 heads = no attention sublayer, 0 channels = no MLP sublayer.
 *
 * RoPE: Hugging Face -> GGUF conversion permutes the rows of Q and K within each head
 * (row i of the first half goes to 2i, row i of the second half to 2i+1) so that
 * llama.cpp's interleaved ("normal") RoPE, which rotates pairs (2i, 2i+1) with frequency
 * index i, computes exactly HF's rotate-half on (i, i + head_dim/2). The same permutation
 * hits q and k, so the attention scores are unchanged; V and O are not permuted. Hence the
 * stored rows are evaluated as they are with cfg.rope_layout = ROPE_INTERLEAVED.
 * RoPE scaling: rope.scaling.type none/linear (+ rope.scaling.factor) and the rope_freqs.weight
 * table of per-pair divisors (what llama.cpp's converter writes for Llama-3.1 "llama3"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/files/gguf.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/model/rope.h"
#include "runtime/model/tensors.h"
#include "runtime/tokenizer/tokenizer.h"

static const char *ggml_type_name(uint32_t t) {
    static const char *names[] = {"F32",  "F16",  "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1",
                                  "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"};
    if (t < sizeof names / sizeof names[0]) return names[t];
    if (t == GGML_TYPE_BF16) return "BF16";
    return NULL;
}

/* Tensor `name` as a (rows, cols) view; absent -> data NULL (an error only when required). */
static int get(const GGUFFile *g, const char *name, bool required, Tensor *out) {
    memset(out, 0, sizeof *out);
    const GGUFTensor *t = gguf_find_tensor(g, name);
    if (!t) return required ? err_set("%s: missing tensor %s", g->file.path, name) : 0;
    DType dt;
    if (t->ggml_type == GGML_TYPE_F32) dt = DT_F32;
    else if (t->ggml_type == GGML_TYPE_F16) dt = DT_F16;
    else if (t->ggml_type == GGML_TYPE_BF16) dt = DT_BF16;
    else {
        const char *tn = ggml_type_name(t->ggml_type);
        if (tn) return err_set("%s: tensor %s has type %s (quantised GGUF is not supported; carve reads F32, F16 and BF16)",
                               g->file.path, name, tn);
        return err_set("%s: tensor %s has ggml type %u (carve reads F32, F16 and BF16)", g->file.path, name,
                       t->ggml_type);
    }
    for (uint32_t d = 2; d < t->n_dims; d++)
        if (t->dims[d] != 1) return err_set("%s: tensor %s has %u dimensions, expected 1 or 2", g->file.path, name, t->n_dims);
    /* ggml dims are reversed: dims[0] is the number of columns */
    *out = tensor_make(dt, t->n_dims >= 2 ? (int64_t)t->dims[1] : 1, (int64_t)t->dims[0], t->data);
    if (!t->data) return err_set("%s: tensor %s has no data", g->file.path, name);
    return 0;
}

static int get_int(const GGUFFile *g, const char *arch, const char *key, bool required, int64_t dflt, int64_t lo,
                   int64_t hi, int *out) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    int64_t v = dflt;
    if ((required || gguf_find(g, k)) && gguf_get_int(g, k, &v) != 0) return -1;
    if (v < lo || v > hi)
        return err_set("%s: key '%s' = %lld is out of range [%lld, %lld]", g->file.path, k, (long long)v, (long long)lo,
                       (long long)hi);
    *out = (int)v;
    return 0;
}

static int get_float(const GGUFFile *g, const char *arch, const char *key, double dflt, float *out) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    double v = dflt;
    if (gguf_find(g, k) && gguf_get_float(g, k, &v) != 0) return -1;
    if (!(v > 0) || v > 1e12) return err_set("%s: key '%s' = %g is out of range", g->file.path, k, v);
    *out = (float)v;
    return 0;
}

/* A per-layer count: an integer, or (deci) an array with one entry per layer. */
static int per_layer(const GGUFFile *g, const char *arch, const char *key, int n_layers, bool required, int dflt,
                     int *out) {
    char k[160];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    const GGUFKV *kv = gguf_find(g, k);
    if (!kv) {
        if (required) return err_set("%s: missing metadata key '%s'", g->file.path, k);
        for (int l = 0; l < n_layers; l++) out[l] = dflt;
        return 0;
    }
    if (kv->type == GGUF_TYPE_ARRAY) {
        if (kv->arr_len != (uint64_t)n_layers)
            return err_set("%s: key '%s' has %llu entries, block_count is %d", g->file.path, k,
                           (unsigned long long)kv->arr_len, n_layers);
        if (kv->arr_type > GGUF_TYPE_INT32 && kv->arr_type != GGUF_TYPE_UINT64 && kv->arr_type != GGUF_TYPE_INT64)
            return err_set("%s: key '%s' is not an integer array", g->file.path, k);
        for (int l = 0; l < n_layers; l++) {
            int64_t v = gguf_arr_int(kv, (uint64_t)l);
            if (v < 0 || v > (1 << 20))
                return err_set("%s: key '%s'[%d] = %lld is out of range", g->file.path, k, l, (long long)v);
            out[l] = (int)v;
        }
        return 0;
    }
    int64_t v;
    if (gguf_get_int(g, k, &v) != 0) return -1;
    if (v < 0 || v > (1 << 20)) return err_set("%s: key '%s' = %lld is out of range", g->file.path, k, (long long)v);
    for (int l = 0; l < n_layers; l++) out[l] = (int)v;
    return 0;
}

/* RoPE scaling as llama.cpp reads it: <arch>.rope.scaling.type (absent = "linear") with
 * <arch>.rope.scaling.factor (or the older <arch>.rope.scale_linear; absent = 1), and the
 * optional F32 tensor rope_freqs.weight of head_dim/2 per-pair divisors. */
static int read_rope_scaling(const GGUFFile *g, const char *arch, Model *m) {
    const char *path = g->file.path;
    RopeScaling *rs = &m->cfg.rope_scaling;
    memset(rs, 0, sizeof *rs);
    char k[160], type[32] = "linear";
    snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
    const GGUFKV *kv = gguf_find(g, k);
    if (kv) {
        if (kv->type != GGUF_TYPE_STRING) return err_set("%s: key '%s' is not a string", path, k);
        snprintf(type, sizeof type, "%.*s", (int)(kv->v.s.len < 31 ? kv->v.s.len : 31), kv->v.s.ptr);
        if (strcmp(type, "none") && strcmp(type, "linear"))
            return err_set("%s: RoPE scaling type '%s' ('%s') is not supported (carve implements none and linear, "
                           "and the rope_freqs.weight table)", path, type, k);
    }
    double factor = 1.0;
    snprintf(k, sizeof k, "%s.rope.scaling.factor", arch);
    if (!gguf_find(g, k)) snprintf(k, sizeof k, "%s.rope.scale_linear", arch);
    bool has_factor = gguf_find(g, k) != NULL;
    if (has_factor && gguf_get_float(g, k, &factor) != 0) return -1;
    if (has_factor && (!(factor > 0) || factor > 1e6))
        return err_set("%s: key '%s' = %g must be a positive RoPE scaling factor", path, k, factor);
    if (!strcmp(type, "none") && factor != 1.0)
        return err_set("%s: RoPE scaling type 'none' contradicts '%s' = %g", path, k, factor);
    if (!strcmp(type, "linear") && has_factor) {
        rs->type = ROPE_SCALING_LINEAR;
        rs->factor = (float)factor;
    }
    snprintf(k, sizeof k, "%s.rope.scaling.attn_factor", arch);
    double af = 1.0;
    if (gguf_find(g, k) && (gguf_get_float(g, k, &af) != 0 || af != 1.0))
        return err_set("%s: key '%s' (RoPE attention scaling) is not supported", path, k);
    const GGUFTensor *t = gguf_find_tensor(g, "rope_freqs.weight");
    if (!t) return 0;
    int h2 = m->cfg.head_dim / 2;
    if (t->ggml_type != GGML_TYPE_F32)
        return err_set("%s: tensor rope_freqs.weight has ggml type %u, expected F32 (0)", path, t->ggml_type);
    if (get(g, "rope_freqs.weight", true, &m->rope_freqs) != 0) return -1;
    if (m->rope_freqs.rows != 1 || m->rope_freqs.cols != h2)
        return err_set("%s: tensor rope_freqs.weight has shape [%lld, %lld], expected %d values (head_dim/2)", path,
                       (long long)m->rope_freqs.rows, (long long)m->rope_freqs.cols, h2);
    const float *f = m->rope_freqs.data;
    for (int i = 0; i < h2; i++)
        if (!isfinite(f[i]) || !(f[i] > 0))
            return err_set("%s: tensor rope_freqs.weight value %d is %g, expected a positive number", path, i,
                           (double)f[i]);
    return rope_scaling_check(rs, path);
}

/* Layer l's tensors by the layer tensor table (runtime/model/tensors.h); biases are optional. */
static int load_layer(const GGUFFile *g, LayerWeights *L, int l) {
    char n[96];
    for (int i = 0; i < N_LAYER_TENSORS; i++) {
        const LayerTensor *d = &LAYER_TENSORS[i];
        if (!d->gguf) continue; /* (replace layers have no GGUF form) */
        snprintf(n, sizeof n, "blk.%d.%s", l, d->gguf);
        if (d->flags & LT_REFUSED) {
            Tensor t = {0};
            if (!gguf_find_tensor(g, n)) continue;
            if ((d->flags & LT_ZERO) && get(g, n, false, &t) == 0 && t.data && tensor_all_zero(&t)) continue;
            return err_set("%s: tensor %s is not supported (carve models have q/k/v and o/down biases only)%s",
                           g->file.path, n, d->flags & LT_ZERO ? "; an all-zero one is accepted" : "");
        }
        bool on = d->part == LT_ATTN ? L->n_heads > 0 : d->part == LT_MLP && L->hidden_dim > 0;
        if (on && get(g, n, !(d->flags & LT_BIAS), layer_tensor(L, d)) != 0) return -1;
    }
    return 0;
}

static int read_config(const GGUFFile *g, const char *arch, Model *m, int *heads, int *kvh, int *ff) {
    ModelConfig *c = &m->cfg;
    const char *path = g->file.path;
    int L = c->n_layers;
    if (get_int(g, arch, "embedding_length", true, 0, 1, 1 << 16, &c->dim)) return -1;
    if (per_layer(g, arch, "attention.head_count", L, true, 0, heads) ||
        per_layer(g, arch, "attention.head_count_kv", L, false, -1, kvh) ||
        per_layer(g, arch, "feed_forward_length", L, true, 0, ff))
        return -1;
    int base = -1; /* base (dense) counts: the layer with the most heads */
    for (int l = 0; l < L; l++) {
        if (kvh[l] < 0) kvh[l] = heads[l]; /* head_count_kv absent: MHA */
        if (heads[l] > 0 && kvh[l] == 0)
            return err_set("%s: layer %d has %d heads and no KV heads (linear attention is not supported)", path, l,
                           heads[l]);
        if (heads[l] > 0 && heads[l] % kvh[l] != 0)
            return err_set("%s: layer %d: %d heads is not a multiple of %d KV heads", path, l, heads[l], kvh[l]);
        if (heads[l] > 0 && (base < 0 || heads[l] > heads[base])) base = l;
        if (ff[l] > c->hidden_dim) c->hidden_dim = ff[l];
    }
    if (base < 0) return err_set("%s: no layer has attention heads", path);
    c->n_heads = heads[base];
    c->n_kv_heads = kvh[base];
    int rope_dims;
    if (get_int(g, arch, "context_length", false, 2048, 1, 1 << 30, &c->max_seq_len) ||
        get_int(g, arch, "attention.key_length", false, c->dim / c->n_heads, 1, 1 << 16, &c->head_dim) ||
        get_int(g, arch, "rope.dimension_count", false, c->head_dim, 1, 1 << 16, &rope_dims) ||
        get_float(g, arch, "rope.freq_base", 10000.0, &c->rope_theta) ||
        get_float(g, arch, "attention.layer_norm_rms_epsilon", 1e-5, &c->norm_eps))
        return -1;
    if (rope_dims != c->head_dim)
        return err_set("%s: rope.dimension_count %d differs from head_dim %d (partial RoPE is not supported)", path,
                       rope_dims, c->head_dim);
    return read_rope_scaling(g, arch, m);
}

int model_open_gguf(const char *path, Model *m) {
    GGUFFile g;
    if (gguf_open(&g, path) != 0) return -1;
    char *arch = NULL;
    int *heads = NULL, *kvh = NULL, *ff = NULL, rc = -1;
    if (gguf_get_string(&g, "general.architecture", &arch) != 0) goto out;
    if (strcmp(arch, "llama") && strcmp(arch, "deci")) {
        err_set("%s: unsupported GGUF architecture '%.40s' (carve reads llama and deci)", path, arch);
        goto out;
    }
    if (g.n_tensors == 0) {
        err_set("%s: GGUF file holds no tensors (a vocabulary-only file?)", path);
        goto out;
    }
    ModelConfig *c = &m->cfg;
    snprintf(c->arch, sizeof c->arch, "%s", arch);
    if (get_int(&g, arch, "block_count", true, 0, 1, 4096, &c->n_layers)) goto out;
    heads = xcalloc((size_t)c->n_layers, sizeof *heads);
    kvh = xcalloc((size_t)c->n_layers, sizeof *kvh);
    ff = xcalloc((size_t)c->n_layers, sizeof *ff);
    if (read_config(&g, arch, m, heads, kvh, ff) != 0) goto out;
    c->rope_layout = ROPE_INTERLEAVED;
    free(m->layers);
    m->layers = xcalloc((size_t)c->n_layers, sizeof *m->layers);
    for (int l = 0; l < c->n_layers; l++) {
        m->layers[l].n_heads = heads[l];
        m->layers[l].n_kv_heads = heads[l] ? kvh[l] : 0;
        m->layers[l].hidden_dim = ff[l];
        if (load_layer(&g, &m->layers[l], l) != 0) goto out;
        if (m->layers[l].bq.data || m->layers[l].bk.data || m->layers[l].bv.data) c->qkv_bias = true;
    }
    if (get(&g, "token_embd.weight", true, &m->tok_embedding) || get(&g, "output_norm.weight", true, &m->final_norm) ||
        get(&g, "output.weight", false, &m->classifier))
        goto out;
    c->vocab_size = (int)m->tok_embedding.rows;
    if (get_int(&g, arch, "vocab_size", false, c->vocab_size, 1, 1 << 24, &c->vocab_size)) goto out;
    c->tied_embeddings = m->classifier.data == NULL;
    if (c->tied_embeddings) m->classifier = m->tok_embedding;
    if (model_validate(m, path) != 0) goto out;
    if (gguf_find(&g, "tokenizer.ggml.model")) {
        if (tokenizer_from_gguf(&g, &m->tokenizer) != 0) goto out;
        if (tokenizer_vocab_size(m->tokenizer) > c->vocab_size) {
            err_set("%s: tokenizer has %d tokens, more than the model's vocabulary of %d", path,
                    tokenizer_vocab_size(m->tokenizer), c->vocab_size);
            goto out;
        }
    }
    model_add_file(m, &g.file); /* the mapping now belongs to the model; gguf_close keeps it */
    rc = 0;
out:
    free(arch);
    free(heads);
    free(kvh);
    free(ff);
    gguf_close(&g);
    return rc;
}
