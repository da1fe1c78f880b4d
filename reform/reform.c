/* reform — one-shot / sequential reformation driver and layer replacement.
 * See reform.h. */
#include "reform/reform.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reform/admm.h"
#include "reform/lsq.h"
#include "runtime/model/extract.h"
#include "runtime/forward/forward.h"

void reform_defaults(ReformOptions *o) {
    *o = (ReformOptions){.method = REFORM_EXACT, .fit = REFORM_FIT_DEFAULT, .lambda_frac = REFORM_LAMBDA_FRAC,
                         .rho = ADMM_RHO, .iters = ADMM_ITERS};
}

static const char *fit_names[] = {"weights", "weights+bias", "bias"};

int reform_fit_parse(const char *s, ReformFit *out) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, fit_names[i])) {
            *out = (ReformFit)i;
            return 0;
        }
    return err_set("unknown reformation fit '%s' (known: weights, weights+bias, bias)", s);
}

const char *reform_fit_name(ReformFit f) { return fit_names[f]; }

/* Add delta (D) to the output bias *b of the extracted model E (created, f32 and owned, when absent;
 * an existing one is E's own f32 copy, extract.h). */
static void add_bias(Model *E, Tensor *b, const double *delta, int64_t D) {
    if (!b->data) {
        float *d = model_own(E, xcalloc((size_t)D, sizeof *d));
        *b = tensor_make(DT_F32, 1, D, d);
    }
    float *d = (float *)b->data;
    for (int64_t i = 0; i < D; i++) d[i] = (float)(d[i] + delta[i]);
}

/* FLAP's compensation with the kept weights as inherited: delta (D) = (W s − W_S s̃) / N, s (n) the
 * dense inputs' sums, st (k) the kept inputs' sums as the pruned model sees them (one-shot: s[idx]). */
static void bias_only(const double *W, int D, int n, const int *idx, int k, const double *s, const double *st,
                      double n_tok, double *delta) {
    for (int64_t i = 0; i < D; i++) {
        double v = 0;
        for (int j = 0; j < n; j++) v += W[i * n + j] * s[j];
        for (int j = 0; j < k; j++) v -= W[i * n + idx[j]] * st[j];
        delta[i] = v / n_tok;
    }
}

/* Ŵ (D, k) and, with an intercept, delta (D) from the solve of [Ŵ | δ] on C (n, k + ic) and
 * G (k + ic)² (ic = 0 or 1; lsq.h); W (D, n) the dense weights, P (D, k) the prior. */
static int solve_fit(const double *W, int D, int n, const double *C, const double *G, int k, int ic,
                     double lambda_frac, const LsqPrior *prior, double *What, double *delta) {
    int kt = k + ic;
    double *WC = xmalloc_aligned((size_t)D * kt * sizeof *WC + 8);
    lsq_wc(W, D, n, C, kt, WC);
    int rc = lsq_ridge_solve_free(WC, D, k, ic, G, lambda_frac, prior);
    if (rc == 0)
        for (int64_t i = 0; i < D; i++) {
            memcpy(What + i * k, WC + i * kt, (size_t)k * sizeof *What);
            if (ic) delta[i] = WC[i * kt + k];
        }
    free(WC);
    return rc;
}

/* Store Ŵ (rows, k) into the extracted model's owned f32 tensor t. */
static int store(Tensor *t, const double *W, int64_t rows, int64_t k) {
    if (t->dtype != DT_F32 || t->rows != rows || t->cols != k)
        return err_set("reformation: extracted tensor is %lldx%lld, expected %lldx%lld f32", (long long)t->rows,
                       (long long)t->cols, (long long)rows, (long long)k);
    float *d = (float *)t->data; /* owned by the extracted model (extract.h) */
    for (int64_t i = 0; i < rows * k; i++) d[i] = (float)W[i];
    return 0;
}

