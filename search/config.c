/* config — parsing and validation of the YAML search configuration with libyaml's document
 * API (see config.h). Each section is a table of known keys; a value is checked for its type
 * and range where it is read, so every message carries the value's line and column.
 * Size: over 600 lines because the key table, its typed readers (each with its messages) and
 * the JSON rendering belong together: one place knows the configuration format. */
#include "search/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>
#include <jansson.h>

#include "eval/tasks.h"
#include "reform/importance.h"
#include "runtime/base/util.h"

typedef struct {
    const char *what;
    yaml_document_t *doc;
    const char *level;   /* "top level" or "runs": names top-level keys in messages */
} Parser;

static int fail_at(const Parser *p, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(const Parser *p, const yaml_node_t *n, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set("%s:%zu:%zu: %s", p->what, n->start_mark.line + 1, n->start_mark.column + 1, msg);
}

static CfgMark mark_of(const yaml_node_t *n) {
    CfgMark m = {(int)n->start_mark.line + 1, (int)n->start_mark.column + 1};
    return m;
}

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* ---- typed scalar readers: `key` and `sec` only name the value in messages ---- */

static int need_scalar(const Parser *p, const yaml_node_t *n, const char *key, const char *sec, const char *type) {
    if (n->type == YAML_SCALAR_NODE) return 0;
    return fail_at(p, n, "'%s' in '%s' must be %s, got a %s", key, sec, type,
                   n->type == YAML_MAPPING_NODE ? "mapping" : "list");
}

static int read_int(const Parser *p, const yaml_node_t *n, const char *key, const char *sec, long lo, long hi,
                    int *out) {
    if (need_scalar(p, n, key, sec, "an integer")) return -1;
    const char *s = scalar(n);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno) return fail_at(p, n, "'%s' in '%s' must be an integer, got '%s'", key, sec, s);
    if (v < lo || v > hi)
        return fail_at(p, n, "'%s' in '%s' must be in [%ld, %ld], got %ld", key, sec, lo, hi, v);
    *out = (int)v;
    return 0;
}

static int read_u64(const Parser *p, const yaml_node_t *n, const char *key, const char *sec, uint64_t *out) {
    if (need_scalar(p, n, key, sec, "an integer")) return -1;
    const char *s = scalar(n);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || s[0] == '-')
        return fail_at(p, n, "'%s' in '%s' must be a non-negative integer, got '%s'", key, sec, s);
    *out = v;
    return 0;
}

/* A number in [lo, hi] (lo_open: in (lo, hi]). */
static int read_double(const Parser *p, const yaml_node_t *n, const char *key, const char *sec, double lo,
                       bool lo_open, double hi, double *out) {
    if (need_scalar(p, n, key, sec, "a number")) return -1;
    const char *s = scalar(n);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return fail_at(p, n, "'%s' in '%s' must be a number, got '%s'", key, sec, s);
    if ((lo_open ? !(v > lo) : !(v >= lo)) || !(v <= hi))
        return fail_at(p, n, "'%s' in '%s' must be in %c%g, %g], got %g", key, sec, lo_open ? '(' : '[', lo, hi, v);
    *out = v;
    return 0;
}

static int read_bool(const Parser *p, const yaml_node_t *n, const char *key, const char *sec, bool *out) {
    if (need_scalar(p, n, key, sec, "true or false")) return -1;
    const char *s = scalar(n);
    static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(s, yes[i])) return *out = true, 0;
        if (!strcasecmp(s, no[i])) return *out = false, 0;
    }
    return fail_at(p, n, "'%s' in '%s' must be true or false, got '%s'", key, sec, s);
}

