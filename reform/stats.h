/* stats — calibration statistics of a dense model, computed in one layer-by-layer pass over
 * N sampled windows of L tokens and kept in a cache file so later runs reuse them.
 *
 * Owns: LayerStats (per layer, sums over all n_tok calibration tokens, double):
 *   H_a = Σ a aᵀ  (dim, dim)   a = attention-norm output (input of Q/K/V)
 *   H_m = Σ b bᵀ  (dim, dim)   b = MLP-norm output (input of gate/up)
 *   H_o = Σ z zᵀ  (q, q)       z = input of the attention output projection, q = n_heads*head_dim
 *   H_d = Σ u uᵀ  (f, f)       u = silu(gate)*up, input of the down projection, f = hidden_dim
 *   sum/sumsq of z and u per channel (FLAP's means and variances)
 *   Σ cos(h_in, h_out) per token for the layer, its attention and its MLP sublayer
 * and the boundary cosines: mean cos(h_i, h_j) between the hidden states entering layers i < j
 * (j = n_layers: the final state), for every span — over all calibration tokens when the states
 * entering every layer fit an eighth of the memory budget (runtime/base/util.h), else over the first
 * windows that do (at least one). Files written before this rule may hold `max_span` < n_layers
 * (NAN beyond).
 *
 * Cache file (little-endian, checksummed, written to "<path>.tmp.<pid>" and renamed):
 *   header:  "CARVST02", u64 model identity, u64 text hash (FNV-1a of the calibration file's
 *            bytes), i32 N, i32 L, u64 seed, i32 n_layers, i32 dim, i32 max_span,
 *            per layer i32 q, i32 f; u64 FNV-1a of all preceding header bytes
 *   blocks:  per layer the LayerStats payload (doubles, order as in the struct) + u64 FNV-1a;
 *            each symmetric H (w, w) is stored as its packed upper triangle, row-major
 *            (row i: H[i][i..w-1]; w(w+1)/2 doubles, bit-exact), the vectors and scalars as is
 *   trailer: (n_layers+1)^2 boundary cosines + u64 FNV-1a
 * Per layer that is 2·dim(dim+1)/2 + q(q+1)/2 + f(f+1)/2 + 2q + 2f + 4 doubles (+ 8 bytes):
 * about half of the full matrices ("CARVST01"; a llama2-7b: 22.0 GB instead of 43.9 GB).
 * stats_layer unpacks each H into the full symmetric matrix.
 * The file name is stats-<hash of the key>.bin in the cache directory. A file whose header
 * does not match the key (an older format's magic included), whose size is wrong or any of
 * whose checksums fail is reported (one line on stderr), deleted and rebuilt — never used.
 * When the cache cannot be written (full disk, unusable directory) the statistics are built into an
 * in-memory file instead, with a one-line warning, and the caller goes on uncached.
 * Only one layer's statistics are in memory at a time, both when building and when reading
 * (stats_layer); verification streams the file in 1 MiB chunks. */
#ifndef CARVE_STATS_H
#define CARVE_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "eval/calib.h"
#include "runtime/model/model.h"

typedef struct {
    int dim, q, f;
    double n_tok;
    double *H_a, *H_m, *H_o, *H_d;
    double *sum_o, *sq_o, *sum_d, *sq_d;
    double cos_layer, cos_attn, cos_mlp; /* sums over tokens; divide by n_tok */
} LayerStats;

typedef struct {
    char *path;
    int n_layers, dim, N, L, max_span;
    int *q, *f;
    uint64_t model_id, text_hash, seed;
    double *boundary_cos;  /* (n_layers+1)^2, row i col j = mean cos(h_i, h_j), NAN when not computed */
    int64_t *offset;       /* file offset of each layer block */
    double *cos_layer, *cos_attn, *cos_mlp; /* per layer: mean cos(in, out) of the layer / sublayers */
    FILE *mem;             /* the in-memory file (path /proc/self/fd/N) when the cache could not be
                              written, else NULL */
} StatsFile;

typedef struct {
    int N, L;              /* windows and tokens per window */
    uint64_t seed;
    const char *cache_dir; /* NULL: $CARVE_CACHE_DIR, else $XDG_CACHE_HOME/carve, else ~/.cache/carve */
    bool rebuild;          /* ignore an existing cache */
    bool quiet;            /* no progress lines on stderr */
    double scramble;       /* share of the text's words scrambled before tokenizing (eval/calib.h;
                              0 = the text as is); part of the cache key */
} StatsOptions;

/* Open the statistics of dense model m on calib_path: from the cache when valid, else computed
 * (tokenizing calib_path with m's tokenizer, windows_sample) and cached. Errors name the file. */
int  stats_open(const Model *m, const char *calib_path, const StatsOptions *o, StatsFile **out);
void stats_close(StatsFile *sf);
/* Read layer l's block (checksum verified). Free with layer_stats_free only (large H are
 * anonymous mappings on huge pages, not malloc memory). */
int  stats_layer(const StatsFile *sf, int l, LayerStats *out);
void layer_stats_free(LayerStats *s);

/* Compute the statistics of m over the windows and stream them to path (no cache lookup). */
int  stats_build(const Model *m, const Windows *w, uint64_t text_hash, uint64_t seed, const char *path);

#endif
