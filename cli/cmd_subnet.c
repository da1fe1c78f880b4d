/* cmd_subnet — `carve subnet DB ID --out FILE`: writes a stored candidate as a subnet file
 * (the carve-subnet/1 JSON that eval / reform / export read with --subnet). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "results/store.h"
#include "runtime/base/util.h"

static void help(const CliOpt *opts) {
    printf("usage: carve subnet DB ID --out FILE\n\n"
           "Write candidate ID of the search database DB to FILE as a subnet file (JSON).\n\noptions:\n");
    cli_print_options(opts);
}

int cmd_subnet(int argc, char **argv) {
    const char *out = NULL, *pos[2];
    const CliOpt opts[] = {{"out", 'o', OT_STR, &out, 0, 0, "FILE", "the subnet file to write"}, CLI_COMMON_OPTS, {0}};
    int npos = 0, prc = cli_parse("subnet", argc, argv, opts, pos, 2, &npos);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    if (npos != 2) return cli_usage_error("subnet", "expects a database file and a candidate ID");
    if (!out) return cli_usage_error("subnet", "--out FILE is required");
    Store *st;
    if (store_open(pos[0], false, &st)) return cli_fail();
    CandRow r;
    if (store_cand_require(st, pos[1], &r)) {
        store_close(st);
        return cli_fail();
    }
    size_t n = strlen(r.subnet);
    char *text = xmalloc(n + 2);
    memcpy(text, r.subnet, n);
    text[n] = '\n';
    text[n + 1] = 0;
    int rc = write_file_atomic(out, text, n + 1);
    free(text);
    cand_row_free(&r);
    store_close(st);
    if (rc) return cli_fail();
    return 0;
}
