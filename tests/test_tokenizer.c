/* Tests for the tokenizers: llama.cpp's golden vectors on the four vocabulary-only GGUF files,
 * round trips on arbitrary bytes for every family, known Llama-2 ids, tokenizer.json on
 * generated vocabularies (tok_synth), bad-input errors, and a speed line (never asserted). */
#include <math.h>

#include <jansson.h>

#include "runtime/files/gguf.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/testutil.h"

static char *tmpdir;
static void setup(void) { tmpdir = test_tmpdir("tok"); }
static void teardown(void) {
    free(tmpdir);
    tmpdir = NULL;
}

static Tokenizer *load_ok(const char *path) {
    Tokenizer *t = NULL;
    ck_assert_msg(tokenizer_load(path, &t) == 0, "%s", err_get());
    return t;
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(b, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

/* encode -> decode must give the input back byte for byte */
static void check_round_trip(const Tokenizer *t, const char *s, size_t n) {
    int32_t *ids;
    size_t n_ids, back_len;
    ck_assert_msg(tokenizer_encode(t, s, n, true, &ids, &n_ids) == 0, "%s", err_get());
    char *back = tokenizer_decode(t, ids, n_ids, &back_len);
    ck_assert_ptr_nonnull(back);
    ck_assert_msg(back_len == n && memcmp(back, s, n) == 0, "round trip failed for %zu bytes ('%.40s' -> '%.40s')", n,
                  s, back);
    free(back);
    free(ids);
}

static const char *const SAMPLES[] = {
    "Hello world",
    "",
    " ",
    "   leading and trailing spaces   ",
    "tabs\tand\nnewlines\r\n\n",
    "Führer naïve café — ½ «quotes»",
    "日本語のテキストと中文字符",
    "emoji 🦀🚀 👩‍👩‍👧 zwj ✅",
    "invalid \xff\xfe bytes \xc3( and \xe2\x82 cut \xf0\x9f\x98",
    "NUL\0inside",
    "<s> </s> <|endoftext|> <unk> are plain text",
    "numbers 1234567 3.14159 and 'quotes' it's we'll",
};
static const size_t SAMPLE_LEN[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 11, 0, 0};

static void round_trip_all(const Tokenizer *t) {
    for (size_t i = 0; i < sizeof SAMPLES / sizeof SAMPLES[0]; i++)
        check_round_trip(t, SAMPLES[i], SAMPLE_LEN[i] ? SAMPLE_LEN[i] : strlen(SAMPLES[i]));
    /* random bytes, random ASCII and random code points */
    uint64_t s = 12345;
    char buf[3000];
    for (int rep = 0; rep < 6; rep++) {
        size_t n = 0;
        while (n < sizeof buf - 8) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            uint32_t r = (uint32_t)(s >> 33);
            if (rep % 3 == 0) buf[n++] = (char)r;
            else if (rep % 3 == 1) buf[n++] = (char)(32 + r % 95);
            else {
                uint32_t cp = r % 0x2FFFF;
                if (cp >= 0xD800 && cp < 0xE000) cp = 0x4E00 + r % 100;
                if (cp == 0) cp = 'x';
                if (cp < 0x80) buf[n++] = (char)cp;
                else if (cp < 0x800) { buf[n++] = (char)(0xC0 | cp >> 6); buf[n++] = (char)(0x80 | (cp & 63)); }
                else if (cp < 0x10000) {
                    buf[n++] = (char)(0xE0 | cp >> 12); buf[n++] = (char)(0x80 | ((cp >> 6) & 63));
                    buf[n++] = (char)(0x80 | (cp & 63));
                } else {
                    buf[n++] = (char)(0xF0 | cp >> 18); buf[n++] = (char)(0x80 | ((cp >> 12) & 63));
                    buf[n++] = (char)(0x80 | ((cp >> 6) & 63)); buf[n++] = (char)(0x80 | (cp & 63));
                }
            }
        }
        check_round_trip(t, buf, n);
    }
}

/* ---------------------------------------------------------------- golden vectors */

static void check_golden(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizers/%s", name);
    char *gguf = shared_path(rel);
    if (!gguf) return; /* ../shared absent */
    char *inp_path = xmalloc(strlen(gguf) + 8), *out_path = xmalloc(strlen(gguf) + 8);
    sprintf(inp_path, "%s.inp", gguf);
    sprintf(out_path, "%s.out", gguf);
    size_t inp_len, out_len;
    char *inp = read_file(inp_path, &inp_len), *out = read_file(out_path, &out_len);
    ck_assert_ptr_nonnull(inp);
    ck_assert_ptr_nonnull(out);
    Tokenizer *t = load_ok(gguf);
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sl = strlen(sep);
    char *p = inp, *end = inp + inp_len, *line = out;
    int cases = 0;
    while (p < end) {
        char *q = memmem(p, (size_t)(end - p), sep, sl);
        size_t n = q ? (size_t)(q - p) : (size_t)(end - p);
        char *eol = strchr(line, '\n');
        ck_assert_msg(eol != NULL, "%s: fewer expected lines than inputs", name);
        *eol = 0;
        int32_t *ids;
        size_t n_ids;
        ck_assert_int_eq(tokenizer_encode(t, p, n, false, &ids, &n_ids), 0);
        char got[8192];
        size_t o = 0;
        for (size_t i = 0; i < n_ids && o < sizeof got - 16; i++) o += (size_t)sprintf(got + o, " %d", (int)ids[i]);
        got[o] = 0;
        /* the .out lines start with a space before each id */
        ck_assert_msg(!strcmp(got, line), "%s case %d '%.*s': got '%s' expected '%s'", name, cases, (int)n, p, got, line);
        check_round_trip(t, p, n);
        free(ids);
        cases++;
        line = eol + 1;
        if (!q) break;
        p = q + sl;
    }
    ck_assert_int_ge(cases, 40);
    printf("%s: %d golden cases reproduced\n", name, cases);
    tokenizer_free(t);
    free(inp);
    free(out);
    free(inp_path);
    free(out_path);
    free(gguf);
}

START_TEST(test_golden_llama_spm) { check_golden("ggml-vocab-llama-spm.gguf"); }
END_TEST
START_TEST(test_golden_gpt2) { check_golden("ggml-vocab-gpt-2.gguf"); }
END_TEST
START_TEST(test_golden_deepseek_coder) { check_golden("ggml-vocab-deepseek-coder.gguf"); }
END_TEST
START_TEST(test_golden_refact) { check_golden("ggml-vocab-refact.gguf"); }
END_TEST

START_TEST(test_gguf_round_trips) {
    const char *names[] = {"tokenizers/ggml-vocab-llama-spm.gguf", "tokenizers/ggml-vocab-gpt-2.gguf"};
    for (int k = 0; k < 2; k++) {
        char *p = shared_path(names[k]);
        if (!p) continue;
        Tokenizer *t = load_ok(p);
        ck_assert_int_eq(tokenizer_bos(t), k == 0 ? 1 : 50256);
        round_trip_all(t);
        tokenizer_free(t);
        free(p);
    }
}
END_TEST

/* ---------------------------------------------------------------- llama2.c tokenizer.bin */

static void expect_ids(const Tokenizer *t, const char *text, bool bos, const int32_t *want, size_t n_want) {
    int32_t *ids;
    size_t n;
    ck_assert_int_eq(tokenizer_encode(t, text, strlen(text), bos, &ids, &n), 0);
    ck_assert_msg(n == n_want, "'%s': %zu ids, expected %zu", text, n, n_want);
    for (size_t i = 0; i < n; i++) ck_assert_msg(ids[i] == want[i], "'%s' id %zu: %d != %d", text, i, ids[i], want[i]);
    free(ids);
}

START_TEST(test_llama2_bin) {
    char *p = shared_path("models/llama2-tokenizer/tokenizer.bin");
    if (!p) return;
    Tokenizer *t = load_ok(p);
    ck_assert_int_eq(tokenizer_vocab_size(t), 32000);
    ck_assert_int_eq(tokenizer_bos(t), 1);
    ck_assert_int_eq(tokenizer_eos(t), 2);
    /* Llama-2 ids: ▁Hello 15043, ▁world 3186, "," 29892, ▁this 445, ▁is 338, ▁a 263, ▁test 1243 */
    expect_ids(t, "Hello world, this is a test", true, (const int32_t[]){1, 15043, 3186, 29892, 445, 338, 263, 1243}, 8);
    /* byte fallback: U+1F980 is not in the vocabulary -> <0xF0> <0x9F> <0xA6> <0x80> = 243 162 169 131 */
    expect_ids(t, "\xf0\x9f\xa6\x80", false, (const int32_t[]){29871, 243, 162, 169, 131}, 5);
    round_trip_all(t);
    char *wiki = shared_path("data/wikitext-2/wiki.valid.tokens");
    if (wiki) {
        size_t n;
        char *text = read_file(wiki, &n);
        ck_assert_ptr_nonnull(text);
        check_round_trip(t, text, n < 200000 ? n : 200000);
        free(text);
        free(wiki);
    }
    tokenizer_free(t);
    free(p);
}
END_TEST

START_TEST(test_tok512) {
    char *p = shared_path("models/stories260K/tok512.bin");
    if (!p) return;
    Tokenizer *t = load_ok(p);
    ck_assert_int_eq(tokenizer_vocab_size(t), 512);
    ck_assert_str_eq(tokenizer_token_text(t, 3), "<0x00>");
    round_trip_all(t);
    char *valid = shared_path("data/tinystories/valid.txt");
    if (valid) {
        size_t n;
        char *text = read_file(valid, &n);
        check_round_trip(t, text, n);
        free(text);
        free(valid);
    }
    tokenizer_free(t);
    free(p);
}
END_TEST

/* ---------------------------------------------------------------- tokenizer.json (generated) */

/* the token texts of encode(text) without BOS, joined by '|' */
static char *pieces(const Tokenizer *t, const char *text) {
    int32_t *ids;
    size_t n;
    ck_assert_int_eq(tokenizer_encode(t, text, strlen(text), false, &ids, &n), 0);
    char *out = xcalloc(1, 4096);
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(out, "|");
        strcat(out, tokenizer_token_text(t, ids[i]));
    }
    free(ids);
    return out;
}

