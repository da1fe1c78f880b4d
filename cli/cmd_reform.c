/* cmd_reform — `carve reform`: reform a subnet's o/down projections by least squares
 * (one-shot or sequential; exact or ADMM), optionally replace a layer span by a fitted linear
 * map, report held-out perplexity before/after, and write the result as a HF directory. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/model_open.h"
#include "cli/calib_opts.h"
#include "cli/cli.h"
#include "eval/evaluator.h"
#include "reform/reform.h"
#include "runtime/model/extract.h"
#include "runtime/formats/model_write.h"
#include "runtime/tokenizer/tokenizer.h"

static void help(void) {
    printf("usage: carve reform --model PATH --subnet FILE --calib FILE [options] --out DIR\n"
           "       carve reform --model PATH --replace-span FIRST:N --calib FILE [options] --out DIR\n\n"
           "Extracts the subnet's weights and refits every o_proj / down_proj that lost input columns:\n"
           "min ||W_S X_S - W X||^2 over the kept columns. exact = one ridge solve (Cholesky);\n"
           "admm = the paper's ADMM. one-shot (the default) uses the dense model's statistics;\n"
           "sequential fits each layer on the inputs the reformed upstream layers actually produce\n"
           "(it measured worse held-out perplexity on stories260K at every budget, see README).\n"
           "--replace-span removes layers [FIRST, FIRST+N) and fits one dim x dim linear map in their\n"
           "place (LLM-Streamline); --no-fit removes them plainly (for comparison).\n\n"
           "options:\n  --model PATH        model\n  --subnet FILE       subnet JSON (carve-subnet/1)\n"
           "  --method exact|admm (default exact)\n  --mode one-shot|sequential (default one-shot)\n"
           "  --lambda F          ridge as a fraction of the mean Gram diagonal (default 1e-3)\n"
           "  --rho R --iters K   ADMM parameters (default 1, 30)\n"
           "  --replace-span F:N  layer replacement instead of --subnet\n  --no-fit           with --replace-span\n"
           "  --eval FILE         also report perplexity on FILE before and after\n"
           "  --eval-len T        window length for --eval (default 256)\n"
           "  --out DIR           write the reformed model (HF directory, f32); optional with --eval\n"
           "  --force             replace an existing DIR\n" CALIB_HELP "  --help              this text\n");
}

static int eval_windows(const Model *m, const char *path, int T, Windows *w) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (!m->tokenizer) return err_set("%s: no tokenizer found with the model", m->path);
    if (text_tokenize_file(m->tokenizer, path, &ids, &n) != 0) return -1;
    int rc = windows_consecutive(ids, n, T, 0, path, w);
    free(ids);
    return rc;
}

int cmd_reform(int argc, char **argv) {
    enum { O_MODEL = 1, O_SUB, O_METHOD, O_MODE, O_LAMBDA, O_RHO, O_ITERS, O_SPAN, O_NOFIT, O_EVAL, O_EVLEN, O_OUT,
           O_FORCE, O_HELP };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL}, {"subnet", required_argument, 0, O_SUB},
        {"method", required_argument, 0, O_METHOD}, {"mode", required_argument, 0, O_MODE},
        {"lambda", required_argument, 0, O_LAMBDA}, {"rho", required_argument, 0, O_RHO},
        {"iters", required_argument, 0, O_ITERS}, {"replace-span", required_argument, 0, O_SPAN},
        {"no-fit", no_argument, 0, O_NOFIT}, {"eval", required_argument, 0, O_EVAL},
        {"eval-len", required_argument, 0, O_EVLEN}, {"out", required_argument, 0, O_OUT},
        {"force", no_argument, 0, O_FORCE}, {"help", no_argument, 0, O_HELP}, CALIB_LONG_OPTIONS, {0, 0, 0, 0}};
    const char *model_path = NULL, *subnet_path = NULL, *eval_path = NULL, *out = NULL;
    ReformOptions ro;
    reform_defaults(&ro);
    bool fit = true, force = false;
    int span_first = -1, span_n = 0;
    long eval_len = 256, v;
    CalibOpts co;
    calib_opts_init(&co);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int r = calib_opts_parse(&co, "reform", c, optarg);
        if (r < 0) return 1;
        if (r > 0) continue;
        switch (c) {
        case O_MODEL: model_path = optarg; break;
        case O_SUB: subnet_path = optarg; break;
        case O_METHOD:
            if (!strcmp(optarg, "exact")) ro.method = REFORM_EXACT;
            else if (!strcmp(optarg, "admm")) ro.method = REFORM_ADMM;
            else return cli_usage_error("reform", "--method expects exact or admm, got '%s'", optarg);
            break;
        case O_MODE:
            if (!strcmp(optarg, "one-shot")) ro.sequential = false;
            else if (!strcmp(optarg, "sequential")) ro.sequential = true;
            else return cli_usage_error("reform", "--mode expects one-shot or sequential, got '%s'", optarg);
            break;
        case O_LAMBDA:
            if (!cli_parse_double("reform", "--lambda", optarg, 0, 1e6, &ro.lambda_frac)) return 1;
            break;
        case O_RHO:
            if (!cli_parse_double("reform", "--rho", optarg, 1e-12, 1e12, &ro.rho)) return 1;
            break;
        case O_ITERS:
            if (!cli_parse_int("reform", "--iters", optarg, 1, 100000, &v)) return 1;
            ro.iters = (int)v;
            break;
        case O_SPAN:
            if (sscanf(optarg, "%d:%d", &span_first, &span_n) != 2 || span_first < 0 || span_n < 1)
                return cli_usage_error("reform", "--replace-span expects FIRST:N (e.g. 2:2), got '%s'", optarg);
            break;
        case O_NOFIT: fit = false; break;
        case O_EVAL: eval_path = optarg; break;
        case O_EVLEN:
            if (!cli_parse_int("reform", "--eval-len", optarg, 2, 1 << 20, &eval_len)) return 1;
            break;
        case O_OUT: out = optarg; break;
        case O_FORCE: force = true; break;
        case O_HELP: help(); return 0;
        default: return cli_usage_error("reform", "unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("reform", "unexpected argument '%s'", argv[optind]);
    if (!model_path || !co.calib) return cli_usage_error("reform", "--model and --calib are required");
    if (!subnet_path == (span_first < 0)) return cli_usage_error("reform", "give exactly one of --subnet and --replace-span");
    if (!out && !eval_path) return cli_usage_error("reform", "--out (or --eval) is required");
    if (ro.sequential && ro.method == REFORM_ADMM)
        return cli_usage_error("reform", "--method admm works with --mode one-shot only");
    Model *m = NULL, *R = NULL, *P = NULL;
    Subnet *s = NULL;
    StatsFile *sf = NULL;
    Windows cw = {0}, ew = {0};
    int rc = 2;
    double t0 = now_seconds();
    if (model_open(model_path, &m) != 0) goto done;
    if (eval_path && eval_windows(m, eval_path, (int)eval_len, &ew) != 0) goto done;
    if (subnet_path) {
        if (subnet_read_file(subnet_path, m, &s) != 0) goto done;
        if (ro.sequential) {
            if (calib_opts_windows(&co, m, &cw) != 0 || reform_sequential(m, s, &cw, &ro, &R) != 0) goto done;
        } else if (stats_open(m, co.calib, &co.so, &sf) != 0 || reform_oneshot(m, s, sf, &ro, &R) != 0)
            goto done;
    } else {
        if (calib_opts_windows(&co, m, &cw) != 0 ||
            reform_replace_span(m, span_first, span_n, fit, &cw, ro.lambda_frac, &R) != 0)
            goto done;
        if (eval_path && reform_replace_span(m, span_first, span_n, false, &cw, ro.lambda_frac, &P) != 0) goto done;
    }
    double t_fit = now_seconds() - t0;
    if (eval_path) {
        double before = 0, after = 0;
        EvalOptions eo = {.what = eval_path};
        Evaluator *ev = NULL;
        if (evaluator_create(m, &ew, &eo, &ev) != 0) goto done;
        int bad = (subnet_path ? evaluator_ppl(ev, s, &before) : evaluator_ppl_model(ev, P, NULL, &before)) != 0 ||
                  evaluator_ppl_model(ev, R, NULL, &after) != 0;
        evaluator_free(ev);
        if (bad) goto done;
        printf("%s ppl_before=%.4f ppl_after=%.4f windows=%d len=%d fit_s=%.2f (%s)\n",
               subnet_path ? (ro.sequential ? "sequential" : ro.method == REFORM_ADMM ? "one-shot-admm" : "one-shot")
                           : (fit ? "replace" : "remove"),
               before, after, ew.n, ew.len, t_fit, subnet_path ? "before = subnet without reformation" : "before = span removed");
    }
    if (out) {
        HFWriteOptions wo = {.dtype = DT_F32, .tokenizer_of = m, .force = force};
        if (model_write_hf(R, out, &wo) != 0) goto done;
        printf("wrote %s\n", out);
    }
    rc = 0;
done:
    if (rc) cli_fail();
    windows_free(&cw), windows_free(&ew);
    stats_close(sf);
    subnet_free(s);
    model_free(R), model_free(P), model_free(m);
    return rc;
}
