/* Tests for the calibration-statistics cache format "CARVST02" (reform/stats) on the real
 * stories260K model (skipped when ../shared is absent): the Gram matrices read back equal,
 * bit for bit, both the packed upper triangles in the file and the matrices recomputed here
 * from the forward pass; a corrupted or truncated triangle block and an old-format "CARVST01"
 * file are each reported in one line and rebuilt; a block corrupted after verification is
 * refused by stats_layer; the statistics of the scrambled text (StatsOptions.scramble) are its
 * windows' and cached apart. */
#include <cblas.h>
#include <math.h>

#include "runtime/formats/model_open.h"
#include "reform/stats.h"
#include "runtime/forward/forward.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/testutil.h"

enum { N = 8, L = 128 };
static Model *model;
static char *calib_path, *cache;

static void setup(void) {
    char *mp = shared_path("models/stories260K/stories260K.bin");
    calib_path = shared_path("data/tinystories/calib.txt");
    if (mp && calib_path) {
        ck_assert_int_eq(model_open(mp, &model), 0);
        cache = test_tmpdir("stats-cache");
    }
    free(mp);
}

static void teardown(void) {
    model_free(model);
    model = NULL;
    if (cache) test_rmtree(cache);
    free(cache), free(calib_path);
    cache = calib_path = NULL;
}

#define NEED_SHARED SKIP_WITHOUT_STORIES(model)

static StatsOptions opts(void) { return (StatsOptions){.N = N, .L = L, .seed = 1, .cache_dir = cache, .quiet = true}; }

static size_t packed(size_t w) { return w * (w + 1) / 2; }

/* Byte offsets inside layer l's block of the four packed triangles (H_a, H_m, H_o, H_d). */
static void tri_offsets(const StatsFile *sf, int l, int64_t off[4]) {
    size_t D = sf->dim, q = sf->q[l];
    off[0] = sf->offset[l];
    off[1] = off[0] + (int64_t)(packed(D) * sizeof(double));
    off[2] = off[1] + (int64_t)(packed(D) * sizeof(double));
    off[3] = off[2] + (int64_t)(packed(q) * sizeof(double));
}

/* stats_open with stderr captured into msg (NUL-terminated). */
static int open_captured(StatsFile **sf, char *msg, size_t cap) {
    StatsOptions o = opts();
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    ck_assert(saved >= 0 && tmp != NULL);
    ck_assert_int_eq(dup2(fileno(tmp), 2), 2);
    int rc = stats_open(model, calib_path, &o, sf);
    fflush(stderr);
    ck_assert_int_eq(dup2(saved, 2), 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(msg, 1, cap - 1, tmp);
    msg[n] = 0;
    fclose(tmp);
    return rc;
}

/* Exactly one line that names the file, says why and that it is rebuilt. */
static void assert_one_line(const char *msg, const char *path, const char *why) {
    ck_assert_msg(strstr(msg, path) && strstr(msg, why) && strstr(msg, "rebuilding it"), "message: %s", msg);
    const char *nl = strchr(msg, '\n');
    ck_assert_msg(nl && nl[1] == 0, "not one line: %s", msg);
}

/* Open (building) the statistics of the text scrambled with p; returns the file's bytes in *data. */
static StatsFile *open_fresh(double p, char **data, size_t *len) {
    StatsOptions o = opts();
    o.scramble = p;
    StatsFile *sf = NULL;
    ck_assert_int_eq(stats_open(model, calib_path, &o, &sf), 0);
    *data = read_file(sf->path, len);
    ck_assert_ptr_nonnull(*data);
    ck_assert_mem_eq(*data, "CARVST02", 8);
    return sf;
}

/* The file at sf->path is byte-for-byte `data` again. */
static void assert_file_is(const StatsFile *sf, const char *data, size_t len) {
    size_t n;
    char *now = read_file(sf->path, &n);
    ck_assert_ptr_nonnull(now);
    ck_assert_uint_eq(n, len);
    ck_assert_mem_eq(now, data, len);
    free(now);
}

/* ---- recomputing H_o and H_d from the forward pass (as the statistics pass does) ---- */

typedef struct {
    double **H_o, **H_d; /* per layer (q, q) and (f, f), lower triangle */
} Recalc;

static void gram_lower(double *H, const float *x, int n, int w) {
    double *buf = xmalloc((size_t)n * w * sizeof *buf);
    for (size_t i = 0; i < (size_t)n * w; i++) buf[i] = x[i];
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, w, n, 1.0, buf, w, 1.0, H, w);
    free(buf);
}
static void rc_concat(void *ud, int l, const float *x, int n, int w) { gram_lower(((Recalc *)ud)->H_o[l], x, n, w); }
static void rc_act(void *ud, int l, const float *x, int n, int w) { gram_lower(((Recalc *)ud)->H_d[l], x, n, w); }

