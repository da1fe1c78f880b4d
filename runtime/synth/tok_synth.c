/* tok_synth — writes small but valid Hugging Face tokenizer.json files of an exact vocabulary
 * size, for tests and `carve synth`. Merges are learned BPE-style on a built-in English
 * paragraph (most frequent adjacent pair first, ties by smaller ids); once the paragraph has
 * nothing left to merge, further merges join seeded random pairs of existing tokens.
 *   family 0, sentencepiece-style: <unk> <s> </s>, <0x00>..<0xFF>, the paragraph's characters
 *             (with U+2581 for space), then merges; normalizer Prepend + Replace, byte_fallback.
 *   family 1, byte-level: the 256 GPT-2 byte symbols, merges, then <|endoftext|> (BOS/EOS);
 *             pre_tokenizer ByteLevel (GPT-2 regex). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runtime/tokenizer/tok_internal.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/base/util.h"

static const char SAMPLE[] =
    "Once upon a time there was a little girl who lived in a small house near the forest. Every morning "
    "she walked to the river with her dog, and they watched the fish swim in the cold water. One day the "
    "girl saw a bird with a broken wing sitting under a tree. She picked it up carefully and carried it "
    "home. Her mother helped her make a soft bed for the bird in a box by the window. The girl gave it "
    "water and seeds, and she talked to it every evening before she went to sleep. After many days the "
    "bird could move its wing again. It jumped from the box to the table and then to the window. The "
    "girl opened the window and the bird flew out into the bright sky. She was sad at first, but then "
    "she smiled, because she knew that her friend was happy and free. The next morning the bird came "
    "back and sang a song on the roof of the house. In 1999, 42 people said: \"It's the best day!\"";

typedef struct {
    char **s;
    size_t *len;
    int n, cap;
    int32_t *slot; /* hash set of strings -> index */
    uint32_t hcap;
} StrTab;

static uint32_t sh(const char *s, size_t n) { return (uint32_t)fnv1a64(FNV64_INIT, s, n); }

static int tab_find(const StrTab *t, const char *s, size_t n) {
    for (uint32_t h = sh(s, n) & (t->hcap - 1);; h = (h + 1) & (t->hcap - 1)) {
        int i = t->slot[h];
        if (i < 0) return -1;
        if (t->len[i] == n && !memcmp(t->s[i], s, n)) return i;
    }
}

/* Add s (copied) unless present; returns its index. */
static int tab_add(StrTab *t, const char *s, size_t n) {
    int f = tab_find(t, s, n);
    if (f >= 0) return f;
    if (t->n == t->cap) {
        t->cap = t->cap * 2 + 64;
        t->s = xrealloc(t->s, (size_t)t->cap * sizeof *t->s);
        t->len = xrealloc(t->len, (size_t)t->cap * sizeof *t->len);
    }
    t->s[t->n] = xmalloc(n + 1);
    memcpy(t->s[t->n], s, n);
    t->s[t->n][n] = 0;
    t->len[t->n] = n;
    for (uint32_t h = sh(s, n) & (t->hcap - 1);; h = (h + 1) & (t->hcap - 1))
        if (t->slot[h] < 0) {
            t->slot[h] = t->n;
            break;
        }
    return t->n++;
}

static void tab_init(StrTab *t, int max_entries) {
    memset(t, 0, sizeof *t);
    t->hcap = 64;
    while (t->hcap < (uint32_t)max_entries * 2u) t->hcap <<= 1;
    t->slot = xmalloc(t->hcap * sizeof *t->slot);
    for (uint32_t i = 0; i < t->hcap; i++) t->slot[i] = -1;
}

static void tab_free(StrTab *t) {
    for (int i = 0; i < t->n; i++) free(t->s[i]);
    free(t->s);
    free(t->len);
    free(t->slot);
}

/* Words of the sample as token-index sequences: family 0 "▁word" by spaces, family 1
 * " word" / " punct" runs (GPT-2-like), each byte as its byte-level symbol. */
