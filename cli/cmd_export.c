/* cmd_export — `carve export`: extract a chosen subnet (from a results database or a subnet
 * file), reform it (one-shot exact least squares, reform/reform.h) unless told not to, and write it as physically smaller weights: a Hugging
 * Face directory (runtime/model_write) or a deci GGUF file (runtime/export_gguf). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/calib_opts.h"
#include "cli/cli.h"
#include <jansson.h>

#include "reform/reform.h"
#include "results/store.h"
#include "runtime/formats/export_gguf.h"
#include "runtime/formats/export_util.h"
#include "runtime/model/extract.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/formats/model_write.h"
#include "runtime/model/subnet.h"

static void help(void) {
    printf("usage: carve export DB ID --format hf|gguf --out PATH [options]\n"
           "       carve export --model PATH [--subnet FILE] --format hf|gguf --out PATH [options]\n\n"
           "Write a subnet as a smaller model: only the kept heads, channels and sublayers.\n"
           "  DB ID            candidate ID of the results database DB (carve show lists them)\n"
           "  --model PATH     source model (llama2.c .bin, Hugging Face directory, GGUF)\n"
           "  --subnet FILE    subnet JSON file (carve-subnet/1); omitted = the whole model\n"
           "  --format F       hf: config.json + model.safetensors + tokenizer;\n"
           "                   gguf: GGUF v3, architecture \"deci\" (per-layer head/channel counts)\n"
           "  --out PATH       output directory (hf) or file (gguf); built under a temporary\n"
           "                   name and renamed into place\n"
           "  --force          replace an existing output\n"
           "  --dtype D        f32, f16 or bf16 (default: the source model's weight dtype)\n"
           "  --no-reform      write the inherited weights as extracted (no calibration needed)\n"
           "reformation (one-shot, exact ridge least squares from dense calibration statistics);\n"
           "with DB ID the run's calibration settings are the defaults:\n"
           CALIB_HELP
           "  --name NAME      model name recorded in the output\n"
           "  --manifest FILE  (gguf) also write the metadata and tensor table carve meant to\n"
           "                   write as JSON, for checking the file with another reader\n"
           "Exit status: 0 written, 1 usage error, 2 bad input or a subnet the format cannot express.\n");
}

typedef struct {
    const char *db, *id, *model, *subnet, *format, *out, *name, *manifest;
    bool force, no_reform, have_dtype;
    DType dtype;
    CalibOpts co;
    bool co_set[3];   /* --n, --len, --seed given (else a DB run's settings apply) */
} Args;

static int parse_args(int argc, char **argv, Args *a) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"subnet", required_argument, 0, 's'},
        {"format", required_argument, 0, 'f'},  {"out", required_argument, 0, 'o'},
        {"force", no_argument, 0, 'F'},         {"dtype", required_argument, 0, 'd'},
        {"no-reform", no_argument, 0, 'N'},     {"name", required_argument, 0, 'n'},
        {"manifest", required_argument, 0, 'M'}, {"help", no_argument, 0, 'h'},
        CALIB_LONG_OPTIONS,                     {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model = optarg; break;
        case 's': a->subnet = optarg; break;
        case 'f': a->format = optarg; break;
        case 'o': a->out = optarg; break;
        case 'F': a->force = true; break;
        case 'd':
            if (dtype_parse(optarg, &a->dtype) != 0)
                return cli_usage_error("export", "--dtype expects f32, f16 or bf16, got '%s'", optarg);
            a->have_dtype = true;
            break;
        case 'N': a->no_reform = true; break;
        case 'n': a->name = optarg; break;
        case 'M': a->manifest = optarg; break;
        case 'h': help(); return -1;
        default: {
            int r = calib_opts_parse(&a->co, "export", c, optarg);
            if (r < 0) return 1;
            if (r == 0) return cli_usage_error("export", "unknown option");
            if (c >= CO_N && c <= CO_SEED) a->co_set[c - CO_N] = true;
        }
        }
    }
    int npos = argc - optind;
    if (npos == 2) {
        a->db = argv[optind];
        a->id = argv[optind + 1];
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
    if (!a->db && a->subnet && !a->no_reform && !a->co.calib)
        return cli_usage_error("export", "reformation needs calibration text: give --calib FILE (or --no-reform)");
    if (a->manifest && strcmp(a->format, "gguf"))
        return cli_usage_error("export", "--manifest applies to --format gguf only");
    return 0;
}

