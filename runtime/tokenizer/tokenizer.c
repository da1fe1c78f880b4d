/* tokenizer — the common half of runtime/tokenizer/tokenizer.h: vocabulary and its hash index, format
 * detection, the llama2.c tokenizer.bin and GGUF tokenizer.ggml.* loaders, and the encode /
 * decode drivers (Unicode normalisation (tokenizer.json NFC etc.) -> dummy prefix and U+2581
 * escapes -> pre-tokenize -> merge per piece; ids -> bytes).
 *
 * Choices (documented here for all tokenizer modules):
 *  - Text is always plain text: special-token strings such as "<s>" or "<|endoftext|>" inside the
 *    input are tokenized like any other characters, never turned into the special id. Byte-level
 *    vocabularies are cut at their user-defined (tokenizer.json: non-special added) tokens
 *    first, as llama.cpp does whether or not it parses special tokens, and as HF does.
 *  - Sentencepiece-style text gets one space prepended (llama.cpp / llama2.c "dummy prefix"),
 *    spaces become U+2581 (except llama2.c tokenizer.bin, which stores plain spaces), and
 *    decode strips that one leading space again, so decode(encode(x)) == x for any bytes x
 *    when the vocabulary has byte-fallback tokens.
 *  - Characters are grouped as llama.cpp does (a lead byte claims its UTF-8 length), except
 *    that a lead byte not followed by enough continuation bytes stands alone (llama.cpp would
 *    swallow the following bytes, e.g. an escaped space, into the broken character; that
 *    differs only on invalid UTF-8 and would break the round trip). Characters not in the vocabulary fall
 *    back to <0xXX> byte tokens (or <unk> when there are none).
 *  - Byte-level BPE maps every byte through the GPT-2 byte<->unicode table, so every byte
 *    string round-trips. BOS/EOS and control tokens are skipped by decode. */
#include "runtime/tokenizer/tokenizer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/files/gguf.h"
#include "runtime/tokenizer/tok_internal.h"
#include "runtime/base/util.h"

/* ---------------------------------------------------------------- vocabulary */

Tokenizer *tok_new(int n_vocab, const char *source) {
    Tokenizer *t = xcalloc(1, sizeof *t);
    t->n_vocab = n_vocab;
    t->text = xcalloc((size_t)n_vocab, sizeof *t->text);
    t->len = xcalloc((size_t)n_vocab, sizeof *t->len);
    t->score = xcalloc((size_t)n_vocab, sizeof *t->score);
    t->type = xmalloc((size_t)n_vocab);
    memset(t->type, TT_NORMAL, (size_t)n_vocab);
    t->byte_val = xmalloc((size_t)n_vocab * sizeof *t->byte_val);
    for (int i = 0; i < n_vocab; i++) t->byte_val[i] = -1;
    for (int b = 0; b < 256; b++) t->byte_tok[b] = -1;
    t->bos = t->eos = t->unk = -1;
    t->source = xstrdup(source);
    return t;
}

void tok_set_text(Tokenizer *t, int id, const char *s, size_t len) {
    free(t->text[id]);
    t->text[id] = xmalloc(len + 1);
    memcpy(t->text[id], s, len);
    t->text[id][len] = 0;
    t->len[id] = (uint32_t)len;
}

static uint32_t str_hash(const char *s, size_t len) { return (uint32_t)fnv1a64(FNV64_INIT, s, len); }

void tok_build_index(Tokenizer *t) {
    uint32_t cap = 16;
    while (cap < (uint32_t)t->n_vocab * 2u) cap <<= 1;
    free(t->hslot);
    t->hslot = xmalloc(cap * sizeof *t->hslot);
    for (uint32_t i = 0; i < cap; i++) t->hslot[i] = -1;
    t->hcap = cap;
    t->max_len = 1;
    memset(t->inner_pair, 0, sizeof t->inner_pair);
    for (int id = 0; id < t->n_vocab; id++) {
        if (!t->text[id]) tok_set_text(t, id, "", 0);
        if ((int)t->len[id] > t->max_len) t->max_len = (int)t->len[id];
        for (uint32_t k = 1; k < t->len[id]; k++) {
            unsigned pr = (unsigned)(uint8_t)t->text[id][k - 1] << 8 | (uint8_t)t->text[id][k];
            t->inner_pair[pr >> 3] |= (uint8_t)(1u << (pr & 7));
        }
        uint32_t h = str_hash(t->text[id], t->len[id]) & (cap - 1);
        for (;; h = (h + 1) & (cap - 1)) {
            int o = t->hslot[h];
            if (o < 0) {
                t->hslot[h] = id;
                break;
            }
            if (t->len[o] == t->len[id] && !memcmp(t->text[o], t->text[id], t->len[id])) {
                t->hslot[h] = id; /* a later duplicate wins, as in llama.cpp */
                break;
            }
        }
    }
}