static int read_string(const Parser *p, const yaml_node_t *n, const char *key, const char *sec, char *out,
                       size_t cap) {
    if (need_scalar(p, n, key, sec, "a string")) return -1;
    const char *s = scalar(n);
    if (!s[0]) return fail_at(p, n, "'%s' in '%s' must not be empty", key, sec);
    if (strlen(s) >= cap) return fail_at(p, n, "'%s' in '%s' is too long (%zu bytes)", key, sec, strlen(s));
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

/* A number in [0,1] or a list [first, later] of two (mutation/crossover schedules). */
static int read_prob_pair(const Parser *p, const yaml_node_t *n, const char *key, const char *sec, double out[2]) {
    if (n->type == YAML_SCALAR_NODE) {
        if (read_double(p, n, key, sec, 0, false, 1, &out[0])) return -1;
        out[1] = out[0];
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE || n->data.sequence.items.top - n->data.sequence.items.start != 2)
        return fail_at(p, n, "'%s' in '%s' must be a number or a list [first, later] of two numbers", key, sec);
    for (int i = 0; i < 2; i++) {
        yaml_node_t *it = yaml_document_get_node(p->doc, n->data.sequence.items.start[i]);
        if (read_double(p, it, key, sec, 0, false, 1, &out[i])) return -1;
    }
    return 0;
}

/* A range [lo, hi] with 0 <= lo <= hi <= 1. */
static int read_range(const Parser *p, const yaml_node_t *n, const char *key, const char *sec, double out[2]) {
    if (n->type != YAML_SEQUENCE_NODE || n->data.sequence.items.top - n->data.sequence.items.start != 2)
        return fail_at(p, n, "'%s' in '%s' must be a list [min, max] of two numbers", key, sec);
    double v[2];
    for (int i = 0; i < 2; i++) {
        yaml_node_t *it = yaml_document_get_node(p->doc, n->data.sequence.items.start[i]);
        if (read_double(p, it, key, sec, 0, false, 1, &v[i])) return -1;
    }
    if (v[0] > v[1]) return fail_at(p, n, "'%s' in '%s' must have min <= max, got [%g, %g]", key, sec, v[0], v[1]);
    out[0] = v[0], out[1] = v[1];
    return 0;
}

static int read_targets(const Parser *p, const yaml_node_t *n, SearchConfig *c) {
    if (n->type == YAML_SCALAR_NODE) {
        c->n_targets = 1;
        return read_double(p, n, "targets", "budget", 0, true, 1, &c->targets[0]);
    }
    if (n->type != YAML_SEQUENCE_NODE) return fail_at(p, n, "'targets' in 'budget' must be a list of numbers");
    int k = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (k < 1 || k > CFG_MAX_TARGETS)
        return fail_at(p, n, "'targets' in 'budget' must hold 1 to %d numbers, got %d", CFG_MAX_TARGETS, k);
    for (int i = 0; i < k; i++) {
        yaml_node_t *it = yaml_document_get_node(p->doc, n->data.sequence.items.start[i]);
        if (read_double(p, it, "targets", "budget", 0, true, 1, &c->targets[i])) return -1;
        for (int j = 0; j < i; j++)
            if (c->targets[j] == c->targets[i])
                return fail_at(p, it, "'targets' in 'budget' lists %g twice", c->targets[i]);
    }
    c->n_targets = k;
    return 0;
}

/* ---- the key table ---- */

typedef enum {
    K_STR,      /* char[cap] path or name, non-empty */
    K_INT,      /* int in [lo, hi] */
    K_U64,      /* uint64_t >= 0 */
    K_DOUBLE,   /* double in [lo, hi] ((lo, hi] with lo_open) */
    K_BOOL,     /* bool: true/false, yes/no, on/off */
    K_ENUM,     /* int: index into names */
    K_PAIR,     /* double[2] in [0, 1]: a number (both) or [first, later] */
    K_RANGE,    /* double[2]: [min, max], 0 <= min <= max <= 1 */
    K_TARGETS,  /* targets[] / n_targets: a number in (0, 1] or a list of distinct ones */
    K_RANDOM,   /* int: 'same' (-1) or a count >= 0 */
    K_TASKS,    /* final_tasks: a task name or a list of them (eval/tasks.h), each once */
    K_STAGES    /* selection stages: a list of {windows, keep} mappings */
} KeyType;

/* JSON_IF_SET: in the settings JSON only when the value differs from the default, so that runs
 * which leave a newer key at its default keep the settings (and resume) of before the key. */
enum { AT_TOP = 1, AT_RUN = 2, NO_JSON = 4, HAS_MARK = 8, JSON_IF_SET = 16 };

/* One configuration key: where it sits, where its value goes, its type, range and default.
 * Parsing, defaults, messages and config_to_json all walk this table; its order is the order
 * of the JSON settings (stored with each run and compared on resume: do not reorder). */
typedef struct {
    const char *section;        /* NULL = a top-level key (or a run's) */
    const char *key;
    KeyType type;
    size_t offset;              /* into SearchConfig */
    size_t size;                /* K_STR: capacity */
    double lo, hi;              /* K_INT, K_DOUBLE */
    bool lo_open;               /* K_DOUBLE */
    const char *def;            /* default, as text: "32", "0.6 0.3", "ga", ... ("" = empty string) */
    const char *const *names;   /* K_ENUM */
    unsigned flags;
    size_t mark;                /* HAS_MARK: offset of the value's CfgMark */
} ConfigKey;

#define C(f) offsetof(SearchConfig, f), sizeof(((SearchConfig *)0)->f)
#define SP(f) offsetof(SearchConfig, space.f), 0
#define AL(f) offsetof(SearchConfig, algo.f), 0
#define BOTH (AT_TOP | AT_RUN)
static const char *const BUDGET_KINDS[] = {"params", "flops", NULL};
static const char *const ALGO_KINDS[] = {"ga", "nsga2", NULL};
static const char *const FITNESS_KINDS[] = {"ppl", "kl", NULL};

static const ConfigKey KEYS[] = {
    /* section       key               type       where                   lo   hi       open  default */
    {NULL,          "name",            K_STR,     C(name),                0, 0, false, NULL, NULL, AT_RUN, 0},
    {NULL,          "model",           K_STR,     C(model),               0, 0, false, "models/stories260K/stories260K.bin", NULL, BOTH | HAS_MARK, offsetof(SearchConfig, model_at)},
    {NULL,          "tokenizer",       K_STR,     C(tokenizer),           0, 0, false, "", NULL, BOTH | HAS_MARK, offsetof(SearchConfig, tokenizer_at)},
    {"calibration", "text",            K_STR,     C(calib_text),          0, 0, false, "data/tinystories/calib.txt", NULL, HAS_MARK, offsetof(SearchConfig, calib_text_at)},
    {"calibration", "n",               K_INT,     C(calib_n),             1, 1 << 20, false, "32", NULL, 0, 0},
    {"calibration", "len",             K_INT,     C(calib_len),           2, 1 << 20, false, "256", NULL, 0, 0}, /* = carve --len */
    {"calibration", "seed",            K_U64,     C(calib_seed),          0, 0, false, "1", NULL, 0, 0},
    {"calibration", "scramble",        K_DOUBLE,  C(calib_scramble),      0, 1, false, "0", NULL, JSON_IF_SET, 0},
    {"eval",        "text",            K_STR,     C(eval_text),           0, 0, false, "data/tinystories/valid.txt", NULL, HAS_MARK, offsetof(SearchConfig, eval_text_at)},
    {"eval",        "seq_len",         K_INT,     C(eval_seq_len),        2, 1 << 20, false, "256", NULL, 0, 0},
    {"eval",        "max_windows",     K_INT,     C(eval_max_windows),    0, 1 << 30, false, "0", NULL, 0, 0},
    {"space",       "heads",           K_BOOL,    SP(heads),              0, 0, false, "true", NULL, 0, 0},
    {"space",       "channels",        K_BOOL,    SP(channels),           0, 0, false, "true", NULL, 0, 0},
    {"space",       "channel_multiple", K_INT,    SP(channel_multiple),   1, 1 << 16, false, "1", NULL, 0, 0},
    {"space",       "sublayers",       K_BOOL,    SP(sublayers),          0, 0, false, "true", NULL, 0, 0},
    {"space",       "layers",          K_BOOL,    SP(layers),             0, 0, false, "false", NULL, 0, 0},
    {"space",       "attn_ratio",      K_RANGE,   SP(attn_ratio),         0, 1, false, "0 1", NULL, 0, 0},
    {"space",       "mlp_ratio",       K_RANGE,   SP(mlp_ratio),          0, 1, false, "0 1", NULL, 0, 0},
    {"space",       "levels",          K_INT,     SP(levels),             0, 1 << 16, false, "0", NULL, JSON_IF_SET, 0},
    {"space",       "importance",      K_ENUM,    SP(importance),         0, 0, false, "saliency", IMP_METHOD_NAMES, JSON_IF_SET, 0},
    {"space",       "core",            K_DOUBLE,  SP(core),               0, 1, false, "0", NULL, JSON_IF_SET, 0},
    {"budget",      "kind",            K_ENUM,    C(budget_kind),         0, 0, false, "params", BUDGET_KINDS, 0, 0},
    {"budget",      "targets",         K_TARGETS, C(targets),             0, 1, true, "0.9 0.8 0.7 0.6 0.5", NULL, 0, 0},
    {"budget",      "tolerance",       K_DOUBLE,  C(tolerance),           0, 0.5, false, "0.02", NULL, 0, 0},
    /* the paper's GA schedule */
    {"algorithm",   "kind",            K_ENUM,    AL(kind),               0, 0, false, "ga", ALGO_KINDS, 0, 0},
    {"algorithm",   "population",      K_INT,     AL(population),         2, 100000, false, "100", NULL, 0, 0},
    {"algorithm",   "generations",     K_INT,     AL(generations),        1, 100000, false, "20", NULL, 0, 0},
    {"algorithm",   "parents",         K_INT,     AL(parents),            1, 100000, false, "10", NULL, 0, 0},
    {"algorithm",   "mutations",       K_INT,     AL(mutations),          0, 100000, false, "50", NULL, 0, 0},
    {"algorithm",   "crossovers",      K_INT,     AL(crossovers),         0, 100000, false, "30", NULL, 0, 0},
    {"algorithm",   "mutation_prob",   K_PAIR,    AL(mutation_prob),      0, 1, false, "0.6 0.3", NULL, 0, 0},
    {"algorithm",   "crossover_prob",  K_PAIR,    AL(crossover_prob),     0, 1, false, "0.3 0.1", NULL, 0, 0},
    {"algorithm",   "depth_prob",      K_DOUBLE,  AL(depth_prob),         0, 1, false, "0.05", NULL, 0, 0},
    {"algorithm",   "overlap",         K_DOUBLE,  AL(overlap),            0, 1, false, "0.8", NULL, 0, 0},
    {"algorithm",   "unit_bias",       K_DOUBLE,  AL(unit_bias),          0, 64, false, "0", NULL, JSON_IF_SET, 0},
    {"algorithm",   "seed",            K_U64,     AL(seed),               0, 0, false, "1", NULL, 0, 0},
    {"fitness",     "reform",          K_BOOL,    C(fitness_reform),      0, 0, false, "false", NULL, 0, 0},
    {"fitness",     "kind",            K_ENUM,    C(fitness_kind),        0, 0, false, "ppl", FITNESS_KINDS, JSON_IF_SET, 0},
    {"fitness",     "top_k",           K_INT,     C(fitness_top_k),       1, 1 << 20, false, "256", NULL, JSON_IF_SET, 0},
    {"fitness",     "worst",           K_DOUBLE,  C(fitness_worst),       0, 1, false, "1", NULL, JSON_IF_SET, 0},
    {"selection",   "stages",          K_STAGES,  C(n_stages),            1, 1 << 20, false, NULL, NULL, JSON_IF_SET | HAS_MARK, offsetof(SearchConfig, stages_at)},
    {"final",       "reform",          K_BOOL,    C(final_reform),        0, 0, false, "true", NULL, 0, 0},
    {"final",       "eval",            K_BOOL,    C(final_eval),          0, 0, false, "true", NULL, 0, 0},
    {"final",       "rerank",          K_INT,     C(final_rerank),        0, 100000, false, "0", NULL, 0, 0},
    {"final",       "rerank_windows",  K_INT,     C(final_rerank_windows), 1, 1 << 20, false, "128", NULL, 0, 0},
    /* zero-shot tasks of the final step: not part of the resume settings (NO_JSON) */
    {"final",       "tasks",           K_TASKS,   C(final_tasks),         0, 0, false, NULL, NULL, NO_JSON, 0},
    {"final",       "tasks_data",      K_STR,     C(final_tasks_data),    0, 0, false, "data/tasks", NULL, NO_JSON | HAS_MARK, offsetof(SearchConfig, final_tasks_data_at)},
    {"final",       "tasks_limit",     K_INT,     C(final_tasks_limit),   0, 1 << 30, false, "0", NULL, NO_JSON, 0},
    {"baselines",   "random",          K_RANDOM,  C(baseline_random),     0, 1000000, false, "0", NULL, 0, 0},
    /* how the ranks share the work (search/mpi): never a result, so not in the settings (NO_JSON) */
    {"parallel",    "group",           K_INT,     C(parallel_group),      0, 1 << 20, false, "1", NULL, NO_JSON | HAS_MARK, offsetof(SearchConfig, parallel_group_at)},
    {NULL,          "output",          K_STR,     C(output),              0, 0, false, NULL, NULL, BOTH | NO_JSON, 0},
    {NULL,          "method",          K_STR,     C(method),              0, 0, false, "", NULL, AT_TOP | NO_JSON, 0},
    {NULL,          "runs",            K_STR,     0, 0,                   0, 0, false, NULL, NULL, AT_TOP | NO_JSON, 0},
};
#undef C
#undef SP
#undef AL
#undef BOTH
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

/* SpaceConfig / AlgoConfig fields are addressed inside SearchConfig; their sizes are not needed
 * (no K_STR among them). */
static void *field(SearchConfig *c, const ConfigKey *k) { return (char *)c + k->offset; }
static const void *cfield(const SearchConfig *c, const ConfigKey *k) { return (const char *)c + k->offset; }

static int need_mapping(const Parser *p, const yaml_node_t *n, const char *sec) {
    if (n->type == YAML_MAPPING_NODE) return 0;
    return fail_at(p, n, "'%s' must be a mapping of keys", sec);
}

static int read_enum(const Parser *p, const yaml_node_t *v, const ConfigKey *k, const char *sec, int *out) {
    char alts[64] = "";
    for (int i = 0; k->names[i]; i++)
        snprintf(alts + strlen(alts), sizeof alts - strlen(alts), "%s%s", i ? " or " : "", k->names[i]);
    if (need_scalar(p, v, k->key, sec, alts)) return -1;
    for (int i = 0; k->names[i]; i++)
        if (!strcmp(scalar(v), k->names[i])) return *out = i, 0;
    return fail_at(p, v, "'%s' in '%s' must be %s, got '%s'", k->key, sec, alts, scalar(v));
}

static int read_random(const Parser *p, const yaml_node_t *v, const ConfigKey *k, int *out) {
    if (v->type == YAML_SCALAR_NODE && !strcmp(scalar(v), "same")) return *out = -1, 0;
    if (v->type == YAML_SCALAR_NODE && strtol(scalar(v), NULL, 10) < 0)
        return fail_at(p, v, "'%s' in '%s' must be 'same' or a count >= 0, got '%s'", k->key, k->section, scalar(v));
    return read_int(p, v, k->key, k->section, (long)k->lo, (long)k->hi, out);
}

/* final.tasks: a task name or a list of them (eval/tasks.h), each once. */
static int read_tasks(const Parser *p, const yaml_node_t *v, SearchConfig *c) {
    c->final_tasks[0] = 0;
    bool seq = v->type == YAML_SEQUENCE_NODE;
    int n = seq ? (int)(v->data.sequence.items.top - v->data.sequence.items.start) : 1;
    for (int i = 0; i < n; i++) {
        const yaml_node_t *e = seq ? yaml_document_get_node(p->doc, v->data.sequence.items.start[i]) : v;
        if (!e || e->type != YAML_SCALAR_NODE)
            return fail_at(p, e ? e : v, "'tasks' in 'final' must be a task name or a list of them");
        const char *name = scalar(e);
        if (!task_find(name)) return fail_at(p, e, "unknown task '%s' in 'final' (tasks: %s)", name, task_names());
        size_t len = strlen(c->final_tasks), k = strlen(name);
        char padded[64];
        snprintf(padded, sizeof padded, ",%s,", name);
        char have[sizeof c->final_tasks + 2];
        snprintf(have, sizeof have, ",%s,", c->final_tasks);
        if (strstr(have, padded)) return fail_at(p, e, "task '%s' appears twice in 'final'", name);
        if (len + k + 2 > sizeof c->final_tasks) return fail_at(p, e, "too many tasks in 'final'");
        snprintf(c->final_tasks + len, sizeof c->final_tasks - len, "%s%s", len ? "," : "", name);
    }
    return 0;
}

/* selection.stages: a list of 1..CFG_MAX_STAGES mappings {windows: W, keep: K}; every stage but
 * the last needs keep (how many advance), the last has none; windows grow from stage to stage
 * (they are checked against calibration.n in validate). */
static int read_stages(const Parser *p, const yaml_node_t *v, const ConfigKey *k, SearchConfig *c) {
    int n = v->type == YAML_SEQUENCE_NODE ? (int)(v->data.sequence.items.top - v->data.sequence.items.start) : -1;
    if (n < 1 || n > CFG_MAX_STAGES)
        return fail_at(p, v, "'stages' in 'selection' must be a list of 1 to %d mappings {windows, keep}",
                       CFG_MAX_STAGES);
    for (int i = 0; i < n; i++) {
        const yaml_node_t *e = yaml_document_get_node(p->doc, v->data.sequence.items.start[i]);
        char sec[32];
        snprintf(sec, sizeof sec, "stage %d", i + 1);
        if (need_mapping(p, e, sec)) return -1;
        int windows = 0, keep = 0;
        for (yaml_node_pair_t *pr = e->data.mapping.pairs.start; pr < e->data.mapping.pairs.top; pr++) {
            const yaml_node_t *kn = yaml_document_get_node(p->doc, pr->key), *vn = yaml_document_get_node(p->doc, pr->value);
            const char *key = kn->type == YAML_SCALAR_NODE ? scalar(kn) : "";
            int *dst = !strcmp(key, "windows") ? &windows : !strcmp(key, "keep") ? &keep : NULL;
            if (!dst) return fail_at(p, kn, "unknown key '%s' in '%s' of 'selection' (keys: windows, keep)", key, sec);
            if (*dst) return fail_at(p, kn, "key '%s' appears twice in '%s'", key, sec);
            if (read_int(p, vn, key, sec, (long)k->lo, (long)k->hi, dst)) return -1;
        }
        if (!windows) return fail_at(p, e, "'%s' of 'selection' needs 'windows'", sec);
        if (i + 1 < n && !keep) return fail_at(p, e, "'%s' of 'selection' needs 'keep' (how many advance)", sec);
        if (i + 1 == n && keep) return fail_at(p, e, "'keep' in the last stage: no stage follows it");
        if (i && windows <= c->stage_windows[i - 1])
            return fail_at(p, e, "'%s' of 'selection' must have more windows than the stage before (%d <= %d)", sec,
                           windows, c->stage_windows[i - 1]);
        c->stage_windows[i] = windows, c->stage_keep[i] = keep;
    }
    c->n_stages = n;
    return 0;
}

/* Read the value v of key k into c; sec names where it stands in messages. */
static int read_key(const Parser *p, const ConfigKey *k, const char *sec, const yaml_node_t *v, SearchConfig *c) {
    if (k->flags & HAS_MARK) *(CfgMark *)((char *)c + k->mark) = mark_of(v);
    void *f = field(c, k);
    switch (k->type) {
    case K_STR: return read_string(p, v, k->key, sec, f, k->size);
    case K_INT: return read_int(p, v, k->key, sec, (long)k->lo, (long)k->hi, f);
    case K_U64: return read_u64(p, v, k->key, sec, f);
    case K_DOUBLE: return read_double(p, v, k->key, sec, k->lo, k->lo_open, k->hi, f);
    case K_BOOL: return read_bool(p, v, k->key, sec, f);
    case K_ENUM: return read_enum(p, v, k, sec, f);
    case K_PAIR: return read_prob_pair(p, v, k->key, sec, f);
    case K_RANGE: return read_range(p, v, k->key, sec, f);
    case K_TARGETS: return read_targets(p, v, c);
    case K_RANDOM: return read_random(p, v, k, f);
    case K_TASKS: return read_tasks(p, v, c);
    case K_STAGES: return read_stages(p, v, k, c);
    }
    return -1;
}

/* What a top-level key needs beyond its type: the method must be a search, a run name a plain word. */
static int check_top_key(const Parser *p, const ConfigKey *k, const yaml_node_t *v, const SearchConfig *c) {
    if (!strcmp(k->key, "method") && strcmp(c->method, "carve-ga") && strcmp(c->method, "carve-nsga2"))
        return fail_at(p, v, "method '%s' is not a search: run it with carve prune --method %s", c->method, c->method);
    if (!strcmp(k->key, "name"))
        for (const char *s = c->name; *s; s++)
            if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.'))
                return fail_at(p, v, "run name '%s' may only hold letters, digits, '_', '-' and '.'", c->name);
    return 0;
}

/* Is `name` a section of the table? */
static bool is_section(const char *name) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (KEYS[i].section && !strcmp(KEYS[i].section, name)) return true;
    return false;
}

