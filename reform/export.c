/* export — the export stage (see export.h). */
#include "reform/export.h"

#include <stdio.h>
#include <string.h>

#include "reform/reform.h"
#include "runtime/formats/export_gguf.h"
#include "runtime/formats/export_util.h"
#include "runtime/formats/model_write.h"
#include "runtime/model/extract.h"

/* The weight dtype of the source (its first layer's Q projection, else the embedding). */
static DType source_dtype(const Model *m) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (m->layers[l].wq.data) return m->layers[l].wq.dtype;
    return m->tok_embedding.dtype;
}

/* x: the model to write; src: the source model (its tokenizer goes with the export). */
static int write_out(const ExportOptions *o, const Model *x, const Model *src, DType dtype) {
    if (o->format == EXPORT_GGUF) {
        GGUFExportOptions go = {dtype, o->name, src->tokenizer, o->manifest};
        return export_gguf(x, o->out, &go);
    }
    HFWriteOptions ho = {dtype, src, o->force};
    if (src->tokenizer && !strcmp(src->format, "gguf"))
        fprintf(stderr, "carve export: note: the tokenizer embedded in %s is not converted; %s gets no tokenizer "
                        "files (evaluate it with --tokenizer %s)\n", src->path, o->out, src->path);
    return model_write_hf(x, o->out, &ho);
}

int export_subnet(const Model *m, const Subnet *s, const ExportOptions *o, ExportResult *r) {
    if (export_check_out(o->out, o->force) != 0) return -1;
    if (o->format == EXPORT_HF && model_write_hf_check(m) != 0) return -1;
    if (s && !o->no_reform && !o->calib)
        return err_set("%s: reformation needs calibration text (or no reformation)", o->out);
    DType dtype = o->have_dtype ? o->dtype : source_dtype(m);
    Model *x = NULL;
    StatsFile *sf = NULL;
    int rc = 0;
    if (s && o->no_reform) {
        rc = model_extract(m, s, &x);
    } else if (s) { /* extract + one-shot reformation of every o_proj / down_proj that lost inputs */
        ReformOptions ro;
        reform_defaults(&ro);
        rc = stats_open(m, o->calib, &o->so, &sf);
        if (rc == 0) rc = reform_oneshot(m, s, sf, &ro, &x);
    }
    const Model *out_model = x ? x : m;
    if (rc == 0) rc = write_out(o, out_model, m, dtype);
    if (rc == 0) *r = (ExportResult){dtype, export_param_count(out_model)};
    stats_close(sf);
    model_free(x);
    return rc;
}
