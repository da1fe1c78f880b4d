/* tokenizer — being written; see tokenizer.h. */
#include "runtime/tokenizer.h"
#include "runtime/util.h"
int tokenizer_load(const char *path, Tokenizer **out) { *out = NULL; return err_set("%s: tokenizers are not supported yet", path); }
void tokenizer_free(Tokenizer *t) { (void)t; }
int tokenizer_vocab_size(const Tokenizer *t) { (void)t; return 0; }
