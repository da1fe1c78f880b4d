/* cmd_prune — `carve prune`: the subnet keeping each layer's highest-scored heads and channels
 * at one uniform ratio that meets a parameter budget (reform/prune.h), written as subnet JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/model_open.h"
#include "cli/calib_opts.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "search/method.h"
#include "eval/cost.h"
#include "reform/importance.h"
#include "reform/prune.h"

static void help(const CliOpt *opts) {
    printf("usage: carve prune --model PATH --method saliency|magnitude|flap|obs --budget R --calib FILE --out subnet.json\n\n"
           "Scores every query head and MLP channel, keeps the highest-scored fraction r of each layer\n"
           "(round(r*n), at least one) with r the largest ratio whose subnet has at most R of the dense\n"
           "model's non-embedding parameters, and writes that subnet (carve-subnet/1 JSON).\n"
           "(magnitude needs no --calib)\n\noptions:\n");
    cli_print_options(opts);
    printf("\n--method flap, shortgpt, sleb, streamline, streamline-fit, uls, attn-skip or random runs the\n"
           "baseline of that name instead (FLAP with its adaptive global structure): see carve baseline --help.\n");
}

/* The method named by --method NAME / --method=NAME, or NULL. */
static const char *method_arg(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--method") && i + 1 < argc) return argv[i + 1];
        if (!strncmp(argv[i], "--method=", 9)) return argv[i] + 9;
    }
    return NULL;
}

/* saliency / magnitude / flap scores of reform/: one pass, no candidates */
static int prune_units(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *out = NULL, *mname_s = "saliency";
    ImpMethod method = IMP_SALIENCY;
    double budget = 0, row_weight = 0;
    CalibOpts co;
    calib_opts_init(&co);
    const CliOpt opts[] = {
        CLI_MODEL_OPTS(&model_path, &tok_path),
        {"method", 0, OT_STR, &mname_s, 0, 0, "NAME", "saliency (default), magnitude, flap or obs; or a baseline method"},
        CLI_BUDGET_OPT(&budget),
        {"out", 0, OT_STR, &out, 0, 0, "FILE", "subnet JSON to write"},
        {"row-weight", 0, OT_NUM, &row_weight, 0, 1e6, "W", "weight of Q/K/V and gate/up rows in the saliency (default 0)"},
        CLI_CALIB_OPTS(&co.calib, &co.so),
        CLI_COMMON_OPTS,
        {0}};
    int prc = cli_parse("prune", argc, argv, opts, NULL, 0, NULL);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    if (imp_method_parse(mname_s, &method) != 0) return cli_usage_error("prune", "%s", err_get());
    if (!model_path || !out || budget <= 0) return cli_usage_error("prune", "--model, --budget and --out are required");
    if (method != IMP_MAGNITUDE && !co.calib) return cli_usage_error("prune", "--method %s needs --calib", imp_method_name(method));
    Model *m = NULL;
    StatsFile *sf = NULL;
    Subnet *s = NULL;
    double **head = NULL, **chan = NULL, ratio = 0;
    int rc = 2;
    if (calib_opts_open(&co, model_path, tok_path, &m) != 0) goto done;
    if (method != IMP_MAGNITUDE && stats_open(m, co.calib, &co.so, &sf) != 0) goto done;
    if (importance_all(m, sf, method, row_weight, &head, &chan) != 0) goto done;
    if (prune_uniform(m, head, chan, budget, &s, &ratio) != 0) goto done;
    if (subnet_write_file(out, s, m) != 0) goto done;
    printf("method=%s budget=%.4f ratio=%.4f kept_params=%.4f out=%s\n", imp_method_name(method), budget, ratio,
           cost_ratio(m, s, COST_PARAMS, m->cfg.max_seq_len), out);
    rc = 0;
done:
    if (rc) cli_fail();
    if (head) importance_free(m, head, chan);
    subnet_free(s);
    stats_close(sf);
    model_free(m);
    return rc;
}

int cmd_prune(int argc, char **argv) {
    /* the layer-level and global baselines of the method registry (search/method.h), FLAP's
     * adaptive global structure included, run in carve baseline with the same options (under
     * MPI: their candidates shared out across the ranks); the others run on rank 0 only */
    const char *mname = method_arg(argc, argv);
    for (int i = 0; mname && i < method_count; i++)
        if (method_table[i].run && !strcmp(method_table[i].name, mname)) return cmd_baseline(argc, argv);
    return cli_run_root(prune_units, argc, argv);
}