/* Walk a mapping: a section's keys (sec != NULL) or the top level / a run's (sec == NULL,
 * `allow` = AT_TOP or AT_RUN): every key must be known and appear once; sections recurse. */
static int walk(const Parser *p, const yaml_node_t *map, const char *sec, unsigned allow, SearchConfig *c) {
    const char *where = sec ? sec : p->level;
    if (need_mapping(p, map, where)) return -1;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(p->doc, pr->key), *v = yaml_document_get_node(p->doc, pr->value);
        if (kn->type != YAML_SCALAR_NODE) return fail_at(p, kn, "keys in '%s' must be plain names", where);
        const char *key = scalar(kn);
        const ConfigKey *k = NULL;
        for (size_t i = 0; i < N_KEYS && !k; i++)
            if ((sec ? KEYS[i].section && !strcmp(KEYS[i].section, sec) : !KEYS[i].section && (KEYS[i].flags & allow)) &&
                !strcmp(KEYS[i].key, key))
                k = &KEYS[i];
        bool section = !sec && !k && is_section(key);
        if (!k && !section) return fail_at(p, kn, "unknown key '%s' in '%s'", key, where);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pr; q++)
            if (!strcmp(scalar(yaml_document_get_node(p->doc, q->key)), key))
                return fail_at(p, kn, "key '%s' appears twice in '%s'", key, where);
        if (section) {
            if (walk(p, v, key, 0, c)) return -1;
        } else if (!strcmp(key, "runs")) {
            continue; /* handled by config_parse */
        } else if (read_key(p, k, where, v, c) || (!sec && check_top_key(p, k, v, c))) {
            return -1;
        }
    }
    return 0;
}

