/* subnet — subnet masks, canonical form and hashing, and the JSON subnet file. See subnet.h. */
#include "runtime/model/subnet.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Subnet *subnet_alloc_like(int n_layers) {
    Subnet *s = xcalloc(1, sizeof *s);
    s->n_layers = n_layers;
    s->layers = xcalloc((size_t)(n_layers > 0 ? n_layers : 1), sizeof *s->layers);
    return s;
}

static void layer_init(SubnetLayer *l, int n_heads, int n_kv, int hidden, int fill) {
    l->n_heads = n_heads;
    l->n_kv_heads = n_kv;
    l->hidden_dim = hidden;
    l->head_keep = xmalloc((size_t)(n_heads > 0 ? n_heads : 1));
    l->chan_keep = xmalloc((size_t)(hidden > 0 ? hidden : 1));
    memset(l->head_keep, fill, (size_t)n_heads);
    memset(l->chan_keep, fill, (size_t)hidden);
    l->attn_on = fill && n_heads > 0;
    l->mlp_on = fill && hidden > 0;
}

Subnet *subnet_dense(const Model *m) {
    Subnet *s = subnet_alloc_like(m->cfg.n_layers);
    for (int i = 0; i < s->n_layers; i++) {
        const LayerWeights *L = &m->layers[i];
        bool is_replace = L->replace.data != NULL;
        layer_init(&s->layers[i], is_replace ? 0 : L->n_heads, is_replace ? 0 : L->n_kv_heads,
                   is_replace ? 0 : L->hidden_dim, 1);
    }
    return s;
}

Subnet *subnet_clone(const Subnet *src) {
    Subnet *s = subnet_alloc_like(src->n_layers);
    for (int i = 0; i < s->n_layers; i++) {
        const SubnetLayer *a = &src->layers[i];
        SubnetLayer *b = &s->layers[i];
        layer_init(b, a->n_heads, a->n_kv_heads, a->hidden_dim, 0);
        memcpy(b->head_keep, a->head_keep, (size_t)a->n_heads);
        memcpy(b->chan_keep, a->chan_keep, (size_t)a->hidden_dim);
        b->attn_on = a->attn_on;
        b->mlp_on = a->mlp_on;
    }
    return s;
}

void subnet_free(Subnet *s) {
    if (!s) return;
    for (int i = 0; i < s->n_layers; i++) {
        free(s->layers[i].head_keep);
        free(s->layers[i].chan_keep);
    }
    free(s->layers);
    free(s);
}

static int count_ones(const uint8_t *v, int n) {
    int c = 0;
    for (int i = 0; i < n; i++) c += v[i] != 0;
    return c;
}

void subnet_canonicalize(Subnet *s) {
    for (int i = 0; i < s->n_layers; i++) {
        SubnetLayer *l = &s->layers[i];
        for (int h = 0; h < l->n_heads; h++) l->head_keep[h] = l->head_keep[h] != 0;
        for (int c = 0; c < l->hidden_dim; c++) l->chan_keep[c] = l->chan_keep[c] != 0;
        if (!l->attn_on || count_ones(l->head_keep, l->n_heads) == 0) {
            l->attn_on = false;
            memset(l->head_keep, 0, (size_t)l->n_heads);
        }
        if (!l->mlp_on || count_ones(l->chan_keep, l->hidden_dim) == 0) {
            l->mlp_on = false;
            memset(l->chan_keep, 0, (size_t)l->hidden_dim);
        }
    }
}

bool subnet_equal(const Subnet *a, const Subnet *b) {
    if (a->n_layers != b->n_layers) return false;
    for (int i = 0; i < a->n_layers; i++) {
        const SubnetLayer *x = &a->layers[i], *y = &b->layers[i];
        if (x->n_heads != y->n_heads || x->hidden_dim != y->hidden_dim) return false;
        if (subnet_kept_heads(x) != subnet_kept_heads(y) || subnet_kept_channels(x) != subnet_kept_channels(y))
            return false;
        if (subnet_kept_heads(x) && memcmp(x->head_keep, y->head_keep, (size_t)x->n_heads)) return false;
        if (subnet_kept_channels(x) && memcmp(x->chan_keep, y->chan_keep, (size_t)x->hidden_dim)) return false;
    }
    return true;
}

uint64_t subnet_hash(const Subnet *s) {
    uint64_t h = fnv1a64(FNV64_INIT, &s->n_layers, sizeof s->n_layers);
    for (int i = 0; i < s->n_layers; i++) {
        const SubnetLayer *l = &s->layers[i];
        int32_t head[3] = {l->n_heads, l->hidden_dim, subnet_kept_heads(l) > 0};
        h = fnv1a64(h, head, sizeof head);
        for (int k = 0; k < l->n_heads; k++) {
            uint8_t b = head[2] && l->head_keep[k];
            h = fnv1a64(h, &b, 1);
        }
        uint8_t mlp = subnet_kept_channels(l) > 0;
        h = fnv1a64(h, &mlp, 1);
        for (int c = 0; c < l->hidden_dim; c++) {
            uint8_t b = mlp && l->chan_keep[c];
            h = fnv1a64(h, &b, 1);
        }
    }
    return h;
}