typedef struct {
    int *sym;
    int n;
} Word;

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int split_words(StrTab *tab, int family, Word *w) {
    int nw = 0;
    size_t n = strlen(SAMPLE);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        if (family == 0) {
            while (j < n && SAMPLE[j] == ' ') j++;
            while (j < n && SAMPLE[j] != ' ') j++;
        } else {
            if (SAMPLE[j] == ' ') j++;
            bool alpha = j < n && is_alpha(SAMPLE[j]);
            while (j < n && SAMPLE[j] != ' ' && is_alpha(SAMPLE[j]) == alpha) j++;
        }
        w[nw].sym = xmalloc((j - i + 1) * sizeof(int));
        w[nw].n = 0;
        if (family == 0 && i == 0) w[nw].sym[w[nw].n++] = tab_add(tab, "\xe2\x96\x81", 3); /* dummy prefix */
        for (size_t k = i; k < j; k++) {
            char u[4];
            int l;
            if (family == 0) {
                if (SAMPLE[k] == ' ') { memcpy(u, "\xe2\x96\x81", 3); l = 3; }
                else { u[0] = SAMPLE[k]; l = 1; }
            } else
                l = tok_utf8_put(tok_byte_to_cp((uint8_t)SAMPLE[k]), u);
            w[nw].sym[w[nw].n++] = tab_add(tab, u, (size_t)l);
        }
        nw++;
        i = j;
    }
    return nw;
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* One learned merge: the most frequent adjacent pair over all words (ties: smaller ids);
 * -1 when no pair occurs twice. Pairs are counted by sorting, O(S log S) per merge. */
