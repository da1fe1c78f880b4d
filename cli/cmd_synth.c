/* cmd_synth — `carve synth`: write a random-weight Hugging Face model of a named shape. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "runtime/synth/synth.h"
#include "runtime/base/util.h"

static void help(void) {
    printf("usage: carve synth --shape NAME --out DIR [options]\n\n"
           "Write a random-weight Hugging Face model directory (config.json, model.safetensors,\n"
           "tokenizer.json), deterministic from the seed. Weights ~ N(0, 1/fan_in), norms ~ 1.\n\n"
           "  --shape NAME     one of:");
    for (const SynthShape *s = synth_shapes(); s->name; s++) printf(" %s", s->name);
    printf("\n"
           "  --out DIR        output directory (refused if it exists, unless --force)\n"
           "  --dtype T        f32 | f16 | bf16 (default f32)\n"
           "  --seed S         random seed (default 1)\n"
           "  --layers N       override the number of layers\n"
           "  --vocab V        override the vocabulary size\n"
           "  --kv-heads K     override the number of KV heads (must divide the query heads)\n"
           "  --tied 0|1       tie the classifier to the token embedding\n"
           "  --bias 0|1       q/k/v projection biases\n"
           "  --rope-scaling T none | linear | llama3 (RoPE frequency scaling written as config.json\n"
           "                   rope_scaling; default: the shape's, llama-1b has Llama-3.2's llama3)\n"
           "  --rope-factor F  scaling factor (required for linear; llama3 default 32)\n"
           "  --rope-orig N    llama3 original_max_position_embeddings (default 8192)\n"
           "  --rope-theta X   override the RoPE base\n"
           "  --force          replace an existing DIR\n"
           "  --quiet          no progress lines\n\nshapes:\n");
    for (const SynthShape *s = synth_shapes(); s->name; s++)
        printf("  %-12s dim %d, %d layers, %d heads, %d kv, hidden %d, vocab %d, theta %g%s%s%s\n", s->name, s->dim,
               s->n_layers, s->n_heads, s->n_kv_heads, s->hidden_dim, s->vocab_size, s->rope_theta,
               s->tied ? ", tied" : "", s->bias ? ", qkv bias" : "",
               s->rope.type == ROPE_SCALING_LLAMA3 ? ", llama3 rope scaling" : "");
}

int cmd_synth(int argc, char **argv) {
    static const struct option opts[] = {
        {"shape", required_argument, 0, 's'}, {"dtype", required_argument, 0, 'd'},
        {"seed", required_argument, 0, 'S'},  {"out", required_argument, 0, 'o'},
        {"layers", required_argument, 0, 'l'}, {"vocab", required_argument, 0, 'V'},
        {"tied", required_argument, 0, 't'},  {"bias", required_argument, 0, 'b'},
        {"kv-heads", required_argument, 0, 'k'}, {"force", no_argument, 0, 'f'},
        {"quiet", no_argument, 0, 'q'},       {"help", no_argument, 0, 'h'},
        {"rope-scaling", required_argument, 0, 'R'}, {"rope-factor", required_argument, 0, 'F'},
        {"rope-orig", required_argument, 0, 'O'}, {"rope-theta", required_argument, 0, 'T'},
        {0, 0, 0, 0}};
    SynthOptions o = {.dtype = DT_F32, .seed = 1, .tied = -1, .bias = -1, .progress = true};
    const char *out = NULL;
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': o.shape = optarg; break;
        case 'd':
            if (dtype_parse(optarg, &o.dtype) != 0) return cli_usage_error("synth", "--dtype expects f32, f16 or bf16, got '%s'", optarg);
            break;
        case 'S': {
            char *end;
            unsigned long long s = strtoull(optarg, &end, 10);
            if (end == optarg || *end || optarg[0] == '-') return cli_usage_error("synth", "--seed expects a non-negative integer, got '%s'", optarg);
            o.seed = s;
            break;
        }
        case 'o': out = optarg; break;
        case 'l': if (!cli_parse_int("synth", "--layers", optarg, 1, 4096, &v)) return 1; o.layers = (int)v; break;
        case 'V': if (!cli_parse_int("synth", "--vocab", optarg, 1, 1 << 24, &v)) return 1; o.vocab = (int)v; break;
        case 'k': if (!cli_parse_int("synth", "--kv-heads", optarg, 1, 4096, &v)) return 1; o.kv_heads = (int)v; break;
        case 't': if (!cli_parse_int("synth", "--tied", optarg, 0, 1, &v)) return 1; o.tied = (int)v; break;
        case 'b': if (!cli_parse_int("synth", "--bias", optarg, 0, 1, &v)) return 1; o.bias = (int)v; break;
        case 'R':
            if (strcmp(optarg, "none") && strcmp(optarg, "linear") && strcmp(optarg, "llama3"))
                return cli_usage_error("synth", "--rope-scaling expects none, linear or llama3, got '%s'", optarg);
            o.rope_scaling = optarg;
            break;
        case 'F': if (!cli_parse_double("synth", "--rope-factor", optarg, 1e-6, 1e6, &o.rope_factor)) return 1; break;
        case 'O': if (!cli_parse_int("synth", "--rope-orig", optarg, 1, 1 << 30, &v)) return 1; o.rope_orig = (int)v; break;
        case 'T': if (!cli_parse_double("synth", "--rope-theta", optarg, 1.0, 1e12, &o.rope_theta)) return 1; break;
        case 'f': o.force = true; break;
        case 'q': o.progress = false; break;
        case 'h': help(); return 0;
        default: return cli_usage_error("synth", "unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("synth", "unexpected argument '%s'", argv[optind]);
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
