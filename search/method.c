/* method — the method registry, the budget helpers shared by the methods and method_run's
 * input checks. See method.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/cost.h"
#include "search/method.h"

const MethodInfo method_table[] = {
    {"magnitude", METHOD_UNIT, NULL, "head and channel weight norms, the same ratio in every layer (reform/)"},
    {"saliency", METHOD_UNIT, NULL, "the seed paper's saliency initialisation alone, no search (reform/)"},
    {"flap", METHOD_GLOBAL, method_flap, "FLAP fluctuation scores, standardised per structure, global threshold"},
    {"shortgpt", METHOD_LAYER, method_shortgpt, "remove the layers with the lowest Block Influence"},
    {"sleb", METHOD_LAYER, method_sleb, "greedily remove the layer whose removal hurts calibration ppl least"},
    {"streamline", METHOD_LAYER, method_streamline, "remove the contiguous span with the most similar ends"},
    {"streamline-fit", METHOD_LAYER, method_streamline, "streamline, the span replaced by a fitted linear layer"},
    {"uls", METHOD_LAYER, method_uls, "skip evenly spaced intermediate layers"},
    {"attn-skip", METHOD_LAYER, method_attn_skip, "skip the attention sublayers of the latter layers"},
    {"random", METHOD_GLOBAL, method_random, "best of K random head/channel subnets by calibration ppl"},
    {"carve-ga", METHOD_SEARCH, NULL, "carve's genetic search with reformation (carve search)"},
    {"carve-nsga2", METHOD_SEARCH, NULL, "carve's NSGA-II search with reformation (carve search)"},
};
const int method_count = (int)(sizeof method_table / sizeof method_table[0]);

const MethodInfo *method_find(const char *name) {
    for (int i = 0; i < method_count; i++)
        if (!strcmp(method_table[i].name, name)) return &method_table[i];
    char known[512] = "";
    for (int i = 0; i < method_count; i++) {
        strncat(known, method_table[i].name, sizeof known - strlen(known) - 1);
        if (i + 1 < method_count) strncat(known, ", ", sizeof known - strlen(known) - 1);
    }
    err_set("unknown method '%s' (known: %s)", name, known);
    return NULL;
}

double method_budget_of(const Model *m, const Subnet *s, bool replaced) {
    double r = cost_ratio(m, s, COST_PARAMS, 1);
    if (replaced) {
        Cost dense = cost_of(m, NULL, 1);
        double D = m->cfg.dim;
        if (dense.params_layers > 0) r += D * D / (double)dense.params_layers;
    }
    return r;
}

int method_nearest(const double *ratios, int n, double target) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        double di = fabs(ratios[i] - target), db = fabs(ratios[best] - target);
        if (di < db - 1e-9 || (fabs(di - db) <= 1e-9 && ratios[i] < ratios[best])) best = i;
    }
    return best;
}

static bool needs(const char *name, const void *p, const char *what) {
    if (p) return true;
    err_set("method %s: needs %s", name, what);
    return false;
}

int method_run(const MethodInfo *mi, const MethodInput *in, MethodResult *out) {
    memset(out, 0, sizeof *out);
    out->replace_first = -1;
    if (!mi->run) return err_set("method %s: run by %s, not by the method registry", mi->name,
                                 mi->kind == METHOD_SEARCH ? "carve search" : "reform/ (carve prune)");
    if (!in->model) return err_set("method %s: no model", mi->name);
    if (!(in->budget > 0.0 && in->budget <= 1.0))
        return err_set("method %s: budget %g is not in (0, 1]", mi->name, in->budget);
    const MethodScores *sc = &in->scores;
    bool ok = true;
    if (mi->run == method_shortgpt) ok = needs(mi->name, sc->block_influence, "Block Influence scores");
    if (mi->run == method_streamline) ok = needs(mi->name, sc->boundary_cos, "span cosine scores");
    if (mi->run == method_flap)
        ok = needs(mi->name, sc->head_score, "head fluctuation scores") &&
             needs(mi->name, sc->chan_score, "channel fluctuation scores");
    if (mi->run == method_sleb || mi->run == method_random)
        ok = needs(mi->name, in->calib_ppl || in->batch ? "" : NULL, "a calibration perplexity");
    if (!ok) return -1;
    MethodInput copy = *in;
    if (mi->run == method_streamline) copy.replace = !strcmp(mi->name, "streamline-fit");
    if (mi->run(&copy, out) != 0) {
        method_result_free(out);
        return -1;
    }
    return 0;
}

int method_ppl_batch(const MethodInput *in, const Subnet *const *s, int n, double *ppl) {
    if (!in->batch) {
        for (int i = 0; i < n; i++)
            if (in->calib_ppl(in->ppl_ud, s[i], &ppl[i]) != 0) return -1;
        return 0;
    }
    if (n == 0) return 0;
    TaskResult *r = xcalloc((size_t)n, sizeof *r);
    int rc = in->batch(in->batch_ud, TASK_FITNESS, false, 0, s, n, r);
    for (int i = 0; i < n && rc == 0; i++) ppl[i] = r[i].v[0];
    free(r);
    return rc;
}

void method_result_free(MethodResult *r) {
    if (r->subnet) subnet_free(r->subnet);
    r->subnet = NULL;
}
