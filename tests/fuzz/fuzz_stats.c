/* fuzz_stats — the calibration statistics cache file (reform/stats.c: the CARVST02 header, the
 * per-layer blocks, the boundary cosines and their checksums): verify() and stats_layer() of
 * every layer. The harness includes stats.c to reach its reader directly (no rebuild on a bad
 * file), and before writing the input it puts this process's model identity and text hash into
 * the header and recomputes every checksum the input has room for, so mutations reach the
 * fields behind them. Seeds: statistics of a tiny random model over a few random-token windows. */
#include "reform/stats.c"
#include "tests/fuzz/fuzz.h"

#define TEXT_HASH 0x0123456789abcdefULL

static Model *model;

static void fuzz_init(void) { model = fuzz_model("m", 11); }

static void fuzz_seeds(const char *dir) {
    Windows w = {.n = 3, .len = 16};
    w.tokens = malloc((size_t)w.n * w.len * sizeof *w.tokens);
    for (int i = 0; i < w.n * w.len; i++) w.tokens[i] = (i * 7 + 3) % model->cfg.vocab_size;
    const char *p = fuzz_path(1, "seed.bin");
    if (stats_build(model, &w, TEXT_HASH, 5, p) != 0) {
        fprintf(stderr, "fuzz: %s\n", err_get());
        abort();
    }
    free(w.tokens);
    fuzz_seed_from(dir, "tiny.bin", p);
}

/* The checksum of [from, to) into the 8 bytes at `to`, when the input holds them. */
static size_t fix_sum(uint8_t *b, size_t n, size_t from, size_t to) {
    if (to + 8 > n) return n;
    uint64_t h = fnv1a64(FNV64_INIT, b + from, to - from);
    memcpy(b + to, &h, 8);
    return to + 8;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const Model *m = model;
    int nl = m->cfg.n_layers;
    uint8_t *b = malloc(size ? size : 1);
    memcpy(b, data, size);
    int32_t nls[2] = {0, 0};
    uint64_t seed = 0;
    if (size >= 40) {
        uint64_t th = TEXT_HASH;
        memcpy(b + 8, &m->identity, 8);
        memcpy(b + 16, &th, 8);
        memcpy(nls, b + 24, 8);
        memcpy(&seed, b + 32, 8);
        size_t pos = fix_sum(b, size, 0, 52 + 8 * (size_t)nl);
        for (int l = 0; l < nl && pos < size; l++) {
            size_t start = pos, len = payload_doubles(m->cfg.dim, layer_q(m, l), layer_f(m, l)) * sizeof(double);
            if (start + len > size) break;
            pos = fix_sum(b, size, start, start + len);
        }
        size_t nb = (size_t)(nl + 1) * (nl + 1) * sizeof(double);
        if (pos + nb <= size) fix_sum(b, size, pos, pos + nb);
    }
    const char *p = fuzz_path(0, "stats.bin");
    fuzz_write_file(p, b, size);
    free(b);
    StatsFile *sf = stats_file_new(m, xstrdup(p), nls[0], nls[1], seed, TEXT_HASH);
    if (verify(sf, m, TEXT_HASH, nls[0], nls[1], seed) == 0)
        for (int l = 0; l < nl; l++) {
            LayerStats s;
            if (stats_layer(sf, l, &s) == 0) layer_stats_free(&s);
        }
    stats_close(sf);
    return 0;
}
