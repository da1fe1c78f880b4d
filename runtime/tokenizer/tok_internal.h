/* tok_internal — the Tokenizer struct shared by the tokenizer modules (private to runtime/tok*.c):
 * vocabulary with a string->id hash, merge table, pre-tokenizer regexes, and the hooks each
 * loader fills in. tokenizer.c owns the common parts (vocabulary, encode/decode driver,
 * llama2.c and GGUF loaders), tok_bpe.c byte-level symbols and the two merge algorithms,
 * tok_pretok.c the regex split (and the cut at user-defined tokens), tok_unorm.c Unicode
 * normalisation (utf8proc), tok_json.c the tokenizer.json loader. */
#ifndef CARVE_TOK_INTERNAL_H
#define CARVE_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "runtime/tokenizer/tokenizer.h"

/* token types (the GGUF tokenizer.ggml.token_type values) */
enum { TT_UNDEFINED = 0, TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* merge algorithm */
typedef enum {
    ALGO_SCORES = 0, /* sentencepiece-style: merge the adjacent pair whose concatenation is a token with the best score */
    ALGO_RANKS = 1   /* BPE with a merge list: merge the adjacent pair with the lowest merge rank */
} TokAlgo;

#define TOK_MAX_REGEX 8

/* Unicode normalisation form of the input (Tokenizer.unorm bits; 0 = none):
 * NFC = ON|COMPOSE, NFKC = ON|COMPOSE|COMPAT, NFD = ON, NFKD = ON|COMPAT */
enum { TOK_UNORM_ON = 1, TOK_UNORM_COMPOSE = 2, TOK_UNORM_COMPAT = 4 };

struct Tokenizer {
    int n_vocab;
    char **text;        /* token strings as stored (NUL-terminated copies) */
    uint32_t *len;      /* their byte lengths */
    float *score;       /* ALGO_SCORES: merge priority (higher first) */
    uint8_t *type;      /* TT_* */
    int16_t *byte_val;  /* TT_BYTE tokens: the byte they stand for; else -1 */
    int32_t *hslot;     /* open-addressing hash of text -> id (-1 = empty), hcap slots */
    uint32_t hcap;

    TokAlgo algo;
    bool byte_level;    /* GPT-2 byte->unicode mapping (text is split by regex first) */
    bool space_prefix;  /* prepend one space to non-empty text (sentencepiece "dummy prefix") */
    bool escape_ws;     /* replace ' ' by U+2581 before merging, back on decode */
    bool ignore_merges; /* byte-level (llama3): a pre-token that is itself a token is emitted whole */
    bool byte_fallback; /* unknown characters become <0xXX> byte tokens */
    bool lacks_bytes;   /* byte-level: some byte that never occurs in UTF-8 text has no symbol */
    int unorm;          /* TOK_UNORM_* bits: Unicode normalisation applied first to the input */
    int byte_tok[256];  /* byte fallback: id of <0xXX>; byte-level: id of the symbol for byte b; -1 none */
    int bos, eos, unk;
    int max_len;        /* longest token text in bytes */
    uint8_t inner_pair[256 * 256 / 8]; /* bit (a << 8 | b): bytes a, b are adjacent inside some token */

    /* merge table: (left id, right id) -> rank and merged id (one 16-byte slot per entry) */
    struct TokMerge {
        uint64_t key;   /* ((uint64_t)left << 32 | right) + 1; 0 = empty */
        int32_t rank, res;
    } *merge;
    uint32_t mcap;
    int n_merges;
    bool pair_exact;    /* ALGO_SCORES: the merge table answers "is left+right a token" exactly */

