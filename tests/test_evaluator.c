/* test_evaluator — eval/evaluator.h on stories260K: the same bits as the batched forward_nll
 * loops it replaced (dense, subnet, another model), model switching with freed models, shared
 * forward passes, window ranges that add up exactly (evaluator_sums_add chunk by chunk), a
 * window split (EvalSplit, simulated in one process) giving an unsplit call's bits, the
 * empty-input rule, the KL's per-window sums with the search's worst-windows fitness
 * (search/fitness.h) built on them, and the calibration text's scrambling (eval/calib.h). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/model_open.h"
#include "eval/calib.h"
#include "eval/evaluator.h"
#include "eval/kl.h"
#include "search/fitness.h"
#include "runtime/forward/forward.h"
#include "runtime/model/extract.h"
#include "tests/testutil.h"

static Model *model;
static Windows win, win2;

static void setup(void) {
    char *mp = shared_path("models/stories260K/stories260K.bin"), *tp = shared_path("data/tinystories/calib.txt");
    if (mp && tp && model_open(mp, &model) == 0) {
        int32_t *ids;
        size_t n;
        ck_assert_int_eq(text_tokenize_file(model->tokenizer, tp, &ids, &n), 0);
        ck_assert_int_eq(windows_sample(ids, n, 11, 96, 1, tp, &win), 0); /* 42 windows per 4096 tokens: one batch */
        ck_assert_int_eq(windows_sample(ids, n, 9, 480, 2, tp, &win2), 0); /* 8 per batch: two batches */
        free(ids);
    }
    free(mp), free(tp);
}

static void teardown(void) {
    windows_free(&win), windows_free(&win2);
    model_free(model);
    model = NULL;
}

/* What reform_ppl and method_eval computed: batches of 4096/T windows, one accumulator. */
static double reference_ppl(const Model *m, const Subnet *s, const Windows *w) {
    int T = w->len, per = 4096 / T > 0 ? 4096 / T : 1;
    ForwardOptions fo = {.max_tokens = per * T};
    Forward *f;
    ck_assert_int_eq(forward_create(m, s, &fo, &f), 0);
    double nll = 0;
    int64_t n = 0;
    for (int i = 0; i < w->n; i += per)
        ck_assert_int_eq(forward_nll(f, w->tokens + (size_t)i * T, w->n - i < per ? w->n - i : per, T, NULL, &nll, &n), 0);
    forward_free(f);
    return exp(nll / (double)n);
}

static Subnet *some_subnet(void) {
    Subnet *s = subnet_dense(model);
    s->layers[1].head_keep[2] = 0;
    s->layers[3].attn_on = false;
    for (int c = 0; c < s->layers[0].hidden_dim; c += 3) s->layers[0].chan_keep[c] = 0;
    s->layers[4].mlp_on = false;
    return s;
}

START_TEST(test_same_bits) {
    SKIP_WITHOUT_STORIES(model);
    const Windows *sets[2] = {&win, &win2};
    Subnet *s = some_subnet();
    for (int k = 0; k < 2; k++) {
        Evaluator *ev;
        ck_assert_int_eq(evaluator_create(model, sets[k], NULL, &ev), 0);
        double p;
        ck_assert_int_eq(evaluator_ppl(ev, NULL, &p), 0);
        ck_assert(p == reference_ppl(model, NULL, sets[k]));
        ck_assert_int_eq(evaluator_ppl(ev, s, &p), 0);
        ck_assert(p == reference_ppl(model, s, sets[k]));
        /* another model (an extracted subnet, freed and rebuilt between calls), then back */
        for (int r = 0; r < 2; r++) {
            Model *E;
            ck_assert_int_eq(model_extract(model, r ? NULL : s, &E), 0);
            double want = reference_ppl(E, NULL, sets[k]);
            ck_assert_int_eq(evaluator_ppl_model(ev, E, NULL, &p), 0);
            ck_assert(p == want);
            model_free(E);
        }
        ck_assert_int_eq(evaluator_ppl(ev, s, &p), 0);
        ck_assert(p == reference_ppl(model, s, sets[k]));
        evaluator_free(ev);
    }
    subnet_free(s);
}
END_TEST

