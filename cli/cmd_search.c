/* cmd_search — `carve search FILE [--run NAME] [--dry-run] [--quiet]`: runs (or resumes)
 * every run of a YAML search configuration, or only the one named, storing results in the
 * configured SQLite database. --dry-run validates and prints the plan. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "runtime/base/util.h"
#include "search/config.h"
#include "search/job.h"

static void help(const CliOpt *opts) {
    printf("usage: carve search FILE [--run NAME] [--dry-run] [--quiet]\n\n"
           "Evolutionary search for subnets as configured in the YAML FILE (see configs/).\n"
           "A run already in the output database resumes from its last committed generation;\n"
           "a finished run is skipped. The model's tokenizer can be replaced with the 'tokenizer:' key.\n\noptions:\n");
    cli_print_options(opts);
}

int cmd_search(int argc, char **argv) {
    const char *only = NULL, *pos[1];
    JobOptions jo = {false, false};
    const CliOpt opts[] = {CLI_RUN_OPT(&only),
                           {"dry-run", 0, OT_FLAG, &jo.dry_run, 0, 0, NULL,
                            "validate the configuration and print the plan; evaluate nothing"},
                           CLI_QUIET_OPT(&jo.quiet), CLI_COMMON_OPTS, {0}};
    int npos = 0, prc = cli_parse("search", argc, argv, opts, pos, 1, &npos);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    if (npos != 1) return cli_usage_error("search", "expects one configuration file");
    const char *path = pos[0];
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
