/* cmd_export — `carve export`: find the model and subnet (a subnet file, or a candidate of a
 * results database with its run's model and calibration settings) and call the export stage
 * (reform/export.h), which reforms and writes it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "reform/export.h"
#include "results/store.h"
#include "runtime/formats/export_util.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/model/subnet.h"

static void help(const CliOpt *opts) {
    printf("usage: carve export DB ID --format hf|gguf --out PATH [options]\n"
           "       carve export --model PATH [--subnet FILE] --format hf|gguf --out PATH [options]\n\n"
           "Write a subnet as a smaller model: only the kept heads, channels and sublayers, reformed\n"
           "(one-shot, exact ridge least squares from dense calibration statistics) unless --no-reform.\n"
           "  DB ID   candidate ID of the results database DB (carve show lists them); the run's model\n"
           "          and calibration settings are the defaults\n\noptions:\n");
    cli_print_options(opts);
    printf("Exit status: 0 written, 1 usage error, 2 bad input or a subnet the format cannot express.\n");
}

typedef struct {
    const char *db, *id, *model, *tokenizer, *subnet, *format, *out, *name, *manifest, *dtype;
    bool force, no_reform;
    const char *calib;
    StatsOptions so;   /* N, L, seed, scramble: -1 / UINT64_MAX / -1 until given (a DB run's settings apply
                          first) */
} Args;

static int parse_args(int argc, char **argv, Args *a) {
    const CliOpt opts[] = {
        CLI_MODEL_OPTS(&a->model, &a->tokenizer),
        CLI_SUBNET_OPT(&a->subnet),
        {"format", 0, OT_STR, &a->format, 0, 0, "F", "hf: config.json + model.safetensors + tokenizer;\n"
                                                      "gguf: GGUF v3, architecture \"deci\" (per-layer head/channel counts)"},
        {"out", 0, OT_STR, &a->out, 0, 0, "PATH", "output directory (hf) or file (gguf); built under a temporary\n"
                                                   "name and renamed into place"},
        CLI_FORCE_OPT(&a->force),
        {"dtype", 0, OT_STR, &a->dtype, 0, 0, "D", "f32, f16 or bf16 (default: the source model's weight dtype)"},
        {"no-reform", 0, OT_FLAG, &a->no_reform, 0, 0, NULL, "write the inherited weights as extracted (no calibration needed)"},
        CLI_CALIB_OPTS(&a->calib, &a->so),
        {"name", 0, OT_STR, &a->name, 0, 0, "NAME", "model name recorded in the output"},
        {"manifest", 0, OT_STR, &a->manifest, 0, 0, "FILE", "(gguf) also write the metadata and tensor table carve meant to\n"
                                                             "write as JSON, for checking the file with another reader"},
        CLI_COMMON_OPTS,
        {0}};
    const char *pos[2];
    int npos = 0, rc = cli_parse("export", argc, argv, opts, pos, 2, &npos);
    if (rc < 0) help(opts);
    if (rc) return rc;
    if (npos == 2) {
        a->db = pos[0];
        a->id = pos[1];
    } else if (npos != 0) {
        return cli_usage_error("export", "expected DB ID or --model PATH, got %d positional arguments", npos);
    }
    if (a->db && (a->model || a->subnet))
        return cli_usage_error("export", "give either DB ID or --model/--subnet, not both");
    if (!a->db && !a->model) return cli_usage_error("export", "missing DB ID or --model PATH");
    if (!a->format) return cli_usage_error("export", "missing --format hf|gguf");
    if (strcmp(a->format, "hf") && strcmp(a->format, "gguf"))
        return cli_usage_error("export", "--format expects hf or gguf, got '%s'", a->format);
    if (!a->out) return cli_usage_error("export", "missing --out PATH");
    if (!a->db && a->subnet && !a->no_reform && !a->calib)
        return cli_usage_error("export", "reformation needs calibration text: give --calib FILE (or --no-reform)");
    if (a->manifest && strcmp(a->format, "gguf"))
        return cli_usage_error("export", "--manifest applies to --format gguf only");
    DType d;
    if (a->dtype && dtype_parse(a->dtype, &d) != 0)
        return cli_usage_error("export", "--dtype expects f32, f16 or bf16, got '%s'", a->dtype);
    return 0;
}

