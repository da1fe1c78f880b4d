/* test_tasks — the zero-shot task loaders (eval/tasks.c): prompts built from small valid files
 * exactly as the harness builds them, and every malformed-input path of every loader giving a
 * one-line error that names the file and line. Plus forward_token_logprobs against forward_nll on
 * a padded batch (the scorer's contract: padding changes nothing). */
#include <bzlib.h>
#include <math.h>
#include <sys/stat.h>

#include "runtime/formats/model_open.h"
#include "eval/loglik.h"
#include "eval/tasks.h"
#include "results/store.h"
#include "runtime/forward/forward.h"
#include "tests/testutil.h"

static char *tmp;

static char *write_tmp(const char *name, const char *text) {
    char *p = path_join(tmp, name);
    FILE *fp = fopen(p, "wb");
    ck_assert(fp);
    fputs(text, fp);
    fclose(fp);
    return p;
}

static char *write_bz2(const char *name, const char *text) {
    unsigned int cap = (unsigned int)(strlen(text) * 2 + 1024), n = cap;
    char *out = xmalloc(cap);
    ck_assert_int_eq(BZ2_bzBuffToBuffCompress(out, &n, (char *)text, (unsigned int)strlen(text), 9, 0, 0), BZ_OK);
    char *p = path_join(tmp, name);
    FILE *fp = fopen(p, "wb");
    ck_assert(fp);
    ck_assert_int_eq(fwrite(out, 1, n, fp), n);
    fclose(fp);
    free(out);
    return p;
}

static void setup(void) { tmp = test_tmpdir("tasks"); }
static void teardown(void) {
    test_rmtree(tmp);
    free(tmp);
}

/* Load text (as file `name`) with task `task` (+ labels text) and expect an error containing want
 * (and the file's name). */
static void expect_error(const char *task, const char *name, const char *text, const char *labels, const char *want) {
    const TaskDef *d = task_find(task);
    ck_assert(d);
    size_t n = strlen(name);
    char *p = n > 4 && strcmp(name + n - 4, ".bz2") == 0 ? write_bz2(name, text) : write_tmp(name, text);
    char *lp = labels ? write_tmp("labels.lst", labels) : NULL;
    TaskSet s;
    int rc = taskset_load_files(d, p, lp, &s);
    ck_assert_msg(rc == -1, "%s: %s loaded though malformed", task, name);
    ck_assert_msg(strstr(err_get(), want), "%s: error '%s' lacks '%s'", task, err_get(), want);
    ck_assert_msg(strstr(err_get(), tmp), "%s: error '%s' names no file", task, err_get());
    ck_assert_msg(!strchr(err_get(), '\n'), "error is not one line: %s", err_get());
    free(p);
    free(lp);
}

static TaskSet load_ok(const char *task, const char *text, const char *labels) {
    const TaskDef *d = task_find(task);
    ck_assert(d);
    char *p = strcmp(task, "hellaswag") == 0 || strcmp(task, "hellaswag_llamacpp") == 0 ? write_bz2("ok.txt.bz2", text)
                                                                                      : write_tmp("ok.jsonl", text);
    char *lp = labels ? write_tmp("ok-labels.lst", labels) : NULL;
    TaskSet s;
    ck_assert_msg(taskset_load_files(d, p, lp, &s) == 0, "%s: %s", task, err_get());
    free(p);
    free(lp);
    return s;
}

static const char *ARC_OK =
    "{\"id\":\"a\",\"question\":{\"stem\":\"Why?\",\"choices\":[{\"text\":\"x\",\"label\":\"A\"},"
    "{\"text\":\"y\",\"label\":\"B\"},{\"text\":\"zz\",\"label\":\"C\"}]},\"answerKey\":\"C\"}\n"
    "\n"
    "{\"id\":\"b\",\"question\":{\"stem\":\"Q2\",\"choices\":[{\"text\":\"\\u00e9t\\u00e9\",\"label\":\"1\"},"
    "{\"text\":\"b\",\"label\":\"2\"}]},\"answerKey\":\"1\"}\n";

