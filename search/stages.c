/* stages — windows per selection stage and the choice of who advances (see stages.h). */
#include "search/stages.h"

#include <stdlib.h>

#include "runtime/base/util.h"

int stage_count(const SearchConfig *c) { return c->n_stages > 0 ? c->n_stages : 1; }

int stage_windows_of(const SearchConfig *c, int s) { return c->n_stages > 0 ? c->stage_windows[s] : c->calib_n; }

int stage_keep_of(const SearchConfig *c, int s) { return c->n_stages > 0 ? c->stage_keep[s] : 0; }

typedef struct {
    double fit;
    uint64_t hash;
    int i;
} Cand;

static int by_fit(const void *pa, const void *pb) {
    const Cand *a = pa, *b = pb;
    if (a->fit != b->fit) return a->fit < b->fit ? -1 : 1;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

int stage_pick(const double *fit, const uint64_t *hash, const int *stage, int n, int s, int keep, int *out) {
    Cand *v = xmalloc((size_t)(n ? n : 1) * sizeof *v);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (stage[i] != s - 1) continue;
        int dup = 0;
        for (int j = 0; j < k && !dup; j++) dup = v[j].hash == hash[i];
        if (!dup) v[k++] = (Cand){fit[i], hash[i], i};
    }
    qsort(v, (size_t)k, sizeof *v, by_fit);
    if (k > keep) k = keep;
    for (int q = 0; q < k; q++) out[q] = v[q].i;
    free(v);
    return k;
}
