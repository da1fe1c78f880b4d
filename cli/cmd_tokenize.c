/* cmd_tokenize — `carve tokenize`: print the token ids of a text (one line, space-separated)
 * with a model's tokenizer or a tokenizer file; --decode prints the round-tripped text instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opts.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/base/util.h"

static void usage(const CliOpt *opts) {
    printf("usage: carve tokenize (--model PATH | --tokenizer FILE) (--text FILE | --string S) [--no-bos] [--decode]\n"
           "                     [--separator SEP]\n\n"
           "Prints the token ids of the text on one line, space-separated (BOS first unless --no-bos),\n"
           "with the model's tokenizer or the one --tokenizer names.\n\noptions:\n");
    cli_print_options(opts);
    printf("\nSpecial-token strings in the text (\"<s>\", \"<|endoftext|>\") are encoded as plain text.\n");
}

/* Encode one text and print its ids (or its decoded round trip) on one line. */
static int print_encoding(const Tokenizer *tok, const char *text, size_t len, bool bos, bool decode) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (tokenizer_encode(tok, text, len, bos, &ids, &n)) return cli_fail();
    int rc = 0;
    if (decode) {
        size_t dl;
        char *back = tokenizer_decode(tok, ids, n, &dl);
        if (!back) rc = cli_fail();
        else {
            fwrite(back, 1, dl, stdout);
            putchar('\n');
            free(back);
        }
    } else {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        putchar('\n');
    }
    free(ids);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model_path = NULL, *tok_path = NULL, *text_path = NULL, *str = NULL, *sep = NULL;
    bool no_bos = false, decode = false;
    const CliOpt opts[] = {
        CLI_MODEL_OPTS(&model_path, &tok_path),
        CLI_TEXT_OPT(&text_path),
        {"string", 0, OT_STR, &str, 0, 0, "S", "the text to encode, given on the command line"},
        {"no-bos", 0, OT_FLAG, &no_bos, 0, 0, NULL, "do not prepend the BOS token"},
        {"decode", 0, OT_FLAG, &decode, 0, 0, NULL, "print decode(encode(text)) instead of the ids"},
        {"separator", 0, OT_STR, &sep, 0, 0, "SEP",
         "encode each part of the text between lines reading SEP on its own,\n"
         "one output line per part (the newlines around SEP are not part of the text;\n"
         "a SEP line at the very end closes the last part)"},
        CLI_COMMON_OPTS,
        {0}};
    int prc = cli_parse("tokenize", argc, argv, opts, NULL, 0, NULL);
    if (prc < 0) usage(opts);
    if (prc) return prc < 0 ? 0 : prc;
    bool bos = !no_bos;
    if (!model_path && !tok_path) return cli_usage_error("tokenize", "give --model or --tokenizer");
    if (!!text_path + !!str != 1) return cli_usage_error("tokenize", "give exactly one of --text or --string");

    Tokenizer *tok = NULL;
    Model *model = NULL;
    if (!model_path) {
        if (tokenizer_load(tok_path, &tok)) return cli_fail();
    } else {
        if (model_open_tok(model_path, tok_path, &model)) return cli_fail();
        tok = model->tokenizer;
        if (!tok) {
            err_set("%s: no tokenizer found with this model", model_path);
            model_free(model);
            return cli_fail();
        }
    }
    int rc = 0;
    size_t len = 0;
    char *text = NULL;
    if (text_path) {
        text = read_file(text_path, &len);
        if (!text) rc = cli_fail();
    } else {
        text = xstrdup(str);
        len = strlen(str);
    }
    char *sep_line = NULL;
    if (sep) {
        sep_line = xmalloc(strlen(sep) + 3);
        sprintf(sep_line, "\n%s\n", sep);
    }
    for (const char *p = text, *end = text ? text + len : NULL; !rc && p && (p < end || p == text);) {
        const char *q = sep_line ? memmem(p, (size_t)(end - p), sep_line, strlen(sep_line)) : NULL;
        size_t part = q ? (size_t)(q - p) : (size_t)(end - p);
        rc = print_encoding(tok, p, part, bos, decode);
        p = q ? q + strlen(sep_line) : NULL;
    }
    free(sep_line);
    if (!rc && fflush(stdout) != 0) {
        err_set("cannot write to standard output");
        rc = cli_fail();
    }
    free(text);
    if (model) model_free(model);
    else
        tokenizer_free(tok);
    return rc;
}
