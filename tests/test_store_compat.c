/* test_store_compat — results/store on a database of an older carve: one without the candidates'
 * stage columns (fit_stage, fit_windows) opens, reads them as 0 and gains them on the first write. */
#include <math.h>
#include <sqlite3.h>

#include "results/store.h"
#include "tests/testutil.h"

/* A database of a carve without the stage columns opens, reads them as 0 and gains them on the
 * first candidate written. */
START_TEST(test_store_old_database) {
    char *dir = test_tmpdir("olddb");
    char *p = path_join(dir, "old.db");
    Store *st;
    ck_assert_int_eq(store_open(p, true, &st), 0);
    StoreRunNew nr = {"r", "yaml", "{}", "mem", "ga", "params", 1, 1};
    int64_t run;
    ck_assert_int_eq(store_run_create(st, &nr, &run), 0);
    CandRow row = {.run_id = run, .hash = 7, .subnet = "{}", .summary = "", .fitness = 2.5, .fit_stage = 1,
                   .fit_windows = 4, .reformed_fitness = NAN, .eval_ppl = NAN};
    ck_assert_int_eq(store_cand_insert(st, &row), 0);
    store_close(st);
    sqlite3 *h;
    ck_assert_int_eq(sqlite3_open(p, &h), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(h, "ALTER TABLE candidates DROP COLUMN fit_stage; "
                                     "ALTER TABLE candidates DROP COLUMN fit_windows", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    ck_assert_int_eq(store_open(p, false, &st), 0);
    CandRow got;
    bool found;
    ck_assert_int_eq(store_cand_get(st, row.id, false, &got, &found), 0);
    ck_assert(found && got.fitness == 2.5 && got.fit_stage == 0 && got.fit_windows == 0);
    row.hash = 8;
    ck_assert_msg(store_cand_insert(st, &row) == 0, "%s", err_get());
    ck_assert_int_eq(store_cand_set_stage(st, row.id, 2.0, 2, 12, 0.5), 0);
    ck_assert_int_eq(store_cand_get(st, row.id, false, &got, &found), 0);
    ck_assert(found && got.fitness == 2.0 && got.fit_stage == 2 && got.fit_windows == 12);
    store_close(st);
    free(p), free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("store_compat");
    TCase *tc = tcase_create("store");
    tcase_add_test(tc, test_store_old_database);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
