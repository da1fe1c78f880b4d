/* Tests for Unicode normalizers in tokenizer.json (runtime/tokenizer/tok_unorm.c): generated vocabularies
 * (tok_synth) with "normalizer" set to NFC / NFKC / NFD / a Sequence, where decomposed and
 * precomposed spellings must encode to the same ids (and do not without the normalizer),
 * invalid UTF-8 bytes pass through next to normalised text, and the unsupported order
 * (NFKC after Replace) is a one-line error. tests/test_tokenizer_unorm.py compares against
 * Python's unicodedata on random text. */
#include <jansson.h>

#include "runtime/tokenizer/tokenizer.h"
#include "tests/testutil.h"

#define E_ACUTE "\xc3\xa9"      /* U+00E9 */
#define E_COMB "e\xcc\x81"      /* e + U+0301 */
#define FI_LIG "\xef\xac\x81"   /* U+FB01 */
#define NBSP "\xc2\xa0"         /* U+00A0 */
#define SPACE_MARK "\xe2\x96\x81"

static char *tmpdir;
static void setup(void) { tmpdir = test_tmpdir("tokunorm"); }
static void teardown(void) {
    free(tmpdir);
    tmpdir = NULL;
}

/* A generated tokenizer.json of the family (0 sentencepiece-style, 1 byte-level) whose
 * "normalizer" is replaced by the JSON text norm (NULL: keep the generated one). Caller frees. */
static char *make_json(int family, const char *norm) {
    char *path = path_join(tmpdir, family ? "bl.json" : "spm.json");
    ck_assert_msg(tokenizer_synth_json(path, 600, family, 7) == 0, "%s", err_get());
    if (!norm) return path;
    json_error_t e;
    json_t *root = json_load_file(path, 0, &e), *n = json_loads(norm, 0, &e);
    ck_assert_ptr_nonnull(root);
    ck_assert_msg(n != NULL, "bad test JSON %s: %s", norm, e.text);
    json_object_set_new(root, "normalizer", n);
    ck_assert_int_eq(json_dump_file(root, path, 0), 0);
    json_decref(root);
    return path;
}

static Tokenizer *load(int family, const char *norm) {
    char *path = make_json(family, norm);
    Tokenizer *t = NULL;
    ck_assert_msg(tokenizer_load(path, &t) == 0, "%s", err_get());
    free(path);
    return t;
}

/* encode(a) == encode(b) as id lists */
static bool same_ids(const Tokenizer *t, const char *a, size_t na, const char *b, size_t nb) {
    int32_t *ia, *ib;
    size_t la, lb;
    ck_assert_msg(tokenizer_encode(t, a, na, true, &ia, &la) == 0, "%s", err_get());
    ck_assert_msg(tokenizer_encode(t, b, nb, true, &ib, &lb) == 0, "%s", err_get());
    bool same = la == lb && !memcmp(ia, ib, la * sizeof *ia);
    free(ia);
    free(ib);
    return same;
}
static bool same(const Tokenizer *t, const char *a, const char *b) { return same_ids(t, a, strlen(a), b, strlen(b)); }

/* decode(encode(s)) must be exactly want[0..nw) */
static void expect_decode(const Tokenizer *t, const char *s, size_t n, const char *want, size_t nw) {
    int32_t *ids;
    size_t n_ids, len;
    ck_assert_msg(tokenizer_encode(t, s, n, true, &ids, &n_ids) == 0, "%s", err_get());
    char *back = tokenizer_decode(t, ids, n_ids, &len);
    ck_assert_ptr_nonnull(back);
    ck_assert_msg(len == nw && !memcmp(back, want, nw), "decode(encode('%.40s')) = '%.40s' (%zu bytes), want %zu bytes",
                  s, back, len, nw);
    free(back);
    free(ids);
}