/* full (w, w) holds lower's lower triangle in both of its triangles, bit for bit. */
static void assert_equals_lower(const double *full, const double *lower, int w) {
    for (size_t i = 0; i < (size_t)w; i++)
        for (size_t j = 0; j <= i; j++) {
            ck_assert_mem_eq(&full[i * w + j], &lower[i * w + j], 8);
            ck_assert_mem_eq(&full[j * w + i], &lower[i * w + j], 8);
        }
}

/* The file's matrices against those recomputed on the windows of the text scrambled with p. */
static void round_trip(double p) {
    char *data;
    size_t len;
    StatsFile *sf = open_fresh(p, &data, &len);
    int nl = sf->n_layers, D = sf->dim;
    /* the file is the packed format's size: header, blocks, boundary cosines */
    size_t want = 8 + 8 + 8 + 8 + 8 + 12 + 8 * (size_t)nl + 8 + 8 * (size_t)(nl + 1) * (nl + 1) + 8;
    for (int l = 0; l < nl; l++)
        want += 8 * (2 * packed(D) + packed(sf->q[l]) + packed(sf->f[l]) + 2 * (size_t)sf->q[l] + 2 * (size_t)sf->f[l] + 4) + 8;
    ck_assert_uint_eq(len, want);
    /* recompute H_o and H_d of every layer over the same windows */
    int32_t *ids;
    size_t n_ids;
    Windows w = {0};
    ck_assert_int_eq(calib_tokenize_file(model->tokenizer, calib_path, p, 1, &ids, &n_ids), 0);
    ck_assert_int_eq(windows_sample(ids, n_ids, N, L, 1, calib_path, &w), 0);
    free(ids);
    Recalc rc = {xcalloc(nl, sizeof(double *)), xcalloc(nl, sizeof(double *))};
    for (int l = 0; l < nl; l++)
        rc.H_o[l] = xcalloc((size_t)sf->q[l] * sf->q[l] + 1, sizeof(double)),
        rc.H_d[l] = xcalloc((size_t)sf->f[l] * sf->f[l] + 1, sizeof(double));
    ForwardOptions fo = {.max_tokens = 4096 / L * L};
    Forward *f;
    ck_assert_int_eq(forward_create(model, NULL, &fo, &f), 0);
    float *x = xmalloc((size_t)N * L * D * sizeof(float));
    ck_assert_int_eq(forward_embed(f, w.tokens, N, L, x), 0);
    ForwardHooks hk = {.attn_concat = rc_concat, .mlp_act = rc_act, .ud = &rc};
    for (int l = 0; l < nl; l++) ck_assert_int_eq(forward_layer(f, l, x, N, L, &hk), 0);
    forward_free(f), free(x), windows_free(&w);

    for (int l = 0; l < nl; l++) {
        LayerStats st;
        ck_assert_int_eq(stats_layer(sf, l, &st), 0);
        ck_assert(st.n_tok == N * L);
        /* every H equals its packed triangle in the file in both triangles, bit for bit */
        int64_t off[4];
        tri_offsets(sf, l, off);
        const double *H[4] = {st.H_a, st.H_m, st.H_o, st.H_d};
        const int wd[4] = {D, D, st.q, st.f};
        for (int k = 0; k < 4; k++) {
            const char *p = data + off[k];
            for (int i = 0; i < wd[k]; i++)
                for (int j = i; j < wd[k]; j++, p += 8) {
                    ck_assert_mem_eq(&H[k][(size_t)i * wd[k] + j], p, 8);
                    ck_assert_mem_eq(&H[k][(size_t)j * wd[k] + i], p, 8);
                }
        }
        /* H_o and H_d equal the recomputed Gram matrices, bit for bit, in both triangles */
        assert_equals_lower(st.H_o, rc.H_o[l], st.q);
        assert_equals_lower(st.H_d, rc.H_d[l], st.f);
        ck_assert(st.H_d[0] > 0 && st.H_a[(size_t)D * D - 1] > 0);
        layer_stats_free(&st);
        free(rc.H_o[l]), free(rc.H_d[l]);
    }
    free(rc.H_o), free(rc.H_d), free(data);
    stats_close(sf);
}

