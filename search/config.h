/* config — the YAML search configuration (`carve search FILE`): one file holds shared
 * settings and an optional list of runs (a batch); a run's keys override the shared ones
 * key by key (a run's `algorithm: {kind: nsga2}` changes only the algorithm kind).
 * Parsed with libyaml's document API; every unknown key, wrong type or out-of-range value
 * is an error "FILE:LINE:COL: message" (1-based, from libyaml's marks). the files in configs/
 * document every key with comments; defaults are the paper's GA schedule.
 * Owns: SearchConfig / ConfigBatch and their parsing, validation and JSON rendering. */
#ifndef CARVE_SEARCH_CONFIG_H
#define CARVE_SEARCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_PATH_MAX 1024
#define CFG_MAX_TARGETS 16
#define CFG_NAME_MAX 64
#define CFG_MAX_STAGES 8

typedef enum { FIT_PPL = 0, FIT_KL = 1 } FitnessKind;

typedef enum { ALGO_GA = 0, ALGO_NSGA2 = 1 } AlgoKind;

typedef struct {
    bool heads;             /* search over attention heads (else all heads stay) */
    bool channels;          /* search over MLP channels */
    int channel_multiple;   /* kept channel count is a multiple of this (or all channels) */
    bool sublayers;         /* attention / MLP sublayers may be skipped */
    bool layers;            /* whole layers may be skipped */
    double attn_ratio[2];   /* per-layer kept-heads ratio range of an attention sublayer that runs */
    double mlp_ratio[2];    /* per-layer kept-channels ratio range of an MLP sublayer that runs */
    int levels;             /* K >= 2: the level space (reform/levels.h) of K keep-levels per sublayer over
                               those ranges; 0 = off (every allowed count) */
    int importance;         /* ImpMethod (reform/importance.h) of the unit scores that order the units:
                               importance init, the level grid, unit_bias (default saliency) */
    double core;            /* free space: a running sublayer keeping k units keeps its ceil(core * k) most
                               important ones (search/genome.h); 0 = off (any set), 1 = its top k */
} SpaceConfig;

typedef struct {
    AlgoKind kind;
    int population;         /* individuals per generation (per budget for ga) */
    int generations;
    int parents;            /* ga: top-k kept as parents (and elites) */
    int mutations;          /* offspring from mutation per generation */
    int crossovers;         /* offspring from crossover per generation */
    double mutation_prob[2];/* per-layer mutation probability: first generation, later ones */
    double crossover_prob[2];/* per-layer probability of taking the second parent's layer */
    double depth_prob;      /* per-layer probability of toggling a sublayer/layer (when allowed) */
    double overlap;         /* a mutated layer keeps at least this share of its old units */
    uint64_t seed;
    double unit_bias;       /* free space: mutation / offspring repair draw units with weight
                               exp(unit_bias * importance-rank share) (search/genome.h); 0 = uniform */
} AlgoConfig;

typedef struct {
    int line, col;   /* 1-based position of a value in the YAML file; 0 = not from the file */
} CfgMark;

typedef struct {
    char name[CFG_NAME_MAX];
    bool name_given;                /* the config names the run (a run of 'runs:'); else the name is the
                                       file's base name, which never seeds anything */
    char method[CFG_NAME_MAX];      /* "method:" of configs/method-*.yaml: "carve-ga" / "carve-nsga2", "" = unset */
    char file[CFG_PATH_MAX];        /* the YAML file (for messages) */
    char model[CFG_PATH_MAX];
    char tokenizer[CFG_PATH_MAX];   /* "" = the model's own */
    char calib_text[CFG_PATH_MAX];
    int calib_n, calib_len;
    uint64_t calib_seed;
    double calib_scramble;          /* > 0: the one-shot reformation's statistics are those of the calibration
                                       text with this share of its words scrambled (eval/calib.h); the
                                       importance order, the fitness and the re-ranking use the text as is */
    char eval_text[CFG_PATH_MAX];
    int eval_seq_len;
    int eval_max_windows;           /* 0 = all */
    SpaceConfig space;
    int budget_kind;                /* CostKind: 0 params, 1 flops */
    int n_targets;
    double targets[CFG_MAX_TARGETS];
    double tolerance;               /* feasible: target - tolerance <= cost ratio <= target */
    AlgoConfig algo;
    bool fitness_reform;            /* reform each candidate before scoring it */
    int fitness_kind;               /* FitnessKind: calibration perplexity, or the mean KL divergence
                                       from the dense model's next-token distribution (eval/kl.h) */
    int fitness_top_k;              /* kl: dense entries kept per position (+ the rest of the mass) */
    double fitness_worst;           /* kl: the mean over this share of the windows, those of the largest KL
                                       (search/fitness.h); 1 = all windows: the plain mean */
    /* Staged selection (ga; selection.stages): offspring are scored on stage 0's windows, the best
     * stage_keep[s] of a population at stage s are scored again on stage s + 1's; the windows of
     * stage s are the first stage_windows[s] of the calibration sample in a fixed shuffled order
     * (search/job.c). n_stages 0 = one stage on all calibration windows, in sample order. */
    int n_stages;
    int stage_windows[CFG_MAX_STAGES];
    int stage_keep[CFG_MAX_STAGES]; /* the last stage's is 0 */
    bool final_reform;
    bool final_eval;
    int final_rerank;               /* ga: re-rank the top K distinct members of each budget's
                                       final population on a second calibration sample
                                       (0 = off: the best fitness is the result) */
    int final_rerank_windows;       /* windows of that sample (calibration len, seed + 1) */
    /* Zero-shot tasks (eval/tasks.h) the final step scores its candidates on, after selection
     * (never part of it): comma-separated names, "" = none; where the task files are; items per
     * task (0 = all). Not part of the resume settings: adding tasks to a finished run and
     * running it again scores the stored finals. */
    char final_tasks[256];
    char final_tasks_data[CFG_PATH_MAX];
    int final_tasks_limit;
    int baseline_random;            /* random subnets per budget for the baseline; -1 = as many
                                       as the search evaluated for that budget; 0 = none */
    /* MPI ranks per window group (`parallel: {group: G}`): a task goes to a group whose G ranks
     * score shares of its windows; 1 = candidate-parallel, 0 = all ranks in one group. How to
     * run, not what: never changes a result, so not part of the resume settings. */
    int parallel_group;
    char output[CFG_PATH_MAX];
    CfgMark model_at, tokenizer_at, calib_text_at, eval_text_at, final_tasks_data_at, stages_at;
    CfgMark parallel_group_at;
} SearchConfig;

typedef struct {
    int n_runs;
    SearchConfig *runs;   /* effective settings of each run (shared + run overrides) */
    char *text;           /* the YAML file's text */
} ConfigBatch;

/* Parse and validate a config file. Errors: "FILE:LINE:COL: message" (or "FILE: message"). */
int  config_load(const char *path, ConfigBatch *out);
/* Parse from a string; `what` names it in messages. */
int  config_parse(const char *text, size_t len, const char *what, ConfigBatch *out);
void config_batch_free(ConfigBatch *b);
void config_defaults(SearchConfig *c);
/* Check that the files a run reads exist (model, tokenizer, texts). */
int  config_check_files(const SearchConfig *c);
/* The effective settings as a compact JSON object (malloc'ed); stored with the run and hashed
 * to recognise a resumed run. */
char *config_to_json(const SearchConfig *c);

#endif
