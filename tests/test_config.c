/* Unit tests for search/config: the YAML search configuration — defaults, run-level overrides,
 * and the exact one-line messages for unknown keys, wrong types, out-of-range values,
 * missing files and YAML syntax errors. */
#include "reform/importance.h"
#include "search/config.h"
#include "tests/testutil.h"

static void expect_error(const char *yaml, const char *message) {
    ConfigBatch b;
    ck_assert_int_eq(config_parse(yaml, strlen(yaml), "configs/x.yaml", &b), -1);
    ck_assert_str_eq(err_get(), message);
}

/* A key written to the settings JSON only when set: config `set` parses and its JSON holds `has`
 * (the value); config `unset` (the default value) parses and its JSON lacks `key`. */
static void json_if_set(const char *set, const char *has, const char *unset, const char *key) {
    ConfigBatch b;
    ck_assert_msg(config_parse(set, strlen(set), "t.yaml", &b) == 0, "%s", err_get());
    char *js = config_to_json(&b.runs[0]);
    ck_assert_msg(strstr(js, has), "%s", js);
    free(js);
    config_batch_free(&b);
    ck_assert_msg(config_parse(unset, strlen(unset), "t.yaml", &b) == 0, "%s", err_get());
    js = config_to_json(&b.runs[0]);
    ck_assert_msg(!strstr(js, key), "%s", js);
    free(js);
    config_batch_free(&b);
}

START_TEST(test_defaults_and_overrides) {
    const char *y = "model: m.bin\n"
                    "budget:\n"
                    "  targets: [0.9, 0.7]\n"
                    "algorithm:\n"
                    "  population: 20\n"
                    "  parents: 4\n"
                    "  mutations: 10\n"
                    "  crossovers: 6\n"
                    "  mutation_prob: [0.5, 0.2]\n"
                    "runs:\n"
                    "  - name: a\n"
                    "  - name: b\n"
                    "    algorithm: {kind: nsga2, seed: 9}\n"
                    "    budget: {kind: flops}\n";
    ConfigBatch b;
    ck_assert_msg(config_parse(y, strlen(y), "t.yaml", &b) == 0, "%s", err_get());
    ck_assert_int_eq(b.n_runs, 2);
    const SearchConfig *a = &b.runs[0], *c = &b.runs[1];
    ck_assert_str_eq(a->name, "a");
    ck_assert_str_eq(a->model, "m.bin");
    ck_assert_int_eq(a->n_targets, 2);
    ck_assert_int_eq(a->algo.kind, ALGO_GA);
    ck_assert_int_eq(a->algo.population, 20);
    ck_assert_double_eq(a->algo.mutation_prob[0], 0.5);
    ck_assert_double_eq(a->algo.crossover_prob[1], 0.1); /* the paper's default */
    ck_assert_int_eq(a->budget_kind, 0);
    /* b overrides only what it names */
    ck_assert_int_eq(c->algo.kind, ALGO_NSGA2);
    ck_assert_int_eq((int)c->algo.seed, 9);
    ck_assert_int_eq(c->algo.population, 20);
    ck_assert_int_eq(c->budget_kind, 1);
    ck_assert_int_eq(c->n_targets, 2);
    ck_assert_str_eq(c->output, "t.db");
    ck_assert_int_eq(a->final_rerank, 0); /* off unless asked */
    ck_assert_int_eq(a->final_rerank_windows, 128);
    char *js = config_to_json(c);
    ck_assert_ptr_nonnull(strstr(js, "\"kind\":\"nsga2\""));
    free(js);
    config_batch_free(&b);
    /* no runs: one run named after the file */
    const char *y2 = "model: m.bin\n";
    ck_assert_int_eq(config_parse(y2, strlen(y2), "dir/small.yaml", &b), 0);
    ck_assert_int_eq(b.n_runs, 1);
    ck_assert_str_eq(b.runs[0].name, "small");
    ck_assert_int_eq(b.runs[0].algo.population, 100); /* the paper's schedule */
    ck_assert_int_eq(b.runs[0].algo.parents, 10);
    ck_assert_int_eq(b.runs[0].algo.mutations, 50);
    ck_assert_int_eq(b.runs[0].algo.crossovers, 30);
    config_batch_free(&b);
}
END_TEST

/* parallel.group: how the MPI ranks share the work, never a result: parsed with its place in
 * the file, overridable per run, and not part of the resume settings. */
