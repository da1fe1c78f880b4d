/* hf_model — loader of Hugging Face model directories: config.json (jansson) plus
 * model.safetensors or a sharded model.safetensors.index.json (every shard mmapped).
 * Weights stay in their stored dtype (F32/F16/BF16) as views into the mappings.
 * Architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM (q/k/v biases),
 * and carve's own heterogeneous CarveLlamaForCausalLM. RoPE is HF's rotate-half layout, with
 * rope_scaling "default"/null, "linear" or "llama3" (others are refused).
 *
 * carve's heterogeneous model format (written by reformation/export, loaded here)
 * ---------------------------------------------------------------------------------
 * A Hugging Face directory whose config.json has
 *     "architectures": ["CarveLlamaForCausalLM"], "model_type": "carve-llama",
 * the usual Llama keys (hidden_size, num_hidden_layers, num_attention_heads,
 * num_key_value_heads, intermediate_size, vocab_size, head_dim, rope_theta, rms_norm_eps,
 * max_position_embeddings, tie_word_embeddings) describing the dense base model, plus
 *     "carve_layers": [ {"num_attention_heads": h, "num_key_value_heads": kv,
 *                        "intermediate_size": f, "replace": false}, ... ]
 * with one entry per layer (exactly num_hidden_layers entries):
 *   - h > 0: the layer has an attention sublayer with h query heads and kv KV heads
 *     (h % kv == 0): tensors input_layernorm, self_attn.{q,k,v,o}_proj (+ optional
 *     q/k/v/o biases) with q rows h*head_dim and k/v rows kv*head_dim;
 *   - h == 0: no attention sublayer; its input_layernorm and q/k/v/o tensors are absent;
 *   - f > 0: the layer has an MLP with f channels: post_attention_layernorm and
 *     mlp.{gate,up,down}_proj with gate/up (f, hidden) and down (hidden, f) (+ an optional
 *     down_proj bias; all-zero gate/up biases are accepted and dropped);
 *   - f == 0: no MLP sublayer; post_attention_layernorm and gate/up/down are absent;
 *   - "replace": true: the whole layer is one fitted linear map h <- W h stored as
 *     model.layers.N.replace.weight of shape (hidden_size, hidden_size) and nothing else
 *     (the head/channel counts of that entry are ignored).
 * Tensor names and the safetensors files are otherwise exactly the Llama ones. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/model/rope.h"
#include "runtime/model/tensors.h"
#include "runtime/files/safetensors.h"
#include "runtime/tokenizer/tokenizer.h"

typedef struct {
    char *dir;
    char *what;          /* file named in tensor errors: model.safetensors or the index */
    SafeTensors *shards;
    char **shard_names;  /* file names as given in the index */
    uint8_t **used;      /* per shard, per tensor: taken by the model (every other one is an error) */
    int n_shards;
    json_t *weight_map;  /* NULL for a single file */
    Model *m;
} Weights;

static void weights_close(Weights *w) {
    for (int i = 0; i < w->n_shards; i++) {
        st_close(&w->shards[i]);
        free(w->shard_names[i]);
        free(w->used[i]);
    }
    free(w->used);
    free(w->shards);
    free(w->shard_names);
    if (w->weight_map) json_decref(w->weight_map);
    free(w->what);
}

static int open_shard(Weights *w, const char *name) {
    for (int i = 0; i < w->n_shards; i++)
        if (!strcmp(w->shard_names[i], name)) return 0;
    if (strstr(name, "..") || name[0] == '/' || !name[0])
        return err_set("%s: weight_map names an invalid shard file '%s'", w->what, name);
    char *p = path_join(w->dir, name);
    w->shards = xrealloc(w->shards, (size_t)(w->n_shards + 1) * sizeof *w->shards);
    w->shard_names = xrealloc(w->shard_names, (size_t)(w->n_shards + 1) * sizeof *w->shard_names);
    w->used = xrealloc(w->used, (size_t)(w->n_shards + 1) * sizeof *w->used);
    int rc = st_open(&w->shards[w->n_shards], p);
    free(p);
    if (rc != 0) return -1;
    w->used[w->n_shards] = xcalloc((size_t)w->shards[w->n_shards].n_tensors + 1, 1);
    w->shard_names[w->n_shards++] = xstrdup(name);
    return 0;
}