START_TEST(test_ranges_and_sharing) {
    SKIP_WITHOUT_STORIES(model);
    Evaluator *ev, *ev2;
    ck_assert_int_eq(evaluator_create(model, &win2, NULL, &ev), 0);
    ck_assert_int_eq(evaluator_batch(ev), 8);
    EvalSums all, a, b, none;
    ck_assert_int_eq(evaluator_sums(ev, NULL, NULL, 0, win2.n, &all), 0);
    ck_assert_int_eq(all.n_scored, (int64_t)win2.n * (win2.len - 1));
    /* a split on the batch boundary adds up to the last bit */
    ck_assert_int_eq(evaluator_sums(ev, NULL, NULL, 0, 8, &a), 0);
    ck_assert_int_eq(evaluator_sums(ev, NULL, NULL, 8, win2.n, &b), 0);
    ck_assert(a.nll_sum + b.nll_sum == all.nll_sum && a.n_scored + b.n_scored == all.n_scored);
    /* any split: the same sums up to float rounding (a batch of another size is computed by sgemm
     * calls of another shape, which round differently: 1.9e-8 relative on an AMD Zen 2) */
    ck_assert_int_eq(evaluator_sums(ev, NULL, NULL, 0, 3, &a), 0);
    ck_assert_int_eq(evaluator_sums(ev, NULL, NULL, 3, win2.n, &b), 0);
    ck_assert_msg(fabs(a.nll_sum + b.nll_sum - all.nll_sum) < 1e-6 * all.nll_sum, "split sums differ by %g",
                  (a.nll_sum + b.nll_sum - all.nll_sum) / all.nll_sum);
    /* the empty range scores nothing; a perplexity of nothing is an error */
    ck_assert_int_eq(evaluator_sums(ev, NULL, NULL, 4, 4, &none), 0);
    ck_assert(none.nll_sum == 0 && none.n_scored == 0);
    double p;
    ck_assert_int_eq(eval_ppl_of(&none, "share", &p), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "share: no scored tokens"));
    ck_assert_int_eq(evaluator_sums(ev, NULL, NULL, 2, win2.n + 1, &none), -1);
    ck_assert_int_eq(evaluator_sums(ev, NULL, NULL, 3, 2, &none), -1);
    /* an evaluator on the first one's forward pass gives what an own one gives */
    EvalOptions eo = {.share = ev, .what = "second"};
    ck_assert_int_eq(evaluator_create(model, &win, &eo, &ev2), 0);
    Subnet *s = some_subnet();
    ck_assert_int_eq(evaluator_ppl(ev2, s, &p), 0);
    ck_assert(p == reference_ppl(model, s, &win));
    ck_assert_int_eq(evaluator_ppl(ev, NULL, &p), 0);
    ck_assert(p == exp(all.nll_sum / (double)all.n_scored));
    subnet_free(s);
    evaluator_free(ev2);
    evaluator_free(ev);
}
END_TEST

/* A window split simulated in one process: the "processes" call one after another, each
 * combine puts its block into the table and hands back what is there, so the last one sees
 * every block; each entry must come from exactly one process. */
typedef struct {
    double nll[16];
    int64_t n[16];
    int fail; /* combine fails (as if another process had) */
} FakeGroup;

static int fake_combine(void *ud, int rc, double *nll, int64_t *n, int nb) {
    FakeGroup *g = ud;
    ck_assert_int_le(nb, 16);
    if (rc || g->fail) return err_set("rank 1: boom");
    for (int i = 0; i < nb; i++)
        if (n[i]) {
            ck_assert(g->n[i] == 0);
            g->nll[i] = nll[i], g->n[i] = n[i];
        } else {
            ck_assert(nll[i] == 0);
        }
    memcpy(nll, g->nll, (size_t)nb * sizeof *nll);
    memcpy(n, g->n, (size_t)nb * sizeof *n);
    return 0;
}

START_TEST(test_split) {
    SKIP_WITHOUT_STORIES(model);
    Subnet *s = some_subnet();
    EvalOptions plain = {.batch = 2};
    Evaluator *ev;
    ck_assert_int_eq(evaluator_create(model, &win, &plain, &ev), 0); /* 11 windows: 6 batches */
    /* chunk by chunk on batch boundaries: the whole-set bits */
    EvalSums all, acc = {0};
    ck_assert_int_eq(evaluator_sums(ev, NULL, s, 0, win.n, &all), 0);
    for (int w0 = 0; w0 < win.n; w0 += 4)
        ck_assert_int_eq(evaluator_sums_add(ev, NULL, s, w0, w0 + 4 < win.n ? w0 + 4 : win.n, &acc), 0);
    ck_assert(acc.nll_sum == all.nll_sum && acc.n_scored == all.n_scored);
    const int ranges[2][2] = {{0, 11}, {3, 10}}; /* the second starts inside a batch */
    for (int r = 0; r < 2; r++) {
        EvalSums want;
        ck_assert_int_eq(evaluator_sums(ev, NULL, s, ranges[r][0], ranges[r][1], &want), 0);
        for (int P = 1; P <= 7; P++) { /* 7: more processes than batches */
            FakeGroup g = {0};
            EvalSums got = {0};
            for (int i = 0; i < P; i++) {
                EvalSplit sp = {i, P, fake_combine, &g};
                EvalOptions eo = {.batch = 2, .split = &sp};
                Evaluator *e;
                ck_assert_int_eq(evaluator_create(model, &win, &eo, &e), 0);
                ck_assert_int_eq(evaluator_sums(e, NULL, s, ranges[r][0], ranges[r][1], &got), 0);
                evaluator_free(e);
            }
            ck_assert_msg(got.nll_sum == want.nll_sum && got.n_scored == want.n_scored, "range %d, %d processes", r, P);
        }
    }
    /* a failure anywhere in the split is a failure of every process */
    FakeGroup g = {.fail = 1};
    EvalSplit sp = {0, 2, fake_combine, &g};
    EvalOptions eo = {.batch = 2, .split = &sp};
    Evaluator *e;
    ck_assert_int_eq(evaluator_create(model, &win, &eo, &e), 0);
    double p;
    ck_assert_int_eq(evaluator_ppl(e, s, &p), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "rank 1: boom"));
    evaluator_free(e);
    evaluator_free(ev);
    subnet_free(s);
}
END_TEST

