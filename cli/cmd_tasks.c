/* cmd_tasks — `carve tasks`: zero-shot multiple-choice accuracy of a model or subnet on the tasks
 * pruning papers report (lm-evaluation-harness v0.4 prompts and metrics; eval/tasks.h), one line
 * per task and the mean over the tasks run, or --json.
 *
 * A test option, --dump-items FILE, writes one JSON object per item (task, index, gold, each
 * choice's loglikelihood and token count, predictions) for comparison with a reference. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "eval/tasks.h"
#include "eval/tasks_eval.h"
#include "runtime/base/blas.h"
#include "runtime/forward/forward.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/model/subnet.h"
#include "runtime/tokenizer/tokenizer.h"

static void help(const CliOpt *opts) {
    printf("usage: carve tasks --model PATH --task NAME[,NAME...] [--data DIR] [options]\n\n"
           "Zero-shot accuracy on multiple-choice tasks as lm-evaluation-harness v0.4 computes it: each\n"
           "choice's continuation is scored by its loglikelihood given the context; acc picks the\n"
           "largest, acc_norm the largest per character of the choice (where the harness reports it).\n"
           "Prints per task: items, acc, its standard error, acc_norm, its standard error; then the mean.\n\n"
           "tasks (folders and files under --data, as in ../shared/data/tasks/):\n"
           "  arc_easy            arc_easy/ARC-Easy-Test.jsonl\n"
           "  arc_challenge       arc_challenge/ARC-Challenge-Test.jsonl (same format)\n"
           "  hellaswag           hellaswag/hellaswag_val_full.txt.bz2 (llama.cpp's 6-line form; see README)\n"
           "  hellaswag_llamacpp  the same file scored like `llama-perplexity --hellaswag` (acc only)\n"
           "  piqa                piqa/valid.jsonl + valid-labels.lst\n"
           "  winogrande          winogrande/dev.jsonl + dev-labels.lst (partial scoring, acc only)\n"
           "  boolq               boolq/dev.jsonl (acc only)\n"
           "  openbookqa          openbookqa/test.jsonl\n"
           "  all                 every task above whose files exist under --data\n\n"
           "options:\n");
    cli_print_options(opts);
}

typedef struct {
    const char *task;
    int items;
    double t0;
    bool tty, on;
    int next;
} Progress;

static void progress_cb(void *ud, int done, int total) {
    Progress *p = ud;
    if (!p->on || (!p->tty && done < p->next && done < total)) return;
    double el = now_seconds() - p->t0;
    fprintf(stderr, "%stasks: %s %d/%d requests (%d items), %.1f items/s%s", p->tty ? "\r" : "", p->task, done, total,
            p->items, el > 0 ? (double)p->items * done / total / el : 0.0, p->tty && done < total ? "" : "\n");
    p->next = done + (total + 9) / 10;
}

/* Parse --task into a list of table entries (no duplicates). */
static int parse_tasks(const char *list, const char *data_dir, const TaskDef **out, int *n_out) {
    int n_all = 0, n = 0;
    const TaskDef *all = task_table(&n_all);
    char *dup = xstrdup(list), *save = NULL;
    for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "all") == 0) {
            for (int i = 0; i < n_all; i++) {
                char *dir = path_join(data_dir, all[i].dir), *p = path_join(dir, all[i].file);
                bool have = path_exists(p);
                free(dir);
                free(p);
                bool seen = false;
                for (int j = 0; j < n; j++) seen |= out[j] == &all[i];
                if (have && !seen) out[n++] = &all[i];
            }
            continue;
        }
        const TaskDef *d = task_find(tok);
        if (!d) {
            cli_usage_error("tasks", "unknown task '%s' (tasks: %s)", tok, task_names());
            free(dup);
            return -1;
        }
        bool seen = false;
        for (int j = 0; j < n; j++) seen |= out[j] == d;
        if (!seen) out[n++] = d;
    }
    free(dup);
    if (n == 0) {
        cli_usage_error("tasks", "no task to run (none of the tasks' files is under %s)", data_dir);
        return -1;
    }
    *n_out = n;
    return 0;
}