START_TEST(test_parallel_group) {
    const char *y = "model: m.bin\n"
                    "parallel: {group: 4}\n"
                    "runs:\n"
                    "  - name: a\n"
                    "  - name: b\n"
                    "    parallel:\n"
                    "      group: 0\n";
    ConfigBatch b;
    ck_assert_msg(config_parse(y, strlen(y), "t.yaml", &b) == 0, "%s", err_get());
    ck_assert_int_eq(b.runs[0].parallel_group, 4);
    ck_assert_int_eq(b.runs[0].parallel_group_at.line, 2);
    ck_assert_int_eq(b.runs[0].parallel_group_at.col, 19);
    ck_assert_int_eq(b.runs[1].parallel_group, 0);
    ck_assert_int_eq(b.runs[1].parallel_group_at.line, 7);
    ck_assert_int_eq(b.runs[1].parallel_group_at.col, 14);
    char *js = config_to_json(&b.runs[0]);
    ck_assert_ptr_null(strstr(js, "parallel"));
    SearchConfig d;
    config_defaults(&d);
    snprintf(d.name, sizeof d.name, "a");
    snprintf(d.model, sizeof d.model, "m.bin");
    snprintf(d.file, sizeof d.file, "%s", b.runs[0].file);
    char *jd = config_to_json(&d);
    ck_assert_str_eq(js, jd); /* the same settings as without the key */
    free(js), free(jd);
    ck_assert_int_eq(d.parallel_group, 1); /* candidate-parallel unless asked */
    config_batch_free(&b);
    expect_error("parallel:\n  group: -1\n", "configs/x.yaml:2:10: 'group' in 'parallel' must be in [0, 1048576], got -1");
    expect_error("parallel:\n  group: two\n", "configs/x.yaml:2:10: 'group' in 'parallel' must be an integer, got 'two'");
    expect_error("parallel: 2\n", "configs/x.yaml:1:11: 'parallel' must be a mapping of keys");
}
END_TEST

START_TEST(test_unknown_key) {
    expect_error("model: m.bin\nalgorithm:\n  kind: ga\n  populaton: 10\n",
                 "configs/x.yaml:4:3: unknown key 'populaton' in 'algorithm'");
    expect_error("modle: m.bin\n", "configs/x.yaml:1:1: unknown key 'modle' in 'top level'");
    expect_error("runs:\n  - name: a\n    runs: []\n", "configs/x.yaml:3:5: unknown key 'runs' in 'runs'");
}
END_TEST

START_TEST(test_bad_type) {
    expect_error("algorithm:\n  population: many\n",
                 "configs/x.yaml:2:15: 'population' in 'algorithm' must be an integer, got 'many'");
    expect_error("space:\n  heads: maybe\n", "configs/x.yaml:2:10: 'heads' in 'space' must be true or false, got 'maybe'");
    expect_error("budget: 0.5\n", "configs/x.yaml:1:9: 'budget' must be a mapping of keys");
    expect_error("model: [a, b]\n", "configs/x.yaml:1:8: 'model' in 'top level' must be a string, got a list");
    expect_error("budget:\n  tolerance: abc\n", "configs/x.yaml:2:14: 'tolerance' in 'budget' must be a number, got 'abc'");
}
END_TEST

START_TEST(test_out_of_range) {
    expect_error("budget:\n  targets: [0.9, 1.5]\n",
                 "configs/x.yaml:2:18: 'targets' in 'budget' must be in (0, 1], got 1.5");
    expect_error("budget:\n  targets: [0, 0.5]\n", "configs/x.yaml:2:13: 'targets' in 'budget' must be in (0, 1], got 0");
    expect_error("budget:\n  targets: -0.2\n", "configs/x.yaml:2:12: 'targets' in 'budget' must be in (0, 1], got -0.2");
    expect_error("algorithm:\n  population: 1\n",
                 "configs/x.yaml:2:15: 'population' in 'algorithm' must be in [2, 100000], got 1");
    expect_error("space:\n  mlp_ratio: [0.8, 0.2]\n",
                 "configs/x.yaml:2:14: 'mlp_ratio' in 'space' must have min <= max, got [0.8, 0.2]");
    expect_error("algorithm:\n  population: 20\n",
                 "configs/x.yaml: run 'x': parents (10) + mutations (50) + crossovers (30) exceed population (20)");
    expect_error("runs:\n  - name: a\n  - name: a\n", "configs/x.yaml:3:5: run name 'a' is used twice");
    expect_error("runs:\n  - algorithm: {kind: ga}\n", "configs/x.yaml:2:5: run 1 has no 'name'");
    expect_error("final:\n  rerank: -1\n", "configs/x.yaml:2:11: 'rerank' in 'final' must be in [0, 100000], got -1");
    expect_error("final:\n  rerank_windows: 0\n",
                 "configs/x.yaml:2:19: 'rerank_windows' in 'final' must be in [1, 1048576], got 0");
    expect_error("final:\n  rerank: many\n", "configs/x.yaml:2:11: 'rerank' in 'final' must be an integer, got 'many'");
    expect_error("final:\n  rerank: 101\n", "configs/x.yaml: run 'x': final rerank (101) exceeds population (100)");
    expect_error("algorithm:\n  kind: nsga2\nfinal:\n  rerank: 4\n",
                 "configs/x.yaml: run 'x': final rerank applies to algorithm kind ga only (set it to 0 for nsga2)");
    expect_error("algorithm:\n  kind: cmaes\n", "configs/x.yaml:2:9: 'kind' in 'algorithm' must be ga or nsga2, got 'cmaes'");
}
END_TEST

