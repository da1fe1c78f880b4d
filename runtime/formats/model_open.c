/* model_open — format detection and the user's tokenizer in place of the model's (see
 * model_open.h). */
#include "runtime/formats/model_open.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/tokenizer/tokenizer.h"

/* Hash of the config and of the weight files' names, sizes and mtimes (cache key). */
static uint64_t identity_of(const Model *m) {
    uint64_t h = fnv1a64(FNV64_INIT, &m->cfg, sizeof m->cfg);
    for (int i = 0; i < m->n_files; i++) {
        struct stat st;
        h = fnv1a64(h, m->files[i].path, strlen(m->files[i].path));
        if (stat(m->files[i].path, &st) == 0) {
            int64_t v[2] = {(int64_t)st.st_size, (int64_t)st.st_mtime};
            h = fnv1a64(h, v, sizeof v);
        }
    }
    return h;
}

static bool file_is_gguf(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return false;
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, fp);
    fclose(fp);
    return n == 4 && memcmp(magic, "GGUF", 4) == 0;
}

int model_open(const char *path, Model **out) {
    *out = NULL;
    if (!path_exists(path)) return err_set("%s: no such file or directory", path);
    Model *m = model_alloc(0);
    m->path = xstrdup(path);
    int rc;
    if (path_is_dir(path)) {
        char *cfg = path_join(path, "config.json");
        bool has_cfg = path_exists(cfg);
        free(cfg);
        if (!has_cfg) {
            model_free(m);
            return err_set("%s: directory has no config.json (expected a Hugging Face model directory)", path);
        }
        m->format = "hf";
        rc = model_open_hf(path, m);
    } else if (file_is_gguf(path)) {
        m->format = "gguf";
        rc = model_open_gguf(path, m);
    } else {
        m->format = "llama2c";
        rc = model_open_llama2c(path, m);
    }
    if (rc != 0) {
        model_free(m);
        return -1;
    }
    m->identity = identity_of(m);
    *out = m;
    return 0;
}

int model_open_tok(const char *path, const char *tokenizer, Model **out) {
    if (model_open(path, out) != 0) return -1;
    if (!tokenizer || !tokenizer[0]) return 0;
    Model *m = *out;
    Tokenizer *t = NULL;
    if (tokenizer_load(tokenizer, &t) != 0) goto fail;
    if (tokenizer_vocab_size(t) > m->cfg.vocab_size) {
        err_set("%s: tokenizer has %d tokens, the model's vocabulary only %d", tokenizer, tokenizer_vocab_size(t),
                m->cfg.vocab_size);
        tokenizer_free(t);
        goto fail;
    }
    if (m->tokenizer) tokenizer_free(m->tokenizer);
    m->tokenizer = t;
    struct stat st;
    int64_t v[2] = {0, 0};
    if (stat(tokenizer, &st) == 0) v[0] = (int64_t)st.st_size, v[1] = (int64_t)st.st_mtime;
    m->identity = fnv1a64(fnv1a64(m->identity, tokenizer, strlen(tokenizer)), v, sizeof v);
    return 0;
fail:
    model_free(m);
    *out = NULL;
    return -1;
}
