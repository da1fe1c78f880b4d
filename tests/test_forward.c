/* Unit tests for runtime/forward and runtime/extract on random in-memory models: consistency of
 * the NLL with the logits, of the layer-by-layer API with the whole pass, of cached and rebuilt
 * compact weights, of bf16/f16 storage with pre-rounded f32, of a subnet with its extracted
 * model (incl. uneven GQA groups), of a replace layer, hooks, FLOP counting and bad input.
 * Agreement with an independent reference is tests/test_forward_ref.py. */
#include <math.h>

#include "runtime/model/extract.h"
#include "runtime/forward/forward.h"
#include "runtime/model/subnet.h"
#include "tests/testutil.h"

typedef struct {
    DType dt;
    int bias, half, tied, n_heads, n_kv;
} Spec;

static uint64_t rng_state;
static float rnd(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng_state >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

/* A tensor of random values (scale s, offset o) stored in dtype dt. */
static Tensor rand_tensor(Model *m, DType dt, int64_t rows, int64_t cols, float s, float o) {
    size_t n = (size_t)(rows * cols);
    float *f = xmalloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = o + s * rnd();
    void *d = model_own(m, xmalloc(n * dtype_size(dt)));
    convert_from_f32(d, f, dt, n);
    free(f);
    return tensor_make(dt, rows, cols, d);
}

/* dim 32, 3 layers, head_dim 8, hidden 48, vocab 40. */
static Model *rand_model(Spec sp, uint64_t seed) {
    rng_state = seed;
    Model *m = model_alloc(3);
    ModelConfig *c = &m->cfg;
    snprintf(c->arch, sizeof c->arch, "test");
    c->dim = 32; c->n_heads = sp.n_heads; c->n_kv_heads = sp.n_kv; c->head_dim = 8; c->hidden_dim = 48;
    c->vocab_size = 40; c->max_seq_len = 64; c->rope_theta = 10000; c->norm_eps = 1e-5f;
    c->rope_layout = sp.half ? ROPE_HALF : ROPE_INTERLEAVED;
    c->tied_embeddings = sp.tied;
    c->qkv_bias = sp.bias;
    int D = 32, q = sp.n_heads * 8, kv = sp.n_kv * 8;
    float ws = 0.3f;
    m->tok_embedding = rand_tensor(m, sp.dt, 40, D, 1.0f, 0.0f);
    m->classifier = sp.tied ? m->tok_embedding : rand_tensor(m, sp.dt, 40, D, ws, 0.0f);
    m->final_norm = rand_tensor(m, sp.dt, 1, D, 0.1f, 1.0f);
    for (int l = 0; l < 3; l++) {
        LayerWeights *L = &m->layers[l];
        L->attn_norm = rand_tensor(m, sp.dt, 1, D, 0.1f, 1.0f);
        L->ffn_norm = rand_tensor(m, sp.dt, 1, D, 0.1f, 1.0f);
        L->wq = rand_tensor(m, sp.dt, q, D, ws, 0.0f);
        L->wk = rand_tensor(m, sp.dt, kv, D, ws, 0.0f);
        L->wv = rand_tensor(m, sp.dt, kv, D, ws, 0.0f);
        L->wo = rand_tensor(m, sp.dt, D, q, ws, 0.0f);
        if (sp.bias) {
            L->bq = rand_tensor(m, sp.dt, 1, q, ws, 0.0f);
            L->bk = rand_tensor(m, sp.dt, 1, kv, ws, 0.0f);
            L->bv = rand_tensor(m, sp.dt, 1, kv, ws, 0.0f);
        }
        L->w_gate = rand_tensor(m, sp.dt, 48, D, ws, 0.0f);
        L->w_up = rand_tensor(m, sp.dt, 48, D, ws, 0.0f);
        L->w_down = rand_tensor(m, sp.dt, D, 48, ws, 0.0f);
    }
    model_uniform_layers(m);
    ck_assert_msg(model_validate(m, "rand") == 0, "%s", err_get());
    return m;
}

static void rand_tokens(int32_t *t, int n, uint64_t seed) {
    rng_state = seed;
    for (int i = 0; i < n; i++) t[i] = (int32_t)((rnd() + 1.0f) * 20.0f) % 40;
}

/* max |a - b| / max |b| */
static double rel_diff(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)a[i] - b[i]));
        mb = fmax(mb, fabs((double)b[i]));
    }
    return md / mb;
}

enum { B = 3, T = 21, V = 40 };

static float *logits_of(const Model *m, const Subnet *s, const ForwardOptions *o, const int32_t *tok) {
    Forward *f = NULL;
    ck_assert_msg(forward_create(m, s, o, &f) == 0, "%s", err_get());
    float *lg = xmalloc((size_t)B * T * V * sizeof *lg);
    ck_assert_msg(forward_logits(f, tok, B, T, lg) == 0, "%s", err_get());
    forward_free(f);
    return lg;
}