static int weights_open(Weights *w, const char *dir) {
    w->dir = (char *)dir;
    char *index = path_join(dir, "model.safetensors.index.json");
    if (path_exists(index)) {
        w->what = index;
        json_error_t jerr;
        json_t *root = json_load_file(index, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) return err_set("%s: not valid JSON (line %d: %s)", index, jerr.line, jerr.text);
        json_t *wm = json_object_get(root, "weight_map");
        if (!json_is_object(wm)) {
            json_decref(root);
            return err_set("%s: no \"weight_map\" object", index);
        }
        w->weight_map = json_incref(wm);
        json_decref(root);
        const char *k;
        json_t *v;
        json_object_foreach(w->weight_map, k, v) {
            if (!json_is_string(v)) return err_set("%s: weight_map entry '%s' is not a file name", index, k);
            if (open_shard(w, json_string_value(v)) != 0) return -1;
        }
        return 0;
    }
    free(index);
    w->what = path_join(dir, "model.safetensors");
    if (!path_exists(w->what))
        return err_set("%s: no model.safetensors or model.safetensors.index.json in the directory", dir);
    return open_shard(w, "model.safetensors");
}

/* Find a tensor by its HF name; absent -> t->data = NULL (error only when required). */
static int get(Weights *w, const char *name, bool required, Tensor *out) {
    memset(out, 0, sizeof *out);
    const STTensor *t = NULL;
    int shard = 0;
    if (w->weight_map) {
        json_t *f = json_object_get(w->weight_map, name);
        if (f) {
            for (shard = 0; shard < w->n_shards; shard++)
                if (!strcmp(w->shard_names[shard], json_string_value(f))) break;
            t = st_find(&w->shards[shard], name);
            if (!t)
                return err_set("%s: weight_map puts tensor %s in %s, but that file does not hold it", w->what,
                               name, json_string_value(f));
        }
    } else {
        t = st_find(&w->shards[0], name);
    }
    if (!t) return required ? err_set("%s: missing tensor %s", w->what, name) : 0;
    w->used[shard][t - w->shards[shard].tensors] = 1;
    const char *file = w->shards[shard].file.path;
    if (!t->supported)
        return err_set("%s: tensor %s has dtype %s (carve reads F32, F16 and BF16 weights)", file, name,
                       t->dtype_name);
    if (t->n_dims == 1) *out = tensor_make(t->dtype, 1, t->shape[0], t->data);
    else if (t->n_dims == 2) *out = tensor_make(t->dtype, t->shape[0], t->shape[1], t->data);
    else return err_set("%s: tensor %s has %d dimensions, expected 1 or 2", file, name, t->n_dims);
    if (!t->data || out->rows * out->cols == 0) return err_set("%s: tensor %s is empty", file, name);
    if ((uintptr_t)t->data % dtype_size(t->dtype)) { /* misaligned in the file: keep an aligned copy */
        size_t n = (size_t)(t->end - t->begin);
        void *copy = model_own(w->m, xmalloc_aligned(n));
        memcpy(copy, t->data, n);
        out->data = copy;
    }
    return 0;
}

/* Every stored tensor must be one the model config.json describes takes (a config with fewer
 * layers than the weights, a misspelt name): the first other one is an error. RoPE inverse-frequency
 * buffers (rotary_emb.inv_freq, in older checkpoints) are recomputed, not read, and allowed. */
static int check_all_used(const Weights *w, const char *cfg_path) {
    for (int s = 0; s < w->n_shards; s++)
        for (int i = 0; i < w->shards[s].n_tensors; i++) {
            const char *n = w->shards[s].tensors[i].name;
            size_t len = strlen(n), k = strlen("rotary_emb.inv_freq");
            if (w->used[s][i] || (len >= k && !strcmp(n + len - k, "rotary_emb.inv_freq"))) continue;
            return err_set("%s: tensor %s is not part of the model %s describes (%d layers)",
                           w->shards[s].file.path, n, cfg_path, w->m->cfg.n_layers);
        }
    return 0;
}

/* ---------------------------------------------------------------- config.json */

static int cfg_int(json_t *root, const char *path, const char *key, bool required, long dflt, long lo, long hi,
                   int *out) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) return err_set("%s: missing key \"%s\"", path, key);
        *out = (int)dflt;
        return 0;
    }
    if (!json_is_integer(v)) return err_set("%s: key \"%s\" is not an integer", path, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) return err_set("%s: key \"%s\" = %lld is out of range [%ld, %ld]", path, key, (long long)x, lo, hi);
    *out = (int)x;
    return 0;
}

