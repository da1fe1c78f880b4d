/* Tests for runtime/hf_model (and synth as its input): config parsing, tied/untied
 * classifiers, Qwen2 biases, f16/bf16 views into the mapping, the head_dim key, sharded
 * indexes, carve's heterogeneous config, synth determinism, and loader errors. */
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>

#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/model/rope.h"
#include "runtime/files/safetensors.h"
#include "runtime/synth/synth.h"
#include "runtime/base/pcg32.h"
#include "tests/testutil.h"

static char *dir;
static void setup(void) { dir = test_tmpdir("hf_model"); }
static void teardown(void) { free(dir); }

static char *synth(const char *name, const char *shape, DType dt, uint64_t seed) {
    char *out = path_join(dir, name);
    SynthOptions o = {.shape = shape, .dtype = dt, .seed = seed, .tied = -1, .bias = -1};
    ck_assert_msg(synth_model(&o, out) == 0, "%s", err_get());
    return out;
}

static Model *open_ok(const char *path) {
    Model *m = NULL;
    ck_assert_msg(model_open(path, &m) == 0, "%s", err_get());
    return m;
}

/* model_open must fail with a one-line message containing needle. */
static void open_fails(const char *path, const char *needle) {
    Model *m = NULL;
    ck_assert_int_eq(model_open(path, &m), -1);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err_get(), needle) != NULL, "expected '%s' in: %s", needle, err_get());
    ck_assert_msg(strchr(err_get(), '\n') == NULL, "multi-line error: %s", err_get());
}

static bool in_mapping(const Model *m, const void *p) {
    for (int i = 0; i < m->n_files; i++)
        if ((const uint8_t *)p >= m->files[i].data && (const uint8_t *)p < m->files[i].data + m->files[i].size)
            return true;
    return false;
}

static double tensor_std(const Tensor *t, double *mean) {
    int64_t n = t->rows * t->cols;
    float *x = xmalloc((size_t)n * sizeof *x);
    convert_to_f32(x, t->data, t->dtype, (size_t)n);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    free(x);
    *mean = s / (double)n;
    return sqrt(s2 / (double)n - *mean * *mean);
}

/* ---- a small model-directory builder: named tensors of random f32 data ---- */
typedef struct {
    char name[96];
    int64_t rows, cols; /* rows == 0: 1-D */
} Spec;

static void write_st(const char *path, const Spec *t, int n, uint64_t seed) {
    STWriter *w = st_writer_new();
    for (int i = 0; i < n; i++) {
        int64_t shape[2] = {t[i].rows, t[i].cols};
        if (t[i].rows) st_writer_add(w, t[i].name, DT_F32, 2, shape);
        else st_writer_add(w, t[i].name, DT_F32, 1, shape + 1);
    }
    ck_assert_msg(st_writer_begin(w, path) == 0, "%s", err_get());
    Pcg32 r;
    pcg32_seed(&r, seed, 7);
    for (int i = 0; i < n; i++) {
        int64_t k = (t[i].rows ? t[i].rows : 1) * t[i].cols;
        float *x = xmalloc((size_t)k * sizeof *x);
        for (int64_t j = 0; j < k; j++) x[j] = (float)(0.1 * pcg32_normal(&r));
        ck_assert_int_eq(st_writer_write_f32(w, x, (size_t)k), 0);
        free(x);
    }
    ck_assert_msg(st_writer_finish(w) == 0, "%s", err_get());
    st_writer_free(w);
}

static void write_text(const char *d, const char *name, const char *text) {
    char *p = path_join(d, name);
    ck_assert_int_eq(write_file_atomic(p, text, strlen(text)), 0);
    free(p);
}

static int add(Spec *s, int n, int64_t rows, int64_t cols, const char *fmt, int l) {
    snprintf(s[n].name, sizeof s[n].name, fmt, l);
    s[n].rows = rows;
    s[n].cols = cols;
    return n + 1;
}

