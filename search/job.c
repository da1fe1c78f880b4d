/* job — `carve search` for one configured run (see job.h): the fitness (search/fitness.h) is the
 * calibration perplexity exp(mean NLL) of the subnet, or its mean KL from the dense model, over
 * the config's N sampled windows of L tokens (a prefix of them, shuffled, per selection stage);
 * the initial population's importance scores are the reform module's (space.importance: saliency
 * by default, or greedy OBS) from dense calibration statistics on those windows; the final step
 * reforms the subnet (one-shot least squares from the same statistics) and measures held-out
 * perplexity over consecutive windows of the eval text; the optional final re-ranking scores the
 * top members on a second calibration sample (seed + 1) after the same reformation. With
 * space.levels the genome space is the level grid (reform/levels.h) and, when fitness.reform, a
 * candidate's reformed model for the fitness and the re-ranking is stitched from the level
 * database (bit-identical to its one-shot reformation, without a solve); the final step reforms
 * as always. */
#include "search/job.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/calib.h"
#include "eval/cost.h"
#include "eval/evaluator.h"
#include "eval/tasks_eval.h"
#include "reform/levels.h"
#include "reform/reform.h"
#include "reform/stats.h"
#include "results/store.h"
#include "runtime/formats/model_open.h"
#include "runtime/forward/forward.h"
#include "runtime/model/model.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/base/util.h"
#include "search/engine.h"
#include "search/fitness.h"
#include "search/init_scores.h"
#include "search/stages.h"
#ifdef CARVE_MPI
#include "search/mpi/mpi_pool.h"
#endif

typedef struct {
    const SearchConfig *cfg;
    Model *m;
    Tokenizer *tok;       /* the model's, or the config's in its place (model_open_tok) */
    StatsFile *sf;        /* dense calibration statistics (the importance order; the reformation's too
                             unless calibration.scramble) */
    StatsFile *sf_reform; /* those of the one-shot reformation: sf, or with calibration.scramble the
                             statistics of the scrambled text (eval/calib.h) */
    Windows calib;
    Evaluator *calib_ev;  /* owns the forward pass that every evaluator below shares */
    FitnessSet fit;       /* the fitness over the calibration windows (shuffled with stages) */
    Windows eval;         /* loaded on first use */
    Evaluator *eval_ev;
    Windows rerank;       /* second calibration sample (final re-ranking), loaded on first use */
    FitnessSet rerank_fit;
    bool rerank_open;
    const EvalSplit *split; /* this rank's window group (parallel.group, under MPI); NULL = alone */
    GenomeSpace gs;       /* the search space with the importance scores (every rank: the grid's order) */
    LevelGrid *grid;      /* space.levels: the level grid, else NULL */
    LevelDb *db;          /* space.levels with fitness.reform: the reformed levels, else NULL */
} Job;

/* A task's failure before its first window exchange (loading a window set, reforming the
 * candidate): the group's other members may be waiting in that exchange, so this one joins it
 * with its failure (EvalSplit: the statuses are agreed before any sums) and every member's
 * task fails. Every evaluator call of a task comes after these points. */
static int split_fail(Job *j) {
    if (j->split) (void)j->split->combine(j->split->ud, -1, NULL, NULL, 0);
    return -1;
}

/* The reformation options of the search (its fitness, the level database, the final step). */
static void search_reform_options(ReformOptions *ro) { reform_defaults(ro); }

/* Reformed extracted model of subnet s (one-shot, from the dense calibration statistics). */
static int reformed_model(Job *j, const Subnet *s, Model **out) {
    ReformOptions ro;
    search_reform_options(&ro);
    return reform_oneshot(j->m, s, j->sf_reform, &ro, out);
}

/* Fitness on the first n windows of fs (0: all) of s, or of s's one-shot reformation when `reform`
 * (stitched from the level database when there is one). */
