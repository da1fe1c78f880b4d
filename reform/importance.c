/* importance — saliency, magnitude and FLAP unit scores; layer-level cosine scores.
 * See importance.h for the formulas. */
#include "reform/importance.h"

#include <assert.h>
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "reform/lsq.h"

const char *const IMP_METHOD_NAMES[] = {"saliency", "magnitude", "flap", "obs", NULL};
#define names IMP_METHOD_NAMES

int imp_method_parse(const char *s, ImpMethod *out) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i])) {
            *out = (ImpMethod)i;
            return 0;
        }
    return err_set("unknown importance method '%s' (known: saliency, magnitude, flap, obs)", s);
}

const char *imp_method_name(ImpMethod m) { return names[m]; }

/* (H + λI)⁻¹ (n, n) in full, H (n, n); λ = REFORM_LAMBDA_FRAC × mean diag. NULL with err_set
 * (naming `who`) when not positive definite. */
static double *inv_full(const double *H, int n, const char *who) {
    double *A = xmalloc_aligned((size_t)n * n * sizeof *A), mean = 0;
    memcpy(A, H, (size_t)n * n * sizeof *A);
    for (int64_t i = 0; i < n; i++) mean += H[i * n + i];
    mean = mean > 0 ? mean / n : 1.0;
    for (int64_t i = 0; i < n; i++) A[i * n + i] += REFORM_LAMBDA_FRAC * mean;
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, A, n);
    if (info == 0) info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', n, A, n);
    if (info != 0) {
        free(A);
        err_set("%s: input Hessian (%d x %d) not positive definite (info %d)", who, n, n, (int)info);
        return NULL;
    }
    for (int64_t r = 1; r < n; r++) /* column-major lower = row-major upper: mirror it down */
        for (int64_t c = 0; c < r; c++) A[r * n + c] = A[c * n + r];
    return A;
}

/* col_phi (n) <- Σ_i W_ij² · 2 / [H⁻¹]_jj  for W (m, n) */
static int col_saliency(const double *W, int m, int n, const double *H, double *phi) {
    double *Hi = inv_full(H, n, "saliency");
    if (!Hi) return -1;
    for (int j = 0; j < n; j++) phi[j] = 0;
    for (int64_t i = 0; i < m; i++)
        for (int j = 0; j < n; j++) phi[j] += W[i * n + j] * W[i * n + j];
    for (int64_t j = 0; j < n; j++) phi[j] *= 2.0 / Hi[j * n + j];
    free(Hi);
    return 0;
}

/* 2 tr(S⁻¹ G) for S, G (k, k) symmetric, S positive definite; S is overwritten by its Cholesky
 * factor and G by S⁻¹ G. -1 when S is not positive definite. */
static int trace_solve(double *S, double *G, int k, double *cost) {
    if (k == 1) { /* the channels' case, once per unit and step: no LAPACKE call */
        if (!(S[0] > 0)) return -1;
        G[0] /= S[0], S[0] = sqrt(S[0]);
        *cost = 2 * G[0];
        return 0;
    }
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', k, S, k) != 0) return -1;
    LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', k, k, S, k, G, k);
    double t = 0;
    for (int a = 0; a < k; a++) t += G[a * k + a];
    *cost = 2 * t;
    return 0;
}

/* Greedy OBS elimination (importance.h). The cost of removing block B is 2 tr([H⁻¹]_BB⁻¹ W_Bᵀ W_B)
 * (for bs = 1 the saliency Φ). After each removal W and H⁻¹ become those of the remaining columns
 * with the optimal compensation — W -= W_B [H⁻¹]_BB⁻¹ H⁻¹[B, :], H⁻¹ -= H⁻¹[:, B] [H⁻¹]_BB⁻¹ H⁻¹[B, :]
 * — and are compacted to them (c columns left), so the successive costs add up to the output error
 * of removing all the units so far, a unit's score (increasing along the order). */
