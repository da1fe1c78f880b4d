/* Tests of `carve export DB ID`: a results database is built with the store API (one run on
 * stories260K, one candidate holding a heterogeneous subnet), then the CLI ($CARVE) exports the
 * candidate. The GGUF must be byte-identical to exporting the same subnet from a file (which
 * the round-trip tests check against in-place evaluation); bad IDs, a missing database and a
 * candidate whose subnet does not fit the run's model fail with one line and exit 2. */
#include <math.h>
#include <sys/wait.h>

#include "results/store.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/model/subnet.h"
#include "tests/testutil.h"

static char *dir, *db, *model_path, *calib_path;
static int64_t good_id, bad_id;

static const char *SUBNET =
    "{\"format\": \"carve-subnet/1\", \"model\": {\"n_layers\": 5, \"dim\": 64, \"n_heads\": 8, \"n_kv_heads\": 4, "
    "\"hidden_dim\": 172}, \"layers\": [{\"heads\": [0,1,4,5], \"channels\": [0,1,2,3,4,5,6,7,8,9,10,11]}, "
    "{\"attn\": false}, {\"heads\": [2,3], \"mlp\": false}, {}, {\"attn\": false, \"mlp\": false}]}";

/* Run a shell command line; returns its exit status, stderr in *err (malloc'ed). */
static int run(const char *cmd, char **err) {
    char *log = path_join(dir, "stderr.txt");
    char line[8192];
    snprintf(line, sizeof line, "%s 2>%s >/dev/null", cmd, log);
    int st = system(line);
    *err = read_file(log, NULL);
    free(log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define REQUIRE(cond)                                                           \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "setup failed: %s: %s\n", #cond, err_get());        \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

static void setup(void) {
    const char *base = getenv("CARVE_TEST_TMP");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/export_db.XXXXXX", base ? base : "/tmp");
    REQUIRE(mkdtemp(tmpl) != NULL);
    dir = xstrdup(tmpl);
    db = path_join(dir, "runs.sqlite");
    Store *st;
    REQUIRE(store_open(db, true, &st) == 0);
    char settings[4096];
    snprintf(settings, sizeof settings, "{\"calibration\": {\"text\": \"%s\", \"n\": 8, \"len\": 128, \"seed\": 3}}",
             calib_path);
    StoreRunNew r = {"r1", "name: r1\n", settings, model_path, "ga", "params", 1, 1};
    int64_t run;
    REQUIRE(store_run_create(st, &r, &run) == 0);
    CandRow c = {0};
    c.run_id = run;
    c.subnet = (char *)SUBNET;
    c.summary = "x";
    c.hash = 1;
    c.fitness = 10;
    c.reformed_fitness = c.eval_ppl = NAN;
    REQUIRE(store_cand_insert(st, &c) == 0);
    good_id = c.id;
    /* a candidate written for a 6-layer model */
    c.subnet = "{\"format\": \"carve-subnet/1\", \"model\": {\"n_layers\": 6, \"dim\": 64, \"n_heads\": 8, "
               "\"n_kv_heads\": 4, \"hidden_dim\": 172}, \"layers\": [{},{},{},{},{},{}]}";
    c.hash = 2;
    REQUIRE(store_cand_insert(st, &c) == 0);
    bad_id = c.id;
    store_close(st);
    char *sub = path_join(dir, "subnet.json");
    REQUIRE(write_file_atomic(sub, SUBNET, strlen(SUBNET)) == 0);
    free(sub);
}

START_TEST(test_export_from_db) {
    const char *carve = getenv("CARVE");
    char cmd[4096], *err;
    snprintf(cmd, sizeof cmd, "%s export %s %lld --format gguf --out %s/db.gguf --no-reform", carve, db,
             (long long)good_id, dir);
    ck_assert_msg(run(cmd, &err) == 0, "%s", err);
    free(err);
    snprintf(cmd, sizeof cmd, "%s export --model %s --subnet %s/subnet.json --format gguf --out %s/file.gguf --no-reform",
             carve, model_path, dir, dir);
    ck_assert_msg(run(cmd, &err) == 0, "%s", err);
    free(err);
    size_t na, nb;
    char *pa = path_join(dir, "db.gguf"), *pb = path_join(dir, "file.gguf");
    char *a = read_file(pa, &na), *b = read_file(pb, &nb);
    ck_assert(a && b);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(a, b, na), 0);
    free(a); free(b); free(pa); free(pb);
    /* and an HF directory from the same candidate */
    snprintf(cmd, sizeof cmd, "%s export %s %lld --format hf --out %s/db.hf --no-reform", carve, db, (long long)good_id, dir);
    ck_assert_msg(run(cmd, &err) == 0, "%s", err);
    free(err);
    char *hf = path_join(dir, "db.hf");
    Model *m;
    ck_assert_msg(model_open(hf, &m) == 0, "%s", err_get());
    ck_assert_int_eq(m->layers[0].n_heads, 4);
    ck_assert_int_eq(m->layers[0].hidden_dim, 12);
    ck_assert_int_eq(m->layers[1].n_heads, 0);
    ck_assert_int_eq(m->layers[2].hidden_dim, 0);
    ck_assert_int_eq(m->layers[3].n_heads, 8);
    ck_assert_ptr_nonnull(m->tokenizer);
    model_free(m);
    free(hf);
}
END_TEST

/* Without --no-reform the candidate is reformed with the run's calibration settings: the same
 * file as exporting the subnet file with those settings given explicitly. */
START_TEST(test_export_db_reformed) {
    const char *carve = getenv("CARVE");
    char cmd[8192], *err;
    snprintf(cmd, sizeof cmd, "%s export %s %lld --format gguf --out %s/dbr.gguf --cache-dir %s/cache", carve, db,
             (long long)good_id, dir, dir);
    ck_assert_msg(run(cmd, &err) == 0, "%s", err);
    free(err);
    snprintf(cmd, sizeof cmd,
             "%s export --model %s --subnet %s/subnet.json --calib %s --n 8 --len 128 --seed 3 --cache-dir %s/cache "
             "--format gguf --out %s/filer.gguf", carve, model_path, dir, calib_path, dir, dir);
    ck_assert_msg(run(cmd, &err) == 0, "%s", err);
    free(err);
    size_t na, nb, nc;
    char *pa = path_join(dir, "dbr.gguf"), *pb = path_join(dir, "filer.gguf"), *pc = path_join(dir, "db.gguf");
    char *a = read_file(pa, &na), *b = read_file(pb, &nb), *c = read_file(pc, &nc);
    ck_assert(a && b);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(a, b, na), 0);
    ck_assert(!c || nc != na || memcmp(a, c, na) != 0); /* differs from the unreformed export */
    free(a); free(b); free(c); free(pa); free(pb); free(pc);
}
END_TEST

