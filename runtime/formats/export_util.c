/* export_util — tensor read-out with RoPE-layout permutation and the temporary-name /
 * rename discipline shared by the Hugging Face and GGUF exporters. */
#define _XOPEN_SOURCE 700
#include "runtime/formats/export_util.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Source row (within one head) of destination row r when moving between layouts. */
static int rope_src(int r, int hd, RopeLayout from, RopeLayout to) {
    int half = hd / 2;
    if (from == ROPE_INTERLEAVED && to == ROPE_HALF) return r < half ? 2 * r : 2 * (r - half) + 1;
    if (from == ROPE_HALF && to == ROPE_INTERLEAVED) return r % 2 == 0 ? r / 2 : half + r / 2;
    return r;
}

void export_tensor_f32(const Tensor *t, int head_dim, RopeLayout from, RopeLayout to, float *dst) {
    int64_t rows = t->rows, cols = t->cols;
    bool permute = head_dim > 0 && from != to;
    if (!permute) {
        convert_to_f32(dst, t->data, t->dtype, (size_t)(rows * cols));
        return;
    }
    if (rows == 1) { /* a bias vector: permute its elements per head */
        float *tmp = xmalloc((size_t)cols * sizeof *tmp);
        convert_to_f32(tmp, t->data, t->dtype, (size_t)cols);
        for (int64_t i = 0; i < cols; i++) {
            int64_t h = i / head_dim;
            dst[i] = tmp[h * head_dim + rope_src((int)(i % head_dim), head_dim, from, to)];
        }
        free(tmp);
        return;
    }
    // t: (heads*head_dim, cols) row-major; dst row r of head h <- t row h*hd + rope_src(r)
    for (int64_t r = 0; r < rows; r++) {
        int64_t h = r / head_dim;
        int64_t src = h * head_dim + rope_src((int)(r % head_dim), head_dim, from, to);
        tensor_row_f32(t, src, dst + r * cols);
    }
}

static int64_t numel(const Tensor *t) { return t->data ? t->rows * t->cols : 0; }

int64_t export_param_count(const Model *m) {
    int64_t n = numel(&m->tok_embedding) + numel(&m->final_norm);
    if (!m->cfg.tied_embeddings && m->classifier.data != m->tok_embedding.data) n += numel(&m->classifier);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const LayerWeights *L = &m->layers[l];
        if (L->replace.data) {
            n += numel(&L->replace);
            continue;
        }
        if (L->n_heads > 0)
            n += numel(&L->attn_norm) + numel(&L->wq) + numel(&L->wk) + numel(&L->wv) + numel(&L->wo) +
                 numel(&L->bq) + numel(&L->bk) + numel(&L->bv);
        if (L->hidden_dim > 0) n += numel(&L->ffn_norm) + numel(&L->w_gate) + numel(&L->w_up) + numel(&L->w_down);
    }
    return n;
}

int export_check_out(const char *path, bool force) {
    if (!path || !path[0]) return err_set("no output path given (--out)");
    if (path_exists(path) && !force) return err_set("%s: already exists (use --force to replace it)", path);
    return 0;
}

char *export_tmp_name(const char *path) {
    size_t n = strlen(path) + 32;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    return tmp;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p) != 0 ? -1 : 0;
}

void export_remove(const char *path) {
    if (path_is_dir(path)) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else unlink(path);
}

int export_commit(const char *tmp, const char *path) {
    char *aside = NULL;
    if (path_is_dir(path)) { /* rename() cannot replace a non-empty directory */
        size_t n = strlen(path) + 32;
        aside = xmalloc(n);
        snprintf(aside, n, "%s.old.%ld", path, (long)getpid());
        if (rename(path, aside) != 0) {
            err_set("%s: cannot move the existing output aside: %s", path, strerror(errno));
            free(aside);
            return -1;
        }
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        if (aside && rename(aside, path) != 0) aside[0] = 0;
        free(aside);
        return err_set("%s: cannot rename %s into place: %s", path, tmp, strerror(e));
    }
    if (aside) export_remove(aside);
    free(aside);
    return 0;
}
