/* cmd_bench_forward — `carve bench-forward`: forward-pass throughput of a model measured against
 * the sgemm ceiling taken in the same process (used by bench/forward.sh; no assertions, numbers
 * only). Reports, for B sequences of T random tokens:
 *   - ceiling: cblas_sgemm GFLOP/s (OpenBLAS's own threading) on the model's largest projection,
 *     (B*T x dim) . (hidden x dim)^T, best of measurements interleaved with the forward repetitions;
 *   - dense: tokens/s, GFLOP/s (forward_flops / time) and its share of the ceiling;
 *   - a 50% subnet (the first half of the query heads and of the MLP channels in every layer):
 *     whole-forward and layers-only time relative to dense, and the FLOP ratio. */
#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "runtime/blas.h"
#include "runtime/forward.h"
#include "runtime/model.h"
#include "runtime/subnet.h"

typedef struct {
    double whole, layers; /* best seconds of forward_nll and of the layers alone */
} Timing;

static double sgemm_ceiling(int n, int in, int out, int reps);

/* Best-of-reps forward timings; the sgemm ceiling is re-measured between repetitions (best kept
 * in *ceil) so that both figures see the same machine conditions. */
static int time_forward(Forward *f, const int32_t *tok, int B, int T, int dim, int hidden, int n_layers, int reps,
                        Timing *out, double *ceil) {
    float *x = xmalloc_aligned((size_t)B * T * dim * sizeof(float));
    double nll = 0;
    int64_t n = 0;
    if (forward_nll(f, tok, B, T, NULL, &nll, &n) != 0) { /* warm-up: builds the compact weights */
        free(x);
        return -1;
    }
    out->whole = out->layers = 1e30;
    int rc = 0;
    for (int r = 0; r < reps && rc == 0; r++) {
        double c = sgemm_ceiling(B * T, dim, hidden, 2);
        if (c > *ceil) *ceil = c;
        double t0 = now_seconds();
        rc = forward_nll(f, tok, B, T, NULL, &nll, &n);
        double t1 = now_seconds();
        if (t1 - t0 < out->whole) out->whole = t1 - t0;
        if (rc == 0) rc = forward_embed(f, tok, B, T, x);
        double t2 = now_seconds();
        for (int l = 0; l < n_layers && rc == 0; l++) rc = forward_layer(f, l, x, B, T, NULL);
        double t3 = now_seconds();
        if (t3 - t2 < out->layers) out->layers = t3 - t2;
    }
    free(x);
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

int cmd_bench_forward(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'}, {"seq-len", required_argument, 0, 't'},
                                         {"batch", required_argument, 0, 'b'}, {"reps", required_argument, 0, 'r'},
                                         {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *path = NULL;
    long T = 512, B = 1, reps = 3;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': path = optarg; break;
        case 't': if (!cli_parse_int("bench-forward", "--seq-len", optarg, 2, 1 << 16, &T)) return 1; break;
        case 'b': if (!cli_parse_int("bench-forward", "--batch", optarg, 1, 1024, &B)) return 1; break;
        case 'r': if (!cli_parse_int("bench-forward", "--reps", optarg, 1, 1000, &reps)) return 1; break;
        case 'h':
            printf("usage: carve bench-forward --model PATH [--seq-len 512] [--batch 1] [--reps 3]\n\n"
                   "Benchmark (used by bench/forward.sh): dense forward tokens/s and GFLOP/s as a share of the\n"
                   "sgemm ceiling measured in the same run, and a 50%% subnet's time relative to dense.\n");
            return 0;
        default: return cli_usage_error("bench-forward", "unknown option");
        }
    }
    if (!path) return cli_usage_error("bench-forward", "--model is required");
    Model *m = NULL;
    if (model_open(path, &m) != 0) return cli_fail();
    const ModelConfig *cf = &m->cfg;
    int rc = 2;
    Forward *f = NULL;
    Subnet *half = NULL;
    int32_t *tok = xmalloc((size_t)B * T * sizeof *tok);
    uint64_t st = 42;
    for (long i = 0; i < B * T; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        tok[i] = (int32_t)((st >> 33) % (uint64_t)cf->vocab_size);
    }
    printf("model=%s dim=%d layers=%d heads=%d kv_heads=%d hidden=%d vocab=%d batch=%ld seq_len=%ld\n", path, cf->dim,
           cf->n_layers, cf->n_heads, cf->n_kv_heads, cf->hidden_dim, cf->vocab_size, B, T);
    printf("blas: %s\n", blas_describe());
    double ceil = 0;
    if (forward_create(m, NULL, NULL, &f) != 0) goto done;
    Timing dense, sub;
    if (time_forward(f, tok, (int)B, (int)T, cf->dim, cf->hidden_dim, cf->n_layers, (int)reps, &dense, &ceil) != 0)
        goto done;
    printf("sgemm_ceiling_gflops=%.1f shape=(%ld x %d).(%d x %d)^T\n", ceil, B * T, cf->dim, cf->hidden_dim, cf->dim);
    double fl_dense = forward_flops(f, (int)B, (int)T), gfl = fl_dense / dense.whole / 1e9;
    printf("dense: seconds=%.4f tokens_per_s=%.1f gflops=%.1f share_of_ceiling=%.3f layers_seconds=%.4f\n", dense.whole,
           (double)B * T / dense.whole, gfl, gfl / ceil, dense.layers);
    half = subnet_dense(m);
    for (int l = 0; l < half->n_layers; l++) {
        SubnetLayer *L = &half->layers[l];
        for (int h = L->n_heads / 2; h < L->n_heads; h++) L->head_keep[h] = 0;
        for (int k = L->hidden_dim / 2; k < L->hidden_dim; k++) L->chan_keep[k] = 0;
    }
    subnet_canonicalize(half);
    if (forward_set_subnet(f, half) != 0) goto done;
    if (time_forward(f, tok, (int)B, (int)T, cf->dim, cf->hidden_dim, cf->n_layers, (int)reps, &sub, &ceil) != 0)
        goto done;
    double fl_sub = forward_flops(f, (int)B, (int)T);
    printf("subnet50: seconds=%.4f time_ratio=%.3f layers_time_ratio=%.3f flops_ratio=%.3f layers_seconds=%.4f\n",
           sub.whole, sub.whole / dense.whole, sub.layers / dense.layers, fl_sub / fl_dense, sub.layers);
    printf("peak_rss_mb=%.0f\n", (double)peak_rss_bytes() / 1048576.0);
    rc = 0;
done:
    if (rc) cli_fail();
    subnet_free(half);
    forward_free(f);
    free(tok);
    model_free(m);
    return rc;
}
