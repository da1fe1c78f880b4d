/* Tests for runtime/gguf_model: small llama and deci GGUF files written with the GGUF
 * writer load with the right config, per-layer counts, reversed dims, tied/untied
 * classifiers, stored dtypes, interleaved RoPE; broken metadata gives one-line errors. */
#include <math.h>

#include "runtime/files/gguf.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/model/rope.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/base/pcg32.h"
#include "tests/testutil.h"

static char *dir;
static void setup(void) { dir = test_tmpdir("gguf_model"); }
static void teardown(void) { free(dir); }

/* Buffers handed to the writer must outlive gguf_writer_write: collect them here. */
static void *bufs[256];
static int n_bufs;
static void free_bufs(void) {
    for (int i = 0; i < n_bufs; i++) free(bufs[i]);
    n_bufs = 0;
}

/* Add a (rows, cols) tensor of random values (norms around 1) in ggml type t. */
static void add_tensor(GGUFWriter *w, const char *name, uint32_t t, int64_t rows, int64_t cols, uint64_t seed) {
    int64_t n = rows * cols;
    float *x = xmalloc((size_t)n * sizeof *x);
    Pcg32 r;
    pcg32_seed(&r, seed, (uint64_t)n_bufs);
    bool norm = strstr(name, "norm") != NULL;
    for (int64_t i = 0; i < n; i++) x[i] = (float)((norm ? 1.0 : 0.0) + 0.1 * pcg32_normal(&r));
    void *data = x;
    if (t != GGML_TYPE_F32) {
        data = xmalloc((size_t)n * 2);
        convert_from_f32(data, x, t == GGML_TYPE_F16 ? DT_F16 : DT_BF16, (size_t)n);
        free(x);
    }
    bufs[n_bufs++] = data;
    gguf_add_tensor(w, name, t, rows, cols, data);
}

static void add_layer(GGUFWriter *w, int l, int D, int hd, int q, int kv, int f, uint32_t t) {
    char n[64];
#define T(fmt, rows, cols, type)                         \
    do {                                                 \
        snprintf(n, sizeof n, "blk.%d." fmt, l);         \
        add_tensor(w, n, (type), (rows), (cols), 11);    \
    } while (0)
    if (q > 0) {
        T("attn_norm.weight", 1, D, GGML_TYPE_F32);
        T("attn_q.weight", q * hd, D, t);
        T("attn_k.weight", kv * hd, D, t);
        T("attn_v.weight", kv * hd, D, t);
        T("attn_output.weight", D, q * hd, t);
    }
    if (f > 0) {
        T("ffn_norm.weight", 1, D, GGML_TYPE_F32);
        T("ffn_gate.weight", f, D, t);
        T("ffn_up.weight", f, D, t);
        T("ffn_down.weight", D, f, t);
    }
#undef T
}

/* A writer with general.architecture, {arch}.block_count and {arch}.embedding_length set. */
static GGUFWriter *header(const char *arch, uint32_t layers, uint32_t dim) {
    GGUFWriter *w = gguf_writer_new();
    char k[64];
    gguf_set_str(w, "general.architecture", arch);
    snprintf(k, sizeof k, "%s.block_count", arch);
    gguf_set_u32(w, k, layers);
    snprintf(k, sizeof k, "%s.embedding_length", arch);
    gguf_set_u32(w, k, dim);
    return w;
}

/* One-layer llama metadata with 4 heads and 48 MLP channels (tensors added by the caller). */
static GGUFWriter *one_layer_header(void) {
    GGUFWriter *w = header("llama", 1, 32);
    gguf_set_u32(w, "llama.attention.head_count", 4);
    gguf_set_u32(w, "llama.feed_forward_length", 48);
    return w;
}

