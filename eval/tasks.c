/* tasks — loaders of the zero-shot task files and the harness prompts (see tasks.h).
 * JSON through jansson, one object a line; HellaSwag's 6-line text form through libbz2.
 * Every error names the file and, where there is one, the line. */
#include "eval/tasks.h"

#include <assert.h>
#include <bzlib.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/base/util.h"

/* ---- building items ------------------------------------------------------------------ */

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) die_oom(strlen(fmt));
    return s;
}

/* Unicode code points of UTF-8 text (Python's len(str)); a stray byte counts as one. */
static int utf8_len(const char *s) {
    int n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static TaskItem *push_item(TaskSet *s, int *cap, int line) {
    if (s->n == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        s->items = xrealloc(s->items, (size_t)*cap * sizeof *s->items);
    }
    TaskItem *it = &s->items[s->n++];
    memset(it, 0, sizeof *it);
    it->line = line;
    return it;
}

/* Add a choice: ctx is owned by the item (pass the same pointer for a shared context). */
static void add_choice(TaskItem *it, char *ctx, const char *choice) {
    assert(it->n_choices < TASK_MAX_CHOICES);
    int k = it->n_choices++;
    it->ctx[k] = ctx;
    it->cont[k] = str_printf(" %s", choice);
    it->choice_len[k] = utf8_len(choice);
}

static void item_free(TaskItem *it) {
    for (int k = 0; k < it->n_choices; k++) {
        bool shared = false;
        for (int j = 0; j < k; j++) shared |= it->ctx[j] == it->ctx[k];
        if (!shared) free(it->ctx[k]);
        free(it->cont[k]);
    }
}

void taskset_free(TaskSet *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) item_free(&s->items[i]);
    free(s->items);
    s->items = NULL;
    s->n = 0;
}

/* ---- lines --------------------------------------------------------------------------- */

/* A whole file in memory, NUL-terminated; .bz2 files are decompressed. */
static char *load_text(const char *path, size_t *len) {
    size_t n = strlen(path);
    if (n < 4 || strcmp(path + n - 4, ".bz2") != 0) {
        char *buf = read_file(path, len);
        if (buf && memchr(buf, 0, *len)) {
            free(buf);
            err_set("%s: contains a NUL byte (not a text file)", path);
            return NULL;
        }
        return buf;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    int bzerr = BZ_OK;
    BZFILE *bz = BZ2_bzReadOpen(&bzerr, fp, 0, 0, NULL, 0);
    size_t cap = 1 << 20, used = 0;
    char *buf = xmalloc(cap);
    while (bzerr == BZ_OK) {
        if (cap - used < (1 << 16)) buf = xrealloc(buf, cap *= 2);
        int got = BZ2_bzRead(&bzerr, bz, buf + used, (int)(cap - used - 1));
        if (bzerr == BZ_OK || bzerr == BZ_STREAM_END) used += (size_t)got;
    }
    const char *why = bzerr == BZ_STREAM_END ? NULL
                      : bzerr == BZ_DATA_ERROR_MAGIC ? "not a bzip2 file"
                      : bzerr == BZ_UNEXPECTED_EOF   ? "truncated bzip2 data"
                      : bzerr == BZ_DATA_ERROR       ? "corrupt bzip2 data (CRC or format error)"
                      : bzerr == BZ_IO_ERROR         ? "read error"
                                                     : "bzip2 decompression failed";
    BZ2_bzReadClose(&bzerr, bz);
    fclose(fp);
    if (why) {
        free(buf);
        err_set("%s: %s", path, why);
        return NULL;
    }
    buf[used] = 0;
    if (memchr(buf, 0, used)) {
        free(buf);
        err_set("%s: contains a NUL byte (not a text file)", path);
        return NULL;
    }
    *len = used;
    return buf;
}

/* Split buf in place into lines (without "\n" or "\r\n"); a final newline ends the last line. */
static char **split_lines(char *buf, size_t len, int *n_lines) {
    int n = 0, cap = 1024;
    char **lines = xmalloc((size_t)cap * sizeof *lines);
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        if (e > p && e[-1] == '\r') e[-1] = 0;
        *e = 0;
        if (n == cap) lines = xrealloc(lines, (size_t)(cap *= 2) * sizeof *lines);
        lines[n++] = p;
        p = e + 1;
    }
    *n_lines = n;
    return lines;
}

