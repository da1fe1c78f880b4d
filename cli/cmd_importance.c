/* cmd_importance — `carve importance`: per-layer importance scores from calibration statistics
 * (layer-level cosines, and per head/channel summaries of saliency, magnitude and FLAP). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/model_open.h"
#include "cli/calib_opts.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "reform/importance.h"

static void help(const CliOpt *opts) {
    printf("usage: carve importance --model PATH --calib FILE [options]\n\n"
           "Per-layer importance from one dense calibration pass: Block Influence (1 - cos between a\n"
           "layer's input and output), attention-alone and MLP-alone (1 - cos across the sublayer),\n"
           "the LLM-Streamline boundary cosines cos(h_i, h_j), and per head / channel scores by\n"
           "saliency, magnitude and FLAP (min / mean / max per layer; all of them with --json).\n\n"
           "options:\n");
    cli_print_options(opts);
}

static json_t *jarr(const double *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, isfinite(v[i]) ? json_real(v[i]) : json_null());
    return a;
}

static void minmeanmax(const double *v, int n, double *mn, double *me, double *mx) {
    *mn = INFINITY, *mx = -INFINITY, *me = 0;
    for (int i = 0; i < n; i++) *mn = fmin(*mn, v[i]), *mx = fmax(*mx, v[i]), *me += v[i];
    *me = n ? *me / n : NAN;
}

int cmd_importance(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL;
    bool json = false;
    double row_weight = 0;
    CalibOpts co;
    calib_opts_init(&co);
    const CliOpt opts[] = {
        CLI_MODEL_OPTS(&model_path, &tok_path),
        CLI_CALIB_OPTS(&co.calib, &co.so),
        {"row-weight", 0, OT_NUM, &row_weight, 0, 1e6, "W", "weight of Q/K/V and gate/up rows in the saliency (default 0)"},
        CLI_JSON_OPT(&json),
        CLI_COMMON_OPTS,
        {0}};
    int prc = cli_parse("importance", argc, argv, opts, NULL, 0, NULL);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    if (!model_path || !co.calib) return cli_usage_error("importance", "--model and --calib are required");
    Model *m = NULL;
    StatsFile *sf = NULL;
    double **h[3] = {0}, **ch[3] = {0};
    int rc = 2, nl;
    if (calib_opts_open(&co, model_path, tok_path, &m) != 0 || stats_open(m, co.calib, &co.so, &sf) != 0) goto done;
    for (int k = 0; k < 3; k++)
        if (importance_all(m, sf, (ImpMethod)k, row_weight, &h[k], &ch[k]) != 0) goto done;
    nl = m->cfg.n_layers;
    double *bi = xmalloc((size_t)nl * sizeof *bi), *ia = xmalloc((size_t)nl * sizeof *ia),
           *im = xmalloc((size_t)nl * sizeof *im);
    importance_layers(sf, bi, ia, im);
    if (json) {
        json_t *root = json_object(), *layers = json_array();
        json_object_set_new(root, "model", json_string(model_path));
        json_object_set_new(root, "calib", json_string(co.calib));
        json_object_set_new(root, "n", json_integer(co.so.N));
        json_object_set_new(root, "len", json_integer(co.so.L));
        json_object_set_new(root, "seed", json_integer((json_int_t)co.so.seed));
        if (co.so.scramble > 0) json_object_set_new(root, "scramble", json_real(co.so.scramble));
        for (int l = 0; l < nl; l++) {
            json_t *e = json_object();
            json_object_set_new(e, "block_influence", json_real(bi[l]));
            json_object_set_new(e, "attn_importance", json_real(ia[l]));
            json_object_set_new(e, "mlp_importance", json_real(im[l]));
            for (int k = 0; k < 3; k++) {
                char key[64];
                snprintf(key, sizeof key, "heads_%s", imp_method_name((ImpMethod)k));
                json_object_set_new(e, key, jarr(h[k][l], m->layers[l].n_heads));
                snprintf(key, sizeof key, "channels_%s", imp_method_name((ImpMethod)k));
                json_object_set_new(e, key, jarr(ch[k][l], m->layers[l].hidden_dim));
            }
            json_array_append_new(layers, e);
        }
        json_object_set_new(root, "layers", layers);
        json_t *bc = json_array();
        for (int i = 0; i <= nl; i++) json_array_append_new(bc, jarr(sf->boundary_cos + (size_t)i * (nl + 1), nl + 1));
        json_object_set_new(root, "boundary_cos", bc);
        char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(8));
        printf("%s\n", s);
        free(s);
        json_decref(root);
    } else {
        printf("calibration: %s, %d windows x %d tokens, seed %llu", co.calib, co.so.N, co.so.L,
               (unsigned long long)co.so.seed);
        if (co.so.scramble > 0) printf(", %g of the words scrambled", co.so.scramble);
        printf("\n");
        printf("%5s %9s %9s %9s  %-32s %-32s\n", "layer", "BI", "attn", "mlp", "head saliency min/mean/max",
               "channel saliency min/mean/max");
        for (int l = 0; l < nl; l++) {
            double a, b, cc, d, e, f;
            minmeanmax(h[0][l], m->layers[l].n_heads, &a, &b, &cc);
            minmeanmax(ch[0][l], m->layers[l].hidden_dim, &d, &e, &f);
            printf("%5d %9.5f %9.5f %9.5f  %9.3g %9.3g %9.3g   %9.3g %9.3g %9.3g\n", l, bi[l], ia[l], im[l], a, b, cc,
                   d, e, f);
        }
        printf("LLM-Streamline span cosines cos(h_i, h_(i+n)) (n = span length):\n");
        for (int n = 1; n <= nl; n++) {
            printf("  n=%d:", n);
            for (int i = 0; i + n <= nl; i++) printf(" %.5f", sf->boundary_cos[(size_t)i * (nl + 1) + i + n]);
            printf("\n");
        }
    }
    free(bi), free(ia), free(im);
    rc = 0;
done:
    if (rc) cli_fail();
    for (int k = 0; k < 3; k++)
        if (h[k]) importance_free(m, h[k], ch[k]);
    stats_close(sf);
    model_free(m);
    return rc;
}
