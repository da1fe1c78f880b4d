/* hf_model — Hugging Face model directories (config.json + safetensors). Being written. */
#include "runtime/model.h"
int model_open_hf(const char *dir, Model *m) { (void)m; return err_set("%s: Hugging Face models are not supported yet", dir); }