static bool blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return false;
    return true;
}

/* ---- JSON lines ---------------------------------------------------------------------- */

/* One parsed line: the object and where it came from (for messages). */
typedef struct {
    const char *path;
    int line;
    json_t *obj;
} JLine;

/* A string at a dotted path ("question.stem"); NULL after err_set when missing or not a string. */
static const char *jstr(const JLine *l, const char *key) {
    json_t *v = l->obj;
    char part[64];
    for (const char *k = key; v;) {
        const char *dot = strchr(k, '.');
        size_t n = dot ? (size_t)(dot - k) : strlen(k);
        assert(n < sizeof part);
        memcpy(part, k, n);
        part[n] = 0;
        v = json_is_object(v) ? json_object_get(v, part) : NULL;
        if (!dot) break;
        k = dot + 1;
    }
    if (!json_is_string(v)) {
        err_set("%s:%d: %s \"%s\"", l->path, l->line, v ? "not a string:" : "missing field", key);
        return NULL;
    }
    return json_string_value(v);
}

/* Parse each non-blank line of a JSON-lines file and hand it to fn; stops at the first error. */
static int each_jsonl(const char *path, TaskSet *out, int (*fn)(const JLine *l, TaskSet *out, int *cap)) {
    size_t len = 0;
    char *buf = load_text(path, &len);
    if (!buf) return -1;
    int n_lines = 0, cap = 0, rc = 0;
    char **lines = split_lines(buf, len, &n_lines);
    for (int i = 0; i < n_lines && rc == 0; i++) {
        if (blank(lines[i])) continue;
        json_error_t je;
        json_t *obj = json_loads(lines[i], JSON_REJECT_DUPLICATES, &je);
        if (!obj) {
            rc = err_set("%s:%d: bad JSON: %s", path, i + 1, je.text);
            break;
        }
        JLine l = {path, i + 1, obj};
        if (!json_is_object(obj)) rc = err_set("%s:%d: not a JSON object", path, i + 1);
        else rc = fn(&l, out, &cap);
        json_decref(obj);
    }
    free(lines);
    free(buf);
    if (rc == 0 && out->n == 0) rc = err_set("%s: no items", path);
    return rc;
}

/* A labels file: one integer in [lo, hi] a line, exactly n of them (blank lines at the end ignored). */
static int read_labels(const char *path, int n, int lo, int hi, int **labels) {
    size_t len = 0;
    char *buf = load_text(path, &len);
    if (!buf) return -1;
    int n_lines = 0, k = 0, rc = 0;
    char **lines = split_lines(buf, len, &n_lines);
    while (n_lines > 0 && blank(lines[n_lines - 1])) n_lines--;
    int *v = xmalloc((size_t)(n_lines ? n_lines : 1) * sizeof *v);
    for (int i = 0; i < n_lines && rc == 0; i++) {
        char *end;
        errno = 0;
        long x = strtol(lines[i], &end, 10);
        while (*end == ' ' || *end == '\t') end++;
        if (end == lines[i] || *end || errno || x < lo || x > hi)
            rc = err_set("%s:%d: expected a label in [%d, %d], got '%.40s'", path, i + 1, lo, hi, lines[i]);
        else v[k++] = (int)x;
    }
    if (rc == 0 && k != n) rc = err_set("%s: %d labels for %d items", path, k, n);
    free(lines);
    free(buf);
    if (rc) free(v);
    else *labels = v;
    return rc;
}

/* ---- the formats --------------------------------------------------------------------- */

