/* method_eval — calibration windows and their perplexity under a subnet for the registry
 * methods. See method_eval.h. */
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
    EvalOptions eo = {.what = calib_path};
    if (evaluator_create(m, &out->windows, &eo, &out->ev) != 0) {
        windows_free(&out->windows);
        return -1;
    }
    return 0;
}

void method_calib_close(MethodCalib *c) {
    evaluator_free(c->ev);
    windows_free(&c->windows);
    memset(c, 0, sizeof *c);
}

int method_calib_ppl(void *ud, const Subnet *s, double *ppl) {
    MethodCalib *c = ud;
    if (evaluator_ppl(c->ev, s, ppl) != 0) return -1;
    c->n_evals++;
    return 0;
}

int method_calib_task(void *ud, TaskKind kind, bool reform, int stage, const Subnet *s, TaskResult *out) {
    memset(out, 0, sizeof *out);
    if (kind != TASK_FITNESS || reform || stage) return err_set("method: task %d (reform %d) is not a calibration ppl", kind, reform);
    double t0 = now_seconds();
    if (method_calib_ppl(ud, s, &out->v[0]) != 0) return -1;
    out->seconds = now_seconds() - t0;
    return 0;
}
