/* cmd_synth — `carve synth`: write a random-weight Hugging Face model of a named shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "runtime/synth/synth.h"
#include "runtime/base/util.h"

static void help(const CliOpt *opts) {
    printf("usage: carve synth --shape NAME --out DIR [options]\n\n"
           "Write a random-weight Hugging Face model directory (config.json, model.safetensors,\n"
           "tokenizer.json), deterministic from the seed. Weights ~ N(0, 1/fan_in), norms ~ 1.\n\noptions:\n");
    cli_print_options(opts);
    printf("\nshapes:\n");
    for (const SynthShape *s = synth_shapes(); s->name; s++)
        printf("  %-12s dim %d, %d layers, %d heads, %d kv, hidden %d, vocab %d, theta %g%s%s%s\n", s->name, s->dim,
               s->n_layers, s->n_heads, s->n_kv_heads, s->hidden_dim, s->vocab_size, s->rope_theta,
               s->tied ? ", tied" : "", s->bias ? ", qkv bias" : "",
               s->rope.type == ROPE_SCALING_LLAMA3 ? ", llama3 rope scaling" : "");
}

int cmd_synth(int argc, char **argv) {
    SynthOptions o = {.dtype = DT_F32, .seed = 1, .tied = -1, .bias = -1, .progress = true};
    const char *out = NULL, *dtype = NULL, *seed = NULL;
    bool quiet = false;
    const CliOpt opts[] = {
        {"shape", 0, OT_STR, &o.shape, 0, 0, "NAME", "a shape of the list below"},
        {"out", 0, OT_STR, &out, 0, 0, "DIR", "output directory (refused if it exists, unless --force)"},
        {"dtype", 0, OT_STR, &dtype, 0, 0, "T", "f32 | f16 | bf16 (default f32)"},
        {"seed", 0, OT_STR, &seed, 0, 0, "S", "random seed of the weights (default 1)"},
        {"layers", 0, OT_INT, &o.layers, 1, 4096, "N", "override the number of layers"},
        {"vocab", 0, OT_INT, &o.vocab, 1, 1 << 24, "V", "override the vocabulary size"},
        {"kv-heads", 0, OT_INT, &o.kv_heads, 1, 4096, "K", "override the number of KV heads (must divide the query heads)"},
        {"tied", 0, OT_INT, &o.tied, 0, 1, "0|1", "tie the classifier to the token embedding"},
        {"bias", 0, OT_INT, &o.bias, 0, 1, "0|1", "q/k/v projection biases"},
        {"out-bias", 0, OT_FLAG, &o.out_bias, 0, 0, NULL, "o_proj / down_proj biases (Llama shapes; test fixtures)"},
        {"rope-scaling", 0, OT_STR, &o.rope_scaling, 0, 0, "T",
         "none | linear | llama3 (RoPE frequency scaling written as config.json\n"
         "rope_scaling; default: the shape's, llama-1b has Llama-3.2's llama3)"},
        {"rope-factor", 0, OT_NUM, &o.rope_factor, 1e-6, 1e6, "F", "scaling factor (required for linear; llama3 default 32)"},
        {"rope-orig", 0, OT_INT, &o.rope_orig, 1, 1 << 30, "N", "llama3 original_max_position_embeddings (default 8192)"},
        {"rope-theta", 0, OT_NUM, &o.rope_theta, 1.0, 1e12, "X", "override the RoPE base"},
        CLI_FORCE_OPT(&o.force),
        CLI_QUIET_OPT(&quiet),
        CLI_COMMON_OPTS,
        {0}};
    int prc = cli_parse("synth", argc, argv, opts, NULL, 0, NULL);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    o.progress = !quiet;
    if (dtype && dtype_parse(dtype, &o.dtype) != 0)
        return cli_usage_error("synth", "--dtype expects f32, f16 or bf16, got '%s'", dtype);
    if (seed) {
        char *end;
        unsigned long long v = strtoull(seed, &end, 10);
        if (end == seed || *end || seed[0] == '-')
            return cli_usage_error("synth", "--seed expects a non-negative integer, got '%s'", seed);
        o.seed = v;
    }
    if (o.rope_scaling && strcmp(o.rope_scaling, "none") && strcmp(o.rope_scaling, "linear") &&
        strcmp(o.rope_scaling, "llama3"))
        return cli_usage_error("synth", "--rope-scaling expects none, linear or llama3, got '%s'", o.rope_scaling);
    if (!o.shape) return cli_usage_error("synth", "--shape is required");
    if (!synth_shape_find(o.shape)) return cli_usage_error("synth", "unknown shape '%s' (see --help)", o.shape);
    if (!out) return cli_usage_error("synth", "--out is required");
    const SynthShape *sh = synth_shape_find(o.shape);
    int scaling = !o.rope_scaling ? (int)sh->rope.type
                  : !strcmp(o.rope_scaling, "llama3") ? ROPE_SCALING_LLAMA3
                  : !strcmp(o.rope_scaling, "linear") ? ROPE_SCALING_LINEAR : ROPE_SCALING_NONE;
    if (scaling == ROPE_SCALING_LINEAR && o.rope_factor <= 0 && sh->rope.type != ROPE_SCALING_LINEAR)
        return cli_usage_error("synth", "--rope-scaling linear needs --rope-factor");
    if (scaling == ROPE_SCALING_NONE && (o.rope_factor > 0 || o.rope_orig > 0))
        return cli_usage_error("synth", "--rope-factor / --rope-orig need --rope-scaling linear or llama3");
    if (scaling == ROPE_SCALING_LINEAR && o.rope_orig > 0)
        return cli_usage_error("synth", "--rope-orig applies to --rope-scaling llama3 only");
    if (synth_model(&o, out) != 0) return cli_fail();
    return 0;
}
