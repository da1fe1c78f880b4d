/* cmd_bench_forward — `carve bench-forward`: forward-pass throughput of a model measured against
 * the sgemm ceiling taken in the same process (used by bench/forward.sh; no assertions, numbers
 * only). Reports, for B sequences of T random tokens:
 *   - ceiling: cblas_sgemm GFLOP/s (OpenBLAS's own threading) on the model's largest projection,
 *     (B*T x dim) . (hidden x dim)^T, best of measurements interleaved with the forward repetitions;
 *   - dense: tokens/s, GFLOP/s (forward_flops / time) and its share of the ceiling;
 *   - two 50% subnets, each keeping the first r of the query heads and of the MLP channels in every
 *     layer: "layers50" halves every layer (r = 1/2; the never-pruned classifier keeps the whole
 *     forward's FLOP ratio near 0.6), "flops50" takes the largest r whose whole forward costs at
 *     most half the dense FLOPs. For each: whole-forward and layers-only time relative to dense,
 *     and the FLOP ratio.
 * Each repetition measures the ceiling, then dense, layers50 and flops50 in turn; every figure is
 * the best over the repetitions, so ratios compare measurements taken side by side. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "eval/cost.h"
#include "runtime/base/blas.h"
#include "runtime/forward/forward.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/model/subnet.h"

typedef struct {
    double whole, layers; /* best seconds of forward_nll and of the layers alone */
} Timing;

/* One timed repetition of forward f: the whole forward_nll, then embedding + layers alone. */
static int time_once(Forward *f, const int32_t *tok, int B, int T, int n_layers, float *x, Timing *best) {
    double nll = 0;
    int64_t n = 0;
    double t0 = now_seconds();
    int rc = forward_nll(f, tok, B, T, NULL, &nll, &n);
    double t1 = now_seconds();
    if (t1 - t0 < best->whole) best->whole = t1 - t0;
    if (rc == 0) rc = forward_embed(f, tok, B, T, x);
    double t2 = now_seconds();
    for (int l = 0; l < n_layers && rc == 0; l++) rc = forward_layer(f, l, x, B, T, NULL);
    double t3 = now_seconds();
    if (t3 - t2 < best->layers) best->layers = t3 - t2;
    return rc;
}

static double sgemm_ceiling(int n, int in, int out, int reps) {
    float *a = xmalloc_aligned((size_t)n * in * sizeof(float)), *w = xmalloc_aligned((size_t)out * in * sizeof(float));
    float *c = xmalloc_aligned((size_t)n * out * sizeof(float));
    for (size_t i = 0; i < (size_t)n * in; i++) a[i] = (float)(i % 97) * 0.01f;
    for (size_t i = 0; i < (size_t)out * in; i++) w[i] = (float)(i % 89) * 0.01f;
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, a, in, w, in, 0.0f, c, out);
        double t = now_seconds() - t0;
        if (r > 0 && t < best) best = t;
    }
    free(a);
    free(w);
    free(c);
    return 2.0 * n * in * out / best / 1e9;
}

/* A subnet keeping the first floor(r x n) query heads (at least one) and MLP channels of every layer. */
static Subnet *subnet_keep_fraction(const Model *m, double r) {
    Subnet *s = subnet_dense(m);
    for (int l = 0; l < s->n_layers; l++) {
        SubnetLayer *L = &s->layers[l];
        int kh = (int)(r * L->n_heads), kc = (int)(r * L->hidden_dim);
        if (kh < 1) kh = 1;
        for (int h = kh; h < L->n_heads; h++) L->head_keep[h] = 0;
        for (int k = kc; k < L->hidden_dim; k++) L->chan_keep[k] = 0;
    }
    subnet_canonicalize(s);
    return s;
}

/* The subnet_keep_fraction with the largest r (in steps of 1/1000) whose whole forward, classifier
 * included, costs at most half the dense model's FLOPs per token at sequence length T. */
static Subnet *subnet_half_flops(const Model *m, int T) {
    double dense = cost_of(m, NULL, T).flops_per_token;
    for (int k = 500; k > 0; k--) {
        Subnet *s = subnet_keep_fraction(m, k / 1000.0);
        if (cost_of(m, s, T).flops_per_token <= 0.5 * dense) return s;
        subnet_free(s);
    }
    return subnet_keep_fraction(m, 0.0);
}

static void help(const CliOpt *opts) {
    printf("usage: carve bench-forward --model PATH [--seq-len N] [--batch B] [--reps 3]\n\n"
           "Benchmark (used by bench/forward.sh): dense forward tokens/s and GFLOP/s as a share of the\n"
           "sgemm ceiling measured in the same run, and the time of two 50%% subnets relative to dense:\n"
           "half of every layer (layers50) and half of the whole forward's FLOPs (flops50).\n\noptions:\n");
    cli_print_options(opts);
}

