/* store — the SQLite results database (see store.h). The schema below is the documentation of
 * the file format: comments inside each CREATE statement are kept by SQLite, so
 * `sqlite3 DB .schema` prints them. Every statement is prepared, bound and checked here.
 * Size: over 600 lines because the schema and every statement on it stay in one file — the one
 * place that knows the database format. */
#include "results/store.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include "runtime/base/util.h"

#define CARVE_APP_ID 0x63727665 /* 'crve' */

#define TASKS_TABLE                                                                                              \
    "CREATE TABLE IF NOT EXISTS task_scores (\n"                                                                  \
    "  candidate_id    INTEGER NOT NULL REFERENCES candidates(id),\n"                                          \
    "  task            TEXT NOT NULL,     -- carve tasks name (arc_easy, hellaswag, ...)\n"                     \
    "  items           INTEGER NOT NULL,  -- items scored (final.tasks_limit or the whole task)\n"             \
    "  acc             REAL NOT NULL,\n"                                                                       \
    "  acc_stderr      REAL NOT NULL,\n"                                                                       \
    "  acc_norm        REAL,              -- NULL where the harness reports no acc_norm\n"                     \
    "  acc_norm_stderr REAL,\n"                                                                                \
    "  seconds         REAL NOT NULL,\n"                                                                       \
    "  PRIMARY KEY (candidate_id, task)\n"                                                                      \
    ");\n"

/* Columns of staged selection (config selection.stages); a database of an older carve gains them
 * (ALTER TABLE) when it is first written to, and reads as NULL until then. */
#define STAGE_COL_STAGE "fit_stage INTEGER /* selection stage (1 = first) whose windows fitness was measured on */"
#define STAGE_COL_WINDOWS "fit_windows INTEGER /* calibration windows of forward passes spent on the fitness, all stages */"
#define STAGE_COLS "  " STAGE_COL_STAGE ",\n  " STAGE_COL_WINDOWS ",\n"

