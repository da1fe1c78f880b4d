/* gguf — reader (and, for export, writer) of GGUF v2/v3 files: header, metadata
 * key/values and the tensor table, with every field bounds-checked against the
 * file size. Tensor data stays memory-mapped. Spec: ggml's docs/gguf.md. */
#ifndef CARVE_GGUF_H
#define CARVE_GGUF_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/base/util.h"

typedef enum {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2, GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12
} GGUFType;

/* ggml tensor types carve handles */
enum { GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_BF16 = 30 };

/* A string inside the mapped file (not NUL-terminated). */
typedef struct {
    const char *ptr;
    uint64_t len;
} GGUFStr;

typedef struct {
    char *key;              /* NUL-terminated copy */
    GGUFType type;
    union {
        uint64_t u;         /* UINT8..UINT64, BOOL */
        int64_t i;          /* INT8..INT64 */
        double f;           /* FLOAT32, FLOAT64 */
        GGUFStr s;          /* STRING */
    } v;
    /* ARRAY: element type, count and elements. Numeric arrays point at the raw
     * little-endian elements in the file; string arrays are decoded into strs. */
    GGUFType arr_type;
    uint64_t arr_len;
    const uint8_t *arr_data;
    GGUFStr *strs;          /* arr_type == STRING: arr_len entries */
} GGUFKV;

typedef struct {
    char *name;             /* NUL-terminated copy */
    uint32_t n_dims;
    uint64_t dims[4];       /* ggml order: dims[0] is the fastest-varying (columns) */
    uint32_t ggml_type;
    uint64_t offset;        /* relative to the start of the data section */
    const void *data;       /* into the mapping */
    uint64_t nbytes;
} GGUFTensor;

typedef struct GGUFFile {
    MappedFile file;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    GGUFKV *kvs;
    GGUFTensor *tensors;
    uint64_t alignment;     /* general.alignment or 32 */
    uint64_t data_offset;
} GGUFFile;

/* Open and validate. Errors name the file and the field ("x.gguf: tensor 'blk.0.attn_q.weight'
 * data [off, off+n) runs past the end of the file (size N)"). */
int  gguf_open(GGUFFile *g, const char *path);
void gguf_close(GGUFFile *g);

const GGUFKV     *gguf_find(const GGUFFile *g, const char *key);
const GGUFTensor *gguf_find_tensor(const GGUFFile *g, const char *name);
/* Typed getters: 0 on success, -1 (with err_set naming the file and key) when the key is
 * missing or has an incompatible type. Integer getters accept any integer type in range. */
int gguf_get_int(const GGUFFile *g, const char *key, int64_t *out);
int gguf_get_float(const GGUFFile *g, const char *key, double *out);
int gguf_get_bool(const GGUFFile *g, const char *key, bool *out);
/* String value copied into a new NUL-terminated heap string. */
int gguf_get_string(const GGUFFile *g, const char *key, char **out);
/* Element i of a numeric array as int64/double (any numeric element type). */
int64_t gguf_arr_int(const GGUFKV *kv, uint64_t i);
double  gguf_arr_float(const GGUFKV *kv, uint64_t i);

/* ---- writer (export) ---- */
typedef struct GGUFWriter GGUFWriter;
GGUFWriter *gguf_writer_new(void);
void gguf_writer_free(GGUFWriter *w);
void gguf_set_u32(GGUFWriter *w, const char *key, uint32_t v);
void gguf_set_i32(GGUFWriter *w, const char *key, int32_t v);
void gguf_set_f32(GGUFWriter *w, const char *key, float v);
void gguf_set_bool(GGUFWriter *w, const char *key, bool v);
void gguf_set_str(GGUFWriter *w, const char *key, const char *v);
void gguf_set_arr_i32(GGUFWriter *w, const char *key, const int32_t *v, uint64_t n);
void gguf_set_arr_f32(GGUFWriter *w, const char *key, const float *v, uint64_t n);
void gguf_set_arr_str(GGUFWriter *w, const char *key, const char *const *v, const uint64_t *lens, uint64_t n);
/* Add a tensor; shape in row-major order (rows, cols) is written as ggml dims (cols, rows).
 * The data is copied when the file is written, so it must stay valid until then. */
void gguf_add_tensor(GGUFWriter *w, const char *name, uint32_t ggml_type, int64_t rows, int64_t cols,
                     const void *data);
/* Write to path atomically (temporary name, then rename). */
int  gguf_writer_write(GGUFWriter *w, const char *path);

#endif
