/* tok_bpe — the merge step of every tokenizer family, O(n log n) per pre-token:
 * symbols form a doubly linked list over the text; candidate adjacent pairs sit in a binary
 * min-heap keyed by (priority, position of the left symbol); a popped candidate whose symbols
 * have changed since it was pushed is dropped (lazy invalidation).
 *   ALGO_SCORES: a pair is a candidate when the concatenated text is a token; priority -score.
 *   ALGO_RANKS:  a pair is a candidate when (left id, right id) is in the merge list; priority rank.
 * The merge table (pair -> rank, merged id) is also built here, and the GPT-2 byte <-> symbol
 * mapping of byte-level vocabularies (including the bytes a vocabulary may lack). */
#include <stdlib.h>
#include <string.h>

#include "runtime/tokenizer/tok_internal.h"
#include "runtime/base/util.h"

/* ---------------------------------------------------------------- merge table */

static uint32_t pair_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (uint32_t)k;
}

static void merge_insert(Tokenizer *t, uint64_t key, int32_t rank, int32_t res) {
    uint32_t m = t->mcap - 1;
    for (uint32_t h = pair_hash(key) & m;; h = (h + 1) & m) {
        if (t->merge[h].key == 0) {
            t->merge[h] = (struct TokMerge){key, rank, res};
            return;
        }
        if (t->merge[h].key == key) return; /* a repeated pair keeps its first (best) rank */
    }
}

void tok_add_merge(Tokenizer *t, int left, int right, int merged) {
    if ((uint32_t)(t->n_merges + 1) * 2 > t->mcap) {
        uint32_t old = t->mcap, cap = old ? old * 2 : 1024;
        struct TokMerge *o = t->merge;
        t->merge = xcalloc(cap, sizeof *t->merge);
        t->mcap = cap;
        for (uint32_t i = 0; i < old; i++)
            if (o[i].key) merge_insert(t, o[i].key, o[i].rank, o[i].res);
        free(o);
    }
    merge_insert(t, ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1, t->n_merges++, merged);
}

/* Rank of merging (a, b), or -1; *res gets the merged id. */
static int merge_find(const Tokenizer *t, int a, int b, int *res) {
    if (!t->mcap) return -1;
    uint64_t key = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    uint32_t m = t->mcap - 1;
    for (uint32_t h = pair_hash(key) & m;; h = (h + 1) & m) {
        if (t->merge[h].key == 0) return -1;
        if (t->merge[h].key == key) {
            *res = t->merge[h].res;
            return t->merge[h].rank;
        }
    }
}

/* For ALGO_SCORES the merge test "is the concatenation of the two symbols a token" can be
 * answered from a table of (left id, right id) -> token, built from every split of every token
 * into two tokens, instead of hashing text. A symbol is a single character or a token, so this
 * is exact unless some token splits into two parts that are each a token or a single character
 * but not both tokens (a merge involving an unknown character); then the text lookup stays.
 * In a token that is valid UTF-8 only splits between characters count: symbols start where the
 * text's characters do, so no symbol boundary falls inside one of its characters. */
static bool is_one_char(const char *s, size_t n) { return (size_t)tok_char_len(s, n) == n; }

static bool is_valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n; i += (size_t)tok_char_len(s + i, n - i))
        if (((uint8_t)s[i] & 0x80) && tok_char_len(s + i, n - i) == 1) return false;
    return true;
}

void tok_build_score_pairs(Tokenizer *t) {
    t->pair_exact = false;
    for (int id = 0; id < t->n_vocab; id++) {
        const char *s = t->text[id];
        size_t n = t->len[id];
        bool valid = is_valid_utf8(s, n);
        for (size_t k = 1; k < n; k++) {
            if (valid && ((uint8_t)s[k] & 0xC0) == 0x80) continue;
            bool xt = tok_lookup(t, s, k) >= 0, yt = tok_lookup(t, s + k, n - k) >= 0;
            if ((xt || is_one_char(s, k)) && (yt || is_one_char(s + k, n - k)) && !(xt && yt)) return;
        }
    }
    for (int id = 0; id < t->n_vocab; id++) {
        const char *s = t->text[id];
        size_t n = t->len[id];
        if (tok_lookup(t, s, n) != id) continue; /* a duplicate text: the indexed id answers */
        for (size_t k = 1; k < n; k++) {
            int a = tok_lookup(t, s, k), b = a >= 0 ? tok_lookup(t, s + k, n - k) : -1;
            if (b >= 0) tok_add_merge(t, a, b, id);
        }
    }
    t->pair_exact = true;
}

