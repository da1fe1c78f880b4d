/* gguf — the reader half of runtime/files/gguf.h: parses and validates a memory-mapped GGUF v2/v3
 * file (header, metadata key/values, tensor table, aligned data section). Every length, count
 * and offset is checked against the file size before it is used; errors name the file. */
#include "runtime/files/gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAX_DIMS 4

/* A bounds-checked cursor over the mapped file. */
typedef struct {
    const uint8_t *p;
    uint64_t size, pos;
    const char *path;
} Cursor;

static int need(Cursor *c, uint64_t n, const char *what) {
    if (n > c->size - c->pos)
        return err_set("%s: truncated file: %s at offset %llu needs %llu bytes, only %llu left", c->path, what,
                       (unsigned long long)c->pos, (unsigned long long)n, (unsigned long long)(c->size - c->pos));
    return 0;
}

static int rd(Cursor *c, void *dst, uint64_t n, const char *what) {
    if (need(c, n, what)) return -1;
    memcpy(dst, c->p + c->pos, n); /* GGUF is little-endian; so are the hosts carve runs on */
    c->pos += n;
    return 0;
}

static int rd_u32(Cursor *c, uint32_t *v, const char *what) { return rd(c, v, 4, what); }
static int rd_u64(Cursor *c, uint64_t *v, const char *what) { return rd(c, v, 8, what); }

static int rd_str(Cursor *c, GGUFStr *s, const char *what) {
    uint64_t len;
    if (rd_u64(c, &len, what)) return -1;
    if (len > c->size - c->pos)
        return err_set("%s: %s at offset %llu has length %llu, past the end of the file (size %llu)", c->path, what,
                       (unsigned long long)(c->pos - 8), (unsigned long long)len, (unsigned long long)c->size);
    s->ptr = (const char *)c->p + c->pos;
    s->len = len;
    c->pos += len;
    return 0;
}

/* Size in bytes of a scalar GGUF value type; 0 for STRING/ARRAY/unknown. */
static uint64_t scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static bool type_is_uint(uint32_t t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_UINT64;
}
static bool type_is_int(uint32_t t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}
static bool type_is_float(uint32_t t) { return t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64; }

/* Decode one little-endian scalar of type t at p into the KV's union. */
static void decode_scalar(uint32_t t, const uint8_t *p, GGUFKV *kv) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_BOOL: kv->v.u = p[0]; break;
    case GGUF_TYPE_INT8: { int8_t x; memcpy(&x, p, 1); kv->v.i = x; break; }
    case GGUF_TYPE_UINT16: { uint16_t x; memcpy(&x, p, 2); kv->v.u = x; break; }
    case GGUF_TYPE_INT16: { int16_t x; memcpy(&x, p, 2); kv->v.i = x; break; }
    case GGUF_TYPE_UINT32: { uint32_t x; memcpy(&x, p, 4); kv->v.u = x; break; }
    case GGUF_TYPE_INT32: { int32_t x; memcpy(&x, p, 4); kv->v.i = x; break; }
    case GGUF_TYPE_FLOAT32: { float x; memcpy(&x, p, 4); kv->v.f = x; break; }
    case GGUF_TYPE_UINT64: { uint64_t x; memcpy(&x, p, 8); kv->v.u = x; break; }
    case GGUF_TYPE_INT64: { int64_t x; memcpy(&x, p, 8); kv->v.i = x; break; }
    case GGUF_TYPE_FLOAT64: { double x; memcpy(&x, p, 8); kv->v.f = x; break; }
    default: break;
    }
}

/* A key or tensor name: non-empty, at most 64 KiB, no NUL bytes; returned as a heap copy. */
static char *read_name(Cursor *c, const char *kind, uint64_t idx) {
    GGUFStr s;
    char what[96];
    snprintf(what, sizeof what, "%s %llu", kind, (unsigned long long)idx);
    if (rd_str(c, &s, what)) return NULL;
    if (s.len == 0 || s.len > 65535 || memchr(s.ptr, 0, s.len)) {
        err_set("%s: %s is invalid (length %llu)", c->path, what, (unsigned long long)s.len);
        return NULL;
    }
    char *out = xmalloc(s.len + 1);
    memcpy(out, s.ptr, s.len);
    out[s.len] = 0;
    return out;
}

