/* store — carve's SQLite results database: runs, every evaluated candidate (also the fitness
 * cache across restarts), the population of each committed generation, the random baseline
 * and the final step's results. The schema, with comments, is in store.c (`sqlite3 DB .schema`
 * shows it). WAL mode; callers group a generation's writes in store_begin/store_commit.
 * Owns: the database connection, the schema and every SQL statement carve runs. */
#ifndef CARVE_STORE_H
#define CARVE_STORE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct Store Store;

/* create: make the file and schema when missing. Without it the file must exist and be a
 * carve database ("<path>: not a carve database"). */
int  store_open(const char *path, bool create, Store **out);
void store_close(Store *st);
int  store_begin(Store *st);
int  store_commit(Store *st);
void store_rollback(Store *st);
/* PRAGMA integrity_check == "ok". */
int  store_integrity_ok(Store *st, bool *ok);

typedef struct {
    int64_t id;
    char name[64];
    char status[16];
    int last_generation;
    char *settings;   /* malloc'ed JSON */
} StoreRun;

typedef struct {
    const char *name, *config, *settings, *model_path, *algorithm, *budget_kind;
    uint64_t model_identity, seed;
} StoreRunNew;

/* found = false when no run has that name. out->settings must be freed. */
int store_run_find(Store *st, const char *name, StoreRun *out, bool *found);
int store_run_create(Store *st, const StoreRunNew *r, int64_t *id);
int store_run_set_generation(Store *st, int64_t run, int generation);
int store_run_finish(Store *st, int64_t run);
/* Mark a run that stopped on an error 'failed' (a finished run stays 'done'). */
int store_run_fail(Store *st, int64_t run);
/* All run names (malloc'ed array of malloc'ed strings), in id order. */
/* The run named `name` ("<db>: no run named 'x'"), or when name is NULL the only run of the
 * database ("<db>: holds N runs; pick one with --run" / "<db>: holds no runs"). */
int store_run_require(Store *st, const char *name, StoreRun *out);
/* The roles ("best 0.90, init 0.90, ...") the final step gave a candidate (malloc'ed, "" when none). */
char *store_cand_roles(Store *st, int64_t id);
int store_run_names(Store *st, char ***names, int *n);
/* The model path and effective settings JSON (both malloc'ed) of run id `run` (export). */
int store_run_model(Store *st, int64_t run, char **model_path, char **settings);

typedef struct {
    int64_t id, run_id;
    int generation;
    uint64_t hash;
    char *subnet;     /* JSON; owned by the row when read from the store */
    char *summary;
    int64_t params;
    double flops, params_ratio, cost_ratio, fitness;
    bool reformed;
    double reformed_fitness, eval_ppl; /* NAN = NULL */
    double eval_seconds;
    int fit_stage;    /* selection stage (1-based) the fitness is of; 0 = NULL (an older database) */
    int fit_windows;  /* calibration windows spent on the fitness, over all stages; 0 = NULL */
} CandRow;

void cand_row_free(CandRow *r);   /* frees subnet and summary */
int  store_cand_insert(Store *st, CandRow *r);   /* sets r->id */
/* found = false when absent. with_text: also read subnet and summary. */
int  store_cand_get(Store *st, int64_t id, bool with_text, CandRow *out, bool *found);
/* The candidate named by a command-line ID string (with subnet/summary); errors:
 * "<db>: candidate ID must be a positive integer, got 'x'", "<db>: no candidate with id N". */
int  store_cand_require(Store *st, const char *id_str, CandRow *out);
int  store_cand_by_hash(Store *st, int64_t run, uint64_t hash, CandRow *out, bool *found);
/* Every candidate of a run (without texts), in id order; *rows malloc'ed. */
int  store_cand_list(Store *st, int64_t run, CandRow **rows, int *n);
/* A candidate scored again at a later selection stage: its fitness, stage and windows spent now;
 * seconds are added to its eval_seconds. */
int  store_cand_set_stage(Store *st, int64_t id, double fitness, int fit_stage, int fit_windows, double seconds);
int  store_cand_set_final(Store *st, int64_t id, bool reformed, double reformed_fitness, double eval_ppl);

int store_population_put(Store *st, int64_t run, int budget, int generation, int slot, int64_t cand);
/* Candidate ids of a generation in slot order (*ids malloc'ed; *n = 0 when none). */
int store_population_get(Store *st, int64_t run, int budget, int generation, int64_t **ids, int *n);
/* Number of distinct candidates in all generations of a budget's population. */
int store_population_distinct(Store *st, int64_t run, int budget, int *n);
int store_baseline_put(Store *st, int64_t run, int budget, int slot, int64_t cand);
int store_baseline_count(Store *st, int64_t run, int budget, int *n);
int store_baseline_get(Store *st, int64_t run, int budget, int64_t **ids, int *n);
int store_final_put(Store *st, int64_t run, int budget, double target, const char *role, int64_t cand);

/* The front of a run: by_eval false -> pareto_front (calibration fitness), true ->
 * pareto_front_eval; sorted by cost ratio descending. */
int store_front(Store *st, int64_t run, bool by_eval, CandRow **rows, int *n);

/* Zero-shot accuracy of a candidate on one task (carve tasks; NAN acc_norm = none). */
typedef struct {
    char task[32];
    int items;
    double acc, acc_stderr, acc_norm, acc_norm_stderr, seconds;
} StoreTaskScore;

/* The distinct candidates the final step reported for a run (finals), in id order (*ids malloc'ed). */
int store_final_ids(Store *st, int64_t run, int64_t **ids, int *n);
/* Insert or replace the score of (cand, t->task). */
int store_task_put(Store *st, int64_t cand, const StoreTaskScore *t);
/* The task scores of a candidate in the order they were stored (*rows malloc'ed; 0 rows = none). */
int store_task_list(Store *st, int64_t cand, StoreTaskScore **rows, int *n);
/* The front of a run over (accuracy on task: higher is better, cost ratio), among candidates
 * scored on it; sorted by cost ratio descending. */
int store_front_task(Store *st, int64_t run, const char *task, CandRow **rows, int *n);

/* The raw connection, for tests and tools. */
struct sqlite3 *store_db(Store *st);

#endif
