/* export_gguf — a Model written as a deci GGUF v3 file (format notes in export_gguf.h).
 * Every key and tensor goes through one recorder that hands it to the GGUF writer and,
 * when asked, also to a JSON manifest, so the independent-reader test compares the file
 * with exactly what carve meant to write. */
#include "runtime/formats/export_gguf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/export_util.h"
#include "runtime/files/gguf.h"
#include "runtime/model/rope.h"
#include "runtime/model/tensors.h"
#include "runtime/tokenizer/tokenizer.h"

typedef struct {
    GGUFWriter *w;
    json_t *meta;     /* key -> value (NULL when no manifest is wanted) */
    json_t *tensors;  /* [{name, shape (ggml order), type, fnv1a64}] */
    void **bufs;      /* tensor buffers to free after writing */
    int n_bufs;
} Rec;

static void *rec_own(Rec *r, void *p) {
    r->bufs = xrealloc(r->bufs, (size_t)(r->n_bufs + 1) * sizeof *r->bufs);
    r->bufs[r->n_bufs++] = p;
    return p;
}

static void meta_set(Rec *r, const char *key, json_t *v) {
    if (r->meta) json_object_set_new(r->meta, key, v);
    else json_decref(v);
}

static void put_u32(Rec *r, const char *key, uint32_t v) {
    gguf_set_u32(r->w, key, v);
    meta_set(r, key, json_pack("{s:s,s:I}", "type", "u32", "value", (json_int_t)v));
}
static void put_f32(Rec *r, const char *key, float v) {
    gguf_set_f32(r->w, key, v);
    meta_set(r, key, json_pack("{s:s,s:f}", "type", "f32", "value", (double)v));
}
static void put_bool(Rec *r, const char *key, bool v) {
    gguf_set_bool(r->w, key, v);
    meta_set(r, key, json_pack("{s:s,s:b}", "type", "bool", "value", v));
}
static void put_str(Rec *r, const char *key, const char *v) {
    gguf_set_str(r->w, key, v);
    meta_set(r, key, json_pack("{s:s,s:s}", "type", "str", "value", v));
}
static void put_arr_i32(Rec *r, const char *key, const int32_t *v, uint64_t n) {
    gguf_set_arr_i32(r->w, key, v, n);
    if (!r->meta) return;
    json_t *a = json_array();
    for (uint64_t i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
    meta_set(r, key, json_pack("{s:s,s:o}", "type", "arr_i32", "value", a));
}
static void put_arr_f32(Rec *r, const char *key, const float *v, uint64_t n) {
    gguf_set_arr_f32(r->w, key, v, n);
    if (!r->meta) return;
    json_t *a = json_array();
    for (uint64_t i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    meta_set(r, key, json_pack("{s:s,s:o}", "type", "arr_f32", "value", a));
}
static int put_arr_str(Rec *r, const char *key, const char *const *v, const uint64_t *lens, uint64_t n) {
    gguf_set_arr_str(r->w, key, v, lens, n);
    if (!r->meta) return 0;
    json_t *a = json_array();
    for (uint64_t i = 0; i < n; i++) {
        json_t *s = json_stringn(v[i], (size_t)lens[i]);
        if (!s) { /* not UTF-8: the manifest records the bytes as hex instead */
            char *hex = xmalloc((size_t)lens[i] * 2 + 5);
            strcpy(hex, "hex:");
            for (uint64_t k = 0; k < lens[i]; k++) sprintf(hex + 4 + 2 * k, "%02x", (unsigned char)v[i][k]);
            s = json_string(hex);
            free(hex);
        }
        json_array_append_new(a, s);
    }
    meta_set(r, key, json_pack("{s:s,s:o}", "type", "arr_str", "value", a));
    return 0;
}

static uint32_t ggml_type_of(DType d) {
    return d == DT_F32 ? GGML_TYPE_F32 : d == DT_F16 ? GGML_TYPE_F16 : GGML_TYPE_BF16;
}

static void add_raw(Rec *r, const char *name, DType d, int64_t rows, int64_t cols, const void *data) {
    gguf_add_tensor(r->w, name, ggml_type_of(d), rows, cols, data);
    if (!r->tensors) return;
    char h[20];
    snprintf(h, sizeof h, "%016llx",
             (unsigned long long)fnv1a64(FNV64_INIT, data, (size_t)(rows * cols) * dtype_size(d)));
    json_t *shape = rows == 1 ? json_pack("[I]", (json_int_t)cols) : json_pack("[I,I]", (json_int_t)cols, (json_int_t)rows);
    json_array_append_new(r->tensors, json_pack("{s:s,s:o,s:i,s:s}", "name", name, "shape", shape, "type",
                                                (int)ggml_type_of(d), "fnv1a64", h));
}

/* Add tensor t as `name` in dtype d (vectors always F32), Q/K rows permuted from the
 * model's RoPE layout to llama.cpp's interleaved one when head_dim > 0. */
static void add_tensor(Rec *r, const Model *m, const char *name, const Tensor *t, DType d, int head_dim) {
    if (t->rows == 1) d = DT_F32;
    bool permute = head_dim > 0 && m->cfg.rope_layout != ROPE_INTERLEAVED;
    if (!permute && t->dtype == d) {
        add_raw(r, name, d, t->rows, t->cols, t->data);
        return;
    }
    size_t n = (size_t)(t->rows * t->cols);
    float *f = rec_own(r, xmalloc(n * sizeof *f));
    export_tensor_f32(t, permute ? head_dim : 0, m->cfg.rope_layout, ROPE_INTERLEAVED, f);
    if (d == DT_F32) {
        add_raw(r, name, d, t->rows, t->cols, f);
        return;
    }
    void *o = rec_own(r, xmalloc(n * dtype_size(d)));
    convert_from_f32(o, f, d, n);
    add_raw(r, name, d, t->rows, t->cols, o);
}

int export_gguf_check(const Model *m) {
    const ModelConfig *c = &m->cfg;
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *L = &m->layers[l];
        if (L->replace.data)
            return err_set("layer %d is a fitted linear map (replace), which GGUF's deci architecture cannot "
                           "express (its linear attention computes h + W*h); export it with --format hf",
                           l);
        if (L->n_heads > 0 && (L->n_kv_heads <= 0 || L->n_heads % L->n_kv_heads != 0))
            return err_set("layer %d: %d query heads do not form equal groups over %d KV heads, which GGUF "
                           "requires", l, L->n_heads, L->n_kv_heads);
    }
    return 0;
}

/* Sentencepiece vocabularies store spaces as U+2581 in GGUF; llama2.c's tokenizer.bin
 * uses ' ' and wraps its control tokens in newlines ("\n<s>\n"). */
static char *gguf_piece(const char *text, int type, size_t *len) {
    size_t n = strlen(text);
    if (type == 3) /* control token: trim the newlines llama2.c puts around <s> / </s> */
        while (n && (text[0] == '\n' || text[n - 1] == '\n')) {
            if (text[0] == '\n') text++, n--;
            else n--;
        }
    char *out = xmalloc(n * 3 + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ' && type != 3) {
            memcpy(o, "\xe2\x96\x81", 3);
            o += 3;
        } else *o++ = text[i];
    }
    *o = 0;
    *len = (size_t)(o - out);
    return out;
}

