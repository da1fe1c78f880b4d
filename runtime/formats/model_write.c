/* model_write — a Model written as a Hugging Face directory (format notes in model_write.h):
 * config.json with jansson, the weights streamed through the safetensors writer one tensor
 * at a time, tokenizer files copied from the source. */
#include "runtime/formats/model_write.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/formats/export_util.h"
#include "runtime/model/rope.h"
#include "runtime/model/tensors.h"
#include "runtime/files/safetensors.h"

bool model_is_uniform(const Model *m) {
    const LayerWeights *a = &m->layers[0];
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const LayerWeights *L = &m->layers[l];
        if (L->replace.data || L->n_heads <= 0 || L->hidden_dim <= 0 || L->n_heads != a->n_heads ||
            L->n_kv_heads != a->n_kv_heads || L->hidden_dim != a->hidden_dim)
            return false;
    }
    return true;
}

static const char *torch_dtype(DType d) { return d == DT_F32 ? "float32" : d == DT_F16 ? "float16" : "bfloat16"; }

/* Whether any layer has an o_proj (which 0) / down_proj (1) bias. */
static bool has_out_bias(const Model *m, int which) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        if ((which ? m->layers[l].b_down.data : m->layers[l].bo.data) != NULL) return true;
    return false;
}

static json_t *make_config(const Model *m, DType d) {
    const ModelConfig *c = &m->cfg;
    bool uniform = model_is_uniform(m), ob = has_out_bias(m, 0), db = has_out_bias(m, 1);
    const LayerWeights *L0 = &m->layers[0];
    /* Qwen2 has q/k/v biases and no o_proj bias: output biases make it a Llama with attention_bias */
    bool qwen2 = c->qkv_bias && !ob && !db;
    const char *arch = uniform ? (qwen2 ? "Qwen2ForCausalLM" : "LlamaForCausalLM") : "CarveLlamaForCausalLM";
    const char *type = uniform ? (qwen2 ? "qwen2" : "llama") : "carve-llama";
    json_t *o = json_pack("{s:[s],s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:b,s:s,s:s,s:b}", "architectures",
                          arch, "model_type", type, "hidden_size", c->dim, "num_hidden_layers", c->n_layers,
                          "num_attention_heads", uniform ? L0->n_heads : c->n_heads, "num_key_value_heads",
                          uniform ? L0->n_kv_heads : c->n_kv_heads, "intermediate_size",
                          uniform ? L0->hidden_dim : c->hidden_dim, "head_dim", c->head_dim, "vocab_size",
                          c->vocab_size, "max_position_embeddings", c->max_seq_len, "rope_theta",
                          (double)c->rope_theta, "rms_norm_eps", (double)c->norm_eps, "tie_word_embeddings",
                          c->tied_embeddings, "hidden_act", "silu", "torch_dtype", torch_dtype(d),
                          "attention_bias", c->qkv_bias || ob);
    if (db) json_object_set_new(o, "mlp_bias", json_true());
    json_t *rope = rope_scaling_json(&c->rope_scaling);
    if (rope) json_object_set_new(o, "rope_scaling", rope);
    if (!uniform) {
        json_t *layers = json_array();
        for (int l = 0; l < c->n_layers; l++) {
            const LayerWeights *L = &m->layers[l];
            bool rep = L->replace.data != NULL;
            json_array_append_new(layers, json_pack("{s:i,s:i,s:i,s:b}", "num_attention_heads", rep ? 0 : L->n_heads,
                                                    "num_key_value_heads", rep || !L->n_heads ? 0 : L->n_kv_heads,
                                                    "intermediate_size", rep ? 0 : L->hidden_dim, "replace", rep));
        }
        json_object_set_new(o, "carve_layers", layers);
    }
    return o;
}

/* The tensors to write, in order, with their HF names and RoPE head_dim (Q/K only). */
typedef struct {
    char name[96];
    const Tensor *t;
    int head_dim;
    Tensor zero;        /* an all-zero bias this item writes (t == &zero) */
} Item;

/* transformers' Llama has all of q/k/v/o biases (attention_bias) or none, and all of gate/up/down
 * (mlp_bias) or none: with an output bias somewhere, every attention (MLP) sublayer writes the
 * whole set, all-zero where the model has none. *zeros: the shared zero buffer (free()). */
