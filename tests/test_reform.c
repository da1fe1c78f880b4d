/* Tests for reform/ on the real stories260K model (skipped when ../shared is absent):
 * the statistics cache (reuse, corrupt and stale files rebuilt, short text rejected),
 * importance scores (obs: its first step is the saliency), prune at a budget (never above it), reformation lowering the
 * perplexity of pruned subnets (one-shot exact / ADMM, sequential), layer replacement
 * lowering it against plain removal, and bad input (a subnet of another model). */
#include <math.h>
#include <sys/stat.h>

#include "runtime/formats/model_open.h"
#include "eval/cost.h"
#include "eval/evaluator.h"
#include "reform/importance.h"
#include "reform/lsq.h"
#include "reform/prune.h"
#include "reform/reform.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/testutil.h"

static Model *model;
static char *calib_path, *valid_path, *cache;
static Windows calib_w, valid_w;

/* held-out perplexity of mm (the test model or a model built from it) under s */
static int valid_ppl(const Model *mm, const Subnet *s, double *ppl) {
    Evaluator *ev;
    if (evaluator_create(model, &valid_w, NULL, &ev) != 0) return -1;
    int rc = evaluator_ppl_model(ev, mm, s, ppl);
    evaluator_free(ev);
    return rc;
}

static void setup(void) {
    char *mp = shared_path("models/stories260K/stories260K.bin");
    calib_path = shared_path("data/tinystories/calib.txt");
    valid_path = shared_path("data/tinystories/valid.txt");
    if (!mp || !calib_path || !valid_path) {
        free(mp);
        return;
    }
    ck_assert_int_eq(model_open(mp, &model), 0);
    free(mp);
    cache = test_tmpdir("reform-cache");
    int32_t *ids;
    size_t n;
    ck_assert_int_eq(text_tokenize_file(model->tokenizer, calib_path, &ids, &n), 0);
    ck_assert_int_eq(windows_sample(ids, n, 16, 128, 1, calib_path, &calib_w), 0);
    free(ids);
    ck_assert_int_eq(text_tokenize_file(model->tokenizer, valid_path, &ids, &n), 0);
    ck_assert_int_eq(windows_consecutive(ids, n, 256, 40, valid_path, &valid_w), 0);
    free(ids);
}

static void teardown(void) {
    windows_free(&calib_w), windows_free(&valid_w);
    model_free(model);
    model = NULL;
    if (cache) test_rmtree(cache);
    free(cache), free(calib_path), free(valid_path);
    cache = calib_path = valid_path = NULL;
}

#define NEED_SHARED SKIP_WITHOUT_STORIES(model)

static StatsOptions opts(void) { return (StatsOptions){.N = 16, .L = 128, .seed = 1, .cache_dir = cache, .quiet = true}; }

static time_t mtime_of(const char *p) {
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return st.st_mtime;
}