/* A llama GGUF: dim 32, 3 layers, 4 heads, 2 kv heads, ffn 48, vocab 40. */
static GGUFWriter *llama_writer_ff(uint32_t t, bool tied, int ff_meta) {
    GGUFWriter *w = header("llama", 3, 32);
    gguf_set_u32(w, "llama.attention.head_count", 4);
    gguf_set_u32(w, "llama.attention.head_count_kv", 2);
    gguf_set_u32(w, "llama.feed_forward_length", (uint32_t)ff_meta);
    gguf_set_u32(w, "llama.context_length", 1024);
    gguf_set_u32(w, "llama.rope.dimension_count", 8);
    gguf_set_f32(w, "llama.rope.freq_base", 500000.0f);
    gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-6f);
    add_tensor(w, "token_embd.weight", t, 40, 32, 1);
    for (int l = 0; l < 3; l++) add_layer(w, l, 32, 8, 4, 2, 48, t);
    add_tensor(w, "output_norm.weight", GGML_TYPE_F32, 1, 32, 2);
    if (!tied) add_tensor(w, "output.weight", t, 40, 32, 3);
    return w;
}

static GGUFWriter *llama_writer(uint32_t t, bool tied) { return llama_writer_ff(t, tied, 48); }

static char *write_gguf(GGUFWriter *w, const char *name) {
    char *p = path_join(dir, name);
    ck_assert_msg(gguf_writer_write(w, p) == 0, "%s", err_get());
    gguf_writer_free(w);
    free_bufs();
    return p;
}

static void open_fails(const char *path, const char *needle) {
    Model *m = NULL;
    ck_assert_int_eq(model_open(path, &m), -1);
    ck_assert_msg(strstr(err_get(), needle) != NULL, "expected '%s' in: %s", needle, err_get());
    ck_assert_msg(strstr(err_get(), path) != NULL, "error does not name the file: %s", err_get());
    ck_assert_msg(strchr(err_get(), '\n') == NULL, "multi-line error: %s", err_get());
}

START_TEST(test_llama_untied) {
    GGUFWriter *w = llama_writer(GGML_TYPE_BF16, false);
    char *p = write_gguf(w, "llama.gguf");
    Model *m = NULL;
    ck_assert_msg(model_open(p, &m) == 0, "%s", err_get());
    const ModelConfig *c = &m->cfg;
    ck_assert_str_eq(m->format, "gguf");
    ck_assert_str_eq(c->arch, "llama");
    ck_assert(c->dim == 32 && c->n_layers == 3 && c->n_heads == 4 && c->n_kv_heads == 2 && c->head_dim == 8);
    ck_assert(c->hidden_dim == 48 && c->vocab_size == 40 && c->max_seq_len == 1024);
    ck_assert(fabsf(c->rope_theta - 5e5f) < 1 && fabsf(c->norm_eps - 1e-6f) < 1e-10f);
    ck_assert_int_eq(c->rope_layout, ROPE_INTERLEAVED);
    ck_assert(!c->tied_embeddings && !c->heterogeneous && !c->qkv_bias);
    /* ggml dims reversed: ffn_down stored ne = [48, 32] is (32 rows, 48 cols) */
    ck_assert(m->layers[1].w_down.rows == 32 && m->layers[1].w_down.cols == 48);
    ck_assert(m->layers[1].wk.rows == 16 && m->layers[1].wk.cols == 32);
    ck_assert_int_eq(m->layers[2].wq.dtype, DT_BF16);
    ck_assert_int_eq(m->layers[2].attn_norm.dtype, DT_F32);
    ck_assert(m->classifier.data != m->tok_embedding.data && m->classifier.rows == 40);
    /* views into the mapping, nothing copied */
    ck_assert_int_eq(m->n_files, 1);
    ck_assert_int_eq(m->n_owned, 0);
    const uint8_t *lo = m->files[0].data, *hi = lo + m->files[0].size;
    ck_assert((const uint8_t *)m->layers[0].wv.data >= lo && (const uint8_t *)m->layers[0].wv.data < hi);
    /* norm rows read back near 1 */
    float row[32];
    tensor_row_f32(&m->final_norm, 0, row);
    for (int i = 0; i < 32; i++) ck_assert(fabsf(row[i] - 1) < 0.6f);
    model_free(m);
    free(p);
}
END_TEST

