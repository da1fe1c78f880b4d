/* forward — batched full-sequence forward pass over a subnet on compact f32 weights
 * (see forward.h). Per layer the kept Q/K/V rows are gathered into one fused matrix, the
 * kept gate/up rows into another, the kept O / down columns into compact matrices, so every
 * projection is one sgemm over all B*T tokens and a pruned subnet does proportionally less
 * work. Compact layers are cached while they fit ForwardOptions.cache_bytes; the others are
 * rebuilt into one scratch buffer on each use (and the stored-dtype source pages released).
 * Size: over 600 lines because the compact-weight planning and the pass share the Forward's
 * private state (plans, buffers, classifier); a split would publish that state in a header. */
#include "runtime/forward/forward.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/base/fwd_kernels.h"
#include "runtime/model/rope.h"

#define DEFAULT_CACHE ((size_t)4 << 30)
#define DEFAULT_MAX_TOKENS 4096
#define ATT_QB 64 /* query rows per attention block */

/* What one layer keeps under the subnet (indices into the model layer's heads/channels). */
typedef struct {
    int is_replace;
    int nh, nkv, nc;     /* kept query heads, KV heads, MLP channels (0 = sublayer off) */
    int32_t *qh, *kvh;   /* kept query heads / KV heads of the model layer, ascending */
    int32_t *q2kv;       /* nh: compact KV index of each compact query head */
    int32_t *chan;       /* nc kept channels, ascending */
    int32_t *ocols;      /* nh*hd kept columns of wo */
    int wo_inplace, gu_inplace, down_inplace, rep_inplace;
    size_t floats;       /* compact storage this layer needs (floats) */
    int cached;          /* 1 = compact weights kept between calls */
    float *own;          /* cached storage (NULL until first built) */
} Plan;

/* Compact weights of one layer, pointing into the cache, the scratch buffer or the model. */
typedef struct {
    const float *wqkv;   /* ((nh+2nkv)*hd, dim) */
    const float *bqkv;   /* (nh+2nkv)*hd or NULL */
    const float *wo;     /* (dim, nh*hd) */
    const float *bo;     /* dim or NULL: o_proj bias */
    const float *wg, *wu;/* (nc, dim) each; adjacent rows of one (2nc, dim) matrix unless in place */
    const float *wdown;  /* (dim, nc) */
    const float *bdown;  /* dim or NULL: down_proj bias */
    const float *rep;    /* (dim, dim) */
} Compact;

struct Forward {
    const Model *m;
    Subnet *sub;         /* NULL = dense */
    ForwardOptions opt;
    Plan *plan;          /* n_plan = the bound model's n_layers */
    int n_plan;
    int dim, head_dim, vocab; /* of every model this pass binds (buffers are sized by them) */
    float *scratch_w;    /* rebuild buffer for uncached layers */
    size_t scratch_w_floats;
    float *norms;        /* (n_layers*2 + 1, dim): attn, ffn norms per layer, final norm */
    int norms_layers;    /* n_layers the norms buffer holds */
    const float *cls;    /* (vocab, dim) f32 classifier */
    float *cls_own;      /* converted classifier of a non-f32 model ... */
    const void *cls_src; /* ... converted from this tensor data */
    uint64_t cls_identity; /* ... of the model with this identity */
    double *rope_inv;    /* (hd/2) inverse frequencies the rope tables hold */
    /* activation buffers, sized for cap_tokens tokens; widths (per token, in heads or channels) */
    int cap_tokens, cap_T;
    int cap_qkv_w, cap_att_w, cap_c_w;
    float *x, *xn, *qkv, *att, *gu, *act;
    float *att_s;        /* per thread (ATT_QB, cap_T) */
    float *rope_c, *rope_s; /* (cap_T, hd/2) */
    int max_qkv, max_att, max_c;
    int n_threads;
    /* classifier: token rows per pass, vocabulary ids per block */
    int chunk, vblock;
    float *chunk_x, *chunk_l, *chunk_mx, *chunk_tl;
    int32_t *chunk_rows, *chunk_tgt;
    double *chunk_sum;
};

/* ---- planning ------------------------------------------------------------------------ */

static void plan_clear(Plan *p) {
    free(p->qh);
    free(p->kvh);
    free(p->q2kv);
    free(p->chan);
    free(p->ocols);
    free(p->own);
    memset(p, 0, sizeof *p);
}

/* The one description of a layer's compact storage (p->floats floats, in this order): replace
 * (D, D); or wqkv ((nh+2nkv)*hd, D), bqkv ((nh+2nkv)*hd, when the layer has q/k/v biases),
 * wo (D, nh*hd), bo (D, when the layer has an o_proj bias), gate|up (2nc, D) as one matrix,
 * wdown (D, nc), bdown (D, when it has a down_proj bias) — each piece left out when it is
 * used in place from the model (f32, nothing pruned). Points c (may be NULL) at buf, or at the
 * model for in-place pieces, and returns the floats the layout takes; buf == NULL: count only. */
static size_t compact_layout(const Plan *p, const LayerWeights *L, int D, int hd, float *buf, Compact *c) {
    size_t off = 0;
    Compact k = {0};
#define TAKE(n) (off += (size_t)(n), buf ? buf + off - (size_t)(n) : NULL)
    if (p->is_replace) {
        k.rep = p->rep_inplace ? L->replace.data : TAKE((size_t)D * D);
    } else {
        if (p->nh > 0) {
            size_t rows = (size_t)(p->nh + 2 * p->nkv) * hd;
            k.wqkv = TAKE(rows * D);
            if (L->bq.data || L->bk.data || L->bv.data) k.bqkv = TAKE(rows);
            k.wo = p->wo_inplace ? L->wo.data : TAKE((size_t)D * p->nh * hd);
            if (L->bo.data) k.bo = TAKE(D);
        }
        if (p->nc > 0) {
            if (p->gu_inplace) k.wg = L->w_gate.data, k.wu = L->w_up.data;
            else k.wg = TAKE((size_t)2 * p->nc * D), k.wu = k.wg ? k.wg + (size_t)p->nc * D : NULL;
            k.wdown = p->down_inplace ? L->w_down.data : TAKE((size_t)D * p->nc);
            if (L->b_down.data) k.bdown = TAKE(D);
        }
    }
#undef TAKE
    if (c) *c = k;
    return off;
}

