/* safetensors — reader and streaming writer of the safetensors format:
 *   u64 little-endian N | N bytes of JSON header | data
 * The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
 * (offsets relative to the start of the data) plus an optional "__metadata__" object of
 * string values. The reader validates the whole header against the file (sizes, bounds,
 * overlaps, dtypes) and leaves the data memory-mapped; the writer declares every tensor
 * first, then streams the data in declaration order into a temporary file that is renamed
 * into place when complete (so a 13.5 GB model never needs to sit in memory). */
#ifndef CARVE_SAFETENSORS_H
#define CARVE_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/base/dtype.h"
#include "runtime/base/util.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u << 20) /* larger headers are rejected (as the reference does) */

typedef struct {
    char *name;
    char dtype_name[12];     /* as stored: "F32", "BF16", "I64", ... */
    bool supported;          /* dtype is F32, F16 or BF16 (then `dtype` is set) */
    DType dtype;
    size_t elem_size;        /* bytes per element of dtype_name */
    int n_dims;
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;     /* data_offsets, relative to the data section */
    const void *data;        /* into the mapping (NULL for an empty tensor) */
} STTensor;

typedef struct {
    MappedFile file;
    uint64_t header_len;
    STTensor *tensors;       /* sorted by name */
    int n_tensors;
    char **meta_keys, **meta_vals; /* __metadata__ entries */
    int n_meta;
} SafeTensors;

/* Open, map and validate path. Every failure sets a one-line message naming the file. */
int  st_open(SafeTensors *st, const char *path);
/* Unmap (unless the mapping was handed over with st_take_file) and free the table. */
void st_close(SafeTensors *st);
/* Move the mapping out (e.g. into a Model with model_add_file): tensor data pointers stay
 * valid while the returned file stays mapped. */
void st_take_file(SafeTensors *st, MappedFile *out);
const STTensor *st_find(const SafeTensors *st, const char *name);
const char     *st_meta(const SafeTensors *st, const char *key); /* NULL when absent */

/* ---- streaming writer ---- */
typedef struct STWriter STWriter;

STWriter *st_writer_new(void);
/* Declare a tensor (before st_writer_begin). shape has n_dims entries (1..ST_MAX_DIMS). */
void st_writer_add(STWriter *w, const char *name, DType dtype, int n_dims, const int64_t *shape);
void st_writer_meta(STWriter *w, const char *key, const char *value);
/* Create "<path>.tmp.<pid>" and write the header (padded with spaces to a multiple of 8). */
int  st_writer_begin(STWriter *w, const char *path);
/* Append raw bytes of the declared tensors in declaration order (any chunking). */
int  st_writer_write(STWriter *w, const void *data, size_t nbytes);
/* Append n f32 values, converted to the dtype of the tensor(s) being written. */
int  st_writer_write_f32(STWriter *w, const float *src, size_t n);
/* Check that every declared byte was written, fsync, rename to path. */
int  st_writer_finish(STWriter *w);
/* Free; an unfinished file is removed. */
void st_writer_free(STWriter *w);

#endif