START_TEST(test_llama_tied_f16) {
    char *p = write_gguf(llama_writer(GGML_TYPE_F16, true), "tied.gguf");
    Model *m = NULL;
    ck_assert_msg(model_open(p, &m) == 0, "%s", err_get());
    ck_assert(m->cfg.tied_embeddings);
    ck_assert_ptr_eq(m->classifier.data, m->tok_embedding.data);
    ck_assert_int_eq(m->layers[0].w_up.dtype, DT_F16);
    ParamCount pc = model_param_count(m);
    ck_assert_int_eq(pc.classifier, 0);
    ck_assert_int_eq(pc.layers, 3 * (2 * 32 + 32 * 32 * 2 + 16 * 32 * 2 + 3 * 48 * 32));
    model_free(m);
    free(p);
}
END_TEST

START_TEST(test_deci_heterogeneous) {
    GGUFWriter *w = header("deci", 4, 32);
    const int32_t heads[4] = {4, 0, 2, 4}, kv[4] = {2, 0, 1, 4}, ff[4] = {48, 64, 0, 32};
    gguf_set_arr_i32(w, "deci.attention.head_count", heads, 4);
    gguf_set_arr_i32(w, "deci.attention.head_count_kv", kv, 4);
    gguf_set_arr_i32(w, "deci.feed_forward_length", ff, 4);
    gguf_set_u32(w, "deci.context_length", 2048);
    gguf_set_u32(w, "deci.attention.key_length", 8);
    add_tensor(w, "token_embd.weight", GGML_TYPE_F32, 50, 32, 1);
    for (int l = 0; l < 4; l++) add_layer(w, l, 32, 8, heads[l], kv[l], ff[l], GGML_TYPE_F32);
    add_tensor(w, "output_norm.weight", GGML_TYPE_F32, 1, 32, 2);
    char *p = write_gguf(w, "deci.gguf");
    Model *m = NULL;
    ck_assert_msg(model_open(p, &m) == 0, "%s", err_get());
    const ModelConfig *c = &m->cfg;
    ck_assert_str_eq(c->arch, "deci");
    ck_assert(c->heterogeneous && c->tied_embeddings);
    ck_assert(c->n_heads == 4 && c->n_kv_heads == 2 && c->hidden_dim == 64 && c->head_dim == 8);
    for (int l = 0; l < 4; l++) {
        ck_assert_int_eq(m->layers[l].n_heads, heads[l]);
        ck_assert_int_eq(m->layers[l].n_kv_heads, kv[l]);
        ck_assert_int_eq(m->layers[l].hidden_dim, ff[l]);
    }
    ck_assert(!m->layers[1].wq.data && !m->layers[1].attn_norm.data && m->layers[1].w_gate.rows == 64);
    ck_assert(!m->layers[2].w_up.data && !m->layers[2].ffn_norm.data && m->layers[2].wq.rows == 16);
    ck_assert_int_eq(m->layers[3].wk.rows, 32);
    model_free(m);
    free(p);
}
END_TEST