/* A larger generated vocabulary: exact size (random-merge phase included) and round trips. */
static void synth_round_trip(const char *path, int size, int family, uint64_t seed) {
    ck_assert_int_eq(tokenizer_synth_json(path, size, family, seed), 0);
    Tokenizer *t = load_ok(path);
    ck_assert_int_eq(tokenizer_vocab_size(t), size);
    round_trip_all(t);
    tokenizer_free(t);
}

START_TEST(test_json_sentencepiece_family) {
    char *path = path_join(tmpdir, "spm.json");
    ck_assert_msg(tokenizer_synth_json(path, 600, 0, 7) == 0, "%s", err_get());
    Tokenizer *t = load_ok(path);
    ck_assert_int_eq(tokenizer_vocab_size(t), 600);
    ck_assert_int_eq(tokenizer_bos(t), 1);
    ck_assert_int_eq(tokenizer_eos(t), 2);
    /* hand-checked: the first learned merges are (h,e) (▁,t) (▁t,he), and "girl" is frequent in the sample */
    char *s = pieces(t, "the girl");
    ck_assert_str_eq(s, "\xe2\x96\x81the|\xe2\x96\x81girl");
    free(s);
    /* "é" is not among the sample's characters: byte fallback */
    s = pieces(t, "\xc3\xa9");
    ck_assert_str_eq(s, "\xe2\x96\x81|<0xC3>|<0xA9>");
    free(s);
    round_trip_all(t);
    tokenizer_free(t);
    synth_round_trip(path, 2000, 0, 3);
    ck_assert_int_eq(tokenizer_synth_json(path, 100, 0, 3), -1); /* below the base alphabet */
    ck_assert_ptr_nonnull(strstr(err_get(), "too small"));
    free(path);
}
END_TEST

