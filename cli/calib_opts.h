/* calib_opts — the calibration options shared by `carve importance`, `prune` and `reform`
 * (--calib FILE --n N --len L --seed S --cache-dir DIR --rebuild-stats) and opening the
 * statistics they name. Owns CalibOpts. */
#ifndef CARVE_CALIB_OPTS_H
#define CARVE_CALIB_OPTS_H

#include <getopt.h>
#include <stdbool.h>

#include "reform/stats.h"

enum { CO_CALIB = 1000, CO_N, CO_LEN, CO_SEED, CO_CACHE, CO_REBUILD };
#define CALIB_LONG_OPTIONS                                                                          \
    {"calib", required_argument, 0, CO_CALIB}, {"n", required_argument, 0, CO_N},                   \
        {"len", required_argument, 0, CO_LEN}, {"seed", required_argument, 0, CO_SEED},             \
        {"cache-dir", required_argument, 0, CO_CACHE}, {"rebuild-stats", no_argument, 0, CO_REBUILD}
#define CALIB_HELP                                                                                  \
    "  --calib FILE        calibration text (sampled windows; statistics are cached)\n"                  \
    "  --n N               calibration windows (default 32)\n"                                         \
    "  --len L             tokens per window (default 256)\n"                                          \
    "  --seed S            window sampling seed (default 1)\n"                                         \
    "  --cache-dir DIR     statistics cache (default $CARVE_CACHE_DIR or ~/.cache/carve)\n"           \
    "  --rebuild-stats     recompute the statistics even when cached\n"

typedef struct {
    const char *calib;
    StatsOptions so;
} CalibOpts;

void calib_opts_init(CalibOpts *c);
/* Handle option c (returns 1 when it was one of ours, 0 when not, -1 on a bad value). */
int  calib_opts_parse(CalibOpts *c, const char *cmd, int opt, const char *arg);
/* Tokenize c->calib with m's tokenizer and sample the windows (for sequential / replacement). */
int  calib_opts_windows(const CalibOpts *c, const Model *m, Windows *w);

#endif
