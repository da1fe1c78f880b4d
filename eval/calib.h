/* calib — calibration and evaluation windows of token ids.
 *
 * Perplexity protocol (../shared/README.md): tokenize the whole file as one stream with BOS
 * once at the start, cut it into consecutive non-overlapping windows of seq_len tokens (drop
 * the incomplete tail), score every position except the first of each window.
 *
 * Calibration sampling: tokenize the file the same way, then draw N window start positions
 * uniformly from [0, n_tokens - L] with PCG32 seeded (seed, 54) — sorted, duplicates allowed —
 * and take L consecutive tokens from each.
 *
 * Scrambled calibration text (calibration.scramble p, --scramble P): before tokenizing, each
 * word — a maximal run of ASCII letters, at least 2 long; other bytes (UTF-8 included) are
 * never moved — is, with probability p, replaced by a random permutation of its letters
 * (PCG32 seeded (seed, 55): one uniform draw per word, then Fisher-Yates). The words stay
 * where they are, so the text keeps its in-domain context while the scrambled ones are
 * spelled as no word is: the character-level token sequences of text the model has not seen
 * (rare words, names, other domains). p = 0 reads the file unchanged. The search uses it for
 * its reformation's statistics only (calibration.scramble, search/config.h). */
#ifndef CARVE_CALIB_H
#define CARVE_CALIB_H

#include <stdint.h>

#include "runtime/tokenizer/tokenizer.h"

typedef struct {
    int n;          /* number of windows */
    int len;        /* tokens per window */
    int32_t *tokens;/* (n, len) row-major */
} Windows;

/* Tokenize a text file (BOS once at the start). Errors name the file ("empty text", ...). */
int  text_tokenize_file(const Tokenizer *t, const char *path, int32_t **ids, size_t *n);
/* Shuffle the letters of each word of text[0, len) with probability p (p in [0, 1]; see above). */
void text_scramble(char *text, size_t len, double p, uint64_t seed);
/* text_tokenize_file for calibration text: the file scrambled with (p, seed) first (p = 0: as is). */
int  calib_tokenize_file(const Tokenizer *t, const char *path, double p, uint64_t seed, int32_t **ids, size_t *n);
/* Consecutive evaluation windows; max_windows <= 0 means all. Error if not one full window. */
int  windows_consecutive(const int32_t *ids, size_t n, int seq_len, int max_windows, const char *what, Windows *out);
/* N sampled calibration windows of L tokens. Error when the text has fewer than N*L tokens
 * (naming the file and both numbers). */
int  windows_sample(const int32_t *ids, size_t n, int N, int L, uint64_t seed, const char *what, Windows *out);
void windows_free(Windows *w);

#endif