static int score(Job *j, FitnessSet *fs, const Subnet *s, bool reform, int n, double *out) {
    if (!reform) return fitness_score(fs, NULL, s, n, out);
    Model *rm;
    if (j->db ? level_db_model(j->db, s, &rm) : reformed_model(j, s, &rm)) return split_fail(j);
    int rc = fitness_score(fs, rm, NULL, n, out);
    model_free(rm);
    return rc;
}

/* Fitness at a selection stage (after one-shot reformation when fitness.reform). */
static int fitness_cb(void *ud, const Subnet *s, int stage, double *fitness) {
    Job *j = ud;
    return score(j, &j->fit, s, j->cfg->fitness_reform, stage_windows_of(j->cfg, stage), fitness);
}

/* An evaluator over w sharing the fitness evaluator's forward pass. */
static int shared_evaluator(Job *j, const Windows *w, const char *what, Evaluator **out) {
    EvalOptions eo = {.what = what, .share = j->calib_ev, .split = j->split};
    return evaluator_create(j->m, w, &eo, out);
}

/* The held-out evaluator over the windows prepare_windows cut (on first use). */
static int load_eval(Job *j) {
    if (j->eval_ev) return 0;
    return shared_evaluator(j, &j->eval, j->cfg->eval_text, &j->eval_ev);
}

/* Final step: reform (when asked), then the fitness on all calibration windows and held-out
 * perplexity. */
static int final_cb(void *ud, const Subnet *s, bool reform, bool *reformed, double *reformed_fitness,
                    double *eval_ppl) {
    Job *j = ud;
    *reformed = false;
    *reformed_fitness = NAN;
    if (load_eval(j)) return split_fail(j);
    if (!reform) return evaluator_ppl(j->eval_ev, s, eval_ppl);
    Model *rm;
    if (reformed_model(j, s, &rm)) return split_fail(j);
    int rc = fitness_score(&j->fit, rm, NULL, 0, reformed_fitness);
    if (!rc) rc = evaluator_ppl_model(j->eval_ev, rm, NULL, eval_ppl);
    model_free(rm);
    *reformed = rc == 0;
    return rc;
}

/* The re-ranking fitness over the second calibration sample (on first use; its windows are cut
 * by prepare_windows; kind kl builds its dense reference here). */
static int load_rerank(Job *j) {
    if (j->rerank_open) return 0;
    int rc = fitness_open(&j->rerank_fit, j->cfg, j->m, &j->rerank, false, 0, j->calib_ev, j->split,
                          j->cfg->calib_text);
    j->rerank_open = rc == 0;
    return rc;
}

/* Every window set the run will score, cut before anything is evaluated, so a bad text or
 * window length fails the run up front: the calibration sample; the held-out windows (when
 * final.eval); the re-ranking sample, final.rerank_windows windows of the calibration length
 * from the calibration text, seed + 1, never the held-out text (when final.rerank). */
