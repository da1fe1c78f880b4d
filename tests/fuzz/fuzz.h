/* fuzz — what the libFuzzer harnesses of tests/fuzz/ share (one harness per parser; built by
 * `make fuzz` with clang -fsanitize=fuzzer,address,undefined into build-fuzz/, run by
 * tests/fuzz/run.sh).
 *
 * Every parser carve has reads a path, so a harness writes its input to a file in a private
 * directory (fuzz_path) and opens that. Seed corpora are generated, not stored: a harness run
 * with CARVE_FUZZ_SEEDS=DIR writes its seeds into DIR (fuzz_seeds, from LLVMFuzzerInitialize)
 * and exits. A harness may build fixtures it needs once (a tiny random model) in fuzz_init. */
#ifndef CARVE_FUZZ_H
#define CARVE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/base/util.h"
#include "runtime/formats/model_open.h"
#include "runtime/synth/synth.h"
#include "runtime/tokenizer/tokenizer.h"

/* Defined by each harness. */
static void fuzz_seeds(const char *dir);  /* write the seed corpus into dir */
static void fuzz_init(void);              /* one-time fixtures (may do nothing) */

static char fuzz_dir[512];

/* DIR/name in the harness's private directory. Returned buffer is static per slot (0..3). */
static inline const char *fuzz_path(int slot, const char *name) {
    static char buf[4][640];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", fuzz_dir, name);
    return buf[slot];
}

static inline void fuzz_write_file(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(data, 1, n, fp) != n) || fclose(fp) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
}

/* Write one seed file DIR/name. */
static inline void fuzz_seed(const char *dir, const char *name, const void *data, size_t n) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    fuzz_write_file(p, data, n);
}

/* A seed from a file (e.g. one a library writer produced). */
static inline void fuzz_seed_from(const char *dir, const char *name, const char *src) {
    size_t n = 0;
    char *buf = read_file(src, &n);
    if (!buf) {
        fprintf(stderr, "fuzz: %s\n", err_get());
        abort();
    }
    fuzz_seed(dir, name, buf, n);
    free(buf);
}

/* A tiny random Hugging Face model (runtime/synth) in fuzz_dir/name: 1 layer, vocabulary 320 (the least a synth tokenizer takes). */
static inline const char *fuzz_synth(const char *name, DType dt, uint64_t seed) {
    static char out[640];
    snprintf(out, sizeof out, "%s/%s", fuzz_dir, name);
    SynthOptions o = {.shape = "tiny", .dtype = dt, .seed = seed, .layers = 1, .vocab = 320, .tied = -1, .bias = -1,
                      .force = true};
    if (synth_model(&o, out) != 0) {
        fprintf(stderr, "fuzz: synth: %s\n", err_get());
        abort();
    }
    return out;
}

/* A llama2.c tokenizer.bin of n tokens (<unk>, <s>, </s>, the 256 byte tokens, then short
 * pieces) at path. */
static inline void fuzz_tokenizer_bin(const char *path, int n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    int32_t max_len = 8;
    fwrite(&max_len, 4, 1, fp);
    const char *pieces = "abcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < n; i++) {
        char tok[16];
        if (i < 3) snprintf(tok, sizeof tok, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (i < 259) snprintf(tok, sizeof tok, "<0x%02X>", i - 3);
        else if (i - 259 < 26) snprintf(tok, sizeof tok, "\xe2\x96\x81%c", pieces[i - 259]);
        else snprintf(tok, sizeof tok, "%c%c", pieces[(i - 285) % 26], pieces[(i - 285) / 26 % 26]);
        float score = -(float)i;
        int32_t len = (int32_t)strlen(tok);
        fwrite(&score, 4, 1, fp), fwrite(&len, 4, 1, fp), fwrite(tok, 1, (size_t)len, fp);
    }
    if (fclose(fp) != 0) abort();
}

/* fuzz_synth, opened (F32). */
static inline Model *fuzz_model(const char *name, uint64_t seed) {
    Model *m = NULL;
    if (model_open(fuzz_synth(name, DT_F32, seed), &m) != 0) {
        fprintf(stderr, "fuzz: %s\n", err_get());
        abort();
    }
    return m;
}

/* Encode text with t and decode the ids again (what a loaded tokenizer must survive). */
static inline void fuzz_tokenize(const Tokenizer *t, const char *text) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (tokenizer_encode(t, text, strlen(text), true, &ids, &n) != 0) return;
    size_t len = 0;
    free(tokenizer_decode(t, ids, n, &len));
    free(ids);
}

static void fuzz_cleanup(void) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/carve-fuzz.%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", fuzz_dir);
    if (system(cmd) != 0) abort();
    atexit(fuzz_cleanup);
    setenv("OMP_NUM_THREADS", "1", 0);
    fuzz_init();
    const char *seeds = getenv("CARVE_FUZZ_SEEDS");
    if (seeds && *seeds) {
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", seeds);
        if (system(cmd) != 0) abort();
        fuzz_seeds(seeds);
        exit(0);
    }
    return 0;
}

#endif
