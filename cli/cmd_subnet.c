/* cmd_subnet — `carve subnet DB ID --out FILE`: writes a stored candidate as a subnet file
 * (the carve-subnet/1 JSON that eval / reform / export read with --subnet). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "results/store.h"
#include "runtime/base/util.h"

static void help(FILE *fp) {
    fprintf(fp, "usage: carve subnet DB ID --out FILE\n\n"
                "Write candidate ID of the search database DB to FILE as a subnet file (JSON).\n");
}

int cmd_subnet(int argc, char **argv) {
    static const struct option opts[] = {{"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        if (c == 'o') out = optarg;
        else if (c == 'h') return help(stdout), 0;
        else return cli_usage_error("subnet", "unknown option");
    }
    if (optind != argc - 2) return cli_usage_error("subnet", "expects a database file and a candidate ID");
    if (!out) return cli_usage_error("subnet", "--out FILE is required");
    Store *st;
    if (store_open(argv[optind], false, &st)) return cli_fail();
    CandRow r;
    if (store_cand_require(st, argv[optind + 1], &r)) {
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