static int put_tokenizer(Rec *r, const Tokenizer *t, int vocab) {
    int n = tokenizer_vocab_size(t);
    if (n > vocab) return err_set("the tokenizer has %d tokens, more than the model's vocabulary %d", n, vocab);
    const char *model = tokenizer_gguf_model(t);
    if (!model)
        return err_set("the tokenizer (sentencepiece-style BPE with a merge list, no scores) cannot be embedded "
                       "in GGUF; export with --format hf");
    bool spm = !strcmp(model, "llama");
    if (!spm && !tokenizer_gguf_pre(t))
        return err_set("the byte-level tokenizer's pre-tokenizer has no GGUF tokenizer.ggml.pre name; "
                       "export with --format hf");
    char **text = xcalloc((size_t)n, sizeof *text);
    uint64_t *lens = xcalloc((size_t)n, sizeof *lens);
    float *scores = xcalloc((size_t)n, sizeof *scores);
    int32_t *types = xcalloc((size_t)n, sizeof *types);
    for (int i = 0; i < n; i++) {
        types[i] = tokenizer_token_type(t, i);
        scores[i] = tokenizer_token_score(t, i);
        const char *s = tokenizer_token_text(t, i);
        size_t len = 0;
        if (spm) text[i] = gguf_piece(s ? s : "", types[i], &len);
        else {
            text[i] = xstrdup(s ? s : "");
            len = strlen(text[i]);
        }
        lens[i] = len;
    }
    put_str(r, "tokenizer.ggml.model", model);
    if (!spm) put_str(r, "tokenizer.ggml.pre", tokenizer_gguf_pre(t));
    put_arr_str(r, "tokenizer.ggml.tokens", (const char *const *)text, lens, (uint64_t)n);
    if (spm) put_arr_f32(r, "tokenizer.ggml.scores", scores, (uint64_t)n);
    put_arr_i32(r, "tokenizer.ggml.token_type", types, (uint64_t)n);
    int nm = tokenizer_n_merges(t);
    if (!spm && nm > 0) {
        int32_t *left = xcalloc((size_t)nm, sizeof *left), *right = xcalloc((size_t)nm, sizeof *right);
        for (int i = 0; i < nm; i++) left[i] = right[i] = -1;
        tokenizer_merges(t, left, right);
        char **mg = xcalloc((size_t)nm, sizeof *mg);
        uint64_t *ml = xcalloc((size_t)nm, sizeof *ml);
        int k = 0; /* ranks of repeated pairs (never used) are left out; the order is what counts */
        for (int i = 0; i < nm; i++) { /* "left right" */
            const char *a = tokenizer_token_text(t, left[i]), *b = tokenizer_token_text(t, right[i]);
            if (!a || !b) continue;
            size_t la = strlen(a), lb = strlen(b);
            mg[k] = xmalloc(la + lb + 2);
            memcpy(mg[k], a, la);
            mg[k][la] = ' ';
            memcpy(mg[k] + la + 1, b, lb + 1);
            ml[k++] = la + lb + 1;
        }
        put_arr_str(r, "tokenizer.ggml.merges", (const char *const *)mg, ml, (uint64_t)k);
        for (int i = 0; i < k; i++) free(mg[i]);
        free(mg);
        free(ml);
        free(left);
        free(right);
    }
    if (tokenizer_bos(t) >= 0) put_u32(r, "tokenizer.ggml.bos_token_id", (uint32_t)tokenizer_bos(t));
    if (tokenizer_eos(t) >= 0) put_u32(r, "tokenizer.ggml.eos_token_id", (uint32_t)tokenizer_eos(t));
    if (spm) {
        for (int i = 0; i < n; i++)
            if (types[i] == 2) {
                put_u32(r, "tokenizer.ggml.unknown_token_id", (uint32_t)i);
                break;
            }
        put_bool(r, "tokenizer.ggml.add_bos_token", true);
    }
    for (int i = 0; i < n; i++) free(text[i]);
    free(text);
    free(lens);
    free(scores);
    free(types);
    return 0;
}