int importance_obs(const double *W0, int m, int n, int bs, const double *H, double *score) {
    double *Hi = inv_full(H, n, "obs"); /* Hi (c, c), W (m, c): the remaining columns, in order */
    if (!Hi) return -1;
    int nu = n / bs, na = nu, rc = 0, kmax = (1 + nu / 256) * bs;
    double *W = xmalloc((size_t)m * n * sizeof *W), *single = xmalloc((size_t)nu * sizeof *single);
    memcpy(W, W0, (size_t)m * n * sizeof *W);
    double *Gd = xmalloc((size_t)n * bs * sizeof *Gd); /* the bs x bs diagonal blocks of Wᵀ W */
    double *S = xmalloc((size_t)kmax * kmax * sizeof *S), *G = xmalloc((size_t)kmax * kmax * sizeof *G);
    double *Y = xmalloc((size_t)m * kmax * sizeof *Y), *X = xmalloc((size_t)kmax * n * sizeof *X);
    double *T = xmalloc((size_t)kmax * n * sizeof *T);
    int *unit = xmalloc((size_t)nu * sizeof *unit), *pick = xmalloc((size_t)nu * sizeof *pick);
    int *idx = xmalloc((size_t)n * sizeof *idx), *keep = xmalloc((size_t)n * sizeof *keep);
    for (int u = 0; u < nu; u++) unit[u] = u;
    double cum = 0;
    while (rc == 0 && na > 0) {
        int64_t c = (int64_t)na * bs;
        int g = 1 + na / 256, np = 0;
        if (bs == 1) { /* column sums of squares, row by row */
            memset(Gd, 0, (size_t)c * sizeof *Gd);
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < c; j++) Gd[j] += W[i * c + j] * W[i * c + j];
        } else
            for (int p = 0; p < na; p++)
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bs, bs, m, 1.0, W + p * bs, (int)c, W + p * bs,
                            (int)c, 0.0, Gd + (int64_t)p * bs * bs, bs);
        for (int p = 0; p < na && rc == 0; p++) { /* every unit's single cost; keep the g cheapest */
            for (int a = 0; a < bs; a++)
                for (int b = 0; b < bs; b++) {
                    S[a * bs + b] = Hi[(p * bs + a) * c + p * bs + b];
                    G[a * bs + b] = Gd[(p * bs + a) * bs + b];
                }
            if (trace_solve(S, G, bs, &single[p])) rc = -1;
            int at = np < g ? np++ : g; /* insertion into pick[0..np): ascending cost, ties lower unit */
            if (at == g && single[p] >= single[pick[g - 1]]) continue;
            if (at == g) at = g - 1;
            while (at > 0 && single[pick[at - 1]] > single[p]) pick[at] = pick[at - 1], at--;
            pick[at] = p;
        }
        if (rc) break;
        int k = np * bs;
        for (int q = 0; q < np; q++)
            for (int b = 0; b < bs; b++) idx[q * bs + b] = pick[q] * bs + b;
        for (int a = 0; a < k; a++) {
            for (int b = 0; b < k; b++) S[a * k + b] = Hi[idx[a] * c + idx[b]];
            memcpy(T + a * c, Hi + idx[a] * c, (size_t)c * sizeof *T); /* H⁻¹[B, :] */
        }
        for (int64_t i = 0; i < m; i++)
            for (int a = 0; a < k; a++) Y[i * k + a] = W[i * c + idx[a]]; /* W_B */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, k, m, 1.0, Y, k, Y, k, 0.0, G, k);
        double joint, sum = 0, part = 0;
        if (trace_solve(S, G, k, &joint)) {
            rc = -1;
            break;
        }
        memcpy(X, T, (size_t)k * c * sizeof *X);
        LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', k, (int)c, S, k, X, (int)c); /* X = [H⁻¹]_BB⁻¹ H⁻¹[B, :] */
        for (int q = 0; q < np; q++) sum += single[pick[q]];
        for (int q = 0; q < np; q++) {
            part += sum > 0 ? single[pick[q]] / sum : 1.0 / np;
            score[unit[pick[q]]] = cum + joint * part;
        }
        cum += joint;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, (int)c, k, -1.0, Y, k, X, (int)c, 1.0, W, (int)c);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)c, (int)c, k, -1.0, T, (int)c, X, (int)c, 1.0, Hi,
                    (int)c);
        /* compact in place (new offsets never pass the old ones): the columns and units that remain */
        int nk = 0, nn = 0;
        for (int p = 0; p < na; p++) {
            bool out = false;
            for (int q = 0; q < np; q++) out |= pick[q] == p;
            if (out) continue;
            unit[nn++] = unit[p];
            for (int b = 0; b < bs; b++) keep[nk++] = p * bs + b;
        }
        for (int64_t i = 0; i < m; i++)
            for (int a = 0; a < nk; a++) W[i * nk + a] = W[i * c + keep[a]];
        for (int a = 0; a < nk; a++)
            for (int b = 0; b < nk; b++) Hi[(int64_t)a * nk + b] = Hi[keep[a] * c + keep[b]];
        na = nn;
    }
    if (rc) err_set("obs: a block of the inverse Hessian is not positive definite");
    free(Hi), free(W), free(single), free(Gd), free(S), free(G), free(Y), free(X), free(T);
    free(unit), free(pick), free(idx), free(keep);
    return rc;
}

/* e (rows) <- 2 w_r H w_rᵀ for W (rows, D), H (D, D) */
static void row_energy(const double *W, int rows, int D, const double *H, double *e) {
    double *P = xmalloc_aligned((size_t)rows * D * sizeof *P + 8);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, D, D, 1.0, W, D, H, D, 0.0, P, D);
    for (int64_t r = 0; r < rows; r++) {
        double s = 0;
        for (int j = 0; j < D; j++) s += P[r * D + j] * W[r * D + j];
        e[r] = 2 * s;
    }
    free(P);
}