START_TEST(test_json_byte_level_family) {
    char *path = path_join(tmpdir, "bl.json");
    ck_assert_msg(tokenizer_synth_json(path, 600, 1, 7) == 0, "%s", err_get());
    Tokenizer *t = load_ok(path);
    ck_assert_int_eq(tokenizer_vocab_size(t), 600);
    ck_assert_int_eq(tokenizer_bos(t), 599);
    ck_assert_str_eq(tokenizer_token_text(t, 599), "<|endoftext|>");
    /* hand-checked: the regex splits "the| girl"; (h,e) is the first merge but (t,he) was never
     * learned because the sample's "the" always follows a space; " girl" -> "Ġgirl" */
    char *s = pieces(t, "the girl");
    ck_assert_str_eq(s, "t|he|\xc4\xa0girl");
    free(s);
    /* special-token text is plain text */
    s = pieces(t, "<|endoftext|>");
    ck_assert_ptr_null(strstr(s, "<|endoftext|>"));
    free(s);
    round_trip_all(t);
    tokenizer_free(t);
    synth_round_trip(path, 5000, 1, 11);
    free(path);
}
END_TEST

/* A hand-made Llama-3-style byte-level tokenizer.json: Sequence[Split(llama3 regex), ByteLevel
 * (no regex)], ignore_merges, "a b" merges, BOS from a TemplateProcessing inside a Sequence. */