static int collect(const Model *m, Item **out, float **zeros) {
    int cap = 4 + m->cfg.n_layers * N_LAYER_TENSORS, n = 0;
    Item *it = xcalloc((size_t)cap, sizeof *it);
    const ModelConfig *c = &m->cfg;
    bool ob = has_out_bias(m, 0), db = has_out_bias(m, 1);
    int64_t widest = c->dim > (int64_t)c->n_heads * c->head_dim ? c->dim : (int64_t)c->n_heads * c->head_dim;
    for (int l = 0; l < c->n_layers; l++)
        if (m->layers[l].hidden_dim > widest) widest = m->layers[l].hidden_dim;
    *zeros = xcalloc((size_t)widest, sizeof **zeros);
#define ADD(tensor, hd, ...)                                              \
    do {                                                                  \
        snprintf(it[n].name, sizeof it[n].name, __VA_ARGS__);             \
        it[n].t = (tensor);                                               \
        it[n++].head_dim = (hd);                                          \
    } while (0)
    ADD(&m->tok_embedding, 0, "model.embed_tokens.weight");
    int hd = m->cfg.head_dim;
    for (int l = 0; l < m->cfg.n_layers; l++) /* the layer tensor table's rows, in its order */
        for (int i = 0; i < N_LAYER_TENSORS; i++) {
            const LayerTensor *d = &LAYER_TENSORS[i];
            const LayerWeights *L = &m->layers[l];
            if (layer_tensor_stored(L, d)) {
                ADD(layer_tensor_c(L, d), d->flags & LT_ROPE ? hd : 0, "model.layers.%d.%s", l, d->hf);
                continue;
            }
            bool on = !L->replace.data && (d->part == LT_ATTN ? L->n_heads > 0 : d->part == LT_MLP && L->hidden_dim > 0);
            bool complete = d->part == LT_ATTN ? ob && (d->flags & LT_BIAS) : db && (d->flags & (LT_BIAS | LT_ZERO));
            if (on && complete) {
                it[n].zero = tensor_make(DT_F32, 1, layer_dim(d->cols, c->dim, hd, L->n_heads, L->n_kv_heads,
                                                              L->hidden_dim), *zeros);
                ADD(&it[n].zero, 0, "model.layers.%d.%s", l, d->hf);
            }
        }
    ADD(&m->final_norm, 0, "model.norm.weight");
    if (!m->cfg.tied_embeddings && m->classifier.data != m->tok_embedding.data) ADD(&m->classifier, 0, "lm_head.weight");
#undef ADD
    *out = it;
    return n;
}

static int write_weights(const Model *m, const char *path, DType d) {
    Item *it = NULL;
    float *zeros = NULL;
    int n = collect(m, &it, &zeros);
    STWriter *w = st_writer_new();
    st_writer_meta(w, "format", "pt");
    int64_t most = 0;
    for (int i = 0; i < n; i++) {
        const Tensor *t = it[i].t;
        int64_t shape[2] = {t->rows, t->cols};
        bool vec = t->rows == 1;
        st_writer_add(w, it[i].name, d, vec ? 1 : 2, vec ? shape + 1 : shape);
        if (t->rows * t->cols > most) most = t->rows * t->cols;
    }
    float *buf = xmalloc((size_t)most * sizeof *buf);
    int rc = st_writer_begin(w, path);
    for (int i = 0; i < n && rc == 0; i++) {
        const Tensor *t = it[i].t;
        export_tensor_f32(t, it[i].head_dim, m->cfg.rope_layout, ROPE_HALF, buf);
        rc = st_writer_write_f32(w, buf, (size_t)(t->rows * t->cols));
    }
    if (rc == 0) rc = st_writer_finish(w);
    st_writer_free(w);
    free(buf);
    free(it);
    free(zeros);
    return rc;
}

static int copy_file(const char *src, const char *dir, const char *name) {
    size_t len = 0;
    char *buf = read_file(src, &len);
    if (!buf) return -1;
    char *dst = path_join(dir, name);
    int rc = write_file_atomic(dst, buf, len);
    free(dst);
    free(buf);
    return rc;
}

/* Copy the tokenizer files found with src (see the header) into dir. */
static int copy_tokenizer(const Model *src, const char *dir) {
    if (!src->path || !src->format) return 0;
    if (!strcmp(src->format, "hf")) {
        const char *names[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            char *p = path_join(src->path, names[i]);
            int rc = path_exists(p) ? copy_file(p, dir, names[i]) : 0;
            free(p);
            if (rc != 0) return -1;
        }
        return 0;
    }
    if (!strcmp(src->format, "llama2c")) {
        char *copy = xstrdup(src->path);
        const char *d = dirname(copy);
        char name[64];
        snprintf(name, sizeof name, "tok%d.bin", src->cfg.vocab_size);
        const char *cands[] = {name, "tokenizer.bin"};
        int rc = 0;
        for (int i = 0; i < 2; i++) {
            char *p = path_join(d, cands[i]);
            bool found = path_exists(p);
            if (found) rc = copy_file(p, dir, "tokenizer.bin");
            free(p);
            if (found) break;
        }
        free(copy);
        return rc;
    }
    return 0;
}

int model_write_hf_check(const Model *m) {
    if (m->rope_freqs.data)
        return err_set("%s: its RoPE frequencies come from a GGUF rope_freqs.weight table, which a Hugging Face "
                       "config.json cannot express (export with --format gguf)", m->path ? m->path : "model");
    return 0;
}

int model_write_hf(const Model *m, const char *dir, const HFWriteOptions *opt) {
    if (model_write_hf_check(m) != 0) return -1;
    if (export_check_out(dir, opt->force) != 0) return -1;
    char *tmp = export_tmp_name(dir);
    int rc = -1;
    char *cfg_path = path_join(tmp, "config.json"), *st_path = path_join(tmp, "model.safetensors");
    char *js = NULL;
    if (path_exists(tmp)) export_remove(tmp);
    if (mkdir(tmp, 0755) != 0) {
        err_set("%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    json_t *cfg = make_config(m, opt->dtype);
    js = json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(cfg);
    if (!js) {
        err_set("%s: cannot format config.json", dir);
        goto fail;
    }
    if (write_file_atomic(cfg_path, js, strlen(js)) != 0 || write_weights(m, st_path, opt->dtype) != 0 ||
        copy_tokenizer(opt->tokenizer_of ? opt->tokenizer_of : m, tmp) != 0 || export_commit(tmp, dir) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    export_remove(tmp);
out:
    free(js);
    free(cfg_path);
    free(st_path);
    free(tmp);
    return rc;
}