static void row_sq(const double *W, int rows, int D, double *e) {
    for (int64_t r = 0; r < rows; r++) {
        double s = 0;
        for (int j = 0; j < D; j++) s += W[r * D + j] * W[r * D + j];
        e[r] = s;
    }
}

static void col_sq(const double *W, int rows, int n, double *e) {
    for (int j = 0; j < n; j++) e[j] = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) e[j] += W[r * n + j] * W[r * n + j];
}

int importance_layer(const Model *m, int l, const LayerStats *s, ImpMethod method, double row_weight, double *head,
                     double *chan) {
    const LayerWeights *L = &m->layers[l];
    int D = m->cfg.dim, hd = m->cfg.head_dim, nh = L->n_heads, nkv = L->n_kv_heads, F = L->hidden_dim;
    if (method != IMP_MAGNITUDE && !s) return err_set("importance: %s needs calibration statistics", names[method]);
    if (s && (s->q != nh * hd || s->f != F || s->dim != D))
        return err_set("importance: statistics of layer %d do not match the model", l);
    int rc = 0;
    if (nh > 0) {
        int q = nh * hd, g = nh / nkv;
        double *Wo = lsq_tensor_double(&L->wo), *col = xmalloc((size_t)q * sizeof *col);
        double *rq = xcalloc((size_t)q, sizeof *rq), *rk = xcalloc((size_t)nkv * hd, sizeof *rk),
               *rv = xcalloc((size_t)nkv * hd, sizeof *rv);
        if (method == IMP_SALIENCY) rc = col_saliency(Wo, D, q, s->H_o, col);
        else if (method == IMP_OBS) { /* a head's score in col[h · hd], the rest 0: summed below */
            double *u = xmalloc((size_t)nh * sizeof *u);
            rc = importance_obs(Wo, D, q, hd, s->H_o, u);
            for (int j = 0; j < q; j++) col[j] = j % hd ? 0 : u[j / hd];
            free(u);
        } else if (method == IMP_MAGNITUDE) col_sq(Wo, D, q, col);
        else {
            col_sq(Wo, D, q, col);
            for (int j = 0; j < q; j++) {
                double mu = s->sum_o[j] / s->n_tok;
                col[j] *= s->sq_o[j] / s->n_tok - mu * mu;
            }
        }
        double rw = method == IMP_SALIENCY || method == IMP_OBS ? row_weight : method == IMP_MAGNITUDE ? 1.0 : 0.0;
        if (rc == 0 && rw != 0) {
            double *Wq = lsq_tensor_double(&L->wq), *Wk = lsq_tensor_double(&L->wk), *Wv = lsq_tensor_double(&L->wv);
            if (method != IMP_MAGNITUDE) {
                row_energy(Wq, q, D, s->H_a, rq), row_energy(Wk, nkv * hd, D, s->H_a, rk);
                row_energy(Wv, nkv * hd, D, s->H_a, rv);
            } else {
                row_sq(Wq, q, D, rq), row_sq(Wk, nkv * hd, D, rk), row_sq(Wv, nkv * hd, D, rv);
            }
            free(Wq), free(Wk), free(Wv);
        }
        for (int h = 0; h < nh; h++) {
            double sc = 0, rows = 0;
            for (int j = 0; j < hd; j++) {
                sc += col[h * hd + j];
                rows += rq[h * hd + j] + (rk[(h / g) * hd + j] + rv[(h / g) * hd + j]) / g;
            }
            head[h] = sc + rw * rows;
        }
        free(Wo), free(col), free(rq), free(rk), free(rv);
    }
    if (rc == 0 && F > 0) {
        double *Wd = lsq_tensor_double(&L->w_down), *col = xmalloc((size_t)F * sizeof *col);
        double *rg = xcalloc((size_t)F, sizeof *rg), *ru = xcalloc((size_t)F, sizeof *ru);
        if (method == IMP_SALIENCY) rc = col_saliency(Wd, D, F, s->H_d, col);
        else if (method == IMP_OBS) rc = importance_obs(Wd, D, F, 1, s->H_d, col);
        else if (method == IMP_MAGNITUDE) col_sq(Wd, D, F, col);
        else {
            col_sq(Wd, D, F, col);
            for (int j = 0; j < F; j++) {
                double mu = s->sum_d[j] / s->n_tok;
                col[j] *= s->sq_d[j] / s->n_tok - mu * mu;
            }
        }
        double rw = method == IMP_SALIENCY || method == IMP_OBS ? row_weight : method == IMP_MAGNITUDE ? 1.0 : 0.0;
        if (rc == 0 && rw != 0) {
            double *Wg = lsq_tensor_double(&L->w_gate), *Wu = lsq_tensor_double(&L->w_up);
            if (method != IMP_MAGNITUDE) row_energy(Wg, F, D, s->H_m, rg), row_energy(Wu, F, D, s->H_m, ru);
            else row_sq(Wg, F, D, rg), row_sq(Wu, F, D, ru);
            free(Wg), free(Wu);
        }
        for (int c = 0; c < F; c++) chan[c] = col[c] + rw * (rg[c] + ru[c]);
        free(Wd), free(col), free(rg), free(ru);
    }
    return rc;
}