/* kept input columns of o_proj (heads × head_dim) and down_proj; returns k */
static int head_cols(const SubnetLayer *S, int hd, int *idx) {
    int k = 0;
    if (!S->attn_on) return 0;
    for (int h = 0; h < S->n_heads; h++)
        if (S->head_keep[h])
            for (int j = 0; j < hd; j++) idx[k++] = h * hd + j;
    return k;
}
static int chan_cols(const SubnetLayer *S, int *idx) {
    int k = 0;
    if (!S->mlp_on) return 0;
    for (int c = 0; c < S->hidden_dim; c++)
        if (S->chan_keep[c]) idx[k++] = c;
    return k;
}

/* P (D, k) <- the kept columns idx (k) of W (D, n): the inherited weights, reformation's prior. */
static double *kept_columns(const double *W, int D, int n, const int *idx, int k) {
    double *P = xmalloc_aligned((size_t)D * k * sizeof *P + 8);
    for (int64_t i = 0; i < D; i++)
        for (int j = 0; j < k; j++) P[i * k + j] = W[i * n + idx[j]];
    return P;
}

/* One-shot fit of W (D, n) on kept idx (k) from H and the input sums s over n_tok calibration
 * tokens; writes into t and, with an intercept or bias-only, adds to the output bias *b of E. */
static int fit_oneshot(Model *E, const Tensor *src, Tensor *dst, Tensor *b, const double *H, const double *s,
                       double n_tok, const int *idx, int k, const ReformOptions *o) {
    int D = (int)src->rows, n = (int)src->cols, ic = o->fit == REFORM_FIT_WEIGHTS_BIAS;
    double *W = lsq_tensor_double(src), *out = xmalloc_aligned((size_t)D * k * sizeof *out),
           *delta = xcalloc((size_t)D, sizeof *delta);
    int rc = 0;
    if (o->fit == REFORM_FIT_BIAS) {
        double *st = xmalloc((size_t)k * sizeof *st + 8);
        for (int j = 0; j < k; j++) st[j] = s[idx[j]];
        bias_only(W, D, n, idx, k, s, st, n_tok, delta);
        free(st);
    } else if (o->method == REFORM_ADMM) {
        rc = admm_solve(W, D, n, H, idx, k, o->rho, o->iters, out, 0, NULL, NULL);
    } else {
        int kt = k + ic;
        double *C = xmalloc_aligned((size_t)n * kt * sizeof *C), *G = xmalloc_aligned((size_t)kt * kt * sizeof *G);
        double *Ck = xmalloc_aligned((size_t)n * k * sizeof *Ck), *Gk = xmalloc_aligned((size_t)k * k * sizeof *Gk);
        lsq_gather(H, n, idx, k, Ck, Gk);
        /* C = [H[:,S] | s], G = [H[S,S] s_S; s_Sᵀ N] (without an intercept: H[:,S], H[S,S]) */
        for (int64_t i = 0; i < n; i++) {
            memcpy(C + i * kt, Ck + i * k, (size_t)k * sizeof *C);
            if (ic) C[i * kt + k] = s[i];
        }
        for (int64_t i = 0; i < k; i++) {
            memcpy(G + i * kt, Gk + i * k, (size_t)k * sizeof *G);
            if (ic) G[i * kt + k] = G[(int64_t)k * kt + i] = s[idx[i]];
        }
        if (ic) G[(int64_t)k * kt + k] = n_tok;
        LsqPrior prior = {.P = kept_columns(W, D, n, idx, k), .n_tok = n_tok};
        rc = solve_fit(W, D, n, C, G, k, ic, o->lambda_frac, &prior, out, delta);
        free(C), free(G), free(Ck), free(Gk), free((double *)prior.P);
    }
    if (rc == 0 && o->fit != REFORM_FIT_BIAS) rc = store(dst, out, D, k);
    if (rc == 0 && o->fit != REFORM_FIT_WEIGHTS) add_bias(E, b, delta, D);
    free(W), free(out), free(delta);
    return rc;
}