/* AI2 format (ARC, OpenBookQA): question.stem, question.choices[{text,label}], answerKey. */
static int ai2_item(const JLine *l, TaskSet *out, int *cap, const char *prompt) {
    const char *stem = jstr(l, "question.stem"), *key = jstr(l, "answerKey");
    if (!stem || !key) return -1;
    json_t *ch = json_object_get(json_object_get(l->obj, "question"), "choices");
    if (!json_is_array(ch)) return err_set("%s:%d: missing array \"question.choices\"", l->path, l->line);
    size_t n = json_array_size(ch);
    if (n < 2 || n > TASK_MAX_CHOICES)
        return err_set("%s:%d: %zu choices (expected 2 to %d)", l->path, l->line, n, TASK_MAX_CHOICES);
    while (*key == ' ') key++; /* the harness strips OpenBookQA's answerKey */
    const char *text[TASK_MAX_CHOICES];
    int gold = -1;
    for (size_t k = 0; k < n; k++) {
        JLine c = {l->path, l->line, json_array_get(ch, k)};
        const char *t = jstr(&c, "text"), *lab = jstr(&c, "label");
        if (!t || !lab) return -1;
        text[k] = t;
        if (strcmp(lab, key) == 0) {
            if (gold >= 0) return err_set("%s:%d: two choices labelled \"%s\"", l->path, l->line, key);
            gold = (int)k;
        }
    }
    if (gold < 0) return err_set("%s:%d: answerKey \"%s\" is not a choice label", l->path, l->line, key);
    TaskItem *it = push_item(out, cap, l->line);
    char *ctx = str_printf(prompt, stem);
    for (size_t k = 0; k < n; k++) add_choice(it, ctx, text[k]);
    it->gold = gold;
    return 0;
}
static int arc_item(const JLine *l, TaskSet *o, int *c) { return ai2_item(l, o, c, "Question: %s\nAnswer:"); }
static int obqa_item(const JLine *l, TaskSet *o, int *c) { return ai2_item(l, o, c, "%s"); }
static int load_arc(const char *p, const char *lp, TaskSet *o) { (void)lp; return each_jsonl(p, o, arc_item); }
static int load_obqa(const char *p, const char *lp, TaskSet *o) { (void)lp; return each_jsonl(p, o, obqa_item); }

/* PIQA: goal, sol1, sol2; the gold index comes from the labels file. */
static int piqa_item(const JLine *l, TaskSet *out, int *cap) {
    const char *goal = jstr(l, "goal"), *s1 = jstr(l, "sol1"), *s2 = jstr(l, "sol2");
    if (!goal || !s1 || !s2) return -1;
    TaskItem *it = push_item(out, cap, l->line);
    char *ctx = str_printf("Question: %s\nAnswer:", goal);
    add_choice(it, ctx, s1);
    add_choice(it, ctx, s2);
    return 0;
}
static int load_piqa(const char *path, const char *labels_path, TaskSet *out) {
    int *lab = NULL;
    if (each_jsonl(path, out, piqa_item) || read_labels(labels_path, out->n, 0, 1, &lab)) return -1;
    for (int i = 0; i < out->n; i++) out->items[i].gold = lab[i];
    free(lab);
    return 0;
}

/* BoolQ: passage, question, answer (bool); choices " no", " yes". */
static int boolq_item(const JLine *l, TaskSet *out, int *cap) {
    const char *passage = jstr(l, "passage"), *q = jstr(l, "question");
    if (!passage || !q) return -1;
    json_t *a = json_object_get(l->obj, "answer");
    if (!json_is_boolean(a)) return err_set("%s:%d: %s \"answer\"", l->path, l->line, a ? "not a boolean:" : "missing field");
    TaskItem *it = push_item(out, cap, l->line);
    char *ctx = str_printf("%s\nQuestion: %s?\nAnswer:", passage, q);
    add_choice(it, ctx, "no");
    add_choice(it, ctx, "yes");
    it->gold = json_is_true(a);
    return 0;
}
static int load_boolq(const char *p, const char *lp, TaskSet *o) { (void)lp; return each_jsonl(p, o, boolq_item); }