int tok_lookup(const Tokenizer *t, const char *s, size_t len) {
    uint32_t m = t->hcap - 1;
    for (uint32_t h = str_hash(s, len) & m;; h = (h + 1) & m) {
        int id = t->hslot[h];
        if (id < 0) return -1;
        if (t->len[id] == len && !memcmp(t->text[id], s, len)) return id;
    }
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

void tok_find_byte_tokens(Tokenizer *t, bool mark) {
    for (int id = 0; id < t->n_vocab; id++) {
        const char *s = t->text[id];
        if (t->len[id] != 6 || memcmp(s, "<0x", 3) || s[5] != '>') continue;
        int hi = hexval(s[3]), lo = hexval(s[4]);
        if (hi < 0 || lo < 0) continue;
        if (!mark && t->type[id] != TT_BYTE) continue;
        int b = hi * 16 + lo;
        t->type[id] = TT_BYTE;
        t->byte_val[id] = (int16_t)b;
        if (t->byte_tok[b] < 0) t->byte_tok[b] = id;
    }
    t->byte_fallback = false;
    for (int b = 0; b < 256; b++)
        if (t->byte_tok[b] >= 0) t->byte_fallback = true;
}

int tok_utf8_put(uint32_t cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int tok_utf8_len(uint8_t c) {
    static const int8_t by_high_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return by_high_nibble[c >> 4];
}

int tok_char_len(const char *s, size_t n) {
    int l = tok_utf8_len((uint8_t)s[0]);
    if ((size_t)l > n) return 1;
    for (int k = 1; k < l; k++)
        if (((uint8_t)s[k] & 0xC0) != 0x80) return 1;
    return l;
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_vocab; i++) free(t->text[i]);
    for (int i = 0; i < t->n_regex; i++) {
        pcre2_code_free(t->re[i]);
        free(t->pre_regex[i]);
    }
    free(t->text); free(t->len); free(t->score); free(t->type); free(t->byte_val); free(t->hslot);
    free(t->merge);
    free(t->pre_name); free(t->source); free(t->user_ids);
    free(t);
}

int tokenizer_vocab_size(const Tokenizer *t) { return t ? t->n_vocab : 0; }
int tokenizer_bos(const Tokenizer *t) { return t->bos; }
int tokenizer_eos(const Tokenizer *t) { return t->eos; }

const char *tokenizer_token_text(const Tokenizer *t, int id) {
    return id >= 0 && id < t->n_vocab ? t->text[id] : NULL;
}

/* ---- vocabulary access for export (GGUF tokenizer.ggml.*) ---- */
const char *tokenizer_gguf_model(const Tokenizer *t) {
    if (t->algo == ALGO_SCORES) return "llama";
    return t->byte_level ? "gpt2" : NULL; /* sentencepiece BPE with merges has no scores to write */
}
const char *tokenizer_gguf_pre(const Tokenizer *t) { return t->byte_level ? t->pre_name : NULL; }
float tokenizer_token_score(const Tokenizer *t, int id) { return id >= 0 && id < t->n_vocab ? t->score[id] : 0.0f; }
int tokenizer_token_type(const Tokenizer *t, int id) {
    return id >= 0 && id < t->n_vocab && t->type[id] != TT_UNDEFINED ? t->type[id] : TT_NORMAL;
}
int tokenizer_n_merges(const Tokenizer *t) { return t->algo == ALGO_RANKS ? t->n_merges : 0; }
void tokenizer_merges(const Tokenizer *t, int32_t *left, int32_t *right) {
    if (t->algo != ALGO_RANKS) return; /* score vocabularies: the table holds token splits, not merges */
    for (uint32_t i = 0; i < t->mcap; i++) {
        if (!t->merge[i].key) continue;
        uint64_t k = t->merge[i].key - 1;
        int32_t r = t->merge[i].rank;
        if (r < 0 || r >= t->n_merges) continue;
        left[r] = (int32_t)(k >> 32);
        right[r] = (int32_t)(k & 0xffffffffu);
    }
}

/* ---------------------------------------------------------------- llama2.c tokenizer.bin */

static int load_llama2c(const char *path, Tokenizer **out) {
    MappedFile f;
    if (mapped_open(&f, path)) return -1;
    const uint8_t *p = f.data;
    size_t size = f.size, pos = 4;
    int32_t max_len;
    if (size < 4) {
        mapped_close(&f);
        return err_set("%s: truncated llama2.c tokenizer (%zu bytes, no header)", path, size);
    }
    memcpy(&max_len, p, 4);
    if (max_len <= 0 || max_len > 4096) {
        mapped_close(&f);
        return err_set("%s: not a llama2.c tokenizer (max_token_length %d is out of range)", path, (int)max_len);
    }
    /* first pass: validate and count records {f32 score, i32 len, bytes} */
    int n = 0;
    while (pos < size) {
        float score;
        int32_t len;
        if (size - pos < 8) {
            mapped_close(&f);
            return err_set("%s: truncated llama2.c tokenizer: token %d record header at offset %zu is cut off", path, n, pos);
        }
        memcpy(&score, p + pos, 4);
        memcpy(&len, p + pos + 4, 4);
        if (!isfinite(score) || len < 0 || len > max_len) {
            mapped_close(&f);
            return err_set("%s: corrupt llama2.c tokenizer: token %d at offset %zu has %s", path, n, pos,
                           isfinite(score) ? "a length outside [0, max_token_length]" : "a non-finite score");
        }
        if ((size_t)len > size - pos - 8) {
            mapped_close(&f);
            return err_set("%s: truncated llama2.c tokenizer: token %d needs %d bytes at offset %zu, file ends at %zu",
                           path, n, (int)len, pos + 8, size);
        }
        pos += 8 + (size_t)len;
        if (++n > (1 << 24)) {
            mapped_close(&f);
            return err_set("%s: corrupt llama2.c tokenizer: more than 16M tokens", path);
        }
    }
    if (n < 3) {
        mapped_close(&f);
        return err_set("%s: llama2.c tokenizer holds %d tokens (needs at least <unk>, <s>, </s>)", path, n);
    }
    Tokenizer *t = tok_new(n, path);
    pos = 4;
    for (int i = 0; i < n; i++) {
        int32_t len;
        memcpy(&t->score[i], p + pos, 4);
        memcpy(&len, p + pos + 4, 4);
        tok_set_text(t, i, (const char *)p + pos + 8, (size_t)len);
        pos += 8 + (size_t)len;
    }
    mapped_close(&f);
    /* llama2.c's fixed ids: 0 = <unk>, 1 = <s>, 2 = </s> */
    t->unk = 0;
    t->bos = 1;
    t->eos = 2;
    t->type[0] = TT_UNKNOWN;
    t->type[1] = t->type[2] = TT_CONTROL;
    t->algo = ALGO_SCORES;
    t->space_prefix = true;
    t->escape_ws = false; /* the exporter already turned U+2581 into plain spaces */
    tok_build_index(t);
    tok_find_byte_tokens(t, true);
    tok_build_score_pairs(t);
    *out = t;
    return 0;
}

/* ---------------------------------------------------------------- GGUF */

static int gguf_token_id(const GGUFFile *g, const char *key, int n_vocab, int dflt, int *out) {
    if (!gguf_find(g, key)) {
        *out = dflt;
        return 0;
    }
    int64_t v;
    if (gguf_get_int(g, key, &v)) return -1;
    if (v < -1 || v >= n_vocab) return err_set("%s: %s = %lld is outside the vocabulary (%d tokens)", g->file.path, key,
                                               (long long)v, n_vocab);
    *out = (int)v;
    return 0;
}

static const GGUFKV *gguf_array(const GGUFFile *g, const char *key, bool strings) {
    const GGUFKV *kv = gguf_find(g, key);
    if (!kv) {
        err_set("%s: missing tokenizer key '%s'", g->file.path, key);
        return NULL;
    }
    bool ok = kv->type == GGUF_TYPE_ARRAY &&
              (strings ? kv->arr_type == GGUF_TYPE_STRING : (kv->arr_type != GGUF_TYPE_STRING && kv->arr_type != GGUF_TYPE_ARRAY));
    if (!ok) {
        err_set("%s: tokenizer key '%s' is not an array of %s", g->file.path, key, strings ? "strings" : "numbers");
        return NULL;
    }
    return kv;
}

static int gguf_merges(Tokenizer *t, const GGUFFile *g) {
    const GGUFKV *m = gguf_array(g, "tokenizer.ggml.merges", true);
    if (!m) return -1;
    for (uint64_t i = 0; i < m->arr_len; i++) {
        const char *s = m->strs[i].ptr;
        size_t n = m->strs[i].len, sp = 1;
        while (sp < n && s[sp] != ' ') sp++;
        if (n < 3 || sp >= n - 1)
            return err_set("%s: tokenizer.ggml.merges[%llu] is not \"left right\"", g->file.path, (unsigned long long)i);
        int a = tok_lookup(t, s, sp), b = tok_lookup(t, s + sp + 1, n - sp - 1);
        char *cat = xmalloc(n);
        memcpy(cat, s, sp);
        memcpy(cat + sp, s + sp + 1, n - sp - 1);
        int c = tok_lookup(t, cat, n - 1);
        free(cat);
        if (a >= 0 && b >= 0 && c >= 0) tok_add_merge(t, a, b, c); /* merges of unknown tokens can never fire */
    }
    return 0;
}

int tokenizer_from_gguf(const GGUFFile *g, Tokenizer **out) {
    *out = NULL;
    const char *path = g->file.path;
    char *model = NULL;
    if (!gguf_find(g, "tokenizer.ggml.model")) return err_set("%s: missing tokenizer key 'tokenizer.ggml.model'", path);
    if (gguf_get_string(g, "tokenizer.ggml.model", &model)) return -1;
    bool spm = !strcmp(model, "llama"), bpe = !strcmp(model, "gpt2");
    if (!spm && !bpe) {
        err_set("%s: tokenizer.ggml.model '%s' is not supported (only 'llama' and 'gpt2')", path, model);
        free(model);
        return -1;
    }
    free(model);
    const GGUFKV *toks = gguf_array(g, "tokenizer.ggml.tokens", true);
    if (!toks) return -1;
    if (toks->arr_len == 0 || toks->arr_len > (1u << 24))
        return err_set("%s: tokenizer.ggml.tokens has %llu entries", path, (unsigned long long)toks->arr_len);
    int n = (int)toks->arr_len;
    Tokenizer *t = tok_new(n, path);
    for (int i = 0; i < n; i++) tok_set_text(t, i, toks->strs[i].ptr, toks->strs[i].len);
    const GGUFKV *types = gguf_find(g, "tokenizer.ggml.token_type");
    if (types) {
        if (!(types = gguf_array(g, "tokenizer.ggml.token_type", false))) goto fail;
        if (types->arr_len != (uint64_t)n) {
            err_set("%s: tokenizer.ggml.token_type has %llu entries for %d tokens", path,
                    (unsigned long long)types->arr_len, n);
            goto fail;
        }
        for (int i = 0; i < n; i++) {
            int64_t ty = gguf_arr_int(types, (uint64_t)i);
            t->type[i] = (uint8_t)(ty >= 0 && ty <= TT_BYTE ? ty : TT_NORMAL);
        }
    }
    tok_build_index(t);
    if (spm) {
        const GGUFKV *sc = gguf_find(g, "tokenizer.ggml.scores");
        if (sc) {
            if (!(sc = gguf_array(g, "tokenizer.ggml.scores", false))) goto fail;
            if (sc->arr_len != (uint64_t)n) {
                err_set("%s: tokenizer.ggml.scores has %llu entries for %d tokens", path, (unsigned long long)sc->arr_len, n);
                goto fail;
            }
            for (int i = 0; i < n; i++) t->score[i] = (float)gguf_arr_float(sc, (uint64_t)i);
        }
        t->algo = ALGO_SCORES;
        t->escape_ws = true;
        t->space_prefix = true;
        if (gguf_find(g, "tokenizer.ggml.add_space_prefix") &&
            gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &t->space_prefix))
            goto fail;
        tok_find_byte_tokens(t, !types); /* with token types, only TT_BYTE tokens are byte tokens */
        tok_build_score_pairs(t);
        if (gguf_token_id(g, "tokenizer.ggml.bos_token_id", n, 1 < n ? 1 : -1, &t->bos) ||
            gguf_token_id(g, "tokenizer.ggml.eos_token_id", n, 2 < n ? 2 : -1, &t->eos) ||
            gguf_token_id(g, "tokenizer.ggml.unknown_token_id", n, 0, &t->unk))
            goto fail;
    } else {
        t->algo = ALGO_RANKS;
        t->byte_level = true;
        char *pre = NULL;
        if (gguf_find(g, "tokenizer.ggml.pre")) {
            if (gguf_get_string(g, "tokenizer.ggml.pre", &pre)) goto fail;
        } else
            pre = xstrdup("default");
        int rc = tok_set_pre(t, pre);
        if (rc) err_set("%s: tokenizer.ggml.pre '%s' is not supported", path, pre);
        free(pre);
        if (rc || tok_byte_level_symbols(t) || gguf_merges(t, g)) goto fail;
        tok_collect_user(t); /* llama.cpp matches user-defined tokens before the pre-tokenizer */
        if (gguf_token_id(g, "tokenizer.ggml.bos_token_id", n, -1, &t->bos) ||
            gguf_token_id(g, "tokenizer.ggml.eos_token_id", n, -1, &t->eos) ||
            gguf_token_id(g, "tokenizer.ggml.unknown_token_id", n, -1, &t->unk))
            goto fail;
    }
    *out = t;
    return 0;
fail:
    tokenizer_free(t);
    return -1;
}

/* ---------------------------------------------------------------- load */

static bool has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int tokenizer_load(const char *path, Tokenizer **out) {
    *out = NULL;
    if (has_suffix(path, ".json")) return tok_load_json(path, out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set("%s: cannot open: %s", path, strerror(errno));
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, fp);
    fclose(fp);
    if (got == 4 && !memcmp(magic, "GGUF", 4)) {
        GGUFFile g;
        if (gguf_open(&g, path)) return -1;
        int rc = tokenizer_from_gguf(&g, out);
        gguf_close(&g);
        return rc;
    }
    return load_llama2c(path, out);
}

/* ---------------------------------------------------------------- encode / decode */

typedef struct {
    const Tokenizer *t;
    int32_t *ids;
    size_t n, cap;
} EncodeCtx;

static void encode_piece(const char *s, size_t n, void *ctx) {
    EncodeCtx *e = ctx;
    tok_encode_chunk(e->t, s, n, &e->ids, &e->n, &e->cap);
}

/* The text the merges run on: optional dummy-prefix space, spaces escaped to U+2581. */
static char *normalize(const Tokenizer *t, const char *text, size_t len, size_t *out_len) {
    size_t n_sp = 0;
    if (t->escape_ws)
        for (size_t i = 0; i < len; i++) n_sp += text[i] == ' ';
    bool prefix = t->space_prefix && !(t->byte_level && text[0] == ' ');
    char *buf = xmalloc(len + 2 * n_sp + 4);
    size_t o = 0;
    if (prefix) {
        if (t->escape_ws) { memcpy(buf, "\xe2\x96\x81", 3); o = 3; }
        else buf[o++] = ' ';
    }
    for (size_t i = 0; i < len; i++) {
        if (t->escape_ws && text[i] == ' ') {
            memcpy(buf + o, "\xe2\x96\x81", 3);
            o += 3;
        } else
            buf[o++] = text[i];
    }
    *out_len = o;
    return buf;
}

