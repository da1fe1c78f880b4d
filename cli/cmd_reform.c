/* cmd_reform — `carve reform`: reform a subnet's o/down projections by least squares
 * (one-shot or sequential; exact or ADMM), optionally replace a layer span by a fitted linear
 * map, report held-out perplexity before/after, and write the result as a HF directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/formats/model_open.h"
#include "cli/calib_opts.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "eval/evaluator.h"
#include "reform/reform.h"
#include "runtime/model/extract.h"
#include "runtime/formats/model_write.h"
#include "runtime/tokenizer/tokenizer.h"

static void help(const CliOpt *opts) {
    printf("usage: carve reform --model PATH --subnet FILE --calib FILE [options] --out DIR\n"
           "       carve reform --model PATH --replace-span FIRST:N --calib FILE [options] --out DIR\n\n"
           "Extracts the subnet's weights and refits every o_proj / down_proj that lost input columns:\n"
           "min ||W_S X_S - W X||^2 over the kept columns. exact = one ridge solve (Cholesky);\n"
           "admm = the paper's ADMM. --fit weights+bias (the default of one-shot exact) also fits an output bias\n"
           "(a constant input); --fit bias fits the bias alone (FLAP's compensation).\n"
           "one-shot (the default) uses the dense model's statistics;\n"
           "sequential fits each layer on the inputs the reformed upstream layers actually produce\n"
           "(it measured worse held-out perplexity on stories260K at every budget, see README).\n"
           "--replace-span removes layers [FIRST, FIRST+N) and fits one dim x dim linear map in their\n"
           "place (LLM-Streamline); --no-fit removes them plainly (for comparison).\n\noptions:\n");
    cli_print_options(opts);
}

static int eval_windows(const Model *m, const char *path, int T, Windows *w) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (!m->tokenizer) return err_set("%s: no tokenizer found with the model", m->path);
    if (model_check_window(m, T, m->path, "--seq-len")) return -1;
    if (text_tokenize_file(m->tokenizer, path, &ids, &n) != 0) return -1;
    int rc = windows_consecutive(ids, n, T, 0, path, w);
    free(ids);
    return rc;
}

int cmd_reform(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *subnet_path = NULL, *eval_path = NULL, *out = NULL;
    const char *method = "exact", *mode = "one-shot", *span = NULL, *fit_s = NULL;
    ReformOptions ro;
    reform_defaults(&ro);
    bool no_fit = false, force = false;
    int span_first = -1, span_n = 0, eval_len = CLI_SEQ_LEN_DEFAULT;
    CalibOpts co;
    calib_opts_init(&co);
    const CliOpt opts[] = {
        CLI_MODEL_OPTS(&model_path, &tok_path),
        CLI_SUBNET_OPT(&subnet_path),
        {"method", 0, OT_STR, &method, 0, 0, "exact|admm", "least-squares solver (default exact)"},
        {"mode", 0, OT_STR, &mode, 0, 0, "one-shot|sequential", "statistics of the fit (default one-shot)"},
        {"fit", 0, OT_STR, &fit_s, 0, 0, "weights|weights+bias|bias",
         "weights: the kept weights (default of admm, sequential);\n"
         "weights+bias: and an o/down output bias (the intercept;\n"
         "default of one-shot exact); bias: the bias alone, weights\n"
         "inherited (FLAP's bias compensation)"},
        {"lambda", 0, OT_NUM, &ro.lambda_frac, 0, 1e6, "F", "ridge as a fraction of the mean Gram diagonal (default 1e-3)"},
        {"rho", 0, OT_NUM, &ro.rho, 1e-12, 1e12, "R", "ADMM penalty (default 1)"},
        {"iters", 0, OT_INT, &ro.iters, 1, 100000, "K", "ADMM iterations (default 30)"},
        {"replace-span", 0, OT_STR, &span, 0, 0, "F:N", "layer replacement instead of --subnet"},
        {"no-fit", 0, OT_FLAG, &no_fit, 0, 0, NULL, "with --replace-span: remove the layers plainly"},
        {"eval", 0, OT_STR, &eval_path, 0, 0, "FILE", "also report perplexity on FILE before and after"},
        CLI_SEQ_LEN_OPT(&eval_len),
        {"eval-len", 0, OT_INT, &eval_len, 2, 1 << 20, "N", NULL}, /* the earlier name of --seq-len */
        {"out", 0, OT_STR, &out, 0, 0, "DIR", "write the reformed model (HF directory, f32); optional with --eval"},
        CLI_FORCE_OPT(&force),
        CLI_CALIB_OPTS(&co.calib, &co.so),
        CLI_COMMON_OPTS,
        {0}};
    int prc = cli_parse("reform", argc, argv, opts, NULL, 0, NULL);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    bool fit = !no_fit;
    if (!strcmp(method, "exact")) ro.method = REFORM_EXACT;
    else if (!strcmp(method, "admm")) ro.method = REFORM_ADMM;
    else return cli_usage_error("reform", "--method expects exact or admm, got '%s'", method);
    if (fit_s && reform_fit_parse(fit_s, &ro.fit) != 0)
        return cli_usage_error("reform", "--fit expects weights, weights+bias or bias, got '%s'", fit_s);
    if (ro.method == REFORM_ADMM) {
        if (fit_s && ro.fit != REFORM_FIT_WEIGHTS)
            return cli_usage_error("reform", "--method admm fits the weights only (--fit weights)");
        ro.fit = REFORM_FIT_WEIGHTS;
    }
    if (!strcmp(mode, "one-shot")) ro.sequential = false;
    else if (!strcmp(mode, "sequential")) ro.sequential = true;
    else return cli_usage_error("reform", "--mode expects one-shot or sequential, got '%s'", mode);
    if (ro.sequential && !fit_s) ro.fit = REFORM_FIT_SEQUENTIAL_DEFAULT;
    if (span && (sscanf(span, "%d:%d", &span_first, &span_n) != 2 || span_first < 0 || span_n < 1))
        return cli_usage_error("reform", "--replace-span expects FIRST:N (e.g. 2:2), got '%s'", span);
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
    if (calib_opts_open(&co, model_path, tok_path, &m) != 0) goto done;
    if (eval_path && eval_windows(m, eval_path, eval_len, &ew) != 0) goto done;
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
        printf("%s ppl_before=%.4f ppl_after=%.4f windows=%d len=%d fit_s=%.2f fit=%s (%s)\n",
               subnet_path ? (ro.sequential ? "sequential" : ro.method == REFORM_ADMM ? "one-shot-admm" : "one-shot")
                           : (fit ? "replace" : "remove"),
               before, after, ew.n, ew.len, t_fit, subnet_path ? reform_fit_name(ro.fit) : "map",
               subnet_path ? "before = subnet without reformation" : "before = span removed");
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
