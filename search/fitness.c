/* fitness — perplexity or KL of a candidate over a prefix of a window set (see fitness.h). */
#include "search/fitness.h"

#include <math.h>
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
    fs->kind = cfg->fitness_kind, fs->worst = cfg->fitness_worst, fs->what = what;
    if (shuffle) shuffled(w, seed, &fs->own);
    EvalOptions eo = {.what = what, .share = owner, .split = fs->kind == FIT_KL ? NULL : split};
    int rc = evaluator_create(m, shuffle ? &fs->own : w, &eo, &fs->ev);
    if (!rc && fs->kind == FIT_KL) rc = dense_ref_build(fs->ev, cfg->fitness_top_k, &fs->ref);
    if (rc) fitness_close(fs);
    return rc;
}

static int desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* The mean KL of the ceil(worst * n) windows of the largest KL among the first n (fitness.h). */
static int worst_kl(FitnessSet *fs, const Model *model, const Subnet *s, int n, double *out) {
    double *win = xmalloc((size_t)n * sizeof *win);
    KlSums ks;
    int rc = evaluator_kl_windows(fs->ev, fs->ref, model, s, 0, n, &ks, win);
    if (!rc && ks.n_scored <= 0) rc = err_set("%s: no scored tokens", fs->what ? fs->what : "fitness");
    if (!rc) {
        int k = (int)ceil(fs->worst * n - 1e-9);
        if (k < 1) k = 1;
        qsort(win, (size_t)n, sizeof *win, desc);
        double sum = 0.0;
        for (int i = 0; i < k; i++) sum += win[i];
        *out = sum / ((double)ks.n_scored / n * k); /* every window scores the same number of positions */
    }
    free(win);
    return rc;
}

int fitness_score(FitnessSet *fs, const Model *model, const Subnet *s, int n, double *out) {
    int all = evaluator_windows(fs->ev)->n;
    if (n <= 0 || n > all) n = all;
    if (fs->kind == FIT_KL && fs->worst < 1) return worst_kl(fs, model, s, n, out);
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
