/* calib_opts — shared calibration options of the reform commands. See calib_opts.h. */
#include "cli/calib_opts.h"

#include <stdlib.h>

#include "cli/cli.h"
#include "runtime/tokenizer/tokenizer.h"

void calib_opts_init(CalibOpts *c) { *c = (CalibOpts){.so = {.N = 32, .L = 256, .seed = 1}}; }

int calib_opts_parse(CalibOpts *c, const char *cmd, int opt, const char *arg) {
    long v;
    switch (opt) {
    case CO_CALIB: c->calib = arg; return 1;
    case CO_N:
        if (!cli_parse_int(cmd, "--n", arg, 1, 1 << 20, &v)) return -1;
        c->so.N = (int)v;
        return 1;
    case CO_LEN:
        if (!cli_parse_int(cmd, "--len", arg, 2, 1 << 20, &v)) return -1;
        c->so.L = (int)v;
        return 1;
    case CO_SEED:
        if (!cli_parse_int(cmd, "--seed", arg, 0, 0x7fffffffL, &v)) return -1;
        c->so.seed = (uint64_t)v;
        return 1;
    case CO_CACHE: c->so.cache_dir = arg; return 1;
    case CO_REBUILD: c->so.rebuild = true; return 1;
    default: return 0;
    }
}

int calib_opts_windows(const CalibOpts *c, const Model *m, Windows *w) {
    if (!m->tokenizer) return err_set("%s: no tokenizer found with the model", m->path);
    int32_t *ids = NULL;
    size_t n = 0;
    if (text_tokenize_file(m->tokenizer, c->calib, &ids, &n) != 0) return -1;
    int rc = windows_sample(ids, n, c->so.N, c->so.L, c->so.seed, c->calib, w);
    free(ids);
    return rc;
}
