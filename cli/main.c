/* main — carve's entry point: selects the BLAS kernels, then dispatches to a subcommand. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "runtime/base/blas.h"
#include "runtime/base/util.h"
#ifdef CARVE_MPI
#include "search/mpi/mpi_pool.h"
#endif

bool cli_verbose = false;

/* mpi: what the command does under an MPI launcher with several ranks (cli.h CliMpiMode). The
 * commands that score many windows or candidates share them out (RANKS); the quick ones and the
 * file writers run once, on rank 0 (ROOT); the long evaluations that do not share their work
 * yet are refused (REFUSE) rather than leaving the other ranks idle unannounced. */
static const CliCommand commands[] = {
    /* in the order of a typical workflow */
    {"search", cmd_search, CLI_MPI_RANKS, "evolutionary search for subnets (YAML config), results in SQLite"},
    {"front", cmd_front, CLI_MPI_ROOT, "the Pareto front of a search run"},
    {"show", cmd_show, CLI_MPI_ROOT, "one searched subnet in detail"},
    {"subnet", cmd_subnet, CLI_MPI_ROOT, "write a searched subnet to a subnet file"},
    {"eval", cmd_eval, CLI_MPI_RANKS, "perplexity of a model or subnet on a text file"},
    {"tasks", cmd_tasks, CLI_MPI_REFUSE, "zero-shot accuracy on ARC, HellaSwag, PIQA, WinoGrande, BoolQ, OpenBookQA"},
    {"info", cmd_info, CLI_MPI_ROOT, "architecture, parameter counts and FLOPs of a model or subnet"},
    {"tokenize", cmd_tokenize, CLI_MPI_ROOT, "print the token ids of a text with a model's tokenizer"},
    {"importance", cmd_importance, CLI_MPI_ROOT, "per-layer importance scores from calibration statistics"},
    {"prune", cmd_prune, CLI_MPI_RANKS, "subnet of the highest-scored heads/channels at a parameter budget"},
    {"baseline", cmd_baseline, CLI_MPI_RANKS, "prune with a baseline method of the registry (shortgpt, sleb, flap, ...)"},
    {"reform", cmd_reform, CLI_MPI_REFUSE, "least-squares reformation of a subnet (or layer-span replacement)"},
    {"export", cmd_export, CLI_MPI_ROOT, "write a subnet as a smaller Hugging Face or GGUF model"},
    {"synth", cmd_synth, CLI_MPI_ROOT, "write a random-weight Hugging Face model of a named shape"},
    {"bench-forward", cmd_bench_forward, CLI_MPI_REFUSE,
     "(benchmark) forward throughput vs the sgemm ceiling, 50% subnet time"},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

#ifdef CARVE_MPI
int cli_rank(void) { return mpi_rank(); }
int cli_ranks(void) { return mpi_size(); }
int cli_agree(int rc) { return mpi_agree(rc); }
#else
int cli_rank(void) { return 0; }
int cli_ranks(void) { return 1; }
int cli_agree(int rc) { return rc; }
#endif

int cli_fail(void) {
#ifdef CARVE_MPI
    if (mpi_rank() != 0) return 2; /* rank 0 reports for the whole job (see mpi_agree) */
#endif
    fprintf(stderr, "carve: %s\n", err_get()[0] ? err_get() : "failed");
    return 2;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    if (cli_rank() != 0) return 1; /* every rank parses the same options: rank 0 tells */
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "carve %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(try 'carve %s --help')\n", cmd);
    va_end(ap);
    return 1;
}

bool cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) {
        cli_usage_error(cmd, "%s expects an integer in [%ld, %ld], got '%s'", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        cli_usage_error(cmd, "%s expects a number in [%g, %g], got '%s'", opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

/* Started by an MPI launcher (mpirun / mpiexec of Open MPI or MPICH, srun with PMI/PMIx)? */
static bool mpi_launched(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return true;
    return false;
}

int cli_run_root(int (*run)(int argc, char **argv), int argc, char **argv) {
    int rc = cli_rank() == 0 ? run(argc, argv) : 0;
#ifdef CARVE_MPI
    mpi_bcast_int(&rc); /* the others wait here, polling, and exit as rank 0 does */
#endif
    return rc;
}

#ifdef CARVE_MPI
static bool wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
}

/* A command on every rank of the job (one rank: as a plain run), by its CliMpiMode; --help
 * is printed once, by rank 0. */
static int run_ranks(const CliCommand *c, int argc, char **argv) {
    int rc = 0;
    if (mpi_size() == 1 || (c->mpi == CLI_MPI_RANKS && !wants_help(argc, argv))) {
        rc = c->run(argc, argv);
    } else if (c->mpi != CLI_MPI_REFUSE || wants_help(argc, argv)) {
        rc = cli_run_root(c->run, argc, argv);
    } else {
        err_set("%s: its work is not shared out across MPI ranks; run it without mpirun (or with -np 1)", c->name);
        rc = cli_fail();
    }
    mpi_end();
    return rc;
}
#endif

static void usage(FILE *fp) {
    fprintf(fp, "carve — search smaller subnets of Llama-family models, reform and export them\n\n"
                "usage: carve <command> [options]    (carve <command> --help for details)\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++) fprintf(fp, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\nenvironment: CARVE_VERBOSE=1 prints the BLAS configuration and extra detail to stderr.\n");
}

int main(int argc, char **argv) {
    blas_select_kernels(argv);
    if (getenv("CARVE_VERBOSE") && strcmp(getenv("CARVE_VERBOSE"), "0") != 0) cli_verbose = true;
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
#ifdef CARVE_MPI
        printf("carve 0.1 (with MPI)\n");
#else
        printf("carve 0.1\n");
#endif
        return 0;
    }
    for (int i = 0; i < n_commands; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            if (cli_verbose) fprintf(stderr, "carve: BLAS: %s\n", blas_describe());
#ifdef CARVE_MPI
            /* under mpirun / srun: one MPI job (search/mpi/mpi_pool.h), as the table says */
            if (mpi_launched() && mpi_start(&argc, &argv)) return cli_fail();
            return run_ranks(&commands[i], argc - 1, argv + 1);
#else
            if (mpi_launched()) { /* N independent copies would write the same database */
                fprintf(stderr, "carve: started by an MPI launcher, but this carve was built without MPI "
                                "(install libopenmpi-dev, then make)\n");
                return 2;
            }
            return commands[i].run(argc - 1, argv + 1);
#endif
        }
    fprintf(stderr, "carve: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 1;
}
