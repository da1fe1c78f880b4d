/* cli — the carve subcommands. Each cmd_<name> lives in cli/cmd_<name>.c, parses its own
 * options with getopt_long, prints its --help, and returns the process exit status:
 * 0 success, 1 usage error, 2 bad input or failure (after printing "carve: <message>"). */
#ifndef CARVE_CLI_H
#define CARVE_CLI_H

#include <stdbool.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} CliCommand;

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
