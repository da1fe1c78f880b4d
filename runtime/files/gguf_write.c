/* gguf_write — the GGUF v3 writer half of gguf.h: metadata key/values and tensors are
 * collected in memory (tensor data by pointer), then written in one pass to a temporary
 * file that is renamed into place, so a failed export leaves nothing half-written. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/files/gguf.h"

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} ByteBuf;

typedef struct {
    char *name;
    uint32_t type;
    int64_t rows, cols;
    const void *data;
    uint64_t nbytes, offset;
} PendingTensor;

struct GGUFWriter {
    ByteBuf kv;       /* serialized key/value records */
    uint64_t n_kv;
    PendingTensor *tensors;
    uint64_t n_tensors;
};

static void bb_put(ByteBuf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->buf = xrealloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}
static void bb_u32(ByteBuf *b, uint32_t v) { bb_put(b, &v, 4); }
static void bb_u64(ByteBuf *b, uint64_t v) { bb_put(b, &v, 8); }
static void bb_str(ByteBuf *b, const char *s, uint64_t n) {
    bb_u64(b, n);
    bb_put(b, s, n);
}
static void kv_head(GGUFWriter *w, const char *key, GGUFType t) {
    bb_str(&w->kv, key, strlen(key));
    bb_u32(&w->kv, (uint32_t)t);
    w->n_kv++;
}

GGUFWriter *gguf_writer_new(void) { return xcalloc(1, sizeof(GGUFWriter)); }

void gguf_writer_free(GGUFWriter *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    free(w->kv.buf);
    free(w);
}

void gguf_set_u32(GGUFWriter *w, const char *key, uint32_t v) { kv_head(w, key, GGUF_TYPE_UINT32); bb_u32(&w->kv, v); }
void gguf_set_i32(GGUFWriter *w, const char *key, int32_t v) { kv_head(w, key, GGUF_TYPE_INT32); bb_put(&w->kv, &v, 4); }
void gguf_set_f32(GGUFWriter *w, const char *key, float v) { kv_head(w, key, GGUF_TYPE_FLOAT32); bb_put(&w->kv, &v, 4); }
void gguf_set_bool(GGUFWriter *w, const char *key, bool v) {
    uint8_t b = v;
    kv_head(w, key, GGUF_TYPE_BOOL);
    bb_put(&w->kv, &b, 1);
}
void gguf_set_str(GGUFWriter *w, const char *key, const char *v) {
    kv_head(w, key, GGUF_TYPE_STRING);
    bb_str(&w->kv, v, strlen(v));
}
void gguf_set_arr_i32(GGUFWriter *w, const char *key, const int32_t *v, uint64_t n) {
    kv_head(w, key, GGUF_TYPE_ARRAY);
    bb_u32(&w->kv, GGUF_TYPE_INT32);
    bb_u64(&w->kv, n);
    bb_put(&w->kv, v, n * 4);
}
void gguf_set_arr_f32(GGUFWriter *w, const char *key, const float *v, uint64_t n) {
    kv_head(w, key, GGUF_TYPE_ARRAY);
    bb_u32(&w->kv, GGUF_TYPE_FLOAT32);
    bb_u64(&w->kv, n);
    bb_put(&w->kv, v, n * 4);
}
void gguf_set_arr_str(GGUFWriter *w, const char *key, const char *const *v, const uint64_t *lens, uint64_t n) {
    kv_head(w, key, GGUF_TYPE_ARRAY);
    bb_u32(&w->kv, GGUF_TYPE_STRING);
    bb_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++) bb_str(&w->kv, v[i], lens ? lens[i] : strlen(v[i]));
}

void gguf_add_tensor(GGUFWriter *w, const char *name, uint32_t ggml_type, int64_t rows, int64_t cols,
                     const void *data) {
    w->tensors = xrealloc(w->tensors, (size_t)(w->n_tensors + 1) * sizeof *w->tensors);
    PendingTensor *t = &w->tensors[w->n_tensors++];
    t->name = xstrdup(name);
    t->type = ggml_type;
    t->rows = rows;
    t->cols = cols;
    t->data = data;
    t->nbytes = (uint64_t)(rows * cols) * (ggml_type == GGML_TYPE_F32 ? 4 : 2);
}

#define GGUF_WRITE_ALIGN 32

static int write_all(FILE *fp, const void *p, size_t n) { return fwrite(p, 1, n, fp) == n ? 0 : -1; }

static int write_padding(FILE *fp, uint64_t pos) {
    static const uint8_t zeros[GGUF_WRITE_ALIGN] = {0};
    uint64_t pad = (GGUF_WRITE_ALIGN - pos % GGUF_WRITE_ALIGN) % GGUF_WRITE_ALIGN;
    return write_all(fp, zeros, (size_t)pad);
}

int gguf_writer_write(GGUFWriter *w, const char *path) {
    ByteBuf head = {0};
    bb_put(&head, "GGUF", 4);
    bb_u32(&head, 3);
    bb_u64(&head, w->n_tensors);
    bb_u64(&head, w->n_kv);
    bb_put(&head, w->kv.buf, w->kv.len);
    uint64_t off = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        PendingTensor *t = &w->tensors[i];
        t->offset = off;
        bb_str(&head, t->name, strlen(t->name));
        bool vec = t->rows == 1;
        bb_u32(&head, vec ? 1 : 2);
        bb_u64(&head, (uint64_t)t->cols); /* ne[0]: the fastest-varying dimension */
        if (!vec) bb_u64(&head, (uint64_t)t->rows);
        bb_u32(&head, t->type);
        bb_u64(&head, t->offset);
        off += (t->nbytes + GGUF_WRITE_ALIGN - 1) / GGUF_WRITE_ALIGN * GGUF_WRITE_ALIGN;
    }
    size_t plen = strlen(path) + 32;
    char *tmp = xmalloc(plen);
    snprintf(tmp, plen, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    int rc = -1;
    if (!fp) {
        err_set("%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    int bad = write_all(fp, head.buf, head.len) || write_padding(fp, head.len);
    for (uint64_t i = 0; i < w->n_tensors && !bad; i++) {
        bad = write_all(fp, w->tensors[i].data, (size_t)w->tensors[i].nbytes) ||
              write_padding(fp, w->tensors[i].nbytes);
    }
    bad = fflush(fp) != 0 || bad;
    bad = fsync(fileno(fp)) != 0 || bad;
    bad = fclose(fp) != 0 || bad;
    if (bad || rename(tmp, path) != 0) {
        err_set("%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    free(head.buf);
    return rc;
}