int subnet_kept_heads(const SubnetLayer *l) { return l->attn_on ? count_ones(l->head_keep, l->n_heads) : 0; }

int subnet_kept_kv_heads(const SubnetLayer *l) {
    if (!l->attn_on || l->n_kv_heads <= 0) return 0;
    int group = l->n_heads / l->n_kv_heads, n = 0;
    for (int g = 0; g < l->n_kv_heads; g++)
        n += count_ones(l->head_keep + g * group, group) > 0;
    return n;
}

int subnet_kept_channels(const SubnetLayer *l) { return l->mlp_on ? count_ones(l->chan_keep, l->hidden_dim) : 0; }

int subnet_check(const Subnet *s, const Model *m, const char *what) {
    if (s->n_layers != m->cfg.n_layers)
        return err_set("%s: subnet has %d layers, model %s has %d", what, s->n_layers, m->path ? m->path : "",
                       m->cfg.n_layers);
    for (int i = 0; i < s->n_layers; i++) {
        const LayerWeights *L = &m->layers[i];
        int nh = L->replace.data ? 0 : L->n_heads, hd = L->replace.data ? 0 : L->hidden_dim;
        if (s->layers[i].n_heads != nh || s->layers[i].hidden_dim != hd)
            return err_set("%s: layer %d of the subnet has %d heads and %d channels, the model's has %d and %d", what,
                           i, s->layers[i].n_heads, s->layers[i].hidden_dim, nh, hd);
    }
    return 0;
}

/* ---- JSON ---- */

static json_t *index_list(const uint8_t *keep, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        if (keep[i]) json_array_append_new(a, json_integer(i));
    return a;
}

char *subnet_to_json(const Subnet *s, const Model *m) {
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string("carve-subnet/1"));
    if (m) {
        json_object_set_new(root, "model",
                            json_pack("{s:i, s:i, s:i, s:i, s:i}", "n_layers", m->cfg.n_layers, "dim", m->cfg.dim,
                                      "n_heads", m->cfg.n_heads, "n_kv_heads", m->cfg.n_kv_heads, "hidden_dim",
                                      m->cfg.hidden_dim));
    }
    json_t *layers = json_array();
    for (int i = 0; i < s->n_layers; i++) {
        const SubnetLayer *l = &s->layers[i];
        json_t *o = json_object();
        bool attn = subnet_kept_heads(l) > 0, mlp = subnet_kept_channels(l) > 0;
        json_object_set_new(o, "attn", json_boolean(attn));
        if (attn && subnet_kept_heads(l) < l->n_heads) json_object_set_new(o, "heads", index_list(l->head_keep, l->n_heads));
        json_object_set_new(o, "mlp", json_boolean(mlp));
        if (mlp && subnet_kept_channels(l) < l->hidden_dim)
            json_object_set_new(o, "channels", index_list(l->chan_keep, l->hidden_dim));
        json_array_append_new(layers, o);
    }
    json_object_set_new(root, "layers", layers);
    char *txt = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!txt) {
        fprintf(stderr, "carve: out of memory formatting a subnet\n");
        exit(3);
    }
    return txt;
}

/* Parse an index list into keep[0..n); errors name the file, layer and key. */
static int parse_indices(const json_t *arr, uint8_t *keep, int n, const char *what, int layer, const char *key) {
    if (!json_is_array(arr)) return err_set("%s: layer %d: \"%s\" must be an array of indices", what, layer, key);
    memset(keep, 0, (size_t)n);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (!json_is_integer(v)) return err_set("%s: layer %d: \"%s\"[%zu] is not an integer", what, layer, key, i);
        json_int_t x = json_integer_value(v);
        if (x < 0 || x >= n)
            return err_set("%s: layer %d: \"%s\" index %lld out of range [0, %d)", what, layer, key, (long long)x, n);
        if (keep[x]) return err_set("%s: layer %d: \"%s\" lists index %lld twice", what, layer, key, (long long)x);
        keep[x] = 1;
    }
    return 0;
}

static int get_bool(const json_t *o, const char *key, bool dflt, bool *out, const char *what, int layer) {
    const json_t *v = json_object_get(o, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v)) return err_set("%s: layer %d: \"%s\" must be true or false", what, layer, key);
    *out = json_is_true(v);
    return 0;
}