START_TEST(test_round_trip_exact) {
    NEED_SHARED;
    round_trip(0);
}
END_TEST

/* calibration.scramble / --scramble: the statistics of the scrambled text are those of its
 * windows, in a cache file of their own (both kept: reopening either finds its own), and differ
 * from the plain text's. */
START_TEST(test_scramble) {
    NEED_SHARED;
    round_trip(0.25);
    StatsOptions o = opts();
    StatsFile *a = NULL, *b = NULL;
    ck_assert_int_eq(stats_open(model, calib_path, &o, &a), 0);
    o.scramble = 0.25;
    ck_assert_int_eq(stats_open(model, calib_path, &o, &b), 0);
    ck_assert_str_ne(a->path, b->path);
    ck_assert(a->text_hash != b->text_hash);
    LayerStats x, y;
    ck_assert_int_eq(stats_layer(a, 0, &x), 0);
    ck_assert_int_eq(stats_layer(b, 0, &y), 0);
    ck_assert(x.n_tok == y.n_tok && memcmp(x.H_d, y.H_d, (size_t)x.f * x.f * sizeof(double)) != 0);
    layer_stats_free(&x), layer_stats_free(&y);
    stats_close(a), stats_close(b);
}
END_TEST

START_TEST(test_corrupt_triangle) {
    NEED_SHARED;
    char *data, msg[4096];
    size_t len;
    StatsFile *sf = open_fresh(0, &data, &len);
    int64_t off[4];
    tri_offsets(sf, 3, off);
    /* a flipped bit in the middle of layer 3's H_d triangle: reported, rebuilt identically */
    size_t at = (size_t)off[3] + packed(sf->f[3]) * 4;
    data[at] ^= 0x10;
    ck_assert_int_eq(write_file_atomic(sf->path, data, len), 0);
    data[at] ^= 0x10;
    StatsFile *sf2 = NULL;
    ck_assert_int_eq(open_captured(&sf2, msg, sizeof msg), 0);
    assert_one_line(msg, sf->path, "checksum mismatch in layer 3");
    assert_file_is(sf, data, len);
    /* corrupted after verification (layer 1's H_o): stats_layer refuses that layer only */
    tri_offsets(sf2, 1, off);
    data[off[2] + 8] ^= 0x01;
    ck_assert_int_eq(write_file_atomic(sf2->path, data, len), 0);
    LayerStats st;
    ck_assert_int_eq(stats_layer(sf2, 1, &st), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "layer 1 changed or became corrupt"));
    ck_assert_ptr_null(st.H_o);
    ck_assert_int_eq(stats_layer(sf2, 0, &st), 0);
    layer_stats_free(&st);
    stats_close(sf2), stats_close(sf), free(data);
}
END_TEST

