/* extract — copy a subnet's weights out of a model into a new in-memory model of owned f32
 * tensors with heterogeneous layers (see extract.h).
 *
 * Grouped-query attention: the kept query heads of one KV head form a group; all groups of a
 * layer must have one size g for LayerWeights to express the grouping (query head i uses KV head
 * i / g). When the kept groups differ in size, g is their greatest common divisor and a KV head
 * whose group holds k*g kept query heads is stored k times (identical copies), which evaluates
 * exactly like the subnet. The extracted model has no tokenizer. */
#include "runtime/model/extract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/fwd_kernels.h"

static int gcd(int a, int b) {
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Owned f32 tensor of `rows` rows of src (row indices idx, or all when idx == NULL), each
 * restricted to columns cidx (n_cols of them; all when cidx == NULL). */
static Tensor take(Model *out, const Tensor *src, const int32_t *idx, int64_t rows, const int32_t *cidx,
                   int64_t n_cols) {
    float *d = model_own(out, xmalloc_aligned((size_t)(rows * n_cols > 0 ? rows * n_cols : 1) * sizeof(float)));
    size_t es = dtype_size(src->dtype);
    for (int64_t r = 0; r < rows; r++) {
        int64_t sr = idx ? idx[r] : r;
        const uint8_t *row = (const uint8_t *)src->data + (size_t)(sr * src->cols) * es;
        k_gather_f32(d + (size_t)(r * n_cols), row, src->dtype, cidx, (int)n_cols);
    }
    return tensor_make(DT_F32, rows, n_cols, d);
}

static Tensor take_all(Model *out, const Tensor *src) {
    if (!src->data) return *src;
    return take(out, src, NULL, src->rows, NULL, src->cols);
}

int model_extract(const Model *m, const Subnet *s, Model **result) {
    *result = NULL;
    if (s && subnet_check(s, m, "subnet") != 0) return -1;
    const ModelConfig *c = &m->cfg;
    int hd = c->head_dim, D = c->dim;
    Model *out = model_alloc(c->n_layers);
    out->cfg = *c;
    out->format = "memory";
    size_t plen = strlen(m->path ? m->path : "model") + 16;
    out->path = xmalloc(plen);
    snprintf(out->path, plen, "%s (extracted)", m->path ? m->path : "model");
    out->tok_embedding = take_all(out, &m->tok_embedding);
    out->final_norm = take_all(out, &m->final_norm);
    out->rope_freqs = take_all(out, &m->rope_freqs);
    out->classifier = m->classifier.data == m->tok_embedding.data ? out->tok_embedding : take_all(out, &m->classifier);
    int32_t *rows = xmalloc(sizeof *rows);
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *L = &m->layers[l];
        LayerWeights *O = &out->layers[l];
        const SubnetLayer *S = s ? &s->layers[l] : NULL;
        if (L->replace.data) {
            O->replace = take_all(out, &L->replace);
            continue;
        }
        O->attn_norm = take_all(out, &L->attn_norm);
        O->ffn_norm = take_all(out, &L->ffn_norm);
        int H = L->n_heads, KV = L->n_kv_heads, F = L->hidden_dim;
        if (H > 0 && (!S || S->attn_on)) {
            int group = H / KV, nh = 0, g = 0;
            int *count = xcalloc((size_t)KV, sizeof *count);
            int32_t *qh = xmalloc((size_t)H * sizeof *qh);
            for (int h = 0; h < H; h++)
                if (!S || S->head_keep[h]) qh[nh++] = h, count[h / group]++;
            for (int k = 0; k < KV; k++) g = gcd(g, count[k]);
            if (nh > 0) {
                int nkv = nh / g;
                rows = xrealloc(rows, (size_t)(nh + nkv) * hd * sizeof *rows);
                int32_t *kvrows = rows + (size_t)nh * hd, *qrows = rows;
                for (int i = 0; i < nh; i++)
                    for (int j = 0; j < hd; j++) qrows[i * hd + j] = qh[i] * hd + j;
                int k = 0;
                for (int kv = 0; kv < KV; kv++)
                    for (int rep = 0; rep < count[kv] / (g ? g : 1); rep++, k++)
                        for (int j = 0; j < hd; j++) kvrows[k * hd + j] = kv * hd + j;
                O->n_heads = nh;
                O->n_kv_heads = nkv;
                O->wq = take(out, &L->wq, qrows, (int64_t)nh * hd, NULL, D);
                O->wk = take(out, &L->wk, kvrows, (int64_t)nkv * hd, NULL, D);
                O->wv = take(out, &L->wv, kvrows, (int64_t)nkv * hd, NULL, D);
                if (L->bq.data) O->bq = take(out, &L->bq, NULL, 1, qrows, (int64_t)nh * hd);
                if (L->bk.data) O->bk = take(out, &L->bk, NULL, 1, kvrows, (int64_t)nkv * hd);
                if (L->bv.data) O->bv = take(out, &L->bv, NULL, 1, kvrows, (int64_t)nkv * hd);
                O->wo = take(out, &L->wo, NULL, D, qrows, (int64_t)nh * hd);
                O->bo = take_all(out, &L->bo);
            }
            free(count);
            free(qh);
        }
        if (F > 0 && (!S || S->mlp_on)) {
            int32_t *ch = xmalloc((size_t)F * sizeof *ch);
            int nc = 0;
            for (int j = 0; j < F; j++)
                if (!S || S->chan_keep[j]) ch[nc++] = j;
            if (nc > 0) {
                O->hidden_dim = nc;
                O->w_gate = take(out, &L->w_gate, ch, nc, NULL, D);
                O->w_up = take(out, &L->w_up, ch, nc, NULL, D);
                O->w_down = take(out, &L->w_down, NULL, D, ch, nc);
                O->b_down = take_all(out, &L->b_down);
            }
            free(ch);
        }
    }
    free(rows);
    uint64_t h = fnv1a64(FNV64_INIT, &m->identity, sizeof m->identity);
    uint64_t sh = s ? subnet_hash(s) : 0;
    out->identity = fnv1a64(h, &sh, sizeof sh);
    if (model_validate(out, out->path) != 0) {
        model_free(out);
        return -1;
    }
    *result = out;
    return 0;
}
