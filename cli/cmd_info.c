/* cmd_info — `carve info`: architecture, dimensions, per-layer summary of heterogeneous
 * models, storage dtype, parameter counts and FLOPs per token of a model or a subnet. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "eval/cost.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/model/rope.h"
#include "runtime/model/subnet.h"
#include "runtime/tokenizer/tokenizer.h"

static void help(const CliOpt *opts) {
    printf("usage: carve info --model PATH [--subnet FILE] [--seq-len N] [--json]\n\n"
           "Print a model's architecture, dimensions, storage dtype, parameter counts, tokenizer and\n"
           "FLOPs per token (attention at --seq-len tokens) of the dense model or of a subnet (with its\n"
           "kept cost and ratios). PATH: a Hugging Face directory, a .gguf file or a llama2.c checkpoint.\n\n"
           "options:\n");
    cli_print_options(opts);
}

/* "F32", "BF16", or "BF16+F32" when the weights mix dtypes. */
static void dtype_summary(const Model *m, char *buf, size_t n) {
    bool seen[3] = {false, false, false};
    const Tensor *top[] = {&m->tok_embedding, &m->final_norm, &m->classifier};
    for (int i = 0; i < 3; i++)
        if (top[i]->data) seen[top[i]->dtype] = true;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const LayerWeights *L = &m->layers[l];
        const Tensor *ts[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->bq, &L->bk, &L->bv, &L->wo,
                              &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down, &L->replace};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            if (ts[i]->data) seen[ts[i]->dtype] = true;
    }
    buf[0] = 0;
    const DType order[3] = {DT_BF16, DT_F16, DT_F32};
    for (int i = 0; i < 3; i++)
        if (seen[order[i]]) {
            size_t k = strlen(buf);
            snprintf(buf + k, n - k, "%s%s", k ? "+" : "", dtype_name(order[i]));
        }
}

static const char *tok_kind(const Tokenizer *t) {
    const char *k = tokenizer_gguf_model(t);
    return k && !strcmp(k, "gpt2") ? "byte-level BPE" : "sentencepiece-style BPE";
}

static const char *rope_name(RopeLayout r) { return r == ROPE_HALF ? "half (HF rotate_half)" : "interleaved"; }

static json_t *layer_json(const LayerWeights *L) {
    if (L->replace.data) return json_pack("{s:b}", "replace", 1);
    return json_pack("{s:i, s:i, s:i}", "n_heads", L->n_heads, "n_kv_heads", L->n_kv_heads, "hidden_dim",
                     L->hidden_dim);
}

static void print_json(const Model *m, const char *dtypes, const Cost *dense, const Subnet *s, const Cost *sub,
                       double pr, double fr, int seq_len) {
    const ModelConfig *c = &m->cfg;
    ParamCount pc = model_param_count(m);
    json_t *o = json_object();
    json_object_set_new(o, "path", json_string(m->path));
    json_object_set_new(o, "format", json_string(m->format));
    json_object_set_new(o, "arch", json_string(c->arch));
    json_object_set_new(o, "dim", json_integer(c->dim));
    json_object_set_new(o, "n_layers", json_integer(c->n_layers));
    json_object_set_new(o, "n_heads", json_integer(c->n_heads));
    json_object_set_new(o, "n_kv_heads", json_integer(c->n_kv_heads));
    json_object_set_new(o, "head_dim", json_integer(c->head_dim));
    json_object_set_new(o, "hidden_dim", json_integer(c->hidden_dim));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "max_seq_len", json_integer(c->max_seq_len));
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "norm_eps", json_real(c->norm_eps));
    json_object_set_new(o, "rope_layout", json_string(c->rope_layout == ROPE_HALF ? "half" : "interleaved"));
    json_t *rs = rope_scaling_json(&c->rope_scaling); /* as in config.json; null = none */
    json_object_set_new(o, "rope_scaling", rs ? rs : json_null());
    json_object_set_new(o, "rope_freqs", json_boolean(m->rope_freqs.data != NULL)); /* GGUF per-pair table */
    json_object_set_new(o, "tied_embeddings", json_boolean(c->tied_embeddings));
    json_object_set_new(o, "qkv_bias", json_boolean(c->qkv_bias));
    json_object_set_new(o, "heterogeneous", json_boolean(c->heterogeneous));
    json_object_set_new(o, "dtype", json_string(dtypes));
    if (c->heterogeneous) {
        json_t *ls = json_array();
        for (int l = 0; l < c->n_layers; l++) json_array_append_new(ls, layer_json(&m->layers[l]));
        json_object_set_new(o, "layers", ls);
    }
    json_object_set_new(o, "params", json_pack("{s:I, s:I, s:I, s:I, s:I}", "embedding", (json_int_t)pc.embedding,
                                               "classifier", (json_int_t)pc.classifier, "layers",
                                               (json_int_t)pc.layers, "other", (json_int_t)pc.other, "total",
                                               (json_int_t)dense->params_total));
    json_object_set_new(o, "seq_len", json_integer(seq_len));
    json_object_set_new(o, "flops_per_token", json_real(dense->flops_per_token));
    json_object_set_new(o, "flops_layers", json_real(dense->flops_layers));
    if (s)
        json_object_set_new(o, "subnet",
                            json_pack("{s:I, s:I, s:f, s:f, s:f, s:f}", "params_layers",
                                      (json_int_t)sub->params_layers, "params_total", (json_int_t)sub->params_total,
                                      "flops_per_token", sub->flops_per_token, "flops_layers", sub->flops_layers,
                                      "params_ratio", pr, "flops_ratio", fr));
    if (m->tokenizer)
        json_object_set_new(o, "tokenizer", json_pack("{s:s, s:s, s:i}", "kind", tok_kind(m->tokenizer), "gguf_model",
                                                      tokenizer_gguf_model(m->tokenizer), "vocab",
                                                      tokenizer_vocab_size(m->tokenizer)));
    else json_object_set_new(o, "tokenizer", json_null());
    char *txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (txt) printf("%s\n", txt);
    free(txt);
}

