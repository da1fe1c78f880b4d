/* stats — calibration statistics: the layer-by-layer dense pass, the accumulators and the
 * checksummed cache file. See stats.h. */
#include "reform/stats.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/forward/forward.h"
#include "runtime/tokenizer/tokenizer.h"

#define MAGIC "CARVST02"
#define MAGIC_FAMILY "CARVST" /* followed by a two-digit format version */
#define STATS_VALUES_REV 2 /* in the file name; raised when the same inputs give other bits (2: cc0386b) */
/* Bytes of stored boundary states for the span cosines: an eighth of the memory budget
 * (runtime/base/util.h), 2 GiB when that is unknown. */
static size_t span_budget(void) {
    size_t mem = memory_budget_bytes();
    return mem ? mem / 8 : (size_t)2 << 30;
}

/* Doubles in the packed upper triangle of a symmetric (w, w) matrix. */
static size_t packed(size_t w) { return w * (w + 1) / 2; }

static size_t payload_doubles(int dim, int q, int f) {
    return 2 * packed((size_t)dim) + packed((size_t)q) + packed((size_t)f) + 2 * (size_t)q + 2 * (size_t)f + 4;
}

/* A zeroed (w, w) double matrix (+1 so that w = 0 is valid). Large ones are anonymous mappings
 * advised onto transparent huge pages: a 7B's H_d is 0.97 GB, and touching it in 4 KiB pages
 * costs ~240k page faults each time a layer is built or read. Pages are touched lazily, as with
 * calloc. The advice is only a hint (kernels without THP refuse it; nothing else changes). */
#define BIG_MATRIX ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)
/* Bytes of the allocation: big ones are a whole number of huge pages, which Linux also aligns. */
static size_t matrix_bytes(int w) {
    size_t b = ((size_t)w * w + 1) * sizeof(double);
    return b < BIG_MATRIX ? b : (b + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
}
static double *matrix_alloc(int w) {
    size_t bytes = matrix_bytes(w);
    if (bytes < BIG_MATRIX) return xcalloc((size_t)w * w + 1, sizeof(double));
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die_oom(bytes);
    (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}
static void matrix_free(double *p, int w) {
    if (!p) return;
    if (matrix_bytes(w) < BIG_MATRIX) free(p);
    else if (munmap(p, matrix_bytes(w)) != 0) abort(); /* p was not matrix_alloc(w)'s mapping: a bug */
}

static void ls_alloc(LayerStats *s, int dim, int q, int f) {
    memset(s, 0, sizeof *s);
    s->dim = dim, s->q = q, s->f = f;
    s->H_a = matrix_alloc(dim);
    s->H_m = matrix_alloc(dim);
    s->H_o = matrix_alloc(q);
    s->H_d = matrix_alloc(f);
    s->sum_o = xcalloc((size_t)q + 1, sizeof(double));
    s->sq_o = xcalloc((size_t)q + 1, sizeof(double));
    s->sum_d = xcalloc((size_t)f + 1, sizeof(double));
    s->sq_d = xcalloc((size_t)f + 1, sizeof(double));
}

void layer_stats_free(LayerStats *s) {
    matrix_free(s->H_a, s->dim), matrix_free(s->H_m, s->dim), matrix_free(s->H_o, s->q), matrix_free(s->H_d, s->f);
    free(s->sum_o), free(s->sq_o), free(s->sum_d), free(s->sq_d);
    memset(s, 0, sizeof *s);
}

/* The payload parts in file order: a symmetric (w, w) matrix (w > 0) is stored as its packed
 * upper triangle (row i: columns i..w-1), a vector (w == 0) as its n doubles. */
typedef struct {
    double *p;
    size_t n, w;
} Part;
static int ls_parts(LayerStats *s, Part *parts) {
    int i = 0;
    size_t D = s->dim, q = s->q, f = s->f;
    parts[i++] = (Part){s->H_a, packed(D), D};
    parts[i++] = (Part){s->H_m, packed(D), D};
    parts[i++] = (Part){s->H_o, packed(q), q};
    parts[i++] = (Part){s->H_d, packed(f), f};
    parts[i++] = (Part){s->sum_o, q, 0};
    parts[i++] = (Part){s->sq_o, q, 0};
    parts[i++] = (Part){s->sum_d, f, 0};
    parts[i++] = (Part){s->sq_d, f, 0};
    parts[i++] = (Part){&s->n_tok, 1, 0};
    parts[i++] = (Part){&s->cos_layer, 1, 0};
    parts[i++] = (Part){&s->cos_attn, 1, 0};
    parts[i++] = (Part){&s->cos_mlp, 1, 0};
    return i;
}

/* ---- accumulation ---- */

/* H (w, w) += Xᵀ X over X (n, w) float rows, lower triangle (dsyrk on a double copy). */
static void acc_gram(double *H, const float *x, int n, int w, double *buf) {
    for (size_t i = 0; i < (size_t)n * w; i++) buf[i] = x[i];
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, w, n, 1.0, buf, w, 1.0, H, w);
}

/* H (w, w): copy one triangle onto the other (from_lower: H[i][j] = H[j][i] for i < j, else the
 * reverse), in 8 x 8 tiles: one cache line of each of 8 rows on either side (wider tiles of a
 * power-of-two row stride conflict in L1). */
static void symmetrize(double *H, int w, bool from_lower) {
    enum { TILE = 8 };
    for (int64_t i0 = 0; i0 < w; i0 += TILE)
        for (int64_t j0 = i0; j0 < w; j0 += TILE) {
            int64_t i1 = i0 + TILE < w ? i0 + TILE : w, j1 = j0 + TILE < w ? j0 + TILE : w;
            for (int64_t i = i0; i < i1; i++) {
                int64_t j = j0 > i + 1 ? j0 : i + 1;
                if (from_lower)
                    for (; j < j1; j++) H[i * w + j] = H[j * w + i];
                else
                    for (; j < j1; j++) H[j * w + i] = H[i * w + j];
            }
        }
}

static double row_cos(const float *a, const float *b, int d) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < d; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 1.0;
}