int reform_oneshot(const Model *m, const Subnet *s, const StatsFile *sf, const ReformOptions *o, Model **out) {
    *out = NULL;
    if (subnet_check(s, m, "subnet") != 0) return -1;
    if (sf->n_layers != m->cfg.n_layers || sf->dim != m->cfg.dim || sf->model_id != m->identity)
        return err_set("%s: statistics are of another model", sf->path);
    if (o->method == REFORM_ADMM && o->fit != REFORM_FIT_WEIGHTS)
        return err_set("reformation: ADMM fits the weights only (fit '%s' needs the exact method)", reform_fit_name(o->fit));
    Model *E = NULL;
    if (model_extract(m, s, &E) != 0) return -1;
    int hd = m->cfg.head_dim, rc = 0;
    for (int l = 0; rc == 0 && l < m->cfg.n_layers; l++) {
        const SubnetLayer *S = &s->layers[l];
        const LayerWeights *L = &m->layers[l];
        int *io = xmalloc((size_t)(L->n_heads * hd + 1) * sizeof *io), *id = xmalloc((size_t)(L->hidden_dim + 1) * sizeof *id);
        int ko = L->n_heads > 0 ? head_cols(S, hd, io) : 0, kd = L->hidden_dim > 0 ? chan_cols(S, id) : 0;
        bool fit_o = ko > 0 && ko < L->n_heads * hd, fit_d = kd > 0 && kd < L->hidden_dim;
        if (fit_o || fit_d) {
            LayerStats st;
            rc = stats_layer(sf, l, &st);
            LayerWeights *EL = &E->layers[l];
            if (rc == 0 && fit_o) rc = fit_oneshot(E, &L->wo, &EL->wo, &EL->bo, st.H_o, st.sum_o, st.n_tok, io, ko, o);
            if (rc == 0 && fit_d)
                rc = fit_oneshot(E, &L->w_down, &EL->w_down, &EL->b_down, st.H_d, st.sum_d, st.n_tok, id, kd, o);
            if (rc == 0) layer_stats_free(&st);
        }
        free(io), free(id);
    }
    if (rc != 0) {
        model_free(E);
        return -1;
    }
    *out = E;
    return 0;
}

/* ---- sequential ---- */

typedef struct {
    float *concat, *act;  /* (ntok, width) capture buffers or NULL */
    int wc, wa;           /* expected widths */
    size_t row;           /* token offset of the current call */
} Capture;

static void cap_concat(void *ud, int layer, const float *x, int n, int w) {
    (void)layer;
    Capture *c = ud;
    if (c->concat && w == c->wc) memcpy(c->concat + c->row * w, x, (size_t)n * w * sizeof *x);
}
static void cap_act(void *ud, int layer, const float *x, int n, int w) {
    (void)layer;
    Capture *c = ud;
    if (c->act && w == c->wa) memcpy(c->act + c->row * w, x, (size_t)n * w * sizeof *x);
}

/* Run layer l of f over all windows of x (ntok, D) in place, capturing into c. */
static int run_layer(Forward *f, int l, float *x, const Windows *w, int per_call, int D, Capture *c) {
    ForwardHooks hk = {.attn_concat = cap_concat, .mlp_act = cap_act, .ud = c};
    for (int i = 0; i < w->n; i += per_call) {
        int B = w->n - i < per_call ? w->n - i : per_call;
        c->row = (size_t)i * w->len;
        if (forward_layer(f, l, x + (size_t)i * w->len * D, B, w->len, &hk) != 0) return -1;
    }
    return 0;
}

/* Ŵ (D, k) = (W C + μ W_S)(G + (λ+μ)I)⁻¹ with C = Xᵀ X̃ (n, k), G = X̃ᵀ X̃ from token-major X (ntok, n),
 * X̃ (ntok, k); idx (k): the kept columns S of W, whose weights W_S are the prior (lsq.h). With an
 * intercept C and G gain the sums of X and X̃ (lsq.h); bias-only keeps W_S. The bias goes to *b of E. */