/* Set key k of c to its default (the table's text form). */
static void set_default(SearchConfig *c, const ConfigKey *k) {
    if (!k->def) return;
    void *f = field(c, k);
    char *end;
    switch (k->type) {
    case K_STR: snprintf(f, k->size, "%s", k->def); break;
    case K_INT:
    case K_RANDOM: *(int *)f = (int)strtol(k->def, NULL, 10); break;
    case K_U64: *(uint64_t *)f = strtoull(k->def, NULL, 10); break;
    case K_DOUBLE: *(double *)f = strtod(k->def, NULL); break;
    case K_BOOL: *(bool *)f = !strcmp(k->def, "true"); break;
    case K_ENUM:
        for (int i = 0; k->names[i]; i++)
            if (!strcmp(k->def, k->names[i])) *(int *)f = i;
        break;
    case K_PAIR:
    case K_RANGE: {
        double *d = f;
        d[0] = strtod(k->def, &end);
        d[1] = strtod(end, NULL);
        break;
    }
    case K_TASKS: break; /* (no default: none) */
    case K_STAGES: break; /* (none: one stage) */
    case K_TARGETS: {
        const char *s = k->def;
        c->n_targets = 0;
        for (double v = strtod(s, &end); end != s && c->n_targets < CFG_MAX_TARGETS; v = strtod(s, &end)) {
            c->targets[c->n_targets++] = v;
            s = end;
        }
        break;
    }
    }
}

