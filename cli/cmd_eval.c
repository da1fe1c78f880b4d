/* cmd_eval — `carve eval`: perplexity of a model or subnet on a text file under the protocol of
 * ../shared/README.md (one token stream with BOS once, consecutive windows of --seq-len, every
 * position but the first of each window scored), with throughput figures.
 *
 * Two options exist for tests and are documented in --help as such: --token-file reads the
 * token stream as raw little-endian int32 ids instead of tokenizing --text (so a reference can
 * feed carve exactly its own ids), and --dump-logits writes the logits of every evaluated
 * position as raw f32, (windows*seq_len, vocab) row-major, for comparison with a reference. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "eval/calib.h"
#include "runtime/base/blas.h"
#include "runtime/forward/forward.h"
#include "runtime/model/model.h"
#include "runtime/model/subnet.h"
#include "runtime/tokenizer/tokenizer.h"

static void help(void) {
    printf("usage: carve eval --model PATH --text FILE --seq-len N [options]\n\n"
           "Perplexity of a model (or one of its subnets) on a text file: the file is tokenized as one\n"
           "stream with BOS once at the start, cut into consecutive windows of N tokens (the incomplete\n"
           "tail dropped), and every position except the first of each window is scored;\n"
           "ppl = exp(mean NLL). Prints one line: ppl= nll= scored_tokens= tokens_per_s= ...\n\n"
           "options:\n"
           "  --model PATH        model file or directory (llama2.c .bin, HF directory, GGUF)\n"
           "  --tokenizer FILE    tokenizer to use instead of the model's own\n"
           "  --text FILE         text to evaluate\n"
           "  --seq-len N         tokens per window (at most the model's context length)\n"
           "  --max-windows K     evaluate only the first K windows\n"
           "  --subnet FILE       evaluate this subnet (carve-subnet/1 JSON) instead of the dense model\n"
           "  --batch B           windows per forward pass (default: as many as fit 2048 tokens)\n"
           "  --cache-mb MB       budget for cached compact f32 weights (default 4096)\n"
           "  --json              print one JSON object instead of the summary line\n"
           "  -v, --verbose       progress and configuration on stderr\n"
           "  --help              this text\n\n"
           "test options:\n"
           "  --token-file FILE   take the token stream from FILE (raw little-endian int32 ids, BOS\n"
           "                      included by the writer) instead of tokenizing --text\n"
           "  --dump-logits FILE  write the logits of every evaluated position as raw little-endian f32,\n"
           "                      (windows*seq_len, vocab) row-major\n");
}

/* Read a raw int32 token file. */
static int read_token_file(const char *path, int32_t **ids, size_t *n) {
    size_t len = 0;
    char *buf = read_file(path, &len);
    if (!buf) return -1;
    if (len == 0 || len % 4) {
        free(buf);
        return err_set("%s: token file must hold a positive number of int32 ids (%zu bytes)", path, len);
    }
    *n = len / 4;
    *ids = xmalloc(len);
    memcpy(*ids, buf, len);
    free(buf);
    return 0;
}