static int fit_cross(Model *E, const Tensor *src, Tensor *dst, Tensor *b, const int *idx, const float *X,
                     const float *Xt, size_t ntok, const ReformOptions *o) {
    int D = (int)src->rows, n = (int)src->cols, k = (int)dst->cols, ic = o->fit == REFORM_FIT_WEIGHTS_BIAS, kt = k + ic;
    double *Xd = xmalloc_aligned(ntok * n * sizeof *Xd + 8), *Xtd = xmalloc_aligned(ntok * kt * sizeof *Xtd + 8);
    for (size_t i = 0; i < ntok * n; i++) Xd[i] = X[i];
    for (size_t t = 0; t < ntok; t++) { /* X̃ with a column of ones appended for the intercept */
        for (int j = 0; j < k; j++) Xtd[t * kt + j] = Xt[t * k + j];
        if (ic) Xtd[t * kt + k] = 1.0;
    }
    double *sx = xcalloc((size_t)n + 1, sizeof *sx), *sxt = xcalloc((size_t)k + 1, sizeof *sxt);
    for (size_t t = 0; t < ntok; t++) {
        for (int j = 0; j < n; j++) sx[j] += Xd[t * n + j];
        for (int j = 0; j < k; j++) sxt[j] += Xtd[t * kt + j];
    }
    double *W = lsq_tensor_double(src), *out = xmalloc_aligned((size_t)D * k * sizeof *out),
           *delta = xcalloc((size_t)D, sizeof *delta);
    int rc = 0;
    if (o->fit == REFORM_FIT_BIAS) {
        bias_only(W, D, n, idx, k, sx, sxt, (double)ntok, delta);
    } else {
        double *C = xmalloc_aligned((size_t)n * kt * sizeof *C), *G = xmalloc_aligned((size_t)kt * kt * sizeof *G);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, kt, (int)ntok, 1.0, Xd, n, Xtd, kt, 0.0, C, kt);
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, kt, (int)ntok, 1.0, Xtd, kt, 0.0, G, kt);
        for (int64_t i = 0; i < kt; i++)
            for (int64_t j = i + 1; j < kt; j++) G[i * kt + j] = G[j * kt + i];
        LsqPrior prior = {.P = kept_columns(W, D, n, idx, k), .n_tok = (double)ntok};
        rc = solve_fit(W, D, n, C, G, k, ic, o->lambda_frac, &prior, out, delta);
        free(C), free(G), free((double *)prior.P);
    }
    free(Xd), free(Xtd), free(sx), free(sxt);
    if (rc == 0 && o->fit != REFORM_FIT_BIAS) rc = store(dst, out, D, k);
    if (rc == 0 && o->fit != REFORM_FIT_WEIGHTS) add_bias(E, b, delta, D);
    free(W), free(out), free(delta);
    return rc;
}