/* fitness.kind / top_k / worst and selection.stages: values, messages, and the settings JSON (the new keys
 * appear only when set, so runs at their defaults resume databases of before). */
START_TEST(test_fitness_and_stages) {
    const char *y = "calibration: {n: 40}\n"
                    "fitness: {kind: kl, top_k: 64}\n"
                    "selection:\n"
                    "  stages: [{windows: 8, keep: 5}, {windows: 16, keep: 2}, {windows: 40}]\n";
    ConfigBatch b;
    ck_assert_msg(config_parse(y, strlen(y), "t.yaml", &b) == 0, "%s", err_get());
    const SearchConfig *c = &b.runs[0];
    ck_assert_int_eq(c->fitness_kind, FIT_KL);
    ck_assert_int_eq(c->fitness_top_k, 64);
    ck_assert_int_eq(c->n_stages, 3);
    ck_assert_int_eq(c->stage_windows[1], 16);
    ck_assert_int_eq(c->stage_keep[0], 5);
    ck_assert_int_eq(c->stage_keep[2], 0);
    char *js = config_to_json(c);
    ck_assert_ptr_nonnull(strstr(js, "\"fitness\":{\"reform\":false,\"kind\":\"kl\",\"top_k\":64}"));
    ck_assert_ptr_nonnull(strstr(js, "\"selection\":{\"stages\":[{\"windows\":8,\"keep\":5},{\"windows\":16,\"keep\":2},"
                                     "{\"windows\":40}]}"));
    free(js);
    config_batch_free(&b);
    ck_assert_int_eq(config_parse("model: m.bin\n", 13, "t.yaml", &b), 0);
    ck_assert_int_eq(b.runs[0].fitness_kind, FIT_PPL);
    ck_assert_int_eq(b.runs[0].n_stages, 0);
    js = config_to_json(&b.runs[0]);
    ck_assert_ptr_null(strstr(js, "\"kind\":\"ppl\""));
    ck_assert_ptr_null(strstr(js, "top_k"));
    ck_assert_ptr_null(strstr(js, "selection"));
    ck_assert_ptr_null(strstr(js, "worst"));
    ck_assert(b.runs[0].fitness_worst == 1);
    free(js);
    config_batch_free(&b);
    const char *w = "fitness: {kind: kl, worst: 0.25}\n";
    ck_assert_msg(config_parse(w, strlen(w), "t.yaml", &b) == 0, "%s", err_get());
    ck_assert(b.runs[0].fitness_worst == 0.25);
    js = config_to_json(&b.runs[0]);
    ck_assert_ptr_nonnull(strstr(js, "\"kind\":\"kl\",\"worst\":0.25"));
    free(js);
    config_batch_free(&b);
    expect_error("fitness: {worst: 0.5}\n", "configs/x.yaml: run 'x': fitness worst applies to kind kl only (the worst windows' "
                 "mean KL; set kind: kl or worst: 1)");
    expect_error("fitness: {kind: kl, worst: 0}\n", "configs/x.yaml: run 'x': fitness worst must be in (0, 1], got 0");
    expect_error("fitness: {kind: kl, worst: 1.5}\n",
                 "configs/x.yaml:1:28: 'worst' in 'fitness' must be in [0, 1], got 1.5");
    expect_error("fitness:\n  kind: nll\n", "configs/x.yaml:2:9: 'kind' in 'fitness' must be ppl or kl, got 'nll'");
    expect_error("fitness:\n  top_k: 0\n", "configs/x.yaml:2:10: 'top_k' in 'fitness' must be in [1, 1048576], got 0");
    expect_error("selection:\n  stages: 4\n",
                 "configs/x.yaml:2:11: 'stages' in 'selection' must be a list of 1 to 8 mappings {windows, keep}");
    expect_error("selection:\n  stages: [{windows: 4, keep: 2}, {windows: 8, kept: 1}]\n",
                 "configs/x.yaml:2:48: unknown key 'kept' in 'stage 2' of 'selection' (keys: windows, keep)");
    expect_error("selection:\n  stages: [{windows: 4}, {windows: 8}]\n",
                 "configs/x.yaml:2:12: 'stage 1' of 'selection' needs 'keep' (how many advance)");
    expect_error("selection:\n  stages: [{windows: 4, keep: 2}, {windows: 8, keep: 1}]\n",
                 "configs/x.yaml:2:35: 'keep' in the last stage: no stage follows it");
    expect_error("selection:\n  stages: [{windows: 8, keep: 2}, {windows: 8}]\n",
                 "configs/x.yaml:2:35: 'stage 2' of 'selection' must have more windows than the stage before (8 <= 8)");
    expect_error("selection:\n  stages: [{keep: 2}, {windows: 8}]\n",
                 "configs/x.yaml:2:12: 'stage 1' of 'selection' needs 'windows'");
    expect_error("calibration: {n: 16}\nselection:\n  stages: [{windows: 8, keep: 2}, {windows: 32}]\n",
                 "configs/x.yaml:3:11: run 'x': the last selection stage has 32 windows, calibration n only 16");
    expect_error("algorithm: {kind: nsga2}\nselection:\n  stages: [{windows: 8, keep: 2}, {windows: 16}]\n",
                 "configs/x.yaml:3:11: run 'x': selection stages apply to algorithm kind ga only");
}
END_TEST

