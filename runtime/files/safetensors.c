/* safetensors — validating reader (mmap + jansson header parse) and streaming atomic
 * writer of .safetensors files. See safetensors.h. */
#include "runtime/files/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- reader */

static const struct {
    const char *name;
    size_t size;
} st_dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
    {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8},
};

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const STTensor *)a)->name, ((const STTensor *)b)->name);
}

static int cmp_begin(const void *a, const void *b) {
    const STTensor *x = *(const STTensor *const *)a, *y = *(const STTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Parse one tensor entry; errors name path and tensor. */
static int parse_entry(const char *path, const char *name, json_t *v, STTensor *t) {
    if (!json_is_object(v)) return err_set("%s: header entry '%s' is not an object", path, name);
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt)) return err_set("%s: tensor '%s' has no string \"dtype\"", path, name);
    if (!json_is_array(shape)) return err_set("%s: tensor '%s' has no \"shape\" array", path, name);
    if (!json_is_array(off) || json_array_size(off) != 2)
        return err_set("%s: tensor '%s' has no \"data_offsets\" [begin, end] pair", path, name);
    const char *dts = json_string_value(dt);
    t->elem_size = 0;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (!strcmp(dts, st_dtypes[i].name)) t->elem_size = st_dtypes[i].size;
    if (!t->elem_size) return err_set("%s: tensor '%s' has unknown dtype '%.20s'", path, name, dts);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dts);
    t->supported = !strcmp(dts, "F32") || !strcmp(dts, "F16") || !strcmp(dts, "BF16");
    if (t->supported) dtype_parse(dts, &t->dtype);
    size_t nd = json_array_size(shape);
    if (nd > ST_MAX_DIMS) return err_set("%s: tensor '%s' has %zu dimensions (at most %d supported)", path, name, nd, ST_MAX_DIMS);
    t->n_dims = (int)nd;
    uint64_t count = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return err_set("%s: tensor '%s' has a shape entry that is not a non-negative integer", path, name);
        t->shape[i] = json_integer_value(d);
        if (__builtin_mul_overflow(count, (uint64_t)t->shape[i], &count))
            return err_set("%s: tensor '%s' shape overflows", path, name);
    }
    json_t *b = json_array_get(off, 0), *e = json_array_get(off, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 || json_integer_value(e) < 0)
        return err_set("%s: tensor '%s' has data_offsets that are not non-negative integers", path, name);
    t->begin = (uint64_t)json_integer_value(b);
    t->end = (uint64_t)json_integer_value(e);
    if (t->begin > t->end)
        return err_set("%s: tensor '%s' has data_offsets begin %llu > end %llu", path, name,
                       (unsigned long long)t->begin, (unsigned long long)t->end);
    uint64_t bytes;
    if (__builtin_mul_overflow(count, (uint64_t)t->elem_size, &bytes) || bytes != t->end - t->begin)
        return err_set("%s: tensor '%s' holds %llu bytes but shape x %s size needs %llu", path, name,
                       (unsigned long long)(t->end - t->begin), dts, (unsigned long long)count * t->elem_size);
    return 0;
}

static int parse_header(SafeTensors *st, const char *path, const char *json, size_t len) {
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return err_set("%s: header is not valid JSON (line %d: %s)", path, jerr.line, jerr.text);
    int rc = -1;
    if (!json_is_object(root)) {
        err_set("%s: header is not a JSON object", path);
        goto out;
    }
    size_t n = json_object_size(root);
    st->tensors = xcalloc(n ? n : 1, sizeof *st->tensors);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(v) && !json_is_null(v)) {
                err_set("%s: __metadata__ is not an object", path);
                goto out;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv) {
                if (!json_is_string(mv)) {
                    err_set("%s: __metadata__ value of '%s' is not a string", path, mk);
                    goto out;
                }
                st->meta_keys = xrealloc(st->meta_keys, (size_t)(st->n_meta + 1) * sizeof *st->meta_keys);
                st->meta_vals = xrealloc(st->meta_vals, (size_t)(st->n_meta + 1) * sizeof *st->meta_vals);
                st->meta_keys[st->n_meta] = xstrdup(mk);
                st->meta_vals[st->n_meta++] = xstrdup(json_string_value(mv));
            }
            continue;
        }
        STTensor *t = &st->tensors[st->n_tensors];
        memset(t, 0, sizeof *t);
        if (parse_entry(path, key, v, t) != 0) goto out;
        t->name = xstrdup(key);
        st->n_tensors++;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* Bounds and overlap checks; sets data pointers. */
