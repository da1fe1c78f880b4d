/* tokenizer — being written; see tokenizer.h. */
#include "runtime/tokenizer.h"
#include "runtime/util.h"
int tokenizer_load(const char *path, Tokenizer **out) { *out = NULL; return err_set("%s: tokenizers are not supported yet", path); }
void tokenizer_free(Tokenizer *t) { (void)t; }
int tokenizer_vocab_size(const Tokenizer *t) { (void)t; return 0; }
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, bool add_bos, int32_t **ids, size_t *n_ids) {
    (void)t; (void)text; (void)len; (void)add_bos; *ids = NULL; *n_ids = 0;
    return err_set("tokenizers are not supported yet");
}
