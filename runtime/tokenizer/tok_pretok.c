/* tok_pretok — the regex pre-tokenizer: PCRE2 patterns (UTF + UCP, JIT when available) applied
 * in sequence as llama.cpp does (each pattern splits every piece left by the previous one;
 * the matches and the gaps between them all become pieces, and an empty match is a split
 * point), and the table of pattern sets named by GGUF tokenizer.ggml.pre. Invalid UTF-8 never
 * matches (PCRE2_MATCH_INVALID_UTF), so stray bytes end up in gap pieces and still round-trip
 * through byte-level BPE. Also the cut at user-defined tokens that comes before the split. */
#include <stdlib.h>
#include <string.h>

#include "runtime/tokenizer/tok_internal.h"
#include "runtime/base/util.h"

/* The patterns below are llama.cpp's (src/llama-vocab.cpp, llm_tokenizer_bpe), which adapts the
 * tokenizer.json pre_tokenizer of each model family to a regex engine without case-insensitive
 * groups; they are the specification carve follows. Ranges of literal characters are written as
 * \x{...} code points. llama.cpp runs a pattern that names no \p{..} class through std::wregex,
 * whose \d is ASCII-only: such a \d is written [0-9] here (PCRE2's UCP \d is every Nd). */

/* GPT-2 (and HF ByteLevel use_regex); llama.cpp's has no final |\s+, which splits identically
 * (an unmatched whitespace character becomes a gap piece of its own either way) */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
/* Llama-3 (digits in groups of up to three) */
#define RE_LLAMA3 \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Qwen2 (single digits) */
#define RE_QWEN2 \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Qwen3.5: marks join letters */
#define RE_QWEN35                                                                                     \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*" \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Seed-Coder: single digits, newlines never inside a punctuation run */
#define RE_SEED_CODER                                                                             \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+" \
                    "|\\s+(?!\\S)|\\s+"
/* CJK ideographs U+4E00-U+9FA5, U+0800-U+4E00 (Samaritan .. CJK Ext. A), Hangul U+AC00-U+D7FF */
#define RE_CJK_HANGUL "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* DeepSeek-LLM: an optional whitespace and a run of cased letters (Unicode L&) */
#define RE_DEEPSEEK_LETTERS                                                                                          \
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"              \
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}"     \
    "\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}"         \
    "\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}"                 \
    "\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}"                 \
    "\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}"         \
    "\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}"        \
    "\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}"         \
    "\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}"                   \
    "\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"         \
    "\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"                  \
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"                 \
    "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}"           \
    "\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+"
/* ASCII and fullwidth punctuation and symbols, curly quotes, ideographic space/comma/full stop */
#define RE_DEEPSEEK_PUNCT "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+"
/* DeepSeek-V3: one ASCII punctuation char may lead ASCII letters; marks join letters */
#define RE_DEEPSEEK3                                                                                    \
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+" \
    "| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* CJK ideographs U+4E00-U+9FA5, hiragana U+3040-U+309F, katakana U+30A0-U+30FF */
#define RE_CJK_KANA "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+"
/* Tekken / GPT-4o: (?=[\p{L}])[^a-z] is "a letter other than a-z", so a word is upper-case-ish
 * letters then lower-case-ish ones (llama.cpp's stand-in for \p{Lu}...\p{Ll} classes) */
#define RE_UPPER "((?=[\\p{L}])([^a-z]))"
#define RE_LOWER "((?=[\\p{L}])([^A-Z]))"
#define RE_TEKKEN                                                                                        \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "*" RE_LOWER "+|[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "+" RE_LOWER "*" \
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT4O                                                                                             \
    "[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "*" RE_LOWER "+" RE_CONTRACTIONS "?|[^\\r\\n\\p{L}\\p{N}]?" RE_UPPER "+" \
    RE_LOWER "*" RE_CONTRACTIONS "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* BLOOM / Poro / Viking: an optional space and a run of anything but whitespace, '(', '|', ')'
 * and the sentence punctuation . , ! ? U+2026 U+3002 U+FF0C U+3001 U+0964 U+06D4 U+060C */
#define RE_BLOOM " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+"
const char *const TOK_RE_GPT2 = RE_GPT2;

