/* testutil — helpers shared by the Check test programs: where ../shared is, a scratch
 * directory, running a suite. Header-only so each test binary stays self-contained. */
#ifndef CARVE_TESTUTIL_H
#define CARVE_TESTUTIL_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/model/model.h"
#include "runtime/base/util.h"

/* Path to a file in ../shared (or $CARVE_SHARED), or NULL when it is absent. Caller frees. */
static inline char *shared_path(const char *rel) {
    const char *root = getenv("CARVE_SHARED");
    char *p = path_join(root ? root : "../shared", rel);
    if (!path_exists(p)) {
        free(p);
        return NULL;
    }
    return p;
}

/* A fresh scratch directory under $CARVE_TEST_TMP or /tmp. Caller frees the string. */
static inline char *test_tmpdir(const char *tag) {
    const char *base = getenv("CARVE_TEST_TMP");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/%s.XXXXXX", base ? base : "/tmp", tag);
    char *d = mkdtemp(tmpl);
    ck_assert_msg(d != NULL, "mkdtemp failed");
    return xstrdup(d);
}

/* Remove a scratch directory made by test_tmpdir, with everything in it. */
static inline void test_rmtree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* dir/name <- n doubles (raw little-endian f64, what the numpy references read with np.fromfile). */
static inline void test_write_f64(const char *dir, const char *name, const double *x, size_t n) {
    char *p = path_join(dir, name);
    ck_assert_int_eq(write_file_atomic(p, x, n * sizeof *x), 0);
    free(p);
}

/* x <- the n doubles of dir/name (the file must hold exactly that many). */
static inline void test_read_f64(const char *dir, const char *name, double *x, size_t n) {
    char *p = path_join(dir, name);
    size_t len = 0;
    char *data = read_file(p, &len);
    ck_assert_msg(data && len == n * sizeof *x, "%s: not %zu doubles", p, n);
    memcpy(x, data, len);
    free(data);
    free(p);
}

/* Run `$PYTHON script dir` (default /usr/bin/python3); its exit status (77: numpy missing, skip),
 * asserting it is 0 or 77. */
static inline int test_run_python(const char *script, const char *dir) {
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", py, script, dir);
    int rc = system(cmd), status = (rc != -1 && WIFEXITED(rc)) ? WEXITSTATUS(rc) : -1;
    ck_assert_msg(status == 0 || status == 77, "%s failed (status %d)", script, status);
    return status;
}

/* The files the least-squares references (tests/ref_reform.py, tests/ref_intercept.py) read from
 * dir: meta.txt "m n k T lambda_frac", X.f64 (n, T), Xt.f64 (k, T), W.f64 (m, n), idx.txt (k). */
static inline void test_write_lsq_case(const char *dir, int m, int n, int k, int T, double lambda_frac,
                                       const double *X, const double *Xt, const double *W, const int *idx) {
    test_write_f64(dir, "X.f64", X, (size_t)n * T);
    test_write_f64(dir, "Xt.f64", Xt, (size_t)k * T);
    test_write_f64(dir, "W.f64", W, (size_t)m * n);
    char buf[8192], *p;
    int len = snprintf(buf, sizeof buf, "%d %d %d %d %.17g\n", m, n, k, T, lambda_frac);
    p = path_join(dir, "meta.txt");
    ck_assert_int_eq(write_file_atomic(p, buf, (size_t)len), 0);
    free(p);
    len = 0;
    for (int j = 0; j < k && len < (int)sizeof buf - 16; j++) len += snprintf(buf + len, sizeof buf - (size_t)len, "%d ", idx[j]);
    p = path_join(dir, "idx.txt");
    ck_assert_int_eq(write_file_atomic(p, buf, (size_t)len), 0);
    free(p);
}

/* ‖a − b‖ / ‖b‖ over n entries. */
static inline double test_rel_diff(const double *a, const double *b, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
    return sqrt(num / den);
}

/* Leave a test (it passes, saying it was skipped) when its fixture found no stories260K in
 * ../shared, i.e. left `model` NULL. */
#define SKIP_WITHOUT_STORIES(model)                                   \
    do {                                                              \
        if (!(model)) {                                               \
            printf("skipped: ../shared/models/stories260K absent\n"); \
            return;                                                   \
        }                                                             \
    } while (0)

/* An in-memory model of n_layers layers: dim 16, 4 heads of 4, 2 KV heads, hidden 24, vocab 10,
 * tied embeddings; all weights are zeros (for tests where only shapes matter). */
static inline Model *tiny_zero_model(int n_layers) {
    Model *m = model_alloc(n_layers);
    ModelConfig *c = &m->cfg;
    snprintf(c->arch, sizeof c->arch, "test");
    c->n_layers = n_layers;
    c->dim = 16; c->n_heads = 4; c->n_kv_heads = 2; c->head_dim = 4; c->hidden_dim = 24;
    c->vocab_size = 10; c->max_seq_len = 64; c->rope_theta = 10000; c->norm_eps = 1e-5f;
    float *z = model_own(m, xcalloc(16 * 24 * 4, sizeof(float)));
    m->tok_embedding = tensor_make(DT_F32, 10, 16, z);
    m->classifier = m->tok_embedding;
    m->final_norm = tensor_make(DT_F32, 1, 16, z);
    for (int l = 0; l < n_layers; l++) {
        LayerWeights *L = &m->layers[l];
        L->attn_norm = L->ffn_norm = tensor_make(DT_F32, 1, 16, z);
        L->wq = tensor_make(DT_F32, 16, 16, z);
        L->wk = L->wv = tensor_make(DT_F32, 8, 16, z);
        L->wo = tensor_make(DT_F32, 16, 16, z);
        L->w_gate = L->w_up = tensor_make(DT_F32, 24, 16, z);
        L->w_down = tensor_make(DT_F32, 16, 24, z);
    }
    m->cfg.tied_embeddings = true;
    model_uniform_layers(m);
    ck_assert_int_eq(model_validate(m, "tiny"), 0);
    return m;
}

/* Run one suite; returns the process exit status. */
static inline int run_suite(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif
