/* engine — the evolutionary search over subnets: the paper's GA (one population per budget
 * target) or NSGA-II (one population whose front spans all targets), the random baseline,
 * and the final step (reform + held-out evaluation) of the results. Fitness and the final
 * evaluation are callbacks, so the engine runs on a synthetic fitness in tests.
 *
 * Persistence and resume: every evaluated subnet is a row of the store (also the cache:
 * an identical subnet — same subnet_hash — is never evaluated twice in a run, across
 * generations and restarts), and each generation's populations are committed in one
 * transaction. Generation g+1 is a pure function of the committed population of generation
 * g (its subnets, fitness and cost, in stored order) and a PCG32 stream seeded with
 * (seed, run name, budget, generation), so a run killed at any point and started again
 * resumes from the last committed generation and ends with the same rows.
 *
 * Candidates outside the budget: every offspring is *repaired* into
 * [target - tolerance, target] (ga) or [min target - tolerance, max target] (nsga2) by
 * removing or adding single units (genome_repair; in the level space whole levels, and mutation is
 * the cost-keeping level switch, genome_level_switch). Offspring that repair cannot fix (the
 * space's ranges or fixed parts make the interval unreachable) are *dropped* and the slot
 * draws another offspring; after 50 failed draws the slot is filled from the parents.
 * Final re-ranking (ga, optional): the K best distinct members of each budget's final
 * population are scored again on a second, larger calibration sample and the best of those
 * is the budget's result — less overfitted to the fitness windows than the best fitness.
 * The scores are recomputed on resume (deterministic), not stored.
 * Staged selection (ga, selection.stages; search/stages.h): after a generation's offspring are
 * scored on stage 0, the best of each population at each stage are scored again on the next
 * stage's windows, in the same transaction; the candidate row then holds the fitness of the last
 * stage it reached (fit_stage) and the windows spent on it (fit_windows); the random baseline goes
 * through the same stages. Fitness is always a function of (subnet, stage), so resume and any
 * number of MPI ranks give the same rows.
 * Owns: the search loop, selection (ga) and non-dominated sorting + crowding (nsga2). */
#ifndef CARVE_ENGINE_H
#define CARVE_ENGINE_H

#include <stdbool.h>

#include "results/store.h"
#include "search/config.h"
#include "search/genome.h"

/* Fitness of subnet s on the windows of selection stage `stage` (0 = the first; without stages
 * the only one, all calibration windows); lower is better (calibration perplexity, or KL from the
 * dense model). 0 or -1 with err_set. */
typedef int (*FitnessFn)(void *ud, const Subnet *s, int stage, double *fitness);
/* Final step: with reform, reform s then measure. Fills *reformed (whether reformation was
 * applied), reformed_fitness (calibration ppl after it; NAN when not measured) and eval_ppl
 * (held-out perplexity). */
typedef int (*FinalFn)(void *ud, const Subnet *s, bool reform, bool *reformed, double *reformed_fitness,
                       double *eval_ppl);

/* Re-ranking score of subnet s (lower is better): with reform, reform s first, then the
 * calibration perplexity on the second calibration sample (cfg final.rerank_windows windows,
 * seed + 1). 0 or -1 with err_set. */
typedef int (*RescoreFn)(void *ud, const Subnet *s, bool reform, double *score);

/* ---- the batch seam: scoring many subnets at once (candidate-parallel) ----
 * A task is one callback above applied to one subnet. The engine hands every batch of
 * independent tasks (a generation's offspring, the random baseline, the re-ranking, the final
 * step) to Engine.batch, which may score them in any order on any process (search/mpi/); the
 * engine stores the results in candidate order, so the rows do not depend on who scored what.
 * All random draws stay in the engine (the caller's process). */
typedef enum { TASK_FITNESS = 0, TASK_RESCORE = 1, TASK_FINAL = 2 } TaskKind;

/* v[0] = fitness (TASK_FITNESS) or score (TASK_RESCORE); TASK_FINAL: v[0] = reformed (0/1),
 * v[1] = reformed_fitness, v[2] = eval_ppl. seconds: the task's wall time where it ran. */
typedef struct {
    double v[3];
    double seconds;
} TaskResult;

/* One task on one subnet (ud: the Engine whose callbacks run it); stage: the selection stage of a
 * TASK_FITNESS (0 otherwise). 0 or -1 with err_set. */
int engine_task(void *engine, TaskKind kind, bool reform, int stage, const Subnet *s, TaskResult *out);

/* Score s[0..n) with task `kind` (and stage), out[i] for s[i]; 0, or -1 with err_set when any task
 * failed (every task has then finished or been dropped). */
typedef int (*BatchFn)(void *batch_ud, TaskKind kind, bool reform, int stage, const Subnet *const *s, int n,
                       TaskResult *out);

typedef struct {
    const SearchConfig *cfg;
    GenomeSpace *gs;          /* model, space, importance scores */
    Store *st;
    int64_t run_id;
    FitnessFn fitness;
    FinalFn final;            /* NULL: no final step */
    void *ud;
    bool quiet;               /* no progress lines */
    int stop_after;           /* tests: return after committing this many generations (0 = off) */
    RescoreFn rescore;        /* ga final step: with cfg final.rerank K > 0, "best" is the member
                                 of the top K distinct (by fitness) of the budget's final
                                 population with the lowest rescore (ties: better fitness);
                                 NULL or K = 0: the best fitness */
    BatchFn batch;            /* NULL: the tasks run one after another here (engine_task) */
    void *batch_ud;
} Engine;

/* Run (or resume) the search, the random baseline and the final step of the engine's run.
 * Marks the run done at the end. */
int engine_run(Engine *e);

/* Non-dominated sorting and crowding distance over n points (f0, f1), both minimised
 * (NSGA-II, Deb et al. 2002): rank[i] = front index (0 = non-dominated); crowd[i] =
 * crowding distance within its front (INFINITY at the front's ends). */
void nsga2_rank(const double *f0, const double *f1, int n, int *rank, double *crowd);

#endif