int tok_add_regex(Tokenizer *t, const char *pattern, bool literal) {
    if (t->n_regex >= TOK_MAX_REGEX) return err_set("%s: more than %d pre-tokenizer patterns", t->source, TOK_MAX_REGEX);
    int errcode;
    PCRE2_SIZE erroff;
    /* $ is the end of the piece only, as in std::regex and Rust's regex (PCRE2_LITERAL admits
     * neither UCP nor DOLLAR_ENDONLY, which a literal does not need) */
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF |
                    (literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_DOLLAR_ENDONLY);
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

/* the pattern sequences of llama.cpp's pre-tokenizer types (LLAMA_VOCAB_PRE_TYPE_*) */
#define P_DEFAULT {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}
#define P_GPT2 {RE_GPT2}
#define P_LLAMA3 {RE_LLAMA3}
#define P_QWEN2 {RE_QWEN2}
#define P_STARCODER {"\\p{N}", RE_GPT2}
#define P_FALCON {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}
#define P_DEEPSEEK_LLM {"[\r\n]", RE_DEEPSEEK_LETTERS, RE_DEEPSEEK_PUNCT, "\\s+$", RE_CJK_HANGUL, "\\p{N}+"}
#define P_DEEPSEEK_CODER {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK_HANGUL, "\\p{N}"}
#define P_DEEPSEEK3 {"\\p{N}{1,3}", RE_CJK_KANA, RE_DEEPSEEK3}
#define P_BLOOM {RE_BLOOM}
#define P_VIKING {RE_BLOOM, "\\p{N}"}
#define P_CHAMELEON                                                                                   \
    {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}", \
     "[\\p{P}!-/:-@\\[-`{-~]", RE_GPT2}
/* superbpe: digit runs cut into groups of three from the right (empty lookahead matches split) */
#define P_SUPERBPE {"\\p{N}+", "(?=([0-9]{3})+(?![0-9]))"}

/* tokenizer.ggml.pre names -> the pattern sequences llama.cpp uses for them, with the models
 * (Llama-architecture ones first) whose GGUF files carry the name */
static const PreSet PRE_SETS[] = {
    {"default", P_DEFAULT, false},           /* GGUF files converted before tokenizer.ggml.pre existed */
    {"gpt-2", P_GPT2, false},                /* GPT-2; Cerebras-GPT */
    {"gpt2", P_GPT2, false},                 /* (carve's own spelling of gpt-2) */
    {"mpt", P_GPT2, false},                  /* MPT-7B */
    {"olmo", P_GPT2, false},                 /* OLMo */
    {"jais", P_GPT2, false},                 /* Jais */
    {"phi-2", P_GPT2, false},                /* Phi-2 */
    {"mellum", P_GPT2, false},               /* JetBrains Mellum-4b (LlamaForCausalLM) */
    {"trillion", P_GPT2, false},             /* Trillion-7B (LlamaForCausalLM) */
    {"exaone4", P_GPT2, false},              /* EXAONE 4.0 */
    {"gigachat", P_GPT2, false},             /* GigaChat */
    {"a.x-4.0", P_GPT2, false},              /* SKT A.X 4.0 */
    {"granite-docling", P_GPT2, false},      /* Granite-Docling (its Llama-architecture text model) */
    {"llama-bpe", P_LLAMA3, true},           /* Llama-3, Llama-3.1, Llama-3.2 */
    {"llama3", P_LLAMA3, true},              /* Llama-3 */
    {"llama-v3", P_LLAMA3, true},            /* Llama-3 (early conversions) */
    {"falcon3", P_LLAMA3, true},             /* Falcon3 (LlamaForCausalLM) */
    {"pixtral", P_LLAMA3, true},             /* Pixtral-12B (its Mistral text model) */
    {"midm-2.0", P_LLAMA3, true},            /* KT Mi:dm 2.0 (LlamaForCausalLM) */
    {"falcon-h1", P_LLAMA3, true},           /* Falcon-H1 */
    {"lfm2", P_LLAMA3, true},                /* LFM2 */
    {"smaug-bpe", P_LLAMA3, false},          /* Smaug-Llama-3-70B */
    {"dbrx", P_LLAMA3, false},               /* DBRX */
    {"chatglm-bpe", P_LLAMA3, false},        /* ChatGLM-4 */
    {"glm4", P_LLAMA3, false},               /* GLM-4 */
    {"qwen2", P_QWEN2, false},               /* Qwen2, Qwen2.5 */
    {"stablelm2", P_QWEN2, false},           /* StableLM-2 */
    {"deepseek-r1-qwen", P_QWEN2, false},    /* DeepSeek-R1-Distill-Qwen */
    {"megrez", P_QWEN2, false},              /* Megrez-3B (LlamaForCausalLM) */
    {"hunyuan", P_QWEN2, false},             /* Hunyuan-A13B */
    {"kormo", P_QWEN2, false},               /* KORMo */
    {"f2llmv2", P_QWEN2, false},             /* F2LLM-v2 */
    {"solar-open", P_QWEN2, false},          /* Solar Open */
    {"qwen35", {RE_QWEN35}, false},          /* Qwen3.5 */
    {"seed-coder", {RE_SEED_CODER}, false},  /* ByteDance Seed-Coder-8B (LlamaForCausalLM) */
    {"smollm", P_STARCODER, false},          /* SmolLM, SmolLM2 (LlamaForCausalLM) */
    {"starcoder", P_STARCODER, false},       /* StarCoder */
    {"refact", P_STARCODER, false},          /* Refact-1.6B */
    {"command-r", P_STARCODER, false},       /* Command-R */
    {"codeshell", P_STARCODER, false},       /* CodeShell-7B */
    {"exaone", P_STARCODER, false},          /* EXAONE 3.0 / 3.5 */
    {"minerva-7b", P_STARCODER, false},      /* Minerva-7B (MistralForCausalLM) */
    {"mellum2", P_STARCODER, false},         /* JetBrains Mellum-2 */
    {"falcon", P_FALCON, false},             /* Falcon-7B/40B */
    {"deepseek-llm", P_DEEPSEEK_LLM, false}, /* DeepSeek-LLM 7B/67B (LlamaForCausalLM) */
    {"deepseek-coder", P_DEEPSEEK_CODER, false}, /* DeepSeek-Coder 1.3B/6.7B/33B (LlamaForCausalLM) */
    {"deepseek-v3", P_DEEPSEEK3, false},     /* DeepSeek-V3, DeepSeek-R1 */
    {"hunyuan-dense", P_DEEPSEEK3, false},   /* Hunyuan dense models */
    {"joyai-llm", P_DEEPSEEK3, false},       /* JoyAI-LLM */
    {"hy_v4", P_DEEPSEEK3, false},           /* Hunyuan v4 */
    {"tekken", {RE_TEKKEN}, true},           /* Mistral-Nemo-12B, Ministral-8B (MistralForCausalLM) */
    {"gpt-4o", {RE_GPT4O}, false},           /* Phi-4-mini; any o200k (GPT-4o) vocabulary */
    {"llama4", {RE_GPT4O}, false},           /* Llama-4 Scout/Maverick */
    {"kanana2", {RE_GPT4O}, false},          /* Kakao Kanana-2 */
    {"minimax-m2", {RE_GPT4O}, false},       /* MiniMax-M2 */
    {"bloom", P_BLOOM, false},               /* BLOOM */
    {"poro-chat", P_BLOOM, false},           /* Poro-34B-chat */
    {"gpt3-finnish", P_BLOOM, false},        /* TurkuNLP GPT-3 Finnish */
    {"viking", P_VIKING, false},             /* LumiOpen Viking-7B/13B/33B (LlamaForCausalLM) */
    {"chameleon", P_CHAMELEON, false},       /* Meta Chameleon-7B */
    {"superbpe", P_SUPERBPE, false},         /* UW SuperBPE (OLMo2-8B-SuperBPE) */
};

/* tokenizer.json spellings (HF's originals) of patterns llama.cpp rewrites beyond what canon()
 * undoes: the \p{Lu}.. classes its std::regex lacks */
#define HF_CASED "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
#define HF_CASED2 "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
#define HF_CONTR "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
static const PreSet HF_ORIGINALS[] = {
    {"tekken", {HF_CASED "|" HF_CASED2 "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, true},
    {"gpt-4o",
     {HF_CASED HF_CONTR "?|" HF_CASED2 HF_CONTR "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     false},
};

/* A pattern in one spelling: \x{..} code points and the escapes \r \n \t as the characters
 * themselves, HF's (?i:'s|..) contractions as llama.cpp's case classes. Caller frees. */
static char *canon(const char *re) {
    static const char hf_contr[] = HF_CONTR;
    size_t n = strlen(re);
    char *o = xmalloc(n * 2 + sizeof RE_CONTRACTIONS + 1), *w = o;
    for (size_t i = 0; i < n;) {
        if (!strncmp(re + i, hf_contr, sizeof hf_contr - 1)) {
            memcpy(w, RE_CONTRACTIONS, sizeof RE_CONTRACTIONS - 1);
            w += sizeof RE_CONTRACTIONS - 1;
            i += sizeof hf_contr - 1;
        } else if (re[i] == '\\' && i + 1 < n && strchr("rnt", re[i + 1])) {
            *w++ = re[i + 1] == 'r' ? '\r' : re[i + 1] == 'n' ? '\n' : '\t';
            i += 2;
        } else if (re[i] == '\\' && re[i + 1] == 'x' && re[i + 2] == '{') {
            char *end;
            unsigned long cp = strtoul(re + i + 3, &end, 16);
            if (*end != '}' || cp > 0x10FFFF) { /* not a code point: keep the text */
                *w++ = re[i++];
                continue;
            }
            w += tok_utf8_put((uint32_t)cp, w);
            i = (size_t)(end - re) + 1;
        } else if (re[i] == '\\' && i + 1 < n) { /* any other escape stays a pair */
            *w++ = re[i++];
            *w++ = re[i++];
        } else
            *w++ = re[i++];
    }
    *w = 0;
    return o;
}

static bool same_patterns(const Tokenizer *t, const PreSet *p) {
    int n = 0;
    while (n < TOK_MAX_REGEX && p->patterns[n]) n++;
    if (n != t->n_regex) return false;
    for (int k = 0; k < n; k++) {
        char *a = canon(p->patterns[k]), *b = canon(t->pre_regex[k]);
        bool eq = !strcmp(a, b);
        free(a);
        free(b);
        if (!eq) return false;
    }
    return true;
}

const char *tok_pre_match(const Tokenizer *t) {
    const size_t n_sets = sizeof PRE_SETS / sizeof PRE_SETS[0], n_hf = sizeof HF_ORIGINALS / sizeof HF_ORIGINALS[0];
    for (int pass = 0; pass < 2; pass++) /* first with the same ignore_merges, then any */
        for (size_t i = 0; i < n_sets + n_hf; i++) {
            const PreSet *p = i < n_sets ? &PRE_SETS[i] : &HF_ORIGINALS[i - n_sets];
            if ((pass || p->ignore_merges == t->ignore_merges) && same_patterns(t, p)) return p->name;
        }
    return NULL;
}

const char *tok_pre_name(size_t i) { return i < sizeof PRE_SETS / sizeof PRE_SETS[0] ? PRE_SETS[i].name : NULL; }

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
        if (me == ms) { /* empty match: a split point (llama.cpp, HF); then step over one character */
            if (ms > gap) {
                split_level(c, k + 1, s + gap, ms - gap);
                gap = ms;
            }
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

/* ---------------------------------------------------------------- user-defined tokens */

static int by_length_desc(const void *a, const void *b, void *tok) {
    const Tokenizer *t = tok;
    int x = *(const int *)a, y = *(const int *)b;
    uint32_t lx = t->len[x], ly = t->len[y];
    return lx != ly ? (lx < ly ? 1 : -1) : (x > y) - (x < y);
}

void tok_collect_user(Tokenizer *t) {
    free(t->user_ids);
    t->user_ids = NULL;
    t->n_user = 0;
    for (int id = 0; id < t->n_vocab; id++)
        if (t->type[id] == TT_USER && t->len[id] > 0) t->n_user++;
    if (!t->n_user) return;
    t->user_ids = xmalloc((size_t)t->n_user * sizeof *t->user_ids);
    int k = 0;
    for (int id = 0; id < t->n_vocab; id++)
        if (t->type[id] == TT_USER && t->len[id] > 0) t->user_ids[k++] = id;
    qsort_r(t->user_ids, (size_t)t->n_user, sizeof *t->user_ids, by_length_desc, t);
}

int tok_split_user(const Tokenizer *t, const char *s, size_t n, TokSegFn fn, void *ctx) {
    /* owner[i]: the user token claiming byte i, or -1; longer tokens claim first, each leftmost
     * occurrence that lies wholly in unclaimed text (llama.cpp's tokenizer_st_partition) */
    int32_t *owner = xmalloc(n * sizeof *owner);
    for (size_t i = 0; i < n; i++) owner[i] = -1;
    for (int k = 0; k < t->n_user; k++) {
        int id = t->user_ids[k];
        size_t len = t->len[id];
        for (size_t pos = 0; pos + len <= n;) {
            const char *hit = memmem(s + pos, n - pos, t->text[id], len);
            if (!hit) break;
            size_t p = (size_t)(hit - s), q = 0;
            while (q < len && owner[p + q] < 0) q++;
            if (q < len) {
                pos = p + 1;
                continue;
            }
            for (q = 0; q < len; q++) owner[p + q] = id;
            pos = p + len;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        size_t j = i;
        if (owner[i] >= 0) {
            j += t->len[owner[i]];
            rc = fn(NULL, 0, owner[i], ctx);
        } else {
            while (j < n && owner[j] < 0) j++;
            rc = fn(s + i, j - i, -1, ctx);
        }
        i = j;
    }
    free(owner);
    return rc;
}
