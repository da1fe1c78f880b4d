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

static const CliCommand commands[] = {
    /* in the order of a typical workflow */
    {"search", cmd_search, "evolutionary search for subnets (YAML config), results in SQLite"},
    {"front", cmd_front, "the Pareto front of a search run"},
    {"show", cmd_show, "one searched subnet in detail"},
    {"subnet", cmd_subnet, "write a searched subnet to a subnet file"},
    {"eval", cmd_eval, "perplexity of a model or subnet on a text file"},
    {"tasks", cmd_tasks, "zero-shot accuracy on ARC, HellaSwag, PIQA, WinoGrande, BoolQ, OpenBookQA"},
    {"info", cmd_info, "architecture, parameter counts and FLOPs of a model or subnet"},
    {"tokenize", cmd_tokenize, "print the token ids of a text with a model's tokenizer"},
    {"importance", cmd_importance, "per-layer importance scores from calibration statistics"},
    {"prune", cmd_prune, "subnet of the highest-scored heads/channels at a parameter budget"},
    {"baseline", cmd_baseline, "prune with a baseline method of the registry (shortgpt, sleb, flap, ...)"},
    {"reform", cmd_reform, "least-squares reformation of a subnet (or layer-span replacement)"},
    {"export", cmd_export, "write a subnet as a smaller Hugging Face or GGUF model"},
    {"synth", cmd_synth, "write a random-weight Hugging Face model of a named shape"},
    {"bench-forward", cmd_bench_forward, "(benchmark) forward throughput vs the sgemm ceiling, 50% subnet time"},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

int cli_fail(void) {
#ifdef CARVE_MPI
    if (mpi_rank() != 0) return 2; /* rank 0 reports for the whole job (see mpi_agree) */
#endif
    fprintf(stderr, "carve: %s\n", err_get()[0] ? err_get() : "failed");
    return 2;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
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
            /* under mpirun / srun: one MPI job (search/mpi/mpi_pool.h) */
            if (mpi_launched() && mpi_start(&argc, &argv)) return cli_fail();
            int rc = commands[i].run(argc - 1, argv + 1);
            mpi_end();
            return rc;
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
