/* test_evaluator — eval/evaluator.h on stories260K: the same bits as the batched forward_nll
 * loops it replaced (dense, subnet, another model), model switching with freed models, shared
 * forward passes, window ranges that add up exactly, and the empty-input rule. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/model_open.h"
#include "eval/calib.h"
#include "eval/evaluator.h"
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

int main(void) {
    Suite *su = suite_create("evaluator");
    TCase *tc = tcase_create("stories260K");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_same_bits);
    tcase_add_test(tc, test_ranges_and_sharing);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(su, tc);
    return run_suite(su);
}