static void plan_layer(const Forward *f, int l, Plan *p) {
    const Model *m = f->m;
    const LayerWeights *L = &m->layers[l];
    const SubnetLayer *S = f->sub ? &f->sub->layers[l] : NULL;
    int D = m->cfg.dim, hd = m->cfg.head_dim;
    memset(p, 0, sizeof *p);
    if (L->replace.data) {
        p->is_replace = 1;
        p->rep_inplace = L->replace.dtype == DT_F32;
        p->floats = compact_layout(p, L, D, hd, NULL, NULL);
        return;
    }
    int H = L->n_heads, KV = L->n_kv_heads, F = L->hidden_dim;
    if (H > 0 && (!S || S->attn_on)) {
        int group = H / KV;
        p->qh = xmalloc((size_t)H * sizeof *p->qh);
        p->kvh = xmalloc((size_t)KV * sizeof *p->kvh);
        p->q2kv = xmalloc((size_t)H * sizeof *p->q2kv);
        int last_kv = -1;
        for (int h = 0; h < H; h++) {
            if (S && !S->head_keep[h]) continue;
            int kv = h / group;
            if (kv != last_kv) p->kvh[p->nkv++] = kv, last_kv = kv;
            p->q2kv[p->nh] = p->nkv - 1;
            p->qh[p->nh++] = h;
        }
        if (p->nh > 0) {
            p->ocols = xmalloc((size_t)p->nh * hd * sizeof *p->ocols);
            for (int i = 0; i < p->nh; i++)
                for (int j = 0; j < hd; j++) p->ocols[i * hd + j] = p->qh[i] * hd + j;
        }
    }
    if (F > 0 && (!S || S->mlp_on)) {
        p->chan = xmalloc((size_t)F * sizeof *p->chan);
        for (int c = 0; c < F; c++)
            if (!S || S->chan_keep[c]) p->chan[p->nc++] = c;
    }
    p->wo_inplace = p->nh > 0 && L->wo.dtype == DT_F32 && p->nh == H;
    p->gu_inplace = p->nc > 0 && L->w_gate.dtype == DT_F32 && L->w_up.dtype == DT_F32 && p->nc == F;
    p->down_inplace = p->nc > 0 && L->w_down.dtype == DT_F32 && p->nc == F;
    p->floats = compact_layout(p, L, D, hd, NULL, NULL);
}

/* Give back the resident pages of a stored tensor we have just converted, when it lives in one
 * of the model's read-only file mappings (they fault back in from the page cache if needed).
 * This keeps the resident set of a bf16 model that does not fit the cache near one layer. */
static void release_source(const Model *m, const Tensor *t) {
    if (!t->data || t->dtype == DT_F32) return;
    const uint8_t *p = t->data;
    size_t len = (size_t)(t->rows * t->cols) * dtype_size(t->dtype);
    for (int i = 0; i < m->n_files; i++) {
        const MappedFile *mf = &m->files[i];
        if (!mf->data || p < mf->data || p + len > mf->data + mf->size) continue;
        uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1), b = ((uintptr_t)p + len) & ~(pg - 1);
        if (b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED); /* advisory: failure is harmless */
        return;
    }
}

/* Row r of a stored tensor (dtype-typed pointer arithmetic). */
static const void *row_ptr(const Tensor *t, int64_t r) {
    return (const uint8_t *)t->data + (size_t)(r * t->cols) * dtype_size(t->dtype);
}

// dst: (t->rows, n) <- columns idx[0..n) of every row of t (idx == NULL: the first n columns)
static void gather_columns(float *dst, const Tensor *t, const int32_t *idx, int n) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < t->rows; r++) k_gather_f32(dst + (size_t)r * n, row_ptr(t, r), t->dtype, idx, n);
}