/* Append to e (an EncodeCtx) the user-defined token user_id, or else the ids of text[0..len). */
static int encode_text(const char *text, size_t len, int user_id, void *ctx) {
    EncodeCtx *e = ctx;
    const Tokenizer *t = e->t;
    if (user_id >= 0) {
        if (e->n == e->cap) {
            e->cap = e->cap * 2 + 16;
            e->ids = xrealloc(e->ids, e->cap * sizeof *e->ids);
        }
        e->ids[e->n++] = user_id;
        return 0;
    }
    if (len == 0) return 0;
    char *utext = NULL;
    size_t ulen;
    int rc = tok_unicode_normalize(t, text, len, &utext, &ulen);
    if (rc) return rc;
    if (utext) {
        text = utext;
        len = ulen;
    }
    char *fixed = tok_byte_level_input(t, text, len, &ulen);
    if (fixed) {
        free(utext);
        text = utext = fixed;
        len = ulen;
    }
    size_t blen;
    char *buf = normalize(t, text, len, &blen);
    if (t->n_regex) rc = tok_split(t, buf, blen, encode_piece, e);
    else encode_piece(buf, blen, e);
    free(buf);
    free(utext);
    return rc;
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, bool add_bos, int32_t **ids, size_t *n_ids) {
    EncodeCtx e = {t, NULL, 0, 0};
    e.cap = len / 3 + 16;
    e.ids = xmalloc(e.cap * sizeof *e.ids);
    if (add_bos && t->bos >= 0) e.ids[e.n++] = t->bos;
    int rc = 0;
    if (len > 0) rc = t->n_user ? tok_split_user(t, text, len, encode_text, &e) : encode_text(text, len, -1, &e);
    if (rc) {
        free(e.ids);
        *ids = NULL;
        *n_ids = 0;
        return -1;
    }
    *ids = e.ids;
    *n_ids = e.n;
    return 0;
}