static double nll_of(const Model *m, const Subnet *s, const ForwardOptions *o, const int32_t *tok, int64_t *n) {
    Forward *f = NULL;
    ck_assert_msg(forward_create(m, s, o, &f) == 0, "%s", err_get());
    double nll = 0;
    *n = 0;
    ck_assert_msg(forward_nll(f, tok, B, T, NULL, &nll, n) == 0, "%s", err_get());
    forward_free(f);
    return nll;
}

static Subnet *rand_subnet(const Model *m, uint64_t seed) {
    rng_state = seed;
    Subnet *s = subnet_dense(m);
    for (int l = 0; l < s->n_layers; l++) {
        SubnetLayer *L = &s->layers[l];
        for (int h = 0; h < L->n_heads; h++) L->head_keep[h] = rnd() > -0.2f;
        for (int c = 0; c < L->hidden_dim; c++) L->chan_keep[c] = rnd() > 0.0f;
    }
    s->layers[1].mlp_on = false; /* a skipped sublayer */
    subnet_canonicalize(s);
    return s;
}

START_TEST(test_nll_matches_logits) {
    Spec sp = {DT_F32, 1, 1, 0, 4, 2};
    Model *m = rand_model(sp, 11);
    int32_t tok[B * T];
    rand_tokens(tok, B * T, 5);
    ForwardOptions o = {.logits_chunk = 7}; /* chunks that straddle sequences */
    float *lg = logits_of(m, NULL, &o, tok);
    double ref = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t + 1 < T; t++) {
            const float *r = lg + ((size_t)b * T + t) * V;
            double mx = r[0], s = 0;
            for (int j = 1; j < V; j++) mx = fmax(mx, r[j]);
            for (int j = 0; j < V; j++) s += exp(r[j] - mx);
            ref += log(s) + mx - r[tok[b * T + t + 1]];
        }
    int64_t n;
    double nll = nll_of(m, NULL, &o, tok, &n);
    ck_assert_int_eq(n, B * (T - 1));
    ck_assert_msg(fabs(nll - ref) < 1e-4 * fabs(ref), "nll %.9g vs %.9g", nll, ref);
    ForwardOptions blocks = {.logits_chunk = 1 << 18, .max_tokens = 64}; /* vocabulary in blocks of 16 */
    double nll2 = nll_of(m, NULL, &blocks, tok, &n);
    ck_assert_msg(fabs(nll2 - ref) < 1e-4 * fabs(ref), "vocab blocks: nll %.9g vs %.9g", nll2, ref);
    free(lg);
    model_free(m);
}
END_TEST

START_TEST(test_layer_api_and_cache) {
    Spec sp = {DT_F32, 0, 0, 1, 4, 4};
    Model *m = rand_model(sp, 12);
    int32_t tok[B * T];
    rand_tokens(tok, B * T, 6);
    Subnet *s = rand_subnet(m, 99);
    int64_t n1, n2;
    double whole = nll_of(m, s, NULL, tok, &n1);
    ForwardOptions tiny = {.cache_bytes = 4096}; /* forces per-layer rebuilds into scratch */
    double rebuilt = nll_of(m, s, &tiny, tok, &n2);
    ck_assert_msg(whole == rebuilt, "cached %.17g vs rebuilt %.17g", whole, rebuilt);
    Forward *f = NULL;
    ck_assert(forward_create(m, s, NULL, &f) == 0);
    float *x = xmalloc((size_t)B * T * 32 * sizeof *x);
    ck_assert(forward_embed(f, tok, B, T, x) == 0);
    for (int l = 0; l < 3; l++) ck_assert(forward_layer(f, l, x, B, T, NULL) == 0);
    double lay = 0;
    int64_t n3 = 0;
    ck_assert(forward_head_nll(f, x, tok, B, T, &lay, &n3) == 0);
    ck_assert_msg(lay == whole, "layer-by-layer %.17g vs whole %.17g", lay, whole);
    /* switching back to dense gives the dense result */
    ck_assert(forward_set_subnet(f, NULL) == 0);
    double dense = 0;
    int64_t n4 = 0;
    ck_assert(forward_nll(f, tok, B, T, NULL, &dense, &n4) == 0);
    ck_assert(dense == nll_of(m, NULL, NULL, tok, &n2));
    free(x);
    forward_free(f);
    subnet_free(s);
    model_free(m);
}
END_TEST