int reform_sequential(const Model *m, const Subnet *s, const Windows *w, const ReformOptions *o, Model **out) {
    *out = NULL;
    if (o->method != REFORM_EXACT) return err_set("sequential reformation supports the exact method only");
    if (subnet_check(s, m, "subnet") != 0) return -1;
    int D = m->cfg.dim, hd = m->cfg.head_dim, T = w->len, per_call = 4096 / T > 0 ? 4096 / T : 1;
    size_t ntok = (size_t)w->n * T;
    /* It keeps every calibration token's states in memory: 3 (ntok, D) float copies, the dense
     * and subnet captures (ntok, q + F + widest) floats and fit_cross's double copies
     * (ntok, n + k) of the widest projection. Refuse up front rather than die half-way. */
    size_t widest = 0, budget = memory_budget_bytes();
    for (int l = 0; l < m->cfg.n_layers; l++) {
        size_t q = (size_t)m->layers[l].n_heads * hd, F = (size_t)m->layers[l].hidden_dim;
        size_t wl = q > F ? q : F;
        if (wl > widest) widest = wl;
    }
    double need = (double)ntok * ((3.0 * D + 3.0 * widest) * sizeof(float) + 2.0 * widest * sizeof(double));
    if (budget > 0 && need > 0.8 * (double)budget)
        return err_set("sequential reformation of %zu calibration tokens needs about %.0f MiB, more than the %.0f MiB "
                       "this machine allows (CARVE_MEMORY_MB or physical memory); use --mode one-shot (the default) "
                       "or fewer tokens (--n, --len)", ntok, need / 1048576.0, (double)budget / 1048576.0);
    Model *E = NULL;
    if (model_extract(m, s, &E) != 0) return -1;
    ForwardOptions fo = {.max_tokens = per_call * T};
    Forward *fd = NULL, *fs = NULL;
    float *xd = xmalloc_aligned(ntok * D * sizeof *xd), *xs = xmalloc_aligned(ntok * D * sizeof *xs),
          *tmp = xmalloc_aligned(ntok * D * sizeof *tmp);
    int rc = forward_create(m, NULL, &fo, &fd);
    for (int i = 0; rc == 0 && i < w->n; i += per_call) {
        int B = w->n - i < per_call ? w->n - i : per_call;
        rc = forward_embed(fd, w->tokens + (size_t)i * T, B, T, xd + (size_t)i * T * D);
    }
    if (rc == 0) memcpy(xs, xd, ntok * D * sizeof *xs);
    for (int l = 0; rc == 0 && l < m->cfg.n_layers; l++) {
        const SubnetLayer *S = &s->layers[l];
        const LayerWeights *L = &m->layers[l];
        LayerWeights *EL = &E->layers[l];
        int q = L->n_heads * hd, F = L->hidden_dim;
        int *io = xmalloc((size_t)(q + 1) * sizeof *io), *id = xmalloc((size_t)(F + 1) * sizeof *id);
        int ko = L->n_heads > 0 ? head_cols(S, hd, io) : 0, kd = F > 0 ? chan_cols(S, id) : 0;
        bool fit_o = ko > 0 && ko < q, fit_d = kd > 0 && kd < F;
        Capture dense = {.wc = q, .wa = F};
        if (fit_o) dense.concat = xmalloc_aligned(ntok * q * sizeof(float));
        if (fit_d) dense.act = xmalloc_aligned(ntok * F * sizeof(float));
        rc = run_layer(fd, l, xd, w, per_call, D, &dense); /* advances the dense states */
        for (int pass = 0; rc == 0 && pass < 2; pass++) {
            bool fit = pass == 0 ? fit_o : fit_d;
            if (!fit) continue;
            Capture sub = {.wc = ko, .wa = kd};
            float *buf = xmalloc_aligned(ntok * (pass == 0 ? ko : kd) * sizeof(float));
            if (pass == 0) sub.concat = buf;
            else sub.act = buf;
            forward_free(fs), fs = NULL;
            rc = forward_create(E, NULL, &fo, &fs); /* E's weights changed: build afresh */
            if (rc == 0) memcpy(tmp, xs, ntok * D * sizeof *tmp);
            if (rc == 0) rc = run_layer(fs, l, tmp, w, per_call, D, &sub);
            if (rc == 0)
                rc = pass == 0 ? fit_cross(E, &L->wo, &EL->wo, &EL->bo, io, dense.concat, buf, ntok, o)
                               : fit_cross(E, &L->w_down, &EL->w_down, &EL->b_down, id, dense.act, buf, ntok, o);
            free(buf);
        }
        free(dense.concat), free(dense.act), free(io), free(id);
        if (rc == 0) {
            forward_free(fs), fs = NULL;
            rc = forward_create(E, NULL, &fo, &fs);
            Capture none = {0};
            if (rc == 0) rc = run_layer(fs, l, xs, w, per_call, D, &none); /* advance the subnet states */
        }
    }
    forward_free(fd), forward_free(fs);
    free(xd), free(xs), free(tmp);
    if (rc != 0) {
        model_free(E);
        return -1;
    }
    *out = E;
    return 0;
}

/* ---- layer replacement ---- */