void config_defaults(SearchConfig *c) {
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_KEYS; i++) set_default(c, &KEYS[i]);
}

/* Cross-field checks of one run's effective settings. */
static int validate(const char *what, const SearchConfig *c) {
    const AlgoConfig *a = &c->algo;
    if (a->kind == ALGO_GA && a->parents + a->mutations + a->crossovers > a->population)
        return err_set("%s: run '%s': parents (%d) + mutations (%d) + crossovers (%d) exceed population (%d)", what,
                       c->name, a->parents, a->mutations, a->crossovers, a->population);
    if (a->parents > a->population)
        return err_set("%s: run '%s': parents (%d) exceed population (%d)", what, c->name, a->parents, a->population);
    if (a->mutations + a->crossovers == 0)
        return err_set("%s: run '%s': mutations + crossovers must be at least 1", what, c->name);
    if (c->final_rerank > 0 && a->kind != ALGO_GA)
        return err_set("%s: run '%s': final rerank applies to algorithm kind ga only (set it to 0 for nsga2)", what,
                       c->name);
    if (c->final_rerank > a->population)
        return err_set("%s: run '%s': final rerank (%d) exceeds population (%d)", what, c->name, c->final_rerank,
                       a->population);
    if (c->method[0] && strcmp(c->method, a->kind == ALGO_GA ? "carve-ga" : "carve-nsga2"))
        return err_set("%s: method '%s' does not match algorithm kind '%s'", what, c->method,
                       a->kind == ALGO_GA ? "ga" : "nsga2");
    if (c->n_stages && a->kind != ALGO_GA)
        return err_set("%s:%d:%d: run '%s': selection stages apply to algorithm kind ga only", what, c->stages_at.line,
                       c->stages_at.col, c->name);
    if (c->n_stages && c->stage_windows[c->n_stages - 1] > c->calib_n)
        return err_set("%s:%d:%d: run '%s': the last selection stage has %d windows, calibration n only %d", what,
                       c->stages_at.line, c->stages_at.col, c->name, c->stage_windows[c->n_stages - 1], c->calib_n);
    if (c->space.levels == 1)
        return err_set("%s: run '%s': space levels must be 0 (off) or at least 2, got 1", what, c->name);
    if (c->space.levels && c->space.layers && !c->space.sublayers)
        return err_set("%s: run '%s': the level space skips sublayers, not whole layers (set layers: false, or "
                       "sublayers: true)", what, c->name);
    if (c->space.levels && a->unit_bias > 0)
        return err_set("%s: run '%s': algorithm unit_bias applies to the free space only (the level space keeps "
                       "units in importance order; set unit_bias: 0 or levels: 0)", what, c->name);
    if (c->space.levels && c->space.core > 0)
        return err_set("%s: run '%s': space core applies to the free space only (the level space keeps units in "
                       "importance order; set core: 0 or levels: 0)", what, c->name);
    if (!(c->fitness_worst > 0))
        return err_set("%s: run '%s': fitness worst must be in (0, 1], got 0", what, c->name);
    if (c->fitness_worst < 1 && c->fitness_kind != FIT_KL)
        return err_set("%s: run '%s': fitness worst applies to kind kl only (the worst windows' mean KL; set kind: kl "
                       "or worst: 1)", what, c->name);
    if (!c->space.heads && !c->space.channels && !c->space.sublayers && !c->space.layers)
        return err_set("%s: run '%s': the search space is empty (heads, channels, sublayers and layers all false)",
                       what, c->name);
    return 0;
}

