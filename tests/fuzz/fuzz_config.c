/* fuzz_config — the YAML search configuration (search/config.c, config_parse) and the JSON
 * settings of every run it yields (config_to_json). Seeds: the YAML files in configs/ of the
 * tree (when run from its root) and a few small batches. */
#include <glob.h>

#include "search/config.h"
#include "tests/fuzz/fuzz.h"

static void fuzz_init(void) {}

static void fuzz_seeds(const char *dir) {
    const char *own[] = {
        "model: m.bin\ncalibration: {text: c.txt, n: 4, len: 32}\neval: {text: v.txt, seq_len: 64}\n"
        "budget: {targets: [0.7, 0.5], tolerance: 0.03}\nalgorithm: {kind: ga, population: 6, generations: 3, "
        "parents: 2, mutations: 2, crossovers: 2, mutation_prob: [0.5, 0.2]}\nbaselines: {random: same}\n",
        "model: m.bin\nruns:\n  - name: a\n    algorithm: {kind: nsga2}\n  - name: b\n    budget: {kind: flops}\n"
        "final: {rerank: 2, tasks: [arc_easy, piqa], tasks_limit: 5}\n",
        "method: carve-ga\nspace: {heads: true, channels: false, layers: true, attn_ratio: [0.2, 1]}\n"
        "fitness: {reform: true}\noutput: x.db\n",
    };
    char name[32];
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        snprintf(name, sizeof name, "own%zu.yaml", i);
        fuzz_seed(dir, name, own[i], strlen(own[i]));
    }
    glob_t g;
    if (glob("configs/*.yaml", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *b = strrchr(g.gl_pathv[i], '/');
            fuzz_seed_from(dir, b ? b + 1 : g.gl_pathv[i], g.gl_pathv[i]);
        }
        globfree(&g);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ConfigBatch b;
    if (config_parse((const char *)data, size, "fuzz.yaml", &b) != 0) return 0;
    for (int i = 0; i < b.n_runs; i++) free(config_to_json(&b.runs[i]));
    config_batch_free(&b);
    return 0;
}
