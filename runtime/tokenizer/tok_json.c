/* tok_json — loads a Hugging Face tokenizer.json (jansson) into a Tokenizer: model.type "BPE"
 * with vocab + merges ("a b" strings or [a, b] pairs), in the two families that matter:
 *   - sentencepiece-style: normalizer Prepend("▁") + Replace(" " -> "▁"), or pre_tokenizer
 *     Metaspace; byte_fallback <0xXX> tokens (Llama-2, Mistral, TinyLlama);
 *   - byte-level: pre_tokenizer ByteLevel, or Sequence of Split(Regex, Isolated) / Digits and
 *     ByteLevel (Llama-3, SmolLM, Qwen2, GPT-2).
 * added_tokens become vocabulary entries (special ones are control tokens, skipped by decode;
 * they are never matched in input text; in byte-level vocabularies the others are matched in the
 * text before the pre-tokenizer, as HF does). BOS comes from a TemplateProcessing post_processor
 * (its leading SpecialToken); EOS from the first added token among </s>, <|end_of_text|>,
 * <|endoftext|>. Unicode normalizers NFC, NFKC, NFD, NFKD are applied (runtime/tokenizer/tok_unorm.c,
 * utf8proc) to the input before everything else. HF runs a normalizer Sequence in order; running
 * the Unicode form first instead is exact when it comes first, and also when it follows
 * Prepend("▁") / Replace(" " -> "▁") if it is NFC or NFD: U+2581 and the space are starters that
 * no canonical mapping produces, decomposes or composes with, so those steps commute with NFC/NFD.
 * NFKC/NFKD after a Replace do not commute (they turn U+00A0, U+3000, ... into spaces that the
 * Replace would have missed), so that order is an error. Several Unicode forms in one Sequence
 * combine into one (compatibility if any is, composed or not as the last says: e.g. NFD then
 * NFC is NFC, NFKD then NFC is NFKC). Anything else unsupported is a one-line error. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runtime/tokenizer/tok_internal.h"
#include "runtime/base/util.h"

#define SPACE_MARK "\xe2\x96\x81" /* U+2581 */

static const char *jstr(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool jbool(const json_t *o, const char *key, bool dflt) {
    const json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* replaced: a Replace(" " -> U+2581) has come earlier in the sequence (see the file comment). */
static int apply_normalizer(Tokenizer *t, const json_t *n, bool *replaced) {
    if (!n || json_is_null(n)) return 0;
    const char *type = jstr(n, "type");
    if (!type) return err_set("%s: normalizer without a type", t->source);
    if (!strcmp(type, "Sequence")) {
        const json_t *list = json_object_get(n, "normalizers");
        size_t i;
        const json_t *v;
        if (!json_is_array(list)) return err_set("%s: normalizer Sequence without a 'normalizers' list", t->source);
        json_array_foreach(list, i, v) if (apply_normalizer(t, v, replaced)) return -1;
        return 0;
    }
    if (!strcmp(type, "Prepend")) {
        const char *p = jstr(n, "prepend");
        if (!p || strcmp(p, SPACE_MARK)) return err_set("%s: normalizer Prepend of something other than U+2581", t->source);
        t->space_prefix = true;
        t->escape_ws = true;
        return 0;
    }
    if (!strcmp(type, "Replace")) {
        const char *from = jstr(json_object_get(n, "pattern"), "String"), *to = jstr(n, "content");
        if (!from || !to || strcmp(from, " ") || strcmp(to, SPACE_MARK))
            return err_set("%s: normalizer Replace is supported only for \" \" -> U+2581", t->source);
        t->escape_ws = true;
        *replaced = true;
        return 0;
    }
    static const struct { const char *name; int bits; } forms[] = {
        {"NFC", TOK_UNORM_ON | TOK_UNORM_COMPOSE}, {"NFKC", TOK_UNORM_ON | TOK_UNORM_COMPOSE | TOK_UNORM_COMPAT},
        {"NFD", TOK_UNORM_ON}, {"NFKD", TOK_UNORM_ON | TOK_UNORM_COMPAT}};
    for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
        if (strcmp(type, forms[k].name)) continue;
        if ((forms[k].bits & TOK_UNORM_COMPAT) && *replaced)
            return err_set("%s: normalizer %s after Replace(\" \" -> U+2581) is not supported", t->source, type);
        t->unorm = (t->unorm & TOK_UNORM_COMPAT) | forms[k].bits;
        return 0;
    }
    return err_set("%s: normalizer '%s' is not supported", t->source, type);
}

static int apply_pre(Tokenizer *t, const json_t *p) {
    if (!p || json_is_null(p)) return 0;
    const char *type = jstr(p, "type");
    if (!type) return err_set("%s: pre_tokenizer without a type", t->source);
    if (!strcmp(type, "Sequence")) {
        const json_t *list = json_object_get(p, "pretokenizers");
        size_t i;
        const json_t *v;
        if (!json_is_array(list)) return err_set("%s: pre_tokenizer Sequence without a 'pretokenizers' list", t->source);
        json_array_foreach(list, i, v) if (apply_pre(t, v)) return -1;
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) {
        t->byte_level = true;
        if (jbool(p, "add_prefix_space", false)) t->space_prefix = true;
        if (jbool(p, "use_regex", true)) return tok_add_regex(t, TOK_RE_GPT2, false);
        return 0;
    }
    if (!strcmp(type, "Split")) {
        const json_t *pat = json_object_get(p, "pattern");
        const char *re = jstr(pat, "Regex"), *lit = jstr(pat, "String"), *beh = jstr(p, "behavior");
        if ((!re && !lit) || !beh || strcmp(beh, "Isolated") || jbool(p, "invert", false))
            return err_set("%s: pre_tokenizer Split is supported only with a pattern, behavior Isolated, no invert",
                           t->source);
        return tok_add_regex(t, re ? re : lit, re == NULL);
    }
    if (!strcmp(type, "Digits")) return tok_add_regex(t, jbool(p, "individual_digits", false) ? "\\p{N}" : "\\p{N}+", false);
    if (!strcmp(type, "Metaspace")) {
        const char *rep = jstr(p, "replacement"), *scheme = jstr(p, "prepend_scheme");
        if (rep && strcmp(rep, SPACE_MARK)) return err_set("%s: Metaspace replacement other than U+2581", t->source);
        t->escape_ws = true;
        if (scheme ? strcmp(scheme, "never") != 0 : jbool(p, "add_prefix_space", true)) t->space_prefix = true;
        if (jbool(p, "split", true)) return tok_add_regex(t, SPACE_MARK "[^" SPACE_MARK "]*", false);
        return 0;
    }
    return err_set("%s: pre_tokenizer '%s' is not supported", t->source, type);
}

/* BOS: the SpecialToken leading a TemplateProcessing "single" template (possibly inside a Sequence). */
static int template_bos(const Tokenizer *t, const json_t *pp) {
    if (!pp || json_is_null(pp)) return -1;
    const char *type = jstr(pp, "type");
    if (!type) return -1;
    if (!strcmp(type, "Sequence")) {
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(pp, "processors"), i, v) {
            int b = template_bos(t, v);
            if (b >= 0) return b;
        }
        return -1;
    }
    if (strcmp(type, "TemplateProcessing")) return -1;
    const json_t *first = json_array_get(json_object_get(pp, "single"), 0);
    const char *name = jstr(json_object_get(first, "SpecialToken"), "id");
    if (!name) return -1;
    const json_t *ids = json_object_get(json_object_get(json_object_get(pp, "special_tokens"), name), "ids");
    if (json_is_integer(json_array_get(ids, 0))) {
        json_int_t id = json_integer_value(json_array_get(ids, 0));
        if (id >= 0 && id < t->n_vocab) return (int)id;
    }
    return tok_lookup(t, name, strlen(name));
}