static int dump_items(FILE *fp, const TaskSet *s, const TaskItemScore *sc) {
    for (int i = 0; i < s->n; i++) {
        json_t *ll = json_array(), *nt = json_array();
        for (int k = 0; k < s->items[i].n_choices; k++) {
            json_array_append_new(ll, json_real(sc[i].ll[k]));
            json_array_append_new(nt, json_integer(sc[i].n_tok[k]));
        }
        json_t *o = json_pack("{s:s, s:i, s:i, s:o, s:o, s:i, s:i}", "task", s->def->name, "item", i, "gold",
                              s->items[i].gold, "ll", ll, "n_tok", nt, "pred", sc[i].pred, "pred_norm", sc[i].pred_norm);
        char *str = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
        json_decref(o);
        if (!str) return err_set("tasks: cannot format an item as JSON");
        int bad = fprintf(fp, "%s\n", str) < 0;
        free(str);
        if (bad) return err_set("cannot write the item dump: %s", strerror(errno));
    }
    return 0;
}

static json_t *num_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

int cmd_tasks(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *sub_path = NULL, *task_list = NULL, *data_dir = NULL,
               *dump = NULL;
    int limit = 0, batch_tokens = 4096, cache_mb = 0;
    bool json = false, bos = false;
    const CliOpt opts[] = {
        CLI_MODEL_OPTS(&model_path, &tok_path),
        CLI_SUBNET_OPT(&sub_path),
        {"task", 0, OT_STR, &task_list, 0, 0, "LIST", "comma-separated task names (or all)"},
        {"data", 0, OT_STR, &data_dir, 0, 0, "DIR", "the tasks' data directory (default data/tasks, which make tasks fills)"},
        {"limit", 0, OT_INT, &limit, 1, 1 << 30, "N", "score only the first N items of each task"},
        {"bos", 0, OT_FLAG, &bos, 0, 0, NULL, "prepend BOS to every request (the harness's add_bos_token=True;\n"
                                              "default: none, as the harness does for Hugging Face models)"},
        {"batch-tokens", 0, OT_INT, &batch_tokens, 1, 1 << 22, "N", "tokens per forward pass (default 4096)"},
        CLI_CACHE_MB_OPT(&cache_mb),
        CLI_JSON_OPT(&json),
        {"dump-items", 0, OT_STR, &dump, 0, 0, "FILE",
         "(test) write one JSON line per item: task, item, gold, ll, n_tok, pred, pred_norm"},
        CLI_COMMON_OPTS,
        {0}};
    int prc = cli_parse("tasks", argc, argv, opts, NULL, 0, NULL);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    if (!model_path) return cli_usage_error("tasks", "--model is required");
    if (!task_list) return cli_usage_error("tasks", "--task is required (tasks: %s, or all)", task_names());
    if (!data_dir) data_dir = "data/tasks";
    const TaskDef *defs[64];
    int n_defs = 0;
    if (parse_tasks(task_list, data_dir, defs, &n_defs) != 0) return 1;

    int rc = 2;
    Model *m = NULL;
    const Tokenizer *tok = NULL;
    Subnet *sub = NULL;
    Forward *f = NULL;
    FILE *dfp = NULL;
    TaskAccuracy res[64];
    double secs[64];
    int n_done = 0;
    json_t *jt = json_array();
    if (model_open_tok(model_path, tok_path, &m) != 0) goto done;
    tok = m->tokenizer; /* --tokenizer's, when given */
    if (!tok) {
        err_set("%s: no tokenizer found with the model (give one with --tokenizer)", model_path);
        goto done;
    }
    if (sub_path && subnet_read_file(sub_path, m, &sub) != 0) goto done;
    ForwardOptions fo = {0};
    fo.cache_bytes = (size_t)cache_mb << 20;
    fo.max_tokens = (int)batch_tokens;
    if (forward_create(m, sub, &fo, &f) != 0) goto done;
    if (dump && !(dfp = fopen(dump, "w"))) {
        err_set("%s: cannot write: %s", dump, strerror(errno));
        goto done;
    }
    if (cli_verbose) fprintf(stderr, "tasks: %s, %d task(s), %s\n", model_path, n_defs, blas_describe());
    if (!json) printf("%-20s %6s %8s %8s %8s %8s %8s\n", "task", "items", "acc", "stderr", "acc_norm", "stderr", "secs");
    double t_all = now_seconds();
    for (int i = 0; i < n_defs; i++) {
        TaskSet s;
        if (taskset_load(defs[i], data_dir, (int)limit, &s) != 0) goto done;
        Progress pr = {defs[i]->name, s.n, now_seconds(), isatty(2), cli_verbose || isatty(2), 0};
        TaskEvalOptions eo = {bos, m->cfg.max_seq_len, (int)batch_tokens, progress_cb, &pr};
        TaskItemScore *sc = dump ? xmalloc((size_t)s.n * sizeof *sc) : NULL;
        int erc = task_evaluate(f, tok, &s, &eo, &res[i], sc);
        secs[i] = now_seconds() - pr.t0;
        if (erc == 0 && dump) erc = dump_items(dfp, &s, sc);
        free(sc);
        taskset_free(&s);
        if (erc != 0) goto done;
        n_done++;
        const TaskAccuracy *r = &res[i];
        if (json) {
            json_array_append_new(jt, json_pack("{s:s, s:i, s:f, s:f, s:o, s:o, s:f, s:f}", "task", defs[i]->name,
                                                "items", r->n, "acc", r->acc, "acc_stderr", r->acc_se, "acc_norm",
                                                num_or_null(r->acc_norm), "acc_norm_stderr",
                                                num_or_null(r->acc_norm_se), "seconds", secs[i], "items_per_s",
                                                r->n / (secs[i] > 0 ? secs[i] : 1e-9)));
        } else if (defs[i]->acc_norm) {
            printf("%-20s %6d %8.4f %8.4f %8.4f %8.4f %8.1f\n", defs[i]->name, r->n, r->acc, r->acc_se, r->acc_norm,
                   r->acc_norm_se, secs[i]);
        } else {
            printf("%-20s %6d %8.4f %8.4f %8s %8s %8.1f\n", defs[i]->name, r->n, r->acc, r->acc_se, "-", "-", secs[i]);
        }
        fflush(stdout);
    }
    double total = now_seconds() - t_all, mean = 0.0, mean_norm = 0.0;
    int n_norm = 0;
    for (int i = 0; i < n_done; i++) {
        mean += res[i].acc / n_done;
        if (!isnan(res[i].acc_norm)) mean_norm += res[i].acc_norm, n_norm++;
    }
    if (n_norm) mean_norm /= n_norm;
    if (json) {
        json_t *o = json_pack("{s:s, s:o, s:f, s:o, s:i, s:f}", "model", model_path, "tasks", jt, "mean_acc", mean,
                              "mean_acc_norm", n_norm ? json_real(mean_norm) : json_null(), "n_acc_norm", n_norm,
                              "seconds", total);
        jt = NULL;
        if (sub_path && o) json_object_set_new(o, "subnet", json_string(sub_path));
        char *str = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
        json_decref(o);
        if (!str) {
            err_set("tasks: cannot format the JSON result");
            goto done;
        }
        printf("%s\n", str);
        free(str);
    } else {
        printf("%-20s %6s %8.4f %8s ", "mean", "", mean, "");
        if (n_norm) printf("%8.4f %8s %8.1f   (acc over %d tasks, acc_norm over the %d reporting it)\n", mean_norm, "",
                           total, n_done, n_norm);
        else printf("%8s %8s %8.1f\n", "-", "", total);
    }
    if (dfp) {
        int bad = fclose(dfp);
        dfp = NULL;
        if (bad) {
            err_set("%s: write failed: %s", dump, strerror(errno));
            goto done;
        }
    }
    rc = 0;
done:
    if (rc) cli_fail();
    json_decref(jt);
    if (dfp) fclose(dfp);
    forward_free(f);
    subnet_free(sub);
    model_free(m);
    return rc;
}