static int cfg_num(json_t *root, const char *path, const char *key, double dflt, float *out) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = (float)dflt;
        return 0;
    }
    if (!json_is_number(v)) return err_set("%s: key \"%s\" is not a number", path, key);
    double x = json_number_value(v);
    if (!(x > 0) || x > 1e12) return err_set("%s: key \"%s\" = %g is out of range", path, key, x);
    *out = (float)x;
    return 0;
}

/* A required positive number of the rope_scaling object. */
static int scaling_num(json_t *rs, const char *path, const char *type, const char *key, float *out) {
    json_t *v = json_object_get(rs, key);
    if (!v) return err_set("%s: rope_scaling (%s) is missing \"%s\"", path, type, key);
    if (!json_is_number(v)) return err_set("%s: rope_scaling (%s): \"%s\" is not a number", path, type, key);
    double x = json_number_value(v);
    if (!(x > 0) || x > 1e6) return err_set("%s: rope_scaling (%s): \"%s\" = %g must be positive", path, type, key, x);
    *out = (float)x;
    return 0;
}

/* rope_scaling: absent/null or type "default" = plain RoPE; "linear" {factor}; "llama3" {factor,
 * low_freq_factor, high_freq_factor, original_max_position_embeddings}. The type is under
 * "rope_type" (current transformers) or "type" (older files). */
static int parse_rope_scaling(json_t *rs, const char *path, RopeScaling *out) {
    memset(out, 0, sizeof *out);
    if (!rs || json_is_null(rs)) return 0;
    if (!json_is_object(rs)) return err_set("%s: rope_scaling is not an object", path);
    json_t *type = json_object_get(rs, "rope_type");
    if (!type || json_is_null(type)) type = json_object_get(rs, "type");
    if (!json_is_string(type)) return err_set("%s: rope_scaling has no \"rope_type\" (or \"type\") string", path);
    const char *t = json_string_value(type);
    if (!strcmp(t, "default")) return 0;
    if (!strcmp(t, "linear")) {
        out->type = ROPE_SCALING_LINEAR;
        if (scaling_num(rs, path, t, "factor", &out->factor)) return -1;
    } else if (!strcmp(t, "llama3")) {
        out->type = ROPE_SCALING_LLAMA3;
        if (scaling_num(rs, path, t, "factor", &out->factor) ||
            scaling_num(rs, path, t, "low_freq_factor", &out->low_freq_factor) ||
            scaling_num(rs, path, t, "high_freq_factor", &out->high_freq_factor))
            return -1;
        json_t *o = json_object_get(rs, "original_max_position_embeddings");
        if (!json_is_integer(o) || json_integer_value(o) < 1 || json_integer_value(o) > (1 << 30))
            return err_set("%s: rope_scaling (llama3): \"original_max_position_embeddings\" must be a positive integer",
                           path);
        out->orig_max_pos = (int)json_integer_value(o);
    } else
        return err_set("%s: rope_scaling type '%.40s' is not supported (carve implements default, linear and llama3)",
                       path, t);
    return rope_scaling_check(out, path);
}

static const struct {
    const char *hf, *arch;
} archs[] = {
    {"LlamaForCausalLM", "llama"},
    {"MistralForCausalLM", "mistral"},
    {"Qwen2ForCausalLM", "qwen2"},
    {"CarveLlamaForCausalLM", "carve"},
};

