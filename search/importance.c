/* importance — weight-magnitude importance scores (see importance.h). */
#include "search/importance.h"

#include <math.h>
#include <stdlib.h>

#include "runtime/util.h"

/* Squared L2 norm of each of the t->cols columns of t, accumulated into col_sq. row: scratch (cols). */
static void col_norms_sq(const Tensor *t, double *col_sq, float *row) {
    for (int64_t r = 0; r < t->rows; r++) {
        tensor_row_f32(t, r, row);
        for (int64_t c = 0; c < t->cols; c++) col_sq[c] += (double)row[c] * row[c];
    }
}

static double row_norm_sq(const Tensor *t, int64_t r, float *row) {
    tensor_row_f32(t, r, row);
    double s = 0;
    for (int64_t c = 0; c < t->cols; c++) s += (double)row[c] * row[c];
    return s;
}

void importance_weight_magnitude(GenomeSpace *gs) {
    const Model *m = gs->m;
    int hd = m->cfg.head_dim;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const LayerWeights *L = &m->layers[l];
        if (L->replace.data) continue;
        int64_t width = L->w_down.cols > L->wo.cols ? L->w_down.cols : L->wo.cols;
        if (width < m->cfg.dim) width = m->cfg.dim;
        float *row = xmalloc((size_t)width * sizeof(float));
        if (L->n_heads > 0 && L->wq.data && L->wo.data) {
            double *o_sq = xcalloc((size_t)L->wo.cols, sizeof(double));
            col_norms_sq(&L->wo, o_sq, row);
            for (int h = 0; h < L->n_heads; h++) {
                double q = 0, o = 0;
                for (int i = h * hd; i < (h + 1) * hd; i++) q += row_norm_sq(&L->wq, i, row), o += o_sq[i];
                gs->head_score[l][h] = (float)(sqrt(q) * sqrt(o));
            }
            free(o_sq);
        }
        if (L->hidden_dim > 0 && L->w_gate.data && L->w_up.data && L->w_down.data) {
            double *d_sq = xcalloc((size_t)L->w_down.cols, sizeof(double));
            col_norms_sq(&L->w_down, d_sq, row);
            for (int c = 0; c < L->hidden_dim; c++)
                gs->chan_score[l][c] =
                    (float)(sqrt(row_norm_sq(&L->w_gate, c, row)) * sqrt(row_norm_sq(&L->w_up, c, row)) * sqrt(d_sq[c]));
            free(d_sq);
        }
        free(row);
    }
}
