/* config — parsing and validation of the YAML search configuration with libyaml's document
 * API (see config.h). Each section is a table of known keys; a value is checked for its type
 * and range where it is read, so every message carries the value's line and column. */
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

/* ---- sections ---- */

typedef int (*KeyFn)(const Parser *p, const char *key, const yaml_node_t *v, SearchConfig *c);

static int need_mapping(const Parser *p, const yaml_node_t *n, const char *sec) {
    if (n->type == YAML_MAPPING_NODE) return 0;
    return fail_at(p, n, "'%s' must be a mapping of keys", sec);
}

/* Walk a mapping: each key must be a scalar one of `keys` (NULL-terminated); fn reads it. */
static int walk(const Parser *p, const yaml_node_t *map, const char *sec, const char *const *keys, KeyFn fn,
                SearchConfig *c) {
    if (need_mapping(p, map, sec)) return -1;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(p->doc, pr->key), *v = yaml_document_get_node(p->doc, pr->value);
        if (k->type != YAML_SCALAR_NODE) return fail_at(p, k, "keys in '%s' must be plain names", sec);
        const char *key = scalar(k);
        int known = 0;
        for (int i = 0; keys[i]; i++)
            if (!strcmp(keys[i], key)) known = 1;
        if (!known) return fail_at(p, k, "unknown key '%s' in '%s'", key, sec);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pr; q++)
            if (!strcmp(scalar(yaml_document_get_node(p->doc, q->key)), key))
                return fail_at(p, k, "key '%s' appears twice in '%s'", key, sec);
        if (fn(p, key, v, c)) return -1;
    }
    return 0;
}

static int calib_key(const Parser *p, const char *key, const yaml_node_t *v, SearchConfig *c) {
    if (!strcmp(key, "text")) {
        c->calib_text_at = mark_of(v);
        return read_string(p, v, key, "calibration", c->calib_text, sizeof c->calib_text);
    }
    if (!strcmp(key, "n")) return read_int(p, v, key, "calibration", 1, 1 << 20, &c->calib_n);
    if (!strcmp(key, "len")) return read_int(p, v, key, "calibration", 2, 1 << 20, &c->calib_len);
    return read_u64(p, v, key, "calibration", &c->calib_seed);
}

static int eval_key(const Parser *p, const char *key, const yaml_node_t *v, SearchConfig *c) {
    if (!strcmp(key, "text")) {
        c->eval_text_at = mark_of(v);
        return read_string(p, v, key, "eval", c->eval_text, sizeof c->eval_text);
    }
    if (!strcmp(key, "seq_len")) return read_int(p, v, key, "eval", 2, 1 << 20, &c->eval_seq_len);
    return read_int(p, v, key, "eval", 0, 1 << 30, &c->eval_max_windows);
}

static int space_key(const Parser *p, const char *key, const yaml_node_t *v, SearchConfig *c) {
    SpaceConfig *s = &c->space;
    if (!strcmp(key, "heads")) return read_bool(p, v, key, "space", &s->heads);
    if (!strcmp(key, "channels")) return read_bool(p, v, key, "space", &s->channels);
    if (!strcmp(key, "channel_multiple")) return read_int(p, v, key, "space", 1, 1 << 16, &s->channel_multiple);
    if (!strcmp(key, "sublayers")) return read_bool(p, v, key, "space", &s->sublayers);
    if (!strcmp(key, "layers")) return read_bool(p, v, key, "space", &s->layers);
    if (!strcmp(key, "attn_ratio")) return read_range(p, v, key, "space", s->attn_ratio);
    return read_range(p, v, key, "space", s->mlp_ratio);
}

static int budget_key(const Parser *p, const char *key, const yaml_node_t *v, SearchConfig *c) {
    if (!strcmp(key, "kind")) {
        if (need_scalar(p, v, key, "budget", "params or flops")) return -1;
        if (!strcmp(scalar(v), "params")) c->budget_kind = 0;
        else if (!strcmp(scalar(v), "flops")) c->budget_kind = 1;
        else return fail_at(p, v, "'kind' in 'budget' must be params or flops, got '%s'", scalar(v));
        return 0;
    }
    if (!strcmp(key, "targets")) return read_targets(p, v, c);
    return read_double(p, v, key, "budget", 0, false, 0.5, &c->tolerance);
}