/* Tensors of one layer with q heads, kv heads, f channels (0 = sublayer absent). */
static int layer_specs(Spec *s, int n, int l, int D, int hd, int q, int kv, int f) {
    if (q > 0) {
        n = add(s, n, 0, D, "model.layers.%d.input_layernorm.weight", l);
        n = add(s, n, (int64_t)q * hd, D, "model.layers.%d.self_attn.q_proj.weight", l);
        n = add(s, n, (int64_t)kv * hd, D, "model.layers.%d.self_attn.k_proj.weight", l);
        n = add(s, n, (int64_t)kv * hd, D, "model.layers.%d.self_attn.v_proj.weight", l);
        n = add(s, n, D, (int64_t)q * hd, "model.layers.%d.self_attn.o_proj.weight", l);
    }
    if (f > 0) {
        n = add(s, n, 0, D, "model.layers.%d.post_attention_layernorm.weight", l);
        n = add(s, n, f, D, "model.layers.%d.mlp.gate_proj.weight", l);
        n = add(s, n, f, D, "model.layers.%d.mlp.up_proj.weight", l);
        n = add(s, n, D, f, "model.layers.%d.mlp.down_proj.weight", l);
    }
    return n;
}

/* ------------------------------------------------------------------ tests */

START_TEST(test_tiny_tied) {
    char *p = synth("tiny", "tiny", DT_F32, 5);
    Model *m = open_ok(p);
    const ModelConfig *c = &m->cfg;
    ck_assert_str_eq(m->format, "hf");
    ck_assert_str_eq(c->arch, "llama");
    ck_assert_int_eq(c->dim, 64);
    ck_assert_int_eq(c->n_layers, 4);
    ck_assert_int_eq(c->n_heads, 4);
    ck_assert_int_eq(c->n_kv_heads, 2);
    ck_assert_int_eq(c->head_dim, 16);
    ck_assert_int_eq(c->hidden_dim, 176);
    ck_assert_int_eq(c->vocab_size, 512);
    ck_assert_int_eq(c->max_seq_len, 512);
    ck_assert_int_eq(c->rope_layout, ROPE_HALF);
    ck_assert(fabsf(c->rope_theta - 10000) < 1e-3f && fabsf(c->norm_eps - 1e-5f) < 1e-9f);
    ck_assert(c->tied_embeddings && !c->qkv_bias && !c->heterogeneous);
    ck_assert_ptr_eq(m->classifier.data, m->tok_embedding.data);
    ck_assert_int_eq(m->layers[3].wk.rows, 32);
    ck_assert_int_eq(m->layers[3].w_down.cols, 176);
    ck_assert_ptr_null(m->layers[0].bq.data);
    ck_assert(in_mapping(m, m->layers[2].w_up.data) && in_mapping(m, m->final_norm.data));
    /* weights ~ N(0, 1/fan_in), norms ~ 1 */
    double mean, sd = tensor_std(&m->layers[1].wq, &mean);
    ck_assert_msg(fabs(sd - 0.125) < 0.01 && fabs(mean) < 0.01, "wq std %g mean %g", sd, mean);
    sd = tensor_std(&m->layers[1].w_down, &mean);
    ck_assert_msg(fabs(sd - 1 / sqrt(176.0)) < 0.01, "w_down std %g", sd);
    sd = tensor_std(&m->layers[0].attn_norm, &mean);
    ck_assert_msg(fabs(mean - 1) < 0.02 && sd < 0.05 && sd > 0, "norm mean %g std %g", mean, sd);
    ParamCount pc = model_param_count(m);
    ck_assert_int_eq(pc.embedding, 512 * 64);
    ck_assert_int_eq(pc.classifier, 0);
    ck_assert_int_eq(pc.layers, 4 * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 176 * 64));
    model_free(m);
    free(p);
}
END_TEST

START_TEST(test_qwen_untied_bias) {
    char *p = synth("qwen", "qwen-tiny", DT_F32, 1);
    Model *m = open_ok(p);
    ck_assert_str_eq(m->cfg.arch, "qwen2");
    ck_assert(!m->cfg.tied_embeddings && m->cfg.qkv_bias);
    ck_assert_ptr_ne(m->classifier.data, m->tok_embedding.data);
    ck_assert_int_eq(m->classifier.rows, 512);
    for (int l = 0; l < 4; l++) {
        ck_assert(m->layers[l].bq.rows == 1 && m->layers[l].bq.cols == 64);
        ck_assert(m->layers[l].bk.cols == 32 && m->layers[l].bv.cols == 32);
    }
    ParamCount pc = model_param_count(m);
    ck_assert_int_eq(pc.classifier, 512 * 64);
    model_free(m);
    free(p);
}
END_TEST