/* Fill `buf` (p->floats floats) with layer l's compact weights and point c at them. */
static void build_layer(Forward *f, int l, const Plan *p, float *buf, Compact *c) {
    const Model *m = f->m;
    const LayerWeights *L = &m->layers[l];
    int D = m->cfg.dim, hd = m->cfg.head_dim;
    compact_layout(p, L, D, hd, buf, c);
    if (p->is_replace) {
        if (!p->rep_inplace) {
            convert_to_f32((float *)c->rep, L->replace.data, L->replace.dtype, (size_t)D * D);
            release_source(m, &L->replace);
        }
        return;
    }
    if (p->nh > 0) {
        int nq = p->nh, nkv = p->nkv, rows = (nq + 2 * nkv) * hd;
        float *wqkv = (float *)c->wqkv;
        // wqkv: (rows, D): kept q heads, then kept k heads, then kept v heads
#pragma omp parallel for schedule(static)
        for (int r = 0; r < rows; r++) {
            int blk = r / hd, j = r % hd;
            const Tensor *t;
            int64_t src;
            if (blk < nq) t = &L->wq, src = (int64_t)p->qh[blk] * hd + j;
            else if (blk < nq + nkv) t = &L->wk, src = (int64_t)p->kvh[blk - nq] * hd + j;
            else t = &L->wv, src = (int64_t)p->kvh[blk - nq - nkv] * hd + j;
            convert_to_f32(wqkv + (size_t)r * D, row_ptr(t, src), t->dtype, (size_t)D);
        }
        if (c->bqkv) {
            float *b = (float *)c->bqkv;
            for (int r = 0; r < rows; r++) {
                int blk = r / hd, j = r % hd;
                const Tensor *t;
                int64_t src;
                if (blk < nq) t = &L->bq, src = (int64_t)p->qh[blk] * hd + j;
                else if (blk < nq + nkv) t = &L->bk, src = (int64_t)p->kvh[blk - nq] * hd + j;
                else t = &L->bv, src = (int64_t)p->kvh[blk - nq - nkv] * hd + j;
                b[r] = 0.0f;
                if (t->data) k_gather_f32(&b[r], t->data, t->dtype, (const int32_t[]){(int32_t)src}, 1);
            }
        }
        // wo: (D, nq*hd) <- kept column blocks of (D, H*hd)
        if (!p->wo_inplace) gather_columns((float *)c->wo, &L->wo, nq == L->n_heads ? NULL : p->ocols, nq * hd);
        if (c->bo) convert_to_f32((float *)c->bo, L->bo.data, L->bo.dtype, (size_t)D);
        release_source(m, &L->wq);
        release_source(m, &L->wk);
        release_source(m, &L->wv);
        release_source(m, &L->wo);
    }
    if (p->nc > 0) {
        int nc = p->nc;
        if (!p->gu_inplace) {
            float *gu = (float *)c->wg;
            // gu: (2nc, D): kept gate rows, then kept up rows
#pragma omp parallel for schedule(static)
            for (int r = 0; r < 2 * nc; r++) {
                const Tensor *t = r < nc ? &L->w_gate : &L->w_up;
                convert_to_f32(gu + (size_t)r * D, row_ptr(t, p->chan[r % nc]), t->dtype, (size_t)D);
            }
        }
        // wd: (D, nc) <- kept columns of (D, F)
        if (!p->down_inplace) gather_columns((float *)c->wdown, &L->w_down, nc == L->hidden_dim ? NULL : p->chan, nc);
        if (c->bdown) convert_to_f32((float *)c->bdown, L->b_down.data, L->b_down.dtype, (size_t)D);
        release_source(m, &L->w_gate);
        release_source(m, &L->w_up);
        release_source(m, &L->w_down);
    }
}

/* Compact weights of layer l, building them (into the cache or the scratch buffer) as needed. */
static void layer_weights(Forward *f, int l, Compact *c) {
    Plan *p = &f->plan[l];
    if (!p->cached) {
        build_layer(f, l, p, f->scratch_w, c);
    } else if (!p->own) {
        p->own = p->floats ? xmalloc_aligned(p->floats * sizeof(float)) : NULL;
        build_layer(f, l, p, p->own, c);
    } else { /* cached and built: the same layout, nothing converted again */
        compact_layout(p, &f->m->layers[l], f->m->cfg.dim, f->m->cfg.head_dim, p->own, c);
    }
}

static void free_plans(Forward *f) {
    if (!f->plan) return;
    for (int l = 0; l < f->n_plan; l++) plan_clear(&f->plan[l]);
    free(f->plan);
    f->plan = NULL;
    f->n_plan = 0;
    free(f->scratch_w);
    f->scratch_w = NULL;
    f->scratch_w_floats = 0;
}

static void make_plans(Forward *f) {
    int n = f->m->cfg.n_layers;
    f->plan = xcalloc((size_t)n, sizeof *f->plan);
    f->n_plan = n;
    size_t budget = f->opt.cache_bytes / sizeof(float), used = 0, scratch = 0;
    f->max_qkv = f->max_att = f->max_c = 0;
    int hd = f->m->cfg.head_dim;
    for (int l = 0; l < n; l++) {
        Plan *p = &f->plan[l];
        plan_layer(f, l, p);
        if (used + p->floats <= budget) p->cached = 1, used += p->floats;
        else if (p->floats > scratch) scratch = p->floats;
        if ((p->nh + 2 * p->nkv) * hd > f->max_qkv) f->max_qkv = (p->nh + 2 * p->nkv) * hd;
        if (p->nh * hd > f->max_att) f->max_att = p->nh * hd;
        if (p->nc > f->max_c) f->max_c = p->nc;
    }
    if (scratch) f->scratch_w = xmalloc_aligned(scratch * sizeof(float));
    f->scratch_w_floats = scratch;
}

/* ---- buffers ------------------------------------------------------------------------- */

static void free_buffers(Forward *f) {
    free(f->x);
    free(f->xn);
    free(f->qkv);
    free(f->att);
    free(f->gu);
    free(f->act);
    free(f->att_s);
    f->x = f->xn = f->qkv = f->att = f->gu = f->act = f->att_s = NULL;
    f->cap_tokens = 0;
    f->cap_T = 0; /* att_s is gone: ensure_buffers rebuilds it with the rope tables */
}

static void *alloc_floats(size_t n) { return xmalloc_aligned((n ? n : 1) * sizeof(float)); }

/* Make the activation buffers hold n tokens of sequences of length T. */
/* The widest layer of m: query+2*KV heads, query heads, MLP channels. */
static void model_widths(const Model *m, int *qkv_w, int *att_w, int *c_w) {
    *qkv_w = m->cfg.n_heads + 2 * m->cfg.n_kv_heads, *att_w = m->cfg.n_heads, *c_w = m->cfg.hidden_dim;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const LayerWeights *L = &m->layers[l];
        if (L->n_heads + 2 * L->n_kv_heads > *qkv_w) *qkv_w = L->n_heads + 2 * L->n_kv_heads;
        if (L->n_heads > *att_w) *att_w = L->n_heads;
        if (L->hidden_dim > *c_w) *c_w = L->hidden_dim;
    }
}

