/* method_eval — what the registry methods draw from a real model: calibration windows
 * sampled from a calibration text and their perplexity under a subnet (the MethodPplFn of
 * SLEB and random, one at a time or as a task of the batch seam), through one
 * eval/evaluator.h Evaluator. Owns MethodCalib. */
#ifndef CARVE_METHOD_EVAL_H
#define CARVE_METHOD_EVAL_H

#include <stdint.h>

#include "eval/calib.h"
#include "eval/evaluator.h"
#include "search/method.h"

typedef struct {
    const Model *model;
    const char *path;   /* the calibration text (for reform/'s statistics of the same sample) */
    uint64_t seed;
    Windows windows;    /* (n, len) calibration tokens */
    Evaluator *ev;      /* over the model and windows */
    int n_evals;
} MethodCalib;

/* Tokenize calib_path with the model's tokenizer and sample n_windows windows of seq_len
 * tokens with `seed` (eval/calib.h). Errors name the file. */
int  method_calib_open(const Model *m, const char *calib_path, int n_windows, int seq_len, uint64_t seed,
                       MethodCalib *out);
void method_calib_close(MethodCalib *c);
/* MethodPplFn: exp(mean NLL) of the calibration windows under s (ud = MethodCalib *). */
int  method_calib_ppl(void *ud, const Subnet *s, double *ppl);
/* The same as a task of the batch seam (engine.h; the task runner of an MPI pool, ud =
 * MethodCalib *): TASK_FITNESS without reform, the ppl in out->v[0]; other tasks are errors. */
int  method_calib_task(void *ud, TaskKind kind, bool reform, int stage, const Subnet *s, TaskResult *out);

#endif