START_TEST(test_f16_bf16_views) {
    char *p32 = synth("t32", "tiny", DT_F32, 9), *p16 = synth("t16", "tiny", DT_F16, 9),
         *pb = synth("tb", "tiny", DT_BF16, 9);
    Model *a = open_ok(p32), *b = open_ok(p16), *c = open_ok(pb);
    ck_assert_int_eq(b->layers[0].wq.dtype, DT_F16);
    ck_assert_int_eq(c->layers[0].wq.dtype, DT_BF16);
    ck_assert_int_eq(c->tok_embedding.dtype, DT_BF16);
    ck_assert(in_mapping(b, b->layers[0].wq.data) && in_mapping(c, c->layers[3].w_down.data));
    ck_assert_int_eq(b->n_owned, 0); /* nothing converted or copied at load */
    ck_assert_int_eq(c->n_owned, 0);
    float ra[64], rb[64], rc[64];
    for (int r = 0; r < 64; r += 7) {
        tensor_row_f32(&a->layers[2].wq, r, ra);
        tensor_row_f32(&b->layers[2].wq, r, rb);
        tensor_row_f32(&c->layers[2].wq, r, rc);
        for (int i = 0; i < 64; i++) {
            ck_assert(fabsf(ra[i] - rb[i]) <= fabsf(ra[i]) / 1024 + 1e-7f);
            ck_assert(fabsf(ra[i] - rc[i]) <= fabsf(ra[i]) / 128 + 1e-7f);
        }
    }
    model_free(a);
    model_free(b);
    model_free(c);
    free(p32);
    free(p16);
    free(pb);
}
END_TEST

START_TEST(test_synth_deterministic) {
    char *a = synth("d1", "tiny-mha", DT_BF16, 42), *b = synth("d2", "tiny-mha", DT_BF16, 42),
         *c = synth("d3", "tiny-mha", DT_BF16, 43);
    char *fa = path_join(a, "model.safetensors"), *fb = path_join(b, "model.safetensors"),
         *fc = path_join(c, "model.safetensors");
    size_t na, nb, nc;
    char *da = read_file(fa, &na), *db = read_file(fb, &nb), *dc = read_file(fc, &nc);
    ck_assert(da && db && dc);
    ck_assert_uint_eq(na, nb);
    ck_assert(memcmp(da, db, na) == 0);
    ck_assert_uint_eq(na, nc);
    ck_assert(memcmp(da, dc, na) != 0);
    Model *m = open_ok(a);
    ck_assert_int_eq(m->cfg.n_kv_heads, 4);
    model_free(m);
    /* an existing output is refused without force, replaced with it */
    SynthOptions o = {.shape = "tiny", .dtype = DT_F32, .seed = 1, .tied = 0, .bias = -1, .layers = 2};
    ck_assert_int_eq(synth_model(&o, a), -1);
    ck_assert(strstr(err_get(), "already exists") != NULL);
    o.force = true;
    ck_assert_msg(synth_model(&o, a) == 0, "%s", err_get());
    m = open_ok(a);
    ck_assert(m->cfg.n_layers == 2 && !m->cfg.tied_embeddings);
    model_free(m);
    free(da), free(db), free(dc), free(fa), free(fb), free(fc), free(a), free(b), free(c);
}
END_TEST

