/* cmd_eval — `carve eval`: perplexity of a model or subnet on a text file under the protocol of
 * ../shared/README.md (one token stream with BOS once, consecutive windows of --seq-len, every
 * position but the first of each window scored), with throughput figures.
 *
 * Two options exist for tests and are documented in --help as such: --token-file reads the
 * token stream as raw little-endian int32 ids instead of tokenizing --text (so a reference can
 * feed carve exactly its own ids), and --dump-logits writes the logits of every evaluated
 * position as raw f32, (windows*seq_len, vocab) row-major, for comparison with a reference.
 * --kl K adds the mean KL divergence of the subnet from the dense model (eval/kl.h: the dense
 * distribution kept as its K most probable tokens + the rest of the mass), kl= in the output. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "eval/calib.h"
#include "eval/evaluator.h"
#include "eval/kl.h"
#include "runtime/base/blas.h"
#include "runtime/forward/forward.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/model/subnet.h"
#include "runtime/tokenizer/tokenizer.h"
#ifdef CARVE_MPI
#include "search/mpi/mpi_pool.h"
#endif

static void help(const CliOpt *opts) {
    printf("usage: carve eval --model PATH --text FILE [--seq-len N] [options]\n\n"
           "Perplexity of a model (or one of its subnets) on a text file: the file is tokenized as one\n"
           "stream with BOS once at the start, cut into consecutive windows of N tokens (the incomplete\n"
           "tail dropped), and every position except the first of each window is scored;\n"
           "ppl = exp(mean NLL). Prints one line: ppl= nll= scored_tokens= tokens_per_s= ...\n\n"
           "options:\n");
    cli_print_options(opts);
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

/* Every rank: the subnet and the windows (tokens of --token-file or of --text). */
static int setup(const Model *m, const char *model_path, const char *sub_path, const char *text_path,
                 const char *tokfile, int seq_len, int max_windows, Subnet **sub, int32_t **ids, size_t *n_ids,
                 Windows *win) {
    const char *what = tokfile ? tokfile : text_path;
    if (model_check_window(m, seq_len, model_path, "--seq-len")) return -1;
    if (sub_path && subnet_read_file(sub_path, m, sub) != 0) return -1;
    if (tokfile) {
        if (read_token_file(tokfile, ids, n_ids) != 0) return -1;
        for (size_t i = 0; i < *n_ids; i++)
            if ((*ids)[i] < 0 || (*ids)[i] >= m->cfg.vocab_size) {
                err_set("%s: token id %d at index %zu is outside the model's vocabulary [0, %d)", tokfile, (*ids)[i], i,
                        m->cfg.vocab_size);
                return -1;
            }
    } else {
        const Tokenizer *tok = m->tokenizer; /* --tokenizer's, when given (model_open_tok) */
        if (!tok) {
            err_set("%s: no tokenizer found with the model (give one with --tokenizer)", model_path);
            return -1;
        }
        if (tokenizer_vocab_size(tok) > m->cfg.vocab_size) {
            err_set("%s: tokenizer has %d tokens, the model's vocabulary only %d", model_path,
                    tokenizer_vocab_size(tok), m->cfg.vocab_size);
            return -1;
        }
        if (text_tokenize_file(tok, text_path, ids, n_ids) != 0) return -1;
    }
    if (windows_consecutive(*ids, *n_ids, seq_len, max_windows, what, win) != 0) return -1;
    return 0;
}

int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *text_path = NULL, *sub_path = NULL, *tokfile = NULL,
               *dump = NULL;
    int seq_len = CLI_SEQ_LEN_DEFAULT, max_windows = 0, batch = 0, cache_mb = 0, kl_k = 0;
    bool json = false;
    const CliOpt opts[] = {
        CLI_MODEL_OPTS(&model_path, &tok_path),
        CLI_TEXT_OPT(&text_path),
        CLI_SEQ_LEN_OPT(&seq_len),
        {"max-windows", 0, OT_INT, &max_windows, 1, 1 << 30, "K", "evaluate only the first K windows"},
        CLI_SUBNET_OPT(&sub_path),
        CLI_BATCH_OPT(&batch),
        CLI_CACHE_MB_OPT(&cache_mb),
        CLI_JSON_OPT(&json),
        {"kl", 0, OT_INT, &kl_k, 1, 1 << 30, "K",
         "also the mean KL divergence of --subnet from the dense model on the same windows, the\n"
         "dense distribution kept as its K most probable tokens + the rest (fitness: kind: kl)"},
        {"token-file", 0, OT_STR, &tokfile, 0, 0, "FILE",
         "(test) take the token stream from FILE (raw little-endian int32 ids, BOS\n"
         "included by the writer) instead of tokenizing --text"},
        {"dump-logits", 0, OT_STR, &dump, 0, 0, "FILE",
         "(test) write the logits of every evaluated position as raw little-endian f32,\n"
         "(windows*seq_len, vocab) row-major"},
        CLI_COMMON_OPTS,
        {0}};
    int prc = cli_parse("eval", argc, argv, opts, NULL, 0, NULL);
    if (prc < 0) help(opts);
    if (prc) return prc < 0 ? 0 : prc;
    if (!model_path) return cli_usage_error("eval", "--model is required");
    if (!text_path && !tokfile) return cli_usage_error("eval", "--text is required");

    int rc = 2;
    Model *m = NULL;
    Subnet *sub = NULL;
    Evaluator *ev = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    Windows win = {0};
    DenseRef *ref = NULL;
    double kl = NAN;
    float *logits = NULL;
    FILE *dfp = NULL;
    int ranks = cli_ranks();
    bool root = cli_rank() == 0;
    if (dump && ranks > 1) {
        err_set("eval: --dump-logits writes one file from one process: run it without mpirun");
        goto done;
    }
    if (kl_k && ranks > 1) { /* the KL's dense reference and sums are not split over ranks (yet) */
        err_set("eval: --kl is not shared out across MPI ranks: run it without mpirun (or with -np 1)");
        goto done;
    }
    if (cli_agree(model_open_tok(model_path, tok_path, &m)) != 0) goto done;
    if (cli_agree(setup(m, model_path, sub_path, text_path, tokfile, seq_len, max_windows, &sub, &ids, &n_ids, &win)))
        goto done;
    const char *what = tokfile ? tokfile : text_path;
    int T = win.len;
    if (!batch) batch = CLI_BATCH_TOKENS / T > 0 ? CLI_BATCH_TOKENS / T : 1;
    if (batch > win.n) batch = win.n;
    EvalOptions eo = {.batch = (int)batch, .cache_bytes = (size_t)cache_mb << 20, .what = what};
