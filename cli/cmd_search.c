/* cmd_search — `carve search FILE [--run NAME] [--dry-run] [--quiet]`: runs (or resumes)
 * every run of a YAML search configuration, or only the one named, storing results in the
 * configured SQLite database. --dry-run validates and prints the plan. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "runtime/base/util.h"
#include "search/config.h"
#include "search/job.h"

static void help(FILE *fp) {
    fprintf(fp, "usage: carve search FILE [--run NAME] [--dry-run] [--quiet]\n\n"
                "Evolutionary search for subnets as configured in the YAML FILE (see configs/).\n"
                "A run already in the output database resumes from its last committed generation;\n"
                "a finished run is skipped.\n"
                "  --run NAME   only this run of the file\n"
                "  --dry-run    validate the configuration and print the plan; evaluate nothing\n"
                "  --quiet      no progress lines\n");
}

int cmd_search(int argc, char **argv) {
    static const struct option opts[] = {{"run", required_argument, 0, 'r'},
                                         {"dry-run", no_argument, 0, 'n'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *only = NULL;
    JobOptions jo = {false, false};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        if (c == 'r') only = optarg;
        else if (c == 'n') jo.dry_run = true;
        else if (c == 'q') jo.quiet = true;
        else if (c == 'h') return help(stdout), 0;
        else return cli_usage_error("search", "unknown option");
    }
    if (optind != argc - 1) return cli_usage_error("search", "expects one configuration file");
    const char *path = argv[optind];
    ConfigBatch b;
    if (config_load(path, &b)) return cli_fail();
    int matched = 0, rc = 0;
    for (int i = 0; i < b.n_runs && !rc; i++) {
        if (only && strcmp(only, b.runs[i].name)) continue;
        matched++;
        if (job_run(&b.runs[i], b.text, &jo, stdout)) rc = cli_fail();
    }
    if (only && !matched && !rc) {
        err_set("%s: no run named '%s'", path, only);
        rc = cli_fail();
    }
    config_batch_free(&b);
    return rc;
}
