/* calib — evaluation windows (perplexity protocol) and sampled calibration windows. See calib.h. */
#include "eval/calib.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"
#include "runtime/base/pcg32.h"

static bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

void text_scramble(char *text, size_t len, double p, uint64_t seed) {
    assert(p >= 0 && p <= 1);
    if (p <= 0) return;
    Pcg32 r;
    pcg32_seed(&r, seed, 55u);
    for (size_t i = 0; i < len;) {
        if (!is_letter(text[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && is_letter(text[j])) j++;
        size_t w = j - i; /* the word text[i, j) */
        if (w >= 2 && w <= 0xffffffffu && pcg32_double(&r) < p)
            for (size_t k = w - 1; k > 0; k--) { /* Fisher-Yates */
                size_t q = pcg32_below(&r, (uint32_t)k + 1);
                char c = text[i + k];
                text[i + k] = text[i + q];
                text[i + q] = c;
            }
        i = j;
    }
}

int calib_tokenize_file(const Tokenizer *t, const char *path, double p, uint64_t seed, int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    size_t len;
    char *text = read_file(path, &len);
    if (!text) return -1;
    if (len == 0) {
        free(text);
        return err_set("%s: empty text", path);
    }
    text_scramble(text, len, p, seed);
    int rc = tokenizer_encode(t, text, len, true, ids, n);
    free(text);
    if (rc != 0) return err_prefix("%s", path);
    return 0;
}

int text_tokenize_file(const Tokenizer *t, const char *path, int32_t **ids, size_t *n) {
    return calib_tokenize_file(t, path, 0, 0, ids, n);
}

int windows_consecutive(const int32_t *ids, size_t n, int seq_len, int max_windows, const char *what,
                        Windows *out) {
    memset(out, 0, sizeof *out);
    if (seq_len < 2) return err_set("%s: sequence length %d is too short (need at least 2)", what, seq_len);
    size_t count = n / (size_t)seq_len;
    if (count == 0)
        return err_set("%s: text has %zu tokens, fewer than one window of %d", what, n, seq_len);
    if (max_windows > 0 && count > (size_t)max_windows) count = (size_t)max_windows;
    out->n = (int)count;
    out->len = seq_len;
    out->tokens = xmalloc(count * (size_t)seq_len * sizeof *out->tokens);
    memcpy(out->tokens, ids, count * (size_t)seq_len * sizeof *out->tokens);
    return 0;
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

int windows_sample(const int32_t *ids, size_t n, int N, int L, uint64_t seed, const char *what, Windows *out) {
    memset(out, 0, sizeof *out);
    if (N <= 0 || L < 2) return err_set("%s: calibration needs N >= 1 windows of L >= 2 tokens (got N=%d, L=%d)", what, N, L);
    if (n < (size_t)N * (size_t)L)
        return err_set("%s: calibration text has %zu tokens, fewer than N x L = %d x %d = %lld", what, n, N, L,
                       (long long)N * L);
    Pcg32 r;
    pcg32_seed(&r, seed, 54u);
    size_t span = n - (size_t)L + 1; /* valid start positions [0, n - L] */
    size_t *starts = xmalloc((size_t)N * sizeof *starts);
    for (int i = 0; i < N; i++) {
        uint64_t v = span > 0xffffffffu ? ((uint64_t)pcg32_next(&r) << 32 | pcg32_next(&r)) % span
                                        : pcg32_below(&r, (uint32_t)span);
        starts[i] = (size_t)v;
    }
    qsort(starts, (size_t)N, sizeof *starts, cmp_size);
    out->n = N;
    out->len = L;
    out->tokens = xmalloc((size_t)N * (size_t)L * sizeof *out->tokens);
    for (int i = 0; i < N; i++) memcpy(out->tokens + (size_t)i * L, ids + starts[i], (size_t)L * sizeof *ids);
    free(starts);
    return 0;
}

void windows_free(Windows *w) {
    free(w->tokens);
    memset(w, 0, sizeof *w);
}