START_TEST(test_errors) {
    char *p;
    /* quantised tensor */
    GGUFWriter *w = llama_writer(GGML_TYPE_F32, true);
    static uint8_t q8[34 * 4];
    gguf_add_tensor(w, "blk.9.attn_q.weight", 8 /* Q8_0 */, 1, 32 * 4 / 2, q8); /* 136 bytes: 4 blocks of 34 */
    p = write_gguf(w, "q8.gguf");
    Model *m = NULL;
    ck_assert_msg(model_open(p, &m) == 0, "unused quantised tensor must not matter: %s", err_get());
    model_free(m);
    free(p);
    /* unsupported architecture */
    w = gguf_writer_new();
    gguf_set_str(w, "general.architecture", "gpt2");
    p = write_gguf(w, "gpt2.gguf");
    open_fails(p, "unsupported GGUF architecture 'gpt2'");
    free(p);
    /* missing key */
    w = header("llama", 2, 32);
    add_tensor(w, "token_embd.weight", GGML_TYPE_F32, 40, 32, 1);
    p = write_gguf(w, "nokey.gguf");
    open_fails(p, "missing metadata key 'llama.attention.head_count'");
    free(p);
    /* per-layer array of the wrong length */
    w = header("deci", 3, 32);
    add_tensor(w, "token_embd.weight", GGML_TYPE_F32, 40, 32, 1);
    const int32_t h2[2] = {4, 4};
    gguf_set_arr_i32(w, "deci.attention.head_count", h2, 2);
    p = write_gguf(w, "arr.gguf");
    open_fails(p, "key 'deci.attention.head_count' has 2 entries, block_count is 3");
    free(p);
    /* missing tensor */
    w = one_layer_header();
    add_tensor(w, "token_embd.weight", GGML_TYPE_F32, 40, 32, 1);
    add_layer(w, 0, 32, 8, 4, 4, 0, GGML_TYPE_F32);
    p = write_gguf(w, "notensor.gguf");
    open_fails(p, "missing tensor blk.0.ffn_norm.weight");
    free(p);
    /* a shape that disagrees with the metadata */
    p = write_gguf(llama_writer_ff(GGML_TYPE_F32, true, 40), "shape.gguf");
    open_fails(p, "gate_proj of layer 0 has shape [48, 32], config says [40, 32]");
    free(p);
    /* weights carve cannot evaluate are refused, not ignored */
    w = llama_writer(GGML_TYPE_F32, true);
    add_tensor(w, "blk.1.ffn_up.bias", GGML_TYPE_F32, 1, 32, 5);
    p = write_gguf(w, "upbias.gguf");
    open_fails(p, "tensor blk.1.ffn_up.bias is not supported");
    free(p);
}
END_TEST

/* RoPE scaling: rope_freqs.weight divides each pair's inverse frequency (llama.cpp's freq
 * factors), rope.scaling.type "linear" + factor (or the older rope.scale_linear) divides all of
 * them; anything else is refused with a one-line message. head_dim 8: 4 pairs, theta 500000. */
/* Write w as `name`: the model_open error must contain needle. */
static void gguf_fails(GGUFWriter *w, const char *name, const char *needle) {
    char *p = write_gguf(w, name);
    open_fails(p, needle);
    free(p);
}

/* Write w as `name` and open it (must succeed). */
static Model *gguf_opens(GGUFWriter *w, const char *name) {
    char *p = write_gguf(w, name);
    Model *m = NULL;
    ck_assert_msg(model_open(p, &m) == 0, "%s", err_get());
    free(p);
    return m;
}

/* A 3-layer llama writer (head_dim 8) with rope.scaling.type `type` (NULL: absent) and, when
 * factor_key is set, that key = factor. */
static GGUFWriter *scaled_writer(const char *type, const char *factor_key, float factor) {
    GGUFWriter *w = llama_writer(GGML_TYPE_F32, true);
    if (type) gguf_set_str(w, "llama.rope.scaling.type", type);
    if (factor_key) gguf_set_f32(w, factor_key, factor);
    return w;
}

/* RoPE scaling: rope_freqs.weight divides each pair's inverse frequency (llama.cpp's freq
 * factors), rope.scaling.type "linear" + factor (or the older rope.scale_linear) divides all of
 * them; anything else is refused with a one-line message. head_dim 8: 4 pairs, theta 500000. */
