/* tok_unorm — Unicode normalisation (NFC, NFKC, NFD, NFKD) of input text before tokenization,
 * as a tokenizer.json normalizer asks for, through utf8proc (utf8proc_map with
 * UTF8PROC_STABLE | COMPOSE or DECOMPOSE, | COMPAT for the K forms).
 *
 * Input may be any bytes. utf8proc rejects invalid UTF-8, so the text is cut into segments:
 * every invalid byte (as utf8proc_iterate judges it) is its own segment and passes through
 * unchanged, and a segment also ends before every ASCII character. That second cut changes
 * nothing: no canonical composition has an ASCII character as its second element and ASCII
 * characters are starters (canonical ordering never moves a mark across them), so
 * normalise(x + a + y) == normalise(x) + normalise(a + y) for ASCII a (checked against Python's
 * unicodedata over every code point below U+30000 for all four forms). It lets all-ASCII
 * segments (most text) be copied without calling utf8proc. */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "runtime/tokenizer/tok_internal.h"
#include "runtime/base/util.h"

typedef struct {
    char *p;
    size_t n, cap;
} Buf;

static void put(Buf *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap) b->cap = b->cap * 2 + 16;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

/* Append segment s[0..n) (valid UTF-8), normalised when it holds a non-ASCII character. */
static int flush(const Tokenizer *t, Buf *b, const char *s, size_t n, bool wide) {
    if (!wide) {
        put(b, s, n);
        return 0;
    }
    utf8proc_option_t opt = UTF8PROC_STABLE | ((t->unorm & TOK_UNORM_COMPOSE) ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE);
    if (t->unorm & TOK_UNORM_COMPAT) opt |= UTF8PROC_COMPAT;
    utf8proc_uint8_t *o = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &o, opt);
    if (m < 0) return err_set("%s: Unicode normalisation of the input failed: %s", t->source, utf8proc_errmsg(m));
    put(b, o, (size_t)m);
    free(o);
    return 0;
}

int tok_unicode_normalize(const Tokenizer *t, const char *s, size_t n, char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (!(t->unorm & TOK_UNORM_ON)) return 0;
    size_t i = 0;
    while (i < n && !((uint8_t)s[i] & 0x80)) i++;
    if (i == n) return 0; /* ASCII: every form leaves it as it is */
    Buf b = {xmalloc(n + n / 4 + 16), 0, n + n / 4 + 16};
    size_t seg = 0;
    bool wide = false; /* the open segment s[seg..i) holds a non-ASCII character */
    i = 0;
    while (i < n) {
        uint8_t c = (uint8_t)s[i];
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = c < 0x80 ? 1 : utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (c >= 0x80 && l > 0) { /* a valid non-ASCII character joins the open segment */
            wide = true;
            i += (size_t)l;
            continue;
        }
        if (flush(t, &b, s + seg, i - seg, wide)) goto fail;
        wide = false;
        seg = i;
        if (c >= 0x80) { /* an invalid byte: copied alone */
            put(&b, s + i, 1);
            seg = i + 1;
        }
        i++;
    }
    if (flush(t, &b, s + seg, n - seg, wide)) goto fail;
    *out = b.p;
    *out_len = b.n;
    return 0;
fail:
    free(b.p);
    return -1;
}