static void base_name(const char *path, char *out, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, cap, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = 0;
    for (char *s = out; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.')) *s = '_';
}

int config_parse(const char *text, size_t len, const char *what, ConfigBatch *out) {
    memset(out, 0, sizeof *out);
    yaml_parser_t yp;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&yp)) return err_set("%s: cannot initialise the YAML parser", what);
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    if (!yaml_parser_load(&yp, &doc)) {
        int rc = err_set("%s:%zu:%zu: YAML syntax error: %s", what, yp.problem_mark.line + 1,
                         yp.problem_mark.column + 1, yp.problem ? yp.problem : "unknown");
        yaml_parser_delete(&yp);
        return rc;
    }
    Parser p = {what, &doc, "top level"};
    int rc = -1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    SearchConfig base;
    config_defaults(&base);
    snprintf(base.file, sizeof base.file, "%s", what);
    base_name(what, base.name, sizeof base.name);
    snprintf(base.output, sizeof base.output, "%s.db", base.name);
    if (!root) {
        err_set("%s: empty configuration", what);
        goto done;
    }
    if (walk(&p, root, NULL, AT_TOP, &base)) goto done;
    yaml_node_t *runs = NULL;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++)
        if (!strcmp(scalar(yaml_document_get_node(&doc, pr->key)), "runs"))
            runs = yaml_document_get_node(&doc, pr->value);
    if (!runs) {
        out->n_runs = 1;
        out->runs = xmalloc(sizeof *out->runs);
        out->runs[0] = base;
    } else {
        if (runs->type != YAML_SEQUENCE_NODE) {
            fail_at(&p, runs, "'runs' must be a list of run mappings");
            goto done;
        }
        int k = (int)(runs->data.sequence.items.top - runs->data.sequence.items.start);
        if (k == 0) {
            fail_at(&p, runs, "'runs' is empty");
            goto done;
        }
        out->runs = xcalloc((size_t)k, sizeof *out->runs);
        p.level = "runs";
        for (int i = 0; i < k; i++) {
            yaml_node_t *r = yaml_document_get_node(&doc, runs->data.sequence.items.start[i]);
            SearchConfig *c = &out->runs[i];
            *c = base;
            c->name[0] = 0;
            out->n_runs = i + 1;
            if (walk(&p, r, NULL, AT_RUN, c)) goto done;
            if (!c->name[0]) {
                fail_at(&p, r, "run %d has no 'name'", i + 1);
                goto done;
            }
            c->name_given = true;
            for (int j = 0; j < i; j++)
                if (!strcmp(out->runs[j].name, c->name)) {
                    fail_at(&p, r, "run name '%s' is used twice", c->name);
                    goto done;
                }
        }
    }
    for (int i = 0; i < out->n_runs; i++)
        if (validate(what, &out->runs[i])) goto done;
    out->text = xmalloc(len + 1);
    memcpy(out->text, text, len);
    out->text[len] = 0;
    rc = 0;
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&yp);
    if (rc) config_batch_free(out);
    return rc;
}

