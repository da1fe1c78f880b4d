/* export — the export stage: a subnet of a model written as physically smaller weights, with
 * its o_proj / down_proj reformed by one-shot exact least squares from dense calibration
 * statistics (reform/reform.h) unless reformation is off; a Hugging Face directory
 * (runtime/formats/model_write.h) or a deci GGUF file (runtime/formats/export_gguf.h).
 * One entry point, export_subnet(); `carve export` only finds the model and subnet (a file, or
 * a candidate of a results database) and calls it.
 * Kept query heads spread unevenly over their KV heads need no refusal: model_extract stores
 * such a KV head once per gcd-sized group (identical copies), so the extracted model always has
 * equal GQA groups, as GGUF requires (export_gguf_check verifies it). */
#ifndef CARVE_EXPORT_H
#define CARVE_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "reform/stats.h"
#include "runtime/base/dtype.h"
#include "runtime/model/model.h"
#include "runtime/model/subnet.h"

typedef enum { EXPORT_HF = 0, EXPORT_GGUF = 1 } ExportFormat;

typedef struct {
    ExportFormat format;
    const char *out;          /* directory (hf) or file (gguf); built under a temporary name */
    bool force;               /* replace an existing output */
    bool have_dtype;          /* else the source's weight dtype */
    DType dtype;
    bool no_reform;           /* write the inherited weights as extracted */
    const char *calib;        /* calibration text of the reformation's statistics */
    StatsOptions so;
    const char *name;         /* model name recorded in the output (gguf) */
    const char *manifest;     /* (gguf) also write what was meant to be written, as JSON */
} ExportOptions;

typedef struct {
    DType dtype;              /* written weight dtype */
    int64_t params;           /* parameters written */
} ExportResult;

/* Write subnet s of m (NULL = the whole model) as o says. A GGUF source's embedded tokenizer
 * cannot go with an HF export: a note says so on stderr. Errors name the output or the input. */
int export_subnet(const Model *m, const Subnet *s, const ExportOptions *o, ExportResult *r);

#endif