static void ensure_buffers(Forward *f, int n, int T) {
    int D = f->m->cfg.dim, hd = f->m->cfg.head_dim;
    if (n > f->cap_tokens || f->cap_tokens == 0) {
        free_buffers(f);
        int cap = n > f->opt.max_tokens ? n : f->opt.max_tokens;
        f->x = alloc_floats((size_t)cap * D);
        f->xn = alloc_floats((size_t)cap * D);
        int qkv_w, att_w, c_w;
        model_widths(f->m, &qkv_w, &att_w, &c_w);
        /* sized for the dense model so that switching subnets never reallocates */
        f->qkv = alloc_floats((size_t)cap * qkv_w * hd);
        f->att = alloc_floats((size_t)cap * att_w * hd);
        f->gu = alloc_floats((size_t)cap * 2 * c_w);
        f->act = alloc_floats((size_t)cap * c_w);
        f->cap_tokens = cap;
        f->cap_qkv_w = qkv_w, f->cap_att_w = att_w, f->cap_c_w = c_w;
    }
    if (T > f->cap_T) {
        free(f->att_s);
        free(f->rope_c);
        free(f->rope_s);
        int h2 = hd / 2;
        f->att_s = alloc_floats((size_t)f->n_threads * ATT_QB * T);
        f->rope_c = alloc_floats((size_t)T * h2);
        f->rope_s = alloc_floats((size_t)T * h2);
        const double *inv = f->rope_inv; /* (hd/2) scaled inverse frequencies */
        for (int t = 0; t < T; t++)
            for (int i = 0; i < h2; i++) {
                double ang = (double)t * inv[i];
                f->rope_c[(size_t)t * h2 + i] = (float)cos(ang);
                f->rope_s[(size_t)t * h2 + i] = (float)sin(ang);
            }
        f->cap_T = T;
    }
}

/* ---- create / free ------------------------------------------------------------------- */

/* Point f at model m: its norms as f32, its classifier (in place when f32; a converted copy is
 * kept and reused while the same tensor of the same model comes back). Plans are not touched. */
static void bind_model(Forward *f, const Model *m) {
    int D = m->cfg.dim, V = m->cfg.vocab_size, nl = m->cfg.n_layers;
    f->m = m;
    if (nl != f->norms_layers || !f->norms) {
        free(f->norms);
        f->norms = alloc_floats((size_t)(2 * nl + 1) * D);
        f->norms_layers = nl;
    }
    for (int l = 0; l < nl; l++) {
        const LayerWeights *L = &m->layers[l];
        for (int k = 0; k < 2; k++) {
            const Tensor *t = k ? &L->ffn_norm : &L->attn_norm;
            float *dst = f->norms + (size_t)(2 * l + k) * D;
            if (t->data) convert_to_f32(dst, t->data, t->dtype, (size_t)D);
            else for (int i = 0; i < D; i++) dst[i] = 1.0f;
        }
    }
    convert_to_f32(f->norms + (size_t)2 * nl * D, m->final_norm.data, m->final_norm.dtype, (size_t)D);
    if (m->classifier.dtype == DT_F32) f->cls = m->classifier.data;
    else {
        if (!f->cls_own || f->cls_src != m->classifier.data || f->cls_identity != m->identity) {
            if (!f->cls_own) f->cls_own = alloc_floats((size_t)V * D);
#pragma omp parallel for schedule(static)
            for (int r = 0; r < V; r++)
                convert_to_f32(f->cls_own + (size_t)r * D, row_ptr(&m->classifier, r), m->classifier.dtype,
                               (size_t)D);
            if (m->classifier.data != m->tok_embedding.data) release_source(m, &m->classifier);
            f->cls_src = m->classifier.data, f->cls_identity = m->identity;
        }
        f->cls = f->cls_own;
    }
}

int forward_create(const Model *m, const Subnet *s, const ForwardOptions *opt, Forward **out) {
    *out = NULL;
    if (s && subnet_check(s, m, "subnet") != 0) return -1;
    Forward *f = xcalloc(1, sizeof *f);
    f->m = m;
    f->dim = m->cfg.dim, f->head_dim = m->cfg.head_dim, f->vocab = m->cfg.vocab_size;
    if (opt) f->opt = *opt;
    if (f->opt.cache_bytes == 0) f->opt.cache_bytes = DEFAULT_CACHE;
    if (f->opt.max_tokens <= 0) f->opt.max_tokens = DEFAULT_MAX_TOKENS;
    f->n_threads = omp_get_max_threads();
    int D = m->cfg.dim, V = m->cfg.vocab_size;
    f->chunk = f->opt.logits_chunk;
    if (f->chunk <= 0) f->chunk = 1024;
    /* Blocks of the vocabulary, so that a block of logits is about 16 MiB: every classifier row
     * is packed by sgemm once per pass of up to `chunk` tokens, not once per few tokens. */
    f->vblock = (int)((((size_t)16 << 20) / sizeof(float) / (size_t)f->chunk) & ~(size_t)63);
    if (f->vblock < 16) f->vblock = 16;
    if (f->vblock > V) f->vblock = V;
    if (f->chunk > f->opt.max_tokens) f->chunk = f->opt.max_tokens; /* a pass never has more rows */
    f->chunk_x = alloc_floats((size_t)f->chunk * D);
    f->chunk_l = alloc_floats((size_t)f->chunk * f->vblock);
    f->chunk_mx = alloc_floats((size_t)f->chunk);
    f->chunk_tl = alloc_floats((size_t)f->chunk);
    f->chunk_rows = xmalloc((size_t)f->chunk * sizeof(int32_t));
    f->chunk_tgt = xmalloc((size_t)f->chunk * sizeof(int32_t));
    f->chunk_sum = xmalloc((size_t)f->chunk * sizeof(double));
    f->rope_inv = xmalloc((size_t)(m->cfg.head_dim / 2 > 0 ? m->cfg.head_dim / 2 : 1) * sizeof *f->rope_inv);
    rope_inv_freqs(m, f->rope_inv);
    bind_model(f, m);
    if (s) f->sub = subnet_clone(s);
    make_plans(f);
    *out = f;
    return 0;
}