/* Split a synth'd tiny model into two shards with an index; it must load identically. */
START_TEST(test_sharded) {
    char *src = synth("src", "tiny", DT_BF16, 3);
    char *stp = path_join(src, "model.safetensors");
    SafeTensors st;
    ck_assert_int_eq(st_open(&st, stp), 0);
    char *out = path_join(dir, "sharded");
    ck_assert_int_eq(mkdir(out, 0777), 0);
    json_t *wm = json_object();
    for (int s = 0; s < 2; s++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-00002.safetensors", s + 1);
        STWriter *w = st_writer_new();
        for (int i = s; i < st.n_tensors; i += 2) {
            const STTensor *t = &st.tensors[i];
            st_writer_add(w, t->name, t->dtype, t->n_dims, t->shape);
            json_object_set_new(wm, t->name, json_string(name));
        }
        char *sp = path_join(out, name);
        ck_assert_int_eq(st_writer_begin(w, sp), 0);
        for (int i = s; i < st.n_tensors; i += 2)
            ck_assert_int_eq(st_writer_write(w, st.tensors[i].data, st.tensors[i].end - st.tensors[i].begin), 0);
        ck_assert_int_eq(st_writer_finish(w), 0);
        st_writer_free(w);
        free(sp);
    }
    json_t *idx = json_pack("{s:{s:i}, s:o}", "metadata", "total_size", 0, "weight_map", wm);
    json_incref(wm);
    char *txt = json_dumps(idx, 0);
    json_decref(idx);
    write_text(out, "model.safetensors.index.json", txt);
    free(txt);
    char *cfg = path_join(src, "config.json"), *cfg_text = read_file(cfg, NULL);
    write_text(out, "config.json", cfg_text);
    Model *a = open_ok(src), *b = open_ok(out);
    ck_assert_int_eq(b->n_files, 2);
    ck_assert(b->cfg.tied_embeddings);
    float ra[176], rb[176];
    for (int l = 0; l < 4; l++) {
        tensor_row_f32(&a->layers[l].w_down, 5, ra);
        tensor_row_f32(&b->layers[l].w_down, 5, rb);
        ck_assert(memcmp(ra, rb, sizeof ra) == 0);
        tensor_row_f32(&a->layers[l].wv, 3, ra);
        tensor_row_f32(&b->layers[l].wv, 3, rb);
        ck_assert(memcmp(ra, rb, 64 * sizeof(float)) == 0);
    }
    model_free(a);
    model_free(b);
    /* an index naming a tensor its shard does not hold */
    const char *was = json_string_value(json_object_get(wm, "model.norm.weight"));
    json_object_set_new(wm, "model.norm.weight",
                        json_string(strstr(was, "00001-of") ? "model-00002-of-00002.safetensors"
                                                            : "model-00001-of-00002.safetensors"));
    txt = json_dumps(wm, 0);
    char *txt2 = xmalloc(strlen(txt) + 32);
    sprintf(txt2, "{\"weight_map\": %s}", txt);
    write_text(out, "model.safetensors.index.json", txt2);
    free(txt), free(txt2);
    json_decref(wm);
    open_fails(out, "does not hold");
    /* an index naming a missing shard */
    write_text(out, "model.safetensors.index.json", "{\"weight_map\": {\"model.norm.weight\": \"nope.safetensors\"}}");
    open_fails(out, "nope.safetensors: cannot open");
    write_text(out, "model.safetensors.index.json", "{\"weight_map\": 3}");
    open_fails(out, "no \"weight_map\" object");
    st_close(&st);
    free(cfg), free(cfg_text), free(out), free(stp), free(src);
}
END_TEST