int cmd_bench_forward(int argc, char **argv) {
    const char *path = NULL, *tok_path = NULL;
    int T = CLI_SEQ_LEN_DEFAULT, B = 0, reps = 3;
    const CliOpt opts[] = {CLI_MODEL_OPTS(&path, &tok_path),
                           CLI_SEQ_LEN_OPT(&T),
                           CLI_BATCH_OPT(&B),
                           {"reps", 0, OT_INT, &reps, 1, 1000, "K", "timed repetitions, the best counts (default 3)"},
                           CLI_COMMON_OPTS,
                           {0}};
    int prc = cli_parse("bench-forward", argc, argv, opts, NULL, 0, NULL);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    if (!B) B = CLI_BATCH_TOKENS / T > 0 ? CLI_BATCH_TOKENS / T : 1;
    if (!path) return cli_usage_error("bench-forward", "--model is required");
    Model *m = NULL;
    if (model_open_tok(path, tok_path, &m) != 0) return cli_fail();
    if (model_check_window(m, T, path, "--seq-len")) {
        model_free(m);
        return cli_fail();
    }
    const ModelConfig *cf = &m->cfg;
    int rc = 2;
    enum { NF = 3 };
    Forward *f[NF] = {0};
    Subnet *sub[NF] = {0};
    float *x = xmalloc_aligned((size_t)B * T * cf->dim * sizeof(float));
    int32_t *tok = xmalloc((size_t)B * T * sizeof *tok);
    uint64_t st = 42;
    for (long i = 0; i < B * T; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        tok[i] = (int32_t)((st >> 33) % (uint64_t)cf->vocab_size);
    }
    printf("model=%s dim=%d layers=%d heads=%d kv_heads=%d hidden=%d vocab=%d batch=%d seq_len=%d\n", path, cf->dim,
           cf->n_layers, cf->n_heads, cf->n_kv_heads, cf->hidden_dim, cf->vocab_size, B, T);
    printf("blas: %s\n", blas_describe());
    /* forwards: dense, layers50, flops50 — each warmed up once (builds the compact weights), then
     * timed in turns with the sgemm ceiling in every repetition, best of each kept, so that all
     * figures see the same machine conditions */
    const char *names[NF] = {"dense", "layers50", "flops50"};
    sub[1] = subnet_keep_fraction(m, 0.5);
    sub[2] = subnet_half_flops(m, (int)T);
    Timing best[NF];
    double ceil = 0, fl[NF];
    for (int k = 0; k < NF; k++) {
        if (forward_create(m, sub[k], NULL, &f[k]) != 0) goto done;
        double nll = 0;
        int64_t n = 0;
        if (forward_nll(f[k], tok, (int)B, (int)T, NULL, &nll, &n) != 0) goto done;
        fl[k] = forward_flops(f[k], (int)B, (int)T);
        best[k].whole = best[k].layers = 1e30;
    }
    for (int r = 0; r < reps; r++) {
        double cg = sgemm_ceiling((int)(B * T), cf->dim, cf->hidden_dim, 2);
        if (cg > ceil) ceil = cg;
        for (int k = 0; k < NF; k++)
            if (time_once(f[k], tok, (int)B, (int)T, cf->n_layers, x, &best[k]) != 0) goto done;
    }
    printf("sgemm_ceiling_gflops=%.1f shape=(%d x %d).(%d x %d)^T\n", ceil, B * T, cf->dim, cf->hidden_dim, cf->dim);
    double gfl = fl[0] / best[0].whole / 1e9;
    printf("dense: seconds=%.4f tokens_per_s=%.1f gflops=%.1f share_of_ceiling=%.3f layers_seconds=%.4f\n",
           best[0].whole, (double)B * T / best[0].whole, gfl, gfl / ceil, best[0].layers);
    for (int k = 1; k < NF; k++)
        printf("subnet %s: keep_heads=%d/%d keep_channels=%d/%d seconds=%.4f time_ratio=%.3f layers_time_ratio=%.3f "
               "flops_ratio=%.3f layers_seconds=%.4f\n",
               names[k], subnet_kept_heads(&sub[k]->layers[0]), cf->n_heads, subnet_kept_channels(&sub[k]->layers[0]),
               cf->hidden_dim, best[k].whole, best[k].whole / best[0].whole, best[k].layers / best[0].layers,
               fl[k] / fl[0], best[k].layers);
    printf("peak_rss_mb=%.0f\n", (double)peak_rss_bytes() / 1048576.0);
    rc = 0;
done:
    if (rc) cli_fail();
    for (int k = 0; k < NF; k++) {
        forward_free(f[k]);
        subnet_free(sub[k]);
    }
    free(x);
    free(tok);
    model_free(m);
    return rc;
}
