/* method_eval — calibration windows and their perplexity under a subnet for the registry
 * methods. See method_eval.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search/method_eval.h"

int method_calib_open(const Model *m, const char *calib_path, int n_windows, int seq_len, uint64_t seed,
                      MethodCalib *out) {
    memset(out, 0, sizeof *out);
    out->model = m;
    out->path = calib_path;
    out->seed = seed;
    if (!m->tokenizer) return err_set("%s: no tokenizer found with the model", m->path ? m->path : "model");
    int32_t *ids;
    size_t n;
    if (text_tokenize_file(m->tokenizer, calib_path, &ids, &n) != 0) return -1;
    int rc = windows_sample(ids, n, n_windows, seq_len, seed, calib_path, &out->windows);
    free(ids);
    if (rc != 0) return -1;
    if (forward_create(m, NULL, NULL, &out->fwd) != 0) {
        windows_free(&out->windows);
        return -1;
    }
    return 0;
}

void method_calib_close(MethodCalib *c) {
    if (c->fwd) forward_free(c->fwd);
    windows_free(&c->windows);
    memset(c, 0, sizeof *c);
}

int method_calib_ppl(void *ud, const Subnet *s, double *ppl) {
    MethodCalib *c = ud;
    if (forward_set_subnet(c->fwd, s) != 0) return -1;
    /* batches of whole windows, at most 4096 tokens per forward call */
    int T = c->windows.len, B = T >= 4096 ? 1 : 4096 / T;
    double nll = 0;
    int64_t scored = 0;
    for (int w = 0; w < c->windows.n; w += B) {
        int b = c->windows.n - w < B ? c->windows.n - w : B;
        if (forward_nll(c->fwd, c->windows.tokens + (size_t)w * (size_t)T, b, T, NULL, &nll, &scored) != 0) return -1;
    }
    if (scored == 0) return err_set("calibration: no scored tokens");
    *ppl = exp(nll / (double)scored);
    c->n_evals++;
    return 0;
}
