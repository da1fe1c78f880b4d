/* fitness — perplexity or KL of a candidate over a prefix of a window set (see fitness.h). */
#include "search/fitness.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/base/pcg32.h"
#include "runtime/base/util.h"

/* dst = the windows of w in a fixed random order (Fisher-Yates, PCG32 (seed, 55)). */
static void shuffled(const Windows *w, uint64_t seed, Windows *dst) {
    int *order = xmalloc((size_t)w->n * sizeof *order);
    for (int i = 0; i < w->n; i++) order[i] = i;
    Pcg32 r;
    pcg32_seed(&r, seed, 55);
    for (int i = w->n - 1; i > 0; i--) {
        int j = (int)pcg32_below(&r, (uint32_t)(i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    dst->n = w->n, dst->len = w->len;
    dst->tokens = xmalloc((size_t)w->n * w->len * sizeof *dst->tokens);
    for (int i = 0; i < w->n; i++)
        memcpy(dst->tokens + (size_t)i * w->len, w->tokens + (size_t)order[i] * w->len,
               (size_t)w->len * sizeof *dst->tokens);
    free(order);
}

int fitness_open(FitnessSet *fs, const SearchConfig *cfg, const Model *m, const Windows *w, bool shuffle,
                 uint64_t seed, Evaluator *owner, const EvalSplit *split, const char *what) {
    memset(fs, 0, sizeof *fs);
    fs->kind = cfg->fitness_kind, fs->what = what;
    if (shuffle) shuffled(w, seed, &fs->own);
    EvalOptions eo = {.what = what, .share = owner, .split = fs->kind == FIT_KL ? NULL : split};
    int rc = evaluator_create(m, shuffle ? &fs->own : w, &eo, &fs->ev);
    if (!rc && fs->kind == FIT_KL) rc = dense_ref_build(fs->ev, cfg->fitness_top_k, &fs->ref);
    if (rc) fitness_close(fs);
    return rc;
}

int fitness_score(FitnessSet *fs, const Model *model, const Subnet *s, int n, double *out) {
    int all = evaluator_windows(fs->ev)->n;
    if (n <= 0 || n > all) n = all;
    if (fs->kind == FIT_KL) {
        KlSums ks;
        if (evaluator_kl_sums(fs->ev, fs->ref, model, s, 0, n, &ks)) return -1;
        return eval_kl_of(&ks, fs->what, out);
    }
    EvalSums sums;
    if (evaluator_sums(fs->ev, model, s, 0, n, &sums)) return -1;
    return eval_ppl_of(&sums, fs->what, out);
}

void fitness_close(FitnessSet *fs) {
    dense_ref_free(fs->ref);
    evaluator_free(fs->ev);
    windows_free(&fs->own);
    memset(fs, 0, sizeof *fs);
}