typedef struct {
    LayerStats *s;
    const float *nw_a, *nw_m; /* norm weights (dim) */
    float eps;
    float *h0, *h1, *normed; /* (n_tok, dim) copies of the states at points 0 and 1 */
    double *buf;             /* double conversion buffer */
} Acc;

static void rmsnorm_rows(float *out, const float *x, const float *w, int n, int d, float eps) {
    for (int64_t r = 0; r < n; r++) {
        double ss = 0;
        for (int i = 0; i < d; i++) ss += (double)x[r * d + i] * x[r * d + i];
        float sc = (float)(1.0 / sqrt(ss / d + eps));
        for (int i = 0; i < d; i++) out[r * d + i] = x[r * d + i] * sc * w[i];
    }
}

static void on_hidden(void *ud, int layer, int point, const float *x, int n, int dim) {
    (void)layer;
    Acc *a = ud;
    size_t bytes = (size_t)n * dim * sizeof(float);
    if (point == 0) {
        memcpy(a->h0, x, bytes);
        memcpy(a->h1, x, bytes); /* when the attention sublayer is absent, point 1 = point 0 */
        if (a->s->q > 0) {
            rmsnorm_rows(a->normed, x, a->nw_a, n, dim, a->eps);
            acc_gram(a->s->H_a, a->normed, n, dim, a->buf);
        }
    } else if (point == 1) {
        for (int64_t r = 0; r < n; r++) a->s->cos_attn += row_cos(a->h0 + r * dim, x + r * dim, dim);
        memcpy(a->h1, x, bytes);
        if (a->s->f > 0) {
            rmsnorm_rows(a->normed, x, a->nw_m, n, dim, a->eps);
            acc_gram(a->s->H_m, a->normed, n, dim, a->buf);
        }
    } else {
        for (int64_t r = 0; r < n; r++) {
            a->s->cos_layer += row_cos(a->h0 + r * dim, x + r * dim, dim);
            a->s->cos_mlp += row_cos(a->h1 + r * dim, x + r * dim, dim);
        }
        a->s->n_tok += n;
    }
}

static void acc_moments(double *sum, double *sq, const float *x, int n, int w) {
    for (int64_t r = 0; r < n; r++)
        for (int j = 0; j < w; j++) sum[j] += x[r * w + j], sq[j] += (double)x[r * w + j] * x[r * w + j];
}

static void on_concat(void *ud, int layer, const float *x, int n, int w) {
    (void)layer;
    Acc *a = ud;
    if (w != a->s->q) return;
    acc_gram(a->s->H_o, x, n, w, a->buf);
    acc_moments(a->s->sum_o, a->s->sq_o, x, n, w);
}

