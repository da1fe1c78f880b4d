/* gguf_model — GGUF model files. Being written. */
#include "runtime/model.h"
int model_open_gguf(const char *path, Model *m) { (void)m; return err_set("%s: GGUF models are not supported yet", path); }