START_TEST(test_prompts) {
    TaskSet s = load_ok("arc_easy", ARC_OK, NULL);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.items[0].ctx[0], "Question: Why?\nAnswer:");
    ck_assert_str_eq(s.items[0].cont[2], " zz");
    ck_assert_int_eq(s.items[0].gold, 2);
    ck_assert_int_eq(s.items[0].choice_len[2], 2);
    ck_assert_int_eq(s.items[1].line, 3);
    ck_assert_int_eq(s.items[1].choice_len[0], 3); /* "été": code points, like Python's len */
    taskset_free(&s);

    s = load_ok("openbookqa", "{\"question\":{\"stem\":\"Fog is near\",\"choices\":[{\"text\":\"a marsh\",\"label\":\"A\"},"
                              "{\"text\":\"a desert\",\"label\":\"B\"}]},\"answerKey\":\" B\"}\n", NULL);
    ck_assert_str_eq(s.items[0].ctx[1], "Fog is near");
    ck_assert_str_eq(s.items[0].cont[1], " a desert");
    ck_assert_int_eq(s.items[0].gold, 1);
    taskset_free(&s);

    s = load_ok("piqa", "{\"goal\":\"g\",\"sol1\":\"one \",\"sol2\":\"two\"}\n{\"goal\":\"h\",\"sol1\":\"a\",\"sol2\":\"b\"}\n",
                "1\n0\n");
    ck_assert_str_eq(s.items[0].ctx[0], "Question: g\nAnswer:");
    ck_assert_str_eq(s.items[0].cont[0], " one ");
    ck_assert_int_eq(s.items[0].gold, 1);
    ck_assert_int_eq(s.items[1].gold, 0);
    taskset_free(&s);

    s = load_ok("boolq", "{\"question\":\"is it\",\"title\":\"t\",\"answer\":true,\"passage\":\"P.\"}\n", NULL);
    ck_assert_str_eq(s.items[0].ctx[0], "P.\nQuestion: is it?\nAnswer:");
    ck_assert_str_eq(s.items[0].cont[0], " no");
    ck_assert_str_eq(s.items[0].cont[1], " yes");
    ck_assert_int_eq(s.items[0].gold, 1);
    taskset_free(&s);

    s = load_ok("winogrande",
                "{\"qID\":\"q\",\"sentence\":\"Sarah beat Maria so _ won the  cup. \",\"option1\":\"Sarah\","
                "\"option2\":\"Maria\",\"answer\":\"1\"}\n",
                "1\n");
    ck_assert_str_eq(s.items[0].ctx[0], "Sarah beat Maria so Sarah");
    ck_assert_str_eq(s.items[0].ctx[1], "Sarah beat Maria so Maria");
    ck_assert_str_eq(s.items[0].cont[0], " won the  cup.");
    ck_assert_str_eq(s.items[0].cont[1], " won the  cup.");
    ck_assert_int_eq(s.items[0].gold, 0);
    taskset_free(&s);

    const char *hs = "Roof: A man [step] is  on a [title] roof. he\n3\n is  wrap [x]ping.\nb\nc\nd\n"
                     "X: y\n0\ne1\ne2\ne3\ne4\n";
    s = load_ok("hellaswag", hs, NULL);
    ck_assert_int_eq(s.n, 2);
    /* strip; " [title]" -> ". "; "[...]" removed; "  " -> " " */
    ck_assert_str_eq(s.items[0].ctx[0], "Roof: A man is on a. roof. he");
    ck_assert_str_eq(s.items[0].cont[0], " is wrap ping.");
    ck_assert_int_eq(s.items[0].gold, 3);
    ck_assert_int_eq(s.items[1].line, 7);
    taskset_free(&s);
    s = load_ok("hellaswag_llamacpp", hs, NULL);
    ck_assert_str_eq(s.items[0].ctx[0], "Roof: A man [step] is  on a [title] roof. he");
    ck_assert_str_eq(s.items[0].cont[0], "  is  wrap [x]ping.");
    taskset_free(&s);
}
END_TEST