static int parse_config(json_t *root, const char *path, Model *m, json_t **carve_layers, int *tie) {
    ModelConfig *c = &m->cfg;
    if (!json_is_object(root)) return err_set("%s: not a JSON object", path);
    json_t *a = json_object_get(root, "architectures");
    const char *hf = json_is_array(a) && json_is_string(json_array_get(a, 0)) ? json_string_value(json_array_get(a, 0)) : NULL;
    if (!hf) return err_set("%s: missing key \"architectures\" (a list naming the model class)", path);
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(hf, archs[i].hf)) snprintf(c->arch, sizeof c->arch, "%s", archs[i].arch);
    if (!c->arch[0])
        return err_set("%s: unsupported architecture '%.64s' (carve reads LlamaForCausalLM, MistralForCausalLM, "
                       "Qwen2ForCausalLM, CarveLlamaForCausalLM)", path, hf);
    if (cfg_int(root, path, "hidden_size", true, 0, 1, 1 << 16, &c->dim) ||
        cfg_int(root, path, "num_hidden_layers", true, 0, 1, 4096, &c->n_layers) ||
        cfg_int(root, path, "num_attention_heads", true, 0, 1, 4096, &c->n_heads) ||
        cfg_int(root, path, "num_key_value_heads", false, c->n_heads, 1, 4096, &c->n_kv_heads) ||
        cfg_int(root, path, "intermediate_size", true, 0, 1, 1 << 20, &c->hidden_dim) ||
        cfg_int(root, path, "vocab_size", true, 0, 1, 1 << 24, &c->vocab_size) ||
        cfg_int(root, path, "max_position_embeddings", false, 2048, 1, 1 << 30, &c->max_seq_len) ||
        cfg_num(root, path, "rope_theta", 10000.0, &c->rope_theta) ||
        cfg_num(root, path, "rms_norm_eps", 1e-6, &c->norm_eps))
        return -1;
    if (c->n_heads % c->n_kv_heads != 0)
        return err_set("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path, c->n_heads,
                       c->n_kv_heads);
    if (c->dim % c->n_heads != 0 && !json_is_integer(json_object_get(root, "head_dim")))
        return err_set("%s: hidden_size %d is not a multiple of num_attention_heads %d and there is no head_dim",
                       path, c->dim, c->n_heads);
    if (cfg_int(root, path, "head_dim", false, c->dim / c->n_heads, 1, 1 << 16, &c->head_dim)) return -1;
    if (parse_rope_scaling(json_object_get(root, "rope_scaling"), path, &c->rope_scaling) != 0) return -1;
    json_t *act = json_object_get(root, "hidden_act");
    if (act && !(json_is_string(act) && !strcmp(json_string_value(act), "silu")))
        return err_set("%s: hidden_act '%s' is not supported (carve implements SwiGLU with silu)", path,
                       json_is_string(act) ? json_string_value(act) : "?");
    json_t *tw = json_object_get(root, "tie_word_embeddings");
    if (tw && !json_is_boolean(tw)) return err_set("%s: key \"tie_word_embeddings\" is not a boolean", path);
    *tie = tw ? json_is_true(tw) : -1; /* -1: not said; tied iff lm_head.weight is absent */
    c->rope_layout = ROPE_HALF;
    *carve_layers = NULL;
    if (!strcmp(c->arch, "carve")) {
        json_t *cl = json_object_get(root, "carve_layers");
        if (!json_is_array(cl)) return err_set("%s: missing key \"carve_layers\" (per-layer list)", path);
        if ((int)json_array_size(cl) != c->n_layers)
            return err_set("%s: carve_layers has %zu entries, num_hidden_layers is %d", path, json_array_size(cl),
                           c->n_layers);
        *carve_layers = cl;
    }
    return 0;
}

/* Per-layer counts of carve's heterogeneous config; *replace set for fitted-map layers. */
static int carve_layer(json_t *e, const char *path, int l, LayerWeights *L, bool *replace) {
    char where[4096];
    snprintf(where, sizeof where, "%s: carve_layers[%d]", path, l);
    if (!json_is_object(e)) return err_set("%s is not an object", where);
    json_t *r = json_object_get(e, "replace");
    if (r && !json_is_boolean(r)) return err_set("%s: \"replace\" is not a boolean", where);
    *replace = r && json_is_true(r);
    if (*replace) return 0;
    if (cfg_int(e, where, "num_attention_heads", true, 0, 0, 4096, &L->n_heads) ||
        cfg_int(e, where, "num_key_value_heads", L->n_heads > 0, 0, 0, 4096, &L->n_kv_heads) ||
        cfg_int(e, where, "intermediate_size", true, 0, 0, 1 << 20, &L->hidden_dim))
        return -1;
    return 0;
}

/* Layer l's tensors by the layer tensor table (runtime/model/tensors.h): a replace layer holds
 * its map only; otherwise the rows of each present sublayer, biases required when config.json
 * declares them. */
