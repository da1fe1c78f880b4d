/* opts — the one option parser of the carve subcommands: each command declares its options as a
 * table (name, type, destination, range, metavar, help line) and cli_parse() walks argv with
 * getopt_long, converts and range-checks every value, collects positional arguments, and prints
 * the generated option list for --help. Options that mean the same thing in several commands
 * come from the shared groups below (CLI_MODEL_OPTS, CLI_CALIB_OPTS, CLI_COMMON_OPTS), so they
 * have one name, one default and one help line everywhere (tests/test_cli_help.sh checks it).
 * Owns: CliOpt, the shared option groups, the usage-error convention (exit 1). */
#ifndef CARVE_CLI_OPTS_H
#define CARVE_CLI_OPTS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    OT_END = 0, /* terminates a table */
    OT_FLAG,    /* bool *: set to true */
    OT_STR,     /* const char **: the argument */
    OT_INT,     /* int *: an integer in [lo, hi] */
    OT_U64,     /* uint64_t *: an integer in [lo, hi] */
    OT_NUM      /* double *: a number in [lo, hi] */
} OptType;

typedef struct {
    const char *name;   /* long name without "--" */
    char short_name;    /* 0 = none */
    OptType type;
    void *dst;
    double lo, hi;      /* OT_INT, OT_U64, OT_NUM */
    const char *arg;    /* metavar of the value ("PATH"); NULL for flags */
    const char *help;   /* help text (its default stated in it); NULL: accepted but not listed */
} CliOpt;

/* Model and tokenizer: every command that takes --model takes --tokenizer. */
#define CLI_MODEL_OPTS(model, tokenizer)                                                                    \
    {"model", 0, OT_STR, (model), 0, 0, "PATH", "model: llama2.c .bin, Hugging Face directory or GGUF file"}, \
    {"tokenizer", 0, OT_STR, (tokenizer), 0, 0, "FILE",                                                       \
     "tokenizer to use instead of the model's own (tokenizer.bin, tokenizer.json or .gguf)"}

/* Calibration sample and its cached statistics (reform/stats.h); so: a StatsOptions *. */
#define CLI_CALIB_OPTS(calib, so)                                                                           \
    {"calib", 0, OT_STR, (calib), 0, 0, "FILE", "calibration text (sampled windows; statistics are cached)"}, \
    {"n", 0, OT_INT, &(so)->N, 1, 1 << 20, "N", "calibration windows (default 32)"},                       \
    {"len", 0, OT_INT, &(so)->L, 2, 1 << 20, "L", "tokens per calibration window (default 256)"},          \
    {"seed", 0, OT_U64, &(so)->seed, 0, 2147483647.0, "S", "window sampling seed (default 1)"},            \
    {"scramble", 0, OT_NUM, &(so)->scramble, 0, 1, "P", "share of the text's words whose letters are shuffled\n"   \
                                                        "(seeded by --seed; default 0: the text as is)"},          \
    {"cache-dir", 0, OT_STR, &(so)->cache_dir, 0, 0, "DIR",                                                 \
     "statistics cache (default $CARVE_CACHE_DIR or ~/.cache/carve)"},                                      \
    {"rebuild-stats", 0, OT_FLAG, &(so)->rebuild, 0, 0, NULL, "recompute the statistics even when cached"}
/* The calibration defaults the help lines above state. */
#define CLI_CALIB_DEFAULTS {.N = 32, .L = 256, .seed = 1}

/* Single options that several commands share (one name, one default, one help line). */
#define CLI_SUBNET_OPT(dst) {"subnet", 0, OT_STR, (dst), 0, 0, "FILE", "a subnet file (carve-subnet/1 JSON); omitted = the dense model"}
#define CLI_TEXT_OPT(dst) {"text", 0, OT_STR, (dst), 0, 0, "FILE", "the text file (bytes as they are)"}
#define CLI_SEQ_LEN_OPT(dst) {"seq-len", 0, OT_INT, (dst), 2, 1 << 20, "N", "tokens per window (default 256)"}
#define CLI_SEQ_LEN_DEFAULT 256
#define CLI_BATCH_OPT(dst) {"batch", 0, OT_INT, (dst), 1, 1 << 16, "B", "windows per forward pass (default: as many as fit 2048 tokens)"}
#define CLI_BATCH_TOKENS 2048 /* the default batch: as many windows as fit this many tokens */
#define CLI_CACHE_MB_OPT(dst) {"cache-mb", 0, OT_INT, (dst), 1, 1 << 24, "MB", "budget for cached compact f32 weights (default 4096)"}
#define CLI_BUDGET_OPT(dst) {"budget", 0, OT_NUM, (dst), 1e-9, 1, "R", "kept fraction of non-embedding parameters, in (0, 1]"}
#define CLI_FORCE_OPT(dst) {"force", 0, OT_FLAG, (dst), 0, 0, NULL, "replace an existing output"}
#define CLI_JSON_OPT(dst) {"json", 0, OT_FLAG, (dst), 0, 0, NULL, "print one JSON object instead of text"}
#define CLI_QUIET_OPT(dst) {"quiet", 'q', OT_FLAG, (dst), 0, 0, NULL, "no progress lines"}
#define CLI_RUN_OPT(dst) {"run", 0, OT_STR, (dst), 0, 0, "NAME", "the run of the file or database (default: all of the file's; the database's only one)"}

/* Every command: --help / -h and -v / --verbose (also CARVE_VERBOSE=1). */
#define CLI_COMMON_OPTS                                                                                     \
    {"verbose", 'v', OT_FLAG, &cli_verbose, 0, 0, NULL, "progress and configuration on stderr"},           \
    {"help", 'h', OT_FLAG, NULL, 0, 0, NULL, "this text"}

extern bool cli_verbose;

/* Parse argv[1..argc) against opts (ending with {0}). Positional arguments are stored in pos
 * (at most max_pos; more is a usage error); *n_pos their count (may be NULL when max_pos is 0).
 * Returns 0 to go on, 1 after printing a usage error, -1 when --help was given (the caller
 * prints its help and returns 0). */
int cli_parse(const char *cmd, int argc, char **argv, const CliOpt *opts, const char **pos, int max_pos, int *n_pos);

/* The generated option list (for --help), one option a line, aligned. */
void cli_print_options(const CliOpt *opts);

#endif