START_TEST(test_limit_and_table) {
    int n = 0;
    const TaskDef *t = task_table(&n);
    ck_assert_int_ge(n, 8);
    for (int i = 0; i < n; i++) ck_assert_ptr_eq(task_find(t[i].name), &t[i]);
    ck_assert_ptr_null(task_find("mmlu"));
    ck_assert(strstr(task_names(), "winogrande"));
    char *d = path_join(tmp, "arc_easy");
    ck_assert_int_eq(mkdir(d, 0755), 0);
    char *p = path_join(d, "ARC-Easy-Test.jsonl");
    FILE *fp = fopen(p, "w");
    fputs(ARC_OK, fp);
    fclose(fp);
    TaskSet s;
    ck_assert_int_eq(taskset_load(task_find("arc_easy"), tmp, 1, &s), 0);
    ck_assert_int_eq(s.n, 1);
    taskset_free(&s);
    ck_assert_int_eq(taskset_load(task_find("piqa"), tmp, 0, &s), -1); /* no piqa folder */
    ck_assert(strstr(err_get(), "piqa/valid.jsonl"));
    free(p);
    free(d);
}
END_TEST

START_TEST(test_bad_jsonl_common) {
    /* every JSON-lines loader: not JSON, not an object, empty file, NUL byte */
    const char *tasks[] = {"arc_easy", "arc_challenge", "openbookqa", "piqa", "winogrande", "boolq"};
    for (int i = 0; i < 6; i++) {
        expect_error(tasks[i], "bad.jsonl", "{\"a\": 1,}\n", "0\n", "bad.jsonl:1: bad JSON");
        expect_error(tasks[i], "bad.jsonl", "\n[1, 2]\n", "0\n", "bad.jsonl:2: not a JSON object");
        expect_error(tasks[i], "bad.jsonl", "", "", "bad.jsonl: no items");
        expect_error(tasks[i], "bad.jsonl", "{}\n", "0\n", "bad.jsonl:1: missing field");
    }
    expect_error("boolq", "nul.jsonl", "{\"question\":\"q\\u0000x\",\"answer\":true,\"passage\":\"p\"}\n", NULL,
                 "nul.jsonl:1: bad JSON");
}
END_TEST

START_TEST(test_bad_ai2) {
    expect_error("arc_easy", "arc.jsonl", "{\"question\":{\"stem\":\"s\"},\"answerKey\":\"A\"}\n", NULL,
                 "arc.jsonl:1: missing array \"question.choices\"");
    expect_error("arc_easy", "arc.jsonl",
                 "{\"question\":{\"stem\":\"s\",\"choices\":[{\"text\":\"x\",\"label\":\"A\"}]},\"answerKey\":\"A\"}\n",
                 NULL, "arc.jsonl:1: 1 choices (expected 2 to 8)");
    expect_error("arc_easy", "arc.jsonl",
                 "{\"question\":{\"stem\":\"s\",\"choices\":[{\"text\":\"x\",\"label\":\"A\"},{\"text\":\"y\",\"label\":\"B\"}]},"
                 "\"answerKey\":\"E\"}\n",
                 NULL, "arc.jsonl:1: answerKey \"E\" is not a choice label");
    expect_error("arc_challenge", "arc.jsonl",
                 "{\"question\":{\"stem\":\"s\",\"choices\":[{\"text\":\"x\",\"label\":\"A\"},{\"text\":\"y\",\"label\":\"A\"}]},"
                 "\"answerKey\":\"A\"}\n",
                 NULL, "arc.jsonl:1: two choices labelled \"A\"");
    expect_error("openbookqa", "obqa.jsonl",
                 "{\"question\":{\"stem\":\"s\",\"choices\":[{\"text\":3,\"label\":\"A\"},{\"text\":\"y\",\"label\":\"B\"}]},"
                 "\"answerKey\":\"A\"}\n",
                 NULL, "obqa.jsonl:1: not a string: \"text\"");
    expect_error("openbookqa", "obqa.jsonl", "{\"question\":{\"stem\":5,\"choices\":[]},\"answerKey\":\"A\"}\n", NULL,
                 "obqa.jsonl:1: not a string: \"question.stem\"");
}
END_TEST

