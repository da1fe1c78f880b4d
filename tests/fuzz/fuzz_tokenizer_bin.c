/* fuzz_tokenizer_bin — the llama2.c tokenizer.bin reader (runtime/tokenizer/tokenizer.c), then an
 * encode / decode round of a short text with what it loaded. Seeds: small vocabularies
 * (max_token_length, then {f32 score, i32 len, bytes} per token). */
#include "runtime/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz.h"

static void fuzz_init(void) {}

static void fuzz_seeds(const char *dir) {
    const char *toks[] = {"<unk>", "<s>", "</s>", "<0x0A>", "<0x41>", "\xe2\x96\x81", "a", "b", "c", "ab",
                          "\xe2\x96\x81" "a", "bc", "the", "\xe2\x96\x81" "the", "e", "h", "t"};
    size_t nt = sizeof toks / sizeof toks[0];
    uint8_t buf[1024];
    size_t n = 0;
    int32_t max_len = 8;
    memcpy(buf, &max_len, 4), n = 4;
    for (size_t i = 0; i < nt; i++) {
        float score = -(float)i;
        int32_t len = (int32_t)strlen(toks[i]);
        memcpy(buf + n, &score, 4), n += 4;
        memcpy(buf + n, &len, 4), n += 4;
        memcpy(buf + n, toks[i], (size_t)len), n += (size_t)len;
    }
    fuzz_seed(dir, "small.bin", buf, n);
    const char *p = fuzz_path(1, "bytes.bin");
    fuzz_tokenizer_bin(p, 320);
    fuzz_seed_from(dir, "bytes.bin", p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fuzz_path(0, "tokenizer.bin");
    /* never the GGUF path of tokenizer_load (fuzz_gguf covers that) */
    if (size >= 4 && !memcmp(data, "GGUF", 4)) return 0;
    fuzz_write_file(p, data, size);
    Tokenizer *t = NULL;
    if (tokenizer_load(p, &t) != 0) return 0;
    fuzz_tokenize(t, "the abc\nA b \xc3\xa9 \xff");
    tokenizer_free(t);
    return 0;
}