static int algo_key(const Parser *p, const char *key, const yaml_node_t *v, SearchConfig *c) {
    AlgoConfig *a = &c->algo;
    const char *sec = "algorithm";
    if (!strcmp(key, "kind")) {
        if (need_scalar(p, v, key, sec, "ga or nsga2")) return -1;
        if (!strcmp(scalar(v), "ga")) a->kind = ALGO_GA;
        else if (!strcmp(scalar(v), "nsga2")) a->kind = ALGO_NSGA2;
        else return fail_at(p, v, "'kind' in 'algorithm' must be ga or nsga2, got '%s'", scalar(v));
        return 0;
    }
    if (!strcmp(key, "population")) return read_int(p, v, key, sec, 2, 100000, &a->population);
    if (!strcmp(key, "generations")) return read_int(p, v, key, sec, 1, 100000, &a->generations);
    if (!strcmp(key, "parents")) return read_int(p, v, key, sec, 1, 100000, &a->parents);
    if (!strcmp(key, "mutations")) return read_int(p, v, key, sec, 0, 100000, &a->mutations);
    if (!strcmp(key, "crossovers")) return read_int(p, v, key, sec, 0, 100000, &a->crossovers);
    if (!strcmp(key, "mutation_prob")) return read_prob_pair(p, v, key, sec, a->mutation_prob);
    if (!strcmp(key, "crossover_prob")) return read_prob_pair(p, v, key, sec, a->crossover_prob);
    if (!strcmp(key, "depth_prob")) return read_double(p, v, key, sec, 0, false, 1, &a->depth_prob);
    if (!strcmp(key, "overlap")) return read_double(p, v, key, sec, 0, false, 1, &a->overlap);
    return read_u64(p, v, key, sec, &a->seed);
}

