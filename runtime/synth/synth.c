/* synth — writes random-weight Hugging Face model directories of named shapes,
 * streaming the safetensors data in row blocks (so a 7B model needs little RAM).
 * Every tensor row draws from its own PCG32 stream (seed, tensor<<32 | row), so the
 * output is identical for any number of threads. See synth.h. */
#define _XOPEN_SOURCE 700
#include "runtime/synth/synth.h"

#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/model/rope.h"
#include "runtime/model/tensors.h"
#include "runtime/files/safetensors.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/base/util.h"
#include "runtime/base/pcg32.h"

/* RoPE scaling of the shapes: none, or Llama-3.2's llama3 (factor 32, low 1, high 4, original 8192) */
#define NO_SCALING {ROPE_SCALING_NONE, 0, 0, 0, 0}
#define LLAMA32_SCALING {ROPE_SCALING_LLAMA3, 32, 1, 4, 8192}
static const SynthShape shapes[] = {
    /* name           arch              dim  L   H  KV hidden vocab  max_pos theta   tied   bias  tokenizer rope  out_bias */
    {"tiny", "LlamaForCausalLM", 64, 4, 4, 2, 176, 512, 512, 10000, true, false, 0, NO_SCALING, false},
    {"tiny-mha", "LlamaForCausalLM", 64, 4, 4, 4, 176, 512, 512, 10000, true, false, 0, NO_SCALING, false},
    {"qwen-tiny", "Qwen2ForCausalLM", 64, 4, 4, 2, 176, 512, 512, 10000, false, true, 1, NO_SCALING, false},
    {"smollm-135m", "LlamaForCausalLM", 576, 30, 9, 3, 1536, 49152, 2048, 10000, true, false, 1, NO_SCALING, false},
    {"llama-1b", "LlamaForCausalLM", 2048, 16, 32, 8, 8192, 128256, 131072, 500000, true, false, 1, LLAMA32_SCALING, false},
    {"llama2-7b", "LlamaForCausalLM", 4096, 32, 32, 32, 11008, 32000, 4096, 10000, false, false, 0, NO_SCALING, false},
    {NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, false, false, 0, NO_SCALING, false},
};

const SynthShape *synth_shape_find(const char *name) {
    for (const SynthShape *s = shapes; s->name; s++)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}

const SynthShape *synth_shapes(void) { return shapes; }

/* One planned tensor: name, shape and how to fill it. */
typedef enum { FILL_MATRIX, FILL_NORM, FILL_BIAS } Fill;
typedef struct {
    char name[96];
    int64_t rows, cols; /* rows == 0: a vector of cols entries */
    Fill fill;
} Plan;

static int plan_tensors(const SynthShape *s, Plan **out) {
    int n = 0;
    Plan *p = xcalloc((size_t)(N_LAYER_TENSORS * s->n_layers + 3), sizeof *p);
    int64_t D = s->dim, hd = s->dim / s->n_heads, F = s->hidden_dim;
#define ADD(r, c, f, ...)                                          \
    do {                                                           \
        snprintf(p[n].name, sizeof p[n].name, __VA_ARGS__);        \
        p[n].rows = (r);                                           \
        p[n].cols = (c);                                           \
        p[n].fill = (f);                                           \
        n++;                                                       \
    } while (0)
    ADD(s->vocab_size, D, FILL_MATRIX, "model.embed_tokens.weight");
    for (int l = 0; l < s->n_layers; l++) /* the layer tensor table's rows of a dense layer, in its order */
        for (int i = 0; i < N_LAYER_TENSORS; i++) {
            const LayerTensor *d = &LAYER_TENSORS[i];
            if (d->part == LT_REPLACE || (d->flags & LT_REFUSED) ||
                ((d->flags & LT_BIAS) && !((d->flags & LT_OUT) ? s->out_bias : s->bias)))
                continue;
            int64_t r = d->rows == LD_ONE ? 0 : layer_dim(d->rows, D, hd, s->n_heads, s->n_kv_heads, F);
            ADD(r, layer_dim(d->cols, D, hd, s->n_heads, s->n_kv_heads, F),
                d->flags & LT_NORM ? FILL_NORM : d->flags & LT_BIAS ? FILL_BIAS : FILL_MATRIX, "model.layers.%d.%s", l,
                d->hf);
        }
    ADD(0, D, FILL_NORM, "model.norm.weight");
    if (!s->tied) ADD(s->vocab_size, D, FILL_MATRIX, "lm_head.weight");
#undef ADD
    *out = p;
    return n;
}