static int learn_merge(StrTab *tab, Word *w, int nw, int *ma, int *mb) {
    size_t np = 0;
    for (int x = 0; x < nw; x++) np += w[x].n > 1 ? (size_t)w[x].n - 1 : 0;
    if (np == 0) return -1;
    uint64_t *pairs = xmalloc(np * sizeof *pairs);
    np = 0;
    for (int x = 0; x < nw; x++)
        for (int i = 0; i + 1 < w[x].n; i++) pairs[np++] = (uint64_t)w[x].sym[i] << 32 | (uint32_t)w[x].sym[i + 1];
    qsort(pairs, np, sizeof *pairs, cmp_u64);
    uint64_t best = 0;
    int best_c = 0;
    for (size_t i = 0; i < np;) {
        size_t j = i;
        while (j < np && pairs[j] == pairs[i]) j++;
        if ((int)(j - i) > best_c) { /* sorted order: the first maximum has the smallest ids */
            best_c = (int)(j - i);
            best = pairs[i];
        }
        i = j;
    }
    free(pairs);
    int best_a = (int)(best >> 32), best_b = (int)(uint32_t)best;
    if (best_c < 2) return -1; /* pairs seen once are left to the random phase */
    size_t la = tab->len[best_a], lb = tab->len[best_b];
    char *cat = xmalloc(la + lb);
    memcpy(cat, tab->s[best_a], la);
    memcpy(cat + la, tab->s[best_b], lb);
    int m = tab_add(tab, cat, la + lb);
    free(cat);
    for (int x = 0; x < nw; x++) {
        int o = 0;
        for (int i = 0; i < w[x].n; i++) {
            if (i + 1 < w[x].n && w[x].sym[i] == best_a && w[x].sym[i + 1] == best_b) {
                w[x].sym[o++] = m;
                i++;
            } else
                w[x].sym[o++] = w[x].sym[i];
        }
        w[x].n = o;
    }
    *ma = best_a;
    *mb = best_b;
    return m;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int tokenizer_synth_json(const char *path, int vocab_size, int family, uint64_t seed) {
    if (family != 0 && family != 1) return err_set("%s: tokenizer family must be 0 or 1, got %d", path, family);
    StrTab tab;
    tab_init(&tab, vocab_size + 1024);
    int first_mergeable = 0;
    if (family == 0) {
        tab_add(&tab, "<unk>", 5);
        tab_add(&tab, "<s>", 3);
        tab_add(&tab, "</s>", 4);
        for (int b = 0; b < 256; b++) {
            char s[8];
            snprintf(s, sizeof s, "<0x%02X>", b);
            tab_add(&tab, s, 6);
        }
        first_mergeable = tab.n;
    } else {
        for (int b = 0; b < 256; b++) {
            char u[4];
            int l = tok_utf8_put(tok_byte_to_cp((uint8_t)b), u);
            tab_add(&tab, u, (size_t)l);
        }
    }
    Word *w = xmalloc(sizeof SAMPLE * sizeof *w);
    int nw = split_words(&tab, family, w);
    int target = family == 0 ? vocab_size : vocab_size - 1; /* byte-level: room for <|endoftext|> */
    int rc = 0;
    if (tab.n > target) {
        rc = err_set("%s: vocab_size %d is too small for this tokenizer family (needs at least %d)", path, vocab_size,
                     tab.n + (family == 1));
        goto done;
    }
    int n_merges = 0, *ma = xmalloc((size_t)vocab_size * sizeof *ma), *mb = xmalloc((size_t)vocab_size * sizeof *mb);
    bool learning = true;
    uint64_t rng = seed ^ 0x5eedULL;
    while (tab.n < target) {
        int a, b;
        if (learning && learn_merge(&tab, w, nw, &a, &b) >= 0) {
            ma[n_merges] = a;
            mb[n_merges++] = b;
            continue;
        }
        learning = false;
        a = first_mergeable + (int)(splitmix(&rng) % (uint64_t)(tab.n - first_mergeable));
        b = first_mergeable + (int)(splitmix(&rng) % (uint64_t)(tab.n - first_mergeable));
        size_t la = tab.len[a], lb = tab.len[b];
        if (la + lb > 48) continue;
        char *cat = xmalloc(la + lb);
        memcpy(cat, tab.s[a], la);
        memcpy(cat + la, tab.s[b], lb);
        if (tab_find(&tab, cat, la + lb) < 0) {
            tab_add(&tab, cat, la + lb);
            ma[n_merges] = a;
            mb[n_merges++] = b;
        }
        free(cat);
    }
    /* JSON */
    json_t *root = json_object(), *vocab = json_object(), *merges = json_array(), *added = json_array();
    for (int i = 0; i < tab.n; i++) json_object_set_new(vocab, tab.s[i], json_integer(i));
    for (int i = 0; i < n_merges; i++) {
        json_t *pair = json_array();
        json_array_append_new(pair, json_string(tab.s[ma[i]]));
        json_array_append_new(pair, json_string(tab.s[mb[i]]));
        json_array_append_new(merges, pair);
    }
    json_t *model = json_pack("{s:s, s:o, s:o, s:b, s:b}", "type", "BPE", "vocab", vocab, "merges", merges,
                              "byte_fallback", family == 0, "ignore_merges", 0);
    const char *bos_name;
    if (family == 0) {
        json_object_set_new(model, "unk_token", json_string("<unk>"));
        const char *names[] = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < 3; i++)
            json_array_append_new(added, json_pack("{s:i, s:s, s:b}", "id", i, "content", names[i], "special", 1));
        json_object_set_new(root, "normalizer",
                            json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]}", "type", "Sequence", "normalizers",
                                      "type", "Prepend", "prepend", "\xe2\x96\x81", "type", "Replace", "pattern",
                                      "String", " ", "content", "\xe2\x96\x81"));
        json_object_set_new(root, "pre_tokenizer", json_null());
        json_object_set_new(root, "decoder",
                            json_pack("{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}, {s:s, s:s, s:i, s:i}]}", "type",
                                      "Sequence", "decoders", "type", "Replace", "pattern", "String", "\xe2\x96\x81",
                                      "content", " ", "type", "ByteFallback", "type", "Fuse", "type", "Strip",
                                      "content", " ", "start", 1, "stop", 0));
        bos_name = "<s>";
    } else {
        json_object_set_new(vocab, "<|endoftext|>", json_integer(tab.n));
        json_array_append_new(added, json_pack("{s:i, s:s, s:b}", "id", tab.n, "content", "<|endoftext|>", "special", 1));
        json_object_set_new(root, "normalizer", json_null());
        json_object_set_new(root, "pre_tokenizer", json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel",
                                                             "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1));
        json_object_set_new(root, "decoder", json_pack("{s:s}", "type", "ByteLevel"));
        bos_name = "<|endoftext|>";
    }
    json_object_set_new(root, "version", json_string("1.0"));
    json_object_set_new(root, "added_tokens", added);
    int bos_id = family == 0 ? 1 : tab.n;
    json_object_set_new(root, "post_processor",
                        json_pack("{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:{s:{s:s, s:[i], s:[s]}}}", "type",
                                  "TemplateProcessing", "single", "SpecialToken", "id", bos_name, "type_id", 0,
                                  "Sequence", "id", "A", "type_id", 0, "special_tokens", bos_name, "id", bos_name,
                                  "ids", bos_id, "tokens", bos_name));
    json_object_set_new(root, "model", model);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_ENSURE_ASCII);
    json_decref(root);
    free(ma);
    free(mb);
    if (!text) {
        rc = err_set("%s: cannot serialise the tokenizer JSON", path);
        goto done;
    }
    rc = write_file_atomic(path, text, strlen(text));
    free(text);
done:
    for (int i = 0; i < nw; i++) free(w[i].sym);
    free(w);
    tab_free(&tab);
    return rc;
}