START_TEST(test_refusals) {
    SKIP_WITHOUT_STORIES(model);
    Evaluator *ev;
    Windows empty = {0}, one = {.n = 3, .len = 1, .tokens = win.tokens};
    EvalOptions eo = {.what = "empty.txt"};
    ck_assert_int_eq(evaluator_create(model, &empty, &eo, &ev), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "empty.txt: nothing to score"));
    ck_assert_int_eq(evaluator_create(model, &one, &eo, &ev), -1);
    /* a model of another shape cannot be scored on this evaluator's pass */
    ck_assert_int_eq(evaluator_create(model, &win, NULL, &ev), 0);
    Model *tiny = tiny_zero_model(2);
    double p;
    ck_assert_int_eq(evaluator_ppl_model(ev, tiny, NULL, &p), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "another shape"));
    ck_assert_int_eq(evaluator_ppl(ev, NULL, &p), 0); /* and the evaluator still works */
    ck_assert(p == reference_ppl(model, NULL, &win));
    model_free(tiny);
    evaluator_free(ev);
}
END_TEST

static int desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* evaluator_kl_windows: the same totals as evaluator_kl_sums, each window's sum that of the window
 * scored alone (to rounding: another batch), over a range not starting at 0 too; fitness worst q
 * = the mean KL of the ceil(q n) windows of the largest sums, worst 1 = the plain mean. */
START_TEST(test_kl_windows_and_worst) {
    SKIP_WITHOUT_STORIES(model);
    char *tp = shared_path("data/tinystories/calib.txt");
    int32_t *ids;
    size_t nid;
    Windows ws; /* 40 windows of 64 tokens, in batches of 7 */
    ck_assert_int_eq(text_tokenize_file(model->tokenizer, tp, &ids, &nid), 0);
    ck_assert_int_eq(windows_sample(ids, nid, 40, 64, 3, tp, &ws), 0);
    free(ids), free(tp);
    Evaluator *ev;
    DenseRef *ref;
    EvalOptions eo = {.batch = 7};
    ck_assert_int_eq(evaluator_create(model, &ws, &eo, &ev), 0);
    ck_assert_int_eq(dense_ref_build(ev, 64, &ref), 0);
    Subnet *s = some_subnet();
    int n = ws.n, T1 = ws.len - 1;
    double *w = malloc((size_t)n * sizeof *w);
    KlSums a, b;
    ck_assert_int_eq(evaluator_kl_sums(ev, ref, NULL, s, 0, n, &a), 0);
    ck_assert_int_eq(evaluator_kl_windows(ev, ref, NULL, s, 0, n, &b, w), 0);
    ck_assert(a.kl_sum == b.kl_sum && a.n_scored == b.n_scored);
    double tot = 0, lo = INFINITY, hi = 0;
    for (int i = 0; i < n; i++) tot += w[i], lo = fmin(lo, w[i]), hi = fmax(hi, w[i]);
    ck_assert_double_eq_tol(tot, a.kl_sum, 1e-9 * a.kl_sum);
    ck_assert(lo > 0 && hi > 2 * lo); /* windows differ: the worst share is not the mean */
    for (int i = 5; i < n; i += 6) {
        KlSums one;
        ck_assert_int_eq(evaluator_kl_sums(ev, ref, NULL, s, i, i + 1, &one), 0);
        ck_assert_int_eq(one.n_scored, T1);
        ck_assert_double_eq_tol(w[i], one.kl_sum, 1e-6 * one.kl_sum);
    }
    double *part = malloc(20 * sizeof *part);
    if (evaluator_kl_windows(ev, ref, NULL, s, 13, 33, &b, part)) ck_abort_msg("%s", err_get());
    for (int i = 0; i < 20; i++) ck_assert_double_eq_tol(part[i], w[13 + i], 1e-6 * w[13 + i]);
    free(part);
    /* the fitness over the first m windows, unshuffled, as the search scores a stage */
    SearchConfig cfg = {.fitness_kind = FIT_KL, .fitness_top_k = 64, .fitness_worst = 1};
    FitnessSet fs;
    int m = 10;
    ck_assert_int_eq(fitness_open(&fs, &cfg, model, &ws, false, 0, ev, NULL, "calib"), 0);
    double v, want;
    ck_assert_int_eq(fitness_score(&fs, NULL, s, m, &v), 0);
    KlSums first;
    ck_assert_int_eq(evaluator_kl_sums(ev, ref, NULL, s, 0, m, &first), 0);
    want = first.kl_sum / (double)first.n_scored; /* the set's own evaluator batches by its default: rounding */
    ck_assert_double_eq_tol(v, want, 1e-12 * want);
    fitness_close(&fs);
    qsort(w, (size_t)m, sizeof *w, desc);
    for (int k = 0; k < 3; k++) {
        double q = (double[]){0.25, 0.05, 0.3}[k];      /* ceil: 3, 1 and 3 windows of 10 */
        int keep = (int[]){3, 1, 3}[k];
        cfg.fitness_worst = q;
        ck_assert_int_eq(fitness_open(&fs, &cfg, model, &ws, false, 0, ev, NULL, "calib"), 0);
        ck_assert_int_eq(fitness_score(&fs, NULL, s, m, &v), 0);
        want = 0;
        for (int i = 0; i < keep; i++) want += w[i];
        want /= (double)keep * T1;
        ck_assert_double_eq_tol(v, want, 1e-6 * want);
        ck_assert(v > first.kl_sum / (double)first.n_scored);
        fitness_close(&fs);
    }
    free(w);
    subnet_free(s);
    dense_ref_free(ref);
    evaluator_free(ev);
    windows_free(&ws);
}
END_TEST

