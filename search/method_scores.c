/* method_scores — the importance scores of the registry methods, from reform/. See
 * method_scores.h. */
#include <stdlib.h>
#include <string.h>

#include "search/method_scores.h"

int method_scores_compute(const MethodInfo *mi, MethodCalib *cal, MethodScoreSet *out) {
    memset(out, 0, sizeof *out);
    out->n_layers = cal->model->cfg.n_layers;
    bool need = mi->run == method_shortgpt || mi->run == method_streamline || mi->run == method_flap;
    if (!need) return 0;
    return err_set("method %s: its importance scores come from reform/, which this build does not have yet",
                   mi->name);
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
