/* Unit tests for runtime/gguf (reader): hand-built valid and broken files written byte by byte,
 * plus the real vocabulary-only GGUF files in ../shared/tokenizers/ when present. */
#include <math.h>

#include "runtime/files/gguf.h"
#include "tests/testutil.h"

/* ---- a tiny byte builder for GGUF files ---- */
typedef struct {
    uint8_t *b;
    size_t n, cap;
} Buf;

static void put(Buf *w, const void *p, size_t n) {
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->b = xrealloc(w->b, w->cap);
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void put_u32(Buf *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(Buf *w, uint64_t v) { put(w, &v, 8); }
static void put_f32(Buf *w, float v) { put(w, &v, 4); }
static void put_str(Buf *w, const char *s) {
    put_u64(w, strlen(s));
    put(w, s, strlen(s));
}
static void put_header(Buf *w, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(w, "GGUF", 4);
    put_u32(w, version);
    put_u64(w, n_tensors);
    put_u64(w, n_kv);
}
static void pad_to(Buf *w, size_t a) {
    while (w->n % a) put(w, "", 1);
}

static char *tmpdir;

/* Write the buffer to a fresh file and return its path (caller frees). */
static char *write_buf(const Buf *w, const char *name) {
    char *p = path_join(tmpdir, name);
    FILE *fp = fopen(p, "wb"); /* plain write: write_file_atomic's fsync would make 1000 files slow */
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(w->b, 1, w->n, fp), w->n);
    ck_assert_int_eq(fclose(fp), 0);
    return p;
}

static void setup(void) { tmpdir = test_tmpdir("gguf"); }
static void teardown(void) {
    free(tmpdir);
    tmpdir = NULL;
}

/* A valid file: 4 KVs of different types + two F32 tensors (2x3 and 4) + one quantised (type 2). */
static Buf valid_file(void) {
    Buf w = {0};
    put_header(&w, 3, 3, 5);
    put_str(&w, "general.architecture"); put_u32(&w, GGUF_TYPE_STRING); put_str(&w, "llama");
    put_str(&w, "llama.block_count"); put_u32(&w, GGUF_TYPE_UINT32); put_u32(&w, 7);
    put_str(&w, "llama.eps"); put_u32(&w, GGUF_TYPE_FLOAT32); put_f32(&w, 1e-5f);
    put_str(&w, "flag"); put_u32(&w, GGUF_TYPE_BOOL); put(&w, "\1", 1);
    put_str(&w, "tokenizer.ggml.tokens"); put_u32(&w, GGUF_TYPE_ARRAY); put_u32(&w, GGUF_TYPE_STRING);
    put_u64(&w, 3); put_str(&w, "a"); put_str(&w, "bc"); put_str(&w, "");
    /* tensor infos */
    put_str(&w, "w"); put_u32(&w, 2); put_u64(&w, 3); put_u64(&w, 2); put_u32(&w, GGML_TYPE_F32); put_u64(&w, 0);
    put_str(&w, "v"); put_u32(&w, 1); put_u64(&w, 4); put_u32(&w, GGML_TYPE_F16); put_u64(&w, 32);
    put_str(&w, "q"); put_u32(&w, 1); put_u64(&w, 32); put_u32(&w, 2 /* Q4_0 */); put_u64(&w, 64);
    pad_to(&w, 32);
    for (int i = 0; i < 6; i++) put_f32(&w, (float)i + 0.5f);
    pad_to(&w, 32);
    for (int i = 0; i < 4; i++) put(&w, "\0\x3c", 2); /* f16 1.0 */
    pad_to(&w, 32);
    for (int i = 0; i < 18; i++) put(&w, "\0", 1); /* one Q4_0 block */
    return w;
}

START_TEST(test_valid) {
    Buf w = valid_file();
    char *p = write_buf(&w, "ok.gguf");
    GGUFFile g;
    ck_assert_msg(gguf_open(&g, p) == 0, "%s", err_get());
    ck_assert_uint_eq(g.version, 3);
    ck_assert_uint_eq(g.n_kv, 5);
    ck_assert_uint_eq(g.alignment, 32);
    char *s;
    ck_assert_int_eq(gguf_get_string(&g, "general.architecture", &s), 0);
    ck_assert_str_eq(s, "llama");
    free(s);
    int64_t iv;
    ck_assert_int_eq(gguf_get_int(&g, "llama.block_count", &iv), 0);
    ck_assert_int_eq(iv, 7);
    double dv;
    ck_assert_int_eq(gguf_get_float(&g, "llama.eps", &dv), 0);
    ck_assert(fabs(dv - 1e-5) < 1e-10);
    ck_assert_int_eq(gguf_get_float(&g, "llama.block_count", &dv), 0); /* ints widen to float */
    ck_assert(dv == 7.0);
    bool bv;
    ck_assert_int_eq(gguf_get_bool(&g, "flag", &bv), 0);
    ck_assert(bv);
    /* wrong types and missing keys fail with messages naming the key */
    ck_assert_int_eq(gguf_get_int(&g, "general.architecture", &iv), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "general.architecture"));
    ck_assert_int_eq(gguf_get_string(&g, "nope", &s), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "missing metadata key 'nope'"));
    const GGUFKV *tok = gguf_find(&g, "tokenizer.ggml.tokens");
    ck_assert_ptr_nonnull(tok);
    ck_assert_uint_eq(tok->arr_len, 3);
    ck_assert_uint_eq(tok->strs[1].len, 2);
    ck_assert(memcmp(tok->strs[1].ptr, "bc", 2) == 0);
    ck_assert_uint_eq(tok->strs[2].len, 0);
    const GGUFTensor *t = gguf_find_tensor(&g, "w");
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->n_dims, 2);
    ck_assert_uint_eq(t->dims[0], 3);
    ck_assert_uint_eq(t->dims[1], 2);
    ck_assert_uint_eq(t->nbytes, 24);
    ck_assert_float_eq(((const float *)t->data)[5], 5.5f);
    t = gguf_find_tensor(&g, "v");
    ck_assert_uint_eq(t->nbytes, 8);
    ck_assert_uint_eq(((const uint16_t *)t->data)[3], 0x3c00);
    t = gguf_find_tensor(&g, "q"); /* quantised: listed, but no size or data */
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->ggml_type, 2);
    ck_assert_uint_eq(t->nbytes, 0);
    ck_assert_ptr_null(t->data);
    ck_assert_ptr_null(gguf_find_tensor(&g, "missing"));
    gguf_close(&g);
    free(p);
    free(w.b);
}
END_TEST