START_TEST(test_stats_cache) {
    NEED_SHARED;
    StatsOptions o = opts();
    StatsFile *sf = NULL;
    ck_assert_int_eq(stats_open(model, calib_path, &o, &sf), 0);
    char *path = xstrdup(sf->path);
    /* sane contents: H_o diagonal positive, cosines in (-1, 1], mean of tokens counted */
    LayerStats st;
    ck_assert_int_eq(stats_layer(sf, 2, &st), 0);
    ck_assert(st.n_tok == 16 * 128);
    ck_assert(st.H_o[0] > 0 && st.H_d[5 * st.f + 5] > 0 && st.H_a[0] > 0);
    ck_assert(fabs(st.H_d[3 * st.f + 7] - st.H_d[7 * st.f + 3]) <= 1e-9 * st.H_d[3 * st.f + 3]);
    layer_stats_free(&st);
    for (int l = 0; l < model->cfg.n_layers; l++) ck_assert(sf->cos_layer[l] > 0 && sf->cos_layer[l] <= 1 + 1e-9);
    double bc01 = sf->boundary_cos[1];
    stats_close(sf);
    /* reuse: same content, file untouched */
    ck_assert_int_eq(stats_open(model, calib_path, &o, &sf), 0);
    ck_assert(sf->boundary_cos[1] == bc01);
    stats_close(sf);
    /* corrupt one byte in a layer block: detected and rebuilt to identical statistics */
    size_t len;
    char *data = read_file(path, &len);
    ck_assert_ptr_nonnull(data);
    data[len / 2] ^= 0x40;
    ck_assert_int_eq(write_file_atomic(path, data, len), 0);
    ck_assert_int_eq(stats_open(model, calib_path, &o, &sf), 0);
    ck_assert(sf->boundary_cos[1] == bc01);
    stats_close(sf);
    char *fixed = read_file(path, &len);
    data[len / 2] ^= 0x40;
    ck_assert_mem_eq(fixed, data, len);
    free(fixed);
    /* truncated file: rebuilt */
    ck_assert_int_eq(write_file_atomic(path, data, len - 9), 0);
    ck_assert_int_eq(stats_open(model, calib_path, &o, &sf), 0);
    stats_close(sf);
    fixed = read_file(path, &len);
    ck_assert_mem_eq(fixed, data, len);
    free(fixed);
    /* stale: another key's file under this name (seed 2's statistics) is not used */
    StatsOptions o2 = o;
    o2.seed = 2;
    ck_assert_int_eq(stats_open(model, calib_path, &o2, &sf), 0);
    char *other = read_file(sf->path, &len);
    double bc_other = sf->boundary_cos[1];
    stats_close(sf);
    ck_assert(bc_other != bc01);
    ck_assert_int_eq(write_file_atomic(path, other, len), 0);
    ck_assert_int_eq(stats_open(model, calib_path, &o, &sf), 0);
    ck_assert(sf->boundary_cos[1] == bc01);
    stats_close(sf);
    (void)mtime_of;
    free(other), free(data), free(path);
}
END_TEST

START_TEST(test_short_text) {
    NEED_SHARED;
    StatsOptions o = opts();
    o.N = 100000, o.L = 256;
    StatsFile *sf = NULL;
    ck_assert_int_eq(stats_open(model, calib_path, &o, &sf), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "calib.txt"));
    ck_assert_ptr_null(sf);
}
END_TEST

/* the calibration statistics and the saliency scores of every layer */
static StatsFile *open_saliency(double ***head, double ***chan) {
    StatsOptions o = opts();
    StatsFile *sf = NULL;
    ck_assert_int_eq(stats_open(model, calib_path, &o, &sf), 0);
    ck_assert_int_eq(importance_all(model, sf, IMP_SALIENCY, 0, head, chan), 0);
    return sf;
}

/* obs on the real statistics: each layer's first removed channel is its lowest-saliency channel,
 * scored the same (the first greedy step is the saliency); every score positive and distinct. */
START_TEST(test_obs_scores) {
    NEED_SHARED;
    double **sh, **sc, **oh, **oc;
    StatsFile *sf = open_saliency(&sh, &sc);
    ck_assert_msg(importance_all(model, sf, IMP_OBS, 0, &oh, &oc) == 0, "%s", err_get());
    for (int l = 0; l < model->cfg.n_layers; l++) {
        int F = model->layers[l].hidden_dim, nh = model->layers[l].n_heads, as = 0, ao = 0;
        for (int c = 1; c < F; c++) {
            if (sc[l][c] < sc[l][as]) as = c;
            if (oc[l][c] < oc[l][ao]) ao = c;
        }
        ck_assert_int_eq(as, ao);
        ck_assert_double_eq_tol(oc[l][ao], sc[l][as], 1e-9 * sc[l][as]);
        for (int i = 0; i < F; i++) {
            ck_assert(isfinite(oc[l][i]) && oc[l][i] > 0);
            for (int k = 0; k < i; k++) ck_assert(oc[l][k] != oc[l][i]);
        }
        for (int h = 0; h < nh; h++) {
            ck_assert(isfinite(oh[l][h]) && oh[l][h] > 0);
            for (int k = 0; k < h; k++) ck_assert(oh[l][k] != oh[l][h]);
        }
    }
    importance_free(model, sh, sc), importance_free(model, oh, oc);
    stats_close(sf);
}
END_TEST