START_TEST(test_rope_scaling) {
    static const float ff[4] = {1.0f, 2.0f, 4.0f, 32.0f}, bad_val[4] = {1.0f, 0.0f, 1.0f, 1.0f};
    static const uint16_t ff16[4] = {0x3c00, 0x3c00, 0x3c00, 0x3c00};
    double inv[4];
    GGUFWriter *w = scaled_writer(NULL, NULL, 0);
    gguf_add_tensor(w, "rope_freqs.weight", GGML_TYPE_F32, 1, 4, ff);
    Model *m = gguf_opens(w, "ropefreqs.gguf");
    ck_assert(m->rope_freqs.data && m->rope_freqs.cols == 4 && m->cfg.rope_scaling.type == ROPE_SCALING_NONE);
    rope_inv_freqs(m, inv);
    for (int i = 0; i < 4; i++) ck_assert(fabs(inv[i] - pow(500000.0, -2.0 * i / 8) / ff[i]) < 1e-15);
    model_free(m);
    m = gguf_opens(scaled_writer("linear", "llama.rope.scaling.factor", 4.0f), "ropelinear.gguf");
    ck_assert(m->cfg.rope_scaling.type == ROPE_SCALING_LINEAR && m->cfg.rope_scaling.factor == 4.0f);
    rope_inv_freqs(m, inv);
    for (int i = 0; i < 4; i++) ck_assert(fabs(inv[i] - pow(500000.0, -2.0 * i / 8) / 4) < 1e-15);
    model_free(m);
    /* the older key, type absent = linear (llama.cpp's default) */
    m = gguf_opens(scaled_writer(NULL, "llama.rope.scale_linear", 2.0f), "ropelegacy.gguf");
    ck_assert(m->cfg.rope_scaling.type == ROPE_SCALING_LINEAR && m->cfg.rope_scaling.factor == 2.0f);
    model_free(m);
    m = gguf_opens(scaled_writer("none", NULL, 0), "ropenone.gguf");
    ck_assert(m->cfg.rope_scaling.type == ROPE_SCALING_NONE && !rope_is_scaled(m));
    model_free(m);
    /* refused */
    w = scaled_writer(NULL, NULL, 0);
    gguf_add_tensor(w, "rope_freqs.weight", GGML_TYPE_F32, 1, 3, ff);
    gguf_fails(w, "ropelen.gguf", "rope_freqs.weight has shape [1, 3], expected 4 values (head_dim/2)");
    w = scaled_writer(NULL, NULL, 0);
    gguf_add_tensor(w, "rope_freqs.weight", GGML_TYPE_F16, 1, 4, ff16);
    gguf_fails(w, "ropef16.gguf", "rope_freqs.weight has ggml type 1, expected F32");
    w = scaled_writer(NULL, NULL, 0);
    gguf_add_tensor(w, "rope_freqs.weight", GGML_TYPE_F32, 1, 4, bad_val);
    gguf_fails(w, "ropezero.gguf", "rope_freqs.weight value 1 is 0, expected a positive number");
    gguf_fails(scaled_writer("yarn", "llama.rope.scaling.factor", 4.0f), "ropeyarn.gguf", "RoPE scaling type 'yarn'");
    gguf_fails(scaled_writer("linear", "llama.rope.scaling.factor", -2.0f), "ropeneg.gguf",
               "'llama.rope.scaling.factor' = -2 must be a positive RoPE scaling factor");
    gguf_fails(scaled_writer("none", "llama.rope.scaling.factor", 2.0f), "ropecontra.gguf", "type 'none' contradicts");
    w = scaled_writer(NULL, NULL, 0);
    gguf_set_u32(w, "llama.rope.scaling.type", 1);
    gguf_fails(w, "ropetype.gguf", "'llama.rope.scaling.type' is not a string");
}
END_TEST

START_TEST(test_quantised_used) {
    GGUFWriter *w = one_layer_header();
    static uint8_t q8[40 * 34];
    gguf_add_tensor(w, "token_embd.weight", 8 /* Q8_0 */, 40, 34 / 2, q8); /* bytes: 40*34 = 40 rows x 1 block */
    add_layer(w, 0, 32, 8, 4, 4, 48, GGML_TYPE_F32);
    add_tensor(w, "output_norm.weight", GGML_TYPE_F32, 1, 32, 2);
    char *p = write_gguf(w, "q8used.gguf");
    Model *m = NULL;
    ck_assert_int_eq(model_open(p, &m), -1);
    ck_assert_msg(strstr(err_get(), "tensor token_embd.weight has type Q8_0 (quantised GGUF is not supported"),
                  "%s", err_get());
    ck_assert(strchr(err_get(), '\n') == NULL);
    free(p);
}
END_TEST

