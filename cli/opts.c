/* opts — the table-driven option parser of the subcommands (see opts.h). */
#include "cli/opts.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "runtime/base/util.h"

static int n_opts(const CliOpt *opts) {
    int n = 0;
    while (opts[n].type != OT_END) n++;
    return n;
}

/* Convert and store the value of option o. */
static bool set_value(const char *cmd, const CliOpt *o, const char *arg) {
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", o->name);
    switch (o->type) {
    case OT_FLAG:
        if (o->dst) *(bool *)o->dst = true;
        return true;
    case OT_STR:
        *(const char **)o->dst = arg;
        return true;
    case OT_INT: {
        long v;
        if (!cli_parse_int(cmd, flag, arg, (long)o->lo, (long)o->hi, &v)) return false;
        *(int *)o->dst = (int)v;
        return true;
    }
    case OT_U64: {
        long v;
        if (!cli_parse_int(cmd, flag, arg, (long)o->lo, (long)o->hi, &v)) return false;
        *(uint64_t *)o->dst = (uint64_t)v;
        return true;
    }
    case OT_NUM: return cli_parse_double(cmd, flag, arg, o->lo, o->hi, (double *)o->dst);
    case OT_END: break;
    }
    return false;
}

int cli_parse(const char *cmd, int argc, char **argv, const CliOpt *opts, const char **pos, int max_pos, int *n_pos) {
    int n = n_opts(opts);
    struct option *lo = xcalloc((size_t)n + 1, sizeof *lo);
    char shorts[2 * 64 + 2] = ":"; /* leading ':' — a missing argument is reported as such */
    for (int i = 0; i < n; i++) {
        lo[i] = (struct option){opts[i].name, opts[i].type == OT_FLAG ? no_argument : required_argument, NULL, 256 + i};
        if (opts[i].short_name && strlen(shorts) + 2 < sizeof shorts) {
            size_t k = strlen(shorts);
            shorts[k] = opts[i].short_name;
            shorts[k + 1] = opts[i].type == OT_FLAG ? 0 : ':';
            shorts[k + 2] = 0;
        }
    }
    if (n_pos) *n_pos = 0;
    int rc = 0, npos = 0;
    optind = 1;
    opterr = 0;
    /* '-' first in optstring: positional arguments come back in order as option 1 */
    char spec[sizeof shorts + 1];
    snprintf(spec, sizeof spec, "-%s", shorts);
    int c, idx;
    while (rc == 0 && (c = getopt_long(argc, argv, spec, lo, &idx)) != -1) {
        const CliOpt *o = NULL;
        if (c >= 256 && c < 256 + n) o = &opts[c - 256];
        else
            for (int i = 0; i < n && !o; i++)
                if (opts[i].short_name && opts[i].short_name == c) o = &opts[i];
        if (c == 1) {
            if (npos >= max_pos) rc = cli_usage_error(cmd, "unexpected argument '%s'", optarg);
            else pos[npos++] = optarg;
        } else if (c == ':') {
            rc = cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        } else if (c == '?' && optopt >= 256 && optopt < 256 + n) {
            rc = cli_usage_error(cmd, "option '--%s' takes no value", opts[optopt - 256].name);
        } else if (!o) {
            rc = cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        } else if (!strcmp(o->name, "help")) {
            rc = -1;
        } else if (!set_value(cmd, o, optarg)) {
            rc = 1;
        }
    }
    for (; rc == 0 && optind < argc; optind++) { /* after "--" */
        if (npos >= max_pos) rc = cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        else pos[npos++] = argv[optind];
    }
    if (n_pos) *n_pos = npos;
    free(lo);
    return rc;
}

void cli_print_options(const CliOpt *opts) {
    int w = 0;
    char left[96];
    for (int pass = 0; pass < 2; pass++)
        for (const CliOpt *o = opts; o->type != OT_END; o++) {
            if (!o->help) continue;
            snprintf(left, sizeof left, "%s%s--%s%s%s", o->short_name ? (char[]){'-', o->short_name, 0} : "",
                     o->short_name ? ", " : "", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
            int len = (int)strlen(left);
            if (pass == 0) {
                if (len > w) w = len;
                continue;
            }
            printf("  %-*s  ", w, left);
            for (const char *h = o->help; *h; h++) { /* continuation lines under the text */
                putchar(*h);
                if (*h == '\n') printf("  %-*s  ", w, "");
            }
            putchar('\n');
        }
}