/* text_scramble (eval/calib.h): p 0 leaves the text as is; otherwise only runs of ASCII letters
 * move, each within itself (every other byte, UTF-8 included, stays in place; a word keeps its
 * letters), the same (p, seed) gives the same text and another seed another; p 1 scrambles every
 * word of two or more letters (a few come out unchanged by chance), p 0.25 about a quarter. */
static int cmp_char(const void *a, const void *b) { return *(const char *)a - *(const char *)b; }
static bool ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

START_TEST(test_scramble) {
    const char *src = "Once upon a time, Lily saw a big dog. \"Hello!\" said the caf\xc3\xa9 owner, 42 times.\n";
    size_t len = strlen(src), n_words = 0;
    char *t = xmalloc(len + 1), *u = xmalloc(len + 1);
    memcpy(t, src, len + 1);
    text_scramble(t, len, 0, 7);
    ck_assert_str_eq(t, src);
    text_scramble(t, len, 1, 7);
    ck_assert_str_ne(t, src);
    memcpy(u, src, len + 1);
    text_scramble(u, len, 1, 7);
    ck_assert_str_eq(t, u); /* deterministic */
    memcpy(u, src, len + 1);
    text_scramble(u, len, 1, 8);
    ck_assert_str_ne(t, u);
    for (size_t i = 0; i < len;) {
        if (!ascii_letter(src[i])) {
            ck_assert_int_eq(t[i], src[i]);
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && ascii_letter(src[j])) j++;
        char a[64], b[64];
        ck_assert_uint_lt(j - i, sizeof a);
        memcpy(a, src + i, j - i), memcpy(b, t + i, j - i);
        qsort(a, j - i, 1, cmp_char), qsort(b, j - i, 1, cmp_char);
        ck_assert(memcmp(a, b, j - i) == 0);
        n_words += j - i >= 2;
        i = j;
    }
    ck_assert_uint_eq(n_words, 13);
    free(t), free(u);
    /* the share: 4000 words of 8 distinct letters, p 0.25 */
    enum { W = 4000 };
    char *big = xmalloc(W * 9 + 1);
    for (int i = 0; i < W; i++) memcpy(big + 9 * i, "abcdefgh ", 9);
    big[W * 9] = 0;
    text_scramble(big, W * 9, 0.25, 1);
    int changed = 0;
    for (int i = 0; i < W; i++) changed += memcmp(big + 9 * i, "abcdefgh", 8) != 0;
    ck_assert_msg(changed > 0.22 * W && changed < 0.28 * W, "%d of %d words scrambled", changed, W);
    free(big);
}
END_TEST

int main(void) {
    Suite *su = suite_create("evaluator");
    TCase *tc = tcase_create("stories260K");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_same_bits);
    tcase_add_test(tc, test_ranges_and_sharing);
    tcase_add_test(tc, test_split);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_kl_windows_and_worst);
    tcase_add_test(tc, test_scramble);
    suite_add_tcase(su, tc);
    return run_suite(su);
}