static void on_act(void *ud, int layer, const float *x, int n, int w) {
    (void)layer;
    Acc *a = ud;
    if (w != a->s->f) return;
    acc_gram(a->s->H_d, x, n, w, a->buf);
    acc_moments(a->s->sum_d, a->s->sq_d, x, n, w);
}

/* ---- file I/O ---- */

typedef struct {
    FILE *fp;
    const char *path;
    uint64_t h;
    bool *io_failed;  /* set when writing the file failed (full disk, ...), not the computation */
} Out;

static int out_fail(Out *o) { return *o->io_failed = true, err_set("%s: write failed: %s", o->path, strerror(errno)); }

static int out_write(Out *o, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, o->fp) != n) return out_fail(o);
    o->h = fnv1a64(o->h, p, n);
    return 0;
}
/* A part in file order: the rows of a symmetric matrix's upper triangle, or the vector. */
static int out_part(Out *o, const Part *pt) {
    if (!pt->w) return out_write(o, pt->p, pt->n * sizeof(double));
    for (size_t i = 0; i < pt->w; i++)
        if (out_write(o, pt->p + i * pt->w + i, (pt->w - i) * sizeof(double))) return -1;
    return 0;
}
static int out_sum(Out *o) {
    uint64_t h = o->h;
    o->h = FNV64_INIT;
    if (fwrite(&h, sizeof h, 1, o->fp) != 1) return out_fail(o);
    return 0;
}

static int layer_q(const Model *m, int l) { return m->layers[l].n_heads * m->cfg.head_dim; }
static int layer_f(const Model *m, int l) { return m->layers[l].hidden_dim; }

static int write_header(Out *o, const Model *m, uint64_t text_hash, int N, int L, uint64_t seed, int max_span) {
    int32_t v[5] = {N, L, m->cfg.n_layers, m->cfg.dim, max_span};
    if (out_write(o, MAGIC, 8) || out_write(o, &m->identity, 8) || out_write(o, &text_hash, 8) ||
        out_write(o, v, 8) || out_write(o, &seed, 8) || out_write(o, v + 2, 12))
        return -1;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        int32_t qf[2] = {layer_q(m, l), layer_f(m, l)};
        if (out_write(o, qf, 8)) return -1;
    }
    return out_sum(o);
}

/* stats_build into `path` (through "<path>.tmp.<pid>" and a rename), or straight into `direct` (an
 * open in-memory file named by path) when it is non-NULL. *io_failed tells a failed write apart
 * from a failed computation. */