/* Python's str.strip() over ASCII whitespace. */
static char *strip_dup(const char *s) {
    while (*s && strchr(" \t\n\r\f\v", *s)) s++;
    size_t n = strlen(s);
    while (n && strchr(" \t\n\r\f\v", s[n - 1])) n--;
    char *d = xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* WinoGrande (partial scoring): the option fills the blank in the context, the rest of the
 * sentence is the continuation scored under both contexts. */
static int wino_item(const JLine *l, TaskSet *out, int *cap) {
    const char *s = jstr(l, "sentence"), *o1 = jstr(l, "option1"), *o2 = jstr(l, "option2"), *ans = jstr(l, "answer");
    if (!s || !o1 || !o2 || !ans) return -1;
    const char *blank_at = strchr(s, '_');
    if (!blank_at) return err_set("%s:%d: sentence has no blank '_'", l->path, l->line);
    if (strcmp(ans, "1") != 0 && strcmp(ans, "2") != 0)
        return err_set("%s:%d: answer \"%s\" is not \"1\" or \"2\"", l->path, l->line, ans);
    TaskItem *it = push_item(out, cap, l->line);
    int pre = (int)(blank_at - s);
    char *rest = strip_dup(blank_at + 1);
    const char *opt[2] = {o1, o2};
    for (int k = 0; k < 2; k++) {
        add_choice(it, str_printf("%.*s%s", pre, s, opt[k]), rest);
        it->choice_len[k] = utf8_len(it->ctx[k]); /* the harness's choices are the contexts (no acc_norm) */
    }
    free(rest);
    it->gold = ans[0] - '1';
    return 0;
}
static int load_wino(const char *path, const char *labels_path, TaskSet *out) {
    if (each_jsonl(path, out, wino_item)) return -1;
    if (!labels_path) return 0;
    int *lab = NULL;
    if (read_labels(labels_path, out->n, 1, 2, &lab)) return -1;
    int rc = 0;
    for (int i = 0; i < out->n && rc == 0; i++)
        if (lab[i] - 1 != out->items[i].gold)
            rc = err_set("%s:%d: label %d disagrees with the answer in %s:%d", labels_path, i + 1, lab[i], path,
                         out->items[i].line);
    free(lab);
    return rc;
}

/* The harness's HellaSwag preprocess: strip; " [title]" -> ". "; drop "[...]" (non-greedy);
 * "  " -> " " (one left-to-right pass, like str.replace). */
static char *hs_preprocess(const char *in) {
    char *s = strip_dup(in);
    size_t n = strlen(s);
    char *a = xmalloc(2 * n + 1), *w = a;
    for (const char *p = s; *p;) {
        if (strncmp(p, " [title]", 8) == 0) memcpy(w, ". ", 2), w += 2, p += 8;
        else *w++ = *p++;
    }
    *w = 0;
    w = s; /* s has room: the result only shrinks from here */
    for (const char *p = a; *p;) {
        const char *close = *p == '[' ? strchr(p + 1, ']') : NULL;
        if (close) p = close + 1;
        else *w++ = *p++;
    }
    *w = 0;
    w = a;
    for (const char *p = s; *p;) {
        if (p[0] == ' ' && p[1] == ' ') *w++ = ' ', p += 2;
        else *w++ = *p++;
    }
    *w = 0;
    free(s);
    return a;
}

/* HellaSwag, llama.cpp's text form: 6 lines an item (context, gold 0-3, four endings). The
 * harness prompt preprocesses context and endings; llama.cpp's scoring takes the lines as they are. */
static int load_hellaswag_as(const char *path, TaskSet *out, bool harness) {
    size_t len = 0;
    char *buf = load_text(path, &len);
    if (!buf) return -1;
    int n_lines = 0, cap = 0, rc = 0;
    char **lines = split_lines(buf, len, &n_lines);
    while (n_lines > 0 && blank(lines[n_lines - 1])) n_lines--;
    if (n_lines % 6)
        rc = err_set("%s:%d: incomplete item: %d lines, not a multiple of 6 (context, gold, 4 endings)", path,
                     n_lines - n_lines % 6 + 1, n_lines);
    for (int i = 0; rc == 0 && i < n_lines; i += 6) {
        const char *g = lines[i + 1];
        if (!(g[0] >= '0' && g[0] <= '3' && g[1] == 0)) {
            rc = err_set("%s:%d: expected the gold ending 0-3, got '%.40s'", path, i + 2, g);
            break;
        }
        if (blank(lines[i])) {
            rc = err_set("%s:%d: empty context", path, i + 1);
            break;
        }
        TaskItem *it = push_item(out, &cap, i + 1);
        char *ctx = harness ? hs_preprocess(lines[i]) : xstrdup(lines[i]);
        for (int k = 0; k < 4; k++) {
            char *e = harness ? hs_preprocess(lines[i + 2 + k]) : xstrdup(lines[i + 2 + k]);
            add_choice(it, ctx, e);
            free(e);
        }
        it->gold = g[0] - '0';
    }
    if (rc == 0 && out->n == 0) rc = err_set("%s: no items", path);
    free(lines);
    free(buf);
    return rc;
}
static int load_hs(const char *p, const char *lp, TaskSet *o) { (void)lp; return load_hellaswag_as(p, o, true); }
static int load_hs_cpp(const char *p, const char *lp, TaskSet *o) { (void)lp; return load_hellaswag_as(p, o, false); }

/* ---- the table ----------------------------------------------------------------------- */

static const TaskDef TASKS[] = {
    {"arc_easy", "arc_easy", "ARC-Easy-Test.jsonl", NULL, true, TASK_SCORE_HARNESS, load_arc},
    {"arc_challenge", "arc_challenge", "ARC-Challenge-Test.jsonl", NULL, true, TASK_SCORE_HARNESS, load_arc},
    {"hellaswag", "hellaswag", "hellaswag_val_full.txt.bz2", NULL, true, TASK_SCORE_HARNESS, load_hs},
    {"hellaswag_llamacpp", "hellaswag", "hellaswag_val_full.txt.bz2", NULL, false, TASK_SCORE_LLAMACPP, load_hs_cpp},
    {"piqa", "piqa", "valid.jsonl", "valid-labels.lst", true, TASK_SCORE_HARNESS, load_piqa},
    {"winogrande", "winogrande", "dev.jsonl", "dev-labels.lst", false, TASK_SCORE_HARNESS, load_wino},
    {"boolq", "boolq", "dev.jsonl", NULL, false, TASK_SCORE_HARNESS, load_boolq},
    {"openbookqa", "openbookqa", "test.jsonl", NULL, true, TASK_SCORE_HARNESS, load_obqa},
};
#define N_TASKS ((int)(sizeof TASKS / sizeof TASKS[0]))

const TaskDef *task_table(int *n) {
    *n = N_TASKS;
    return TASKS;
}

const TaskDef *task_find(const char *name) {
    for (int i = 0; i < N_TASKS; i++)
        if (strcmp(TASKS[i].name, name) == 0) return &TASKS[i];
    return NULL;
}

const char *task_names(void) {
    static char buf[256];
    if (!buf[0])
        for (int i = 0; i < N_TASKS; i++) {
            size_t n = strlen(buf);
            snprintf(buf + n, sizeof buf - n, "%s%s", i ? ", " : "", TASKS[i].name);
        }
    return buf;
}

int taskset_load_files(const TaskDef *d, const char *path, const char *labels_path, TaskSet *out) {
    memset(out, 0, sizeof *out);
    out->def = d;
    if (d->load(path, labels_path, out) != 0) {
        taskset_free(out);
        return -1;
    }
    for (int i = 0; i < out->n; i++) {
        const TaskItem *it = &out->items[i];
        assert(it->n_choices >= 2 && it->n_choices <= TASK_MAX_CHOICES);
        assert(it->gold >= 0 && it->gold < it->n_choices);
    }
    return 0;
}

int taskset_load(const TaskDef *d, const char *data_dir, int limit, TaskSet *out) {
    char *dir = path_join(data_dir, d->dir), *path = path_join(dir, d->file);
    char *labels = d->labels ? path_join(dir, d->labels) : NULL;
    int rc = taskset_load_files(d, path, labels, out);
    if (rc == 0 && limit > 0 && limit < out->n) {
        for (int i = limit; i < out->n; i++) item_free(&out->items[i]);
        out->n = limit;
    }
    free(dir);
    free(path);
    free(labels);
    return rc;
}
