/* fuzz_tokenizer_json — the Hugging Face tokenizer.json reader (runtime/tokenizer/tok_json.c and
 * the BPE / pre-tokenizer / normalizer code it configures), then an encode / decode round.
 * Seeds: tokenizer_synth_json vocabularies of both families. */
#include "runtime/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz.h"

static void fuzz_init(void) {}

static void fuzz_seeds(const char *dir) {
    for (int family = 0; family < 2; family++) {
        const char *p = fuzz_path(1, "synth.json");
        if (tokenizer_synth_json(p, 320, family, 7) != 0) {
            fprintf(stderr, "fuzz: %s\n", err_get());
            abort();
        }
        fuzz_seed_from(dir, family ? "bytelevel.json" : "metaspace.json", p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fuzz_path(0, "tokenizer.json");
    fuzz_write_file(p, data, size);
    Tokenizer *t = NULL;
    if (tokenizer_load(p, &t) != 0) return 0;
    fuzz_tokenize(t, "Hello, world! 123 don't\n\t  caf\xc3\xa9 \xe2\x85\xa0 \xff\xfe");
    tokenizer_free(t);
    return 0;
}