static int build_stats(const Model *m, const Windows *w, uint64_t text_hash, uint64_t seed, const char *path,
                       FILE *direct, bool *io_failed) {
    *io_failed = false;
    int nl = m->cfg.n_layers, D = m->cfg.dim, T = w->len;
    int per_call = 4096 / T > 0 ? 4096 / T : 1; /* windows per forward call */
    size_t ntok = (size_t)w->n * T, state_bytes = ntok * D * sizeof(float);
    /* The boundary cosines of every span need the states entering every layer at once: kept for
     * the first span_tok tokens (whole windows, at least one), all of them when they fit the span
     * budget (a Llama-2-7B at 128 x 2048 tokens: 2 windows on a 24 GiB machine). */
    size_t per_tok = (size_t)(nl + 1) * D * sizeof(float), span_tok = span_budget() / per_tok / T * T;
    if (span_tok < (size_t)T) span_tok = T;
    if (span_tok > ntok) span_tok = ntok;
    ForwardOptions fo = {.max_tokens = per_call * T};
    Forward *f = NULL;
    if (forward_create(m, NULL, &fo, &f) != 0) return -1;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, direct ? "%s" : "%s.tmp.%d", path, (int)getpid());
    Out o = {.fp = direct ? direct : fopen(tmp, "wb"), .path = tmp, .h = FNV64_INIT, .io_failed = io_failed};
    if (!o.fp) {
        forward_free(f);
        return *io_failed = true, err_set("%s: cannot create: %s", tmp, strerror(errno));
    }
    /* state[l % 2], state[(l + 1) % 2]: the states entering layers l and l + 1, (ntok, D);
     * bstate[b]: the first span_tok rows of the state entering layer b, (span_tok, D) */
    float *state[2] = {xmalloc_aligned(state_bytes), xmalloc_aligned(state_bytes)};
    float *bstate = xmalloc_aligned((size_t)(nl + 1) * span_tok * D * sizeof(float));
    double *bcos = xmalloc((size_t)(nl + 1) * (nl + 1) * sizeof *bcos);
    for (int i = 0; i < (nl + 1) * (nl + 1); i++) bcos[i] = NAN;
    for (int i = 0; i <= nl; i++) bcos[i * (nl + 1) + i] = 1.0;
    int rc = write_header(&o, m, text_hash, w->n, T, seed, nl); /* max_span: every span is scored */
    for (int c = 0; rc == 0 && c < w->n; c += per_call) {
        int B = w->n - c < per_call ? w->n - c : per_call;
        rc = forward_embed(f, w->tokens + (size_t)c * T, B, T, state[0] + (size_t)c * T * D);
    }
    memcpy(bstate, state[0], span_tok * D * sizeof(float));
    int rows = per_call * T, wmax = D;
    for (int l = 0; l < nl; l++) {
        if (layer_q(m, l) > wmax) wmax = layer_q(m, l);
        if (layer_f(m, l) > wmax) wmax = layer_f(m, l);
    }
    Acc a = {.eps = m->cfg.norm_eps};
    a.h0 = xmalloc_aligned((size_t)rows * D * sizeof(float));
    a.h1 = xmalloc_aligned((size_t)rows * D * sizeof(float));
    a.normed = xmalloc_aligned((size_t)rows * D * sizeof(float));
    a.buf = xmalloc_aligned((size_t)rows * wmax * sizeof(double));
    float *nw_a = xmalloc((size_t)D * sizeof(float)), *nw_m = xmalloc((size_t)D * sizeof(float));
    a.nw_a = nw_a, a.nw_m = nw_m;
    ForwardHooks hk = {.hidden = on_hidden, .attn_concat = on_concat, .mlp_act = on_act, .ud = &a};
    for (int l = 0; rc == 0 && l < nl; l++) {
        const LayerWeights *lw = &m->layers[l];
        LayerStats s;
        ls_alloc(&s, D, layer_q(m, l), layer_f(m, l));
        a.s = &s;
        if (s.q > 0) tensor_row_f32(&lw->attn_norm, 0, nw_a);
        if (s.f > 0) tensor_row_f32(&lw->ffn_norm, 0, nw_m);
        float *src = state[l % 2], *dst = state[(l + 1) % 2];
        memcpy(dst, src, state_bytes);
        for (int c = 0; rc == 0 && c < w->n; c += per_call) {
            int B = w->n - c < per_call ? w->n - c : per_call;
            rc = forward_layer(f, l, dst + (size_t)c * T * D, B, T, &hk);
        }
        if (rc == 0) {
            symmetrize(s.H_a, D, true), symmetrize(s.H_m, D, true);
            symmetrize(s.H_o, s.q, true), symmetrize(s.H_d, s.f, true);
            Part parts[12];
            int np = ls_parts(&s, parts);
            for (int i = 0; rc == 0 && i < np; i++) rc = out_part(&o, &parts[i]);
            if (rc == 0) rc = out_sum(&o);
            /* boundary cosines between state l+1 and every earlier one */
            float *y = bstate + (size_t)(l + 1) * span_tok * D;
            memcpy(y, dst, span_tok * D * sizeof(float));
            for (int i = 0; i <= l; i++) {
                double cs = 0;
                const float *x = bstate + (size_t)i * span_tok * D;
                for (size_t r = 0; r < span_tok; r++) cs += row_cos(x + r * D, y + r * D, D);
                bcos[i * (nl + 1) + l + 1] = bcos[(l + 1) * (nl + 1) + i] = cs / (double)span_tok;
            }
        }
        layer_stats_free(&s);
    }
    if (rc == 0) rc = out_write(&o, bcos, (size_t)(nl + 1) * (nl + 1) * sizeof(double));
    if (rc == 0) rc = out_sum(&o);
    if (rc == 0 && (fflush(o.fp) != 0 || fsync(fileno(o.fp)) != 0)) rc = out_fail(&o);
    if (!direct) {
        if (fclose(o.fp) != 0 && rc == 0) rc = out_fail(&o);
        if (rc == 0 && rename(tmp, path) != 0)
            rc = (*io_failed = true, err_set("%s: cannot rename into place: %s", path, strerror(errno)));
        if (rc != 0) unlink(tmp);
    }
    free(state[0]), free(state[1]), free(bstate), free(bcos), free(a.h0), free(a.h1), free(a.normed), free(a.buf), free(nw_a), free(nw_m);
    forward_free(f);
    return rc;
}