static void add_layer(Rec *r, const Model *m, int l, DType d) {
    const LayerWeights *L = &m->layers[l];
    int hd = m->cfg.head_dim;
    char n[96];
    for (int i = 0; i < N_LAYER_TENSORS; i++) { /* the layer tensor table's rows, in its order */
        const LayerTensor *t = &LAYER_TENSORS[i];
        if (!t->gguf || !layer_tensor_stored(L, t)) continue; /* (replace layers are refused before) */
        snprintf(n, sizeof n, "blk.%d.%s", l, t->gguf);
        add_tensor(r, m, n, layer_tensor_c(L, t), d, t->flags & LT_ROPE ? hd : 0);
    }
    if (L->hidden_dim == 0 && L->n_heads > 0) {
        /* one all-zero channel: llama.cpp keeps the attention residual, the MLP adds 0 */
        int64_t dim = m->cfg.dim;
        float *ones = rec_own(r, xmalloc((size_t)dim * sizeof *ones));
        for (int64_t i = 0; i < dim; i++) ones[i] = 1.0f;
        void *zeros = rec_own(r, xcalloc((size_t)dim, dtype_size(d))); /* 0.0 in every dtype */
        for (int i = 0; i < N_LAYER_TENSORS; i++) {
            const LayerTensor *t = &LAYER_TENSORS[i];
            if (t->part != LT_MLP || (t->flags & (LT_REFUSED | LT_BIAS))) continue;
            snprintf(n, sizeof n, "blk.%d.%s", l, t->gguf);
            int64_t rows = layer_dim(t->rows, dim, hd, 0, 0, 1), cols = layer_dim(t->cols, dim, hd, 0, 0, 1);
            if (t->flags & LT_NORM) add_raw(r, n, DT_F32, rows, cols, ones);
            else add_raw(r, n, d, rows, cols, zeros);
        }
    }
}

