/* Unit tests for the exporters' shared pieces and GGUF checks: RoPE-layout row permutation
 * (both directions, weights and biases), the output-path discipline, and the subnets /
 * layers deci GGUF cannot express (unequal GQA groups, fitted linear-map layers). */
#include "runtime/export_gguf.h"
#include "runtime/export_util.h"
#include "tests/testutil.h"

#include <sys/stat.h>

START_TEST(test_rope_permutation) {
    /* 2 heads of head_dim 4, 1 column: row value = its index */
    float src[8] = {0, 1, 2, 3, 4, 5, 6, 7}, half[8], back[8];
    Tensor t = tensor_make(DT_F32, 8, 1, src);
    export_tensor_f32(&t, 4, ROPE_INTERLEAVED, ROPE_HALF, half);
    /* interleaved pairs (0,1),(2,3) become (x[i], x[i+2]): rows 0,2,1,3 */
    float want[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    for (int i = 0; i < 8; i++) ck_assert_float_eq(half[i], want[i]);
    Tensor h = tensor_make(DT_F32, 8, 1, half);
    export_tensor_f32(&h, 4, ROPE_HALF, ROPE_INTERLEAVED, back);
    for (int i = 0; i < 8; i++) ck_assert_float_eq(back[i], src[i]);
    /* a bias vector (1, 8) is permuted the same way */
    Tensor b = tensor_make(DT_F32, 1, 8, src);
    export_tensor_f32(&b, 4, ROPE_INTERLEAVED, ROPE_HALF, half);
    for (int i = 0; i < 8; i++) ck_assert_float_eq(half[i], want[i]);
    /* no permutation when the layouts agree or head_dim is 0; f16 source converted */
    uint16_t h16[8];
    for (int i = 0; i < 8; i++) h16[i] = f32_to_f16(src[i]);
    Tensor t16 = tensor_make(DT_F16, 4, 2, h16);
    export_tensor_f32(&t16, 0, ROPE_INTERLEAVED, ROPE_HALF, back);
    for (int i = 0; i < 8; i++) ck_assert_float_eq(back[i], src[i]);
}
END_TEST

START_TEST(test_rope_permutation_wide) {
    /* head_dim 8, 3 columns: the permutation moves whole rows */
    float src[8 * 3], out[8 * 3];
    for (int i = 0; i < 24; i++) src[i] = (float)i;
    Tensor t = tensor_make(DT_F32, 8, 3, src);
    export_tensor_f32(&t, 8, ROPE_HALF, ROPE_INTERLEAVED, out);
    int rows[8] = {0, 4, 1, 5, 2, 6, 3, 7}; /* new 2i = old i, new 2i+1 = old 4+i */
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 3; c++) ck_assert_float_eq(out[r * 3 + c], src[rows[r] * 3 + c]);
}
END_TEST

START_TEST(test_out_path) {
    char *d = test_tmpdir("export");
    char *f = path_join(d, "x.gguf");
    ck_assert_int_eq(export_check_out(f, false), 0);
    ck_assert_int_eq(write_file_atomic(f, "old", 3), 0);
    ck_assert_int_eq(export_check_out(f, false), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "already exists (use --force"));
    ck_assert_int_eq(export_check_out(f, true), 0);
    /* a directory output is replaced as a whole */
    char *out = path_join(d, "hf"), *tmp = export_tmp_name(out);
    ck_assert_int_eq(mkdir(out, 0755), 0);
    char *old = path_join(out, "stale.txt");
    ck_assert_int_eq(write_file_atomic(old, "x", 1), 0);
    ck_assert_int_eq(mkdir(tmp, 0755), 0);
    char *nf = path_join(tmp, "config.json");
    ck_assert_int_eq(write_file_atomic(nf, "{}", 2), 0);
    ck_assert_int_eq(export_commit(tmp, out), 0);
    ck_assert(!path_exists(old));
    ck_assert(!path_exists(tmp));
    char *cfg = path_join(out, "config.json");
    ck_assert(path_exists(cfg));
    export_remove(d);
    ck_assert(!path_exists(d));
    free(cfg); free(nf); free(old); free(tmp); free(out); free(f); free(d);
}
END_TEST

static Subnet *gqa_subnet(void) {
    /* one layer, 4 query heads over 2 KV heads (groups {0,1} and {2,3}) */
    Subnet *s = xcalloc(1, sizeof *s);
    s->n_layers = 1;
    s->layers = xcalloc(1, sizeof *s->layers);
    SubnetLayer *l = &s->layers[0];
    l->n_heads = 4; l->n_kv_heads = 2; l->hidden_dim = 2;
    l->attn_on = l->mlp_on = true;
    l->head_keep = xcalloc(4, 1);
    l->chan_keep = xcalloc(2, 1);
    return s;
}

START_TEST(test_gqa_groups) {
    Subnet *s = gqa_subnet();
    uint8_t *k = s->layers[0].head_keep;
    k[0] = k[2] = 1; /* one head per group: fine */
    ck_assert_int_eq(export_gguf_check_subnet(s), 0);
    k[1] = 1; /* group 0 keeps 2, group 1 keeps 1 */
    ck_assert_int_eq(export_gguf_check_subnet(s), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "layer 0"));
    ck_assert_ptr_nonnull(strstr(err_get(), "equal GQA groups"));
    k[2] = 0; /* only group 0 kept: fine */
    ck_assert_int_eq(export_gguf_check_subnet(s), 0);
    s->layers[0].attn_on = false;
    k[2] = 1;
    ck_assert_int_eq(export_gguf_check_subnet(s), 0);
    subnet_free(s);
}
END_TEST

START_TEST(test_replace_layer_rejected) {
    Model *m = model_alloc(2);
    float *z = model_own(m, xcalloc(64, sizeof(float)));
    m->layers[1].replace = tensor_make(DT_F32, 8, 8, z);
    ck_assert_int_eq(export_gguf_check(m), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "layer 1 is a fitted linear map"));
    model_free(m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rope_permutation);
    tcase_add_test(tc, test_rope_permutation_wide);
    tcase_add_test(tc, test_out_path);
    tcase_add_test(tc, test_gqa_groups);
    tcase_add_test(tc, test_replace_layer_rejected);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