int stats_build(const Model *m, const Windows *w, uint64_t text_hash, uint64_t seed, const char *path) {
    bool io_failed;
    return build_stats(m, w, text_hash, seed, path, NULL, &io_failed);
}

/* When the cache cannot be written (a full disk, an unusable cache directory) the statistics are
 * built into an in-memory file instead (memfd, read back through /proc/self/fd), with a warning:
 * the run goes on uncached. */
static int build_uncached(StatsFile *sf, const Model *m, const Windows *w, uint64_t th, uint64_t seed) {
    fprintf(stderr, "carve: %s; going on without caching the statistics\n", err_get());
    int fd = memfd_create("carve-stats", MFD_CLOEXEC);
    FILE *fp = fd >= 0 ? fdopen(fd, "w+b") : NULL;
    if (!fp) {
        int e = errno;
        if (fd >= 0) close(fd);
        return err_set("%s: cannot create the in-memory statistics either: %s", sf->path, strerror(e));
    }
    char name[64];
    snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
    free(sf->path);
    sf->path = xstrdup(name);
    sf->mem = fp;
    bool io_failed;
    return build_stats(m, w, th, seed, sf->path, fp, &io_failed);
}


/* ---- reading ---- */

static int read_exact(FILE *fp, void *p, size_t n, uint64_t *h) {
    if (n && fread(p, 1, n, fp) != n) return -1;
    if (h) *h = fnv1a64(*h, p, n);
    return 0;
}

/* Read a part written by out_part; a symmetric matrix is unpacked into both triangles. */
static int read_part(FILE *fp, const Part *pt, uint64_t *h) {
    if (!pt->w) return read_exact(fp, pt->p, pt->n * sizeof(double), h);
    for (size_t i = 0; i < pt->w; i++)
        if (read_exact(fp, pt->p + i * pt->w + i, (pt->w - i) * sizeof(double), h)) return -1;
    symmetrize(pt->p, (int)pt->w, false);
    return 0;
}