/* Copy every tokenizer.* key of a GGUF vocabulary file into w. */
static void copy_tokenizer_keys(GGUFWriter *w, const GGUFFile *v) {
    for (uint64_t i = 0; i < v->n_kv; i++) {
        const GGUFKV *kv = &v->kvs[i];
        if (strncmp(kv->key, "tokenizer.", 10) != 0) continue;
        if (kv->type == GGUF_TYPE_STRING) {
            char *str = xmalloc(kv->v.s.len + 1);
            memcpy(str, kv->v.s.ptr, kv->v.s.len);
            str[kv->v.s.len] = 0;
            gguf_set_str(w, kv->key, str);
            free(str);
        } else if (kv->type == GGUF_TYPE_UINT32) gguf_set_u32(w, kv->key, (uint32_t)kv->v.u);
        else if (kv->type == GGUF_TYPE_INT32) gguf_set_i32(w, kv->key, (int32_t)kv->v.i);
        else if (kv->type == GGUF_TYPE_BOOL) gguf_set_bool(w, kv->key, kv->v.u != 0);
        else if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING) {
            const char **strs = xmalloc(kv->arr_len * sizeof *strs);
            uint64_t *lens = xmalloc(kv->arr_len * sizeof *lens);
            for (uint64_t j = 0; j < kv->arr_len; j++) {
                strs[j] = kv->strs[j].ptr;
                lens[j] = kv->strs[j].len;
            }
            gguf_set_arr_str(w, kv->key, strs, lens, kv->arr_len);
            free(strs);
            free(lens);
        } else if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_FLOAT32) {
            float *f = xmalloc(kv->arr_len * sizeof *f);
            for (uint64_t j = 0; j < kv->arr_len; j++) f[j] = (float)gguf_arr_float(kv, j);
            gguf_set_arr_f32(w, kv->key, f, kv->arr_len);
            free(f);
        } else if (kv->type == GGUF_TYPE_ARRAY) {
            int32_t *a = xmalloc(kv->arr_len * sizeof *a);
            for (uint64_t j = 0; j < kv->arr_len; j++) a[j] = (int32_t)gguf_arr_int(kv, j);
            gguf_set_arr_i32(w, kv->key, a, kv->arr_len);
            free(a);
        }
    }
}

/* A model GGUF carrying the llama-spm vocabulary: its tokenizer comes with the model. */
START_TEST(test_tokenizer_from_metadata) {
    char *vp = shared_path("tokenizers/ggml-vocab-llama-spm.gguf");
    if (!vp) return; /* ../shared absent: nothing to copy */
    GGUFFile v;
    ck_assert_msg(gguf_open(&v, vp) == 0, "%s", err_get());
    GGUFWriter *w = one_layer_header();
    copy_tokenizer_keys(w, &v);
    add_tensor(w, "token_embd.weight", GGML_TYPE_BF16, 32000, 32, 1);
    add_layer(w, 0, 32, 8, 4, 4, 48, GGML_TYPE_BF16);
    add_tensor(w, "output_norm.weight", GGML_TYPE_F32, 1, 32, 2);
    char *p = write_gguf(w, "withtok.gguf");
    gguf_close(&v);
    Model *m = NULL;
    ck_assert_msg(model_open(p, &m) == 0, "%s", err_get());
    ck_assert_ptr_nonnull(m->tokenizer);
    ck_assert_int_eq(tokenizer_vocab_size(m->tokenizer), 32000);
    Tokenizer *ref = NULL;
    ck_assert_msg(tokenizer_load(vp, &ref) == 0, "%s", err_get());
    const char *text = "Hello world, this is carve.";
    int32_t *a, *b;
    size_t na, nb;
    ck_assert_int_eq(tokenizer_encode(m->tokenizer, text, strlen(text), true, &a, &na), 0);
    ck_assert_int_eq(tokenizer_encode(ref, text, strlen(text), true, &b, &nb), 0);
    ck_assert_uint_eq(na, nb);
    ck_assert(na > 3 && memcmp(a, b, na * sizeof *a) == 0);
    free(a);
    free(b);
    tokenizer_free(ref);
    model_free(m);
    /* the vocabulary-only file itself is not a model */
    open_fails(vp, "holds no tensors");
    free(p);
    free(vp);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gguf_model");
    TCase *tc = tcase_create("load");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_llama_untied);
    tcase_add_test(tc, test_llama_tied_f16);
    tcase_add_test(tc, test_deci_heterogeneous);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_quantised_used);
    tcase_add_test(tc, test_rope_scaling);
    tcase_add_test(tc, test_tokenizer_from_metadata);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
