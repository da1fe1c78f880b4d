/* Tests for the GGUF pre-tokenizers (runtime/tokenizer/tok_pretok.c) and the byte-level corner
 * cases llama.cpp defines: every tokenizer.ggml.pre name compiles and is listed in README.md;
 * each pattern set splits strings as its specification (llama.cpp's regex list for that
 * LLAMA_VOCAB_PRE_TYPE) says, the expected pieces derived by hand from the patterns, for the
 * models named with each case (no golden vocabulary is at hand for them, except deepseek-coder
 * and refact, whose llama.cpp vectors test_tokenizer checks); a vocabulary lacking symbols for
 * bytes that never occur in UTF-8 (refact) loads, and such a byte in invalid UTF-8 becomes
 * U+FFFD as in llama.cpp; user-defined tokens are matched before the split (deepseek-coder). */
#include <jansson.h>

#include "runtime/tokenizer/tok_internal.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/testutil.h"

typedef struct {
    char buf[1024];
    size_t n;
} Pieces;

static void add_piece(const char *s, size_t n, void *ctx) {
    Pieces *p = ctx;
    ck_assert_uint_lt(p->n + n + 2, sizeof p->buf);
    p->buf[p->n++] = '[';
    memcpy(p->buf + p->n, s, n);
    p->n += n;
    p->buf[p->n++] = ']';
    p->buf[p->n] = 0;
}

/* The pieces of text under pre-tokenizer pre, as "[a][b]...". */
static void expect_split(const char *pre, const char *text, const char *want) {
    Tokenizer *t = tok_new(1, "test");
    ck_assert_msg(tok_set_pre(t, pre) == 0, "%s: %s", pre, err_get());
    Pieces p = {{0}, 0};
    ck_assert_int_eq(tok_split(t, text, strlen(text), add_piece, &p), 0);
    ck_assert_msg(!strcmp(p.buf, want), "%s on '%s': got %s, expected %s", pre, text, p.buf, want);
    tokenizer_free(t);
}

START_TEST(test_every_name_compiles_and_is_documented) {
    size_t readme_len = 0;
    char *readme = read_file("README.md", &readme_len); /* the tests run from the repository root */
    size_t i = 0;
    for (; tok_pre_name(i); i++) {
        const char *name = tok_pre_name(i);
        Tokenizer *t = tok_new(1, "test");
        ck_assert_msg(tok_set_pre(t, name) == 0, "%s: %s", name, err_get());
        tokenizer_free(t);
        if (readme) {
            char quoted[64];
            snprintf(quoted, sizeof quoted, "`%s`", name);
            ck_assert_msg(strstr(readme, quoted) != NULL, "README.md does not list tokenizer.ggml.pre %s", quoted);
        }
    }
    ck_assert_uint_ge(i, 50);
    free(readme);
    Tokenizer *t = tok_new(1, "test");
    ck_assert_int_eq(tok_set_pre(t, "kimi-k2"), -1); /* llama.cpp's hand-written splitter: not supported */
    tokenizer_free(t);
}
END_TEST