static const char SCHEMA[] =
    "\n"
    "-- Identifies a carve database (application_id 0x63727665 = 'crve' is also set).\n"
    "CREATE TABLE IF NOT EXISTS meta (\n"
    "  key   TEXT PRIMARY KEY,\n"
    "  value TEXT NOT NULL\n"
    ");\n"
    "\n"
    "-- One row per search run (a run of the YAML batch).\n"
    "CREATE TABLE IF NOT EXISTS runs (\n"
    "  id              INTEGER PRIMARY KEY,\n"
    "  name            TEXT NOT NULL UNIQUE,\n"
    "  config          TEXT NOT NULL,     -- the YAML file's text\n"
    "  settings        TEXT NOT NULL,     -- the run's effective settings as JSON (compared on resume)\n"
    "  model_path      TEXT NOT NULL,\n"
    "  model_identity  TEXT NOT NULL,     -- Model.identity as 16 hex digits\n"
    "  seed            INTEGER NOT NULL,  -- algorithm seed\n"
    "  algorithm       TEXT NOT NULL,     -- 'ga' | 'nsga2'\n"
    "  budget_kind     TEXT NOT NULL,     -- 'params' | 'flops'\n"
    "  status          TEXT NOT NULL,     -- 'running' | 'done' | 'failed'\n"
    "  last_generation INTEGER NOT NULL DEFAULT -1, -- last committed generation\n"
    "  started_at      REAL NOT NULL,\n"
    "  finished_at     REAL\n"
    ");\n"
    "\n"
    "-- Every evaluated subnet, once per run (identical subnets are never evaluated twice:\n"
    "-- (run_id, hash) is unique and doubles as the fitness cache across restarts).\n"
    "CREATE TABLE IF NOT EXISTS candidates (\n"
    "  id            INTEGER PRIMARY KEY,\n"
    "  run_id        INTEGER NOT NULL REFERENCES runs(id),\n"
    "  generation    INTEGER NOT NULL,  -- generation that first evaluated it; -1 = random baseline\n"
    "  hash          TEXT NOT NULL,     -- subnet_hash of the canonical subnet, 16 hex digits\n"
    "  subnet        TEXT NOT NULL,     -- subnet_to_json (the carve-subnet/1 file format)\n"
    "  summary       TEXT NOT NULL,     -- per layer \"heads/channels\", '-' = sublayer skipped\n"
    "  params        INTEGER NOT NULL,  -- total parameters (cost_of)\n"
    "  flops         REAL NOT NULL,     -- FLOPs per token at the calibration length\n"
    "  params_ratio  REAL NOT NULL,     -- kept share of the dense non-embedding parameters\n"
    "  cost_ratio    REAL NOT NULL,     -- kept share in the run's budget kind (params or FLOPs)\n"
    "  fitness       REAL NOT NULL,     -- calibration perplexity, or mean KL from the dense model (fitness.kind); lower is better\n"
    "  reformed      INTEGER NOT NULL DEFAULT 0, -- 1 when eval_ppl/reformed_fitness were measured after reformation\n"
    "  reformed_fitness REAL,           -- the fitness on all calibration windows after reformation (final step)\n"
    "  eval_ppl      REAL,              -- held-out perplexity (final step), NULL = not evaluated\n"
    "  eval_seconds  REAL NOT NULL,     -- time to compute fitness\n"
    STAGE_COLS
    "  UNIQUE (run_id, hash)\n"
    ");\n"
    "\n"
    "-- The population of each committed generation (ga: per budget; nsga2: budget = -1).\n"
    "CREATE TABLE IF NOT EXISTS population (\n"
    "  run_id       INTEGER NOT NULL REFERENCES runs(id),\n"
    "  budget       INTEGER NOT NULL,   -- index into the run's targets, -1 for nsga2\n"
    "  generation   INTEGER NOT NULL,\n"
    "  slot         INTEGER NOT NULL,\n"
    "  candidate_id INTEGER NOT NULL REFERENCES candidates(id),\n"
    "  PRIMARY KEY (run_id, budget, generation, slot)\n"
    ");\n"
    "\n"
    "-- What the final step reported per budget: role 'best' (search result), 'init' (importance-\n"
    "-- initialised subnet), 'random' (best of the random baseline), 'front' (nsga2 front member).\n"
    "CREATE TABLE IF NOT EXISTS finals (\n"
    "  run_id       INTEGER NOT NULL REFERENCES runs(id),\n"
    "  budget       INTEGER NOT NULL,   -- index into targets; -1 for front members\n"
    "  target       REAL,               -- the budget ratio\n"
    "  role         TEXT NOT NULL,\n"
    "  candidate_id INTEGER NOT NULL REFERENCES candidates(id),\n"
    "  PRIMARY KEY (run_id, budget, role, candidate_id)\n"
    ");\n"
    "\n"
    "-- The random baseline's members per budget.\n"
    "CREATE TABLE IF NOT EXISTS baseline (\n"
    "  run_id       INTEGER NOT NULL REFERENCES runs(id),\n"
    "  budget       INTEGER NOT NULL,\n"
    "  slot         INTEGER NOT NULL,\n"
    "  candidate_id INTEGER NOT NULL REFERENCES candidates(id),\n"
    "  PRIMARY KEY (run_id, budget, slot)\n"
    ");\n"
    "\n"
    "-- Zero-shot accuracy of the final step's candidates (config final.tasks; carve tasks), measured\n"
    "-- on the model the held-out perplexity was measured on (reformed when final.reform).\n"
    TASKS_TABLE
    "\n"
    "-- Pareto front per run over (calibration fitness, cost ratio): candidates no other candidate\n"
    "-- of the same run is at least as good on both and better on one.\n"
    "CREATE VIEW IF NOT EXISTS pareto_front AS\n"
    "  SELECT c.* FROM candidates c\n"
    "  WHERE NOT EXISTS (SELECT 1 FROM candidates d\n"
    "                    WHERE d.run_id = c.run_id AND d.fitness <= c.fitness AND d.cost_ratio <= c.cost_ratio\n"
    "                      AND (d.fitness < c.fitness OR d.cost_ratio < c.cost_ratio));\n"
    "\n"
    "-- The same over held-out perplexity, among candidates the final step evaluated.\n"
    "CREATE VIEW IF NOT EXISTS pareto_front_eval AS\n"
    "  SELECT c.* FROM candidates c\n"
    "  WHERE c.eval_ppl IS NOT NULL\n"
    "    AND NOT EXISTS (SELECT 1 FROM candidates d\n"
    "                    WHERE d.run_id = c.run_id AND d.eval_ppl IS NOT NULL\n"
    "                      AND d.eval_ppl <= c.eval_ppl AND d.cost_ratio <= c.cost_ratio\n"
    "                      AND (d.eval_ppl < c.eval_ppl OR d.cost_ratio < c.cost_ratio));\n"
    "\n"
    "-- The final step's results side by side: per run and budget, the search's best subnet, the\n"
    "-- importance-initialised one and the best random one, with their held-out perplexity.\n"
    "CREATE VIEW IF NOT EXISTS final_results AS\n"
    "  SELECT r.name AS run, f.budget, f.target, f.role, c.id AS candidate_id, c.cost_ratio, c.fitness,\n"
    "         c.reformed, c.reformed_fitness, c.eval_ppl\n"
    "  FROM finals f JOIN runs r ON r.id = f.run_id JOIN candidates c ON c.id = f.candidate_id\n"
    "  ORDER BY r.id, f.budget, f.role, c.cost_ratio DESC;\n"
    "";

