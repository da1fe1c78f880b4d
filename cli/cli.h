/* cli — the carve subcommands. Each cmd_<name> lives in cli/cmd_<name>.c, parses its own
 * options with getopt_long, prints its --help, and returns the process exit status:
 * 0 success, 1 usage error, 2 bad input or failure (after printing "carve: <message>"). */
#ifndef CARVE_CLI_H
#define CARVE_CLI_H

#include <stdbool.h>

/* What a command does when an MPI launcher starts it on several ranks (cli/main.c's table;
 * README "Running on a cluster"). With one rank every command runs as in a plain run. */
typedef enum {
    CLI_MPI_RANKS = 0,  /* runs on every rank and shares its work out itself (search, eval, ...) */
    CLI_MPI_ROOT = 1,   /* runs on rank 0; the others wait (polling) and exit with its status */
    CLI_MPI_REFUSE = 2  /* refused with one line: its work is not shared out across ranks */
} CliMpiMode;

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    CliMpiMode mpi;
    const char *summary;
} CliCommand;

/* This process's MPI rank and the number of ranks (0 and 1 without MPI). */
int cli_rank(void);
int cli_ranks(void);
/* Every rank's status (search/mpi mpi_agree): -1 on every rank when any rank failed, rank 0's
 * error then naming the failing rank; without MPI, rc unchanged. Collective. */
int cli_agree(int rc);
/* run(argc, argv) on rank 0 only; the other ranks wait (polling) and return its status. */
int cli_run_root(int (*run)(int argc, char **argv), int argc, char **argv);

/* Print "carve: <err_get()>" to stderr and return 2. */
int cli_fail(void);
/* Print "carve <cmd>: <msg>\n(try 'carve <cmd> --help')" to stderr and return 1. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a decimal int/double option argument; on error prints a usage error. */
bool cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
bool cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);
/* true when CARVE_VERBOSE or -v was given; commands print extra lines to stderr. */
extern bool cli_verbose;

int cmd_info(int argc, char **argv);
int cmd_importance(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_reform(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench_forward(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_front(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_subnet(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_tasks(int argc, char **argv);

#endif
