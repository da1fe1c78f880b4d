/* fuzz_hf — the Hugging Face model directory: config.json (runtime/formats/hf_model.c) and
 * model.safetensors (runtime/files/safetensors.c) via model_open. Input: u32 little-endian n,
 * n bytes of config.json, then the safetensors file. Seeds: tiny random models (runtime/synth)
 * in F32 and BF16. */
#include "tests/fuzz/fuzz.h"

static void fuzz_init(void) {}

static void fuzz_seeds(const char *dir) {
    const DType dts[2] = {DT_F32, DT_BF16};
    for (int i = 0; i < 2; i++) {
        const char *src = fuzz_synth("src", dts[i], 9);
        char cp[700], sp[700];
        snprintf(cp, sizeof cp, "%s/config.json", src);
        snprintf(sp, sizeof sp, "%s/model.safetensors", src);
        size_t nc = 0, ns = 0;
        char *c = read_file(cp, &nc), *s = read_file(sp, &ns);
        if (!c || !s) abort();
        uint8_t *buf = malloc(4 + nc + ns);
        uint32_t n32 = (uint32_t)nc;
        memcpy(buf, &n32, 4);
        memcpy(buf + 4, c, nc);
        memcpy(buf + 4 + nc, s, ns);
        fuzz_seed(dir, i ? "tiny-bf16" : "tiny-f32", buf, 4 + nc + ns);
        free(buf), free(c), free(s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    uint32_t nc;
    memcpy(&nc, data, 4);
    if (nc > size - 4) nc = (uint32_t)(size - 4);
    static int made = 0;
    const char *d = fuzz_path(0, "hf");
    if (!made) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
        if (system(cmd) != 0) abort();
        made = 1;
    }
    fuzz_write_file(fuzz_path(1, "hf/config.json"), data + 4, nc);
    fuzz_write_file(fuzz_path(2, "hf/model.safetensors"), data + 4 + nc, size - 4 - nc);
    Model *m = NULL;
    if (model_open(d, &m) == 0) model_free(m);
    return 0;
}