START_TEST(test_json_llama3_style) {
    json_t *vocab = json_object();
    int id = 0;
    for (int b = 0; b < 256; b++) {
        char u[8];
        uint32_t cp = b;
        if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
            int n = 0;
            for (int k = 0; k < b; k++) n += !((k >= 33 && k <= 126) || (k >= 161 && k <= 172) || (k >= 174 && k <= 255));
            cp = 256 + (uint32_t)n;
        }
        if (cp < 0x80) { u[0] = (char)cp; u[1] = 0; }
        else { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 63)); u[2] = 0; }
        json_object_set_new(vocab, u, json_integer(id++));
    }
    const char *extra[] = {"12", "123", "\xc4\xa0w", "\xc4\xa0wo", "Hello"};
    for (int k = 0; k < 5; k++) json_object_set_new(vocab, extra[k], json_integer(id++));
    json_object_set_new(vocab, "<|begin_of_text|>", json_integer(id++));
    json_t *root = json_pack(
        "{s:[{s:i, s:s, s:b}], s:n, s:{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b}]},"
        " s:{s:s, s:[{s:s}, {s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:{s:{s:s, s:[i], s:[s]}}}]},"
        " s:{s:s, s:b, s:o, s:[s, s, s, s]}}",
        "added_tokens", "id", id - 1, "content", "<|begin_of_text|>", "special", 1, "normalizer",
        "pre_tokenizer", "type", "Sequence", "pretokenizers", "type", "Split", "pattern", "Regex",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "behavior", "Isolated", "invert", 0, "type", "ByteLevel", "add_prefix_space", 0, "use_regex", 0,
        "post_processor", "type", "Sequence", "processors", "type", "ByteLevel", "type", "TemplateProcessing", "single",
        "SpecialToken", "id", "<|begin_of_text|>", "type_id", 0, "Sequence", "id", "A", "type_id", 0, "special_tokens",
        "<|begin_of_text|>", "id", "<|begin_of_text|>", "ids", id - 1, "tokens", "<|begin_of_text|>",
        "model", "type", "BPE", "ignore_merges", 1, "vocab", vocab, "merges", "1 2", "12 3", "\xc4\xa0 w", "\xc4\xa0w o");
    ck_assert_ptr_nonnull(root);
    char *path = path_join(tmpdir, "l3.json");
    ck_assert_int_eq(json_dump_file(root, path, 0), 0);
    json_decref(root);
    Tokenizer *t = load_ok(path);
    ck_assert_int_eq(tokenizer_bos(t), 261);
    /* "Hello" is a token with no merges: ignore_merges emits it whole; digits go in threes
     * ("12345" -> "123" "45"); " wo" merges by rank to "Ġwo", "rld" stays bytes */
    char *s = pieces(t, "Hello world 12345");
    ck_assert_str_eq(s, "Hello|\xc4\xa0wo|r|l|d|\xc4\xa0|123|4|5");
    free(s);
    ck_assert_str_eq(tokenizer_gguf_pre(t), "llama-bpe");
    round_trip_all(t);
    tokenizer_free(t);
    free(path);
}
END_TEST