static void expect_fail(const char *args, const char *pattern) {
    char cmd[4096], *err;
    snprintf(cmd, sizeof cmd, "%s export %s", getenv("CARVE"), args);
    int rc = run(cmd, &err);
    ck_assert_msg(rc == 2, "%s: exit %d, stderr %s", args, rc, err);
    ck_assert_msg(strstr(err, pattern) != NULL, "%s: stderr '%s' lacks '%s'", args, err, pattern);
    ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
    free(err);
}

START_TEST(test_export_db_errors) {
    char args[4096], want[4096];
    snprintf(args, sizeof args, "%s 999 --format gguf --out %s/x.gguf", db, dir);
    snprintf(want, sizeof want, "%s: no candidate with id 999", db);
    expect_fail(args, want);
    snprintf(args, sizeof args, "%s abc --format hf --out %s/x", db, dir);
    expect_fail(args, "candidate ID must be a positive integer, got 'abc'");
    snprintf(args, sizeof args, "%s %lld --format gguf --out %s/x.gguf", db, (long long)bad_id, dir);
    snprintf(want, sizeof want, "candidate %lld: subnet has 6 layers, the model has 5", (long long)bad_id);
    expect_fail(args, want);
    snprintf(args, sizeof args, "%s/none.sqlite 1 --format gguf --out %s/x.gguf", dir, dir);
    expect_fail(args, "none.sqlite");
    char *x = path_join(dir, "x.gguf"), *xd = path_join(dir, "x");
    ck_assert(!path_exists(x) && !path_exists(xd));
    free(x); free(xd);
}
END_TEST

int main(void) {
    model_path = shared_path("models/stories260K/stories260K.bin");
    calib_path = shared_path("data/tinystories/calib.txt");
    if (!model_path || !calib_path || !getenv("CARVE")) {
        printf("stories260K or $CARVE absent\n");
        return 77;
    }
    setup();
    Suite *s = suite_create("export_db");
    TCase *tc = tcase_create("db");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_export_from_db);
    tcase_add_test(tc, test_export_db_errors);
    tcase_add_test(tc, test_export_db_reformed);
    suite_add_tcase(s, tc);
    int rc = run_suite(s);
    free(db); free(dir); free(model_path); free(calib_path);
    return rc;
}