START_TEST(test_nfc_byte_level) {
    Tokenizer *plain = load(1, NULL), *nfc = load(1, "{\"type\": \"NFC\"}");
    const char *dec = "caf" E_COMB " " E_COMB "t" E_COMB " na\xc3\xafve", *pre = "caf" E_ACUTE " " E_ACUTE "t" E_ACUTE " na\xc3\xafve";
    ck_assert(!same(plain, dec, pre)); /* the normalizer is what makes them equal */
    ck_assert(same(nfc, dec, pre));
    ck_assert(same(nfc, pre, pre));
    expect_decode(nfc, dec, strlen(dec), pre, strlen(pre));
    /* canonical reordering: e + dot below (ccc 220) + acute (230) in either order is U+1EB9 U+0301 */
    ck_assert(same(nfc, "e\xcc\x81\xcc\xa3", "\xe1\xba\xb9\xcc\x81"));
    ck_assert(same(nfc, "e\xcc\xa3\xcc\x81", "\xe1\xba\xb9\xcc\x81"));
    /* Hangul: conjoining jamo compose to the syllable */
    ck_assert(same(nfc, "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab", "\xed\x95\x9c"));
    /* NFC is not NFKC: the ligature stays */
    ck_assert(!same(nfc, FI_LIG, "fi"));
    tokenizer_free(plain);
    tokenizer_free(nfc);
}
END_TEST

START_TEST(test_nfkc_and_nfd) {
    Tokenizer *nfkc = load(1, "{\"type\": \"NFKC\"}"), *nfd = load(1, "{\"type\": \"NFD\"}"),
              *nfkd = load(1, "{\"type\": \"NFKD\"}");
    ck_assert(same(nfkc, FI_LIG "sh", "fish"));
    ck_assert(same(nfkc, "\xef\xbc\xa1\xef\xbc\xa2", "AB")); /* fullwidth */
    ck_assert(same(nfkc, E_COMB, E_ACUTE));
    ck_assert(same(nfd, E_ACUTE, E_COMB));
    ck_assert(!same(nfd, FI_LIG, "fi"));
    expect_decode(nfd, "caf" E_ACUTE, strlen("caf" E_ACUTE), "caf" E_COMB, strlen("caf" E_COMB));
    expect_decode(nfkd, FI_LIG E_ACUTE, strlen(FI_LIG E_ACUTE), "fi" E_COMB, strlen("fi" E_COMB));
    tokenizer_free(nfkc);
    tokenizer_free(nfd);
    tokenizer_free(nfkd);
}
END_TEST

#define PREPEND "{\"type\": \"Prepend\", \"prepend\": \"" SPACE_MARK "\"}"
#define REPLACE "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"" SPACE_MARK "\"}"
#define SEQ(...) "{\"type\": \"Sequence\", \"normalizers\": [" __VA_ARGS__ "]}"