/* ---------------------------------------------------------------- byte-level symbols */

/* GPT-2's table: printable bytes map to themselves, the other 68 to U+0100.. in byte order. */
static bool byte_is_printable(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); }

uint32_t tok_byte_to_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    uint32_t n = 0;
    for (int i = 0; i < b; i++) n += !byte_is_printable(i);
    return 256 + n;
}

int tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable((int)cp) ? (int)cp : -1;
    uint32_t n = 0;
    for (int b = 0; b < 256; b++)
        if (!byte_is_printable(b)) {
            if (256 + n == cp) return b;
            n++;
        }
    return -1;
}

/* Bytes a vocabulary may lack: C0, C1 and F5-FF never occur in valid UTF-8; F1 and F2 lead only
 * the code points of planes 4-11, to which Unicode assigns no character. */
static bool byte_never_in_text(int b) { return b == 0xC0 || b == 0xC1 || b == 0xF1 || b == 0xF2 || b >= 0xF5; }

int tok_byte_level_symbols(Tokenizer *t) {
    t->lacks_bytes = false;
    for (int b = 0; b < 256; b++) {
        char u[4];
        int n = tok_utf8_put(tok_byte_to_cp((uint8_t)b), u);
        t->byte_tok[b] = tok_lookup(t, u, (size_t)n);
        if (t->byte_tok[b] >= 0) continue;
        if (!byte_never_in_text(b))
            return err_set("%s: byte-level vocabulary lacks the symbol for byte 0x%02x", t->source, b);
        t->lacks_bytes = true;
    }
    return 0;
}

/* Bytes at s[i] to step over; *bad: the vocabulary has no symbol for the byte s[i] and it is
 * not inside well-formed UTF-8 (a stray byte, or a lead byte that is never valid). */
static int unmapped_at(const Tokenizer *t, const char *s, size_t n, size_t i, bool *bad) {
    uint8_t b = (uint8_t)s[i];
    int l = tok_char_len(s + i, n - i);
    *bad = t->byte_tok[b] < 0 && (l == 1 || b == 0xC0 || b == 0xC1 || b >= 0xF5);
    return *bad ? 1 : l;
}

char *tok_byte_level_input(const Tokenizer *t, const char *s, size_t n, size_t *out_len) {
    if (!t->byte_level || !t->lacks_bytes) return NULL;
    size_t n_bad = 0;
    bool bad;
    for (size_t i = 0; i < n;) {
        i += (size_t)unmapped_at(t, s, n, i, &bad);
        n_bad += bad;
    }
    if (!n_bad) return NULL;
    char *o = xmalloc(n + 2 * n_bad + 1);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        int l = unmapped_at(t, s, n, i, &bad);
        if (bad) {
            memcpy(o + k, "\xef\xbf\xbd", 3); /* U+FFFD */
            k += 3;
        } else {
            memcpy(o + k, s + i, (size_t)l);
            k += (size_t)l;
        }
        i += (size_t)l;
    }
    *out_len = k;
    return o;
}

/* ---------------------------------------------------------------- symbols and heap */

typedef struct {
    int start, len;  /* bytes of the chunk this symbol covers; len 0 = merged away */
    int prev, next;  /* neighbours, -1 at the ends */
    int id;          /* token id, -1 when the text is not a token */
} Sym;

typedef struct {
    float key;       /* lower merges first */
    int left, right; /* symbol indices (left < right, left is the text position order) */
    int size;        /* left.len + right.len when pushed, to detect stale entries */
    int id;          /* id of the merged token */
} Cand;

typedef struct {
    Cand *a;
    int n;
} Heap;

static bool cand_less(const Cand *x, const Cand *y) { return x->key < y->key || (x->key == y->key && x->left < y->left); }

static void heap_push(Heap *h, Cand c) {
    int i = h->n++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!cand_less(&c, &h->a[p])) break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = c;
}