void forward_free(Forward *f) {
    if (!f) return;
    free_plans(f);
    free_buffers(f);
    free(f->rope_c);
    free(f->rope_s);
    free(f->rope_inv);
    free(f->norms);
    free(f->cls_own);
    free(f->chunk_x);
    free(f->chunk_l);
    free(f->chunk_rows);
    free(f->chunk_tgt);
    free(f->chunk_sum);
    free(f->chunk_mx);
    free(f->chunk_tl);
    if (f->sub) subnet_free(f->sub);
    free(f);
}

int forward_set_subnet(Forward *f, const Subnet *s) {
    if (s && subnet_check(s, f->m, "subnet") != 0) return -1;
    if (f->plan && (s ? f->sub && subnet_equal(s, f->sub) : !f->sub)) return 0; /* already planned */
    free_plans(f);
    if (f->sub) subnet_free(f->sub);
    f->sub = s ? subnet_clone(s) : NULL;
    make_plans(f);
    return 0;
}

int forward_set_model(Forward *f, const Model *m, const Subnet *s) {
    const ModelConfig *b = &m->cfg; /* (f->m may be gone already: only f's own fields are read) */
    if (f->dim != b->dim || f->head_dim != b->head_dim || f->vocab != b->vocab_size)
        return err_set("%s: forward pass: model of another shape (dim %d, head_dim %d, vocab %d; the pass has "
                       "%d, %d, %d)", m->path ? m->path : "model", b->dim, b->head_dim, b->vocab_size, f->dim,
                       f->head_dim, f->vocab);
    if (s && subnet_check(s, m, "subnet") != 0) return -1;
    free_plans(f); /* before f->m changes: the plans may point into the previous model */
    if (f->sub) subnet_free(f->sub);
    f->sub = NULL;
    bind_model(f, m);
    int qkv_w, att_w, c_w, h2 = b->head_dim / 2 > 0 ? b->head_dim / 2 : 1;
    model_widths(m, &qkv_w, &att_w, &c_w);
    if (qkv_w > f->cap_qkv_w || att_w > f->cap_att_w || c_w > f->cap_c_w) free_buffers(f); /* regrown on use */
    double *inv = xmalloc((size_t)h2 * sizeof *inv);
    rope_inv_freqs(m, inv);
    if (memcmp(inv, f->rope_inv, (size_t)h2 * sizeof *inv)) { /* other RoPE: tables rebuilt on use */
        memcpy(f->rope_inv, inv, (size_t)h2 * sizeof *inv);
        f->cap_T = 0;
    }
    free(inv);
    if (s) f->sub = subnet_clone(s);
    make_plans(f);
    return 0;
}

const Model *forward_model(const Forward *f) { return f->m; }

/* ---- the pass ------------------------------------------------------------------------ */

/* Non-finite values (exponent all ones) by their bits, so no compiler flag can fold the test away. */
static bool all_finite(const float *x, size_t n) {
    uint32_t bad = 0;
#pragma omp simd reduction(| : bad)
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u); /* (no aliasing of the floats) */
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

static const char *model_name(const Forward *f) { return f->m->path ? f->m->path : "model"; }

static int check_shape(const Forward *f, const int32_t *tokens, int B, int T) {
    if (B <= 0 || T <= 0) return err_set("forward: empty batch (B=%d, T=%d)", B, T);
    if ((int64_t)B * T > (1 << 30)) return err_set("forward: batch of %d x %d tokens is too large", B, T);
    if (model_check_window(f->m, T, f->m->path ? f->m->path : "forward", "window of")) return -1;
    if (tokens) {
        int V = f->m->cfg.vocab_size;
        for (int64_t i = 0; i < (int64_t)B * T; i++)
            if (tokens[i] < 0 || tokens[i] >= V)
                return err_set("forward: token id %d at position %lld is outside the vocabulary [0, %d)", tokens[i],
                               (long long)i, V);
    }
    return 0;
}

int forward_embed(Forward *f, const int32_t *tokens, int B, int T, float *x) {
    if (check_shape(f, tokens, B, T)) return -1;
    const Tensor *e = &f->m->tok_embedding;
    int D = f->m->cfg.dim, n = B * T;
#pragma omp parallel for schedule(static) if (n > 64)
    for (int i = 0; i < n; i++) convert_to_f32(x + (size_t)i * D, row_ptr(e, tokens[i]), e->dtype, (size_t)D);
    for (int i = 0; i < n; i++)
        if (!all_finite(x + (size_t)i * D, (size_t)D))
            return err_set("%s: row %d of the token embedding holds a non-finite value", model_name(f), tokens[i]);
    return 0;
}

