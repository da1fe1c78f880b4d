/* Unit tests for runtime/subnet (JSON file, canonical form, hash, bad input), eval/cost and
 * eval/calib windows, on a small in-memory model. */
#include <math.h>

#include "eval/calib.h"
#include "eval/cost.h"
#include "runtime/model/subnet.h"
#include "tests/testutil.h"

START_TEST(test_json_round_trip) {
    Model *m = tiny_zero_model(2);
    Subnet *s = subnet_dense(m);
    s->layers[0].head_keep[1] = 0;
    s->layers[0].head_keep[2] = 0;
    s->layers[0].chan_keep[5] = 0;
    s->layers[1].mlp_on = false;
    subnet_canonicalize(s);
    char *js = subnet_to_json(s, m);
    Subnet *t = NULL;
    ck_assert_msg(subnet_from_json(js, m, "x.json", &t) == 0, "%s", err_get());
    ck_assert(subnet_equal(s, t));
    ck_assert_uint_eq(subnet_hash(s), subnet_hash(t));
    ck_assert_int_eq(subnet_kept_heads(&t->layers[0]), 2);
    ck_assert_int_eq(subnet_kept_kv_heads(&t->layers[0]), 2); /* heads 0 and 3 are in different groups */
    ck_assert_int_eq(subnet_kept_channels(&t->layers[0]), 23);
    ck_assert_int_eq(subnet_kept_channels(&t->layers[1]), 0);
    ck_assert(!t->layers[1].mlp_on);
    free(js);
    subnet_free(s);
    subnet_free(t);
    model_free(m);
}
END_TEST

START_TEST(test_canonical_hash) {
    Model *m = tiny_zero_model(2);
    Subnet *a = subnet_dense(m), *b = subnet_dense(m);
    /* attention off with heads set == attention with no heads kept */
    a->layers[1].attn_on = false;
    memset(b->layers[1].head_keep, 0, 4);
    subnet_canonicalize(a);
    subnet_canonicalize(b);
    ck_assert(subnet_equal(a, b));
    ck_assert_uint_eq(subnet_hash(a), subnet_hash(b));
    b->layers[0].chan_keep[0] = 0;
    ck_assert(!subnet_equal(a, b));
    ck_assert_uint_ne(subnet_hash(a), subnet_hash(b));
    subnet_free(a);
    subnet_free(b);
    model_free(m);
}
END_TEST

static void expect_error(const Model *m, const char *json, const char *needle) {
    Subnet *s = NULL;
    ck_assert_int_eq(subnet_from_json(json, m, "bad.json", &s), -1);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err_get(), needle) != NULL, "message '%s' lacks '%s'", err_get(), needle);
    ck_assert_msg(strncmp(err_get(), "bad.json: ", 10) == 0, "message '%s' does not name the file", err_get());
    ck_assert(strchr(err_get(), '\n') == NULL);
}

START_TEST(test_bad_subnets) {
    Model *m = tiny_zero_model(2);
    expect_error(m, "{\"model\": {}, \"layers\": [{}, {\"heads\": [0, 4]}]}", "\"heads\" index 4 out of range [0, 4)");
    expect_error(m, "{\"model\": {}, \"layers\": [{}, {\"channels\": [-1]}]}", "index -1 out of range");
    expect_error(m, "{\"model\": {}, \"layers\": [{}]}", "subnet has 1 layers, the model has 2");
    expect_error(m, "{\"model\": {}, \"layers\": [{}, {\"heads\": [1, 1]}]}", "twice");
    expect_error(m, "{\"model\": {}, \"layers\": [{}, {\"head\": [1]}]}", "unknown key \"head\"");
    expect_error(m, "{\"model\": {\"dim\": 32}, \"layers\": [{}, {}]}", "dim=32");
    expect_error(m, "[1, 2", "not valid JSON");
    /* contradictions (issue #16): a list with a skipped sublayer, an empty list, no model shape */
    expect_error(m, "{\"model\": {}, \"layers\": [{}, {\"attn\": false, \"heads\": [0]}]}",
                 "layer 1: \"heads\" is given but \"attn\" is false");
    expect_error(m, "{\"model\": {}, \"layers\": [{\"mlp\": false, \"channels\": [0]}, {}]}",
                 "layer 0: \"channels\" is given but \"mlp\" is false");
    expect_error(m, "{\"model\": {}, \"layers\": [{}, {\"heads\": []}]}", "layer 1: \"heads\" is empty");
    expect_error(m, "{\"model\": {}, \"layers\": [{\"channels\": []}, {}]}", "layer 0: \"channels\" is empty");
    expect_error(m, "{\"layers\": [{}, {}]}", "no \"model\" object");
    expect_error(m, "{\"model\": {\"n_layers\": 3}, \"layers\": [{}, {}]}", "n_layers=3");
    expect_error(m, "{\"model\": {}, \"layers\": [{}, {\"attn\": 1}]}", "must be true or false");
    model_free(m);
}
END_TEST