/* {pre, text, expected pieces}; the comment before each group names the models that use it */
static const char *const SPLITS[][3] = {
    /* DeepSeek-Coder 1.3B/6.7B/33B (LlamaForCausalLM): newlines alone, letter runs with one
     * leading whitespace, punctuation runs (P only: '=' is a symbol and stays in the gap),
     * CJK/Hangul runs, single digits */
    {"deepseek-coder", "int x = 12;\n\xe4\xb8\xad\xe6\x96\x87\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 ok!!",
     "[int][ x][ = ][1][2][;][\n][\xe4\xb8\xad\xe6\x96\x87\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4][ ok][!!]"},
    {"deepseek-coder", "Hello, world", "[Hello][,][ world]"},
    /* DeepSeek-LLM 7B/67B (LlamaForCausalLM): cased-letter runs (Greek included, CJK not),
     * ASCII punctuation/symbol runs, trailing whitespace, CJK runs, digit runs */
    {"deepseek-llm", "Hello world 2024!\n\xe4\xb8\xad\xe6\x96\x87 ok  ",
     "[Hello][ world][ ][2024][!][\n][\xe4\xb8\xad\xe6\x96\x87][ ok][  ]"},
    {"deepseek-llm", "\xce\x91\xce\x92\xce\x93 ab", "[\xce\x91\xce\x92\xce\x93][ ab]"},
    /* DeepSeek-V3 / R1 (also Hunyuan dense, JoyAI): digits in threes, CJK + kana runs, one ASCII
     * punctuation character may lead ASCII letters ("'t"), punctuation runs take one space */
    {"deepseek-v3", "x=1234567 .Hello \xe4\xb8\xad\xe6\x96\x87\xe3\x81\x8b\xe3\x81\xaa\xe3\x82\xab\xe3\x83\x8a",
     "[x][=][123][456][7][ .][Hello][ ][\xe4\xb8\xad\xe6\x96\x87\xe3\x81\x8b\xe3\x81\xaa\xe3\x82\xab\xe3\x83\x8a]"},
    {"deepseek-v3", "don't", "[don]['t]"},
    /* Tekken: Mistral-Nemo-12B, Ministral-8B, Pixtral's text model (MistralForCausalLM): camel
     * case splits before an upper-case letter after lower-case ones, single digits, "/" may
     * lead letters */
    {"tekken", "HelloWorld CamelCase ABCdef 123 a/b//", "[Hello][World][ Camel][Case][ ABCdef][ ][1][2][3][ a][/b][//]"},
    /* GPT-4o / o200k: Llama-4 Scout/Maverick, Phi-4-mini: as tekken, plus contraction suffixes
     * joined to the word and digits in threes */
    {"gpt-4o", "HelloWorld don't 12345 I'LL", "[Hello][World][ don't][ ][123][45][ I'LL]"},
    {"llama4", "HelloWorld", "[Hello][World]"},
    /* BLOOM and Poro-34B: an optional space and a run of anything but whitespace, brackets, '|'
     * and sentence punctuation (ASCII and CJK) */
    {"bloom", "Hello, world! (a|b) \xe4\xbd\xa0\xe5\xa5\xbd\xe3\x80\x82\xe5\x86\x8d\xe8\xa7\x81",
     "[Hello][,][ world][! (][a][|][b][)][ \xe4\xbd\xa0\xe5\xa5\xbd][\xe3\x80\x82][\xe5\x86\x8d\xe8\xa7\x81]"},
    /* Viking-7B/13B/33B (LlamaForCausalLM): BLOOM's split, then single digits */
    {"viking", "abc123 4,5", "[abc][1][2][3][ ][4][,][5]"},
    /* Chameleon-7B: sentinel and image-token patterns, runs of 4 or 2 spaces, single digits,
     * single punctuation characters, then GPT-2 */
    {"chameleon", "<sentinel:12>IMGIMGABZ x    y  z 12!?",
     "[<][sentinel][:][1][2][>][IMGIMGABZ][ x][    ][y][  ][z][ ][1][2][!][?]"},
    /* SuperBPE (OLMo2-8B-SuperBPE): digit runs cut by an empty lookahead into threes from the right */
    {"superbpe", "12345678 1234 123", "[12][345][678][ ][1][234][ ][123]"},
    /* llama.cpp "default" (old conversions): punctuation runs, GPT-2, digit runs, threes */
    {"default", "Hello!!! 123456 $+x", "[Hello][!!!][ ][123][456][ ][$+][x]"},
    /* Falcon-7B/40B: threes from the left */
    {"falcon", "a`b 1234567 x", "[a][`][b][ ][123][456][7][ x]"},
    /* SmolLM (LlamaForCausalLM), Minerva-7B (MistralForCausalLM), StarCoder, Refact: single
     * digits, then GPT-2 */
    {"smollm", "x 1234 y", "[x][ ][1][2][3][4][ y]"},
    {"minerva-7b", "x 1234 y", "[x][ ][1][2][3][4][ y]"},
    /* Qwen2 / Qwen2.5, Megrez-3B (LlamaForCausalLM): single digits; Qwen3.5: marks join letters */
    {"qwen2", "x 1234 don't", "[x][ ][1][2][3][4][ don]['t]"},
    {"qwen2", "cafe\xcc\x81 x", "[cafe][\xcc\x81][ x]"},
    {"qwen35", "cafe\xcc\x81 x", "[cafe\xcc\x81][ x]"},
    /* Seed-Coder-8B (LlamaForCausalLM): newlines never join a punctuation run */
    {"seed-coder", "a!!\n\nb 12", "[a][!!][\n\n][b][ ][1][2]"},
    /* Llama-3, Falcon3 (LlamaForCausalLM): threes; GPT-2 */
    {"falcon3", "x 123456 don't", "[x][ ][123][456][ don]['t]"},
    {"gpt-2", "x 123456 don't", "[x][ 123456][ don]['t]"},
};