// qkv: (B*T, (nh+2nkv)*hd) roped; out: (B*T, nh*hd)
static void attention(Forward *f, const Plan *p, const float *qkv, float *out, int B, int T) {
    int hd = f->m->cfg.head_dim, nh = p->nh, nkv = p->nkv;
    int ld = (nh + 2 * nkv) * hd, ldo = nh * hd;
    int nblk = (T + ATT_QB - 1) / ATT_QB;
    int64_t ntask = (int64_t)B * nh * nblk;
    float scale = 1.0f / sqrtf((float)hd);
    /* each thread runs its own single-threaded sgemms (OpenBLAS is single-threaded here) */
#pragma omp parallel num_threads(f->n_threads)
    {
        float *S = f->att_s + (size_t)omp_get_thread_num() * ATT_QB * f->cap_T;
#pragma omp for schedule(dynamic, 1)
        for (int64_t task = 0; task < ntask; task++) {
            int blk = nblk - 1 - (int)(task % nblk); /* biggest blocks first */
            int h = (int)((task / nblk) % nh), b = (int)(task / ((int64_t)nblk * nh));
            int i0 = blk * ATT_QB, mrows = T - i0 < ATT_QB ? T - i0 : ATT_QB, kn = i0 + mrows;
            const float *seq = qkv + (size_t)b * T * ld;
            const float *Q = seq + (size_t)i0 * ld + (size_t)h * hd;
            const float *K = seq + (size_t)(nh + p->q2kv[h]) * hd;
            const float *Vv = seq + (size_t)(nh + nkv + p->q2kv[h]) * hd;
            // S: (mrows, kn) = scale * Q (mrows, hd) . K (kn, hd)^T
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mrows, kn, hd, scale, Q, ld, K, ld, 0.0f, S, kn);
            k_softmax_causal(S, kn, mrows, i0, kn);
            // out rows: (mrows, hd) = S (mrows, kn) . V (kn, hd)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mrows, hd, kn, 1.0f, S, kn, Vv, ld, 0.0f,
                        out + ((size_t)b * T + i0) * ldo + (size_t)h * hd, ldo);
        }
    }
}

/* y (n, out) = x (n, in) . W (out, in)^T + beta * y, as single-threaded sgemms on slices of the
 * larger of the two output dimensions, shared out among the OpenMP threads. The slices depend on
 * the shape alone, never on the thread count: OpenBLAS's value for an output element depends on
 * the shape of the call that computes it (its Haswell/Zen kernels), so a split by thread count
 * would make every figure depend on the threads (and MPI ranks) a run had. The OpenMP threads are
 * the only busy threads (no OpenBLAS pool spinning against them on 2 cores). */
#define PROJ_SERIAL_FLOP 2e6 /* below this n*in*out: one call */
#define PROJ_SLICES 16       /* at most this many slices, each a multiple of 16 and >= 64 wide */
static void proj(const float *x, int n, int in, const float *W, int out, float *y, int ldy, float beta) {
    if ((double)n * in * out < PROJ_SERIAL_FLOP) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, W, in, beta, y, ldy);
        return;
    }
    int split_rows = n > out;
    int total = split_rows ? n : out;
    int per = (total + PROJ_SLICES - 1) / PROJ_SLICES;
    per = (per + 15) & ~15; /* keep slices a multiple of 16 for the kernels */
    if (per < 64) per = 64;
    int n_slices = (total + per - 1) / per;
    assert(n_slices >= 1 && n_slices <= PROJ_SLICES);
#pragma omp parallel for schedule(dynamic, 1) if (n_slices > 1)
    for (int s = 0; s < n_slices; s++) {
        int a = s * per, b = a + per < total ? a + per : total;
        if (split_rows)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b - a, out, in, 1.0f, x + (size_t)a * in, in, W, in,
                        beta, y + (size_t)a * ldy, ldy);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, b - a, in, 1.0f, x, in, W + (size_t)a * in, in,
                        beta, y + a, ldy);
    }
}

/* Every OpenBLAS call of the forward pass runs single-threaded inside our own OpenMP threads;
 * the caller's OpenBLAS thread count is restored on the way out. */
#define BLAS_SOLO_BEGIN int blas_saved_ = openblas_get_num_threads(); openblas_set_num_threads(1)
#define BLAS_SOLO_END openblas_set_num_threads(blas_saved_)


/* Every layer's output is checked: a NaN or Inf weight (or an overflow) stops the pass at the
 * first layer it reaches, naming it, instead of giving ppl=nan. */
static int check_finite_layer(const Forward *f, int l, const float *x, int n) {
    if (all_finite(x, (size_t)n * f->m->cfg.dim)) return 0;
    return err_set("%s: non-finite activation leaving layer %d (a NaN or Inf weight of that layer, or an overflow)",
                   model_name(f), l);
}