/* Expect gguf_open to fail with a message containing both the path and `needle`. */
static void expect_fail(const Buf *w, const char *name, const char *needle) {
    char *p = write_buf(w, name);
    GGUFFile g;
    ck_assert_int_eq(gguf_open(&g, p), -1);
    ck_assert_msg(strstr(err_get(), p) != NULL, "message lacks path: %s", err_get());
    ck_assert_msg(strstr(err_get(), needle) != NULL, "expected '%s' in: %s", needle, err_get());
    ck_assert_msg(strchr(err_get(), '\n') == NULL, "multi-line message");
    free(p);
}

START_TEST(test_truncated_everywhere) {
    /* every proper prefix of a valid file is rejected (never a crash) */
    Buf w = valid_file();
    size_t full = w.n;
    size_t data_start = 0;
    {
        char *p = write_buf(&w, "full.gguf");
        GGUFFile g;
        ck_assert_int_eq(gguf_open(&g, p), 0);
        data_start = g.data_offset;
        gguf_close(&g);
        free(p);
    }
    for (size_t n = 0; n < full; n++) {
        if (n >= data_start + 64 && n < full) continue; /* last tensor is quantised: size unknown */
        Buf t = {w.b, n, n};
        char *p = write_buf(&t, "trunc.gguf");
        GGUFFile g;
        int rc = gguf_open(&g, p);
        ck_assert_msg(rc == -1, "prefix of %zu bytes accepted", n);
        ck_assert(strchr(err_get(), '\n') == NULL);
        free(p);
    }
    free(w.b);
}
END_TEST

