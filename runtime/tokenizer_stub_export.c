/* tokenizer_stub_export — TEMPORARY: link stand-ins for the tokenizer functions export uses
 * until the tokenizer module lands on main (then this file is deleted). Never reached:
 * the stub tokenizer_load never yields a tokenizer. */
#include "runtime/tokenizer.h"
int tokenizer_bos(const Tokenizer *t) { (void)t; return -1; }
int tokenizer_eos(const Tokenizer *t) { (void)t; return -1; }
const char *tokenizer_token_text(const Tokenizer *t, int id) { (void)t; (void)id; return ""; }
const char *tokenizer_gguf_model(const Tokenizer *t) { (void)t; return "llama"; }
const char *tokenizer_gguf_pre(const Tokenizer *t) { (void)t; return 0; }
float tokenizer_token_score(const Tokenizer *t, int id) { (void)t; (void)id; return 0; }
int tokenizer_token_type(const Tokenizer *t, int id) { (void)t; (void)id; return 1; }
int tokenizer_n_merges(const Tokenizer *t) { (void)t; return 0; }
void tokenizer_merges(const Tokenizer *t, int32_t *l, int32_t *r) { (void)t; (void)l; (void)r; }
#include "runtime/extract.h"
int model_extract(const Model *m, const Subnet *s, Model **out) { (void)m; (void)s; *out = 0; return err_set("model extraction is not available yet"); }