    /* pre-tokenizer: regexes applied in sequence, each splitting the pieces of the previous one
     * (matches and the gaps between them both become pieces) */
    int n_regex;
    pcre2_code *re[TOK_MAX_REGEX];
    char *pre_regex[TOK_MAX_REGEX]; /* their source patterns */
    char *pre_name;     /* for diagnostics */
    int *user_ids;      /* byte-level: user-defined tokens, matched in the text first (longest first) */
    int n_user;
    char *source;       /* path it was loaded from */
};

/* ---- tokenizer.c: vocabulary ---- */
Tokenizer *tok_new(int n_vocab, const char *source);
/* Set token id's text (copied). */
void tok_set_text(Tokenizer *t, int id, const char *s, size_t len);
/* Build the string->id hash (call after all texts are set; later duplicates win). */
void tok_build_index(Tokenizer *t);
/* id of the token whose text is s[0..len), or -1. */
int  tok_lookup(const Tokenizer *t, const char *s, size_t len);
/* Fill byte_val/byte_tok from tokens spelled "<0xXX>" (marking them TT_BYTE when mark is set). */
void tok_find_byte_tokens(Tokenizer *t, bool mark);
/* Encode a code point as UTF-8 into out (>= 4 bytes); returns the byte count. */
int tok_utf8_put(uint32_t cp, char *out);
/* Length of the UTF-8 sequence announced by lead byte c (1 for ASCII and stray bytes). */
int tok_utf8_len(uint8_t c);
/* Bytes of the character starting s[0..n): its UTF-8 length when all continuation bytes are
 * present and well-formed, else 1. */
int tok_char_len(const char *s, size_t n);

/* ---- tok_bpe.c: byte-level symbols and merges ---- */
/* GPT-2 byte <-> unicode mapping */
uint32_t tok_byte_to_cp(uint8_t b);
int      tok_cp_to_byte(uint32_t cp); /* -1 when cp is not one of the 256 */
/* Fill byte_tok with the ids of the 256 GPT-2 byte symbols. A missing symbol is an error (set,
 * -1) unless the byte never occurs in UTF-8 text (C0, C1, F1, F2, F5-FF): then lacks_bytes. */
int  tok_byte_level_symbols(Tokenizer *t);
/* Byte-level text with lacks_bytes: every byte without a symbol that is not inside well-formed
 * UTF-8 becomes U+FFFD, as llama.cpp turns invalid UTF-8 into U+FFFD. Returns the malloc'ed
 * text (*out_len bytes), or NULL when nothing changes. */
char *tok_byte_level_input(const Tokenizer *t, const char *s, size_t n, size_t *out_len);
/* Add merge (left, right) -> merged with the next rank. */
void tok_add_merge(Tokenizer *t, int left, int right, int merged);
/* ALGO_SCORES: fill the merge table with every split of every token when that is exact. */
void tok_build_score_pairs(Tokenizer *t);
/* Encode one pre-token chunk s[0..n) and append ids to the growing vector (*ids, *n, *cap). */
void tok_encode_chunk(const Tokenizer *t, const char *s, size_t n, int32_t **ids, size_t *n_ids, size_t *cap);

/* ---- tok_pretok.c: regex pre-tokenizer ---- */
/* Compile and append a regex (PCRE2, UTF + UCP). literal: match pattern as a plain string. */
int  tok_add_regex(Tokenizer *t, const char *pattern, bool literal);
/* Install the regex set llama.cpp uses for a tokenizer.ggml.pre name; -1 on an unknown name. */
int  tok_set_pre(Tokenizer *t, const char *pre);
/* The tokenizer.ggml.pre name whose patterns are t's (a tokenizer.json's Split / Digits /
 * ByteLevel sequence), preferring one with t's ignore_merges; NULL when none is. */
const char *tok_pre_match(const Tokenizer *t);
/* The i-th tokenizer.ggml.pre name tok_set_pre knows, NULL past the last. */
const char *tok_pre_name(size_t i);
/* Call fn on every piece of s[0..n) after all regex splits, in order. */
typedef void (*TokPieceFn)(const char *s, size_t n, void *ctx);
int  tok_split(const Tokenizer *t, const char *s, size_t n, TokPieceFn fn, void *ctx);
extern const char *const TOK_RE_GPT2; /* GPT-2 / ByteLevel(use_regex) pattern */
/* Fill user_ids with the user-defined (TT_USER) tokens, longest first. */
void tok_collect_user(Tokenizer *t);
/* Cut s[0..n) at the user-defined tokens (llama.cpp's order: longest token first, leftmost
 * occurrences in text no longer token claimed) and call fn on each part in order: a token as
 * (NULL, 0, id), the text between as (text, len, -1). Returns the first non-zero fn result. */
typedef int (*TokSegFn)(const char *s, size_t n, int user_id, void *ctx);
int  tok_split_user(const Tokenizer *t, const char *s, size_t n, TokSegFn fn, void *ctx);

/* ---- tok_unorm.c: Unicode normalisation ---- */
/* Normalise s[0..n) to t->unorm's form; invalid UTF-8 bytes pass through unchanged. *out is a
 * malloc'ed result of *out_len bytes, or NULL when the text is unchanged by construction (no
 * form set, or pure ASCII). -1 with err_set only if utf8proc fails (out of memory). */
int tok_unicode_normalize(const Tokenizer *t, const char *s, size_t n, char **out, size_t *out_len);

/* ---- tok_json.c ---- */
int tok_load_json(const char *path, Tokenizer **out);

#endif