static int load_layer(Weights *w, int l, bool replace, bool need_bias) {
    LayerWeights *L = &w->m->layers[l];
    char n[160];
    for (int i = 0; i < N_LAYER_TENSORS; i++) {
        const LayerTensor *d = &LAYER_TENSORS[i];
        snprintf(n, sizeof n, "model.layers.%d.%s", l, d->hf);
        if (d->flags & LT_REFUSED) {
            Tensor t;
            if (replace) continue;
            if (get(w, n, false, &t) != 0) return -1;
            if (t.data && !((d->flags & LT_ZERO) && tensor_all_zero(&t)))
                return err_set("%s: tensor %s is not supported (carve models have q/k/v and o/down biases only)%s",
                               w->what, n, d->flags & LT_ZERO ? "; an all-zero one is accepted" : "");
            continue;
        }
        bool on = replace ? d->part == LT_REPLACE
                          : d->part == LT_ATTN ? L->n_heads > 0 : d->part == LT_MLP && L->hidden_dim > 0;
        bool required = !(d->flags & LT_BIAS) || (need_bias && !(d->flags & LT_OUT)); /* qwen2: q/k/v biases */
        if (on && get(w, n, required, layer_tensor(L, d)) != 0) return -1;
    }
    if (replace) L->n_heads = L->n_kv_heads = L->hidden_dim = 0;
    return 0;
}

/* tokenizer.json, else a llama2.c tokenizer.bin (what carve export writes for a llama2.c source). */
static int attach_tokenizer(Model *m, const char *dir) {
    char *p = path_join(dir, "tokenizer.json");
    int rc = 0;
    if (!path_exists(p)) {
        free(p);
        p = path_join(dir, "tokenizer.bin");
    }
    if (path_exists(p)) {
        Tokenizer *t = NULL;
        if (tokenizer_load(p, &t) != 0) rc = -1;
        else if (tokenizer_vocab_size(t) > m->cfg.vocab_size) {
            rc = err_set("%s: tokenizer has %d tokens, more than the model's vocab_size %d", p,
                         tokenizer_vocab_size(t), m->cfg.vocab_size);
            tokenizer_free(t);
        } else m->tokenizer = t;
    }
    free(p);
    return rc;
}

int model_open_hf(const char *dir, Model *m) {
    char *cpath = path_join(dir, "config.json");
    json_error_t jerr;
    json_t *root = json_load_file(cpath, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        err_set("%s: not valid JSON (line %d: %s)", cpath, jerr.line, jerr.text);
        free(cpath);
        return -1;
    }
    Weights w = {0};
    w.m = m;
    json_t *carve_layers = NULL;
    int tie = -1, rc = -1;
    if (parse_config(root, cpath, m, &carve_layers, &tie) != 0) goto out;
    free(m->layers);
    m->layers = xcalloc((size_t)m->cfg.n_layers, sizeof *m->layers);
    model_uniform_layers(m);
    bool *replace = xcalloc((size_t)m->cfg.n_layers, sizeof *replace);
    for (int l = 0; carve_layers && l < m->cfg.n_layers; l++)
        if (carve_layer(json_array_get(carve_layers, (size_t)l), cpath, l, &m->layers[l], &replace[l]) != 0) {
            free(replace);
            goto out;
        }
    if (weights_open(&w, dir) != 0) {
        free(replace);
        goto out;
    }
    bool need_bias = !strcmp(m->cfg.arch, "qwen2");
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (load_layer(&w, l, replace[l], need_bias) != 0) {
            free(replace);
            goto out;
        }
    free(replace);
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (m->layers[l].bq.data || m->layers[l].bk.data || m->layers[l].bv.data) m->cfg.qkv_bias = true;
    if (get(&w, "model.embed_tokens.weight", true, &m->tok_embedding) ||
        get(&w, "model.norm.weight", true, &m->final_norm) ||
        get(&w, "lm_head.weight", tie == 0, &m->classifier))
        goto out;
    m->cfg.tied_embeddings = tie == 1 || (tie == -1 && !m->classifier.data);
    if (m->cfg.tied_embeddings) m->classifier = m->tok_embedding;
    if (model_validate(m, w.what) != 0 || check_all_used(&w, cpath) != 0) goto out;
    for (int i = 0; i < w.n_shards; i++) {
        MappedFile f;
        st_take_file(&w.shards[i], &f);
        model_add_file(m, &f);
    }
    if (attach_tokenizer(m, dir) != 0) goto out;
    rc = 0;
out:
    weights_close(&w);
    json_decref(root);
    free(cpath);
    return rc;
}