static void print_layer(int l, const LayerWeights *L) {
    if (L->replace.data) {
        printf("  layer %2d: replaced by a fitted linear map\n", l);
        return;
    }
    printf("  layer %2d: ", l);
    if (L->n_heads > 0) printf("attention %d heads / %d kv", L->n_heads, L->n_kv_heads);
    else printf("attention off");
    if (L->hidden_dim > 0) printf(", mlp %d\n", L->hidden_dim);
    else printf(", mlp off\n");
}

static void print_text(const Model *m, const char *dtypes, const Cost *dense, const Subnet *s, const Cost *sub,
                       double pr, double fr, int seq_len, const char *subnet_path) {
    const ModelConfig *c = &m->cfg;
    ParamCount pc = model_param_count(m);
    printf("model:        %s (%s)\n", m->path, m->format);
    printf("arch:         %s%s%s%s\n", c->arch, c->tied_embeddings ? ", tied embeddings" : ", untied embeddings",
           c->qkv_bias ? ", q/k/v bias" : "", c->heterogeneous ? ", heterogeneous layers" : "");
    printf("dims:         dim %d, %d layers, %d heads x %d, %d kv heads, hidden %d, vocab %d, max_seq_len %d\n",
           c->dim, c->n_layers, c->n_heads, c->head_dim, c->n_kv_heads, c->hidden_dim, c->vocab_size,
           c->max_seq_len);
    char scaling[160];
    rope_scaling_describe(m, scaling, sizeof scaling);
    printf("rope:         %s, theta %g, scaling %s; rms norm eps %g\n", rope_name(c->rope_layout), c->rope_theta,
           scaling, c->norm_eps);
    printf("dtype:        %s\n", dtypes);
    if (c->heterogeneous)
        for (int l = 0; l < c->n_layers; l++) print_layer(l, &m->layers[l]);
    printf("params:       %lld total: embedding %lld, classifier %lld, layers %lld, final norm %lld\n",
           (long long)dense->params_total, (long long)pc.embedding, (long long)pc.classifier, (long long)pc.layers,
           (long long)pc.other);
    printf("flops/token:  %.4g at seq_len %d (layers %.4g)\n", dense->flops_per_token, seq_len, dense->flops_layers);
    if (s) {
        printf("subnet:       %s\n", subnet_path);
        printf("  params:     %lld total, layers %lld (%.2f%% of dense non-embedding)\n",
               (long long)sub->params_total, (long long)sub->params_layers, 100 * pr);
        printf("  flops:      %.4g per token, layers %.4g (%.2f%% of dense layer FLOPs)\n", sub->flops_per_token,
               sub->flops_layers, 100 * fr);
    }
    if (m->tokenizer) {
        const char *pre = tokenizer_gguf_pre(m->tokenizer);
        printf("tokenizer:    %s, %d tokens%s%s\n", tok_kind(m->tokenizer), tokenizer_vocab_size(m->tokenizer),
               pre ? ", pre-tokenizer " : "", pre ? pre : "");
    } else printf("tokenizer:    none found\n");
}

int cmd_info(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *subnet_path = NULL;
    int seq_len = CLI_SEQ_LEN_DEFAULT;
    bool json = false;
    const CliOpt opts[] = {CLI_MODEL_OPTS(&model_path, &tok_path), CLI_SUBNET_OPT(&subnet_path), CLI_SEQ_LEN_OPT(&seq_len),
                           CLI_JSON_OPT(&json), CLI_COMMON_OPTS, {0}};
    int prc = cli_parse("info", argc, argv, opts, NULL, 0, NULL);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    if (!model_path) return cli_usage_error("info", "--model is required");
    Model *m;
    if (model_open_tok(model_path, tok_path, &m) != 0) return cli_fail();
    Subnet *s = NULL;
    if (subnet_path && subnet_read_file(subnet_path, m, &s) != 0) {
        model_free(m);
        return cli_fail();
    }
    char dtypes[32];
    dtype_summary(m, dtypes, sizeof dtypes);
    Cost dense = cost_of(m, NULL, (int)seq_len), sub = {0};
    double pr = 1, fr = 1;
    if (s) {
        sub = cost_of(m, s, (int)seq_len);
        pr = cost_ratio(m, s, COST_PARAMS, (int)seq_len);
        fr = cost_ratio(m, s, COST_FLOPS, (int)seq_len);
    }
    if (json) print_json(m, dtypes, &dense, s, &sub, pr, fr, (int)seq_len);
    else print_text(m, dtypes, &dense, s, &sub, pr, fr, (int)seq_len, subnet_path);
    subnet_free(s);
    model_free(m);
    return 0;
}