START_TEST(test_head_dim_key) {
    /* head_dim 32 with hidden 64 and 4 heads: q is (128, 64), o is (64, 128) */
    char *d = path_join(dir, "hd");
    ck_assert_int_eq(mkdir(d, 0777), 0);
    write_text(d, "config.json",
               "{\"architectures\": [\"MistralForCausalLM\"], \"hidden_size\": 64, \"num_hidden_layers\": 2,"
               " \"num_attention_heads\": 4, \"num_key_value_heads\": 1, \"head_dim\": 32, \"intermediate_size\": 96,"
               " \"vocab_size\": 100, \"rope_theta\": 1000000.0, \"rms_norm_eps\": 1e-6,"
               " \"max_position_embeddings\": 4096, \"tie_word_embeddings\": false, \"sliding_window\": 4096}");
    Spec s[32];
    int n = add(s, 0, 100, 64, "model.embed_tokens.weight", 0);
    for (int l = 0; l < 2; l++) n = layer_specs(s, n, l, 64, 32, 4, 1, 96);
    n = add(s, n, 0, 64, "model.norm.weight", 0);
    n = add(s, n, 100, 64, "lm_head.weight", 0);
    char *st = path_join(d, "model.safetensors");
    write_st(st, s, n, 1);
    Model *m = open_ok(d);
    ck_assert_str_eq(m->cfg.arch, "mistral");
    ck_assert_int_eq(m->cfg.head_dim, 32);
    ck_assert_int_eq(m->layers[1].wq.rows, 128);
    ck_assert_int_eq(m->layers[1].wo.cols, 128);
    ck_assert_int_eq(m->layers[1].wk.rows, 32);
    ck_assert_int_eq(m->cfg.max_seq_len, 4096);
    ck_assert(fabsf(m->cfg.rope_theta - 1e6f) < 1);
    ck_assert(!m->cfg.tied_embeddings);
    model_free(m);
    /* untied but no lm_head.weight -> missing tensor */
    write_st(st, s, n - 1, 1);
    open_fails(d, "missing tensor lm_head.weight");
    /* without the tie key, an absent lm_head means tied */
    write_text(d, "config.json",
               "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, \"num_hidden_layers\": 2,"
               " \"num_attention_heads\": 4, \"num_key_value_heads\": 1, \"head_dim\": 32, \"intermediate_size\": 96,"
               " \"vocab_size\": 100}");
    m = open_ok(d);
    ck_assert(m->cfg.tied_embeddings);
    ck_assert_int_eq(m->cfg.max_seq_len, 2048);
    model_free(m);
    free(st);
    free(d);
}
END_TEST

START_TEST(test_carve_heterogeneous) {
    char *d = path_join(dir, "carve");
    ck_assert_int_eq(mkdir(d, 0777), 0);
    write_text(d, "config.json",
               "{\"architectures\": [\"CarveLlamaForCausalLM\"], \"model_type\": \"carve-llama\","
               " \"hidden_size\": 64, \"num_hidden_layers\": 5, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
               " \"head_dim\": 16, \"intermediate_size\": 176, \"vocab_size\": 512, \"tie_word_embeddings\": true,"
               " \"carve_layers\": ["
               "  {\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"intermediate_size\": 176, \"replace\": false},"
               "  {\"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"intermediate_size\": 100, \"replace\": false},"
               "  {\"num_attention_heads\": 0, \"num_key_value_heads\": 0, \"intermediate_size\": 64},"
               "  {\"num_attention_heads\": 3, \"num_key_value_heads\": 1, \"intermediate_size\": 0},"
               "  {\"num_attention_heads\": 0, \"num_key_value_heads\": 0, \"intermediate_size\": 0, \"replace\": true}]}");
    Spec s[64];
    int n = add(s, 0, 512, 64, "model.embed_tokens.weight", 0);
    n = layer_specs(s, n, 0, 64, 16, 4, 2, 176);
    n = layer_specs(s, n, 1, 64, 16, 2, 1, 100);
    n = layer_specs(s, n, 2, 64, 16, 0, 0, 64);
    n = layer_specs(s, n, 3, 64, 16, 3, 1, 0);
    n = add(s, n, 64, 64, "model.layers.%d.replace.weight", 4);
    n = add(s, n, 0, 64, "model.norm.weight", 0);
    char *st = path_join(d, "model.safetensors");
    write_st(st, s, n, 2);
    Model *m = open_ok(d);
    const ModelConfig *c = &m->cfg;
    ck_assert_str_eq(c->arch, "carve");
    ck_assert(c->heterogeneous && c->tied_embeddings);
    const int heads[5] = {4, 2, 0, 3, 0}, kv[5] = {2, 1, 0, 1, 0}, ch[5] = {176, 100, 64, 0, 0};
    for (int l = 0; l < 5; l++) {
        ck_assert_int_eq(m->layers[l].n_heads, heads[l]);
        ck_assert_int_eq(m->layers[l].n_kv_heads, kv[l]);
        ck_assert_int_eq(m->layers[l].hidden_dim, ch[l]);
    }
    ck_assert(!m->layers[2].wq.data && !m->layers[2].attn_norm.data && m->layers[2].w_gate.rows == 64);
    ck_assert(!m->layers[3].w_gate.data && !m->layers[3].ffn_norm.data && m->layers[3].wq.rows == 48);
    ck_assert(m->layers[4].replace.rows == 64 && m->layers[4].replace.cols == 64 && !m->layers[4].wq.data);
    ParamCount pc = model_param_count(m);
    int64_t expect = 0;
    for (int i = 1; i < n - 1; i++) expect += (s[i].rows ? s[i].rows : 1) * s[i].cols;
    ck_assert_int_eq(pc.layers, expect);
    model_free(m);
    /* a kept sublayer whose tensor is absent */
    write_st(st, s, n, 2);
    Spec s2[64];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(s[i].name, "model.layers.1.mlp.up_proj.weight")) s2[k++] = s[i];
    write_st(st, s2, k, 2);
    open_fails(d, "missing tensor model.layers.1.mlp.up_proj.weight");
    /* a layer entry whose shapes disagree with the tensors */
    write_st(st, s, n, 2);
    write_text(d, "config.json",
               "{\"architectures\": [\"CarveLlamaForCausalLM\"], \"hidden_size\": 64, \"num_hidden_layers\": 5,"
               " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"intermediate_size\": 176, \"vocab_size\": 512,"
               " \"carve_layers\": [{\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"intermediate_size\": 176},"
               "  {\"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"intermediate_size\": 120},"
               "  {\"num_attention_heads\": 0, \"intermediate_size\": 64},"
               "  {\"num_attention_heads\": 3, \"num_key_value_heads\": 1, \"intermediate_size\": 0},"
               "  {\"replace\": true}]}");
    open_fails(d, "gate_proj of layer 1 has shape [100, 64], config says [120, 64]");
    write_text(d, "config.json",
               "{\"architectures\": [\"CarveLlamaForCausalLM\"], \"hidden_size\": 64, \"num_hidden_layers\": 5,"
               " \"num_attention_heads\": 4, \"intermediate_size\": 176, \"vocab_size\": 512, \"carve_layers\": [{}]}");
    open_fails(d, "carve_layers has 1 entries, num_hidden_layers is 5");
    free(st);
    free(d);
}
END_TEST