START_TEST(test_bad_headers) {
    Buf w = {0};
    put(&w, "GGML", 4); put_u32(&w, 3); put_u64(&w, 0); put_u64(&w, 0);
    expect_fail(&w, "magic.gguf", "not a GGUF file");
    w.n = 0;
    put_header(&w, 1, 0, 0);
    expect_fail(&w, "v1.gguf", "version 1 is not supported");
    w.n = 0;
    put_header(&w, 9, 0, 0);
    expect_fail(&w, "v9.gguf", "unsupported GGUF version 9");
    w.n = 0;
    put_header(&w, 3, 0, (uint64_t)1 << 60);
    expect_fail(&w, "manykv.gguf", "metadata entries");
    w.n = 0;
    put_header(&w, 3, (uint64_t)1 << 62, 0);
    expect_fail(&w, "manyt.gguf", "tensors");
    /* empty but valid */
    w.n = 0;
    put_header(&w, 2, 0, 0);
    char *p = write_buf(&w, "empty.gguf");
    GGUFFile g;
    ck_assert_msg(gguf_open(&g, p) == 0, "%s", err_get());
    gguf_close(&g);
    free(p);
    free(w.b);
}
END_TEST

START_TEST(test_bad_kvs) {
    Buf w = {0};
    put_header(&w, 3, 0, 1);
    put_u64(&w, 1000); put(&w, "abcdefghijkl", 12);
    expect_fail(&w, "keylen.gguf", "past the end of the file");
    w.n = 0;
    put_header(&w, 3, 0, 1);
    put_str(&w, "k"); put_u32(&w, 99); put_u32(&w, 0);
    expect_fail(&w, "ktype.gguf", "unknown value type 99");
    w.n = 0;
    put_header(&w, 3, 0, 1);
    put_str(&w, "k"); put_u32(&w, GGUF_TYPE_ARRAY); put_u32(&w, GGUF_TYPE_ARRAY); put_u64(&w, 1);
    expect_fail(&w, "nested.gguf", "nested array");
    w.n = 0;
    put_header(&w, 3, 0, 1);
    put_str(&w, "k"); put_u32(&w, GGUF_TYPE_ARRAY); put_u32(&w, GGUF_TYPE_INT32); put_u64(&w, (uint64_t)1 << 61);
    expect_fail(&w, "bigarr.gguf", "runs past the end");
    w.n = 0;
    put_header(&w, 3, 0, 1);
    put_str(&w, "k"); put_u32(&w, GGUF_TYPE_ARRAY); put_u32(&w, GGUF_TYPE_STRING); put_u64(&w, (uint64_t)1 << 61);
    expect_fail(&w, "bigsarr.gguf", "more than the file can hold");
    w.n = 0;
    put_header(&w, 3, 0, 2);
    put_str(&w, "k"); put_u32(&w, GGUF_TYPE_UINT32); put_u32(&w, 1);
    put_str(&w, "k"); put_u32(&w, GGUF_TYPE_UINT32); put_u32(&w, 2);
    expect_fail(&w, "dup.gguf", "duplicate metadata key 'k'");
    w.n = 0;
    put_header(&w, 3, 0, 1);
    put_str(&w, "general.alignment"); put_u32(&w, GGUF_TYPE_UINT32); put_u32(&w, 24);
    expect_fail(&w, "align.gguf", "general.alignment");
    free(w.b);
}
END_TEST

static void one_tensor(Buf *w, uint32_t n_dims, uint64_t d0, uint32_t type, uint64_t offset, size_t data_bytes) {
    w->n = 0;
    put_header(w, 3, 1, 0);
    put_str(w, "t"); put_u32(w, n_dims);
    for (uint32_t i = 0; i < n_dims && i < 8; i++) put_u64(w, i == 0 ? d0 : 1);
    put_u32(w, type); put_u64(w, offset);
    pad_to(w, 32);
    for (size_t i = 0; i < data_bytes; i++) put(w, "\0", 1);
}