/* space.levels: the value, the settings JSON only when set (0 keeps today's), and its messages. */
START_TEST(test_space_levels) {
    json_if_set("space: {levels: 8}\n", "\"mlp_ratio\":[0.0,1.0],\"levels\":8}", "space: {levels: 0}\n", "levels");
    expect_error("space:\n  levels: 1\n", "configs/x.yaml: run 'x': space levels must be 0 (off) or at least 2, got 1");
    expect_error("space:\n  levels: -2\n", "configs/x.yaml:2:11: 'levels' in 'space' must be in [0, 65536], got -2");
    expect_error("space: {levels: 4, layers: true, sublayers: false}\n",
                 "configs/x.yaml: run 'x': the level space skips sublayers, not whole layers (set layers: false, or "
                 "sublayers: true)");
}
END_TEST

/* space.importance: the method, the settings JSON only when not saliency, and a bad name. */
START_TEST(test_space_importance) {
    json_if_set("space: {importance: obs}\n", "\"mlp_ratio\":[0.0,1.0],\"importance\":\"obs\"}",
                "space: {importance: saliency}\n", "importance");
    expect_error("space:\n  importance: obd\n",
                 "configs/x.yaml:2:15: 'importance' in 'space' must be saliency or magnitude or flap or obs, got 'obd'");
}
END_TEST

/* algorithm.unit_bias: the value, the settings JSON only when set (0 keeps today's), and its messages. */
START_TEST(test_unit_bias) {
    json_if_set("algorithm: {unit_bias: 4}\n", "\"unit_bias\":4.0,\"seed\":1}", "algorithm: {unit_bias: 0}\n",
                "unit_bias");
    expect_error("algorithm:\n  unit_bias: -1\n",
                 "configs/x.yaml:2:14: 'unit_bias' in 'algorithm' must be in [0, 64], got -1");
    expect_error("space: {levels: 8}\nalgorithm: {unit_bias: 2}\n",
                 "configs/x.yaml: run 'x': algorithm unit_bias applies to the free space only (the level space keeps "
                 "units in importance order; set unit_bias: 0 or levels: 0)");
}
END_TEST

/* calibration.scramble: the value, the settings JSON only when set, and its range message. */
START_TEST(test_scramble) {
    json_if_set("calibration: {scramble: 0.25}\n", "\"seed\":1,\"scramble\":0.25}", "calibration: {scramble: 0}\n",
                "scramble");
    expect_error("calibration:\n  scramble: -0.1\n",
                 "configs/x.yaml:2:13: 'scramble' in 'calibration' must be in [0, 1], got -0.1");
}
END_TEST

