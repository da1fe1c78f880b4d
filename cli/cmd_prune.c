/* cmd_prune — `carve prune`: the subnet keeping each layer's highest-scored heads and channels
 * at one uniform ratio that meets a parameter budget (reform/prune.h), written as subnet JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/model_open.h"
#include "cli/calib_opts.h"
#include "cli/cli.h"
#include "search/method.h"
#include "eval/cost.h"
#include "reform/importance.h"
#include "reform/prune.h"

static void help(void) {
    printf("usage: carve prune --model PATH --method saliency|magnitude|flap --budget R --calib FILE --out subnet.json\n\n"
           "Scores every query head and MLP channel, keeps the highest-scored fraction r of each layer\n"
           "(round(r*n), at least one) with r the largest ratio whose subnet has at most R of the dense\n"
           "model's non-embedding parameters, and writes that subnet (carve-subnet/1 JSON).\n\n"
           "options:\n  --model PATH        model\n  --method M          saliency (default), magnitude or flap\n"
           "  --budget R          kept fraction of non-embedding parameters, in (0, 1]\n"
           "  --out FILE          subnet JSON to write\n"
           "  --row-weight W      weight of Q/K/V and gate/up rows in the saliency (default 0)\n" CALIB_HELP
           "  --help              this text\n(magnitude needs no --calib)\n"
           "\n--method flap, shortgpt, sleb, streamline, streamline-fit, uls, attn-skip or random runs the\n"
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

int cmd_prune(int argc, char **argv) {
    /* the layer-level and global baselines of the method registry (search/method.h), FLAP's
     * adaptive global structure included, run in carve baseline with the same options */
    const char *mname = method_arg(argc, argv);
    for (int i = 0; mname && i < method_count; i++)
        if (method_table[i].run && !strcmp(method_table[i].name, mname)) return cmd_baseline(argc, argv);
    enum { O_MODEL = 1, O_METHOD, O_BUDGET, O_OUT, O_ROW, O_HELP };
    static const struct option opts[] = {{"model", required_argument, 0, O_MODEL}, {"method", required_argument, 0, O_METHOD},
                                         {"budget", required_argument, 0, O_BUDGET}, {"out", required_argument, 0, O_OUT},
                                         {"row-weight", required_argument, 0, O_ROW}, {"help", no_argument, 0, O_HELP},
                                         CALIB_LONG_OPTIONS, {0, 0, 0, 0}};
    const char *model_path = NULL, *out = NULL;
    ImpMethod method = IMP_SALIENCY;
    double budget = 0, row_weight = 0;
    CalibOpts co;
    calib_opts_init(&co);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int r = calib_opts_parse(&co, "prune", c, optarg);
        if (r < 0) return 1;
        if (r > 0) continue;
        switch (c) {
        case O_MODEL: model_path = optarg; break;
        case O_METHOD:
            if (imp_method_parse(optarg, &method) != 0) return cli_usage_error("prune", "%s", err_get());
            break;
        case O_BUDGET:
            if (!cli_parse_double("prune", "--budget", optarg, 1e-9, 1, &budget)) return 1;
            break;
        case O_OUT: out = optarg; break;
        case O_ROW:
            if (!cli_parse_double("prune", "--row-weight", optarg, 0, 1e6, &row_weight)) return 1;
            break;
        case O_HELP: help(); return 0;
        default: return cli_usage_error("prune", "unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("prune", "unexpected argument '%s'", argv[optind]);
    if (!model_path || !out || budget <= 0) return cli_usage_error("prune", "--model, --budget and --out are required");
    if (method != IMP_MAGNITUDE && !co.calib) return cli_usage_error("prune", "--method %s needs --calib", imp_method_name(method));
    Model *m = NULL;
    StatsFile *sf = NULL;
    Subnet *s = NULL;
    double **head = NULL, **chan = NULL, ratio = 0;
    int rc = 2;
    if (model_open(model_path, &m) != 0) goto done;
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