static int layer_impl(Forward *f, int l, float *x, int B, int T, const ForwardHooks *hooks) {
    if (check_shape(f, NULL, B, T)) return -1;
    if (l < 0 || l >= f->m->cfg.n_layers) return err_set("forward: layer %d out of range", l);
    int n = B * T, D = f->m->cfg.dim, hd = f->m->cfg.head_dim;
    float eps = f->m->cfg.norm_eps;
    ensure_buffers(f, n, T);
    const Plan *p = &f->plan[l];
    Compact c;
    layer_weights(f, l, &c);
    if (hooks && hooks->hidden) hooks->hidden(hooks->ud, l, 0, x, n, D);
    if (p->is_replace) { /* hooks: points 0 and 2 only (no sublayers, no point 1) */
        proj(x, n, D, c.rep, D, f->xn, D, 0.0f);
        memcpy(x, f->xn, (size_t)n * D * sizeof(float));
        if (check_finite_layer(f, l, x, n)) return -1;
        if (hooks && hooks->hidden) hooks->hidden(hooks->ud, l, 2, x, n, D);
        return 0;
    }
    if (p->nh > 0) {
        int w = (p->nh + 2 * p->nkv) * hd;
        k_rmsnorm(f->xn, x, f->norms + (size_t)2 * l * D, n, D, eps);
        proj(f->xn, n, D, c.wqkv, w, f->qkv, w, 0.0f);
        if (c.bqkv) k_add_bias(f->qkv, w, c.bqkv, n, w);
        k_rope(f->qkv, w, n, T, p->nh + p->nkv, hd, f->rope_c, f->rope_s, f->m->cfg.rope_layout == ROPE_HALF);
        attention(f, p, f->qkv, f->att, B, T);
        if (hooks && hooks->attn_concat) hooks->attn_concat(hooks->ud, l, f->att, n, p->nh * hd);
        proj(f->att, n, p->nh * hd, c.wo, D, x, D, 1.0f); /* residual: x += att . wo^T */
        if (c.bo) k_add_bias(x, D, c.bo, n, D);
    }
    if (hooks && hooks->hidden) hooks->hidden(hooks->ud, l, 1, x, n, D); /* also when attention is off */
    if (p->nc > 0) {
        int nc = p->nc;
        k_rmsnorm(f->xn, x, f->norms + (size_t)(2 * l + 1) * D, n, D, eps);
        if (c.wu == c.wg + (size_t)nc * D) proj(f->xn, n, D, c.wg, 2 * nc, f->gu, 2 * nc, 0.0f);
        else {
            proj(f->xn, n, D, c.wg, nc, f->gu, 2 * nc, 0.0f);
            proj(f->xn, n, D, c.wu, nc, f->gu + nc, 2 * nc, 0.0f);
        }
        k_silu_mul(f->act, f->gu, n, nc);
        if (hooks && hooks->mlp_act) hooks->mlp_act(hooks->ud, l, f->act, n, nc);
        proj(f->act, n, nc, c.wdown, D, x, D, 1.0f); /* residual: x += act . wdown^T */
        if (c.bdown) k_add_bias(x, D, c.bdown, n, D);
    }
    if (check_finite_layer(f, l, x, n)) return -1;
    if (hooks && hooks->hidden) hooks->hidden(hooks->ud, l, 2, x, n, D);
    return 0;
}

/* Final norm + classifier over the k rows gathered in chunk_rows, in vocabulary blocks: cb gets
 * each (k, vb) tile of logits (forward_logit_tiles, and the log-sum-exp of head_chunk). */
static void tiles_chunk(Forward *f, const float *x, int k, ForwardTileFn cb, void *ud) {
    int D = f->m->cfg.dim, V = f->m->cfg.vocab_size;
    const float *fn = f->norms + (size_t)2 * f->m->cfg.n_layers * D;
    k_rmsnorm_rows(f->chunk_x, x, f->chunk_rows, fn, k, D, f->m->cfg.norm_eps);
    for (int v0 = 0; v0 < V; v0 += f->vblock) {
        int vb = V - v0 < f->vblock ? V - v0 : f->vblock;
        proj(f->chunk_x, k, D, f->cls + (size_t)v0 * D, vb, f->chunk_l, vb, 0.0f);
        cb(ud, f->chunk_rows, k, v0, vb, f->chunk_l);
    }
}

static void lse_tile(void *ud, const int32_t *rows, int k, int v0, int vb, const float *logits) {
    (void)rows;
    Forward *f = ud;
    k_lse_update(logits, k, vb, v0, f->chunk_tgt, f->chunk_mx, f->chunk_sum, f->chunk_tl);
}

/* Score the k rows gathered in chunk_rows/chunk_tgt: final norm, classifier in vocabulary blocks,
 * log-sum-exp. Returns the NLL sum (in row order: deterministic); lp[row + 1] = log p when lp. */
static double head_chunk(Forward *f, const float *x, int k, double *lp) {
    tiles_chunk(f, x, k, lse_tile, f);
    double total = 0.0;
    for (int i = 0; i < k; i++) {
        double nll = log(f->chunk_sum[i]) + (double)f->chunk_mx[i] - (double)f->chunk_tl[i];
        total += nll;
        if (lp) lp[f->chunk_rows[i] + 1] = -nll;
    }
    return total;
}

/* Final norm + classifier + log-softmax over chosen positions, in chunks of rows. Position t of
 * sequence b is scored, -log p(tokens[b,t] | tokens[b,<t]), when max(1, from[b]) <= t < to[b]
 * (every t >= 1 when from/to are NULL): the sum goes to *nll_sum, the count to *n_scored, and
 * with lp non-NULL, lp[b*T + t] = log p. */
static int head_impl(Forward *f, const float *x, const int32_t *tokens, int B, int T, const int *from, const int *to,
                     double *lp, double *nll_sum, int64_t *n_scored) {
    if (check_shape(f, tokens, B, T)) return -1;
    double total = 0.0;
    int64_t count = 0;
    int k = 0;
    for (int b = 0; b < B; b++) {
        int t0 = from && from[b] > 1 ? from[b] : 1, t1 = to && to[b] < T ? to[b] : T;
        for (int t = t0; t < t1; t++) {
            f->chunk_rows[k] = b * T + t - 1; /* logits of position t-1 predict token t */
            f->chunk_tgt[k] = tokens[(size_t)b * T + t];
            if (++k == f->chunk) {
                total += head_chunk(f, x, k, lp);
                if (!isfinite(total)) break;
                count += k;
                k = 0;
            }
        }
    }
    if (k && isfinite(total)) {
        total += head_chunk(f, x, k, lp);
        count += k;
    }
    if (!isfinite(total))
        return err_set("%s: non-finite logits (a NaN or Inf in the classifier or the final norm)", model_name(f));
    *nll_sum += total;
    *n_scored += count;
    return 0;
}

static int run_layers(Forward *f, const int32_t *tokens, int B, int T, const ForwardHooks *hooks) {
    ensure_buffers(f, B * T, T);
    if (forward_embed(f, tokens, B, T, f->x)) return -1;
    for (int l = 0; l < f->m->cfg.n_layers; l++)
        if (layer_impl(f, l, f->x, B, T, hooks)) return -1;
    if (hooks && hooks->hidden) hooks->hidden(hooks->ud, f->m->cfg.n_layers, 0, f->x, B * T, f->m->cfg.dim);
    return 0;
}