/* The weight dtype of the source (its first layer's Q projection, else the embedding). */
static DType source_dtype(const Model *m) {
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (m->layers[l].wq.data) return m->layers[l].wq.dtype;
    return m->tok_embedding.dtype;
}

/* x: the model to write; src: the source model (its tokenizer files go with an HF export). */
static int write_out(const Args *a, const Model *x, const Model *src, DType dtype) {
    if (!strcmp(a->format, "gguf")) {
        GGUFExportOptions o = {dtype, a->name, src->tokenizer, a->manifest};
        return export_gguf(x, a->out, &o);
    }
    HFWriteOptions o = {dtype, src, a->force};
    if (src->tokenizer && !strcmp(src->format, "gguf"))
        fprintf(stderr, "carve export: note: the tokenizer embedded in %s is not converted; %s gets no tokenizer "
                        "files (evaluate it with --tokenizer %s)\n", src->path, a->out, src->path);
    return model_write_hf(x, a->out, &o);
}

/* Source model and subnet of candidate a->id in database a->db (the run's model path). */
/* The run's calibration settings ({"calibration": {"text", "n", "len", "seed"}}) as defaults. */
static void run_calibration(Args *a, const char *settings, char **text) {
    json_t *root = json_loads(settings, 0, NULL), *c = json_object_get(root, "calibration");
    if (json_is_object(c)) {
        json_t *t = json_object_get(c, "text"), *n = json_object_get(c, "n"), *l = json_object_get(c, "len"),
               *sd = json_object_get(c, "seed");
        if (!a->co.calib && json_is_string(t)) a->co.calib = *text = xstrdup(json_string_value(t));
        if (!a->co_set[0] && json_is_integer(n)) a->co.so.N = (int)json_integer_value(n);
        if (!a->co_set[1] && json_is_integer(l)) a->co.so.L = (int)json_integer_value(l);
        if (!a->co_set[2] && json_is_integer(sd)) a->co.so.seed = (uint64_t)json_integer_value(sd);
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
    if (model_open(model_path, m) != 0) {
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
    Args a = {0};
    calib_opts_init(&a.co);
    int prc = parse_args(argc, argv, &a);
    if (prc != 0) return prc < 0 ? 0 : prc;
    if (export_check_out(a.out, a.force) != 0) return cli_fail();
    Model *m = NULL, *x = NULL;
    Subnet *s = NULL;
    StatsFile *sf = NULL;
    char *calib_text = NULL;
    int rc = 2;
    if (a.db) {
        if (from_db(&a, &m, &s, &calib_text) != 0) goto out;
        if (s && !a.no_reform && !a.co.calib) {
            err_set("%s: candidate %s: the run records no calibration text; give --calib FILE (or --no-reform)",
                    a.db, a.id);
            goto out;
        }
    } else {
        if (model_open(a.model, &m) != 0) goto out;
        if (a.subnet && subnet_read_file(a.subnet, m, &s) != 0) goto out;
    }
    if (strcmp(a.format, "gguf") && model_write_hf_check(m) != 0) goto out;
    /* Kept query heads spread unevenly over their KV heads need no refusal: model_extract
     * stores such a KV head once per gcd-sized group (identical copies), so the extracted
     * model always has equal GQA groups, as GGUF requires (export_gguf_check verifies it). */
    DType dtype = a.have_dtype ? a.dtype : source_dtype(m);
    const Model *out_model = m;
    if (s && a.no_reform) {
        if (model_extract(m, s, &x) != 0) goto out;
    } else if (s) { /* extract + one-shot reformation of every o_proj / down_proj that lost inputs */
        ReformOptions ro;
        reform_defaults(&ro);
        a.co.so.quiet = !cli_verbose;
        if (stats_open(m, a.co.calib, &a.co.so, &sf) != 0 || reform_oneshot(m, s, sf, &ro, &x) != 0) goto out;
    }
    if (x) out_model = x;
    if (write_out(&a, out_model, m, dtype) != 0) goto out;
    printf("wrote %s (%s, %s): %lld parameters\n", a.out, a.format, dtype_name(dtype),
           (long long)export_param_count(out_model));
    rc = 0;
out:
    if (rc) cli_fail();
    stats_close(sf);
    free(calib_text);
    subnet_free(s);
    model_free(x);
    model_free(m);
    return rc;
}