int reform_replace_span(const Model *m, int first, int n, bool fit, const Windows *w, double lambda_frac,
                        Model **out) {
    *out = NULL;
    int nl = m->cfg.n_layers, D = m->cfg.dim, T = w->len, per_call = 4096 / T > 0 ? 4096 / T : 1;
    if (first < 0 || n < 1 || first + n > nl)
        return err_set("replacement span [%d, %d) is not inside the model's %d layers", first, first + n, nl);
    Subnet *s = subnet_dense(m);
    for (int l = first; l < first + n; l++) {
        SubnetLayer *S = &s->layers[l];
        S->attn_on = S->mlp_on = false;
    }
    subnet_canonicalize(s);
    Model *E = NULL;
    int rc = model_extract(m, s, &E);
    subnet_free(s);
    if (rc != 0) return -1;
    if (!fit) {
        *out = E;
        return 0;
    }
    /* X = h_first, Y = h_{first+n} over all calibration tokens (dense model), accumulated one
     * batch of windows at a time: G = Σ x xᵀ (D, D), M = Σ y xᵀ (D, D); then
     * M <- (M + μI)(G + (λ+μ)I)⁻¹, shrunk towards the identity (plain removal; lsq.h).
     * Memory: the two (D, D) sums and one batch of states, whatever the number of windows. */
    size_t ntok = (size_t)w->n * T, nb = (size_t)per_call * T;
    ForwardOptions fo = {.max_tokens = per_call * T};
    Forward *fd = NULL;
    float *x = xmalloc_aligned(nb * D * sizeof *x), *y = xmalloc_aligned(nb * D * sizeof *y);
    double *xd = xmalloc_aligned(nb * D * sizeof *xd), *yd = xmalloc_aligned(nb * D * sizeof *yd);
    double *G = xcalloc((size_t)D * D, sizeof *G), *M = xcalloc((size_t)D * D, sizeof *M);
    rc = forward_create(m, NULL, &fo, &fd);
    for (int i = 0; rc == 0 && i < w->n; i += per_call) {
        int B = w->n - i < per_call ? w->n - i : per_call;
        size_t bt = (size_t)B * T;
        rc = forward_embed(fd, w->tokens + (size_t)i * T, B, T, x);
        for (int l = 0; rc == 0 && l < first; l++) rc = forward_layer(fd, l, x, B, T, NULL);
        if (rc == 0) memcpy(y, x, bt * D * sizeof *y);
        for (int l = first; rc == 0 && l < first + n; l++) rc = forward_layer(fd, l, y, B, T, NULL);
        if (rc != 0) break;
        for (size_t k = 0; k < bt * D; k++) xd[k] = x[k], yd[k] = y[k];
        // G (D, D) += xdᵀ xd, M (D, D) += ydᵀ xd; xd, yd: (bt, D)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, D, (int)bt, 1.0, xd, D, xd, D, 1.0, G, D);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, D, (int)bt, 1.0, yd, D, xd, D, 1.0, M, D);
    }
    forward_free(fd);
    free(x), free(y), free(xd), free(yd);
    if (rc == 0) {
        double *ident = xcalloc((size_t)D * D, sizeof *ident); /* prior: the identity, i.e. plain removal */
        for (int64_t i = 0; i < D; i++) ident[i * D + i] = 1.0;
        LsqPrior prior = {.P = ident, .n_tok = (double)ntok};
        rc = lsq_ridge_solve(M, D, D, G, lambda_frac, &prior);
        free(ident);
        if (rc == 0) {
            float *r = model_own(E, xmalloc_aligned((size_t)D * D * sizeof *r));
            for (size_t i = 0; i < (size_t)D * D; i++) r[i] = (float)M[i];
            LayerWeights *L = &E->layers[first];
            memset(L, 0, sizeof *L);
            L->replace = tensor_make(DT_F32, D, D, r);
        }
    }
    free(G), free(M);
    if (rc != 0) {
        model_free(E);
        return -1;
    }
    *out = E;
    return 0;
}