static int fitness_key(const Parser *p, const char *key, const yaml_node_t *v, SearchConfig *c) {
    (void)key;
    return read_bool(p, v, "reform", "fitness", &c->fitness_reform);
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

static int final_key(const Parser *p, const char *key, const yaml_node_t *v, SearchConfig *c) {
    if (!strcmp(key, "tasks")) return read_tasks(p, v, c);
    if (!strcmp(key, "tasks_data")) {
        c->final_tasks_data_at = mark_of(v);
        return read_string(p, v, key, "final", c->final_tasks_data, sizeof c->final_tasks_data);
    }
    if (!strcmp(key, "tasks_limit")) return read_int(p, v, key, "final", 0, 1 << 30, &c->final_tasks_limit);
    if (!strcmp(key, "reform")) return read_bool(p, v, key, "final", &c->final_reform);
    if (!strcmp(key, "rerank")) return read_int(p, v, key, "final", 0, 100000, &c->final_rerank);
    if (!strcmp(key, "rerank_windows")) return read_int(p, v, key, "final", 1, 1 << 20, &c->final_rerank_windows);
    return read_bool(p, v, key, "final", &c->final_eval);
}

static int baselines_key(const Parser *p, const char *key, const yaml_node_t *v, SearchConfig *c) {
    if (v->type == YAML_SCALAR_NODE && !strcmp(scalar(v), "same")) {
        c->baseline_random = -1;
        return 0;
    }
    if (v->type == YAML_SCALAR_NODE && strtol(scalar(v), NULL, 10) < 0)
        return fail_at(p, v, "'%s' in 'baselines' must be 'same' or a count >= 0, got '%s'", key, scalar(v));
    return read_int(p, v, key, "baselines", 0, 1000000, &c->baseline_random);
}

static const char *const CALIB_KEYS[] = {"text", "n", "len", "seed", NULL};
static const char *const EVAL_KEYS[] = {"text", "seq_len", "max_windows", NULL};
static const char *const SPACE_KEYS[] = {"heads",  "channels",   "channel_multiple", "sublayers",
                                         "layers", "attn_ratio", "mlp_ratio",        NULL};
static const char *const BUDGET_KEYS[] = {"kind", "targets", "tolerance", NULL};
static const char *const ALGO_KEYS[] = {"kind",          "population",     "generations", "parents",
                                        "mutations",     "crossovers",     "mutation_prob",
                                        "crossover_prob", "depth_prob",    "overlap",     "seed", NULL};
static const char *const FITNESS_KEYS[] = {"reform", NULL};
static const char *const FINAL_KEYS[] = {"reform", "eval", "rerank", "rerank_windows", "tasks", "tasks_data",
                                         "tasks_limit", NULL};
static const char *const BASELINE_KEYS[] = {"random", NULL};
static const char *const TOP_KEYS[] = {"method", "model",  "tokenizer", "calibration", "eval",      "space", "budget",
                                       "algorithm", "fitness", "final",       "baselines", "output", "runs", NULL};
static const char *const RUN_KEYS[] = {"name",   "model",   "tokenizer", "calibration", "eval",   "space",
                                       "budget", "algorithm", "fitness", "final",       "baselines", "output", NULL};

static int settings_key(const Parser *p, const char *key, const yaml_node_t *v, SearchConfig *c) {
    if (!strcmp(key, "model")) {
        c->model_at = mark_of(v);
        return read_string(p, v, key, p->level, c->model, sizeof c->model);
    }
    if (!strcmp(key, "tokenizer")) {
        c->tokenizer_at = mark_of(v);
        return read_string(p, v, key, p->level, c->tokenizer, sizeof c->tokenizer);
    }
    if (!strcmp(key, "output")) return read_string(p, v, key, p->level, c->output, sizeof c->output);
    if (!strcmp(key, "method")) { /* the method registry's name (search/method.h); only the searches run here */
        if (read_string(p, v, key, p->level, c->method, sizeof c->method)) return -1;
        if (strcmp(c->method, "carve-ga") && strcmp(c->method, "carve-nsga2"))
            return fail_at(p, v, "method '%s' is not a search: run it with carve prune --method %s", c->method, c->method);
        return 0;
    }
    if (!strcmp(key, "name")) {
        if (read_string(p, v, key, "runs", c->name, sizeof c->name)) return -1;
        for (const char *s = c->name; *s; s++)
            if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.'))
                return fail_at(p, v, "run name '%s' may only hold letters, digits, '_', '-' and '.'", c->name);
        return 0;
    }
    if (!strcmp(key, "runs")) return 0; /* handled by the caller */
    if (!strcmp(key, "calibration")) return walk(p, v, key, CALIB_KEYS, calib_key, c);
    if (!strcmp(key, "eval")) return walk(p, v, key, EVAL_KEYS, eval_key, c);
    if (!strcmp(key, "space")) return walk(p, v, key, SPACE_KEYS, space_key, c);
    if (!strcmp(key, "budget")) return walk(p, v, key, BUDGET_KEYS, budget_key, c);
    if (!strcmp(key, "algorithm")) return walk(p, v, key, ALGO_KEYS, algo_key, c);
    if (!strcmp(key, "fitness")) return walk(p, v, key, FITNESS_KEYS, fitness_key, c);
    if (!strcmp(key, "final")) return walk(p, v, key, FINAL_KEYS, final_key, c);
    return walk(p, v, key, BASELINE_KEYS, baselines_key, c);
}

void config_defaults(SearchConfig *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->model, sizeof c->model, "models/stories260K/stories260K.bin");
    snprintf(c->calib_text, sizeof c->calib_text, "data/tinystories/calib.txt");
    c->calib_n = 32;
    c->calib_len = 128;
    c->calib_seed = 1;
    snprintf(c->eval_text, sizeof c->eval_text, "data/tinystories/valid.txt");
    c->eval_seq_len = 256;
    c->space = (SpaceConfig){true, true, 1, true, false, {0.0, 1.0}, {0.0, 1.0}};
    c->budget_kind = 0;
    c->n_targets = 5;
    for (int i = 0; i < 5; i++) c->targets[i] = 0.9 - 0.1 * i;
    c->tolerance = 0.02;
    /* the paper's schedule */
    c->algo = (AlgoConfig){ALGO_GA, 100, 20, 10, 50, 30, {0.6, 0.3}, {0.3, 0.1}, 0.05, 0.8, 1};
    c->fitness_reform = false;
    c->final_reform = true;
    c->final_eval = true;
    c->final_rerank = 0;
    c->final_rerank_windows = 128;
    snprintf(c->final_tasks_data, sizeof c->final_tasks_data, "data/tasks");
    c->baseline_random = 0;
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
    if (walk(&p, root, "top level", TOP_KEYS, settings_key, &base)) goto done;
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
            if (walk(&p, r, "runs", RUN_KEYS, settings_key, c)) goto done;
            if (!c->name[0]) {
                fail_at(&p, r, "run %d has no 'name'", i + 1);
                goto done;
            }
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

static int check_file(const SearchConfig *c, const char *path, CfgMark at, const char *what) {
    if (path_exists(path) && !path_is_dir(path)) return 0;
    const char *why = path_exists(path) ? "is a directory, not a file" : "not found";
    /* the tree `make models` fills (scripts/fetch.manifest) */
    bool fetched = strncmp(path, "models/", 7) == 0 || strncmp(path, "data/", 5) == 0;
    const char *hint = fetched ? " (run 'make models')" : "";
    if (at.line) return err_set("%s:%d:%d: %s '%s' %s%s", c->file, at.line, at.col, what, path, why, hint);
    return err_set("%s: %s '%s' %s%s", c->file, what, path, why, hint);
}

int config_check_files(const SearchConfig *c) {
    if (check_file(c, c->model, c->model_at, "model")) return -1;
    if (c->tokenizer[0] && check_file(c, c->tokenizer, c->tokenizer_at, "tokenizer")) return -1;
    if (check_file(c, c->calib_text, c->calib_text_at, "calibration text")) return -1;
    if (c->final_eval && check_file(c, c->eval_text, c->eval_text_at, "eval text")) return -1;
    char list[sizeof c->final_tasks], *save = NULL;
    snprintf(list, sizeof list, "%s", c->final_tasks);
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        const TaskDef *d = task_find(t);
        char *dir = path_join(c->final_tasks_data, d->dir), *path = path_join(dir, d->file);
        int rc = check_file(c, path, c->final_tasks_data_at, "task file");
        free(dir);
        free(path);
        if (rc) return -1;
    }
    return 0;
}