/* space.core: the value, the settings JSON only when set, and its messages. */
START_TEST(test_core) {
    json_if_set("space: {core: 0.75}\n", "\"core\":0.75}", "space: {core: 0}\n", "core");
    expect_error("space:\n  core: 1.5\n", "configs/x.yaml:2:9: 'core' in 'space' must be in [0, 1], got 1.5");
    expect_error("space: {levels: 8, core: 0.5}\n",
                 "configs/x.yaml: run 'x': space core applies to the free space only (the level space keeps units in "
                 "importance order; set core: 0 or levels: 0)");
}
END_TEST

START_TEST(test_syntax_error) {
    expect_error("model: m.bin\nbudget: {targets: [0.5\n",
                 "configs/x.yaml:3:1: YAML syntax error: did not find expected ',' or ']'");
}
END_TEST

START_TEST(test_missing_files) {
    char *dir = test_tmpdir("cfg");
    char *yaml = path_join(dir, "c.yaml"), *text = path_join(dir, "t.txt");
    ck_assert_int_eq(write_file_atomic(text, "once upon a time", 16), 0);
    char buf[4096], want[8192];
    snprintf(buf, sizeof buf, "model: %s/nope.bin\ncalibration:\n  text: %s\neval:\n  text: %s\n", dir, text, text);
    ck_assert_int_eq(write_file_atomic(yaml, buf, strlen(buf)), 0);
    ConfigBatch b;
    ck_assert_int_eq(config_load(yaml, &b), -1);
    snprintf(want, sizeof want, "%s:1:8: model '%s/nope.bin' not found", yaml, dir);
    ck_assert_str_eq(err_get(), want);
    /* the default model path, absent from the file, is named with a hint */
    snprintf(buf, sizeof buf, "calibration:\n  text: %s\n", text);
    ck_assert_int_eq(write_file_atomic(yaml, buf, strlen(buf)), 0);
    if (!path_exists("models/stories260K/stories260K.bin")) {
        ck_assert_int_eq(config_load(yaml, &b), -1);
        snprintf(want, sizeof want, "%s: model 'models/stories260K/stories260K.bin' not found (run 'make models')",
                 yaml);
        ck_assert_str_eq(err_get(), want);
    }
    /* a missing calibration text */
    snprintf(buf, sizeof buf, "model: %s\ncalibration:\n  text: %s/none.txt\n", text, dir);
    ck_assert_int_eq(write_file_atomic(yaml, buf, strlen(buf)), 0);
    ck_assert_int_eq(config_load(yaml, &b), -1);
    snprintf(want, sizeof want, "%s:3:9: calibration text '%s/none.txt' not found", yaml, dir);
    ck_assert_str_eq(err_get(), want);
    /* a missing config file */
    char *none = path_join(dir, "none.yaml");
    ck_assert_int_eq(config_load(none, &b), -1);
    snprintf(want, sizeof want, "%s: cannot read the configuration (No such file or directory)", none);
    ck_assert_str_eq(err_get(), want);
    free(none), free(yaml), free(text), free(dir);
}
END_TEST

START_TEST(test_shipped_configs_parse) {
    const char *files[] = {"configs/stories260k.yaml", "configs/ga.yaml", "configs/nsga2.yaml", "configs/llama2-7b.yaml"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t len;
        char *t = read_file(files[i], &len);
        ck_assert_msg(t != NULL, "%s missing", files[i]);
        ConfigBatch b;
        ck_assert_msg(config_parse(t, len, files[i], &b) == 0, "%s", err_get());
        config_batch_free(&b);
        free(t);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_defaults_and_overrides);
    tcase_add_test(tc, test_parallel_group);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_bad_type);
    tcase_add_test(tc, test_out_of_range);
    tcase_add_test(tc, test_syntax_error);
    tcase_add_test(tc, test_fitness_and_stages);
    tcase_add_test(tc, test_space_levels);
    tcase_add_test(tc, test_unit_bias);
    tcase_add_test(tc, test_core);
    tcase_add_test(tc, test_scramble);
    tcase_add_test(tc, test_space_importance);
    tcase_add_test(tc, test_missing_files);
    tcase_add_test(tc, test_shipped_configs_parse);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