START_TEST(test_cost) {
    Model *m = tiny_zero_model(2);
    Cost d = cost_of(m, NULL, 8);
    /* per layer: q 256 + k,v 2*128 + o 256 + norm 16 ; mlp 3*24*16 + norm 16 */
    int64_t per_layer = 256 + 256 + 256 + 16 + 3 * 24 * 16 + 16;
    ck_assert_int_eq(d.params_layers, 2 * per_layer + 16);
    ck_assert_int_eq(d.params_embedding, 160);
    Subnet *s = subnet_dense(m);
    ck_assert(fabs(cost_ratio(m, s, COST_PARAMS, 8) - 1.0) < 1e-12);
    for (int l = 0; l < 2; l++) s->layers[l].mlp_on = false;
    subnet_canonicalize(s);
    double r = cost_ratio(m, s, COST_PARAMS, 8);
    ck_assert(fabs(r - (2.0 * (768 + 16) + 16) / (2.0 * per_layer + 16)) < 1e-12);
    Cost c = cost_of(m, s, 8);
    /* attention flops: 2*768 matmul + 4*q(16)*ctx(4.5) per layer */
    ck_assert(fabs(c.flops_layers - 2 * (2.0 * 768 + 4 * 16 * 4.5)) < 1e-9);
    ck_assert(fabs(c.flops_per_token - c.flops_layers - 2.0 * 10 * 16) < 1e-9);
    subnet_free(s);
    model_free(m);
}
END_TEST

START_TEST(test_windows) {
    int32_t ids[100];
    for (int i = 0; i < 100; i++) ids[i] = i;
    Windows w;
    ck_assert_int_eq(windows_consecutive(ids, 100, 30, 0, "t", &w), 0);
    ck_assert_int_eq(w.n, 3);
    ck_assert_int_eq(w.tokens[30], 30);
    windows_free(&w);
    ck_assert_int_eq(windows_consecutive(ids, 100, 30, 2, "t", &w), 0);
    ck_assert_int_eq(w.n, 2);
    windows_free(&w);
    ck_assert_int_eq(windows_consecutive(ids, 20, 30, 0, "t.txt", &w), -1);
    ck_assert_str_eq(err_get(), "t.txt: text has 20 tokens, fewer than one window of 30");
    ck_assert_int_eq(windows_sample(ids, 100, 5, 10, 1, "c", &w), 0);
    for (int i = 0; i < 5; i++) {
        int32_t s0 = w.tokens[i * 10];
        ck_assert(s0 >= 0 && s0 <= 90);
        for (int j = 1; j < 10; j++) ck_assert_int_eq(w.tokens[i * 10 + j], s0 + j);
        if (i) ck_assert(s0 >= w.tokens[(i - 1) * 10]);
    }
    Windows w2;
    ck_assert_int_eq(windows_sample(ids, 100, 5, 10, 1, "c", &w2), 0);
    ck_assert_mem_eq(w.tokens, w2.tokens, 50 * sizeof(int32_t));
    windows_free(&w2);
    windows_free(&w);
    ck_assert_int_eq(windows_sample(ids, 100, 11, 10, 1, "calib.txt", &w), -1);
    ck_assert_str_eq(err_get(), "calib.txt: calibration text has 100 tokens, fewer than N x L = 11 x 10 = 110");
}
END_TEST

int main(void) {
    Suite *s = suite_create("subnet");
    TCase *tc = tcase_create("subnet");
    tcase_add_test(tc, test_json_round_trip);
    tcase_add_test(tc, test_canonical_hash);
    tcase_add_test(tc, test_bad_subnets);
    tcase_add_test(tc, test_cost);
    tcase_add_test(tc, test_windows);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
