/* tasks — the zero-shot multiple-choice tasks structured-pruning papers report, as
 * lm-evaluation-harness v0.4 defines them: the task table, the loaders of the files in
 * ../shared/data/tasks/ (see its README), and each item turned into the harness's requests.
 *
 * An item is n_choices (context, continuation) pairs; the model scores the loglikelihood of each
 * continuation given its context. Prompts (target delimiter " " in front of every choice):
 *   arc_easy, arc_challenge  "Question: {stem}\nAnswer:" + " {choice}"          acc, acc_norm
 *   openbookqa               "{stem}" + " {choice}"                             acc, acc_norm
 *   piqa                     "Question: {goal}\nAnswer:" + " {sol1|sol2}"       acc, acc_norm
 *   boolq                    "{passage}\nQuestion: {question}?\nAnswer:" + " no"|" yes"   acc
 *   winogrande (partial)     sentence[:blank] + option_k + " " + strip(sentence[blank+1:])   acc
 *   hellaswag                preprocess(line 1) + " " + preprocess(ending)     acc, acc_norm
 *   hellaswag_llamacpp       the same file scored as `llama-perplexity --hellaswag` does   acc
 * acc_norm divides each loglikelihood by the choice's length in characters (the harness's
 * len(choice): Unicode code points, = bytes for ASCII). Loaders read everything into memory and
 * reject a bad file with one line naming the file and line. Invariants of a loaded item:
 * 2 <= n_choices <= TASK_MAX_CHOICES, 0 <= gold < n_choices, strings NUL-terminated. */
#ifndef CARVE_TASKS_H
#define CARVE_TASKS_H

#include <stdbool.h>

#define TASK_MAX_CHOICES 8

typedef enum {
    TASK_SCORE_HARNESS, /* sum of continuation token log-probs; acc argmax, acc_norm argmax / length */
    TASK_SCORE_LLAMACPP /* BOS + ctx + " " + ending; mean log-prob of the tokens after the choices'
                           common prefix; acc = argmax of that mean (llama.cpp calls it acc_norm) */
} TaskScoring;

typedef struct {
    int n_choices;
    char *ctx[TASK_MAX_CHOICES];  /* context of each choice (one string shared but WinoGrande's) */
    char *cont[TASK_MAX_CHOICES]; /* continuation of each choice, delimiter included */
    int choice_len[TASK_MAX_CHOICES]; /* characters of the bare choice, for acc_norm */
    int gold;
    int line;                     /* first line of the item in its file (1-based) */
} TaskItem;

typedef struct TaskDef TaskDef;

typedef struct {
    const TaskDef *def;
    int n;
    TaskItem *items;
} TaskSet;

struct TaskDef {
    const char *name;
    const char *dir;    /* folder under the data directory */
    const char *file;   /* the items */
    const char *labels; /* a separate labels file, or NULL */
    bool acc_norm;      /* the harness reports acc_norm for this task */
    TaskScoring scoring;
    /* Parse path (+ labels_path) into out; -1 with err_set naming file and line. */
    int (*load)(const char *path, const char *labels_path, TaskSet *out);
};

/* The task table (order of display) and lookup by name; NULL when unknown. */
const TaskDef *task_table(int *n);
const TaskDef *task_find(const char *name);
/* "arc_easy, arc_challenge, ..." for messages (static storage). */
const char *task_names(void);

/* Load a task's files from data_dir/<dir>/; limit > 0 keeps only the first limit items. */
int  taskset_load(const TaskDef *d, const char *data_dir, int limit, TaskSet *out);
/* Load one file (and labels file) directly, for tests and tools. */
int  taskset_load_files(const TaskDef *d, const char *path, const char *labels_path, TaskSet *out);
void taskset_free(TaskSet *s);

#endif