static int read_kv(Cursor *c, GGUFKV *kv, uint64_t idx) {
    char what[96];
    if (!(kv->key = read_name(c, "key of metadata entry", idx))) return -1;
    uint32_t type;
    snprintf(what, sizeof what, "value of key '%.60s'", kv->key);
    if (rd_u32(c, &type, what)) return -1;
    kv->type = (GGUFType)type;
    if (type == GGUF_TYPE_STRING) return rd_str(c, &kv->v.s, what);
    if (type == GGUF_TYPE_ARRAY) {
        uint32_t et;
        uint64_t n;
        if (rd_u32(c, &et, what) || rd_u64(c, &n, what)) return -1;
        kv->arr_type = (GGUFType)et;
        kv->arr_len = n;
        if (et == GGUF_TYPE_ARRAY)
            return err_set("%s: key '%s' is a nested array, which carve does not support", c->path, kv->key);
        if (et == GGUF_TYPE_STRING) {
            /* each string needs at least its 8-byte length: reject absurd counts before allocating */
            if (n > (c->size - c->pos) / 8)
                return err_set("%s: key '%s' claims %llu strings, more than the file can hold", c->path, kv->key,
                               (unsigned long long)n);
            kv->strs = xmalloc((n ? n : 1) * sizeof(GGUFStr));
            kv->arr_data = c->p + c->pos;
            for (uint64_t i = 0; i < n; i++)
                if (rd_str(c, &kv->strs[i], what)) return -1;
            return 0;
        }
        uint64_t es = scalar_size(et);
        if (!es) return err_set("%s: key '%s' has arrays of unknown type %u", c->path, kv->key, et);
        if (n > (c->size - c->pos) / es)
            return err_set("%s: key '%s': array of %llu elements of %llu bytes runs past the end of the file (size %llu)",
                           c->path, kv->key, (unsigned long long)n, (unsigned long long)es,
                           (unsigned long long)c->size);
        kv->arr_data = c->p + c->pos;
        c->pos += n * es;
        return 0;
    }
    uint64_t es = scalar_size(type);
    if (!es) return err_set("%s: key '%s' has unknown value type %u", c->path, kv->key, type);
    if (need(c, es, what)) return -1;
    decode_scalar(type, c->p + c->pos, kv);
    c->pos += es;
    return 0;
}

/* Bytes of a tensor of type t with n elements, or 0 when carve cannot compute it (quantised types). */
static uint64_t tensor_nbytes(uint32_t t, uint64_t n) {
    switch (t) {
    case GGML_TYPE_F32: return n * 4;
    case GGML_TYPE_F16: case GGML_TYPE_BF16: return n * 2;
    default: return 0;
    }
}

static int read_tensor_info(Cursor *c, GGUFTensor *t, uint64_t idx) {
    char what[96];
    if (!(t->name = read_name(c, "name of tensor", idx))) return -1;
    snprintf(what, sizeof what, "info of tensor '%.60s'", t->name);
    if (rd_u32(c, &t->n_dims, what)) return -1;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
        return err_set("%s: tensor '%s' has %u dimensions (1..%d supported)", c->path, t->name, t->n_dims,
                       GGUF_MAX_DIMS);
    uint64_t nel = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if (rd_u64(c, &t->dims[d], what)) return -1;
        if (t->dims[d] == 0 || t->dims[d] > ((uint64_t)1 << 40) || nel > ((uint64_t)1 << 50) / t->dims[d])
            return err_set("%s: tensor '%s' has an invalid dimension %u = %llu", c->path, t->name, d,
                           (unsigned long long)t->dims[d]);
        nel *= t->dims[d];
    }
    for (uint32_t d = t->n_dims; d < GGUF_MAX_DIMS; d++) t->dims[d] = 1;
    if (rd_u32(c, &t->ggml_type, what) || rd_u64(c, &t->offset, what)) return -1;
    t->nbytes = tensor_nbytes(t->ggml_type, nel);
    return 0;
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const GGUFTensor *x = *(const GGUFTensor *const *)a, *y = *(const GGUFTensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Locate the data section and check every tensor's extent: aligned, inside the file, no overlap. */
static int place_tensors(GGUFFile *g, uint64_t header_end) {
    const char *path = g->file.path;
    uint64_t size = g->file.size, a = g->alignment;
    uint64_t data_off = (header_end + a - 1) / a * a;
    if (g->n_tensors == 0) {
        g->data_offset = data_off > size ? size : data_off;
        return 0;
    }
    if (data_off > size)
        return err_set("%s: data section at offset %llu starts past the end of the file (size %llu)", path,
                       (unsigned long long)data_off, (unsigned long long)size);
    g->data_offset = data_off;
    uint64_t avail = size - data_off;
    GGUFTensor **order = xmalloc(g->n_tensors * sizeof *order);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        GGUFTensor *t = &g->tensors[i];
        order[i] = t;
        if (t->offset % a) {
            free(order);
            return err_set("%s: tensor '%s' offset %llu is not a multiple of the alignment %llu", path, t->name,
                           (unsigned long long)t->offset, (unsigned long long)a);
        }
        if (t->offset > avail || (t->nbytes && t->nbytes > avail - t->offset)) {
            free(order);
            return err_set("%s: tensor '%s' data [%llu, %llu) runs past the end of the file (size %llu)", path, t->name,
                           (unsigned long long)(data_off + t->offset),
                           (unsigned long long)(data_off + t->offset + t->nbytes), (unsigned long long)size);
        }
        if (t->nbytes) t->data = g->file.data + data_off + t->offset;
    }
    qsort(order, g->n_tensors, sizeof *order, cmp_tensor_offset);
    for (uint64_t i = 1; i < g->n_tensors; i++) {
        const GGUFTensor *p = order[i - 1], *t = order[i];
        if (p->nbytes && p->offset + p->nbytes > t->offset) {
            err_set("%s: tensors '%s' and '%s' overlap (offsets %llu+%llu and %llu)", path, p->name, t->name,
                    (unsigned long long)p->offset, (unsigned long long)p->nbytes, (unsigned long long)t->offset);
            free(order);
            return -1;
        }
    }
    free(order);
    return 0;
}