START_TEST(test_bad_piqa) {
    const char *two = "{\"goal\":\"g\",\"sol1\":\"a\",\"sol2\":\"b\"}\n{\"goal\":\"g\",\"sol1\":\"a\",\"sol2\":\"b\"}\n";
    expect_error("piqa", "piqa.jsonl", two, "0\n", "labels.lst: 1 labels for 2 items");
    expect_error("piqa", "piqa.jsonl", two, "0\n2\n", "labels.lst:2: expected a label in [0, 1], got '2'");
    expect_error("piqa", "piqa.jsonl", two, "0\nyes\n", "labels.lst:2: expected a label in [0, 1]");
    expect_error("piqa", "piqa.jsonl", "{\"goal\":\"g\",\"sol1\":\"a\"}\n", "0\n", "piqa.jsonl:1: missing field \"sol2\"");
    /* a missing labels file */
    const TaskDef *d = task_find("piqa");
    char *p = write_tmp("p.jsonl", two), *lp = path_join(tmp, "absent.lst");
    TaskSet s;
    ck_assert_int_eq(taskset_load_files(d, p, lp, &s), -1);
    ck_assert(strstr(err_get(), "absent.lst"));
    free(p);
    free(lp);
}
END_TEST

START_TEST(test_bad_winogrande) {
    expect_error("winogrande", "w.jsonl", "{\"sentence\":\"no blank\",\"option1\":\"a\",\"option2\":\"b\",\"answer\":\"1\"}\n",
                 "1\n", "w.jsonl:1: sentence has no blank '_'");
    expect_error("winogrande", "w.jsonl", "{\"sentence\":\"a _ b\",\"option1\":\"a\",\"option2\":\"b\",\"answer\":\"3\"}\n",
                 "1\n", "w.jsonl:1: answer \"3\" is not \"1\" or \"2\"");
    expect_error("winogrande", "w.jsonl", "{\"sentence\":\"a _ b\",\"option1\":\"a\",\"option2\":\"b\",\"answer\":2}\n",
                 "1\n", "w.jsonl:1: not a string: \"answer\"");
    expect_error("winogrande", "w.jsonl", "{\"sentence\":\"a _ b\",\"option1\":\"a\",\"option2\":\"b\",\"answer\":\"2\"}\n",
                 "1\n", "labels.lst:1: label 1 disagrees with the answer");
    expect_error("winogrande", "w.jsonl", "{\"sentence\":\"a _ b\",\"option1\":\"a\",\"option2\":\"b\",\"answer\":\"2\"}\n",
                 "0\n", "labels.lst:1: expected a label in [1, 2]");
}
END_TEST

START_TEST(test_bad_boolq) {
    expect_error("boolq", "b.jsonl", "{\"question\":\"q\",\"passage\":\"p\",\"answer\":\"true\"}\n", NULL,
                 "b.jsonl:1: not a boolean: \"answer\"");
    expect_error("boolq", "b.jsonl", "{\"question\":\"q\",\"passage\":\"p\"}\n", NULL, "b.jsonl:1: missing field \"answer\"");
    expect_error("boolq", "b.jsonl", "{\"question\":\"q\",\"answer\":false}\n", NULL, "b.jsonl:1: missing field \"passage\"");
}
END_TEST

