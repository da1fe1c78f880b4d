/* Tests for runtime/safetensors: writer -> reader round trips (dtypes, chunked streaming,
 * metadata, header padding) and the reader's rejection of every kind of broken file. */
#include <math.h>
#include <dirent.h>

#include "runtime/files/safetensors.h"
#include "tests/testutil.h"

static char *dir;
static void setup(void) { dir = test_tmpdir("safetensors"); }
static void teardown(void) { free(dir); }

/* Write raw bytes: u64 header length + header + data. */
static char *write_raw(const char *name, const char *header, const void *data, size_t data_len, int64_t len_field) {
    char *p = path_join(dir, name);
    FILE *fp = fopen(p, "wb");
    ck_assert_ptr_nonnull(fp);
    uint64_t n = len_field >= 0 ? (uint64_t)len_field : strlen(header);
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(n >> (8 * i));
    ck_assert_uint_eq(fwrite(b, 1, 8, fp), 8);
    ck_assert_uint_eq(fwrite(header, 1, strlen(header), fp), strlen(header));
    if (data_len) ck_assert_uint_eq(fwrite(data, 1, data_len, fp), data_len);
    ck_assert_int_eq(fclose(fp), 0);
    return p;
}

/* Open must fail with a message containing both the path and `needle`. */
static void expect_error(const char *path, const char *needle) {
    SafeTensors st;
    ck_assert_int_eq(st_open(&st, path), -1);
    ck_assert_msg(strstr(err_get(), path) != NULL, "error does not name the file: %s", err_get());
    ck_assert_msg(strstr(err_get(), needle) != NULL, "expected '%s' in: %s", needle, err_get());
    ck_assert_msg(strchr(err_get(), '\n') == NULL, "multi-line error: %s", err_get());
}

START_TEST(test_round_trip) {
    char *p = path_join(dir, "rt.safetensors");
    STWriter *w = st_writer_new();
    int64_t s_a[2] = {3, 5}, s_b[1] = {7}, s_c[3] = {2, 2, 2}, s_e[2] = {0, 4};
    st_writer_add(w, "a", DT_F32, 2, s_a);
    st_writer_add(w, "empty", DT_F32, 2, s_e);
    st_writer_add(w, "b", DT_BF16, 1, s_b);
    st_writer_add(w, "c", DT_F16, 3, s_c);
    st_writer_meta(w, "format", "pt");
    ck_assert_int_eq(st_writer_begin(w, p), 0);
    float src[15 + 7 + 8];
    for (int i = 0; i < 30; i++) src[i] = 0.25f * (float)i - 3.0f;
    /* chunks that straddle tensor boundaries: 10, 9, 11 values */
    ck_assert_int_eq(st_writer_write_f32(w, src, 10), 0);
    ck_assert_msg(!path_exists(p), "file visible before finish");
    ck_assert_int_eq(st_writer_write_f32(w, src + 10, 9), 0);
    ck_assert_int_eq(st_writer_write_f32(w, src + 19, 11), 0);
    ck_assert_int_eq(st_writer_finish(w), 0);
    st_writer_free(w);

    SafeTensors st;
    ck_assert_msg(st_open(&st, p) == 0, "%s", err_get());
    ck_assert_int_eq(st.n_tensors, 4);
    ck_assert_uint_eq((8 + st.header_len) % 8, 0);
    ck_assert_str_eq(st_meta(&st, "format"), "pt");
    ck_assert_ptr_null(st_meta(&st, "nope"));
    const STTensor *a = st_find(&st, "a"), *b = st_find(&st, "b"), *c = st_find(&st, "c"), *e = st_find(&st, "empty");
    ck_assert(a && b && c && e);
    ck_assert_ptr_null(st_find(&st, "zzz"));
    ck_assert_int_eq(a->n_dims, 2);
    ck_assert_int_eq(a->shape[0], 3);
    ck_assert_int_eq(a->shape[1], 5);
    ck_assert(a->supported && a->dtype == DT_F32);
    ck_assert(b->supported && b->dtype == DT_BF16);
    ck_assert(c->supported && c->dtype == DT_F16 && c->n_dims == 3);
    ck_assert_ptr_null(e->data);
    float got[15];
    convert_to_f32(got, a->data, DT_F32, 15);
    for (int i = 0; i < 15; i++) ck_assert_float_eq(got[i], src[i]);
    convert_to_f32(got, b->data, DT_BF16, 7);
    for (int i = 0; i < 7; i++) ck_assert_float_eq(got[i], src[15 + i]); /* exactly representable */
    convert_to_f32(got, c->data, DT_F16, 8);
    for (int i = 0; i < 8; i++) ck_assert_float_eq(got[i], src[22 + i]);
    st_close(&st);
    free(p);
}
END_TEST