/* Standard normals into x[0..n) by Box-Muller on 32-bit uniforms, using both outputs. */
static void normals(Pcg32 *rng, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i += 2) {
        float u1 = ((float)pcg32_next(rng) + 0.5f) * 0x1p-32f, u2 = (float)pcg32_next(rng) * 0x1p-32f;
        float r = sqrtf(-2.0f * logf(u1)), a = 6.2831853f * u2;
        x[i] = r * cosf(a);
        if (i + 1 < n) x[i + 1] = r * sinf(a);
    }
}

/* Fill rows [r0, r0+nr) of tensor `ti` into buf (nr x cols f32). */
static void fill_rows(const Plan *t, int ti, uint64_t seed, int64_t r0, int64_t nr, float *buf) {
    float std = t->fill == FILL_MATRIX ? 1.0f / sqrtf((float)t->cols) : t->fill == FILL_NORM ? 0.02f : 0.1f;
    float mean = t->fill == FILL_NORM ? 1.0f : 0.0f;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < nr; r++) {
        Pcg32 rng;
        pcg32_seed(&rng, seed, (uint64_t)ti << 32 | (uint64_t)(r0 + r));
        float *row = buf + r * t->cols;
        normals(&rng, row, t->cols);
        for (int64_t c = 0; c < t->cols; c++) row[c] = mean + std * row[c];
    }
}

static int write_weights(const SynthShape *s, const SynthOptions *o, const char *path) {
    Plan *plan;
    int n = plan_tensors(s, &plan);
    STWriter *w = st_writer_new();
    st_writer_meta(w, "format", "pt");
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t shape[2] = {plan[i].rows, plan[i].cols};
        if (plan[i].rows) st_writer_add(w, plan[i].name, o->dtype, 2, shape);
        else st_writer_add(w, plan[i].name, o->dtype, 1, shape + 1);
        total += (uint64_t)(plan[i].rows ? plan[i].rows : 1) * (uint64_t)plan[i].cols * dtype_size(o->dtype);
    }
    int rc = st_writer_begin(w, path);
    float *buf = NULL;
    size_t cap = 0;
    uint64_t done = 0;
    double t0 = now_seconds(), last = t0;
    for (int i = 0; i < n && rc == 0; i++) {
        const Plan *t = &plan[i];
        int64_t rows = t->rows ? t->rows : 1;
        int64_t block = (1 << 22) / t->cols;
        if (block < 1) block = 1;
        if (block > rows) block = rows;
        if ((size_t)(block * t->cols) > cap) {
            free(buf);
            cap = (size_t)(block * t->cols);
            buf = xmalloc(cap * sizeof *buf);
        }
        for (int64_t r0 = 0; r0 < rows && rc == 0; r0 += block) {
            int64_t nr = rows - r0 < block ? rows - r0 : block;
            fill_rows(t, i, o->seed, r0, nr, buf);
            rc = st_writer_write_f32(w, buf, (size_t)(nr * t->cols));
            done += (uint64_t)(nr * t->cols) * dtype_size(o->dtype);
        }
        if (o->progress && total > (256u << 20) && (now_seconds() - last > 2 || i == n - 1)) {
            last = now_seconds();
            fprintf(stderr, "synth: %s: %.2f of %.2f GB (%.0f s)\n", path, done / 1e9, total / 1e9, last - t0);
        }
    }
    free(buf);
    if (rc == 0) rc = st_writer_finish(w);
    st_writer_free(w);
    free(plan);
    return rc;
}

