/* fuzz_llama2c — the llama2.c checkpoint loader (runtime/formats/llama2c.c) via model_open.
 * Seeds: tiny checkpoints (shared and unshared classifier) written from a header and random
 * floats. */
#include "tests/fuzz/fuzz.h"

static void fuzz_init(void) {}

static void seed_checkpoint(const char *dir, const char *name, int32_t vocab_field) {
    int32_t h[7] = {8, 16, 1, 2, 1, vocab_field, 8};
    int V = vocab_field < 0 ? -vocab_field : vocab_field, D = 8, F = 16, hd = 4, kvd = 4, S = 8;
    size_t floats = (size_t)V * D + D + D * D + 2 * kvd * D + D * D + D + 3 * F * D + D + S * hd;
    if (vocab_field < 0) floats += (size_t)V * D;
    size_t n = 28 + floats * 4;
    uint8_t *buf = calloc(1, n);
    memcpy(buf, h, sizeof h);
    float *p = (float *)(buf + 28);
    uint32_t x = 12345;
    for (size_t i = 0; i < floats; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (float)((int)(x >> 16) % 200 - 100) / 400.0f;
    }
    fuzz_seed(dir, name, buf, n);
    free(buf);
}

static void fuzz_seeds(const char *dir) {
    seed_checkpoint(dir, "shared.bin", 16);
    seed_checkpoint(dir, "unshared.bin", -16);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = fuzz_path(0, "model.bin");
    fuzz_write_file(p, data, size);
    Model *m = NULL;
    if (model_open(p, &m) == 0) model_free(m);
    return 0;
}
