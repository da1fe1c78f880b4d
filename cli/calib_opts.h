/* calib_opts — the calibration settings of `carve importance`, `prune`, `baseline`, `reform`
 * (their options: CLI_CALIB_OPTS of cli/opts.h) and the windows they name. Owns CalibOpts. */
#ifndef CARVE_CALIB_OPTS_H
#define CARVE_CALIB_OPTS_H

#include <stdbool.h>

#include "reform/stats.h"

typedef struct {
    const char *calib;
    StatsOptions so;
} CalibOpts;

/* The defaults the options' help states (CLI_CALIB_DEFAULTS). */
void calib_opts_init(CalibOpts *c);
/* model_open_tok, then the window rule (runtime/model/model.h): --len within the model's context. */
int  calib_opts_open(const CalibOpts *c, const char *model_path, const char *tok_path, Model **m);
/* Tokenize c->calib with m's tokenizer and sample the windows (for sequential / replacement). */
int  calib_opts_windows(const CalibOpts *c, const Model *m, Windows *w);

#endif
