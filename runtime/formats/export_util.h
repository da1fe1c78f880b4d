/* export_util — what the two exporters (model_write: Hugging Face directory, export_gguf:
 * GGUF file) share: reading a tensor out as f32 with the Q/K rows permuted between RoPE
 * layouts, and the output-path discipline (refuse an existing output unless forced, build
 * under a temporary name, rename into place). */
#ifndef CARVE_EXPORT_UTIL_H
#define CARVE_EXPORT_UTIL_H

#include <stdbool.h>

#include "runtime/model/model.h"

/* dst (rows*cols floats) <- t converted to f32. When head_dim > 0 the tensor is a Q or K
 * projection (rows = heads*head_dim) or its bias (rows = 1, cols = heads*head_dim) and
 * each head's rows are reordered from RoPE layout `from` to layout `to`:
 *   interleaved -> half: new i = old 2i, new hd/2+i = old 2i+1   (i < hd/2)
 *   half -> interleaved: new 2i = old i, new 2i+1 = old hd/2+i
 * With from == to or head_dim == 0 the rows are copied in order. */
void export_tensor_f32(const Tensor *t, int head_dim, RopeLayout from, RopeLayout to, float *dst);

/* Weights an export of m holds: every tensor of the sublayers that exist (a layer's norm
 * counts only with its sublayer), embeddings, final norm, classifier unless tied. */
int64_t export_param_count(const Model *m);

/* 0 when `path` may be written: it does not exist, or force is set. Otherwise -1 with
 * "<path>: already exists (use --force to replace it)". */
int export_check_out(const char *path, bool force);

/* "<path>.tmp.<pid>" (malloc'ed): where an export is built before export_commit. */
char *export_tmp_name(const char *path);

/* Move the finished tmp (a file or a directory) to path, replacing what is there
 * (a directory is first moved aside, then removed). */
int export_commit(const char *tmp, const char *path);

/* Remove a file or a directory tree (used on failure and for replaced outputs). */
void export_remove(const char *path);

#endif