struct Store {
    sqlite3 *db;
    char *path;
    bool stage_cols;  /* candidates has fit_stage / fit_windows */
};

static int db_fail(Store *st, const char *what) {
    return err_set("%s: %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

static double wall_time(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

static int exec(Store *st, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set("%s: %s", st->path, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *prep(Store *st, const char *sql) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        db_fail(st, "prepare");
        return NULL;
    }
    return s;
}

/* Run a statement that returns no rows; finalizes it. */
static int step_done(Store *st, sqlite3_stmt *s, const char *what) {
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_DONE ? 0 : db_fail(st, what);
    sqlite3_finalize(s);
    return ret;
}

static void hex64(uint64_t v, char out[17]) { snprintf(out, 17, "%016" PRIx64, v); }

static int scalar_int(Store *st, const char *sql, int64_t *out) {
    sqlite3_stmt *s = prep(st, sql);
    if (!s) return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : db_fail(st, sql);
}

int store_open(const char *path, bool create, Store **out) {
    *out = NULL;
    bool existed = path_exists(path);
    if (!existed && !create) return err_set("%s: no such database", path);
    if (existed && path_is_dir(path)) return err_set("%s: is a directory, not a database", path);
    Store *st = xcalloc(1, sizeof *st);
    st->path = xstrdup(path);
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        err_set("%s: cannot open the database: %s", path, st->db ? sqlite3_errmsg(st->db) : "out of memory");
        store_close(st);
        return -1;
    }
    sqlite3_busy_timeout(st->db, 5000);
    int64_t app = 0, n_tables = 0;
    /* a file that is not SQLite fails here */
    if (scalar_int(st, "PRAGMA application_id", &app) ||
        scalar_int(st, "SELECT count(*) FROM sqlite_master", &n_tables)) {
        err_set("%s: not a carve database (not an SQLite file)", path);
        store_close(st);
        return -1;
    }
    if (app != CARVE_APP_ID && (n_tables > 0 || !create)) {
        err_set("%s: not a carve database", path);
        store_close(st);
        return -1;
    }
    if (exec(st, "PRAGMA journal_mode=WAL") || exec(st, "PRAGMA synchronous=NORMAL") ||
        exec(st, "PRAGMA foreign_keys=ON")) {
        store_close(st);
        return -1;
    }
    if (app != CARVE_APP_ID) {
        char sql[128];
        snprintf(sql, sizeof sql, "PRAGMA application_id=%d", CARVE_APP_ID);
        if (exec(st, "BEGIN") || exec(st, SCHEMA) || exec(st, sql) ||
            exec(st, "INSERT OR REPLACE INTO meta VALUES ('format', 'carve-results/1')") || exec(st, "COMMIT")) {
            store_close(st);
            return -1;
        }
    }
    int64_t have = 0;
    if (scalar_int(st, "SELECT count(*) FROM pragma_table_info('candidates') WHERE name = 'fit_stage'", &have)) {
        store_close(st);
        return -1;
    }
    st->stage_cols = have > 0;
    *out = st;
    return 0;
}

/* Before the first write of the stage columns to an older database: add them. */
static int ensure_stage_cols(Store *st) {
    if (st->stage_cols) return 0;
    if (exec(st, "ALTER TABLE candidates ADD COLUMN " STAGE_COL_STAGE) ||
        exec(st, "ALTER TABLE candidates ADD COLUMN " STAGE_COL_WINDOWS))
        return -1;
    st->stage_cols = true;
    return 0;
}

void store_close(Store *st) {
    if (!st) return;
    if (st->db) sqlite3_close(st->db);
    free(st->path);
    free(st);
}

int store_begin(Store *st) { return exec(st, "BEGIN IMMEDIATE"); }
int store_commit(Store *st) { return exec(st, "COMMIT"); }
void store_rollback(Store *st) {
    if (!sqlite3_get_autocommit(st->db)) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}
struct sqlite3 *store_db(Store *st) { return st->db; }

int store_integrity_ok(Store *st, bool *ok) {
    sqlite3_stmt *s = prep(st, "PRAGMA integrity_check");
    if (!s) return -1;
    int rc = sqlite3_step(s);
    *ok = rc == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(s, 0), "ok");
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : db_fail(st, "integrity_check");
}

/* ---- runs ---- */

int store_run_find(Store *st, const char *name, StoreRun *out, bool *found) {
    memset(out, 0, sizeof *out);
    *found = false;
    sqlite3_stmt *s = prep(st, "SELECT id, name, status, last_generation, settings FROM runs WHERE name = ?");
    if (!s) return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *found = true;
        out->id = sqlite3_column_int64(s, 0);
        snprintf(out->name, sizeof out->name, "%s", (const char *)sqlite3_column_text(s, 1));
        snprintf(out->status, sizeof out->status, "%s", (const char *)sqlite3_column_text(s, 2));
        out->last_generation = sqlite3_column_int(s, 3);
        out->settings = xstrdup((const char *)sqlite3_column_text(s, 4));
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(st, "read runs");
}

int store_run_model(Store *st, int64_t run, char **model_path, char **settings) {
    *model_path = *settings = NULL;
    sqlite3_stmt *s = prep(st, "SELECT model_path, settings FROM runs WHERE id = ?");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, run);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *model_path = xstrdup((const char *)sqlite3_column_text(s, 0));
        *settings = xstrdup((const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) return err_set("%s: no run with id %lld", st->path, (long long)run);
    return rc == SQLITE_ROW ? 0 : db_fail(st, "read runs");
}

int store_run_create(Store *st, const StoreRunNew *r, int64_t *id) {
    sqlite3_stmt *s = prep(st, "INSERT INTO runs (name, config, settings, model_path, model_identity, seed, "
                               "algorithm, budget_kind, status, started_at) VALUES (?,?,?,?,?,?,?,?,'running',?)");
    if (!s) return -1;
    char hex[17];
    hex64(r->model_identity, hex);
    sqlite3_bind_text(s, 1, r->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, r->config, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, r->settings, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, r->model_path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, hex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)r->seed);
    sqlite3_bind_text(s, 7, r->algorithm, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 8, r->budget_kind, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(s, 9, wall_time());
    if (step_done(st, s, "insert run")) return -1;
    *id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

int store_run_set_generation(Store *st, int64_t run, int generation) {
    sqlite3_stmt *s = prep(st, "UPDATE runs SET last_generation = ? WHERE id = ?");
    if (!s) return -1;
    sqlite3_bind_int(s, 1, generation);
    sqlite3_bind_int64(s, 2, run);
    return step_done(st, s, "update run");
}

int store_run_finish(Store *st, int64_t run) {
    sqlite3_stmt *s = prep(st, "UPDATE runs SET status = 'done', finished_at = ? WHERE id = ?");
    if (!s) return -1;
    sqlite3_bind_double(s, 1, wall_time());
    sqlite3_bind_int64(s, 2, run);
    return step_done(st, s, "update run");
}

int store_run_fail(Store *st, int64_t run) {
    sqlite3_stmt *s = prep(st, "UPDATE runs SET status = 'failed' WHERE id = ? AND status <> 'done'");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, run);
    return step_done(st, s, "update run");
}

int store_run_names(Store *st, char ***names, int *n) {
    *names = NULL;
    *n = 0;
    sqlite3_stmt *s = prep(st, "SELECT name FROM runs ORDER BY id");
    if (!s) return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        *names = xrealloc(*names, (size_t)(*n + 1) * sizeof **names);
        (*names)[(*n)++] = xstrdup((const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_fail(st, "read runs");
}

/* ---- candidates ---- */

#define CAND_COLS                                                                                             \
    "id, run_id, generation, hash, params, flops, params_ratio, cost_ratio, fitness, reformed, "            \
    "reformed_fitness, eval_ppl, eval_seconds, subnet, summary, "

/* A candidate query: sql holds one %s where the column list goes (the stage columns, or NULLs in
 * an older database that has none yet). */
static sqlite3_stmt *prep_cand(Store *st, const char *sql) {
    char buf[1024];
    snprintf(buf, sizeof buf, sql, st->stage_cols ? CAND_COLS "fit_stage, fit_windows" : CAND_COLS "NULL, NULL");
    return prep(st, buf);
}

void cand_row_free(CandRow *r) {
    free(r->subnet);
    free(r->summary);
    r->subnet = r->summary = NULL;
}

static double col_real_or_nan(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

/* Every value read back is checked against its column's type first: a database edited by hand
 * (or another program) must give a one-line error, never a figure carve did not store. */
static const char *const CAND_NAMES[] = {"id", "run_id", "generation", "hash", "params", "flops", "params_ratio",
                                         "cost_ratio", "fitness", "reformed", "reformed_fitness", "eval_ppl",
                                         "eval_seconds", "subnet", "summary"};

static int check_cand(Store *st, sqlite3_stmt *s, bool with_text) {
    for (int i = 0; i < (with_text ? 15 : 13); i++) {
        int t = sqlite3_column_type(s, i);
        bool integer = i <= 2 || i == 4 || i == 9, text = i == 3 || i >= 13, nullable = i == 10 || i == 11;
        bool ok = t == SQLITE_NULL ? nullable
                  : integer        ? t == SQLITE_INTEGER
                  : text           ? t == SQLITE_TEXT
                                   : (t == SQLITE_INTEGER || t == SQLITE_FLOAT);
        if (ok && !integer && !text && t != SQLITE_NULL) ok = isfinite(sqlite3_column_double(s, i)) != 0;
        if (ok && i == 3) {
            const char *h = (const char *)sqlite3_column_text(s, 3);
            ok = h && strlen(h) == 16 && strspn(h, "0123456789abcdefABCDEF") == 16;
        }
        if (!ok) {
            const unsigned char *v = t == SQLITE_NULL ? NULL : sqlite3_column_text(s, i);
            long long id = sqlite3_column_int64(s, 0); /* (after the type tests: it converts) */
            return err_set("%s: candidate %lld: column %s holds %s%.40s%s, not %s", st->path, id, CAND_NAMES[i],
                           v ? "'" : "", v ? (const char *)v : "NULL", v ? "'" : "",
                           integer ? "an integer" : text ? (i == 3 ? "16 hex digits" : "text") : "a finite number");
        }
    }
    return 0;
}

static void read_cand(sqlite3_stmt *s, bool with_text, CandRow *r) {
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(s, 0);
    r->run_id = sqlite3_column_int64(s, 1);
    r->generation = sqlite3_column_int(s, 2);
    r->hash = strtoull((const char *)sqlite3_column_text(s, 3), NULL, 16);
    r->params = sqlite3_column_int64(s, 4);
    r->flops = sqlite3_column_double(s, 5);
    r->params_ratio = sqlite3_column_double(s, 6);
    r->cost_ratio = sqlite3_column_double(s, 7);
    r->fitness = sqlite3_column_double(s, 8);
    r->reformed = sqlite3_column_int(s, 9) != 0;
    r->reformed_fitness = col_real_or_nan(s, 10);
    r->eval_ppl = col_real_or_nan(s, 11);
    r->eval_seconds = sqlite3_column_double(s, 12);
    if (with_text) {
        r->subnet = xstrdup((const char *)sqlite3_column_text(s, 13));
        r->summary = xstrdup((const char *)sqlite3_column_text(s, 14));
    }
    r->fit_stage = sqlite3_column_int(s, 15); /* NULL reads as 0 */
    r->fit_windows = sqlite3_column_int(s, 16);
}

static void bind_real_or_null(sqlite3_stmt *s, int i, double v) {
    if (isnan(v)) sqlite3_bind_null(s, i);
    else sqlite3_bind_double(s, i, v);
}

int store_cand_insert(Store *st, CandRow *r) {
    if (ensure_stage_cols(st)) return -1;
    sqlite3_stmt *s = prep(st, "INSERT INTO candidates (run_id, generation, hash, subnet, summary, params, flops, "
                               "params_ratio, cost_ratio, fitness, reformed, reformed_fitness, eval_ppl, "
                               "eval_seconds, fit_stage, fit_windows) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!s) return -1;
    char hex[17];
    hex64(r->hash, hex);
    sqlite3_bind_int64(s, 1, r->run_id);
    sqlite3_bind_int(s, 2, r->generation);
    sqlite3_bind_text(s, 3, hex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, r->subnet, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, r->summary ? r->summary : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 6, r->params);
    sqlite3_bind_double(s, 7, r->flops);
    sqlite3_bind_double(s, 8, r->params_ratio);
    sqlite3_bind_double(s, 9, r->cost_ratio);
    sqlite3_bind_double(s, 10, r->fitness);
    sqlite3_bind_int(s, 11, r->reformed);
    bind_real_or_null(s, 12, r->reformed_fitness);
    bind_real_or_null(s, 13, r->eval_ppl);
    sqlite3_bind_double(s, 14, r->eval_seconds);
    sqlite3_bind_int(s, 15, r->fit_stage);
    sqlite3_bind_int(s, 16, r->fit_windows);
    if (step_done(st, s, "insert candidate")) return -1;
    r->id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

static int cand_query_one(Store *st, sqlite3_stmt *s, bool with_text, CandRow *out, bool *found) {
    *found = false;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (check_cand(st, s, with_text)) {
            sqlite3_finalize(s);
            return -1;
        }
        read_cand(s, with_text, out);
        *found = true;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(st, "read candidates");
}

int store_cand_get(Store *st, int64_t id, bool with_text, CandRow *out, bool *found) {
    sqlite3_stmt *s = prep_cand(st, "SELECT %s FROM candidates WHERE id = ?");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    return cand_query_one(st, s, with_text, out, found);
}

int store_cand_by_hash(Store *st, int64_t run, uint64_t hash, CandRow *out, bool *found) {
    sqlite3_stmt *s = prep_cand(st, "SELECT %s FROM candidates WHERE run_id = ? AND hash = ?");
    if (!s) return -1;
    char hex[17];
    hex64(hash, hex);
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_text(s, 2, hex, -1, SQLITE_TRANSIENT);
    return cand_query_one(st, s, true, out, found);
}

static int cand_query_all(Store *st, sqlite3_stmt *s, CandRow **rows, int *n) {
    *rows = NULL;
    *n = 0;
    int rc, cap = 0;
    bool bad = false;
    while (!bad && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if ((bad = check_cand(st, s, false) != 0)) break;
        if (*n == cap) *rows = xrealloc(*rows, (size_t)(cap = cap ? 2 * cap : 64) * sizeof **rows);
        read_cand(s, false, &(*rows)[(*n)++]);
    }
    sqlite3_finalize(s);
    if (bad || rc != SQLITE_DONE) {
        free(*rows);
        *rows = NULL;
        *n = 0;
        return bad ? -1 : db_fail(st, "read candidates");
    }
    return 0;
}

int store_cand_list(Store *st, int64_t run, CandRow **rows, int *n) {
    sqlite3_stmt *s = prep_cand(st, "SELECT %s FROM candidates WHERE run_id = ? ORDER BY id");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, run);
    return cand_query_all(st, s, rows, n);
}

int store_cand_set_stage(Store *st, int64_t id, double fitness, int fit_stage, int fit_windows, double seconds) {
    if (ensure_stage_cols(st)) return -1;
    sqlite3_stmt *s = prep(st, "UPDATE candidates SET fitness = ?, fit_stage = ?, fit_windows = ?, "
                               "eval_seconds = eval_seconds + ? WHERE id = ?");
    if (!s) return -1;
    sqlite3_bind_double(s, 1, fitness);
    sqlite3_bind_int(s, 2, fit_stage);
    sqlite3_bind_int(s, 3, fit_windows);
    sqlite3_bind_double(s, 4, seconds);
    sqlite3_bind_int64(s, 5, id);
    return step_done(st, s, "update candidate");
}

int store_cand_set_final(Store *st, int64_t id, bool reformed, double reformed_fitness, double eval_ppl) {
    sqlite3_stmt *s = prep(st, "UPDATE candidates SET reformed = ?, reformed_fitness = ?, eval_ppl = ? WHERE id = ?");
    if (!s) return -1;
    sqlite3_bind_int(s, 1, reformed);
    bind_real_or_null(s, 2, reformed_fitness);
    bind_real_or_null(s, 3, eval_ppl);
    sqlite3_bind_int64(s, 4, id);
    return step_done(st, s, "update candidate");
}

int store_front(Store *st, int64_t run, bool by_eval, CandRow **rows, int *n) {
    sqlite3_stmt *s = prep_cand(st, by_eval ? "SELECT %s FROM pareto_front_eval WHERE run_id = ? "
                                              "ORDER BY cost_ratio DESC, id"
                                            : "SELECT %s FROM pareto_front WHERE run_id = ? "
                                              "ORDER BY cost_ratio DESC, id");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, run);
    return cand_query_all(st, s, rows, n);
}

/* ---- population, baseline, finals ---- */

static int put4(Store *st, const char *sql, int64_t run, int a, int b, int c, int64_t cand) {
    sqlite3_stmt *s = prep(st, sql);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int(s, 2, a);
    sqlite3_bind_int(s, 3, b);
    if (c >= 0) sqlite3_bind_int(s, 4, c);
    sqlite3_bind_int64(s, c >= 0 ? 5 : 4, cand);
    return step_done(st, s, "insert");
}

int store_population_put(Store *st, int64_t run, int budget, int generation, int slot, int64_t cand) {
    return put4(st, "INSERT INTO population (run_id, budget, generation, slot, candidate_id) VALUES (?,?,?,?,?)", run,
                budget, generation, slot, cand);
}

int store_baseline_put(Store *st, int64_t run, int budget, int slot, int64_t cand) {
    return put4(st, "INSERT INTO baseline (run_id, budget, slot, candidate_id) VALUES (?,?,?,?)", run, budget, slot,
                -1, cand);
}

static int get_ids(Store *st, sqlite3_stmt *s, int64_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    int rc, cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) *ids = xrealloc(*ids, (size_t)(cap = cap ? 2 * cap : 64) * sizeof **ids);
        (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        return db_fail(st, "read ids");
    }
    return 0;
}

int store_population_get(Store *st, int64_t run, int budget, int generation, int64_t **ids, int *n) {
    sqlite3_stmt *s = prep(st, "SELECT candidate_id FROM population WHERE run_id = ? AND budget = ? AND generation = ? "
                               "ORDER BY slot");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int(s, 2, budget);
    sqlite3_bind_int(s, 3, generation);
    return get_ids(st, s, ids, n);
}

int store_baseline_get(Store *st, int64_t run, int budget, int64_t **ids, int *n) {
    sqlite3_stmt *s = prep(st, "SELECT candidate_id FROM baseline WHERE run_id = ? AND budget = ? ORDER BY slot");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int(s, 2, budget);
    return get_ids(st, s, ids, n);
}

int store_baseline_count(Store *st, int64_t run, int budget, int *n) {
    int64_t *ids;
    if (store_baseline_get(st, run, budget, &ids, n)) return -1;
    free(ids);
    return 0;
}

int store_final_put(Store *st, int64_t run, int budget, double target, const char *role, int64_t cand) {
    sqlite3_stmt *s = prep(st, "INSERT OR IGNORE INTO finals (run_id, budget, target, role, candidate_id) "
                               "VALUES (?,?,?,?,?)");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int(s, 2, budget);
    bind_real_or_null(s, 3, target);
    sqlite3_bind_text(s, 4, role, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, cand);
    return step_done(st, s, "insert final");
}

int store_population_distinct(Store *st, int64_t run, int budget, int *n) {
    sqlite3_stmt *s = prep(st, "SELECT count(DISTINCT candidate_id) FROM population WHERE run_id = ? AND budget = ?");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_int(s, 2, budget);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : db_fail(st, "count population");
}

int store_cand_require(Store *st, const char *id_str, CandRow *out) {
    char *end;
    errno = 0;
    long long id = strtoll(id_str, &end, 10);
    if (end == id_str || *end || id <= 0 || errno == ERANGE)
        return err_set("%s: candidate ID must be a positive integer, got '%s'", st->path, id_str);
    bool found;
    if (store_cand_get(st, id, true, out, &found)) return -1;
    if (!found) return err_set("%s: no candidate with id %lld", st->path, id);
    return 0;
}

int store_run_require(Store *st, const char *name, StoreRun *out) {
    bool found;
    if (name) {
        if (store_run_find(st, name, out, &found)) return -1;
        if (!found) return err_set("%s: no run named '%s'", st->path, name);
        return 0;
    }
    char **names;
    int n;
    if (store_run_names(st, &names, &n)) return -1;
    int rc = 0;
    if (n == 1) rc = store_run_find(st, names[0], out, &found);
    else if (n == 0) rc = err_set("%s: holds no runs", st->path);
    else rc = err_set("%s: holds %d runs; pick one with --run", st->path, n);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

char *store_cand_roles(Store *st, int64_t id) {
    sqlite3_stmt *s = prep(st, "SELECT role, target FROM finals WHERE candidate_id = ? ORDER BY budget, role");
    size_t cap = 256, len = 0;
    char *out = xmalloc(cap);
    out[0] = 0;
    if (!s) return out;
    sqlite3_bind_int64(s, 1, id);
    while (sqlite3_step(s) == SQLITE_ROW) {
        char item[64];
        if (sqlite3_column_type(s, 1) == SQLITE_NULL)
            snprintf(item, sizeof item, "%s%s", len ? ", " : "", (const char *)sqlite3_column_text(s, 0));
        else
            snprintf(item, sizeof item, "%s%s %.2f", len ? ", " : "", (const char *)sqlite3_column_text(s, 0),
                     sqlite3_column_double(s, 1));
        size_t k = strlen(item);
        if (len + k + 1 > cap) out = xrealloc(out, cap = 2 * (len + k + 1));
        memcpy(out + len, item, k + 1);
        len += k;
    }
    sqlite3_finalize(s);
    return out;
}

/* ---- zero-shot task scores ---- */

/* Databases made before the table existed get it on first use. */
static int ensure_task_table(Store *st) { return exec(st, TASKS_TABLE); }

static void bind_or_null(sqlite3_stmt *s, int i, double v) {
    if (isnan(v)) sqlite3_bind_null(s, i);
    else sqlite3_bind_double(s, i, v);
}

static double column_or_nan(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

int store_final_ids(Store *st, int64_t run, int64_t **ids, int *n) {
    sqlite3_stmt *s = prep(st, "SELECT DISTINCT candidate_id FROM finals WHERE run_id = ? ORDER BY candidate_id");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, run);
    return get_ids(st, s, ids, n);
}

int store_task_put(Store *st, int64_t cand, const StoreTaskScore *t) {
    if (ensure_task_table(st)) return -1;
    sqlite3_stmt *s = prep(st, "INSERT OR REPLACE INTO task_scores (candidate_id, task, items, acc, acc_stderr, acc_norm, "
                               "acc_norm_stderr, seconds) VALUES (?,?,?,?,?,?,?,?)");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, cand);
    sqlite3_bind_text(s, 2, t->task, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 3, t->items);
    sqlite3_bind_double(s, 4, t->acc);
    sqlite3_bind_double(s, 5, t->acc_stderr);
    bind_or_null(s, 6, t->acc_norm);
    bind_or_null(s, 7, t->acc_norm_stderr);
    sqlite3_bind_double(s, 8, t->seconds);
    return step_done(st, s, "insert task score");
}

int store_task_list(Store *st, int64_t cand, StoreTaskScore **rows, int *n) {
    *rows = NULL;
    *n = 0;
    if (ensure_task_table(st)) return -1;
    sqlite3_stmt *s = prep(st, "SELECT task, items, acc, acc_stderr, acc_norm, acc_norm_stderr, seconds FROM task_scores "
                               "WHERE candidate_id = ? ORDER BY rowid");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, cand);
    int rc, cap = 0;
    bool bad = false;
    while (!bad && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        for (int i = 0; i < 7 && !bad; i++) { /* types first, as for candidates (check_cand) */
            int ty = sqlite3_column_type(s, i);
            bad = i == 0 ? ty != SQLITE_TEXT
                  : i == 1 ? ty != SQLITE_INTEGER
                  : ty == SQLITE_NULL ? !(i == 4 || i == 5)
                  : (ty != SQLITE_INTEGER && ty != SQLITE_FLOAT) || !isfinite(sqlite3_column_double(s, i));
        }
        if (bad) {
            err_set("%s: candidate %lld: a task score row holds a value of the wrong type", st->path, (long long)cand);
            break;
        }
        if (*n == cap) *rows = xrealloc(*rows, (size_t)(cap = cap ? 2 * cap : 8) * sizeof **rows);
        StoreTaskScore *t = &(*rows)[(*n)++];
        snprintf(t->task, sizeof t->task, "%s", (const char *)sqlite3_column_text(s, 0));
        t->items = sqlite3_column_int(s, 1);
        t->acc = sqlite3_column_double(s, 2);
        t->acc_stderr = sqlite3_column_double(s, 3);
        t->acc_norm = column_or_nan(s, 4);
        t->acc_norm_stderr = column_or_nan(s, 5);
        t->seconds = sqlite3_column_double(s, 6);
    }
    sqlite3_finalize(s);
    if (bad || rc != SQLITE_DONE) {
        free(*rows);
        *rows = NULL;
        *n = 0;
        return bad ? -1 : db_fail(st, "read task scores");
    }
    return 0;
}

int store_front_task(Store *st, int64_t run, const char *task, CandRow **rows, int *n) {
    *rows = NULL;
    *n = 0;
    if (ensure_task_table(st)) return -1;
    sqlite3_stmt *s = prep_cand(st, "SELECT %s FROM candidates WHERE id IN ("
                               " SELECT c.id FROM candidates c JOIN task_scores t ON t.candidate_id = c.id"
                               " WHERE c.run_id = ?1 AND t.task = ?2 AND NOT EXISTS ("
                               "  SELECT 1 FROM candidates d JOIN task_scores u ON u.candidate_id = d.id"
                               "  WHERE d.run_id = c.run_id AND u.task = t.task AND u.acc >= t.acc"
                               "    AND d.cost_ratio <= c.cost_ratio AND (u.acc > t.acc OR d.cost_ratio < c.cost_ratio)))"
                               " ORDER BY cost_ratio DESC, id");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, run);
    sqlite3_bind_text(s, 2, task, -1, SQLITE_TRANSIENT);
    return cand_query_all(st, s, rows, n);
}