/* Written feed-forward length of layer l (1 for an attention-only layer, see the header). */
static int32_t ffn_length(const LayerWeights *L) { return L->hidden_dim > 0 ? L->hidden_dim : L->n_heads > 0 ? 1 : 0; }

int export_gguf(const Model *m, const char *path, const GGUFExportOptions *opt) {
    if (export_gguf_check(m) != 0) return err_prefix("%s", path);
    const ModelConfig *c = &m->cfg;
    DType d = opt->dtype;
    Rec r = {0};
    r.w = gguf_writer_new();
    if (opt->manifest) {
        r.meta = json_object();
        r.tensors = json_array();
    }
    int L = c->n_layers;
    int32_t *heads = xcalloc((size_t)L, sizeof *heads), *kv = xcalloc((size_t)L, sizeof *kv),
            *ff = xcalloc((size_t)L, sizeof *ff);
    for (int l = 0; l < L; l++) {
        heads[l] = m->layers[l].n_heads;
        kv[l] = m->layers[l].n_heads > 0 ? m->layers[l].n_kv_heads : 0;
        ff[l] = ffn_length(&m->layers[l]);
    }
    put_str(&r, "general.architecture", "deci");
    put_str(&r, "general.name", opt->name ? opt->name : "carve export");
    put_u32(&r, "general.file_type", d == DT_F32 ? 0 : d == DT_F16 ? 1 : 32);
    put_u32(&r, "deci.block_count", (uint32_t)L);
    put_u32(&r, "deci.context_length", (uint32_t)c->max_seq_len);
    put_u32(&r, "deci.embedding_length", (uint32_t)c->dim);
    put_u32(&r, "deci.vocab_size", (uint32_t)c->vocab_size);
    put_arr_i32(&r, "deci.attention.head_count", heads, (uint64_t)L);
    put_arr_i32(&r, "deci.attention.head_count_kv", kv, (uint64_t)L);
    put_arr_i32(&r, "deci.feed_forward_length", ff, (uint64_t)L);
    put_u32(&r, "deci.attention.key_length", (uint32_t)c->head_dim);
    put_u32(&r, "deci.attention.value_length", (uint32_t)c->head_dim);
    put_u32(&r, "deci.rope.dimension_count", (uint32_t)c->head_dim);
    put_f32(&r, "deci.rope.freq_base", c->rope_theta);
    put_f32(&r, "deci.attention.layer_norm_rms_epsilon", c->norm_eps);
    if (c->rope_scaling.type == ROPE_SCALING_LINEAR) {
        put_str(&r, "deci.rope.scaling.type", "linear");
        put_f32(&r, "deci.rope.scaling.factor", c->rope_scaling.factor);
    }
    free(heads);
    free(kv);
    free(ff);
    int rc = -1;
    const Tokenizer *tok = opt->tokenizer ? opt->tokenizer : m->tokenizer;
    if (tok && put_tokenizer(&r, tok, c->vocab_size) != 0) {
        err_prefix("%s", path);
        goto out;
    }
    if (c->rope_scaling.type == ROPE_SCALING_LLAMA3 || m->rope_freqs.data) {
        float *div = rec_own(&r, xmalloc((size_t)(c->head_dim / 2) * sizeof *div));
        rope_pair_divisors(m, div);
        add_raw(&r, "rope_freqs.weight", DT_F32, 1, c->head_dim / 2, div);
    }
    add_tensor(&r, m, "token_embd.weight", &m->tok_embedding, d, 0);
    for (int l = 0; l < L; l++) add_layer(&r, m, l, d);
    add_tensor(&r, m, "output_norm.weight", &m->final_norm, d, 0);
    if (!c->tied_embeddings && m->classifier.data != m->tok_embedding.data)
        add_tensor(&r, m, "output.weight", &m->classifier, d, 0);
    if (gguf_writer_write(r.w, path) != 0) goto out;
    if (opt->manifest) {
        json_t *man = json_pack("{s:O,s:O}", "metadata", r.meta, "tensors", r.tensors);
        char *s = json_dumps(man, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(man);
        int wrc = s ? write_file_atomic(opt->manifest, s, strlen(s)) : err_set("%s: cannot format the manifest", opt->manifest);
        free(s);
        if (wrc != 0) goto out;
    }
    rc = 0;
out:
    if (r.meta) json_decref(r.meta);
    if (r.tensors) json_decref(r.tensors);
    for (int i = 0; i < r.n_bufs; i++) free(r.bufs[i]);
    free(r.bufs);
    gguf_writer_free(r.w);
    return rc;
}