/* A sentencepiece-style tokenizer.json with a Metaspace pre-tokenizer (split into words). */
START_TEST(test_json_metaspace) {
    const char *js =
        "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"prepend_scheme\": \"first\", \"split\": true},"
        " \"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true}],"
        " \"model\": {\"type\": \"BPE\", \"byte_fallback\": false, \"unk_token\": \"<unk>\","
        "  \"vocab\": {\"<unk>\": 0, \"\\u2581\": 1, \"a\": 2, \"b\": 3, \"\\u2581a\": 4, \"\\u2581b\": 5, \"ab\": 6, \"\\u2581ab\": 7},"
        "  \"merges\": [\"a b\", \"\\u2581 a\", \"\\u2581 b\", \"\\u2581a b\"]}}";
    char *path = path_join(tmpdir, "ms.json");
    write_bytes(path, js, strlen(js));
    Tokenizer *t = load_ok(path);
    /* "ab b" -> "▁ab▁b" -> words "▁ab" "▁b": (a,b) is rank 0, so "▁" + "ab" - and (▁, ab) is no
     * merge - stays two tokens; "▁b" merges. Characters outside the vocabulary become <unk>. */
    char *s = pieces(t, "ab b");
    ck_assert_str_eq(s, "\xe2\x96\x81|ab|\xe2\x96\x81" "b");
    free(s);
    s = pieces(t, "a c");
    ck_assert_str_eq(s, "\xe2\x96\x81" "a|\xe2\x96\x81|<unk>");
    free(s);
    int32_t *ids;
    size_t n, dl;
    ck_assert_int_eq(tokenizer_encode(t, "ab ba", 5, false, &ids, &n), 0);
    char *back = tokenizer_decode(t, ids, n, &dl);
    ck_assert_str_eq(back, "ab ba");
    free(back);
    free(ids);
    tokenizer_free(t);
    free(path);
}
END_TEST

/* ---------------------------------------------------------------- bad input */

static void expect_load_error(const char *path, const char *needle) {
    Tokenizer *t = (Tokenizer *)1;
    ck_assert_int_eq(tokenizer_load(path, &t), -1);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err_get(), path) != NULL, "message lacks the path: %s", err_get());
    ck_assert_msg(strstr(err_get(), needle) != NULL, "expected '%s' in: %s", needle, err_get());
    ck_assert(strchr(err_get(), '\n') == NULL);
}

START_TEST(test_bad_llama2c) {
    char *p = path_join(tmpdir, "tok.bin");
    /* header + one record {score 0, len 5, "hello"} cut at every length */
    uint8_t rec[4 + 8 + 5 + 8 + 3 + 8 + 4];
    int32_t maxlen = 5, l5 = 5, l3 = 3, l4 = 4;
    float sc = 0;
    memcpy(rec, &maxlen, 4);
    memcpy(rec + 4, &sc, 4); memcpy(rec + 8, &l5, 4); memcpy(rec + 12, "<unk>", 5);
    memcpy(rec + 17, &sc, 4); memcpy(rec + 21, &l3, 4); memcpy(rec + 25, "<s>", 3);
    memcpy(rec + 28, &sc, 4); memcpy(rec + 32, &l4, 4); memcpy(rec + 36, "</s>", 4);
    write_bytes(p, rec, sizeof rec);
    Tokenizer *t = load_ok(p);
    ck_assert_int_eq(tokenizer_vocab_size(t), 3);
    tokenizer_free(t);
    write_bytes(p, rec, 2);
    expect_load_error(p, "truncated");
    write_bytes(p, rec, 10);
    expect_load_error(p, "truncated");
    write_bytes(p, rec, 14);
    expect_load_error(p, "truncated");
    write_bytes(p, rec, sizeof rec - 1);
    expect_load_error(p, "truncated");
    write_bytes(p, rec, 17);
    expect_load_error(p, "holds 1 tokens");
    int32_t neg = -7;
    memcpy(rec + 8, &neg, 4);
    write_bytes(p, rec, sizeof rec);
    expect_load_error(p, "corrupt");
    float nan_score = NAN;
    memcpy(rec + 8, &l5, 4);
    memcpy(rec + 4, &nan_score, 4);
    write_bytes(p, rec, sizeof rec);
    expect_load_error(p, "non-finite score");
    int32_t huge = 1 << 30;
    memcpy(rec, &huge, 4);
    write_bytes(p, rec, sizeof rec);
    expect_load_error(p, "max_token_length");
    free(p);
    p = path_join(tmpdir, "missing.bin");
    expect_load_error(p, "cannot open");
    free(p);
}
END_TEST