START_TEST(test_bad_hellaswag) {
    const char *tasks[] = {"hellaswag", "hellaswag_llamacpp"};
    for (int i = 0; i < 2; i++) {
        expect_error(tasks[i], "h.txt.bz2", "ctx\n1\na\nb\nc\nd\nctx2\n0\na\n", NULL,
                     "h.txt.bz2:7: incomplete item: 9 lines, not a multiple of 6");
        expect_error(tasks[i], "h.txt.bz2", "ctx\n4\na\nb\nc\nd\n", NULL, "h.txt.bz2:2: expected the gold ending 0-3, got '4'");
        expect_error(tasks[i], "h.txt.bz2", "ctx\n1\na\nb\nc\nd\n\n0\na\nb\nc\nd\n", NULL, "h.txt.bz2:7: empty context");
        expect_error(tasks[i], "h.txt.bz2", "", NULL, "h.txt.bz2: no items");
        /* not bzip2 at all */
        char *p = write_tmp("fake.txt.bz2", "ctx\n1\na\nb\nc\nd\n");
        TaskSet s;
        ck_assert_int_eq(taskset_load_files(task_find(tasks[i]), p, NULL, &s), -1);
        ck_assert_msg(strstr(err_get(), "fake.txt.bz2: not a bzip2 file"), "%s", err_get());
        free(p);
    }
    /* truncated bzip2 stream */
    char *p = write_bz2("cut.txt.bz2", "ctx\n1\na\nb\nc\nd\nctx\n1\na\nb\nc\nd\n");
    FILE *fp = fopen(p, "r+b");
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fclose(fp);
    ck_assert_int_eq(truncate(p, n / 2), 0);
    TaskSet s;
    ck_assert_int_eq(taskset_load_files(task_find("hellaswag"), p, NULL, &s), -1);
    ck_assert_msg(strstr(err_get(), "cut.txt.bz2: truncated bzip2 data"), "%s", err_get());
    /* a corrupt byte in the middle */
    p = (free(p), write_bz2("bad.txt.bz2", "ctx\n1\na\nb\nc\nd\nctx\n1\na\nb\nc\nd\n"));
    fp = fopen(p, "r+b");
    fseek(fp, 20, SEEK_SET);
    fputc(0x55, fp);
    fclose(fp);
    ck_assert_int_eq(taskset_load_files(task_find("hellaswag"), p, NULL, &s), -1);
    ck_assert_msg(strstr(err_get(), "bad.txt.bz2: "), "%s", err_get());
    free(p);
    /* a missing file */
    ck_assert_int_eq(taskset_load_files(task_find("hellaswag"), "/nonexistent/h.txt.bz2", NULL, &s), -1);
    ck_assert(strstr(err_get(), "/nonexistent/h.txt.bz2"));
}
END_TEST

/* forward_token_logprobs over a right-padded batch equals forward_nll of each sequence alone, and
 * loglik_score reproduces it through its batching. */
START_TEST(test_token_logprobs) {
    char *mp = shared_path("models/stories260K/stories260K.bin");
    if (!mp) return;
    Model *m = NULL;
    ck_assert_int_eq(model_open(mp, &m), 0);
    Forward *f = NULL;
    ck_assert_int_eq(forward_create(m, NULL, NULL, &f), 0);
    int32_t a[7] = {1, 40, 91, 300, 12, 7, 450}, b[4] = {1, 22, 33, 44};
    double nll_a = 0, nll_b = 0;
    int64_t cnt = 0;
    ck_assert_int_eq(forward_nll(f, a, 1, 7, NULL, &nll_a, &cnt), 0);
    ck_assert_int_eq(forward_nll(f, b, 1, 4, NULL, &nll_b, &cnt), 0);
    int32_t batch[14];
    memcpy(batch, a, sizeof a);
    memcpy(batch + 7, b, sizeof b);
    batch[11] = batch[12] = batch[13] = 5; /* padding */
    int from[2] = {1, 1}, to[2] = {7, 4};
    double lp[14];
    for (int i = 0; i < 14; i++) lp[i] = 99.0;
    ck_assert_int_eq(forward_token_logprobs(f, batch, 2, 7, from, to, lp), 0);
    double sa = 0, sb = 0;
    for (int t = 1; t < 7; t++) sa += lp[t];
    for (int t = 1; t < 4; t++) sb += lp[7 + t];
    ck_assert(lp[0] == 99.0 && lp[7] == 99.0 && lp[11] == 99.0); /* unscored entries untouched */
    ck_assert_msg(fabs(sa + nll_a) < 1e-4 && fabs(sb + nll_b) < 1e-4, "%g %g / %g %g", sa, -nll_a, sb, -nll_b);
    LoglikSeq seqs[2] = {{b, 4, 2}, {a, 7, 3}};
    double ll[2];
    ck_assert_int_eq(loglik_score(f, seqs, 2, 8, ll, NULL, NULL), 0); /* 8 tokens: one sequence a batch */
    double want_b = lp[9] + lp[10], want_a = lp[3] + lp[4] + lp[5] + lp[6];
    ck_assert(fabs(ll[0] - want_b) < 1e-5 && fabs(ll[1] - want_a) < 1e-5);
    from[0] = 0;
    ck_assert_int_eq(forward_token_logprobs(f, batch, 2, 7, from, to, lp), -1);
    seqs[0].from = 5;
    ck_assert_int_eq(loglik_score(f, seqs, 2, 8, ll, NULL, NULL), -1);
    forward_free(f);
    model_free(m);
    free(mp);
}
END_TEST

