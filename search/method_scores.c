/* method_scores — the importance scores of the registry methods, from reform/'s calibration
 * statistics (reform/stats.h, cached per model / text / sample) and formulas
 * (reform/importance.h): ShortGPT's Block Influence, LLM-Streamline's boundary cosines and
 * FLAP's fluctuation scores. See method_scores.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reform/importance.h"
#include "reform/stats.h"
#include "search/method_scores.h"

int method_scores_compute(const MethodInfo *mi, MethodCalib *cal, const StatsOptions *opt, MethodScoreSet *out) {
    memset(out, 0, sizeof *out);
    const Model *m = cal->model;
    int L = m->cfg.n_layers;
    out->n_layers = L;
    bool need = mi->run == method_shortgpt || mi->run == method_streamline || mi->run == method_flap;
    if (!need) return 0;
    StatsOptions so = *opt;
    so.N = cal->windows.n;
    so.L = cal->windows.len;
    so.seed = cal->seed;
    so.quiet = true;
    StatsFile *sf = NULL;
    if (stats_open(m, cal->path, &so, &sf) != 0) return -1;
    int rc = 0;
    if (mi->run == method_shortgpt) {
        out->block_influence = xmalloc((size_t)L * sizeof(double));
        importance_layers(sf, out->block_influence, NULL, NULL);
        out->scores.block_influence = out->block_influence;
    } else if (mi->run == method_streamline) {
        size_t n = (size_t)(L + 1) * (size_t)(L + 1);
        out->boundary_cos = xmalloc(n * sizeof(double));
        memcpy(out->boundary_cos, sf->boundary_cos, n * sizeof(double));
        out->scores.boundary_cos = out->boundary_cos;
    } else {
        out->head_score = xcalloc((size_t)L, sizeof(double *));
        out->chan_score = xcalloc((size_t)L, sizeof(double *));
        for (int l = 0; l < L && rc == 0; l++) {
            LayerStats ls;
            if ((rc = stats_layer(sf, l, &ls)) != 0) break;
            out->head_score[l] = xmalloc(((size_t)m->layers[l].n_heads + 1) * sizeof(double));
            out->chan_score[l] = xmalloc(((size_t)m->layers[l].hidden_dim + 1) * sizeof(double));
            rc = importance_layer(m, l, &ls, IMP_FLAP, 0.0, out->head_score[l], out->chan_score[l]);
            layer_stats_free(&ls);
        }
        out->scores.head_score = (const double *const *)out->head_score;
        out->scores.chan_score = (const double *const *)out->chan_score;
    }
    stats_close(sf);
    if (rc != 0) {
        method_scores_free(out);
        return err_prefix("method %s", mi->name);
    }
    return 0;
}

void method_scores_free(MethodScoreSet *s) {
    free(s->block_influence);
    free(s->boundary_cos);
    for (int l = 0; l < s->n_layers; l++) {
        if (s->head_score) free(s->head_score[l]);
        if (s->chan_score) free(s->chan_score[l]);
    }
    free(s->head_score);
    free(s->chan_score);
    memset(s, 0, sizeof *s);
}
