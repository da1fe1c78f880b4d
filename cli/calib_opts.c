/* calib_opts — shared calibration options of the reform commands. See calib_opts.h. */
#include "cli/calib_opts.h"

#include <stdlib.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "runtime/formats/model_open.h"
#include "runtime/tokenizer/tokenizer.h"

void calib_opts_init(CalibOpts *c) { *c = (CalibOpts){.so = CLI_CALIB_DEFAULTS}; }

int calib_opts_open(const CalibOpts *c, const char *model_path, const char *tok_path, Model **m) {
    if (model_open_tok(model_path, tok_path, m) != 0) return -1;
    return model_check_window(*m, c->so.L, model_path, "--len");
}

int calib_opts_windows(const CalibOpts *c, const Model *m, Windows *w) {
    if (!m->tokenizer) return err_set("%s: no tokenizer found with the model", m->path);
    int32_t *ids = NULL;
    size_t n = 0;
    if (calib_tokenize_file(m->tokenizer, c->calib, c->so.scramble, c->so.seed, &ids, &n) != 0) return -1;
    int rc = windows_sample(ids, n, c->so.N, c->so.L, c->so.seed, c->calib, w);
    free(ids);
    return rc;
}