START_TEST(test_splits) {
    for (size_t i = 0; i < sizeof SPLITS / sizeof SPLITS[0]; i++) expect_split(SPLITS[i][0], SPLITS[i][1], SPLITS[i][2]);
}
END_TEST

/* ---------------------------------------------------------------- tokenizer.json configurations */

static json_t *split(const char *regex) {
    return json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex", regex, "behavior", "Isolated",
                     "invert", 0);
}
static json_t *byte_level(void) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0);
}

/* A generated byte-level tokenizer.json with the given pre_tokenizer Sequence (stolen) and
 * model.ignore_merges: it names the GGUF pre-tokenizer want (what export writes) and, with
 * same_split, splits the texts of SPLITS exactly as that pre-tokenizer does. */
static Tokenizer *load_json_pre(json_t *seq, bool ignore_merges) {
    char *tmp = test_tmpdir("tokpre"), *path = path_join(tmp, "tokenizer.json");
    ck_assert_msg(tokenizer_synth_json(path, 600, 1, 7) == 0, "%s", err_get());
    json_error_t e;
    json_t *root = json_load_file(path, 0, &e);
    ck_assert_ptr_nonnull(root);
    json_object_set_new(root, "pre_tokenizer", json_pack("{s:s, s:o}", "type", "Sequence", "pretokenizers", seq));
    json_object_set_new(json_object_get(root, "model"), "ignore_merges", json_boolean(ignore_merges));
    ck_assert_int_eq(json_dump_file(root, path, 0), 0);
    json_decref(root);
    Tokenizer *t = NULL;
    ck_assert_msg(tokenizer_load(path, &t) == 0, "%s", err_get());
    free(path);
    free(tmp);
    return t;
}

static void expect_json_pre(json_t *seq, bool ignore_merges, const char *want, bool same_split) {
    Tokenizer *t = load_json_pre(seq, ignore_merges), *g = tok_new(1, "test");
    ck_assert_str_eq(tokenizer_gguf_pre(t), want);
    ck_assert_int_eq(tok_set_pre(g, want), 0);
    for (size_t i = 0; same_split && i < sizeof SPLITS / sizeof SPLITS[0]; i++) {
        const char *text = SPLITS[i][1];
        Pieces a = {{0}, 0}, b = {{0}, 0};
        ck_assert_int_eq(tok_split(t, text, strlen(text), add_piece, &a), 0);
        ck_assert_int_eq(tok_split(g, text, strlen(text), add_piece, &b), 0);
        ck_assert_msg(!strcmp(a.buf, b.buf), "%s: tokenizer.json splits '%s' as %s, GGUF as %s", want, text, a.buf, b.buf);
    }
    tokenizer_free(g);
    tokenizer_free(t);
}

/* The pre_tokenizer of DeepSeek-Coder's tokenizer.json (the source of llama.cpp's list, with
 * the CJK class in literal characters and Digits for \p{N}); DeepSeek-V3's; Mistral-Nemo's
 * (tekken: HF's \p{Lu}.. classes, ignore_merges). The last splits differently from llama.cpp's
 * rewrite where marks follow letters (HF's classes hold \p{M}: "cafe\u0301" stays one piece),
 * so only its name is checked: tokenizer.json follows HF, GGUF llama.cpp. */
