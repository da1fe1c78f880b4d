/* cmd_front — `carve front DB [--run NAME] [--by calib|eval|TASK] [--format table|csv|json]`:
 * prints the Pareto front of a search run over (calibration perplexity, held-out perplexity
 * or zero-shot accuracy on a task, cost ratio), largest subnet first. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "eval/tasks.h"
#include "results/store.h"
#include "runtime/base/util.h"

static void help(const CliOpt *opts) {
    printf("usage: carve front DB [--run NAME] [--by calib|eval|TASK] [--format table|csv|json]\n\n"
           "Print the Pareto front of a search run stored in DB.\n\noptions:\n");
    cli_print_options(opts);
}

static void print_num(FILE *fp, double v, const char *fmt) {
    if (isnan(v)) fprintf(fp, "%s", "");
    else fprintf(fp, fmt, v);
}

int cmd_front(int argc, char **argv) {
    const char *run_name = NULL, *by = "calib", *format = "table", *pos[1];
    const CliOpt opts[] = {CLI_RUN_OPT(&run_name),
                           {"by", 0, OT_STR, &by, 0, 0, "calib|eval|TASK",
                            "front over calibration perplexity and cost (default calib), over held-out\n"
                            "perplexity (candidates the final step evaluated), or over zero-shot accuracy\n"
                            "on TASK (arc_easy, piqa, ...: the final candidates scored by final.tasks)"},
                           {"format", 0, OT_STR, &format, 0, 0, "F", "table (default), csv or json"},
                           CLI_COMMON_OPTS, {0}};
    int npos = 0, prc = cli_parse("front", argc, argv, opts, pos, 1, &npos);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    if (npos != 1) return cli_usage_error("front", "expects one database file");
    const TaskDef *task = task_find(by);
    if (strcmp(by, "calib") && strcmp(by, "eval") && !task)
        return cli_usage_error("front", "--by expects calib, eval or a task (%s), got '%s'", task_names(), by);
    if (strcmp(format, "table") && strcmp(format, "csv") && strcmp(format, "json"))
        return cli_usage_error("front", "--format expects table, csv or json, got '%s'", format);
    Store *st;
    if (store_open(pos[0], false, &st)) return cli_fail();
    StoreRun run;
    if (store_run_require(st, run_name, &run)) {
        store_close(st);
        return cli_fail();
    }
    free(run.settings);
    CandRow *rows;
    int n;
    if (task ? store_front_task(st, run.id, by, &rows, &n) : store_front(st, run.id, !strcmp(by, "eval"), &rows, &n)) {
        store_close(st);
        return cli_fail();
    }
    StoreTaskScore *ts = xcalloc((size_t)(n ? n : 1), sizeof *ts); /* the task's score of each row */
    for (int i = 0; task && i < n; i++) {
        StoreTaskScore *all;
        int k;
        if (store_task_list(st, rows[i].id, &all, &k)) {
            free(ts);
            free(rows);
            store_close(st);
            return cli_fail();
        }
        for (int j = 0; j < k; j++)
            if (!strcmp(all[j].task, by)) ts[i] = all[j];
        free(all);
    }
    if (!strcmp(format, "json")) {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++) {
            CandRow *r = &rows[i];
            json_t *o = json_pack("{s:s, s:I, s:i, s:f, s:f, s:I, s:f, s:f, s:b}", "run", run.name, "id",
                                  (json_int_t)r->id, "generation", r->generation, "cost_ratio", r->cost_ratio,
                                  "params_ratio", r->params_ratio, "params", (json_int_t)r->params, "flops", r->flops,
                                  "fitness", r->fitness, "reformed", r->reformed);
            json_object_set_new(o, "eval_ppl", isnan(r->eval_ppl) ? json_null() : json_real(r->eval_ppl));
            json_object_set_new(o, "reformed_fitness",
                                isnan(r->reformed_fitness) ? json_null() : json_real(r->reformed_fitness));
            if (task) {
                json_object_set_new(o, "task", json_string(by));
                json_object_set_new(o, "items", json_integer(ts[i].items));
                json_object_set_new(o, "acc", json_real(ts[i].acc));
                json_object_set_new(o, "acc_stderr", json_real(ts[i].acc_stderr));
                json_object_set_new(o, "acc_norm", isnan(ts[i].acc_norm) ? json_null() : json_real(ts[i].acc_norm));
            }
            json_array_append_new(arr, o);
        }
        char *s = json_dumps(arr, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "[]");
        free(s);
        json_decref(arr);
    } else if (!strcmp(format, "csv")) {
        printf("run,id,generation,cost_ratio,params_ratio,params,flops,fitness,reformed,reformed_fitness,eval_ppl%s\n",
               task ? ",task,items,acc,acc_stderr,acc_norm" : "");
        for (int i = 0; i < n; i++) {
            CandRow *r = &rows[i];
            printf("%s,%lld,%d,%.6f,%.6f,%lld,%.0f,%.6f,%d,", run.name, (long long)r->id, r->generation, r->cost_ratio,
                   r->params_ratio, (long long)r->params, r->flops, r->fitness, r->reformed);
            print_num(stdout, r->reformed_fitness, "%.6f");
            putchar(',');
            print_num(stdout, r->eval_ppl, "%.6f");
            if (task) {
                printf(",%s,%d,%.6f,%.6f,", by, ts[i].items, ts[i].acc, ts[i].acc_stderr);
                print_num(stdout, ts[i].acc_norm, "%.6f");
            }
            putchar('\n');
        }
    } else {
        printf("run %s: Pareto front by %s%s (%d subnets)\n", run.name,
               task ? "zero-shot accuracy on " : !strcmp(by, "eval") ? "held-out perplexity" : "calibration perplexity",
               task ? by : "", n);
        printf("%8s %5s %8s %8s %10s %10s %10s %10s", "id", "gen", "cost", "params%", "params", "calib_ppl",
               "reform_ppl", "eval_ppl");
        if (task) printf(" %6s %8s %8s %8s", "items", "acc", "stderr", "acc_norm");
        putchar('\n');
        for (int i = 0; i < n; i++) {
            CandRow *r = &rows[i];
            printf("%8lld %5d %8.4f %8.2f %10lld %10.4f ", (long long)r->id, r->generation, r->cost_ratio,
                   100 * r->params_ratio, (long long)r->params, r->fitness);
            if (isnan(r->reformed_fitness)) printf("%10s ", "-");
            else printf("%10.4f ", r->reformed_fitness);
            if (isnan(r->eval_ppl)) printf("%10s", "-");
            else printf("%10.4f", r->eval_ppl);
            if (task) {
                printf(" %6d %8.4f %8.4f ", ts[i].items, ts[i].acc, ts[i].acc_stderr);
                if (isnan(ts[i].acc_norm)) printf("%8s", "-");
                else printf("%8.4f", ts[i].acc_norm);
            }
            putchar('\n');
        }
    }
    free(ts);
    free(rows);
    store_close(st);
    return 0;
}