void importance_flap_bias(const Model *m, int l, const LayerStats *s, int which, const uint8_t *keep, double *bias) {
    const LayerWeights *L = &m->layers[l];
    const Tensor *t = which == 0 ? &L->wo : &L->w_down;
    const double *sum = which == 0 ? s->sum_o : s->sum_d;
    int D = m->cfg.dim;
    int64_t n = t->cols;
    float *row = xmalloc((size_t)n * sizeof *row);
    for (int i = 0; i < D; i++) {
        tensor_row_f32(t, i, row);
        double b = 0;
        for (int64_t j = 0; j < n; j++)
            if (!keep[j]) b += row[j] * sum[j] / s->n_tok;
        bias[i] = b;
    }
    free(row);
}

void importance_layers(const StatsFile *sf, double *bi, double *attn, double *mlp) {
    for (int l = 0; l < sf->n_layers; l++) {
        if (bi) bi[l] = 1 - sf->cos_layer[l];
        if (attn) attn[l] = 1 - sf->cos_attn[l];
        if (mlp) mlp[l] = 1 - sf->cos_mlp[l];
    }
}

void importance_free(const Model *m, double **head, double **chan) {
    for (int l = 0; l < m->cfg.n_layers; l++) {
        if (head) free(head[l]);
        if (chan) free(chan[l]);
    }
    free(head), free(chan);
}

/* Every layer's scores as one vector (heads then channels per layer): out of (to = true) or
 * into the per-layer arrays. */
static int64_t pack_scores(const Model *m, double **h, double **c, double *v, bool to) {
    int64_t k = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        int nh = m->layers[l].n_heads, nc = m->layers[l].hidden_dim;
        if (v) {
            if (to) memcpy(v + k, h[l], (size_t)nh * sizeof *v), memcpy(v + k + nh, c[l], (size_t)nc * sizeof *v);
            else memcpy(h[l], v + k, (size_t)nh * sizeof *v), memcpy(c[l], v + k + nh, (size_t)nc * sizeof *v);
        }
        k += nh + nc;
    }
    return k;
}

int importance_all_split(const Model *m, const StatsFile *sf, ImpMethod method, double row_weight,
                         const ImpSplit *split, double ***head, double ***chan) {
    int nl = m->cfg.n_layers;
    assert(!split || (split->size >= 1 && split->index >= 0 && split->index < split->size && split->combine));
    double **h = xcalloc((size_t)nl, sizeof *h), **c = xcalloc((size_t)nl, sizeof *c);
    for (int l = 0; l < nl; l++) {
        h[l] = xcalloc((size_t)m->layers[l].n_heads + 1, sizeof **h);
        c[l] = xcalloc((size_t)m->layers[l].hidden_dim + 1, sizeof **c);
    }
    int rc = 0;
    for (int l = 0; rc == 0 && l < nl; l++) {
        if (split && l % split->size != split->index) continue; /* another process's layer */
        LayerStats st, *sp = NULL;
        if (method != IMP_MAGNITUDE) {
            if (!sf) rc = err_set("importance: %s needs calibration statistics", names[method]);
            else if ((rc = stats_layer(sf, l, &st)) == 0) sp = &st;
        }
        if (rc == 0) rc = importance_layer(m, l, sp, method, row_weight, h[l], c[l]);
        if (sp) layer_stats_free(sp);
    }
    if (split && split->size > 1) { /* a collective: every process comes here, failed or not */
        int64_t n = pack_scores(m, h, c, NULL, true);
        double *v = xmalloc((size_t)n * sizeof *v);
        pack_scores(m, h, c, v, true);
        rc = split->combine(split->ud, rc, v, n);
        if (rc == 0) pack_scores(m, h, c, v, false);
        free(v);
    }
    if (rc != 0) {
        importance_free(m, h, c);
        *head = *chan = NULL;
        return -1;
    }
    *head = h, *chan = c;
    return 0;
}

int importance_all(const Model *m, const StatsFile *sf, ImpMethod method, double row_weight, double ***head,
                   double ***chan) {
    return importance_all_split(m, sf, method, row_weight, NULL, head, chan);
}