static int prepare_windows(Job *j) {
    const SearchConfig *cfg = j->cfg;
    const Model *m = j->m;
    if (model_check_window(m, cfg->calib_len, cfg->file, "calibration.len") ||
        (cfg->final_eval && model_check_window(m, cfg->eval_seq_len, cfg->file, "eval.seq_len")))
        return -1;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = text_tokenize_file(j->tok, cfg->calib_text, &ids, &n);
    if (!rc) rc = windows_sample(ids, n, cfg->calib_n, cfg->calib_len, cfg->calib_seed, cfg->calib_text, &j->calib);
    if (!rc && cfg->final_rerank > 0)
        rc = windows_sample(ids, n, cfg->final_rerank_windows, cfg->calib_len, cfg->calib_seed + 1, cfg->calib_text,
                            &j->rerank);
    free(ids);
    ids = NULL;
    if (!rc && cfg->final_eval) {
        rc = text_tokenize_file(j->tok, cfg->eval_text, &ids, &n);
        if (!rc) rc = windows_consecutive(ids, n, cfg->eval_seq_len, cfg->eval_max_windows, cfg->eval_text, &j->eval);
        free(ids);
    }
    /* the zero-shot task files: read (and dropped) now, scored after the search */
    char list[sizeof cfg->final_tasks], *save = NULL;
    snprintf(list, sizeof list, "%s", cfg->final_tasks);
    for (char *t = strtok_r(list, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
        TaskSet ts;
        if (!(rc = taskset_load(task_find(t), cfg->final_tasks_data, cfg->final_tasks_limit, &ts))) taskset_free(&ts);
    }
    return rc;
}

/* Re-ranking score: the fitness on the second sample (after one-shot reformation). */
static int rescore_cb(void *ud, const Subnet *s, bool reform, double *out) {
    Job *j = ud;
    if (load_rerank(j)) return split_fail(j);
    return score(j, &j->rerank_fit, s, reform, 0, out);
}

/* Zero-shot tasks of the final step (final.tasks): every candidate the final step reported
 * (finals: best, init, random, front) is scored on the model its held-out perplexity was measured
 * on — the one-shot reformation (deterministic) again when the final step reformed it. Runs after
 * the search, so the tasks never take part in selection; scores already stored are kept, so a
 * rerun finishes what a kill interrupted. */
static int final_tasks(Job *j, Store *st, int64_t run, bool quiet) {
    const SearchConfig *cfg = j->cfg;
    TaskSet sets[16];
    int n_sets = 0, n_ids = 0, rc = 0;
    int64_t *ids = NULL;
    char list[sizeof cfg->final_tasks], *save = NULL;
    snprintf(list, sizeof list, "%s", cfg->final_tasks);
    for (char *t = strtok_r(list, ",", &save); t && !rc && n_sets < 16; t = strtok_r(NULL, ",", &save))
        if (!(rc = taskset_load(task_find(t), cfg->final_tasks_data, cfg->final_tasks_limit, &sets[n_sets]))) n_sets++;
    if (!rc) rc = store_final_ids(st, run, &ids, &n_ids);
    for (int i = 0; i < n_ids && !rc; i++) {
        StoreTaskScore *have;
        int n_have;
        if ((rc = store_task_list(st, ids[i], &have, &n_have))) break;
        bool todo[16] = {0}, any = false;
        for (int k = 0; k < n_sets; k++) {
            todo[k] = true;
            for (int h = 0; h < n_have; h++) todo[k] &= strcmp(have[h].task, sets[k].def->name) != 0;
            any |= todo[k];
        }
        free(have);
        if (!any) continue;
        CandRow row;
        bool found;
        Subnet *s = NULL;
        Model *rm = NULL;
        Forward *f = NULL;
        if ((rc = store_cand_get(st, ids[i], true, &row, &found))) break;
        if (!found) rc = err_set("%s: final candidate %lld is missing", cfg->output, (long long)ids[i]);
        if (!rc) rc = subnet_from_json(row.subnet, j->m, cfg->output, &s);
        if (!rc && row.reformed) rc = reformed_model(j, s, &rm);
        if (!rc) rc = forward_create(rm ? rm : j->m, rm ? NULL : s, NULL, &f);
        for (int k = 0; k < n_sets && !rc; k++) {
            if (!todo[k]) continue;
            TaskEvalOptions eo = {false, (rm ? rm : j->m)->cfg.max_seq_len, 4096, NULL, NULL};
            TaskAccuracy r;
            double t0 = now_seconds();
            if ((rc = task_evaluate(f, j->tok, &sets[k], &eo, &r, NULL))) break;
            StoreTaskScore ts = {"", r.n, r.acc, r.acc_se, r.acc_norm, r.acc_norm_se, now_seconds() - t0};
            snprintf(ts.task, sizeof ts.task, "%s", sets[k].def->name);
            rc = store_task_put(st, ids[i], &ts);
            if (!rc && !quiet)
                fprintf(stderr, "[%s] tasks: candidate %lld (cost %.3f) %s acc %.4f over %d items\n", cfg->name,
                        (long long)ids[i], row.cost_ratio, ts.task, r.acc, r.n);
        }
        forward_free(f);
        model_free(rm);
        subnet_free(s);
        if (found) cand_row_free(&row);
    }
    free(ids);
    for (int k = 0; k < n_sets; k++) taskset_free(&sets[k]);
    return rc;
}

static void job_free(Job *j) {
    level_db_free(j->db);
    level_grid_free(j->grid);
    genome_space_free(&j->gs);
    evaluator_free(j->eval_ev); /* the sharers before the owner of the forward pass */
    fitness_close(&j->rerank_fit);
    fitness_close(&j->fit);
    evaluator_free(j->calib_ev);
    windows_free(&j->calib);
    windows_free(&j->eval);
    windows_free(&j->rerank);
    if (j->sf_reform && j->sf_reform != j->sf) stats_close(j->sf_reform);
    if (j->sf) stats_close(j->sf);
    model_free(j->m);
}

static int open_inputs(Job *j, const SearchConfig *cfg) {
    memset(j, 0, sizeof *j);
    j->cfg = cfg;
    if (model_open_tok(cfg->model, cfg->tokenizer, &j->m)) return -1;
    j->tok = j->m->tokenizer;
    if (!j->tok)
        return err_set("%s: model '%s' comes with no tokenizer; name one with 'tokenizer:'", cfg->file, cfg->model);
    return 0;
}

static void print_plan(const Job *j, const SearchConfig *cfg, FILE *out) {
    const Model *m = j->m;
    const AlgoConfig *a = &cfg->algo;
    Cost dense = cost_of(m, NULL, cfg->calib_len);
    fprintf(out, "run %s\n", cfg->name);
    fprintf(out, "  model        %s (%s: %d layers, dim %d, %d heads / %d KV, hidden %d, vocab %d)\n", cfg->model,
            m->cfg.arch, m->cfg.n_layers, m->cfg.dim, m->cfg.n_heads, m->cfg.n_kv_heads, m->cfg.hidden_dim,
            m->cfg.vocab_size);
    fprintf(out, "  dense cost   %lld non-embedding params, %.4g layer FLOPs/token\n", (long long)dense.params_layers,
            dense.flops_layers);
    fprintf(out, "  calibration  %s: %d windows x %d tokens, seed %llu", cfg->calib_text, cfg->calib_n,
            cfg->calib_len, (unsigned long long)cfg->calib_seed);
    if (cfg->calib_scramble > 0)
        fprintf(out, "; reformation statistics on the text with %g of its words scrambled", cfg->calib_scramble);
    fputc('\n', out);
    fprintf(out, "  budgets      %s:", cfg->budget_kind ? "flops" : "params");
    for (int i = 0; i < cfg->n_targets; i++) fprintf(out, " %.2f", cfg->targets[i]);
    fprintf(out, " (tolerance %.3f)\n", cfg->tolerance);
    int pops = a->kind == ALGO_GA ? cfg->n_targets : 1;
    fprintf(out, "  algorithm    %s: population %d x %d generations%s, parents %d, mutations %d, crossovers %d, "
                 "seed %llu\n",
            a->kind == ALGO_GA ? "ga" : "nsga2", a->population, a->generations, pops > 1 ? " per budget" : "",
            a->parents, a->mutations, a->crossovers, (unsigned long long)a->seed);
    long long max_evals = (long long)pops *
                          (a->population + (long long)(a->generations - 1) *
                                               (a->kind == ALGO_GA ? a->population - a->parents
                                                                   : a->mutations + a->crossovers));
    fprintf(out, "  evaluations  at most %lld (identical subnets are evaluated once)\n", max_evals);
    fprintf(out, "  fitness      %s", cfg->fitness_kind == FIT_KL ? "mean KL from the dense model" : "perplexity");
    if (cfg->fitness_kind == FIT_KL) fprintf(out, " (top %d + the rest per position)", cfg->fitness_top_k);
    if (cfg->fitness_worst < 1) fprintf(out, " over the worst %g of the windows", cfg->fitness_worst);
    fprintf(out, "%s\n", cfg->fitness_reform ? cfg->space.levels ? ", after one-shot reformation (stitched from the level database)"
                                                                   : ", after one-shot reformation"
                                            : "");
    if (cfg->space.levels) fprintf(out, "  space        %d keep-levels per sublayer over its ratio range\n", cfg->space.levels);
    else if (cfg->space.core > 0)
        fprintf(out, "  space        free; a sublayer keeping k units keeps its ceil(%g k) most important\n", cfg->space.core);
    if (cfg->n_stages) {
        fprintf(out, "  selection    stages (windows, advancing):");
        for (int s = 0; s < cfg->n_stages; s++)
            fprintf(out, s + 1 < cfg->n_stages ? " %d -> best %d," : " %d", cfg->stage_windows[s], cfg->stage_keep[s]);
        fprintf(out, "\n");
    }
    fprintf(out, "  final step   %s%s", cfg->final_reform ? "reform, " : "",
            cfg->final_eval ? "held-out perplexity" : "none");
    if (cfg->final_rerank > 0)
        fprintf(out, "; best = re-ranked top %d on %d more calibration windows (seed %llu)", cfg->final_rerank,
                cfg->final_rerank_windows, (unsigned long long)cfg->calib_seed + 1);
    if (cfg->final_tasks[0] && cfg->final_tasks_limit)
        fprintf(out, "; zero-shot tasks %s from %s (first %d items each)", cfg->final_tasks, cfg->final_tasks_data,
                cfg->final_tasks_limit);
    else if (cfg->final_tasks[0])
        fprintf(out, "; zero-shot tasks %s from %s (all items)", cfg->final_tasks, cfg->final_tasks_data);
    fprintf(out, "\n");
    if (cfg->parallel_group == 0) fprintf(out, "  parallel     one window group of all MPI ranks\n");
    if (cfg->parallel_group > 1) fprintf(out, "  parallel     window groups of %d MPI ranks\n", cfg->parallel_group);
    fprintf(out, "  output       %s\n", cfg->output);
}

/* Create the run, or check that the stored one was started with the same settings and model. */
static int start_run(Store *st, const SearchConfig *cfg, const char *config_text, const Model *m, int64_t *run_id,
                     bool *done) {
    char *settings = config_to_json(cfg);
    if (!settings) return err_set("out of memory");
    StoreRun run;
    bool found;
    int rc = store_run_find(st, cfg->name, &run, &found);
    *done = false;
    if (rc == 0 && found) {
        if (strcmp(run.settings, settings))
            rc = err_set("%s: run '%s' was started with other settings; rename the run or change 'output'",
                         cfg->output, cfg->name);
        *run_id = run.id;
        *done = !strcmp(run.status, "done");
        free(run.settings);
    } else if (rc == 0) {
        StoreRunNew nr = {cfg->name, config_text, settings, cfg->model, cfg->algo.kind == ALGO_GA ? "ga" : "nsga2",
                          cfg->budget_kind ? "flops" : "params", m->identity, cfg->algo.seed};
        rc = store_begin(st);
        if (!rc) rc = store_run_create(st, &nr, run_id);
        if (!rc) rc = store_commit(st);
        if (rc) store_rollback(st);
    }
    free(settings);
    return rc;
}

/* A run that stopped on an error is marked 'failed' (a later run of the same config resumes it);
 * the message of the error that stopped it is kept. */
static void mark_failed(Store *st, int64_t run_id) {
    char *msg = xstrdup(err_get());
    if (store_run_fail(st, run_id) != 0) fprintf(stderr, "carve: %s\n", err_get());
    err_set("%s", msg);
    free(msg);
}

/* Across MPI ranks (search/mpi/, built when MPI is found): every rank builds the same inputs,
 * rank 0 alone opens the database and runs the engine, the others score what it hands out.
 * agree(): every rank's status, so all ranks take the same branch. */
#ifdef CARVE_MPI
static bool is_root(void) { return mpi_rank() == 0; }
static int agree(int rc) { return mpi_agree(rc); }
#else
static bool is_root(void) { return true; }
static int agree(int rc) { return rc; }
#endif

/* Collective: the window groups of parallel.group (one process, or a plain build: the key
 * changes nothing) and this rank's split; an error names the key's place in the file. */
static int window_groups(Job *j, const SearchConfig *cfg) {
#ifdef CARVE_MPI
    if (mpi_size() == 1) return 0;
    if (cfg->parallel_group != 1 && cfg->fitness_kind == FIT_KL) { /* the KL is not split (yet) */
        CfgMark at = cfg->parallel_group_at;
        return err_set("%s:%d:%d: parallel: window groups score perplexity only; a fitness of kind kl runs "
                       "candidate-parallel (group 1)", cfg->file, at.line, at.col);
    }
    if (mpi_pool_groups(cfg->parallel_group)) {
        CfgMark at = cfg->parallel_group_at;
        return at.line ? err_prefix("%s:%d:%d", cfg->file, at.line, at.col) : -1;
    }
    j->split = mpi_window_split();
#else
    (void)j, (void)cfg;
#endif
    return 0;
}

/* The search space with its importance (space.importance from the statistics, the paper's saliency
 * by default: the initial population, the level grid's order and unit_bias's ranks); with
 * space.levels the grid and, when the fitness reforms, the level database. Every rank of a run
 * that is not done: the ranks score shares of the importance's layers together (a collective),
 * and with levels every rank stitches candidates. */
static int open_space(Job *j, bool quiet) {
    const SearchConfig *cfg = j->cfg;
    genome_space_init(&j->gs, j->m, &cfg->space, cfg->algo.overlap, cfg->algo.depth_prob,
                      cfg->budget_kind ? COST_FLOPS : COST_PARAMS, cfg->calib_len);
    j->gs.unit_bias = cfg->algo.unit_bias;
    const ImpSplit *split = NULL; /* the ranks score shares of the layers */
#ifdef CARVE_MPI
    split = mpi_layer_split();
#endif
    int rc = importance_fill(&j->gs, j->sf, (ImpMethod)cfg->space.importance, split);
    if (rc || !cfg->space.levels) return rc;
    const SpaceConfig *sp = &cfg->space;
    LevelSpec ls = {sp->levels, sp->heads, sp->channels, sp->sublayers, sp->channel_multiple,
                    {sp->attn_ratio[0], sp->attn_ratio[1]}, {sp->mlp_ratio[0], sp->mlp_ratio[1]}};
    if (level_grid_build(j->m, &ls, j->gs.head_score, j->gs.chan_score, &j->grid)) return err_prefix("%s", cfg->file);
    j->gs.levels = j->grid;
    if (!cfg->fitness_reform) return 0;
    ReformOptions ro;
    search_reform_options(&ro);
    return level_db_build(j->m, j->grid, j->sf_reform, &ro, quiet, &j->db);
}

/* The dense statistics of the calibration text under so on every rank: built (or found) by rank 0,
 * then read from its cache file by the others. A collective. */
static int open_stats(const Job *j, const StatsOptions *so, StatsFile **out) {
    int rc = agree(is_root() ? stats_open(j->m, j->cfg->calib_text, so, out) : 0);
    if (!rc) rc = agree(is_root() ? 0 : stats_open(j->m, j->cfg->calib_text, so, out));
    return rc;
}

/* Rank 0 (the only rank of a plain run): the search. */
static int run_engine(Job *j, Store *st, int64_t run_id, const JobOptions *opt) {
    const SearchConfig *cfg = j->cfg;
    Engine e = {cfg, &j->gs, st, run_id, fitness_cb, final_cb, j, opt->quiet, 0, rescore_cb, NULL, NULL};
#ifdef CARVE_MPI
    MpiPool pool = {j->m, engine_task, &e};
    if (mpi_size() > 1) e.batch = mpi_pool_batch, e.batch_ud = &pool;
#endif
    return engine_run(&e);
}

int job_run(const SearchConfig *cfg, const char *config_text, const JobOptions *opt, FILE *out) {
#ifdef CARVE_MPI
    mpi_stop_resumable();
#endif
    Job j;
    int rc = open_inputs(&j, cfg);
    if (!rc) rc = prepare_windows(&j);
    rc = agree(rc);
    if (!rc) rc = agree(window_groups(&j, cfg));
    if (rc) {
        job_free(&j);
        return -1;
    }
    if (opt->dry_run) {
        if (is_root()) print_plan(&j, cfg, out);
        job_free(&j);
        return 0;
    }
    Store *st = NULL;
    int64_t run_id = 0;
    int done = 0;
    if (is_root()) {
        bool d = false;
        rc = store_open(cfg->output, true, &st);
        if (!rc) rc = start_run(st, cfg, config_text, j.m, &run_id, &d);
        done = d;
    }
    rc = agree(rc);
#ifdef CARVE_MPI
    mpi_bcast_int(&done);
#endif
    if (!rc && done && !cfg->final_tasks[0]) {
        if (!opt->quiet && is_root()) fprintf(stderr, "[%s] already complete in %s\n", cfg->name, cfg->output);
        store_close(st);
        job_free(&j);
        return 0;
    }
    if (!rc) {
        EvalOptions eo = {.what = cfg->calib_text, .split = j.split};
        rc = evaluator_create(j.m, &j.calib, &eo, &j.calib_ev);
        /* every rank computes the same dense reference (kind kl) */
        if (!rc) rc = fitness_open(&j.fit, cfg, j.m, &j.calib, cfg->n_stages > 0, cfg->calib_seed, j.calib_ev,
                                   j.split, cfg->calib_text);
        rc = agree(rc);
    }
    /* dense calibration statistics on the same windows (cached by the reform module): built by
     * rank 0, then read from its cache file by the other ranks (CARVE_CACHE_DIR shared) */
    StatsOptions so = {.N = cfg->calib_n, .L = cfg->calib_len, .seed = cfg->calib_seed, .quiet = opt->quiet || !is_root()};
    if (!rc) rc = open_stats(&j, &so, &j.sf);
    j.sf_reform = j.sf;
    if (cfg->calib_scramble > 0) { /* the reformation's: N x L drawn the same way from the scrambled text */
        j.sf_reform = NULL;
        so.scramble = cfg->calib_scramble;
        if (!rc) rc = open_stats(&j, &so, &j.sf_reform);
    }
    if (!rc) rc = agree(!done ? open_space(&j, opt->quiet || !is_root()) : 0); /* every rank: a collective */
    bool serving = !rc; /* every rank is here with rc == 0 */
    /* a finished run comes this far only to score final.tasks it lacks */
    if (serving && is_root() && !done) rc = run_engine(&j, st, run_id, opt);
#ifdef CARVE_MPI
    if (serving && !is_root()) {
        Engine we = {cfg, NULL, NULL, 0, fitness_cb, final_cb, &j, true, 0, rescore_cb, NULL, NULL};
        MpiPool pool = {j.m, engine_task, &we};
        rc = mpi_pool_serve(&pool);
    }
    if (serving && is_root() && mpi_size() > 1) mpi_pool_stop(); /* after the engine, or its failure */
    if (serving) rc = agree(rc);
#endif
    if (serving && !rc && is_root() && cfg->final_tasks[0]) rc = final_tasks(&j, st, run_id, opt->quiet);
    if (rc && st && run_id > 0) mark_failed(st, run_id); /* keeps the error message */
    store_close(st);
    job_free(&j);
    return rc;
}