static int write_config(const SynthShape *s, const SynthOptions *o, const char *path) {
    const char *torch = o->dtype == DT_F32 ? "float32" : o->dtype == DT_F16 ? "float16" : "bfloat16";
    json_t *c = json_object();
    json_object_set_new(c, "architectures", json_pack("[s]", s->hf_arch));
    json_object_set_new(c, "model_type", json_string(strcmp(s->hf_arch, "Qwen2ForCausalLM") ? "llama" : "qwen2"));
    json_object_set_new(c, "hidden_size", json_integer(s->dim));
    json_object_set_new(c, "intermediate_size", json_integer(s->hidden_dim));
    json_object_set_new(c, "num_hidden_layers", json_integer(s->n_layers));
    json_object_set_new(c, "num_attention_heads", json_integer(s->n_heads));
    json_object_set_new(c, "num_key_value_heads", json_integer(s->n_kv_heads));
    json_object_set_new(c, "head_dim", json_integer(s->dim / s->n_heads));
    json_object_set_new(c, "vocab_size", json_integer(s->vocab_size));
    json_object_set_new(c, "max_position_embeddings", json_integer(s->max_pos));
    json_object_set_new(c, "rope_theta", json_real(s->rope_theta));
    json_t *rope = rope_scaling_json(&s->rope);
    if (rope) json_object_set_new(c, "rope_scaling", rope);
    json_object_set_new(c, "rms_norm_eps", json_real(1e-5));
    json_object_set_new(c, "hidden_act", json_string("silu"));
    json_object_set_new(c, "tie_word_embeddings", json_boolean(s->tied));
    if (strcmp(s->hf_arch, "Qwen2ForCausalLM"))
        json_object_set_new(c, "attention_bias", json_boolean(s->bias || s->out_bias));
    if (s->out_bias) json_object_set_new(c, "mlp_bias", json_true()); /* (carve reads without gate/up biases) */
    json_object_set_new(c, "torch_dtype", json_string(torch));
    json_object_set_new(c, "carve_synth", json_pack("{s:s, s:I}", "shape", o->shape, "seed", (json_int_t)o->seed));
    char *txt = json_dumps(c, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(c);
    if (!txt) return err_set("%s: cannot encode config", path);
    size_t len = strlen(txt);
    txt = xrealloc(txt, len + 2);
    txt[len++] = '\n';
    int rc = write_file_atomic(path, txt, len);
    free(txt);
    return rc;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int remove_tree(const char *path) {
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return err_set("%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

int synth_model(const SynthOptions *o, const char *out_dir) {
    const SynthShape *base = synth_shape_find(o->shape);
    if (!base) return err_set("%s: unknown synth shape '%s'", out_dir, o->shape);
    SynthShape s = *base;
    if (o->layers > 0) s.n_layers = o->layers;
    if (o->vocab > 0) s.vocab_size = o->vocab;
    if (o->kv_heads > 0) s.n_kv_heads = o->kv_heads;
    if (o->tied >= 0) s.tied = o->tied;
    if (o->bias >= 0) s.bias = o->bias;
    if (o->out_bias) {
        if (!strcmp(s.hf_arch, "Qwen2ForCausalLM"))
            return err_set("%s: shape %s is Qwen2, which has no o_proj bias (output biases need a Llama shape)", out_dir,
                           s.name);
        s.out_bias = true;
    }
    if (o->rope_theta > 0) s.rope_theta = o->rope_theta;
    if (o->rope_scaling) {
        RopeScaling none = NO_SCALING, llama32 = LLAMA32_SCALING;
        RopeScalingType t = !strcmp(o->rope_scaling, "llama3") ? ROPE_SCALING_LLAMA3
                            : !strcmp(o->rope_scaling, "linear") ? ROPE_SCALING_LINEAR
                            : ROPE_SCALING_NONE;
        if (t == ROPE_SCALING_NONE && strcmp(o->rope_scaling, "none"))
            return err_set("%s: unknown RoPE scaling '%s' (none, linear or llama3)", out_dir, o->rope_scaling);
        if (t != s.rope.type) s.rope = t == ROPE_SCALING_LLAMA3 ? llama32 : none;
        s.rope.type = t;
    }
    if (o->rope_factor > 0) s.rope.factor = (float)o->rope_factor;
    if (o->rope_orig > 0) s.rope.orig_max_pos = o->rope_orig;
    if (rope_scaling_check(&s.rope, out_dir) != 0) return -1;
    if (s.n_heads % s.n_kv_heads != 0)
        return err_set("%s: --kv-heads %d does not divide the %d query heads of shape %s", out_dir, s.n_kv_heads,
                       s.n_heads, s.name);
    if (path_exists(out_dir) && !o->force)
        return err_set("%s: already exists (use --force to replace it)", out_dir);
    size_t n = strlen(out_dir) + 32;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", out_dir, (long)getpid());
    if (mkdir(tmp, 0777) != 0) {
        err_set("%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    char *cfg = path_join(tmp, "config.json"), *st = path_join(tmp, "model.safetensors"),
         *tok = path_join(tmp, "tokenizer.json");
    int rc = write_config(&s, o, cfg);
    if (rc == 0) rc = tokenizer_synth_json(tok, s.vocab_size, s.tok_family, o->seed);
    if (rc == 0) rc = write_weights(&s, o, st);
    free(cfg);
    free(st);
    free(tok);
    if (rc == 0 && path_exists(out_dir)) rc = path_is_dir(out_dir) ? remove_tree(out_dir) : remove(out_dir) == 0 ? 0 : err_set("%s: cannot remove: %s", out_dir, strerror(errno));
    if (rc == 0 && rename(tmp, out_dir) != 0) rc = err_set("%s: cannot rename %s into place: %s", out_dir, tmp, strerror(errno));
    if (rc != 0) {
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", err_get());
        remove_tree(tmp);
        err_set("%s", saved);
    }
    free(tmp);
    return rc;
}
