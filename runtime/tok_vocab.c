/* tok_vocab — read access to a tokenizer's vocabulary for export (the GGUF tokenizer.ggml.*
 * keys): the GGUF model family, scores, token types and the merge list in rank order. */
#include <stdlib.h>

#include "runtime/tok_internal.h"

const char *tokenizer_gguf_model(const Tokenizer *t) { return t->byte_level ? "gpt2" : "llama"; }

const char *tokenizer_gguf_pre(const Tokenizer *t) { return t->byte_level ? t->pre_name : NULL; }

bool tokenizer_spaces_escaped(const Tokenizer *t) { return t->escape_ws; }

int tokenizer_n_merges(const Tokenizer *t) { return t->algo == ALGO_RANKS ? t->n_merges : 0; }

void tokenizer_merges(const Tokenizer *t, int32_t *left, int32_t *right) {
    if (t->algo != ALGO_RANKS) return;
    for (uint32_t i = 0; i < t->mcap; i++) {
        if (!t->merge[i].key) continue;
        uint64_t k = t->merge[i].key - 1;
        int r = t->merge[i].rank;
        if (r < 0 || r >= t->n_merges) continue;
        left[r] = (int32_t)(k >> 32);
        right[r] = (int32_t)(k & 0xffffffffu);
    }
}

float tokenizer_token_score(const Tokenizer *t, int id) {
    if (id < 0 || id >= t->n_vocab) return 0.0f;
    return t->score ? t->score[id] : 0.0f;
}

int tokenizer_token_type(const Tokenizer *t, int id) {
    if (id < 0 || id >= t->n_vocab) return TT_UNDEFINED;
    return t->type ? t->type[id] : TT_NORMAL;
}