START_TEST(test_bad_tensors) {
    Buf w = {0};
    one_tensor(&w, 5, 4, GGML_TYPE_F32, 0, 16);
    expect_fail(&w, "ndims.gguf", "5 dimensions");
    one_tensor(&w, 1, 0, GGML_TYPE_F32, 0, 16);
    expect_fail(&w, "zerodim.gguf", "invalid dimension");
    one_tensor(&w, 1, 4, GGML_TYPE_F32, 0, 15);
    expect_fail(&w, "short.gguf", "runs past the end of the file");
    one_tensor(&w, 1, 4, GGML_TYPE_F32, 8, 64);
    expect_fail(&w, "misalign.gguf", "not a multiple of the alignment");
    one_tensor(&w, 1, 4, GGML_TYPE_F32, (uint64_t)1 << 62, 16);
    expect_fail(&w, "faroff.gguf", "runs past the end of the file");
    /* two tensors overlapping */
    w.n = 0;
    put_header(&w, 3, 2, 0);
    put_str(&w, "a"); put_u32(&w, 1); put_u64(&w, 16); put_u32(&w, GGML_TYPE_F32); put_u64(&w, 0);
    put_str(&w, "b"); put_u32(&w, 1); put_u64(&w, 4); put_u32(&w, GGML_TYPE_F32); put_u64(&w, 32);
    pad_to(&w, 32);
    for (int i = 0; i < 128; i++) put(&w, "\0", 1);
    expect_fail(&w, "overlap.gguf", "overlap");
    /* duplicate tensor name is fine to read but unknown type sizes are reported as 0 */
    one_tensor(&w, 1, 4, 12 /* Q4_K */, 0, 16);
    char *p = write_buf(&w, "q.gguf");
    GGUFFile g;
    ck_assert_msg(gguf_open(&g, p) == 0, "%s", err_get());
    ck_assert_uint_eq(g.tensors[0].nbytes, 0);
    gguf_close(&g);
    free(p);
    free(w.b);
}
END_TEST

START_TEST(test_not_found) {
    GGUFFile g;
    char *p = path_join(tmpdir, "does-not-exist.gguf");
    ck_assert_int_eq(gguf_open(&g, p), -1);
    ck_assert_ptr_nonnull(strstr(err_get(), "cannot open"));
    free(p);
}
END_TEST

START_TEST(test_real_vocab_files) {
    const char *names[] = {"tokenizers/ggml-vocab-llama-spm.gguf", "tokenizers/ggml-vocab-gpt-2.gguf"};
    const char *models[] = {"llama", "gpt2"};
    const uint64_t n_vocab[] = {32000, 50257};
    for (int k = 0; k < 2; k++) {
        char *p = shared_path(names[k]);
        if (!p) continue; /* ../shared absent: nothing to check */
        GGUFFile g;
        ck_assert_msg(gguf_open(&g, p) == 0, "%s", err_get());
        ck_assert_uint_eq(g.n_tensors, 0);
        char *model;
        ck_assert_int_eq(gguf_get_string(&g, "tokenizer.ggml.model", &model), 0);
        ck_assert_str_eq(model, models[k]);
        free(model);
        const GGUFKV *tok = gguf_find(&g, "tokenizer.ggml.tokens");
        ck_assert_ptr_nonnull(tok);
        ck_assert_int_eq(tok->type, GGUF_TYPE_ARRAY);
        ck_assert_int_eq(tok->arr_type, GGUF_TYPE_STRING);
        ck_assert_uint_eq(tok->arr_len, n_vocab[k]);
        int64_t bos;
        ck_assert_int_eq(gguf_get_int(&g, "tokenizer.ggml.bos_token_id", &bos), 0);
        ck_assert_int_eq(bos, k == 0 ? 1 : 50256);
        if (k == 0) {
            ck_assert_uint_eq(tok->strs[1].len, 3);
            ck_assert(memcmp(tok->strs[1].ptr, "<s>", 3) == 0);
            const GGUFKV *sc = gguf_find(&g, "tokenizer.ggml.scores");
            ck_assert_ptr_nonnull(sc);
            ck_assert_uint_eq(sc->arr_len, 32000);
            ck_assert(gguf_arr_float(sc, 0) == 0.0);
            const GGUFKV *tt = gguf_find(&g, "tokenizer.ggml.token_type");
            ck_assert_int_eq(gguf_arr_int(tt, 3), 6); /* <0x00> is a byte token */
        } else {
            const GGUFKV *m = gguf_find(&g, "tokenizer.ggml.merges");
            ck_assert_ptr_nonnull(m);
            ck_assert_uint_eq(m->arr_len, 50000);
        }
        gguf_close(&g);
        free(p);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("reader");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_valid);
    tcase_add_test(tc, test_truncated_everywhere);
    tcase_add_test(tc, test_bad_headers);
    tcase_add_test(tc, test_bad_kvs);
    tcase_add_test(tc, test_bad_tensors);
    tcase_add_test(tc, test_not_found);
    tcase_add_test(tc, test_real_vocab_files);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