/* The run's calibration settings ({"calibration": {"text", "n", "len", "seed", "scramble"}}) where
 * no option gave them (a run without "scramble" used the text as is). */
static void run_calibration(Args *a, const char *settings, char **text) {
    json_t *root = json_loads(settings, 0, NULL), *c = json_object_get(root, "calibration");
    if (json_is_object(c)) {
        json_t *t = json_object_get(c, "text"), *n = json_object_get(c, "n"), *l = json_object_get(c, "len"),
               *sd = json_object_get(c, "seed"), *sc = json_object_get(c, "scramble");
        if (!a->calib && json_is_string(t)) a->calib = *text = xstrdup(json_string_value(t));
        if (a->so.N < 0 && json_is_integer(n)) a->so.N = (int)json_integer_value(n);
        if (a->so.L < 0 && json_is_integer(l)) a->so.L = (int)json_integer_value(l);
        if (a->so.seed == UINT64_MAX && json_is_integer(sd)) a->so.seed = (uint64_t)json_integer_value(sd);
        if (a->so.scramble < 0 && json_is_number(sc)) a->so.scramble = json_number_value(sc);
    }
    json_decref(root);
}
static int from_db(Args *a, Model **m, Subnet **s, char **calib_text) {
    Store *st = NULL;
    CandRow row = {0};
    char *model_path = NULL, *settings = NULL;
    int rc = -1;
    if (store_open(a->db, false, &st) != 0) return -1;
    if (store_cand_require(st, a->id, &row) != 0) goto out;
    if (store_run_model(st, row.run_id, &model_path, &settings) != 0) goto out;
    run_calibration(a, settings, calib_text);
    if (model_open_tok(model_path, a->tokenizer, m) != 0) {
        err_prefix("%s: candidate %s: the run's model", a->db, a->id);
        goto out;
    }
    char what[512];
    snprintf(what, sizeof what, "%s: candidate %s", a->db, a->id);
    if (subnet_from_json(row.subnet, *m, what, s) != 0) goto out;
    rc = 0;
out:
    free(model_path);
    free(settings);
    cand_row_free(&row);
    store_close(st);
    return rc;
}

int cmd_export(int argc, char **argv) {
    Args a = {.so = {.N = -1, .L = -1, .seed = UINT64_MAX, .scramble = -1}};
    int prc = parse_args(argc, argv, &a);
    if (prc != 0) return prc < 0 ? 0 : prc;
    if (export_check_out(a.out, a.force) != 0) return cli_fail(); /* before any slow step */
    Model *m = NULL;
    Subnet *s = NULL;
    char *calib_text = NULL;
    int rc = 2;
    if (a.db) {
        if (from_db(&a, &m, &s, &calib_text) != 0) goto out;
        if (s && !a.no_reform && !a.calib) {
            err_set("%s: candidate %s: the run records no calibration text; give --calib FILE (or --no-reform)",
                    a.db, a.id);
            goto out;
        }
    } else {
        if (model_open_tok(a.model, a.tokenizer, &m) != 0) goto out;
        if (a.subnet && subnet_read_file(a.subnet, m, &s) != 0) goto out;
    }
    StatsOptions dflt = CLI_CALIB_DEFAULTS;
    if (a.so.N < 0) a.so.N = dflt.N;
    if (a.so.L < 0) a.so.L = dflt.L;
    if (a.so.seed == UINT64_MAX) a.so.seed = dflt.seed;
    if (a.so.scramble < 0) a.so.scramble = dflt.scramble;
    a.so.quiet = !cli_verbose;
    ExportOptions eo = {!strcmp(a.format, "gguf") ? EXPORT_GGUF : EXPORT_HF, a.out, a.force, a.dtype != NULL,
                        DT_F32, a.no_reform, a.calib, a.so, a.name, a.manifest};
    if (a.dtype) dtype_parse(a.dtype, &eo.dtype);
    ExportResult r;
    if (export_subnet(m, s, &eo, &r) != 0) goto out;
    printf("wrote %s (%s, %s): %lld parameters\n", a.out, a.format, dtype_name(r.dtype), (long long)r.params);
    rc = 0;
out:
    if (rc) cli_fail();
    free(calib_text);
    subnet_free(s);
    model_free(m);
    return rc;
}