/* sentencepiece-style: [NFC, Prepend, Replace] (and NFC last, which commutes) */
START_TEST(test_sequence_sentencepiece) {
    const char *dec = "the " E_COMB "t" E_COMB " girl " E_COMB, *pre = "the " E_ACUTE "t" E_ACUTE " girl " E_ACUTE;
    Tokenizer *plain = load(0, NULL);
    ck_assert(!same(plain, dec, pre));
    tokenizer_free(plain);
    const char *norms[] = {SEQ("{\"type\": \"NFC\"}, " PREPEND ", " REPLACE), SEQ(PREPEND ", " REPLACE ", {\"type\": \"NFC\"}"),
                           SEQ("{\"type\": \"NFKC\"}, " PREPEND ", " REPLACE),
                           SEQ(PREPEND ", {\"type\": \"NFKC\"}, " REPLACE)};
    for (int k = 0; k < 4; k++) {
        Tokenizer *t = load(0, norms[k]);
        ck_assert(same(t, dec, pre));
        ck_assert(same(t, " " E_COMB, " " E_ACUTE)); /* mark after the escaped space */
        expect_decode(t, "\xcc\x81x", 3, "\xcc\x81x", 3); /* leading mark after the prepended U+2581 */
        expect_decode(t, dec, strlen(dec), pre, strlen(pre));
        if (k >= 2) { /* NFKC before the Replace: NBSP becomes a space, then U+2581 */
            ck_assert(same(t, "the" NBSP "girl", "the girl"));
            ck_assert(same(t, FI_LIG, "fi"));
        }
        tokenizer_free(t);
    }
    /* NFKC after the Replace would leave NBSP-turned-spaces unescaped: refused, one line */
    char *path = make_json(0, SEQ(PREPEND ", " REPLACE ", {\"type\": \"NFKC\"}"));
    Tokenizer *t = NULL;
    ck_assert_int_eq(tokenizer_load(path, &t), -1);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err_get(), "NFKC after Replace") && strstr(err_get(), path) && !strchr(err_get(), '\n'), "%s",
                  err_get());
    free(path);
    /* forms combine: NFD then NFC is NFC; NFKD then NFC is NFKC */
    t = load(1, SEQ("{\"type\": \"NFD\"}, {\"type\": \"NFC\"}"));
    ck_assert(same(t, E_COMB, E_ACUTE) && !same(t, FI_LIG, "fi"));
    tokenizer_free(t);
    t = load(1, SEQ("{\"type\": \"NFKD\"}, {\"type\": \"NFC\"}"));
    ck_assert(same(t, E_COMB, E_ACUTE) && same(t, FI_LIG, "fi"));
    tokenizer_free(t);
}
END_TEST

/* Invalid UTF-8 next to decomposed text: the valid runs are normalised, the bad bytes kept. */
START_TEST(test_invalid_bytes) {
    Tokenizer *bl = load(1, "{\"type\": \"NFC\"}"), *sp = load(0, SEQ("{\"type\": \"NFC\"}, " PREPEND ", " REPLACE));
    static const char in[] = "x" E_COMB "\xff" E_COMB "\xc3(" E_COMB " \xe2\x82 e\xff\xcc\x81 \xcc\x81\0" E_COMB "\xf0\x9f\x98";
    static const char want[] = "x" E_ACUTE "\xff" E_ACUTE "\xc3(" E_ACUTE " \xe2\x82 e\xff\xcc\x81 \xcc\x81\0" E_ACUTE
                               "\xf0\x9f\x98";
    Tokenizer *ts[] = {bl, sp};
    for (int k = 0; k < 2; k++) {
        expect_decode(ts[k], in, sizeof in - 1, want, sizeof want - 1);
        /* already-normal text with bad bytes round-trips exactly, as without a normalizer */
        expect_decode(ts[k], want, sizeof want - 1, want, sizeof want - 1);
        ck_assert(same_ids(ts[k], in, sizeof in - 1, want, sizeof want - 1));
        /* random bytes: never fails, and normalising is idempotent on what comes back */
        uint64_t s = 12345 + (uint64_t)k;
        for (int r = 0; r < 300; r++) {
            char buf[64];
            size_t n = (size_t)(r % 64);
            for (size_t i = 0; i < n; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                static const char pool[] = "e \xcc\x81\xc3\xa9\xff\x80\xe1\x84\x92\xa1";
                buf[i] = (s >> 40) % 3 ? pool[(s >> 20) % (sizeof pool - 1)] : (char)(s >> 33);
            }
            int32_t *ids;
            size_t n_ids, len;
            ck_assert_int_eq(tokenizer_encode(ts[k], buf, n, false, &ids, &n_ids), 0);
            char *back = tokenizer_decode(ts[k], ids, n_ids, &len);
            ck_assert_ptr_nonnull(back);
            expect_decode(ts[k], back, len, back, len);
            free(back);
            free(ids);
        }
    }
    tokenizer_free(bl);
    tokenizer_free(sp);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tokenizer_unorm");
    TCase *tc = tcase_create("tokenizer_unorm");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_nfc_byte_level);
    tcase_add_test(tc, test_nfkc_and_nfd);
    tcase_add_test(tc, test_sequence_sentencepiece);
    tcase_add_test(tc, test_invalid_bytes);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