static int cmp_key(const void *a, const void *b) {
    return strcmp((*(const GGUFKV *const *)a)->key, (*(const GGUFKV *const *)b)->key);
}

static int check_unique_keys(const GGUFFile *g) {
    if (g->n_kv < 2) return 0;
    const GGUFKV **order = xmalloc(g->n_kv * sizeof *order);
    for (uint64_t i = 0; i < g->n_kv; i++) order[i] = &g->kvs[i];
    qsort(order, g->n_kv, sizeof *order, cmp_key);
    int rc = 0;
    for (uint64_t i = 1; i < g->n_kv && !rc; i++)
        if (!strcmp(order[i]->key, order[i - 1]->key))
            rc = err_set("%s: duplicate metadata key '%s'", g->file.path, order[i]->key);
    free(order);
    return rc;
}

static int parse(GGUFFile *g) {
    Cursor c = {g->file.data, g->file.size, 0, g->file.path};
    const char *path = g->file.path;
    char magic[4];
    if (c.size < 4 || memcmp(c.p, "GGUF", 4) != 0) return err_set("%s: not a GGUF file (bad magic)", path);
    if (rd(&c, magic, 4, "magic") || rd_u32(&c, &g->version, "version")) return -1;
    if (g->version == 1) return err_set("%s: GGUF version 1 is not supported (only v2 and v3)", path);
    if (g->version != 2 && g->version != 3)
        return err_set("%s: unsupported GGUF version %u (only v2 and v3)", path, g->version);
    if (rd_u64(&c, &g->n_tensors, "tensor count") || rd_u64(&c, &g->n_kv, "metadata count")) return -1;
    /* each KV needs >= 12 bytes (key length + type), each tensor info >= 28 */
    if (g->n_kv > (c.size - c.pos) / 12)
        return err_set("%s: header claims %llu metadata entries, more than the file can hold", path,
                       (unsigned long long)g->n_kv);
    if (g->n_tensors > (c.size - c.pos) / 28)
        return err_set("%s: header claims %llu tensors, more than the file can hold", path,
                       (unsigned long long)g->n_tensors);
    g->kvs = xcalloc(g->n_kv ? g->n_kv : 1, sizeof *g->kvs);
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (read_kv(&c, &g->kvs[i], i)) {
            g->n_kv = i + 1; /* free what was read */
            return -1;
        }
    if (check_unique_keys(g)) return -1;
    g->alignment = 32;
    const GGUFKV *al = gguf_find(g, "general.alignment");
    if (al) {
        if (!type_is_uint(al->type) || al->v.u == 0 || (al->v.u & (al->v.u - 1)) || al->v.u > (1u << 20))
            return err_set("%s: general.alignment must be a power of two unsigned integer", path);
        g->alignment = al->v.u;
    }
    uint64_t n_t = g->n_tensors;
    g->tensors = xcalloc(n_t ? n_t : 1, sizeof *g->tensors);
    for (uint64_t i = 0; i < n_t; i++)
        if (read_tensor_info(&c, &g->tensors[i], i)) {
            g->n_tensors = i + 1;
            return -1;
        }
    return place_tensors(g, c.pos);
}

