/* tok_pretok — the regex pre-tokenizer: PCRE2 patterns (UTF + UCP, JIT when available) applied
 * in sequence as llama.cpp does (each pattern splits every piece left by the previous one;
 * the matches and the gaps between them all become pieces), and the pattern sets named by
 * GGUF tokenizer.ggml.pre. Invalid UTF-8 never matches (PCRE2_MATCH_INVALID_UTF), so stray
 * bytes end up in gap pieces and still round-trip through byte-level BPE. */
#include <stdlib.h>
#include <string.h>

#include "runtime/tokenizer/tok_internal.h"
#include "runtime/base/util.h"

/* GPT-2 (and HF ByteLevel use_regex) */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
/* Llama-3 (digits in groups of up to three) */
#define RE_LLAMA3                                                                                            \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Qwen2 (single digits) */
#define RE_QWEN2                                                                                             \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"      \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
const char *const TOK_RE_GPT2 = RE_GPT2;

int tok_add_regex(Tokenizer *t, const char *pattern, bool literal) {
    if (t->n_regex >= TOK_MAX_REGEX) return err_set("%s: more than %d pre-tokenizer patterns", t->source, TOK_MAX_REGEX);
    int errcode;
    PCRE2_SIZE erroff;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : 0);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &errcode, &erroff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        return err_set("%s: pre-tokenizer pattern does not compile at offset %zu: %s", t->source, (size_t)erroff,
                       (const char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional speed-up: interpretation works when JIT is unavailable */
    t->pre_regex[t->n_regex] = xstrdup(pattern);
    t->re[t->n_regex++] = re;
    return 0;
}

typedef struct {
    const char *name;
    const char *patterns[TOK_MAX_REGEX];
    bool ignore_merges;
} PreSet;

/* tokenizer.ggml.pre names -> the pattern sequences llama.cpp uses for them */
static const PreSet PRE_SETS[] = {
    {"gpt-2", {RE_GPT2}, false},
    {"gpt2", {RE_GPT2}, false},
    {"mpt", {RE_GPT2}, false},
    {"olmo", {RE_GPT2}, false},
    {"jais", {RE_GPT2}, false},
    {"llama3", {RE_LLAMA3}, true},
    {"llama-bpe", {RE_LLAMA3}, true},
    {"llama-v3", {RE_LLAMA3}, true},
    {"smaug-bpe", {RE_LLAMA3}, false},
    {"qwen2", {RE_QWEN2}, false},
    {"stablelm2", {RE_QWEN2}, false},
    {"deepseek-r1-qwen", {RE_QWEN2}, false},
    {"smollm", {"\\p{N}", RE_GPT2}, false},
    {"starcoder", {"\\p{N}", RE_GPT2}, false},
    {"refact", {"\\p{N}", RE_GPT2}, false},
    {"command-r", {"\\p{N}", RE_GPT2}, false},
    {"codeshell", {"\\p{N}", RE_GPT2}, false},
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, false},
};

int tok_set_pre(Tokenizer *t, const char *pre) {
    for (size_t i = 0; i < sizeof PRE_SETS / sizeof PRE_SETS[0]; i++) {
        const PreSet *p = &PRE_SETS[i];
        if (strcmp(p->name, pre)) continue;
        for (int k = 0; k < TOK_MAX_REGEX && p->patterns[k]; k++)
            if (tok_add_regex(t, p->patterns[k], false)) return -1;
        t->ignore_merges = p->ignore_merges;
        free(t->pre_name);
        t->pre_name = xstrdup(pre);
        return 0;
    }
    return -1;
}

typedef struct {
    const Tokenizer *t;
    pcre2_match_data *md;
    TokPieceFn fn;
    void *ctx;
    int err;
} SplitCtx;

/* Split s[0..n) with pattern k and hand each piece to level k+1 (or to the callback). */
static void split_level(SplitCtx *c, int k, const char *s, size_t n) {
    if (c->err || n == 0) return;
    if (k == c->t->n_regex) {
        c->fn(s, n, c->ctx);
        return;
    }
    size_t pos = 0, gap = 0;
    while (pos < n) {
        int rc = pcre2_match(c->t->re[k], (PCRE2_SPTR)s, n, pos, 0, c->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            c->err = err_set("%s: pre-tokenizer regex failed: %s", c->t->source, (const char *)msg);
            return;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* empty match: step over one character */
            pos = ms + 1;
            while (pos < n && ((uint8_t)s[pos] & 0xC0) == 0x80) pos++;
            continue;
        }
        if (ms > gap) split_level(c, k + 1, s + gap, ms - gap);
        split_level(c, k + 1, s + ms, me - ms);
        gap = pos = me;
    }
    if (gap < n) split_level(c, k + 1, s + gap, n - gap);
}

int tok_split(const Tokenizer *t, const char *s, size_t n, TokPieceFn fn, void *ctx) {
    SplitCtx c = {t, NULL, fn, ctx, 0};
    c.md = pcre2_match_data_create(1, NULL);
    if (!c.md) return err_set("%s: out of memory for regex match data", t->source);
    split_level(&c, 0, s, n);
    pcre2_match_data_free(c.md);
    return c.err;
}