/* The GGUF tokenizer.ggml.pre name matching a byte-level tokenizer.json's split patterns. */
static const char *pre_name_of(const Tokenizer *t) {
    const char *exact = tok_pre_match(t);
    if (exact) return exact;
    if (t->n_regex == 1 && t->pre_regex[0] && !strcmp(t->pre_regex[0], TOK_RE_GPT2)) return "gpt-2";
    if (t->n_regex == 2 && t->pre_regex[0] && !strcmp(t->pre_regex[0], "\\p{N}")) return "smollm";
    if (t->n_regex >= 1 && t->pre_regex[0] && strstr(t->pre_regex[0], "\\p{N}{1,3}")) return "llama-bpe";
    if (t->n_regex >= 1 && t->pre_regex[0] && strstr(t->pre_regex[0], "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|")) return "qwen2";
    return "default";
}

static int add_merges(Tokenizer *t, const json_t *merges) {
    size_t i;
    const json_t *m;
    json_array_foreach(merges, i, m) {
        const char *a, *b;
        size_t la, lb;
        char *tmp = NULL;
        if (json_is_string(m)) {
            const char *s = json_string_value(m);
            const char *sp = strchr(s, ' ');
            if (!sp || sp == s || !sp[1])
                return err_set("%s: model.merges[%zu] is not \"left right\"", t->source, i);
            a = s;
            la = (size_t)(sp - s);
            b = sp + 1;
            lb = strlen(b);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            la = json_string_length(json_array_get(m, 0));
            lb = json_string_length(json_array_get(m, 1));
        } else
            return err_set("%s: model.merges[%zu] is neither \"a b\" nor [a, b]", t->source, i);
        tmp = xmalloc(la + lb + 1);
        memcpy(tmp, a, la);
        memcpy(tmp + la, b, lb);
        int ia = tok_lookup(t, a, la), ib = tok_lookup(t, b, lb), ic = tok_lookup(t, tmp, la + lb);
        free(tmp);
        if (ia >= 0 && ib >= 0 && ic >= 0) tok_add_merge(t, ia, ib, ic);
    }
    return 0;
}