int config_load(const char *path, ConfigBatch *out) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) return err_set("%s: cannot read the configuration (%s)", path, strerror(errno));
    int rc = config_parse(text, len, path, out);
    free(text);
    for (int i = 0; rc == 0 && i < out->n_runs; i++)
        if (config_check_files(&out->runs[i])) {
            config_batch_free(out);
            rc = -1;
        }
    return rc;
}

void config_batch_free(ConfigBatch *b) {
    free(b->runs);
    free(b->text);
    memset(b, 0, sizeof *b);
}

/* path must exist and be a file (or, with dir_ok, a directory: a Hugging Face model). */
static int check_path(const SearchConfig *c, const char *path, CfgMark at, const char *what, bool dir_ok) {
    if (path_exists(path) && (dir_ok || !path_is_dir(path))) return 0;
    const char *why = path_exists(path) ? "is a directory, not a file" : "not found";
    /* the tree `make models` fills (scripts/fetch.manifest) */
    bool fetched = strncmp(path, "models/", 7) == 0 || strncmp(path, "data/", 5) == 0;
    const char *hint = fetched ? " (run 'make models')" : "";
    if (at.line) return err_set("%s:%d:%d: %s '%s' %s%s", c->file, at.line, at.col, what, path, why, hint);
    return err_set("%s: %s '%s' %s%s", c->file, what, path, why, hint);
}