#ifdef CARVE_MPI
    if (ranks > 1) { /* all ranks one window group: each scores its batches of every chunk */
        if (cli_agree(mpi_pool_groups(0)) != 0) goto done;
        eo.split = mpi_window_split();
    }
#endif
    if (cli_agree(evaluator_create(m, &win, &eo, &ev)) != 0) goto done;
    if (cli_verbose && root)
        fprintf(stderr, "eval: %s, %zu tokens, %d windows of %d, batch %d; %s\n", model_path, n_ids, win.n, T, batch,
                blas_describe());
    if (dump) {
        dfp = fopen(dump, "wb");
        if (!dfp) {
            err_set("%s: cannot write: %s", dump, strerror(errno));
            goto done;
        }
        logits = xmalloc((size_t)batch * T * m->cfg.vocab_size * sizeof(float));
    }
    bool tty = isatty(2), progress = root && (cli_verbose || tty);
    int next_report = 0; /* without a tty: a line at every tenth of the windows */
    double t0 = now_seconds();
    EvalSums all = {0};
    int chunk = batch * ranks; /* one batch per rank; chunks start on batch boundaries */
    for (int w0 = 0; w0 < win.n; w0 += chunk) {
        int B = win.n - w0 < chunk ? win.n - w0 : chunk;
        /* batch by batch into `all`, in window order, as one whole-set call adds them */
        if (evaluator_sums_add(ev, NULL, sub, w0, w0 + B, &all) != 0) goto done;
        if (dump) {
            Forward *f = evaluator_bind(ev, NULL, sub);
            if (!f || forward_logits(f, win.tokens + (size_t)w0 * T, B, T, logits) != 0) goto done;
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
    if (kl_k) {
        KlSums ks;
        if (dense_ref_build(ev, kl_k, &ref) != 0 || evaluator_kl_sums(ev, ref, NULL, sub, 0, win.n, &ks) != 0 ||
            eval_kl_of(&ks, what, &kl) != 0)
            goto done;
    }
    if (dfp) {
        int bad = fclose(dfp);
        dfp = NULL;
        if (bad) {
            err_set("%s: write failed: %s", dump, strerror(errno));
            goto done;
        }
    }
    double ppl;
    if (eval_ppl_of(&all, what, &ppl) != 0) goto done;
    double mean = all.nll_sum / (double)all.n_scored;
    int64_t scored = all.n_scored;
    double tps = (double)win.n * T / secs;
    Forward *f = evaluator_bind(ev, NULL, sub);
    if (!f) goto done;
    double gflops = forward_flops(f, win.n, T) / secs / 1e9;
    if (root && json) { /* rank 0 prints for the job */
        json_t *o = json_pack("{s:s, s:s, s:f, s:f, s:I, s:i, s:i, s:i, s:f, s:f, s:f, s:f}", "model", model_path,
                              "text", what, "ppl", ppl, "nll", mean, "scored_tokens", (json_int_t)scored, "windows",
                              win.n, "seq_len", T, "batch", (int)batch, "seconds", secs, "tokens_per_s", tps,
                              "gflops_per_s", gflops, "peak_rss_mb", (double)peak_rss_bytes() / 1048576.0);
        if (!o) {
            err_set("eval: cannot build the JSON result");
            goto done;
        }
        if (sub_path) json_object_set_new(o, "subnet", json_string(sub_path));
        if (kl_k) json_object_set_new(o, "kl", json_real(kl));
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
        json_decref(o);
        if (!s) {
            err_set("eval: cannot format the JSON result");
            goto done;
        }
        printf("%s\n", s);
        free(s);
    } else if (root) {
        printf("ppl=%.6f nll=%.8f scored_tokens=%lld windows=%d seq_len=%d tokens_per_s=%.1f gflops_per_s=%.1f "
               "seconds=%.3f peak_rss_mb=%.0f",
               ppl, mean, (long long)scored, win.n, T, tps, gflops, secs, (double)peak_rss_bytes() / 1048576.0);
        if (kl_k) printf(" kl=%.10g", kl);
        printf("\n");
    }
    rc = 0;
done:
    if (rc) cli_fail();
    if (dfp) fclose(dfp);
    free(logits);
    dense_ref_free(ref);
    evaluator_free(ev);
    windows_free(&win);
    free(ids);
    subnet_free(sub);
    model_free(m);
    return rc;
}