/* A bf16 / f16 model evaluates like the f32 model holding the same (rounded) values. */
START_TEST(test_storage_dtypes) {
    for (int k = 0; k < 2; k++) {
        Spec sp = {k ? DT_F16 : DT_BF16, 1, 0, 0, 4, 2};
        Model *m = rand_model(sp, 13);
        Model *mf = NULL;
        ck_assert(model_extract(m, NULL, &mf) == 0); /* owned f32 copy of the same values */
        int32_t tok[B * T];
        rand_tokens(tok, B * T, 7);
        float *a = logits_of(m, NULL, NULL, tok), *b = logits_of(mf, NULL, NULL, tok);
        double d = rel_diff(a, b, (size_t)B * T * V);
        ck_assert_msg(d < 1e-6, "%s: rel diff %g", dtype_name(sp.dt), d);
        free(a);
        free(b);
        model_free(mf);
        model_free(m);
    }
}
END_TEST

/* Evaluating the extracted model densely equals evaluating the subnet of the source. */
START_TEST(test_extract_equals_subnet) {
    Spec specs[] = {{DT_F32, 1, 1, 0, 4, 2}, {DT_BF16, 0, 0, 1, 8, 2}, {DT_F32, 0, 0, 0, 4, 4}};
    for (int k = 0; k < 3; k++) {
        Model *m = rand_model(specs[k], 20 + k);
        int32_t tok[B * T];
        rand_tokens(tok, B * T, 8);
        Subnet *s = rand_subnet(m, 100 + k);
        if (k == 1) { /* uneven groups (4 query heads per KV head): 3 of KV head 0, 1 of KV head 1 */
            SubnetLayer *L = &s->layers[0];
            uint8_t keep[8] = {1, 1, 1, 0, 0, 1, 0, 0};
            L->attn_on = true;
            memcpy(L->head_keep, keep, 8);
        }
        Model *e = NULL;
        ck_assert_msg(model_extract(m, s, &e) == 0, "%s", err_get());
        ck_assert(e->cfg.heterogeneous);
        float *a = logits_of(m, s, NULL, tok), *b = logits_of(e, NULL, NULL, tok);
        double d = rel_diff(b, a, (size_t)B * T * V);
        ck_assert_msg(d < 1e-6, "spec %d: extracted vs subnet rel diff %g", k, d);
        /* FLOPs: equal, except that KV copies for uneven groups add to the extracted model's */
        Forward *f1, *f2;
        ck_assert(forward_create(m, s, NULL, &f1) == 0 && forward_create(e, NULL, NULL, &f2) == 0);
        ck_assert(forward_flops(f2, B, T) >= forward_flops(f1, B, T) - 1.0);
        if (k == 2) ck_assert(fabs(forward_flops(f1, B, T) - forward_flops(f2, B, T)) < 1.0);
        forward_free(f1);
        forward_free(f2);
        free(a);
        free(b);
        model_free(e);
        subnet_free(s);
        model_free(m);
    }
}
END_TEST

/* An identity replace layer evaluates like skipping the layer's two sublayers. */
START_TEST(test_replace_layer) {
    Spec sp = {DT_F32, 0, 0, 1, 4, 2};
    Model *m = rand_model(sp, 14);
    int32_t tok[B * T];
    rand_tokens(tok, B * T, 9);
    Subnet *s = subnet_dense(m);
    s->layers[2].attn_on = s->layers[2].mlp_on = false;
    subnet_canonicalize(s);
    float *a = logits_of(m, s, NULL, tok);
    float *eye = model_own(m, xcalloc(32 * 32, sizeof(float)));
    for (int i = 0; i < 32; i++) eye[i * 33] = 1.0f;
    m->layers[2].replace = tensor_make(DT_F32, 32, 32, eye);
    float *b = logits_of(m, NULL, NULL, tok);
    ck_assert_msg(rel_diff(b, a, (size_t)B * T * V) < 1e-6, "replace");
    free(a);
    free(b);
    subnet_free(s);
    model_free(m);
}
END_TEST

typedef struct {
    int hidden[4][3], concat[3], act[3], final;
    const float *emb;
    float first;
} HookLog;

static void on_hidden(void *ud, int layer, int point, const float *x, int n, int dim) {
    HookLog *h = ud;
    ck_assert_int_eq(n, B * T);
    ck_assert_int_eq(dim, 32);
    if (layer == 3) h->final++;
    else h->hidden[layer][point]++;
    if (layer == 0 && point == 0) h->first = x[0];
}
static void on_concat(void *ud, int layer, const float *x, int n, int w) {
    (void)x;
    HookLog *h = ud;
    ck_assert_int_eq(n, B * T);
    h->concat[layer] = w;
}
static void on_act(void *ud, int layer, const float *x, int n, int w) {
    (void)x;
    HookLog *h = ud;
    ck_assert_int_eq(n, B * T);
    h->act[layer] = w;
}