char *config_to_json(const SearchConfig *c) {
    const SpaceConfig *s = &c->space;
    const AlgoConfig *a = &c->algo;
    json_t *t = json_array();
    for (int i = 0; i < c->n_targets; i++) json_array_append_new(t, json_real(c->targets[i]));
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:i, s:i, s:I}, s:{s:s, s:i, s:i},"
        " s:{s:b, s:b, s:i, s:b, s:b, s:[f,f], s:[f,f]}, s:{s:s, s:o, s:f},"
        " s:{s:s, s:i, s:i, s:i, s:i, s:i, s:[f,f], s:[f,f], s:f, s:f, s:I},"
        " s:{s:b}, s:{s:b, s:b, s:i, s:i}, s:{s:i}}",
        "name", c->name, "model", c->model, "tokenizer", c->tokenizer, "calibration", "text", c->calib_text, "n",
        c->calib_n, "len", c->calib_len, "seed", (json_int_t)c->calib_seed, "eval", "text", c->eval_text, "seq_len",
        c->eval_seq_len, "max_windows", c->eval_max_windows, "space", "heads", s->heads, "channels", s->channels,
        "channel_multiple", s->channel_multiple, "sublayers", s->sublayers, "layers", s->layers, "attn_ratio",
        s->attn_ratio[0], s->attn_ratio[1], "mlp_ratio", s->mlp_ratio[0], s->mlp_ratio[1], "budget", "kind",
        c->budget_kind ? "flops" : "params", "targets", t, "tolerance", c->tolerance, "algorithm", "kind",
        a->kind == ALGO_GA ? "ga" : "nsga2", "population", a->population, "generations", a->generations, "parents",
        a->parents, "mutations", a->mutations, "crossovers", a->crossovers, "mutation_prob", a->mutation_prob[0],
        a->mutation_prob[1], "crossover_prob", a->crossover_prob[0], a->crossover_prob[1], "depth_prob",
        a->depth_prob, "overlap", a->overlap, "seed", (json_int_t)a->seed, "fitness", "reform", c->fitness_reform,
        "final", "reform", c->final_reform, "eval", c->final_eval, "rerank", c->final_rerank,
        "rerank_windows", c->final_rerank_windows, "baselines", "random", c->baseline_random);
    if (!o) return NULL;
    char *s_out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s_out;
}