int subnet_from_json(const char *json, const Model *m, const char *what, Subnet **out) {
    *out = NULL;
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    if (!root) return err_set("%s: not valid JSON (line %d, column %d: %s)", what, je.line, je.column, je.text);
    Subnet *s = NULL;
    int rc = -1;
    const json_t *layers = json_object_get(root, "layers");
    if (!json_is_object(root) || !json_is_array(layers)) {
        err_set("%s: not a carve subnet file (expected an object with a \"layers\" array)", what);
        goto done;
    }
    const json_t *fmt = json_object_get(root, "format");
    if (fmt && (!json_is_string(fmt) || strcmp(json_string_value(fmt), "carve-subnet/1") != 0)) {
        err_set("%s: unsupported subnet format (expected \"carve-subnet/1\")", what);
        goto done;
    }
    if ((int)json_array_size(layers) != m->cfg.n_layers) {
        err_set("%s: subnet has %zu layers, the model has %d (a subnet for another model?)", what,
                json_array_size(layers), m->cfg.n_layers);
        goto done;
    }
    const json_t *mi = json_object_get(root, "model");
    if (!json_is_object(mi)) {
        err_set("%s: no \"model\" object (the shape of the model the subnet is for)", what);
        goto done;
    }
    {
        const char *keys[] = {"n_layers", "dim", "n_heads", "n_kv_heads", "hidden_dim"};
        int want[] = {m->cfg.n_layers, m->cfg.dim, m->cfg.n_heads, m->cfg.n_kv_heads, m->cfg.hidden_dim};
        for (int k = 0; k < 5; k++) {
            const json_t *v = json_object_get(mi, keys[k]);
            if (v && (!json_is_integer(v) || json_integer_value(v) != want[k])) {
                err_set("%s: subnet is for a model with %s=%lld, this model has %d", what, keys[k],
                        (long long)json_integer_value(v), want[k]);
                goto done;
            }
        }
    }
    s = subnet_dense(m);
    for (int i = 0; i < s->n_layers; i++) {
        const json_t *o = json_array_get(layers, (size_t)i);
        SubnetLayer *l = &s->layers[i];
        if (!json_is_object(o)) {
            err_set("%s: layer %d: expected an object", what, i);
            goto done;
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)o, k, v) {
            if (strcmp(k, "attn") && strcmp(k, "heads") && strcmp(k, "mlp") && strcmp(k, "channels")) {
                err_set("%s: layer %d: unknown key \"%s\"", what, i, k);
                goto done;
            }
        }
        if (get_bool(o, "attn", l->n_heads > 0, &l->attn_on, what, i)) goto done;
        if (get_bool(o, "mlp", l->hidden_dim > 0, &l->mlp_on, what, i)) goto done;
        if (l->attn_on && l->n_heads == 0) {
            err_set("%s: layer %d: \"attn\" is true but the model layer has no attention", what, i);
            goto done;
        }
        if (l->mlp_on && l->hidden_dim == 0) {
            err_set("%s: layer %d: \"mlp\" is true but the model layer has no MLP", what, i);
            goto done;
        }
        const json_t *heads = json_object_get(o, "heads"), *chans = json_object_get(o, "channels");
        if ((heads && !l->attn_on) || (chans && !l->mlp_on)) {
            err_set("%s: layer %d: \"%s\" is given but \"%s\" is false", what, i, heads && !l->attn_on ? "heads" : "channels",
                    heads && !l->attn_on ? "attn" : "mlp");
            goto done;
        }
        if ((heads && json_is_array(heads) && !json_array_size(heads)) ||
            (chans && json_is_array(chans) && !json_array_size(chans))) {
            err_set("%s: layer %d: \"%s\" is empty (a skipped sublayer is \"%s\": false)", what, i,
                    heads && json_is_array(heads) && !json_array_size(heads) ? "heads" : "channels",
                    heads && json_is_array(heads) && !json_array_size(heads) ? "attn" : "mlp");
            goto done;
        }
        if (heads && parse_indices(heads, l->head_keep, l->n_heads, what, i, "heads")) goto done;
        if (chans && parse_indices(chans, l->chan_keep, l->hidden_dim, what, i, "channels")) goto done;
    }
    subnet_canonicalize(s);
    rc = 0;
done:
    json_decref(root);
    if (rc != 0) {
        subnet_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int subnet_read_file(const char *path, const Model *m, Subnet **out) {
    char *txt = read_file(path, NULL);
    if (!txt) return -1;
    int rc = subnet_from_json(txt, m, path, out);
    free(txt);
    return rc;
}

int subnet_write_file(const char *path, const Subnet *s, const Model *m) {
    char *txt = subnet_to_json(s, m);
    size_t n = strlen(txt);
    txt = xrealloc(txt, n + 2);
    txt[n] = '\n';
    txt[n + 1] = 0;
    int rc = write_file_atomic(path, txt, n + 1);
    free(txt);
    return rc;
}