static Cand heap_pop(Heap *h) {
    Cand top = h->a[0], last = h->a[--h->n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        const Cand *best = &last;
        if (l < h->n && cand_less(&h->a[l], best)) { m = l; best = &h->a[l]; }
        if (r < h->n && cand_less(&h->a[r], best)) m = r;
        if (m == i) break;
        h->a[i] = h->a[m];
        i = m;
    }
    if (h->n > 0) h->a[i] = last;
    return top;
}

/* Push the pair (l, r) when it can merge. */
static void try_pair(const Tokenizer *t, const char *s, const Sym *sym, int l, int r, Heap *h) {
    if (l < 0 || r < 0) return;
    Cand c = {0, l, r, sym[l].len + sym[r].len, -1};
    if (t->algo == ALGO_SCORES) {
        if (t->pair_exact) { /* same answer as the text lookup, see tok_build_score_pairs */
            if (sym[l].id < 0 || sym[r].id < 0 || merge_find(t, sym[l].id, sym[r].id, &c.id) < 0) return;
        } else
            c.id = tok_lookup(t, s + sym[l].start, (size_t)c.size);
        if (c.id < 0) return;
        c.key = -t->score[c.id];
    } else {
        if (sym[l].id < 0 || sym[r].id < 0) return;
        int rank = merge_find(t, sym[l].id, sym[r].id, &c.id);
        if (rank < 0) return;
        c.key = (float)rank;
    }
    heap_push(h, c);
}

static void push_id(int32_t **ids, size_t *n, size_t *cap, int id) {
    if (*n == *cap) {
        *cap = *cap * 2 + 16;
        *ids = xrealloc(*ids, *cap * sizeof **ids);
    }
    (*ids)[(*n)++] = id;
}

/* Append a symbol for s[start..start+len) with id (byte fallback when the piece is unknown). */
static int add_symbols(const Tokenizer *t, const char *s, int start, int len, Sym *sym, int ns) {
    int id = tok_lookup(t, s + start, (size_t)len);
    if (id < 0 && t->algo == ALGO_RANKS && t->byte_fallback) {
        /* HF byte_fallback: an unknown character becomes its byte tokens before merging */
        for (int k = 0; k < len; k++) {
            int b = (uint8_t)s[start + k];
            sym[ns] = (Sym){start + k, 1, ns - 1, ns + 1, t->byte_tok[b] >= 0 ? t->byte_tok[b] : t->unk};
            ns++;
        }
        return ns;
    }
    sym[ns] = (Sym){start, len, ns - 1, ns + 1, id};
    return ns + 1;
}

