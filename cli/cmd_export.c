/* cmd_export — `carve export`: extract a chosen subnet (from a results database or a subnet
 * file), reform it unless told not to, and write it as physically smaller weights: a Hugging
 * Face directory (runtime/model_write) or a deci GGUF file (runtime/export_gguf). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "results/store.h"
#include "runtime/export_gguf.h"
#include "runtime/export_util.h"
#include "runtime/extract.h"
#include "runtime/model.h"
#include "runtime/model_write.h"
#include "runtime/subnet.h"

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
           "  --no-reform      write the inherited weights as extracted\n"
           "  --calib FILE     calibration text for reformation (default: the run's)\n"
           "  --name NAME      model name recorded in the output\n"
           "  --manifest FILE  (gguf) also write the metadata and tensor table carve meant to\n"
           "                   write as JSON, for checking the file with another reader\n"
           "Exit status: 0 written, 1 usage error, 2 bad input or a subnet the format cannot express.\n");
}

typedef struct {
    const char *db, *id, *model, *subnet, *format, *out, *calib, *name, *manifest;
    bool force, no_reform, have_dtype;
    DType dtype;
} Args;

static int parse_args(int argc, char **argv, Args *a) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"subnet", required_argument, 0, 's'},
        {"format", required_argument, 0, 'f'},  {"out", required_argument, 0, 'o'},
        {"force", no_argument, 0, 'F'},         {"dtype", required_argument, 0, 'd'},
        {"no-reform", no_argument, 0, 'N'},     {"calib", required_argument, 0, 'c'},
        {"name", required_argument, 0, 'n'},    {"manifest", required_argument, 0, 'M'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
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
        case 'c': a->calib = optarg; break;
        case 'n': a->name = optarg; break;
        case 'M': a->manifest = optarg; break;
        case 'h': help(); return -1;
        default: return cli_usage_error("export", "unknown option");
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
static int from_db(const Args *a, Model **m, Subnet **s) {
    Store *st = NULL;
    CandRow row = {0};
    char *model_path = NULL, *settings = NULL;
    int rc = -1;
    if (store_open(a->db, false, &st) != 0) return -1;
    if (store_cand_require(st, a->id, &row) != 0) goto out;
    if (store_run_model(st, row.run_id, &model_path, &settings) != 0) goto out;
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
    int prc = parse_args(argc, argv, &a);
    if (prc != 0) return prc < 0 ? 0 : prc;
    if (export_check_out(a.out, a.force) != 0) return cli_fail();
    Model *m = NULL, *x = NULL;
    Subnet *s = NULL;
    int rc = 2;
    const char *subnet_name = a.db ? a.db : a.subnet;
    if (a.db) {
        if (from_db(&a, &m, &s) != 0) goto out;
    } else {
        if (model_open(a.model, &m) != 0) goto out;
        if (a.subnet && subnet_read_file(a.subnet, m, &s) != 0) goto out;
    }
    if (s && !strcmp(a.format, "gguf") && export_gguf_check_subnet(s) != 0) {
        if (a.db) err_prefix("%s: candidate %s: cannot be written as GGUF", a.db, a.id);
        else err_prefix("%s: cannot be written as GGUF", subnet_name);
        goto out;
    }
    DType dtype = a.have_dtype ? a.dtype : source_dtype(m);
    const Model *out_model = m;
    if (s) {
        if (model_extract(m, s, &x) != 0) goto out;
        out_model = x;
    }
    if (!a.no_reform && s)
        fprintf(stderr, "carve export: note: reformation is not available in this build; writing the inherited "
                        "(extracted) weights\n");
    if (write_out(&a, out_model, m, dtype) != 0) goto out;
    printf("wrote %s (%s, %s): %lld parameters\n", a.out, a.format, dtype_name(dtype),
           (long long)export_param_count(out_model));
    rc = 0;
out:
    if (rc) cli_fail();
    subnet_free(s);
    model_free(x);
    model_free(m);
    return rc;
}
