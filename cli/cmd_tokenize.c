/* cmd_tokenize — `carve tokenize`: print the token ids of a text (one line, space-separated)
 * with a model's tokenizer or a tokenizer file; --decode prints the round-tripped text instead. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "runtime/formats/model_open.h"
#include "runtime/model/model.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/base/util.h"

static void usage(FILE *fp) {
    fprintf(fp,
            "usage: carve tokenize (--model PATH | --tokenizer FILE) (--text FILE | --string S) [--no-bos] [--decode]\n"
            "                     [--separator SEP]\n\n"
            "Prints the token ids of the text on one line, space-separated (BOS first unless --no-bos).\n\n"
            "  --model PATH       a model (llama2.c .bin, GGUF, or a Hugging Face directory); its tokenizer is used\n"
            "  --tokenizer FILE   a tokenizer file: llama2.c tokenizer.bin, HF tokenizer.json, or a .gguf\n"
            "  --text FILE        the text to encode (bytes as they are)\n"
            "  --string S         the text to encode, given on the command line\n"
            "  --no-bos           do not prepend the BOS token\n"
            "  --decode           print decode(encode(text)) instead of the ids\n"
            "  --separator SEP    encode each part of the text between lines reading SEP on its own,\n"
            "                     one output line per part (the newlines around SEP are not part of the text;\n"
            "                     a SEP line at the very end closes the last part)\n"
            "  -h, --help         this help\n\n"
            "Special-token strings in the text (\"<s>\", \"<|endoftext|>\") are encoded as plain text.\n");
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
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"tokenizer", required_argument, 0, 't'},
        {"text", required_argument, 0, 'f'},  {"string", required_argument, 0, 's'},
        {"no-bos", no_argument, 0, 'b'},      {"decode", no_argument, 0, 'd'},
        {"separator", required_argument, 0, 'S'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model_path = NULL, *tok_path = NULL, *text_path = NULL, *str = NULL, *sep = NULL;
    bool bos = true, decode = false;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 't': tok_path = optarg; break;
        case 'f': text_path = optarg; break;
        case 's': str = optarg; break;
        case 'b': bos = false; break;
        case 'd': decode = true; break;
        case 'S': sep = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return cli_usage_error("tokenize", "unknown option");
        }
    }
    if (optind < argc) return cli_usage_error("tokenize", "unexpected argument '%s'", argv[optind]);
    if (!!model_path + !!tok_path != 1) return cli_usage_error("tokenize", "give exactly one of --model or --tokenizer");
    if (!!text_path + !!str != 1) return cli_usage_error("tokenize", "give exactly one of --text or --string");

    Tokenizer *tok = NULL;
    Model *model = NULL;
    if (tok_path) {
        if (tokenizer_load(tok_path, &tok)) return cli_fail();
    } else {
        if (model_open(model_path, &model)) return cli_fail();
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
