/* Unit tests for the exporters' shared pieces and GGUF checks: RoPE-layout row permutation
 * (both directions, weights and biases), the output-path discipline, and the subnets /
 * layers deci GGUF cannot express (fitted linear-map layers). */
#include "runtime/formats/export_gguf.h"
#include "runtime/formats/export_util.h"
#include "runtime/files/gguf.h"
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

START_TEST(test_replace_layer_rejected) {
    Model *m = model_alloc(2);
    float *z = model_own(m, xcalloc(64, sizeof(float)));
    m->layers[1].replace = tensor_make(DT_F32, 8, 8, z);
    ck_assert_int_eq(export_gguf_check(m), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "layer 1 is a fitted linear map"));
    model_free(m);
}
END_TEST


/* A 3-layer in-memory model, HF RoPE layout, dim 8, 2 heads of 4 over 1 KV head, hidden 3:
 * layer 0 full, layer 1 attention only (MLP removed), layer 2 empty. Every weight element is
 * distinct so permutations show. */
static Model *hetero_model(void) {
    Model *m = model_alloc(3);
    ModelConfig *c = &m->cfg;
    snprintf(c->arch, sizeof c->arch, "test");
    c->dim = 8; c->n_heads = 2; c->n_kv_heads = 1; c->head_dim = 4; c->hidden_dim = 3;
    c->vocab_size = 5; c->max_seq_len = 16; c->rope_theta = 10000; c->norm_eps = 1e-5f;
    c->rope_layout = ROPE_HALF;
    c->tied_embeddings = true;
    float *v = model_own(m, xmalloc(1000 * sizeof(float)));
    for (int i = 0; i < 1000; i++) v[i] = (float)i;
    int o = 0;
#define T(r, cc) (o += (r) * (cc), tensor_make(DT_F32, (r), (cc), v + o - (r) * (cc)))
    m->tok_embedding = T(5, 8);
    m->classifier = m->tok_embedding;
    m->final_norm = T(1, 8);
    for (int l = 0; l < 2; l++) {
        LayerWeights *L = &m->layers[l];
        L->n_heads = 2; L->n_kv_heads = 1;
        L->attn_norm = T(1, 8);
        L->wq = T(8, 8);
        L->wk = T(4, 8);
        L->wv = T(4, 8);
        L->wo = T(8, 8);
    }
    LayerWeights *L0 = &m->layers[0];
    L0->hidden_dim = 3;
    L0->ffn_norm = T(1, 8);
    L0->w_gate = T(3, 8);
    L0->w_up = T(3, 8);
    L0->w_down = T(8, 3);
#undef T
    ck_assert_int_lt(o, 1000);
    ck_assert_msg(model_validate(m, "hetero") == 0, "%s", err_get());
    return m;
}

START_TEST(test_gguf_hetero_layout) {
    Model *m = hetero_model();
    char *d = test_tmpdir("export");
    char *f = path_join(d, "h.gguf");
    GGUFExportOptions o = {DT_F32, "t", NULL, NULL};
    ck_assert_msg(export_gguf(m, f, &o) == 0, "%s", err_get());
    GGUFFile g;
    ck_assert_msg(gguf_open(&g, f) == 0, "%s", err_get());
    const GGUFKV *h = gguf_find(&g, "deci.attention.head_count"), *kv = gguf_find(&g, "deci.attention.head_count_kv"),
                 *ff = gguf_find(&g, "deci.feed_forward_length");
    ck_assert(h && kv && ff && h->arr_len == 3 && ff->arr_len == 3);
    int64_t wh[3] = {2, 2, 0}, wkv[3] = {1, 1, 0}, wff[3] = {3, 1, 0};
    for (int l = 0; l < 3; l++) {
        ck_assert_int_eq(gguf_arr_int(h, l), wh[l]);
        ck_assert_int_eq(gguf_arr_int(kv, l), wkv[l]);
        ck_assert_int_eq(gguf_arr_int(ff, l), wff[l]);
    }
    /* the attention-only layer carries one all-zero MLP channel */
    const GGUFTensor *dn = gguf_find_tensor(&g, "blk.1.ffn_down.weight");
    ck_assert(dn && dn->dims[0] == 1 && dn->dims[1] == 8);
    for (int i = 0; i < 8; i++) ck_assert_float_eq(((const float *)dn->data)[i], 0.0f);
    ck_assert_ptr_null(gguf_find_tensor(&g, "blk.2.attn_q.weight"));
    ck_assert_ptr_null(gguf_find_tensor(&g, "blk.2.ffn_up.weight"));
    ck_assert_ptr_null(gguf_find_tensor(&g, "output.weight")); /* tied */
    /* Q rows of head 1 went from HF half layout to interleaved: new 2i = old i, new 2i+1 = old 2+i */
    const GGUFTensor *q = gguf_find_tensor(&g, "blk.0.attn_q.weight");
    ck_assert(q && q->dims[0] == 8 && q->dims[1] == 8);
    const float *qd = q->data, *src = m->layers[0].wq.data;
    int rows[4] = {0, 2, 1, 3};
    for (int r = 0; r < 4; r++) ck_assert_float_eq(qd[(4 + r) * 8 + 5], src[(4 + rows[r]) * 8 + 5]);
    /* V is not permuted */
    const GGUFTensor *vt = gguf_find_tensor(&g, "blk.0.attn_v.weight");
    ck_assert_int_eq(memcmp(vt->data, m->layers[0].wv.data, 4 * 8 * sizeof(float)), 0);
    gguf_close(&g);
    export_remove(d);
    free(f);
    free(d);
    model_free(m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rope_permutation);
    tcase_add_test(tc, test_rope_permutation_wide);
    tcase_add_test(tc, test_out_path);
    tcase_add_test(tc, test_replace_layer_rejected);
    tcase_add_test(tc, test_gguf_hetero_layout);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