int gguf_open(GGUFFile *g, const char *path) {
    memset(g, 0, sizeof *g);
    if (mapped_open(&g->file, path)) return -1;
    if (parse(g)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", err_get());
        gguf_close(g);
        err_set("%s", msg);
        return -1;
    }
    return 0;
}

void gguf_close(GGUFFile *g) {
    if (g->kvs)
        for (uint64_t i = 0; i < g->n_kv; i++) {
            free(g->kvs[i].key);
            free(g->kvs[i].strs);
        }
    if (g->tensors)
        for (uint64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kvs);
    free(g->tensors);
    mapped_close(&g->file);
    memset(g, 0, sizeof *g);
}

const GGUFKV *gguf_find(const GGUFFile *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kvs[i].key && !strcmp(g->kvs[i].key, key)) return &g->kvs[i];
    return NULL;
}

const GGUFTensor *gguf_find_tensor(const GGUFFile *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].name && !strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

static const GGUFKV *find_or_err(const GGUFFile *g, const char *key) {
    const GGUFKV *kv = gguf_find(g, key);
    if (!kv) err_set("%s: missing metadata key '%s'", g->file.path, key);
    return kv;
}

int gguf_get_int(const GGUFFile *g, const char *key, int64_t *out) {
    const GGUFKV *kv = find_or_err(g, key);
    if (!kv) return -1;
    if (type_is_int(kv->type)) *out = kv->v.i;
    else if (type_is_uint(kv->type)) {
        if (kv->v.u > (uint64_t)INT64_MAX)
            return err_set("%s: key '%s' value %llu is out of range", g->file.path, key, (unsigned long long)kv->v.u);
        *out = (int64_t)kv->v.u;
    } else
        return err_set("%s: key '%s' is not an integer (type %d)", g->file.path, key, (int)kv->type);
    return 0;
}

int gguf_get_float(const GGUFFile *g, const char *key, double *out) {
    const GGUFKV *kv = find_or_err(g, key);
    if (!kv) return -1;
    if (type_is_float(kv->type)) *out = kv->v.f;
    else if (type_is_int(kv->type)) *out = (double)kv->v.i;
    else if (type_is_uint(kv->type)) *out = (double)kv->v.u;
    else return err_set("%s: key '%s' is not a number (type %d)", g->file.path, key, (int)kv->type);
    return 0;
}

int gguf_get_bool(const GGUFFile *g, const char *key, bool *out) {
    const GGUFKV *kv = find_or_err(g, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_BOOL) return err_set("%s: key '%s' is not a bool (type %d)", g->file.path, key, (int)kv->type);
    *out = kv->v.u != 0;
    return 0;
}

int gguf_get_string(const GGUFFile *g, const char *key, char **out) {
    const GGUFKV *kv = find_or_err(g, key);
    if (!kv) return -1;
    if (kv->type != GGUF_TYPE_STRING)
        return err_set("%s: key '%s' is not a string (type %d)", g->file.path, key, (int)kv->type);
    char *s = xmalloc(kv->v.s.len + 1);
    memcpy(s, kv->v.s.ptr, kv->v.s.len);
    s[kv->v.s.len] = 0;
    *out = s;
    return 0;
}

/* Element i of a numeric array decoded into a scratch KV. */
static GGUFKV arr_elem(const GGUFKV *kv, uint64_t i) {
    GGUFKV e;
    memset(&e, 0, sizeof e);
    uint64_t es = scalar_size(kv->arr_type);
    if (kv->type == GGUF_TYPE_ARRAY && es && i < kv->arr_len) decode_scalar(kv->arr_type, kv->arr_data + i * es, &e);
    return e;
}

int64_t gguf_arr_int(const GGUFKV *kv, uint64_t i) {
    GGUFKV e = arr_elem(kv, i);
    if (type_is_int(kv->arr_type)) return e.v.i;
    if (type_is_uint(kv->arr_type) || kv->arr_type == GGUF_TYPE_BOOL) return (int64_t)e.v.u;
    if (type_is_float(kv->arr_type)) return fabs(e.v.f) < 9.2e18 ? (int64_t)e.v.f : 0;
    return 0;
}

double gguf_arr_float(const GGUFKV *kv, uint64_t i) {
    GGUFKV e = arr_elem(kv, i);
    if (type_is_float(kv->arr_type)) return e.v.f;
    if (type_is_int(kv->arr_type)) return (double)e.v.i;
    if (type_is_uint(kv->arr_type) || kv->arr_type == GGUF_TYPE_BOOL) return (double)e.v.u;
    return 0;
}