static int check_layout(SafeTensors *st, const char *path) {
    uint64_t data_size = st->file.size - 8 - st->header_len;
    const uint8_t *base = st->file.data + 8 + st->header_len;
    int n = st->n_tensors;
    for (int i = 0; i < n; i++) {
        STTensor *t = &st->tensors[i];
        if (t->end > data_size)
            return err_set("%s: tensor '%s' data [%llu, %llu) runs past the end of the file (data section is %llu bytes)",
                           path, t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                           (unsigned long long)data_size);
        t->data = t->end > t->begin ? base + t->begin : NULL;
    }
    const STTensor **by = xmalloc((size_t)(n ? n : 1) * sizeof *by);
    for (int i = 0; i < n; i++) by[i] = &st->tensors[i];
    qsort(by, (size_t)n, sizeof *by, cmp_begin);
    int rc = 0;
    const STTensor *prev = NULL; /* the non-empty tensor reaching furthest so far */
    for (int i = 0; i < n && rc == 0; i++) {
        const STTensor *b = by[i];
        if (b->end == b->begin) continue;
        if (prev && prev->end > b->begin)
            rc = err_set("%s: tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap", path, prev->name,
                         (unsigned long long)prev->begin, (unsigned long long)prev->end, b->name,
                         (unsigned long long)b->begin, (unsigned long long)b->end);
        if (!prev || b->end > prev->end) prev = b;
    }
    free(by);
    return rc;
}

int st_open(SafeTensors *st, const char *path) {
    memset(st, 0, sizeof *st);
    if (mapped_open(&st->file, path) != 0) return -1;
    if (st->file.size < 8) {
        size_t have = st->file.size;
        st_close(st);
        return err_set("%s: truncated safetensors file (%zu bytes, no header length)", path, have);
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | st->file.data[i];
    if (n > ST_MAX_HEADER) {
        st_close(st);
        return err_set("%s: safetensors header length %llu is absurd (limit %u)", path, (unsigned long long)n,
                       ST_MAX_HEADER);
    }
    if (n > st->file.size - 8) {
        size_t have = st->file.size - 8;
        st_close(st);
        return err_set("%s: truncated safetensors header: length field says %llu bytes, file has %zu after it", path,
                       (unsigned long long)n, have);
    }
    if (n < 2 || st->file.data[8] != '{') {
        st_close(st);
        return err_set("%s: safetensors header does not start with '{' (not a safetensors file?)", path);
    }
    st->header_len = n;
    if (parse_header(st, path, (const char *)st->file.data + 8, (size_t)n) != 0 || check_layout(st, path) != 0) {
        st_close(st);
        return -1;
    }
    qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, cmp_name);
    for (int i = 1; i < st->n_tensors; i++) /* JSON_REJECT_DUPLICATES makes this unreachable; kept as a guard */
        if (!strcmp(st->tensors[i].name, st->tensors[i - 1].name)) {
            char *nm = xstrdup(st->tensors[i].name);
            st_close(st);
            err_set("%s: tensor '%s' appears twice", path, nm);
            free(nm);
            return -1;
        }
    return 0;
}

void st_close(SafeTensors *st) {
    mapped_close(&st->file);
    if (st->tensors)
        for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_vals[i]);
    }
    free(st->meta_keys);
    free(st->meta_vals);
    memset(st, 0, sizeof *st);
}

void st_take_file(SafeTensors *st, MappedFile *out) {
    *out = st->file;
    memset(&st->file, 0, sizeof st->file);
}

const STTensor *st_find(const SafeTensors *st, const char *name) {
    STTensor key = {0};
    key.name = (char *)name;
    return bsearch(&key, st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, cmp_name);
}

const char *st_meta(const SafeTensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_vals[i];
    return NULL;
}

/* ---------------------------------------------------------------- writer */

typedef struct {
    char *name;
    DType dtype;
    int n_dims;
    int64_t shape[ST_MAX_DIMS];
    uint64_t nbytes;
} WTensor;

struct STWriter {
    WTensor *t;
    int n;
    json_t *meta;
    char *path, *tmp;
    FILE *fp;
    int cur;          /* tensor being written */
    uint64_t cur_off; /* bytes of it written */
    bool failed;
};

STWriter *st_writer_new(void) {
    STWriter *w = xcalloc(1, sizeof *w);
    return w;
}

void st_writer_add(STWriter *w, const char *name, DType dtype, int n_dims, const int64_t *shape) {
    w->t = xrealloc(w->t, (size_t)(w->n + 1) * sizeof *w->t);
    WTensor *t = &w->t[w->n++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->dtype = dtype;
    t->n_dims = n_dims < 0 ? 0 : n_dims > ST_MAX_DIMS ? ST_MAX_DIMS : n_dims;
    t->nbytes = dtype_size(dtype);
    for (int i = 0; i < t->n_dims; i++) {
        t->shape[i] = shape[i];
        t->nbytes *= (uint64_t)shape[i];
    }
}

void st_writer_meta(STWriter *w, const char *key, const char *value) {
    if (!w->meta) w->meta = json_object();
    json_object_set_new(w->meta, key, json_string(value));
}

static char *writer_header(STWriter *w, size_t *len) {
    json_t *root = json_object();
    if (w->meta) json_object_set(root, "__metadata__", w->meta);
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        WTensor *t = &w->t[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->n_dims; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *e = json_object();
        json_object_set_new(e, "dtype", json_string(dtype_name(t->dtype)));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets",
                            json_pack("[II]", (json_int_t)off, (json_int_t)(off + t->nbytes)));
        json_object_set_new(root, t->name, e);
        off += t->nbytes;
    }
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s) return NULL;
    size_t n = strlen(s), padded = (n + 7) / 8 * 8;
    char *buf = xmalloc(8 + padded);
    for (int i = 0; i < 8; i++) buf[i] = (char)(((uint64_t)padded >> (8 * i)) & 0xff);
    memcpy(buf + 8, s, n);
    memset(buf + 8 + n, ' ', padded - n);
    free(s);
    *len = 8 + padded;
    return buf;
}