int config_check_files(const SearchConfig *c) {
    if (check_path(c, c->model, c->model_at, "model", true)) return -1;
    if (c->tokenizer[0] && check_path(c, c->tokenizer, c->tokenizer_at, "tokenizer", false)) return -1;
    if (check_path(c, c->calib_text, c->calib_text_at, "calibration text", false)) return -1;
    if (c->final_eval && check_path(c, c->eval_text, c->eval_text_at, "eval text", false)) return -1;
    char list[sizeof c->final_tasks], *save = NULL;
    snprintf(list, sizeof list, "%s", c->final_tasks);
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const TaskDef *d = task_find(t);
        char *dir = path_join(c->final_tasks_data, d->dir), *path = path_join(dir, d->file);
        int rc = check_path(c, path, c->final_tasks_data_at, "task file", false);
        free(dir);
        free(path);
        if (rc) return -1;
    }
    return 0;
}

/* The value of key k in c as JSON. */
static json_t *key_json(const SearchConfig *c, const ConfigKey *k) {
    const void *f = cfield(c, k);
    switch (k->type) {
    case K_STR: return json_string(f);
    case K_INT:
    case K_RANDOM: return json_integer(*(const int *)f);
    case K_U64: return json_integer((json_int_t) * (const uint64_t *)f);
    case K_DOUBLE: return json_real(*(const double *)f);
    case K_BOOL: return json_boolean(*(const bool *)f);
    case K_ENUM: return json_string(k->names[*(const int *)f]);
    case K_PAIR:
    case K_RANGE: return json_pack("[f,f]", ((const double *)f)[0], ((const double *)f)[1]);
    case K_TASKS: return json_string(f);
    case K_STAGES: {
        json_t *t = json_array();
        for (int i = 0; i < c->n_stages; i++)
            json_array_append_new(t, c->stage_keep[i] ? json_pack("{s:i,s:i}", "windows", c->stage_windows[i], "keep",
                                                                  c->stage_keep[i])
                                                      : json_pack("{s:i}", "windows", c->stage_windows[i]));
        return t;
    }
    case K_TARGETS: {
        json_t *t = json_array();
        for (int i = 0; i < c->n_targets; i++) json_array_append_new(t, json_real(c->targets[i]));
        return t;
    }
    }
    return NULL;
}

char *config_to_json(const SearchConfig *c) {
    json_t *o = json_object();
    SearchConfig d;
    config_defaults(&d);
    for (size_t i = 0; i < N_KEYS; i++) { /* the table's order (sections stay together in it) */
        const ConfigKey *k = &KEYS[i];
        if (k->flags & NO_JSON) continue;
        if (k->flags & JSON_IF_SET) {
            json_t *v = key_json(c, k), *dv = key_json(&d, k);
            bool same = json_equal(v, dv);
            json_decref(v), json_decref(dv);
            if (same) continue;
        }
        json_t *parent = o;
        if (k->section) {
            parent = json_object_get(o, k->section);
            if (!parent) {
                parent = json_object();
                json_object_set_new(o, k->section, parent);
            }
        }
        json_object_set_new(parent, k->key, key_json(c, k));
    }
    char *s_out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s_out;
}