/* Parse and verify the whole file against the key. 0 ok; -1 with err_set describing why. */
static int verify(StatsFile *sf, const Model *m, uint64_t text_hash, int N, int L, uint64_t seed) {
    FILE *fp = fopen(sf->path, "rb");
    if (!fp) return err_set("%s: cannot open: %s", sf->path, strerror(errno));
    int rc = -1, nl = m->cfg.n_layers;
    uint64_t h = FNV64_INIT, id, th, sd, sum;
    char magic[8];
    int32_t v[5];
    double *buf = NULL;
    if (read_exact(fp, magic, 8, &h) || memcmp(magic, MAGIC_FAMILY, 6) || magic[6] < '0' || magic[6] > '9' ||
        magic[7] < '0' || magic[7] > '9') {
        err_set("%s: not a carve statistics file", sf->path);
        goto out;
    }
    if (memcmp(magic, MAGIC, 8)) {
        err_set("%s: statistics cache in another format (%.8s; this carve reads %s)", sf->path, magic, MAGIC);
        goto out;
    }
    if (read_exact(fp, &id, 8, &h) || read_exact(fp, &th, 8, &h) || read_exact(fp, v, 8, &h) ||
        read_exact(fp, &sd, 8, &h) || read_exact(fp, v + 2, 12, &h)) {
        err_set("%s: truncated header", sf->path);
        goto out;
    }
    if (id != m->identity || th != text_hash || v[0] != N || v[1] != L || sd != seed || v[2] != nl ||
        v[3] != m->cfg.dim || v[4] < 1 || v[4] > nl) {
        err_set("%s: stale (made for another model, calibration text or N/L/seed)", sf->path);
        goto out;
    }
    sf->max_span = v[4];
    for (int l = 0; l < nl; l++) {
        int32_t qf[2];
        if (read_exact(fp, qf, 8, &h) || qf[0] != layer_q(m, l) || qf[1] != layer_f(m, l)) {
            err_set("%s: layer %d shape does not match the model", sf->path, l);
            goto out;
        }
    }
    if (read_exact(fp, &sum, 8, NULL) || sum != h) {
        err_set("%s: header checksum mismatch (corrupt)", sf->path);
        goto out;
    }
    /* each layer block is checksummed in chunks; the payload ends with n_tok and the three cosine sums */
    enum { CHUNK = 1 << 17 };
    buf = xmalloc(CHUNK * sizeof *buf);
    for (int l = 0; l < nl; l++) {
        sf->offset[l] = ftello(fp);
        size_t n = payload_doubles(m->cfg.dim, layer_q(m, l), layer_f(m, l)), done = 0;
        int bad = 0;
        h = FNV64_INIT;
        while (!bad && done < n - 4) {
            size_t k = n - 4 - done < CHUNK ? n - 4 - done : CHUNK;
            bad = read_exact(fp, buf, k * sizeof *buf, &h);
            done += k;
        }
        double tail[4];
        if (bad || read_exact(fp, tail, sizeof tail, &h) || read_exact(fp, &sum, 8, NULL)) {
            err_set("%s: truncated at layer %d", sf->path, l);
            goto out;
        }
        if (sum != h) {
            err_set("%s: checksum mismatch in layer %d (corrupt)", sf->path, l);
            goto out;
        }
        double nt = tail[0] > 0 ? tail[0] : 1;
        sf->cos_layer[l] = tail[1] / nt, sf->cos_attn[l] = tail[2] / nt, sf->cos_mlp[l] = tail[3] / nt;
    }
    size_t nb = (size_t)(nl + 1) * (nl + 1);
    h = FNV64_INIT;
    if (read_exact(fp, sf->boundary_cos, nb * sizeof(double), &h) || read_exact(fp, &sum, 8, NULL) || sum != h) {
        err_set("%s: truncated or corrupt boundary cosines", sf->path);
        goto out;
    }
    if (fgetc(fp) != EOF) {
        err_set("%s: trailing bytes after the statistics", sf->path);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    fclose(fp);
    return rc;
}

static char *default_cache_dir(void) {
    const char *e = getenv("CARVE_CACHE_DIR");
    if (e && *e) return xstrdup(e);
    e = getenv("XDG_CACHE_HOME");
    if (e && *e) return path_join(e, "carve");
    e = getenv("HOME");
    char *c = path_join(e && *e ? e : "/tmp", ".cache");
    char *d = path_join(c, "carve");
    free(c);
    return d;
}

static int mkdirs(const char *dir) {
    char *p = xstrdup(dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) break;
            *s = '/';
        }
    int rc = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) rc = err_set("%s: cannot create cache directory: %s", p, strerror(errno));
    free(p);
    return rc;
}

void stats_close(StatsFile *sf) {
    if (!sf) return;
    if (sf->mem) fclose(sf->mem);
    free(sf->path), free(sf->q), free(sf->f), free(sf->boundary_cos), free(sf->offset);
    free(sf->cos_layer), free(sf->cos_attn), free(sf->cos_mlp);
    free(sf);
}

/* The StatsFile of m's statistics at path (takes path), its tables allocated, not yet read. */
static StatsFile *stats_file_new(const Model *m, char *path, int N, int L, uint64_t seed, uint64_t text_hash) {
    StatsFile *sf = xcalloc(1, sizeof *sf);
    sf->path = path;
    int nl = m->cfg.n_layers;
    sf->n_layers = nl, sf->dim = m->cfg.dim, sf->N = N, sf->L = L, sf->seed = seed;
    sf->model_id = m->identity, sf->text_hash = text_hash;
    sf->q = xmalloc((size_t)nl * sizeof(int)), sf->f = xmalloc((size_t)nl * sizeof(int));
    for (int l = 0; l < nl; l++) sf->q[l] = layer_q(m, l), sf->f[l] = layer_f(m, l);
    sf->boundary_cos = xmalloc((size_t)(nl + 1) * (nl + 1) * sizeof(double));
    sf->offset = xmalloc((size_t)nl * sizeof(int64_t));
    sf->cos_layer = xmalloc((size_t)nl * sizeof(double)), sf->cos_attn = xmalloc((size_t)nl * sizeof(double));
    sf->cos_mlp = xmalloc((size_t)nl * sizeof(double));
    return sf;
}