/* rope_scaling llama3 (as in Llama-3.2-1B's config.json, the type under "rope_type") and linear
 * (under the older "type" key): parsed into cfg.rope_scaling and applied by rope_inv_freqs. */
START_TEST(test_rope_scaling) {
    char *p = synth("rope", "tiny", DT_F32, 1);
    const char *base = "\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, \"num_hidden_layers\": 4,"
                       " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"intermediate_size\": 176,"
                       " \"vocab_size\": 512, \"rope_theta\": 10000.0";
    char buf[1024];
    snprintf(buf, sizeof buf, "{%s, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0,"
             " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}}", base);
    write_text(p, "config.json", buf);
    Model *m = NULL;
    ck_assert_msg(model_open(p, &m) == 0, "%s", err_get());
    const RopeScaling *rs = &m->cfg.rope_scaling;
    ck_assert(rs->type == ROPE_SCALING_LLAMA3 && rs->factor == 8 && rs->low_freq_factor == 1 &&
              rs->high_freq_factor == 4 && rs->orig_max_pos == 64);
    /* head_dim 16: wavelengths 2*pi*10000^(i/8); high band < 16, low band > 64, blended between */
    double inv[8];
    rope_inv_freqs(m, inv);
    for (int i = 0; i < 8; i++) {
        double f = pow(10000.0, -2.0 * i / 16), w = 2 * M_PI / f, want = f;
        if (w > 64) want = f / 8;
        else if (w >= 16) {
            double s = (64 / w - 1) / 3;
            want = (1 - s) * f / 8 + s * f;
        }
        ck_assert_msg(fabs(inv[i] - want) <= 1e-6 * want, "pair %d: %g vs %g", i, inv[i], want);
    }
    ck_assert(inv[0] == 1.0 && fabs(inv[7] - pow(10000.0, -14.0 / 16) / 8) < 1e-12);
    model_free(m);
    snprintf(buf, sizeof buf, "{%s, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.5}}", base);
    write_text(p, "config.json", buf);
    ck_assert_msg(model_open(p, &m) == 0, "%s", err_get());
    ck_assert(m->cfg.rope_scaling.type == ROPE_SCALING_LINEAR && m->cfg.rope_scaling.factor == 2.5f);
    rope_inv_freqs(m, inv);
    for (int i = 0; i < 8; i++) ck_assert(fabs(inv[i] - pow(10000.0, -2.0 * i / 16) / 2.5) < 1e-12);
    model_free(m);
    snprintf(buf, sizeof buf, "{%s, \"rope_scaling\": {\"rope_type\": \"default\"}}", base);
    write_text(p, "config.json", buf);
    ck_assert_msg(model_open(p, &m) == 0, "%s", err_get());
    ck_assert(m->cfg.rope_scaling.type == ROPE_SCALING_NONE && !rope_is_scaled(m));
    model_free(m);
    snprintf(buf, sizeof buf, "{%s, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 4.0,"
             " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}}", base);
    write_text(p, "config.json", buf);
    open_fails(p, "high_freq_factor 4 must exceed low_freq_factor 4");
    free(p);
    /* the llama-1b synth shape carries Llama-3.2-1B's RoPE: theta 500000, llama3 32 / 1 / 4 / 8192 */
    const SynthShape *l1 = synth_shape_find("llama-1b");
    ck_assert(l1 && l1->rope_theta == 500000 && l1->max_pos == 131072 && l1->rope.type == ROPE_SCALING_LLAMA3);
    ck_assert(l1->rope.factor == 32 && l1->rope.low_freq_factor == 1 && l1->rope.high_freq_factor == 4 &&
              l1->rope.orig_max_pos == 8192);
}
END_TEST