/* Append the bytes a byte-level token text stands for (code points outside the table pass through). */
static size_t byte_level_decode(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)s[i];
        int l = tok_utf8_len(c);
        if (i + (size_t)l > n) l = 1;
        uint32_t cp = c;
        if (l == 2) cp = ((c & 0x1Fu) << 6) | ((uint8_t)s[i + 1] & 0x3Fu);
        int b = (l == 2 && cp >= 0x80) || l == 1 ? tok_cp_to_byte(cp) : -1;
        if (b >= 0) out[o++] = (char)b;
        else {
            memcpy(out + o, s + i, (size_t)l);
            o += (size_t)l;
        }
        i += (size_t)l;
    }
    return o;
}

char *tokenizer_decode(const Tokenizer *t, const int32_t *ids, size_t n_ids, size_t *len) {
    size_t cap = 64;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) {
            err_set("%s: cannot decode token id %d (vocabulary has %d tokens)", t->source, (int)ids[i], t->n_vocab);
            return NULL;
        }
        cap += t->len[ids[i]];
    }
    char *out = xmalloc(cap + 1);
    size_t o = 0;
    for (size_t i = 0; i < n_ids; i++) {
        int id = ids[i];
        if (id == t->bos || id == t->eos || t->type[id] == TT_CONTROL) continue;
        if (t->byte_val[id] >= 0) {
            out[o++] = (char)t->byte_val[id];
            continue;
        }
        const char *s = t->text[id];
        size_t n = t->len[id];
        if (t->byte_level && t->type[id] != TT_USER) {
            o += byte_level_decode(s, n, out + o);
        } else if (t->escape_ws) {
            for (size_t k = 0; k < n; k++) {
                if (k + 2 < n && !memcmp(s + k, "\xe2\x96\x81", 3)) {
                    out[o++] = ' ';
                    k += 2;
                } else
                    out[o++] = s[k];
            }
        } else {
            memcpy(out + o, s, n);
            o += n;
        }
    }
    size_t skip = (t->space_prefix && !t->byte_level && o > 0 && out[0] == ' ') ? 1 : 0;
    memmove(out, out + skip, o - skip);
    o -= skip;
    out[o] = 0;
    if (len) *len = o;
    return out;
}
