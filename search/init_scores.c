/* importance — copies the reform module's unit scores into the genome space (see importance.h). */
#include "search/init_scores.h"

int importance_fill(GenomeSpace *gs, const StatsFile *sf, ImpMethod method, const ImpSplit *split) {
    const Model *m = gs->m;
    double **head, **chan;
    if (importance_all_split(m, sf, method, 0.0, split, &head, &chan)) return -1;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        for (int h = 0; h < m->layers[l].n_heads; h++) gs->head_score[l][h] = (float)head[l][h];
        for (int c = 0; c < m->layers[l].hidden_dim; c++) gs->chan_score[l][c] = (float)chan[l][c];
    }
    importance_free(m, head, chan);
    return 0;
}