START_TEST(test_prune_budget) {
    NEED_SHARED;
    double **head, **chan;
    StatsFile *sf = open_saliency(&head, &chan);
    double prev = 0;
    for (double b = 0.5; b <= 0.95; b += 0.1) {
        Subnet *s;
        double r;
        ck_assert_int_eq(prune_uniform(model, head, chan, b, &s, &r), 0);
        double c = cost_ratio(model, s, COST_PARAMS, model->cfg.max_seq_len);
        ck_assert_msg(c <= b + 1e-12 && c > b - 0.06, "budget %g: kept %g", b, c);
        ck_assert(c >= prev);
        prev = c;
        /* the kept channels of layer 0 are its highest-scored ones */
        const SubnetLayer *L = &s->layers[0];
        double min_kept = INFINITY, max_dropped = -INFINITY;
        for (int j = 0; j < L->hidden_dim; j++)
            if (L->chan_keep[j]) min_kept = fmin(min_kept, chan[0][j]);
            else max_dropped = fmax(max_dropped, chan[0][j]);
        ck_assert(min_kept >= max_dropped);
        subnet_free(s);
    }
    Subnet *s = NULL;
    ck_assert_int_eq(prune_uniform(model, head, chan, 0.001, &s, NULL), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "budget"));
    importance_free(model, head, chan);
    /* magnitude needs no statistics; FLAP scores are non-negative */
    ck_assert_int_eq(importance_all(model, NULL, IMP_MAGNITUDE, 0, &head, &chan), 0);
    ck_assert(head[0][0] > 0 && chan[4][3] > 0);
    importance_free(model, head, chan);
    ck_assert_int_eq(importance_all(model, NULL, IMP_FLAP, 0, &head, &chan), -1);
    ck_assert_int_eq(importance_all(model, sf, IMP_FLAP, 0, &head, &chan), 0);
    for (int j = 0; j < model->layers[1].hidden_dim; j++) ck_assert(chan[1][j] >= 0);
    importance_free(model, head, chan);
    stats_close(sf);
}
END_TEST

START_TEST(test_reform_lowers_ppl) {
    NEED_SHARED;
    double **head, **chan;
    StatsFile *sf = open_saliency(&head, &chan);
    Subnet *s;
    ck_assert_int_eq(prune_uniform(model, head, chan, 0.6, &s, NULL), 0);
    importance_free(model, head, chan);
    double plain, one, admm, seq;
    ck_assert_int_eq(valid_ppl(model, s, &plain), 0);
    ReformOptions ro;
    reform_defaults(&ro);
    Model *R = NULL;
    ck_assert_int_eq(reform_oneshot(model, s, sf, &ro, &R), 0);
    ck_assert_int_eq(valid_ppl(R, NULL, &one), 0);
    model_free(R);
    double one_w;
    ro.fit = REFORM_FIT_WEIGHTS; /* the fit ADMM solves (no intercept) */
    ck_assert_int_eq(reform_oneshot(model, s, sf, &ro, &R), 0);
    ck_assert_int_eq(valid_ppl(R, NULL, &one_w), 0);
    model_free(R);
    ro.method = REFORM_ADMM;
    ck_assert_int_eq(reform_oneshot(model, s, sf, &ro, &R), 0);
    ck_assert_int_eq(valid_ppl(R, NULL, &admm), 0);
    model_free(R);
    ck_assert_int_eq(reform_sequential(model, s, &calib_w, &ro, &R), -1); /* ADMM: one-shot only */
    ro.method = REFORM_EXACT;
    ro.fit = REFORM_FIT_DEFAULT;
    ck_assert_int_eq(reform_sequential(model, s, &calib_w, &ro, &R), 0);
    ck_assert_int_eq(valid_ppl(R, NULL, &seq), 0);
    model_free(R);
    printf("60%% saliency subnet, held-out ppl: plain %.3f one-shot %.3f (weights only %.3f) admm %.3f sequential "
           "%.3f\n", plain, one, one_w, admm, seq);
    ck_assert(one < plain && one_w < plain && admm < plain && seq < plain);
    ck_assert(fabs(admm - one_w) < 0.05 * one_w);
    /* the dense subnet reforms to itself */
    Subnet *d = subnet_dense(model);
    double dense, dense_r;
    ck_assert_int_eq(valid_ppl(model, NULL, &dense), 0);
    ck_assert_int_eq(reform_oneshot(model, d, sf, &ro, &R), 0);
    ck_assert_int_eq(valid_ppl(R, NULL, &dense_r), 0);
    ck_assert(fabs(dense - dense_r) < 1e-4 * dense);
    model_free(R);
    subnet_free(d);
    subnet_free(s);
    stats_close(sf);
}
END_TEST