int st_writer_begin(STWriter *w, const char *path) {
    size_t hl;
    char *hdr = writer_header(w, &hl);
    if (!hdr) return err_set("%s: cannot encode the safetensors header", path);
    w->path = xstrdup(path);
    size_t n = strlen(path) + 32;
    w->tmp = xmalloc(n);
    snprintf(w->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    w->fp = fopen(w->tmp, "wb");
    if (!w->fp) {
        free(hdr);
        w->failed = true;
        return err_set("%s: cannot create: %s", w->tmp, strerror(errno));
    }
    bool ok = fwrite(hdr, 1, hl, w->fp) == hl;
    free(hdr);
    w->cur = 0;
    w->cur_off = 0;
    while (w->cur < w->n && w->t[w->cur].nbytes == 0) w->cur++;
    if (!ok) {
        w->failed = true;
        return err_set("%s: write failed: %s", w->tmp, strerror(errno));
    }
    return 0;
}

/* Account for nbytes written into the current tensor(s). */
static void advance(STWriter *w, uint64_t nbytes) {
    while (nbytes > 0 && w->cur < w->n) {
        uint64_t room = w->t[w->cur].nbytes - w->cur_off, k = nbytes < room ? nbytes : room;
        w->cur_off += k;
        nbytes -= k;
        if (w->cur_off == w->t[w->cur].nbytes) {
            w->cur++;
            w->cur_off = 0;
            while (w->cur < w->n && w->t[w->cur].nbytes == 0) w->cur++;
        }
    }
}

static uint64_t bytes_left(const STWriter *w) {
    uint64_t left = 0;
    for (int i = w->cur; i < w->n; i++) left += w->t[i].nbytes;
    return left - w->cur_off;
}

int st_writer_write(STWriter *w, const void *data, size_t nbytes) {
    if (!w->fp || w->failed) return err_set("%s: safetensors writer is not open", w->path ? w->path : "?");
    if (nbytes > bytes_left(w)) {
        w->failed = true;
        return err_set("%s: more data written than the declared tensors hold", w->path);
    }
    if (fwrite(data, 1, nbytes, w->fp) != nbytes) {
        w->failed = true;
        return err_set("%s: write failed: %s", w->tmp, strerror(errno));
    }
    advance(w, nbytes);
    return 0;
}

int st_writer_write_f32(STWriter *w, const float *src, size_t n) {
    enum { CHUNK = 4096 };
    uint8_t buf[CHUNK * 4];
    while (n > 0) {
        if (w->cur >= w->n) {
            w->failed = true;
            return err_set("%s: more data written than the declared tensors hold", w->path ? w->path : "?");
        }
        DType dt = w->t[w->cur].dtype;
        size_t es = dtype_size(dt);
        if (w->cur_off % es) {
            w->failed = true;
            return err_set("%s: f32 write does not start on an element boundary", w->path);
        }
        size_t room = (size_t)((w->t[w->cur].nbytes - w->cur_off) / es);
        size_t k = n < room ? n : room;
        if (k > CHUNK) k = CHUNK;
        convert_from_f32(buf, src, dt, k);
        if (st_writer_write(w, buf, k * es) != 0) return -1;
        src += k;
        n -= k;
    }
    return 0;
}

int st_writer_finish(STWriter *w) {
    if (!w->fp || w->failed) return err_set("%s: safetensors writer is not open", w->path ? w->path : "?");
    uint64_t left = bytes_left(w);
    if (left) {
        w->failed = true;
        return err_set("%s: %llu bytes of declared tensor data were never written", w->path, (unsigned long long)left);
    }
    bool ok = fflush(w->fp) == 0;
    ok = ok && fsync(fileno(w->fp)) == 0;
    ok = (fclose(w->fp) == 0) && ok;
    w->fp = NULL;
    if (!ok || rename(w->tmp, w->path) != 0) {
        w->failed = true;
        return err_set("%s: write failed: %s", w->path, strerror(errno));
    }
    free(w->tmp);
    w->tmp = NULL;
    return 0;
}

void st_writer_free(STWriter *w) {
    if (!w) return;
    if (w->fp) fclose(w->fp);
    if (w->tmp) unlink(w->tmp);
    free(w->tmp);
    free(w->path);
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    if (w->meta) json_decref(w->meta);
    free(w);
}