START_TEST(test_config_errors) {
    char *p = synth("cfg", "tiny", DT_F32, 1);
    char *cfg = path_join(p, "config.json");
    const char *base = "\"hidden_size\": 64, \"num_hidden_layers\": 4, \"num_attention_heads\": 4,"
                       " \"num_key_value_heads\": 2, \"intermediate_size\": 176, \"vocab_size\": 512";
    char buf[1024];
    write_text(p, "config.json", "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": ");
    open_fails(p, "config.json: not valid JSON");
    snprintf(buf, sizeof buf, "{\"architectures\": [\"GPT2LMHeadModel\"], %s}", base);
    write_text(p, "config.json", buf);
    open_fails(p, "unsupported architecture 'GPT2LMHeadModel'");
    write_text(p, "config.json", "{\"architectures\": [\"LlamaForCausalLM\"], \"num_hidden_layers\": 4}");
    open_fails(p, "config.json: missing key \"hidden_size\"");
    snprintf(buf, sizeof buf, "{\"architectures\": [\"LlamaForCausalLM\"], %s, \"rope_scaling\": {\"rope_type\": \"llama3\"}}", base);
    write_text(p, "config.json", buf);
    open_fails(p, "rope_scaling (llama3) is missing \"factor\"");
    snprintf(buf, sizeof buf, "{\"architectures\": [\"LlamaForCausalLM\"], %s, \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4}}", base);
    write_text(p, "config.json", buf);
    open_fails(p, "rope_scaling type 'yarn' is not supported");
    snprintf(buf, sizeof buf, "{\"architectures\": [\"LlamaForCausalLM\"], %s, \"rms_norm_eps\": \"small\"}", base);
    write_text(p, "config.json", buf);
    open_fails(p, "\"rms_norm_eps\" is not a number");
    snprintf(buf, sizeof buf, "{\"architectures\": [\"Qwen2ForCausalLM\"], %s}", base);
    write_text(p, "config.json", buf);
    open_fails(p, "missing tensor model.layers.0.self_attn.q_proj.bias");
    snprintf(buf, sizeof buf, "{\"architectures\": [\"LlamaForCausalLM\"], %s, \"num_key_value_heads\": 3}", base);
    /* duplicate key: rejected as JSON */
    write_text(p, "config.json", buf);
    open_fails(p, "duplicate");
    free(cfg);
    free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("hf_model");
    TCase *tc = tcase_create("load");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tiny_tied);
    tcase_add_test(tc, test_qwen_untied_bias);
    tcase_add_test(tc, test_f16_bf16_views);
    tcase_add_test(tc, test_synth_deterministic);
    tcase_add_test(tc, test_sharded);
    tcase_add_test(tc, test_head_dim_key);
    tcase_add_test(tc, test_carve_heterogeneous);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_rope_scaling);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
