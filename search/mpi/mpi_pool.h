/* mpi_pool — one carve job across MPI processes (`mpirun -np N carve search ...`, `srun`).
 * Compiled only when the Makefile finds MPI (CARVE_MPI); the plain build has no trace of it.
 *
 * Roles: every rank runs the same command, opens the model (mmap) and builds the same inputs.
 * Rank 0 runs the algorithm, draws every random number and alone writes the database; its
 * engine hands each batch of tasks (engine.h: fitness, re-ranking, final step) to
 * mpi_pool_batch, which gives them out one at a time from a dynamic queue to the idle ranks
 * (rank 0 scores too, on a second thread, while its main thread dispatches). Results are
 * stored by task index, so they do not depend on which rank scored what. The other ranks sit
 * in mpi_pool_serve until rank 0 calls mpi_pool_stop.
 *
 * Window-parallel scoring: with `parallel: {group: G}` the ranks form groups of G consecutive
 * ranks; a task goes to a group, whose members each score a share of the calibration
 * windows (whole forward batches: the group's mpi_window_split given to its evaluators); the
 * per-batch NLL sums are exchanged in the group and added in window order, so the fitness is
 * bit-identical for any number of ranks and any grouping. `carve eval` is one such group of all
 * ranks scoring one model.
 *
 * Waiting: every wait polls (MPI_Test / MPI_Iprobe, then a short sleep) instead of MPI's busy
 * loop, so idle ranks leave the cores to the ranks that compute.
 *
 * Failure: a task that fails on a rank comes back with its error, which rank 0 reports as
 * "rank K: ..."; a rank that dies makes the launcher stop the job, and rank 0 then prints
 * one line saying so (for a search: the database keeps every committed generation; the same
 * command resumes). MPI calls are made by each process's main thread only (MPI_THREAD_FUNNELED). */
#ifndef CARVE_MPI_POOL_H
#define CARVE_MPI_POOL_H

#include <stdbool.h>

#include "eval/evaluator.h"
#include "reform/importance.h"
#include "runtime/model/model.h"
#include "search/engine.h"

/* Start MPI (the CLI calls it when an MPI launcher started the process; without it the
 * process is rank 0 of 1). 0, or -1 with err_set. */
int  mpi_start(int *argc, char ***argv);
/* Rank 0's line when the job is stopped adds that the database keeps every committed
 * generation and the same command resumes (carve search). */
void mpi_stop_resumable(void);
void mpi_end(void);
int  mpi_rank(void);
int  mpi_size(void);

/* Collective: every rank passes its status; returns -1 on every rank when any rank failed,
 * and rank 0's error is then its own or "rank K: <K's error>" of the first failing rank. */
int  mpi_agree(int rc);
/* Collective: rank 0's *v on every rank. */
void mpi_bcast_int(int *v);

/* Collective, before a job's serving: groups of `group` consecutive ranks score each task
 * together (window-parallel; 0 = all ranks in one group, 1 = every rank alone: candidate-
 * parallel). The number of ranks must be a multiple. 0, or -1 with err_set on every rank. */
int  mpi_pool_groups(int group);
/* The window split of this rank's group (eval/evaluator.h EvalOptions.split; static, valid until
 * the next mpi_pool_groups); NULL when the group is this rank alone. Its combine is a collective
 * of the group: every member makes the same evaluator calls (the group runs the same task, or
 * the same command: `carve eval` puts all ranks in one group). */
const EvalSplit *mpi_window_split(void);

/* Collective of all ranks: the importance scores' layer split (each rank scores its share; the
 * combine sums them over MPI_COMM_WORLD). NULL with one rank. Static. */
const ImpSplit *mpi_layer_split(void);

/* The pool of one job: the model (subnets travel as subnet JSON) and the task runner. */
typedef struct {
    const Model *m;
    int (*task)(void *ud, TaskKind kind, bool reform, int stage, const Subnet *s, TaskResult *out);
    void *ud;
} MpiPool;

/* Rank 0: a BatchFn (batch_ud = MpiPool *). */
int  mpi_pool_batch(void *pool, TaskKind kind, bool reform, int stage, const Subnet *const *s, int n,
                    TaskResult *out);
/* Rank 0: release the other ranks from mpi_pool_serve (at the end of the job, or on error). */
void mpi_pool_stop(void);
/* Ranks > 0: score the tasks rank 0 sends until it stops the pool. 0, or -1 on an MPI error. */
int  mpi_pool_serve(MpiPool *p);

#endif