static void encode_span(const Tokenizer *t, const char *s, size_t n, int32_t **ids, size_t *n_ids, size_t *cap) {
    if (n == 0) return;
    if (t->byte_level && t->ignore_merges) {
        /* llama3-style: a pre-token that is itself a token is emitted whole */
        char *enc = xmalloc(n * 2 + 1);
        size_t el = 0;
        for (size_t i = 0; i < n; i++) el += (size_t)tok_utf8_put(tok_byte_to_cp((uint8_t)s[i]), enc + el);
        int id = tok_lookup(t, enc, el);
        free(enc);
        if (id >= 0) {
            push_id(ids, n_ids, cap, id);
            return;
        }
    }
    Sym stack_sym[64];
    Cand stack_heap[3 * 64];
    Sym *sym = n <= 64 ? stack_sym : xmalloc(n * sizeof *sym);
    Heap h = {n <= 64 ? stack_heap : xmalloc(3 * n * sizeof *h.a), 0};
    int ns = 0;
    if (t->byte_level) {
        for (size_t i = 0; i < n; i++) {
            sym[ns] = (Sym){(int)i, 1, ns - 1, ns + 1, t->byte_tok[(uint8_t)s[i]]};
            ns++;
        }
    } else {
        for (size_t i = 0; i < n;) {
            int l = tok_char_len(s + i, n - i);
            ns = add_symbols(t, s, (int)i, l, sym, ns);
            i += (size_t)l;
        }
    }
    sym[ns - 1].next = -1;
    for (int i = 0; i + 1 < ns; i++) try_pair(t, s, sym, i, i + 1, &h);
    while (h.n > 0) {
        Cand c = heap_pop(&h);
        Sym *l = &sym[c.left], *r = &sym[c.right];
        if (l->len == 0 || r->len == 0 || l->next != c.right || l->len + r->len != c.size) continue; /* stale */
        l->len += r->len;
        l->id = c.id;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = c.left;
        try_pair(t, s, sym, l->prev, c.left, &h);
        try_pair(t, s, sym, c.left, l->next, &h);
    }
    for (int i = 0; i >= 0; i = sym[i].next) {
        const Sym *y = &sym[i];
        if (y->id >= 0) {
            push_id(ids, n_ids, cap, y->id);
            continue;
        }
        if (t->byte_level) {
            /* a byte without a symbol (inside well-formed UTF-8, see tok_byte_level_input): as in
             * llama.cpp, each byte of its symbol's UTF-8 text that is itself a token, else nothing */
            char u[4];
            int nu = tok_utf8_put(tok_byte_to_cp((uint8_t)s[y->start]), u);
            for (int k = 0; k < nu; k++) {
                int b = tok_lookup(t, u + k, 1);
                if (b >= 0) push_id(ids, n_ids, cap, b);
            }
            continue;
        }
        /* not a token: its bytes as byte-fallback tokens, else <unk> */
        bool any = false;
        for (int k = 0; k < y->len; k++) {
            int b = t->byte_tok[(uint8_t)s[y->start + k]];
            if (b >= 0) {
                push_id(ids, n_ids, cap, b);
                any = true;
            }
        }
        if (!any && t->unk >= 0) push_id(ids, n_ids, cap, t->unk);
    }
    if (sym != stack_sym) free(sym);
    if (h.a != stack_heap) free(h.a);
}

/* Splitting a long text at byte p gives exactly the same tokens when no vocabulary token could
 * cover a span crossing p: every symbol, merged or not, is a substring of the text, and a merge
 * creates a token spanning both symbols; so no merge ever crosses p, the merges on either side
 * only compare candidates of their own side, and (priority, position) order within a side is
 * unchanged. When the two bytes around p are never adjacent inside any token that is certain at
 * once; otherwise it costs at most max_len^2 / 2 lookups. */
static bool boundary_is_safe(const Tokenizer *t, const char *s, size_t n, size_t p) {
    unsigned pr = (unsigned)(uint8_t)s[p - 1] << 8 | (uint8_t)s[p];
    if (!(t->inner_pair[pr >> 3] & (1u << (pr & 7)))) return true;
    size_t L = (size_t)t->max_len;
    for (size_t a = p; a-- > 0 && p - a < L;)
        for (size_t b = p + 1; b <= n && b - a <= L; b++)
            if (tok_lookup(t, s + a, b - a) >= 0) return false;
    return true;
}

#define CHUNK_TARGET 4096 /* bytes; keeps the heap small and in cache */
#define CHUNK_TRIES 64    /* boundaries tried before giving up on a region */

void tok_encode_chunk(const Tokenizer *t, const char *s, size_t n, int32_t **ids, size_t *n_ids, size_t *cap) {
    size_t start = 0;
    while (!t->byte_level && n - start > 2 * CHUNK_TARGET) {
        /* candidate boundaries: the start of a space mark / newline that follows another character */
        size_t p = start + CHUNK_TARGET, limit = n - CHUNK_TARGET, found = 0;
        for (int tries = 0; p < limit && tries < CHUNK_TRIES; p++) {
            char c = s[p], prev = s[p - 1];
            bool space_start = (c == ' ' && prev != ' ') || c == '\n' ||
                               ((uint8_t)c == 0xE2 && p + 2 < n && (uint8_t)s[p + 1] == 0x96 && (uint8_t)s[p + 2] == 0x81 &&
                                (uint8_t)prev != 0x81);
            if (!space_start) continue;
            tries++;
            if (boundary_is_safe(t, s, n, p)) {
                found = p;
                break;
            }
        }
        if (!found) break; /* no provably safe boundary nearby: merge the rest in one piece */
        encode_span(t, s + start, found - start, ids, n_ids, cap);
        start = found;
    }
    encode_span(t, s + start, n - start, ids, n_ids, cap);
}
