/* tasks_eval — score a loaded task (eval/tasks.h) with a model: tokenize each item's requests the
 * way lm-evaluation-harness v0.4 does, get every continuation's loglikelihood (eval/loglik.h), and
 * compute acc / acc_norm with the harness's standard errors.
 *
 * Harness tokenization of a (context, continuation) pair: trailing whitespace of the context moves
 * to the front of the continuation; whole = enc(context + continuation), ctx = enc(context); the
 * sequence is ctx followed by whole[len(ctx):], scored over whole[len(ctx):]. No BOS, like the
 * harness's HF models (add_bos_token=False) unless opt->bos. An item longer than the model's
 * context keeps its last max_seq_len tokens (the harness keeps max_length + 1).
 * llama.cpp's HellaSwag: BOS + enc(context + " " + ending); the four sequences' common prefix is
 * not scored; an ending's score is the mean log-prob of its remaining tokens. */
#ifndef CARVE_TASKS_EVAL_H
#define CARVE_TASKS_EVAL_H

#include <stdbool.h>

#include "eval/loglik.h"
#include "eval/tasks.h"
#include "runtime/tokenizer/tokenizer.h"

typedef struct {
    bool bos;          /* prepend BOS in harness mode (the harness's add_bos_token=True) */
    int max_seq_len;   /* the model's context; longer items keep their last tokens */
    int max_tokens;    /* tokens per forward call (see loglik_score) */
    LoglikProgress progress;
    void *progress_ud;
} TaskEvalOptions;

typedef struct {
    int n;                       /* items scored */
    double acc, acc_se;          /* mean of (argmax ll == gold) and its standard error */
    double acc_norm, acc_norm_se;/* with ll / choice length; NaN when the task has no acc_norm */
} TaskAccuracy;

/* Per item: each choice's loglikelihood (llama.cpp scoring: mean log-prob), its token count,
 * the predictions (index of the first maximum). */
typedef struct {
    double ll[TASK_MAX_CHOICES];
    int n_tok[TASK_MAX_CHOICES];
    int pred, pred_norm;
} TaskItemScore;

/* Score every item of s. scores (s->n entries) may be NULL. */
int task_evaluate(Forward *f, const Tokenizer *tok, const TaskSet *s, const TaskEvalOptions *opt, TaskAccuracy *r,
                  TaskItemScore *scores);

/* Standard error of a mean of 0/1 outcomes as the harness computes it (sample std / sqrt(n)). */
double task_stderr(double p, int n);

#endif