START_TEST(test_writer_errors) {
    char *p = path_join(dir, "short.safetensors");
    STWriter *w = st_writer_new();
    int64_t s[1] = {4};
    st_writer_add(w, "x", DT_F32, 1, s);
    ck_assert_int_eq(st_writer_begin(w, p), 0);
    float v[5] = {1, 2, 3, 4, 5};
    ck_assert_int_eq(st_writer_write_f32(w, v, 5), -1); /* more than declared */
    st_writer_free(w);
    ck_assert(!path_exists(p));

    w = st_writer_new();
    st_writer_add(w, "x", DT_F32, 1, s);
    ck_assert_int_eq(st_writer_begin(w, p), 0);
    ck_assert_int_eq(st_writer_write_f32(w, v, 3), 0);
    ck_assert_int_eq(st_writer_finish(w), -1); /* one value missing */
    ck_assert(strstr(err_get(), "never written") != NULL);
    st_writer_free(w);
    ck_assert(!path_exists(p));
    /* no temporary files left behind */
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d));) ck_assert_msg(!strstr(e->d_name, ".tmp."), "left %s", e->d_name);
    closedir(d);
    free(p);
}
END_TEST

START_TEST(test_bad_files) {
    float data[4] = {1, 2, 3, 4};
    char *p;
    p = path_join(dir, "tiny.st");
    ck_assert_int_eq(write_file_atomic(p, "abc", 3), 0);
    expect_error(p, "truncated");
    free(p);
    static const struct {
        const char *file, *header;
        size_t data_len;
        int64_t len_field;
        const char *needle;
    } cases[] = {
        {"trunc.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, 5000,
         "truncated safetensors header"},
        {"huge.st", "{}", 0, (int64_t)1 << 40, "absurd"},
        {"notjson.st", "{\"a\": [1, 2", 0, -1, "not valid JSON"},
        {"notobj.st", "[1, 2]", 0, -1, "does not start with '{'"},
        {"past.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, -1, "runs past the end"},
        {"order.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 16, -1, "begin 8 > end 0"},
        {"overlap.st",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         16, -1, "overlap"},
        {"dtype.st", "{\"a\":{\"dtype\":\"Q4_K\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16, -1,
         "unknown dtype 'Q4_K'"},
        {"size.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", 16, -1, "needs 12"},
        {"dup.st",
         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
         16, -1, "duplicate"},
        {"shape.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16, -1, "shape entry"},
        {"offs.st", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16, -1, "data_offsets"},
        {"meta.st", "{\"__metadata__\":{\"k\":1}}", 0, -1, "__metadata__"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        p = write_raw(cases[i].file, cases[i].header, data, cases[i].data_len, cases[i].len_field);
        expect_error(p, cases[i].needle);
        free(p);
    }
    /* a valid file with a non-float dtype loads (the model loader rejects using it) */
    p = write_raw("i64.st", "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", data, 16, -1);
    SafeTensors st;
    ck_assert_int_eq(st_open(&st, p), 0);
    ck_assert(!st_find(&st, "ids")->supported);
    st_close(&st);
    free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("io");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_writer_errors);
    tcase_add_test(tc, test_bad_files);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