START_TEST(test_bad_json) {
    char *p = path_join(tmpdir, "tokenizer.json");
    const char *cases[][2] = {
        {"{not json", "not valid JSON"},
        {"[1, 2]", "not a JSON object"},
        {"{\"version\": \"1.0\"}", "no 'model' object"},
        {"{\"model\": {\"type\": \"BPE\", \"merges\": []}}", "model.vocab is missing"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", "model.merges is missing"},
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}", "'Unigram' is not supported"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -4}, \"merges\": []}}", "invalid id"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [7]}}", "model.merges[0]"},
        {"{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
         "lacks the symbol for byte"},
        {"{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}, "
         "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
         "does not compile"},
        {"{\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
         "'BertPreTokenizer' is not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_bytes(p, cases[i][0], strlen(cases[i][0]));
        expect_load_error(p, cases[i][1]);
    }
    free(p);
}
END_TEST

/* A vocab-only GGUF with the given string KVs (key, value pairs) and an optional token list. */
static void write_gguf(const char *path, const char *const *kv, int n_kv, int n_tokens) {
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    uint32_t ver = 3, ty;
    uint64_t nt = 0, nk = (uint64_t)n_kv + (n_tokens > 0), len;
    fwrite("GGUF", 1, 4, fp);
    fwrite(&ver, 4, 1, fp);
    fwrite(&nt, 8, 1, fp);
    fwrite(&nk, 8, 1, fp);
    for (int i = 0; i < n_kv; i++) {
        len = strlen(kv[2 * i]);
        fwrite(&len, 8, 1, fp);
        fwrite(kv[2 * i], 1, len, fp);
        ty = GGUF_TYPE_STRING;
        fwrite(&ty, 4, 1, fp);
        len = strlen(kv[2 * i + 1]);
        fwrite(&len, 8, 1, fp);
        fwrite(kv[2 * i + 1], 1, len, fp);
    }
    if (n_tokens > 0) {
        const char *key = "tokenizer.ggml.tokens";
        len = strlen(key);
        fwrite(&len, 8, 1, fp);
        fwrite(key, 1, len, fp);
        ty = GGUF_TYPE_ARRAY;
        fwrite(&ty, 4, 1, fp);
        ty = GGUF_TYPE_STRING;
        fwrite(&ty, 4, 1, fp);
        uint64_t n = (uint64_t)n_tokens;
        fwrite(&n, 8, 1, fp);
        for (int i = 0; i < n_tokens; i++) {
            char s[16];
            len = (uint64_t)snprintf(s, sizeof s, "t%d", i);
            fwrite(&len, 8, 1, fp);
            fwrite(s, 1, len, fp);
        }
    }
    ck_assert_int_eq(fclose(fp), 0);
}

