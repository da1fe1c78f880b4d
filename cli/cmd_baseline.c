/* cmd_baseline — `carve baseline`: run one registry method (search/method.h: flap, shortgpt,
 * sleb, streamline, streamline-fit, uls, attn-skip, random) on a model at a budget and write
 * the result: OUT/subnet.json (carve-subnet/1) and OUT/result.json (exact kept budget, note,
 * calibration evaluations, wall time). `carve prune --method NAME` hands registry methods here.
 * Importance scores come from reform/; calibration ppl from the forward pass on calib text.
 *
 * Under an MPI launcher every rank opens the model and samples the same calibration windows;
 * rank 0 runs the method, whose candidate batches (SLEB's greedy steps, random's draws) go
 * through the MPI pool to all ranks (search/mpi), and alone writes the output files; the
 * result is identical to a plain run for any number of ranks. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/formats/model_open.h"
#include "cli/calib_opts.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "search/method.h"
#include "search/method_eval.h"
#include "search/method_scores.h"
#ifdef CARVE_MPI
#include "search/mpi/mpi_pool.h"
#endif

static void help(const CliOpt *opts) {
    printf("usage: carve baseline --model PATH --method NAME --budget R --calib FILE --out DIR|FILE.json [options]\n"
           "       (also reached as carve prune --method NAME ...)\n\n"
           "Prune with one of the baseline methods of the registry at a budget R (fraction of the\n"
           "dense model's non-embedding parameters). Layer-level methods reach only some budgets:\n"
           "they take the achievable one nearest R; result.json records the exact one.\n"
           "Writes DIR/subnet.json and DIR/result.json (or FILE.json and FILE.result.json).\n\n"
           "methods:\n");
    for (int i = 0; i < method_count; i++)
        if (method_table[i].run) printf("  %-15s %s\n", method_table[i].name, method_table[i].summary);
    printf("\noptions (calibration: scores, SLEB's steps, random's choice; the seed also seeds random's draws):\n");
    cli_print_options(opts);
}

/* --out DIR -> DIR/subnet.json + DIR/result.json; --out X.json -> X.json + X.result.json. */
static bool out_is_file(const char *out) {
    size_t n = strlen(out);
    return n > 5 && !strcmp(out + n - 5, ".json");
}

static int write_result(const char *dir, const char *method, double target, uint64_t seed, const MethodResult *r,
                        double secs, const Model *m) {
    char *path = out_is_file(dir) ? xstrdup(dir) : path_join(dir, "subnet.json");
    int rc = subnet_write_file(path, r->subnet, m);
    free(path);
    if (rc != 0) return -1;
    json_t *o = json_pack("{s:s, s:f, s:I, s:f, s:f, s:i, s:f, s:s, s:f}", "method", method, "target", target, "seed",
                          (json_int_t)seed, "budget", r->budget, "params_ratio", r->budget, "calib_evals",
                          r->n_evals, "calib_ppl", r->calib_ppl, "note", r->note, "seconds", secs);
    if (!o) return err_set("%s: cannot build result.json", dir);
    if (r->replace_first >= 0) {
        json_object_set_new(o, "replace_first", json_integer(r->replace_first));
        json_object_set_new(o, "replace_n", json_integer(r->replace_n));
    }
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (!s) return err_set("%s: cannot format result.json", dir);
    if (out_is_file(dir)) {
        size_t n = strlen(dir) - 5;
        path = xmalloc(n + 13);
        snprintf(path, n + 13, "%.*s.result.json", (int)n, dir);
    } else {
        path = path_join(dir, "result.json");
    }
    size_t len = strlen(s);
    s = xrealloc(s, len + 2);
    s[len] = '\n', s[len + 1] = 0;
    rc = write_file_atomic(path, s, len + 1);
    free(path);
    free(s);
    return rc;
}

int cmd_baseline(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *method = NULL, *out = NULL;
    double budget = 0;
    int k = 16;
    CalibOpts co;
    calib_opts_init(&co);
    const CliOpt opts[] = {
        CLI_MODEL_OPTS(&model_path, &tok_path),
        {"method", 0, OT_STR, &method, 0, 0, "NAME", "the method"},
        CLI_BUDGET_OPT(&budget),
        {"random-k", 0, OT_INT, &k, 1, 1 << 20, "K", "random: candidates drawn (default 16)"},
        {"out", 0, OT_STR, &out, 0, 0, "DIR", "output directory (created), or a FILE.json for the subnet"},
        CLI_CALIB_OPTS(&co.calib, &co.so),
        CLI_COMMON_OPTS,
        {0}};
    int prc = cli_parse("baseline", argc, argv, opts, NULL, 0, NULL);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    if (!model_path) return cli_usage_error("baseline", "--model is required");
    if (!method) return cli_usage_error("baseline", "--method is required");
    if (!budget) return cli_usage_error("baseline", "--budget is required");
    if (!co.calib) return cli_usage_error("baseline", "--calib is required");
    if (!out) return cli_usage_error("baseline", "--out is required");
    const MethodInfo *mi = method_find(method);
    if (!mi) return cli_fail();
    if (!mi->run)
        return cli_usage_error("baseline", "method '%s' is run by %s", method,
                               mi->kind == METHOD_SEARCH ? "carve search" : "carve prune");

    int rc = 2;
    Model *m = NULL;
    MethodCalib cal = {0};
    MethodScoreSet sc = {0};
    MethodResult res = {0};
    double t0 = now_seconds();
    bool root = cli_rank() == 0;
    int orc = calib_opts_open(&co, model_path, tok_path, &m);
    if (!orc && root && !out_is_file(out) && mkdir(out, 0777) != 0 && !path_is_dir(out))
        orc = err_set("%s: cannot create the output directory", out);
    if (!orc) orc = method_calib_open(m, co.calib, co.so.N, co.so.L, co.so.seed, &cal);
    if (cli_agree(orc) != 0) goto done;
    int mrc = 0;
#ifdef CARVE_MPI
    MpiPool pool = {m, method_calib_task, &cal};
    if (!root) mrc = mpi_pool_serve(&pool); /* the candidates rank 0 hands out, until it stops */
#endif
    if (root) {
        mrc = method_scores_compute(mi, &cal, &co.so, &sc);
        MethodInput in = {0};
        in.model = m;
        in.budget = budget;
        in.seed = co.so.seed;
        in.random_k = k;
        in.scores = sc.scores;
        in.calib_ppl = method_calib_ppl;
        in.ppl_ud = &cal;
#ifdef CARVE_MPI
        if (cli_ranks() > 1) in.batch = mpi_pool_batch, in.batch_ud = &pool;
#endif
        if (!mrc) mrc = method_run(mi, &in, &res);
#ifdef CARVE_MPI
        if (cli_ranks() > 1) mpi_pool_stop(); /* after the method, or its failure */
#endif
        if (!mrc && cli_verbose) fprintf(stderr, "baseline %s: budget %.4f: %s\n", method, res.budget, res.note);
        if (!mrc) mrc = write_result(out, method, budget, co.so.seed, &res, now_seconds() - t0, m);
    }
    if (cli_agree(mrc) != 0) goto done;
    if (root)
        printf("method=%s target=%.4f budget=%.6f calib_evals=%d note=\"%s\"\n", method, budget, res.budget,
               res.n_evals, res.note);
    rc = 0;
done:
    if (rc) cli_fail();
    method_result_free(&res);
    method_scores_free(&sc);
    method_calib_close(&cal);
    model_free(m);
    return rc;
}