static int build(const char *path, const json_t *root, Tokenizer **out) {
    const json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) return err_set("%s: tokenizer.json has no 'model' object", path);
    const char *mtype = jstr(model, "type");
    const json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    if (mtype && strcmp(mtype, "BPE"))
        return err_set("%s: tokenizer model type '%s' is not supported (only BPE)", path, mtype);
    if (!json_is_object(vocab) || json_object_size(vocab) == 0) return err_set("%s: model.vocab is missing or empty", path);
    if (!json_is_array(merges)) return err_set("%s: model.merges is missing (BPE needs a merge list)", path);
    const char *cont = jstr(model, "continuing_subword_prefix"), *suffix = jstr(model, "end_of_word_suffix");
    if ((cont && *cont) || (suffix && *suffix))
        return err_set("%s: BPE with subword prefixes/suffixes is not supported", path);
    /* vocabulary size: the largest id + 1 over vocab and added_tokens */
    json_int_t max_id = -1;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (1 << 24))
            return err_set("%s: model.vocab entry '%.40s' has an invalid id", path, key);
        if (json_integer_value(v) > max_id) max_id = json_integer_value(v);
    }
    const json_t *added = json_object_get(root, "added_tokens");
    size_t i;
    json_array_foreach(added, i, v) {
        const json_t *id = json_object_get(v, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= (1 << 24) ||
            !jstr(v, "content"))
            return err_set("%s: added_tokens[%zu] lacks a valid id or content", path, i);
        if (json_integer_value(id) > max_id) max_id = json_integer_value(id);
    }
    Tokenizer *t = tok_new((int)max_id + 1, path);
    for (int k = 0; k < t->n_vocab; k++) t->type[k] = TT_UNUSED;
    json_object_foreach((json_t *)vocab, key, v) {
        int id = (int)json_integer_value(v);
        tok_set_text(t, id, key, strlen(key));
        t->type[id] = TT_NORMAL;
    }
    json_array_foreach(added, i, v) {
        int id = (int)json_integer_value(json_object_get(v, "id"));
        const json_t *c = json_object_get(v, "content");
        tok_set_text(t, id, json_string_value(c), json_string_length(c));
        t->type[id] = jbool(v, "special", false) ? TT_CONTROL : TT_USER;
    }
    tok_build_index(t);
    t->algo = ALGO_RANKS;
    t->ignore_merges = jbool(model, "ignore_merges", false);
    bool replaced = false;
    if (apply_normalizer(t, json_object_get(root, "normalizer"), &replaced) || apply_pre(t, json_object_get(root, "pre_tokenizer")))
        goto fail;
    const json_t *dec = json_object_get(root, "decoder");
    if (!t->byte_level && dec && jstr(dec, "type") && !strcmp(jstr(dec, "type"), "ByteLevel")) t->byte_level = true;
    if (t->byte_level && t->escape_ws) {
        err_set("%s: tokenizer mixes ByteLevel and U+2581 space handling", path);
        goto fail;
    }
    if (t->byte_level) {
        if (tok_byte_level_symbols(t)) goto fail;
    } else {
        tok_find_byte_tokens(t, true);
        t->byte_fallback = t->byte_fallback && jbool(model, "byte_fallback", false);
    }
    if (add_merges(t, merges)) goto fail;
    if (!t->byte_level) {
        /* scores for sentencepiece-style export (GGUF "llama" merges by score): a token made by
         * merge r scores -(r + 1), so the score order is the merge order */
        for (uint32_t i = 0; i < t->mcap; i++)
            if (t->merge[i].key &&
                (t->score[t->merge[i].res] == 0 || t->score[t->merge[i].res] < -(float)t->merge[i].rank - 1))
                t->score[t->merge[i].res] = -(float)t->merge[i].rank - 1;
        for (int k = 0; k < t->n_vocab; k++)
            if (t->score[k] == 0 && t->len[k] > 1 && t->type[k] == TT_NORMAL) t->score[k] = -(float)t->n_merges - 1;
    } else {
        t->pre_name = xstrdup(pre_name_of(t));
        tok_collect_user(t); /* HF matches added tokens before pre-tokenizing (special ones stay text here) */
    }
    const char *unk = jstr(model, "unk_token");
    if (unk) t->unk = tok_lookup(t, unk, strlen(unk));
    if (t->unk >= 0 && t->type[t->unk] != TT_CONTROL) t->type[t->unk] = TT_UNKNOWN;
    const json_t *pp = json_object_get(root, "post_processor");
    t->bos = template_bos(t, pp);
    if (t->bos < 0 && (!pp || json_is_null(pp))) t->bos = tok_lookup(t, "<s>", 3);
    static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>"};
    for (int k = 0; k < 3 && t->eos < 0; k++) {
        int id = tok_lookup(t, eos_names[k], strlen(eos_names[k]));
        if (id >= 0 && t->type[id] == TT_CONTROL) t->eos = id;
    }
    *out = t;
    return 0;
fail:
    tokenizer_free(t);
    return -1;
}

int tok_load_json(const char *path, Tokenizer **out) {
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (!path_exists(path)) return err_set("%s: cannot open: no such file", path);
        return err_set("%s: not valid JSON (line %d: %s)", path, jerr.line, jerr.text);
    }
    int rc = json_is_object(root) ? build(path, root, out) : err_set("%s: tokenizer.json is not a JSON object", path);
    json_decref(root);
    return rc;
}
