/* model_open — opening a model file or directory of any supported format: the format is
 * detected from the path and the matching loader of runtime/formats/ fills a Model
 * (runtime/model/model.h):
 *   - a directory with config.json            -> Hugging Face (hf_model.c)
 *   - a file starting with the GGUF magic      -> GGUF          (gguf_model.c)
 *   - any other file                           -> llama2.c      (llama2c.c)
 * Also the one place where a tokenizer named by the user (--tokenizer, the YAML 'tokenizer:'
 * key) replaces the one found with the model. */
#ifndef CARVE_MODEL_OPEN_H
#define CARVE_MODEL_OPEN_H

#include "runtime/model/model.h"

/* Open a model of any supported format. On error returns -1 with err_get() set
 * ("<file>: <problem>"). */
int model_open(const char *path, Model **out);

/* model_open, then (tokenizer non-NULL and non-empty) load that tokenizer file in place of the
 * model's own: every later step (calibration windows, statistics, evaluation) tokenizes with
 * it. The model's identity then also covers the tokenizer file (name, size, mtime), so cached
 * statistics of the model's own tokenizer are not reused. Refused: a tokenizer with more tokens
 * than the model's vocabulary. */
int model_open_tok(const char *path, const char *tokenizer, Model **out);

/* The format loaders (called by model_open; m has its path set). */
int model_open_llama2c(const char *path, Model *m);
int model_open_hf(const char *dir, Model *m);
int model_open_gguf(const char *path, Model *m);

#endif
