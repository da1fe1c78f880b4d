/* cmd_show — `carve show DB ID`: one stored candidate in detail: per layer the kept heads
 * (indices), kept MLP channels (count) and skipped sublayers, its cost and its metrics. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "results/store.h"
#include "runtime/base/util.h"

static void help(const CliOpt *opts) {
    printf("usage: carve show DB ID\n\n"
                "Print candidate ID of the search database DB: per-layer heads, channels and skipped\n"
                "sublayers, parameters, FLOPs, calibration / reformed / held-out perplexity, and the\n"
                "zero-shot task accuracies the final step measured (config final.tasks).\n");
    printf("\noptions:\n");
    cli_print_options(opts);
}

static void print_metric(const char *name, double v) {
    if (isnan(v)) printf("%-18s -\n", name);
    else printf("%-18s %.4f\n", name, v);
}

int cmd_show(int argc, char **argv) {
    const char *pos[2];
    const CliOpt opts[] = {CLI_COMMON_OPTS, {0}};
    int npos = 0, prc = cli_parse("show", argc, argv, opts, pos, 2, &npos);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    if (npos != 2) return cli_usage_error("show", "expects a database file and a candidate ID");
    Store *st;
    if (store_open(pos[0], false, &st)) return cli_fail();
    CandRow r;
    if (store_cand_require(st, pos[1], &r)) {
        store_close(st);
        return cli_fail();
    }
    json_error_t je;
    json_t *root = json_loads(r.subnet, 0, &je);
    json_t *model = root ? json_object_get(root, "model") : NULL, *layers = root ? json_object_get(root, "layers") : NULL;
    const char *why = !root                                 ? je.text
                      : !json_is_array(layers)               ? "no \"layers\" array"
                      : !json_is_object(model)               ? "no \"model\" object"
                      : !json_is_integer(json_object_get(model, "n_heads")) ||
                              !json_is_integer(json_object_get(model, "hidden_dim"))
                          ? "\"model\" lacks integer n_heads / hidden_dim"
                          : NULL;
    for (size_t i = 0; !why && i < json_array_size(layers); i++)
        if (!json_is_object(json_array_get(layers, i))) why = "a layer entry is not an object";
    if (why) {
        err_set("%s: candidate %lld: stored subnet is corrupt (%s)", pos[0], (long long)r.id, why[0] ? why : "?");
        json_decref(root);
        cand_row_free(&r);
        store_close(st);
        return cli_fail();
    }
    int n_heads = (int)json_integer_value(json_object_get(model, "n_heads"));
    int hidden = (int)json_integer_value(json_object_get(model, "hidden_dim"));
    char *roles = store_cand_roles(st, r.id);
    printf("candidate %lld (run %lld, generation %d, hash %016llx)%s%s\n", (long long)r.id, (long long)r.run_id,
           r.generation, (unsigned long long)r.hash, roles[0] ? ": " : "", roles);
    free(roles);
    size_t nl = json_array_size(layers);
    for (size_t i = 0; i < nl; i++) {
        json_t *l = json_array_get(layers, i), *heads = json_object_get(l, "heads"),
               *chans = json_object_get(l, "channels");
        printf("layer %2zu  ", i);
        if (!json_is_true(json_object_get(l, "attn"))) {
            printf("attention skipped          ");
        } else {
            int k = heads ? (int)json_array_size(heads) : n_heads;
            char list[256] = "all";
            if (heads) {
                size_t len = 0;
                for (size_t j = 0; j < json_array_size(heads) && len < sizeof list - 16; j++)
                    len += (size_t)snprintf(list + len, sizeof list - len, "%s%lld", j ? "," : "",
                                            (long long)json_integer_value(json_array_get(heads, j)));
            }
            printf("heads %2d/%-2d [%s]  ", k, n_heads, list);
        }
        if (!json_is_true(json_object_get(l, "mlp"))) printf("mlp skipped\n");
        else printf("channels %d/%d\n", chans ? (int)json_array_size(chans) : hidden, hidden);
    }
    json_decref(root);
    printf("%-18s %lld\n", "params", (long long)r.params);
    printf("%-18s %.0f\n", "flops/token", r.flops);
    printf("%-18s %.4f\n", "params ratio", r.params_ratio);
    printf("%-18s %.4f\n", "budget cost ratio", r.cost_ratio);
    /* the run's fitness kind and stages (fitness.kind, selection.stages: in its settings only when set) */
    char *mp = NULL, *settings = NULL;
    if (store_run_model(st, r.run_id, &mp, &settings)) {
        cand_row_free(&r);
        store_close(st);
        return cli_fail();
    }
    json_t *set = json_loads(settings, 0, NULL);
    const char *kind = json_string_value(json_object_get(json_object_get(set, "fitness"), "kind"));
    bool kl = kind && !strcmp(kind, "kl"), staged = json_object_get(set, "selection") != NULL;
    json_decref(set);
    free(mp);
    free(settings);
    print_metric(kl ? "calibration KL" : "calibration ppl", r.fitness);
    print_metric(kl ? "reformed calib KL" : "reformed calib ppl", r.reformed_fitness);
    if (staged && r.fit_stage > 0) printf("%-18s %d (%d calibration windows spent)\n", "fitness stage", r.fit_stage, r.fit_windows);
    print_metric("held-out ppl", r.eval_ppl);
    printf("%-18s %s\n", "reformed", r.reformed ? "yes" : "no");
    StoreTaskScore *ts;
    int nt;
    if (store_task_list(st, r.id, &ts, &nt)) {
        cand_row_free(&r);
        store_close(st);
        return cli_fail();
    }
    if (nt) printf("zero-shot tasks (final.tasks)\n%-20s %6s %8s %8s %8s %8s\n", "task", "items", "acc", "stderr", "acc_norm",
                   "stderr");
    for (int i = 0; i < nt; i++) {
        printf("%-20s %6d %8.4f %8.4f ", ts[i].task, ts[i].items, ts[i].acc, ts[i].acc_stderr);
        if (isnan(ts[i].acc_norm)) printf("%8s %8s\n", "-", "-");
        else printf("%8.4f %8.4f\n", ts[i].acc_norm, ts[i].acc_norm_stderr);
    }
    free(ts);
    cand_row_free(&r);
    store_close(st);
    return 0;
}