START_TEST(test_replace_span) {
    NEED_SHARED;
    Model *plain = NULL, *fit = NULL;
    double p_plain, p_fit;
    ck_assert_int_eq(reform_replace_span(model, 2, 2, false, &calib_w, REFORM_LAMBDA_FRAC, &plain), 0);
    ck_assert_int_eq(reform_replace_span(model, 2, 2, true, &calib_w, REFORM_LAMBDA_FRAC, &fit), 0);
    ck_assert_ptr_nonnull(fit->layers[2].replace.data);
    ck_assert_int_eq(valid_ppl(plain, NULL, &p_plain), 0);
    ck_assert_int_eq(valid_ppl(fit, NULL, &p_fit), 0);
    printf("layers [2,4) removed: ppl %.3f plain, %.3f with the fitted linear map\n", p_plain, p_fit);
    ck_assert(p_fit < p_plain);
    model_free(plain), model_free(fit);
    ck_assert_int_eq(reform_replace_span(model, 4, 2, true, &calib_w, REFORM_LAMBDA_FRAC, &fit), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "span"));
}
END_TEST

START_TEST(test_other_model_subnet) {
    NEED_SHARED;
    /* a subnet of a model with another shape is refused, not applied */
    Subnet *s = subnet_dense(model);
    s->layers[1].hidden_dim = 100;
    StatsOptions o = opts();
    StatsFile *sf = NULL;
    ck_assert_int_eq(stats_open(model, calib_path, &o, &sf), 0);
    ReformOptions ro;
    reform_defaults(&ro);
    Model *R = NULL;
    ck_assert_int_eq(reform_oneshot(model, s, sf, &ro, &R), -1);
    ck_assert_ptr_null(R);
    ck_assert_int_eq(reform_sequential(model, s, &calib_w, &ro, &R), -1);
    s->layers[1].hidden_dim = model->layers[1].hidden_dim;
    /* statistics of another model are refused */
    sf->model_id ^= 1;
    ck_assert_int_eq(reform_oneshot(model, s, sf, &ro, &R), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "another model"));
    subnet_free(s);
    stats_close(sf);
}
END_TEST

int main(void) {
    Suite *su = suite_create("reform");
    TCase *tc = tcase_create("stories260K");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_stats_cache);
    tcase_add_test(tc, test_short_text);
    tcase_add_test(tc, test_obs_scores);
    tcase_add_test(tc, test_prune_budget);
    tcase_add_test(tc, test_reform_lowers_ppl);
    tcase_add_test(tc, test_replace_span);
    tcase_add_test(tc, test_other_model_subnet);
    suite_add_tcase(su, tc);
    return run_suite(su);
}