START_TEST(test_bad_gguf) {
    char *p = path_join(tmpdir, "v.gguf");
    write_gguf(p, (const char *[]){"general.architecture", "llama"}, 1, 0);
    expect_load_error(p, "missing tokenizer key 'tokenizer.ggml.model'");
    write_gguf(p, (const char *[]){"tokenizer.ggml.model", "llama"}, 1, 0);
    expect_load_error(p, "missing tokenizer key 'tokenizer.ggml.tokens'");
    write_gguf(p, (const char *[]){"tokenizer.ggml.model", "bert"}, 1, 5);
    expect_load_error(p, "'bert' is not supported");
    write_gguf(p, (const char *[]){"tokenizer.ggml.model", "gpt2", "tokenizer.ggml.pre", "klingon"}, 2, 5);
    expect_load_error(p, "tokenizer.ggml.pre 'klingon' is not supported");
    write_gguf(p, (const char *[]){"tokenizer.ggml.model", "gpt2", "tokenizer.ggml.pre", "kimi-k2"}, 2, 5);
    expect_load_error(p, "tokenizer.ggml.pre 'kimi-k2' is not supported"); /* llama.cpp's hand-written split */
    /* a byte-level vocabulary needs all 256 byte symbols and a merge list */
    write_gguf(p, (const char *[]){"tokenizer.ggml.model", "gpt2", "tokenizer.ggml.pre", "gpt-2"}, 2, 5);
    expect_load_error(p, "lacks the symbol for byte");
    /* a small but complete SPM vocabulary loads (scores and types default) */
    write_gguf(p, (const char *[]){"tokenizer.ggml.model", "llama"}, 1, 5);
    Tokenizer *t = load_ok(p);
    ck_assert_int_eq(tokenizer_vocab_size(t), 5);
    tokenizer_free(t);
    free(p);
}
END_TEST

/* ---------------------------------------------------------------- speed (reported, never asserted) */

static void speed(const char *tok_rel, const char *text_rel) {
    char *tp = shared_path(tok_rel), *xp = shared_path(text_rel);
    if (tp && xp) {
        Tokenizer *t = load_ok(tp);
        size_t n;
        char *text = read_file(xp, &n);
        int32_t *ids;
        size_t n_ids;
        double t0 = now_seconds();
        ck_assert_int_eq(tokenizer_encode(t, text, n, true, &ids, &n_ids), 0);
        double dt = now_seconds() - t0;
        printf("speed: %s on %s: %.2f MB -> %zu tokens in %.3f s = %.1f MB/s\n", tok_rel, text_rel, n / 1e6, n_ids, dt,
               n / 1e6 / (dt > 0 ? dt : 1e-9));
        free(ids);
        free(text);
        tokenizer_free(t);
    }
    free(tp);
    free(xp);
}

START_TEST(test_speed_report) {
    speed("models/llama2-tokenizer/tokenizer.bin", "data/wikitext-2/wiki.valid.tokens");
    speed("models/llama2-tokenizer/tokenizer.bin", "data/tinystories/valid.txt");
    speed("tokenizers/ggml-vocab-gpt-2.gguf", "data/wikitext-2/wiki.valid.tokens");
    /* one 1 MB word with no spaces: a single merge chunk, still n log n */
    char *tp = shared_path("models/llama2-tokenizer/tokenizer.bin");
    if (!tp) return;
    Tokenizer *t = load_ok(tp);
    size_t n = 1 << 20;
    char *text = xmalloc(n);
    for (size_t i = 0; i < n; i++) text[i] = "abcdefghij"[(i * 7 + i / 3) % 10];
    int32_t *ids;
    size_t n_ids;
    double t0 = now_seconds();
    ck_assert_int_eq(tokenizer_encode(t, text, n, false, &ids, &n_ids), 0);
    printf("speed: llama2 tokenizer.bin on 1 MB without spaces: %.3f s (%zu tokens)\n", now_seconds() - t0, n_ids);
    check_round_trip(t, text, n);
    free(ids);
    free(text);
    tokenizer_free(t);
    free(tp);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("tokenizer");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_golden_llama_spm);
    tcase_add_test(tc, test_golden_gpt2);
    tcase_add_test(tc, test_golden_deepseek_coder);
    tcase_add_test(tc, test_golden_refact);
    tcase_add_test(tc, test_gguf_round_trips);
    tcase_add_test(tc, test_llama2_bin);
    tcase_add_test(tc, test_tok512);
    tcase_add_test(tc, test_json_sentencepiece_family);
    tcase_add_test(tc, test_json_byte_level_family);
    tcase_add_test(tc, test_json_llama3_style);
    tcase_add_test(tc, test_json_metaspace);
    tcase_add_test(tc, test_bad_llama2c);
    tcase_add_test(tc, test_bad_json);
    tcase_add_test(tc, test_bad_gguf);
    tcase_add_test(tc, test_speed_report);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