START_TEST(test_truncated) {
    NEED_SHARED;
    char *data, msg[4096];
    size_t len;
    StatsFile *sf = open_fresh(0, &data, &len), *sf2 = NULL;
    int64_t off[4];
    tri_offsets(sf, 2, off);
    /* cut inside layer 2's H_m triangle */
    ck_assert_int_eq(write_file_atomic(sf->path, data, (size_t)off[1] + 1000), 0);
    ck_assert_int_eq(open_captured(&sf2, msg, sizeof msg), 0);
    assert_one_line(msg, sf->path, "truncated at layer 2");
    assert_file_is(sf, data, len);
    stats_close(sf2);
    /* cut inside the magic */
    ck_assert_int_eq(write_file_atomic(sf->path, data, 5), 0);
    ck_assert_int_eq(open_captured(&sf2, msg, sizeof msg), 0);
    assert_one_line(msg, sf->path, "not a carve statistics file");
    assert_file_is(sf, data, len);
    stats_close(sf2), stats_close(sf), free(data);
}
END_TEST

/* Append v to buf (growing) and to the running FNV-1a hash. */
typedef struct {
    char *p;
    size_t n, cap;
    uint64_t h;
} Buf;
static void put(Buf *b, const void *v, size_t n) {
    if (b->n + n > b->cap) b->cap = 2 * (b->n + n), b->p = xrealloc(b->p, b->cap);
    memcpy(b->p + b->n, v, n);
    b->n += n;
    b->h = fnv1a64(b->h, v, n);
}
static void put_sum(Buf *b) {
    uint64_t h = b->h;
    put(b, &h, 8);
    b->h = FNV64_INIT;
}

START_TEST(test_old_format_rebuilt) {
    NEED_SHARED;
    char *data, msg[4096];
    size_t len;
    StatsFile *sf = open_fresh(0, &data, &len), *sf2 = NULL;
    int nl = sf->n_layers;
    /* a genuine "CARVST01" file of the same key: the same header under the old magic, then the
     * full (unpacked) matrices of every layer, each block and the trailer checksummed */
    Buf b = {.h = FNV64_INIT};
    size_t hdr = 8 + 8 + 8 + 8 + 8 + 12 + 8 * (size_t)nl;
    put(&b, "CARVST01", 8);
    put(&b, data + 8, hdr - 8);
    put_sum(&b);
    for (int l = 0; l < nl; l++) {
        LayerStats st;
        ck_assert_int_eq(stats_layer(sf, l, &st), 0);
        size_t D = st.dim, q = st.q, f = st.f;
        put(&b, st.H_a, D * D * 8), put(&b, st.H_m, D * D * 8), put(&b, st.H_o, q * q * 8), put(&b, st.H_d, f * f * 8);
        put(&b, st.sum_o, q * 8), put(&b, st.sq_o, q * 8), put(&b, st.sum_d, f * 8), put(&b, st.sq_d, f * 8);
        put(&b, &st.n_tok, 8), put(&b, &st.cos_layer, 8), put(&b, &st.cos_attn, 8), put(&b, &st.cos_mlp, 8);
        put_sum(&b);
        layer_stats_free(&st);
    }
    put(&b, sf->boundary_cos, 8 * (size_t)(nl + 1) * (nl + 1));
    put_sum(&b);
    ck_assert_uint_gt(b.n, len * 19 / 10); /* the old format is about twice the size */
    ck_assert_int_eq(write_file_atomic(sf->path, b.p, b.n), 0);
    ck_assert_int_eq(open_captured(&sf2, msg, sizeof msg), 0);
    assert_one_line(msg, sf->path, "another format (CARVST01; this carve reads CARVST02)");
    assert_file_is(sf, data, len);
    ck_assert(sf2->boundary_cos[1] == sf->boundary_cos[1]);
    stats_close(sf2), stats_close(sf), free(b.p), free(data);
}
END_TEST

int main(void) {
    Suite *su = suite_create("stats");
    TCase *tc = tcase_create("cache-format");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_round_trip_exact);
    tcase_add_test(tc, test_scramble);
    tcase_add_test(tc, test_corrupt_triangle);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_old_format_rebuilt);
    suite_add_tcase(su, tc);
    return run_suite(su);
}