START_TEST(test_json_configs) {
    expect_json_pre(json_pack("[o, o, o, o, {s:s, s:b}, o]", split("[\r\n]"), split("\\s?\\p{L}+"), split("\\s?\\p{P}+"),
                              split("[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+"), "type",
                              "Digits", "individual_digits", 1, byte_level()),
                    false, "deepseek-coder", true);
    expect_json_pre(json_pack("[o, o, o, o]", split("\\p{N}{1,3}"),
                              split("[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+"),
                              split("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}"
                                    "\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"),
                              byte_level()),
                    false, "deepseek-v3", true);
    expect_json_pre(json_pack("[o, o]",
                              split("[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
                                    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|"
                                    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
                              byte_level()),
                    true, "tekken", false);
    /* a Split on a plain string (PCRE2_LITERAL, which admits no UCP flag) */
    Tokenizer *t = load_json_pre(json_pack("[{s:s, s:{s:s}, s:s}, o]", "type", "Split", "pattern", "String", "<|>",
                                           "behavior", "Isolated", byte_level()),
                                 false);
    Pieces p = {{0}, 0};
    ck_assert_int_eq(tok_split(t, "a<|>b.<|>", 9, add_piece, &p), 0);
    ck_assert_str_eq(p.buf, "[a][<|>][b.][<|>]");
    tokenizer_free(t);
}
END_TEST

/* ---------------------------------------------------------------- byte-level corner cases */

static int32_t *enc(const Tokenizer *t, const char *s, size_t n, size_t *n_ids) {
    int32_t *ids;
    ck_assert_msg(tokenizer_encode(t, s, n, false, &ids, n_ids) == 0, "%s", err_get());
    return ids;
}

/* ids of a equal the ids of b followed by those of c (c may be NULL) */
static void expect_same(const Tokenizer *t, const char *a, size_t na, const char *b, size_t nb, const char *c, size_t nc) {
    size_t n1, n2, n3 = 0;
    int32_t *x = enc(t, a, na, &n1), *y = enc(t, b, nb, &n2), *z = c ? enc(t, c, nc, &n3) : NULL;
    ck_assert_uint_eq(n1, n2 + n3);
    for (size_t i = 0; i < n2; i++) ck_assert_int_eq(x[i], y[i]);
    for (size_t i = 0; i < n3; i++) ck_assert_int_eq(x[n2 + i], z[i]);
    free(x);
    free(y);
    free(z);
}

/* Refact-1.6B's vocabulary has no symbol for C0 C1 F1 F5-FF. llama.cpp reads invalid UTF-8 as
 * U+FFFD, so a stray C0 or FF encodes as U+FFFD does; a byte 0x80 the vocabulary has keeps its
 * own symbol (carve's round trip); F1 inside the well-formed 4-byte sequence of U+40000 has no
 * token and, as in llama.cpp, yields none (its symbol's UTF-8 bytes are no tokens). */
START_TEST(test_refact_missing_bytes) {
    char *p = shared_path("tokenizers/ggml-vocab-refact.gguf");
    if (!p) return;
    Tokenizer *t = NULL;
    ck_assert_msg(tokenizer_load(p, &t) == 0, "%s", err_get());
    expect_same(t, "\xc0", 1, "\xef\xbf\xbd", 3, NULL, 0);
    expect_same(t, "a\xff" "b", 3, "a\xef\xbf\xbd" "b", 5, NULL, 0);
    expect_same(t, "\xc1\xf5\xfe", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, NULL, 0);
    expect_same(t, "a\xf1\x80\x80\x80", 5, "a", 1, "\x80\x80\x80", 3);
    size_t n, back_len;
    int32_t *ids = enc(t, "x\xc0y\x80", 4, &n);
    char *back = tokenizer_decode(t, ids, n, &back_len);
    ck_assert_ptr_nonnull(back);
    ck_assert_uint_eq(back_len, 6);
    ck_assert(!memcmp(back, "x\xef\xbf\xbdy\x80", 6));
    free(back);
    free(ids);
    tokenizer_free(t);
    free(p);
}
END_TEST

/* DeepSeek-Coder's GGUF marks 254 added tokens user-defined (type 4): "\xc3\xbc" (u umlaut, id
 * 32009) and "<|User|>" (32019) are matched in the text before the pre-tokenizer, as llama.cpp
 * does; control tokens (BOS "<\xef\xbd\x9cbegin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>") stay plain text. */
START_TEST(test_deepseek_user_tokens) {
    char *p = shared_path("tokenizers/ggml-vocab-deepseek-coder.gguf");
    if (!p) return;
    Tokenizer *t = NULL;
    ck_assert_msg(tokenizer_load(p, &t) == 0, "%s", err_get());
    size_t n;
    int32_t *ids = enc(t, "<|User|>\xc3\xbc", 10, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(ids[0], 32019);
    ck_assert_int_eq(ids[1], 32009);
    free(ids);
    const char *bos = tokenizer_token_text(t, 32013);
    ids = enc(t, bos, strlen(bos), &n);
    ck_assert_uint_gt(n, 1);
    for (size_t i = 0; i < n; i++) ck_assert_int_ne(ids[i], 32013);
    free(ids);
    tokenizer_free(t);
    free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tokenizer_pre");
    TCase *tc = tcase_create("pre");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_name_compiles_and_is_documented);
    tcase_add_test(tc, test_splits);
    tcase_add_test(tc, test_json_configs);
    tcase_add_test(tc, test_refact_missing_bytes);
    tcase_add_test(tc, test_deepseek_user_tokens);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