/* The task_scores table: put, list (acc_norm NULL round trip), replace, the accuracy front. */
START_TEST(test_store_scores) {
    char *db = path_join(tmp, "t.db");
    Store *st;
    ck_assert_int_eq(store_open(db, true, &st), 0);
    StoreRunNew r = {"r1", "name: r1\n", "{}", "m.bin", "ga", "params", 1, 1};
    int64_t run;
    ck_assert_int_eq(store_run_create(st, &r, &run), 0);
    int64_t id[3];
    double cost[3] = {0.9, 0.7, 0.5}, acc[3] = {0.30, 0.35, 0.20};
    for (int i = 0; i < 3; i++) {
        CandRow c = {0};
        c.run_id = run;
        c.subnet = "{}";
        c.summary = "x";
        c.hash = (uint64_t)i + 1;
        c.fitness = 10;
        c.cost_ratio = cost[i];
        c.reformed_fitness = c.eval_ppl = NAN;
        ck_assert_int_eq(store_cand_insert(st, &c), 0);
        id[i] = c.id;
        StoreTaskScore t = {"piqa", 100, acc[i], 0.04, 0.5, 0.05, 1.5};
        ck_assert_int_eq(store_task_put(st, c.id, &t), 0);
    }
    StoreTaskScore w = {"winogrande", 50, 0.52, 0.07, NAN, NAN, 0.3};
    ck_assert_int_eq(store_task_put(st, id[0], &w), 0);
    w.acc = 0.54;
    ck_assert_int_eq(store_task_put(st, id[0], &w), 0); /* replaces */
    StoreTaskScore *ts;
    int n;
    ck_assert_int_eq(store_task_list(st, id[0], &ts, &n), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(ts[0].task, "piqa");
    ck_assert_str_eq(ts[1].task, "winogrande");
    ck_assert(ts[1].acc == 0.54 && isnan(ts[1].acc_norm) && ts[0].acc_norm == 0.5);
    free(ts);
    /* front over (piqa acc up, cost down): 0.5 (0.20) and 0.7 (0.35) dominate nothing of each other;
     * 0.9 (0.30) is dominated by 0.7 (0.35, cheaper) */
    CandRow *rows;
    ck_assert_int_eq(store_front_task(st, run, "piqa", &rows, &n), 0);
    ck_assert_int_eq(n, 2);
    ck_assert(rows[0].id == id[1] && rows[1].id == id[2]);
    free(rows);
    ck_assert_int_eq(store_front_task(st, run, "boolq", &rows, &n), 0);
    ck_assert_int_eq(n, 0);
    free(rows);
    store_close(st);
    free(db);
}
END_TEST

int main(void) {
    Suite *s = suite_create("tasks");
    TCase *tc = tcase_create("tasks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_prompts);
    tcase_add_test(tc, test_limit_and_table);
    tcase_add_test(tc, test_bad_jsonl_common);
    tcase_add_test(tc, test_bad_ai2);
    tcase_add_test(tc, test_bad_piqa);
    tcase_add_test(tc, test_bad_winogrande);
    tcase_add_test(tc, test_bad_boolq);
    tcase_add_test(tc, test_bad_hellaswag);
    tcase_add_test(tc, test_token_logprobs);
    tcase_add_test(tc, test_store_scores);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