int stats_open(const Model *m, const char *calib_path, const StatsOptions *o, StatsFile **out) {
    *out = NULL;
    if (!m->tokenizer) return err_set("%s: the model has no tokenizer (needed to tokenize the calibration text)", m->path);
    if (model_check_window(m, o->L, m->path, "calibration window of")) return -1;
    size_t len = 0;
    char *text = read_file(calib_path, &len);
    if (!text) return err_set("%s: cannot read: %s", calib_path, strerror(errno));
    uint64_t th = fnv1a64(FNV64_INIT, text, len);
    free(text);
    if (o->scramble > 0) th = fnv1a64(fnv1a64(th, "scramble", 8), &o->scramble, sizeof o->scramble);
    uint64_t key = fnv1a64(fnv1a64(FNV64_INIT, &m->identity, 8), &th, 8);
    int32_t nl2[2] = {o->N, o->L};
    key = fnv1a64(fnv1a64(fnv1a64(key, nl2, 8), &o->seed, 8), &(const int32_t){STATS_VALUES_REV}, 4);
    char *dir = o->cache_dir ? xstrdup(o->cache_dir) : default_cache_dir();
    bool dir_ok = mkdirs(dir) == 0;
    char name[64];
    snprintf(name, sizeof name, "stats-%016llx.bin", (unsigned long long)key);
    char *path = path_join(dir, name);
    free(dir);
    StatsFile *sf = stats_file_new(m, path, o->N, o->L, o->seed, th);
    if (dir_ok && !o->rebuild && path_exists(sf->path)) {
        if (verify(sf, m, th, o->N, o->L, o->seed) == 0) {
            if (!o->quiet) fprintf(stderr, "carve: statistics from cache %s\n", sf->path);
            *out = sf;
            return 0;
        }
        fprintf(stderr, "carve: %s; rebuilding it\n", err_get());
        if (unlink(sf->path) != 0) {
            err_set("%s: cannot remove the invalid cache: %s", sf->path, strerror(errno));
            stats_close(sf);
            return -1;
        }
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    Windows w = {0};
    if (calib_tokenize_file(m->tokenizer, calib_path, o->scramble, o->seed, &ids, &n_ids) != 0 ||
        windows_sample(ids, n_ids, o->N, o->L, o->seed, calib_path, &w) != 0) {
        free(ids);
        stats_close(sf);
        return -1;
    }
    free(ids);
    double t0 = now_seconds();
    if (!o->quiet)
        fprintf(stderr, "carve: computing calibration statistics (%d x %d tokens of %s) -> %s\n", o->N, o->L,
                calib_path, sf->path);
    bool io_failed = true; /* (an unusable cache directory) */
    int rc = dir_ok ? build_stats(m, &w, th, o->seed, sf->path, NULL, &io_failed) : -1;
    if (rc != 0 && io_failed) rc = build_uncached(sf, m, &w, th, o->seed);
    windows_free(&w);
    if (rc == 0) rc = verify(sf, m, th, o->N, o->L, o->seed);
    if (rc != 0) {
        stats_close(sf);
        return -1;
    }
    if (!o->quiet) fprintf(stderr, "carve: statistics done in %.1f s\n", now_seconds() - t0);
    *out = sf;
    return 0;
}

int stats_layer(const StatsFile *sf, int l, LayerStats *out) {
    if (l < 0 || l >= sf->n_layers) return err_set("%s: no layer %d", sf->path, l);
    ls_alloc(out, sf->dim, sf->q[l], sf->f[l]);
    FILE *fp = fopen(sf->path, "rb");
    if (!fp) {
        layer_stats_free(out);
        return err_set("%s: cannot open: %s", sf->path, strerror(errno));
    }
    int rc = 0;
    uint64_t h = FNV64_INIT, sum = 0;
    Part parts[12];
    int np = ls_parts(out, parts);
    if (fseeko(fp, sf->offset[l], SEEK_SET) != 0) rc = -1;
    for (int i = 0; rc == 0 && i < np; i++) rc = read_part(fp, &parts[i], &h);
    if (rc == 0) rc = read_exact(fp, &sum, 8, NULL);
    fclose(fp);
    if (rc != 0 || sum != h) {
        layer_stats_free(out);
        return err_set("%s: layer %d changed or became corrupt since it was verified", sf->path, l);
    }
    return 0;
}