int forward_layer(Forward *f, int l, float *x, int B, int T, const ForwardHooks *hooks) {
    BLAS_SOLO_BEGIN;
    int rc = layer_impl(f, l, x, B, T, hooks);
    BLAS_SOLO_END;
    return rc;
}

int forward_head_nll(Forward *f, const float *x, const int32_t *tokens, int B, int T, double *nll_sum,
                     int64_t *n_scored) {
    BLAS_SOLO_BEGIN;
    int rc = head_impl(f, x, tokens, B, T, NULL, NULL, NULL, nll_sum, n_scored);
    BLAS_SOLO_END;
    return rc;
}

int forward_nll(Forward *f, const int32_t *tokens, int B, int T, const ForwardHooks *hooks, double *nll_sum,
                int64_t *n_scored) {
    if (check_shape(f, tokens, B, T)) return -1;
    BLAS_SOLO_BEGIN;
    int rc = run_layers(f, tokens, B, T, hooks);
    if (rc == 0) rc = head_impl(f, f->x, tokens, B, T, NULL, NULL, NULL, nll_sum, n_scored);
    BLAS_SOLO_END;
    return rc;
}

int forward_token_logprobs(Forward *f, const int32_t *tokens, int B, int T, const int *from, const int *to,
                           double *lp) {
    if (check_shape(f, tokens, B, T)) return -1;
    for (int b = 0; b < B; b++)
        if (from[b] < 1 || to[b] > T) return err_set("forward: positions [%d, %d) outside [1, %d]", from[b], to[b], T);
    double nll = 0.0;
    int64_t n = 0;
    BLAS_SOLO_BEGIN;
    int rc = run_layers(f, tokens, B, T, NULL);
    if (rc == 0) rc = head_impl(f, f->x, tokens, B, T, from, to, lp, &nll, &n);
    BLAS_SOLO_END;
    return rc;
}

int forward_logit_tiles(Forward *f, const int32_t *tokens, int B, int T, ForwardTileFn cb, void *ud) {
    if (check_shape(f, tokens, B, T)) return -1;
    BLAS_SOLO_BEGIN;
    int rc = run_layers(f, tokens, B, T, NULL), k = 0;
    for (int b = 0; rc == 0 && b < B; b++)
        for (int t = 1; t < T; t++) {
            f->chunk_rows[k++] = b * T + t - 1;
            if (k == f->chunk) tiles_chunk(f, f->x, k, cb, ud), k = 0;
        }
    if (rc == 0 && k) tiles_chunk(f, f->x, k, cb, ud);
    BLAS_SOLO_END;
    return rc;
}

int forward_logits(Forward *f, const int32_t *tokens, int B, int T, float *logits) {
    if (check_shape(f, tokens, B, T)) return -1;
    BLAS_SOLO_BEGIN;
    int rc = run_layers(f, tokens, B, T, NULL);
    int D = f->m->cfg.dim, V = f->m->cfg.vocab_size, n = B * T;
    const float *fn = f->norms + (size_t)2 * f->m->cfg.n_layers * D;
    for (int r0 = 0; rc == 0 && r0 < n; r0 += f->chunk) { /* straight into the caller's buffer */
        int k = n - r0 < f->chunk ? n - r0 : f->chunk;
        k_rmsnorm(f->chunk_x, f->x + (size_t)r0 * D, fn, k, D, f->m->cfg.norm_eps);
        proj(f->chunk_x, k, D, f->cls, V, logits + (size_t)r0 * V, V, 0.0f);
    }
    BLAS_SOLO_END;
    return rc;
}

/* Counted (multiply-add = 2 FLOPs), exactly the sgemm work forward_nll executes:
 *   per attention layer: QKV 2*N*D*(nh+2nkv)*hd, output 2*N*nh*hd*D, and per (sequence, head,
 *   64-row query block [i0, i0+m)) 2*m*(i0+m)*hd for the scores and the same for P.V — the
 *   causal part plus the masked upper triangle of each diagonal block;
 *   per MLP layer: gate+up 2*N*D*2nc, down 2*N*nc*D; per replace layer 2*N*D*D;
 *   classifier 2*B*(T-1)*D*vocab (the scored positions only).
 * Not counted: norms, RoPE, softmax, SiLU, the log-softmax over the vocabulary. */
double forward_flops(const Forward *f, int B, int T) {
    double N = (double)B * T, D = f->m->cfg.dim, hd = f->m->cfg.head_dim, fl = 0.0;
    double att_pairs = 0.0; /* sum over query blocks of m * (i0 + m) */
    for (int i0 = 0; i0 < T; i0 += ATT_QB) {
        double m = T - i0 < ATT_QB ? T - i0 : ATT_QB;
        att_pairs += m * (i0 + m);
    }
    for (int l = 0; l < f->m->cfg.n_layers; l++) {
        const Plan *p = &f->plan[l];
        if (p->is_replace) {
            fl += 2.0 * N * D * D;
            continue;
        }
        if (p->nh > 0) {
            fl += 2.0 * N * D * (p->nh + 2 * p->nkv) * hd + 2.0 * N * p->nh * hd * D;
            fl += 2.0 * 2.0 * B * p->nh * att_pairs * hd;
        }
        if (p->nc > 0) fl += 2.0 * N * D * 2 * p->nc + 2.0 * N * p->nc * D;
    }
    fl += 2.0 * B * (T - 1) * D * f->m->cfg.vocab_size;
    return fl;
}