int cmd_eval(int argc, char **argv) {
    enum { O_MODEL = 256, O_TOK, O_TEXT, O_SEQ, O_MAXW, O_SUB, O_BATCH, O_JSON, O_TOKFILE, O_DUMP, O_CACHE, O_HELP };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},     {"tokenizer", required_argument, 0, O_TOK},
        {"text", required_argument, 0, O_TEXT},       {"seq-len", required_argument, 0, O_SEQ},
        {"max-windows", required_argument, 0, O_MAXW}, {"subnet", required_argument, 0, O_SUB},
        {"batch", required_argument, 0, O_BATCH},     {"json", no_argument, 0, O_JSON},
        {"token-file", required_argument, 0, O_TOKFILE}, {"dump-logits", required_argument, 0, O_DUMP},
        {"cache-mb", required_argument, 0, O_CACHE},  {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, O_HELP},             {0, 0, 0, 0}};
    const char *model_path = NULL, *tok_path = NULL, *text_path = NULL, *sub_path = NULL, *tokfile = NULL,
               *dump = NULL;
    long seq_len = 0, max_windows = 0, batch = 0, cache_mb = 0;
    bool json = false;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
        switch (c) {
        case O_MODEL: model_path = optarg; break;
        case O_TOK: tok_path = optarg; break;
        case O_TEXT: text_path = optarg; break;
        case O_SUB: sub_path = optarg; break;
        case O_TOKFILE: tokfile = optarg; break;
        case O_DUMP: dump = optarg; break;
        case O_JSON: json = true; break;
        case 'v': cli_verbose = true; break;
        case O_SEQ: if (!cli_parse_int("eval", "--seq-len", optarg, 2, 1 << 20, &seq_len)) return 1; break;
        case O_MAXW: if (!cli_parse_int("eval", "--max-windows", optarg, 1, 1L << 30, &max_windows)) return 1; break;
        case O_BATCH: if (!cli_parse_int("eval", "--batch", optarg, 1, 1 << 16, &batch)) return 1; break;
        case O_CACHE: if (!cli_parse_int("eval", "--cache-mb", optarg, 1, 1L << 24, &cache_mb)) return 1; break;
        case O_HELP: help(); return 0;
        default: return cli_usage_error("eval", "unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("eval", "unexpected argument '%s'", argv[optind]);
    if (!model_path) return cli_usage_error("eval", "--model is required");
    if (!text_path && !tokfile) return cli_usage_error("eval", "--text is required");
    if (!seq_len) return cli_usage_error("eval", "--seq-len is required");

    int rc = 2;
    Model *m = NULL;
    Tokenizer *own_tok = NULL;
    Subnet *sub = NULL;
    Forward *f = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    Windows win = {0};
    float *logits = NULL;
    FILE *dfp = NULL;
    if (model_open(model_path, &m) != 0) goto done;
    if (seq_len > m->cfg.max_seq_len) {
        err_set("%s: --seq-len %ld exceeds the model's context of %d tokens", model_path, seq_len, m->cfg.max_seq_len);
        goto done;
    }
    if (sub_path && subnet_read_file(sub_path, m, &sub) != 0) goto done;
    const char *what = tokfile ? tokfile : text_path;
    if (tokfile) {
        if (read_token_file(tokfile, &ids, &n_ids) != 0) goto done;
        for (size_t i = 0; i < n_ids; i++)
            if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size) {
                err_set("%s: token id %d at index %zu is outside the model's vocabulary [0, %d)", tokfile, ids[i], i,
                        m->cfg.vocab_size);
                goto done;
            }
    } else {
        const Tokenizer *tok = NULL;
        if (cli_tokenizer(m, model_path, tok_path, &own_tok, &tok) != 0) goto done;
        if (text_tokenize_file(tok, text_path, &ids, &n_ids) != 0) goto done;
    }
    if (windows_consecutive(ids, n_ids, (int)seq_len, (int)max_windows, what, &win) != 0) goto done;
    int T = win.len;
    if (!batch) batch = 2048 / T > 0 ? 2048 / T : 1;
    if (batch > win.n) batch = win.n;
    ForwardOptions fo = {0};
    fo.cache_bytes = (size_t)cache_mb << 20;
    fo.max_tokens = (int)(batch * T);
    if (forward_create(m, sub, &fo, &f) != 0) goto done;
    if (cli_verbose)
        fprintf(stderr, "eval: %s, %zu tokens, %d windows of %d, batch %ld; %s\n", model_path, n_ids, win.n, T, batch,
                blas_describe());
    if (dump) {
        dfp = fopen(dump, "wb");
        if (!dfp) {
            err_set("%s: cannot write: %s", dump, strerror(errno));
            goto done;
        }
        logits = xmalloc((size_t)batch * T * m->cfg.vocab_size * sizeof(float));
    }
    bool tty = isatty(2), progress = cli_verbose || tty;
    int next_report = 0; /* without a tty: a line at every tenth of the windows */
    double nll = 0.0, t0 = now_seconds();
    int64_t scored = 0;
    for (int w0 = 0; w0 < win.n; w0 += (int)batch) {
        int B = win.n - w0 < batch ? win.n - w0 : (int)batch;
        const int32_t *toks = win.tokens + (size_t)w0 * T;
        if (forward_nll(f, toks, B, T, NULL, &nll, &scored) != 0) goto done;
        if (dump) {
            if (forward_logits(f, toks, B, T, logits) != 0) goto done;
            size_t cnt = (size_t)B * T * m->cfg.vocab_size;
            if (fwrite(logits, sizeof(float), cnt, dfp) != cnt) {
                err_set("%s: write failed: %s", dump, strerror(errno));
                goto done;
            }
        }
        if (progress && (tty || w0 + B >= next_report)) {
            double el = now_seconds() - t0;
            fprintf(stderr, "%seval: %d/%d windows, %.0f tokens/s%s", tty ? "\r" : "", w0 + B, win.n,
                    (double)(w0 + B) * T / el, tty && w0 + B < win.n ? "" : "\n");
            next_report = w0 + B + (win.n + 9) / 10;
        }
    }
    double secs = now_seconds() - t0;
    if (dfp) {
        int bad = fclose(dfp);
        dfp = NULL;
        if (bad) {
            err_set("%s: write failed: %s", dump, strerror(errno));
            goto done;
        }
    }
    double mean = scored ? nll / (double)scored : 0.0, ppl = exp(mean);
    double tps = (double)win.n * T / secs;
    double gflops = forward_flops(f, win.n, T) / secs / 1e9;
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:f, s:f, s:I, s:i, s:i, s:i, s:f, s:f, s:f, s:f}", "model", model_path,
                              "text", what, "ppl", ppl, "nll", mean, "scored_tokens", (json_int_t)scored, "windows",
                              win.n, "seq_len", T, "batch", (int)batch, "seconds", secs, "tokens_per_s", tps,
                              "gflops_per_s", gflops, "peak_rss_mb", (double)peak_rss_bytes() / 1048576.0);
        if (!o) {
            err_set("eval: cannot build the JSON result");
            goto done;
        }
        if (sub_path) json_object_set_new(o, "subnet", json_string(sub_path));
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
        json_decref(o);
        if (!s) {
            err_set("eval: cannot format the JSON result");
            goto done;
        }
        printf("%s\n", s);
        free(s);
    } else {
        printf("ppl=%.6f nll=%.8f scored_tokens=%lld windows=%d seq_len=%d tokens_per_s=%.1f gflops_per_s=%.1f "
               "seconds=%.3f peak_rss_mb=%.0f\n",
               ppl, mean, (long long)scored, win.n, T, tps, gflops, secs, (double)peak_rss_bytes() / 1048576.0);
    }
    rc = 0;
done:
    if (rc) cli_fail();
    if (dfp) fclose(dfp);
    free(logits);
    forward_free(f);
    windows_free(&win);
    free(ids);
    subnet_free(sub);
    if (own_tok) tokenizer_free(own_tok);
    model_free(m);
    return rc;
}
