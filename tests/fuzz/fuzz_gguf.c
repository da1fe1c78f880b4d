/* fuzz_gguf — the GGUF container (runtime/files/gguf.c), the GGUF model loader
 * (runtime/formats/gguf_model.c) and the GGUF tokenizer (tokenizer_from_gguf) via model_open,
 * then an encode of a short text. Seeds: a tiny random model exported by carve's own GGUF
 * writer in F32 and F16. */
#include "runtime/formats/export_gguf.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz.h"

static void fuzz_init(void) {}

static void fuzz_seeds(const char *dir) {
    const DType dts[2] = {DT_F32, DT_F16};
    for (int i = 0; i < 2; i++) {
        Model *m = fuzz_model("src", 5);
        /* a scored vocabulary (the synth tokenizer.json has merges, which GGUF llama cannot hold) */
        const char *tp = fuzz_path(2, "tok.bin");
        fuzz_tokenizer_bin(tp, 320);
        Tokenizer *t = NULL;
        if (tokenizer_load(tp, &t) != 0) abort();
        tokenizer_free(m->tokenizer);
        m->tokenizer = t;
        GGUFExportOptions o = {.dtype = dts[i]};
        const char *p = fuzz_path(1, "seed.gguf");
        if (export_gguf(m, p, &o) != 0) {
            fprintf(stderr, "fuzz: %s\n", err_get());
            abort();
        }
        model_free(m);
        fuzz_seed_from(dir, i ? "tiny-f16.gguf" : "tiny-f32.gguf", p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fuzz_path(0, "model.gguf");
    fuzz_write_file(p, data, size);
    Model *m = NULL;
    if (model_open(p, &m) != 0) return 0;
    if (m->tokenizer) fuzz_tokenize(m->tokenizer, "Hello world, the end.");
    model_free(m);
    return 0;
}