START_TEST(test_hooks_and_flops) {
    Spec sp = {DT_F32, 0, 0, 1, 4, 2};
    Model *m = rand_model(sp, 15);
    int32_t tok[B * T];
    rand_tokens(tok, B * T, 10);
    Subnet *s = subnet_dense(m);
    s->layers[0].head_keep[0] = s->layers[0].head_keep[1] = 0; /* one KV group gone */
    for (int c = 0; c < 24; c++) s->layers[2].chan_keep[c] = 0;
    s->layers[1].attn_on = false;
    subnet_canonicalize(s);
    Forward *f;
    ck_assert(forward_create(m, s, NULL, &f) == 0);
    HookLog log = {0};
    ForwardHooks hk = {on_hidden, on_concat, on_act, &log};
    double nll = 0;
    int64_t n = 0;
    ck_assert(forward_nll(f, tok, B, T, &hk, &nll, &n) == 0);
    for (int l = 0; l < 3; l++)
        for (int p = 0; p < 3; p++) ck_assert_int_eq(log.hidden[l][p], 1);
    ck_assert_int_eq(log.final, 1);
    ck_assert_int_eq(log.concat[0], 2 * 8);
    ck_assert_int_eq(log.concat[1], 0); /* attention skipped: no call */
    ck_assert_int_eq(log.concat[2], 4 * 8);
    ck_assert_int_eq(log.act[0], 48);
    ck_assert_int_eq(log.act[2], 24);
    float row[32];
    tensor_row_f32(&m->tok_embedding, tok[0], row);
    ck_assert(log.first == row[0]);
    /* FLOPs: hand count for this subnet */
    double N = B * T, D = 32, hd = 8, pairs = 0;
    for (int i0 = 0; i0 < T; i0 += 64) pairs += (T - i0 < 64 ? T - i0 : 64) * (double)(i0 + (T - i0 < 64 ? T - i0 : 64));
    double att = 2 * 2 * B * pairs * hd; /* per head */
    double want = 2 * N * D * (2 + 2 * 1) * hd + 2 * N * 2 * hd * D + 2 * att /* layer 0: 2 heads */
                  + 2 * N * D * 2 * 48 + 2 * N * 48 * D                                /* layer 0 mlp */
                  + 2 * N * D * 2 * 48 + 2 * N * 48 * D                                /* layer 1 mlp */
                  + 2 * N * D * (4 + 2 * 2) * hd + 2 * N * 4 * hd * D + 4 * att         /* layer 2 attn */
                  + 2 * N * D * 2 * 24 + 2 * N * 24 * D                                /* layer 2 mlp */
                  + 2.0 * B * (T - 1) * D * V;
    ck_assert_msg(fabs(forward_flops(f, B, T) - want) < 1.0, "flops %.0f vs %.0f", forward_flops(f, B, T), want);
    forward_free(f);
    subnet_free(s);
    model_free(m);
}
END_TEST

START_TEST(test_bad_input) {
    Spec sp = {DT_F32, 0, 0, 1, 4, 2};
    Model *m = rand_model(sp, 16);
    Forward *f;
    ck_assert(forward_create(m, NULL, NULL, &f) == 0);
    int32_t tok[4] = {1, 2, 40, 3};
    double nll = 0;
    int64_t n = 0;
    ck_assert_int_eq(forward_nll(f, tok, 1, 4, NULL, &nll, &n), -1);
    ck_assert_msg(strstr(err_get(), "outside the vocabulary") != NULL, "%s", err_get());
    tok[2] = -1;
    ck_assert_int_eq(forward_nll(f, tok, 2, 2, NULL, &nll, &n), -1);
    ck_assert_int_eq(forward_nll(f, tok, 0, 4, NULL, &nll, &n), -1);
    ck_assert_int_eq(forward_layer(f, 7, NULL, 1, 4, NULL), -1);
    /* a subnet of another model shape is refused */
    Spec sp2 = {DT_F32, 0, 0, 1, 8, 2};
    Model *m2 = rand_model(sp2, 17);
    Subnet *s2 = subnet_dense(m2);
    ck_assert_int_eq(forward_set_subnet(f, s2), -1);
    Model *e = NULL;
    ck_assert_int_eq(model_extract(m, s2, &e), -1);
    subnet_free(s2);
    model_free(m2);
    forward_free(f);
    model_free(m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("forward");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_nll_matches_logits);
    tcase_add_test(tc, test_layer_api_and_cache);
    tcase_add_test(tc, test_storage_dtypes);
    tcase_add_test(tc, test_extract_equals_subnet);
    tcase_add_test(tc, test_replace_layer);
    tcase_add_test(tc, test_hooks_and_flops);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
