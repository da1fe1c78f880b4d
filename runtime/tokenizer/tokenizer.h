/* tokenizer — text <-> token ids for every tokenizer family carve meets:
 *   - sentencepiece-style BPE with scores (llama2.c tokenizer.bin; GGUF tokenizer.ggml.model = "llama")
 *   - sentencepiece-style BPE with merges (HF tokenizer.json: Metaspace "▁", byte_fallback; Llama-2, Mistral)
 *   - byte-level BPE with merges and a regex pre-tokenizer split (HF tokenizer.json ByteLevel;
 *     GGUF "gpt2" with tokenizer.ggml.pre; GPT-2, Llama-3, SmolLM, Qwen2)
 * Encoding is O(n log n) in the text length (priority-queue merges; long texts without a regex
 * split are cut only at boundaries no token can span, which provably changes nothing).
 * Choices: special-token strings in the input ("<s>", "<|endoftext|>") are plain text, never the
 * special id (user-defined / non-special added tokens of byte-level vocabularies are matched
 * in the text, as llama.cpp and HF do);
 * sentencepiece-style text gets one space prepended and decode strips it again;
 * characters missing from the vocabulary fall back to <0xXX> byte tokens (else <unk>); a broken
 * UTF-8 sequence is split into single bytes; decode skips BOS/EOS and control tokens, so
 * decode(encode(x)) == x for any bytes x with byte-fallback and byte-level vocabularies
 * (except a literal U+2581 in sentencepiece-style text, which decodes as a space, and bytes a
 * byte-level vocabulary has no symbol for: U+FFFD outside well-formed UTF-8, else nothing).
 * tokenizer.json: BPE models only; NFC/NFKC/NFD/NFKD normalizers are applied (utf8proc; invalid
 * UTF-8 bytes pass through), so with one decode returns the normalised text. */
#ifndef CARVE_TOKENIZER_H
#define CARVE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct GGUFFile;
typedef struct Tokenizer Tokenizer;

/* Load from a file: llama2.c tokenizer.bin, HF tokenizer.json, or a .gguf (its tokenizer metadata). */
int  tokenizer_load(const char *path, Tokenizer **out);
/* Build from an open GGUF file's tokenizer.ggml.* metadata. */
int  tokenizer_from_gguf(const struct GGUFFile *g, Tokenizer **out);
void tokenizer_free(Tokenizer *t);

int  tokenizer_vocab_size(const Tokenizer *t);
int  tokenizer_bos(const Tokenizer *t);   /* -1 when the vocabulary has none */
int  tokenizer_eos(const Tokenizer *t);

/* Encode len bytes of text (any bytes; invalid UTF-8 falls back to byte tokens).
 * With add_bos the BOS id is prepended (when the tokenizer has one).
 * *ids is malloc'ed; *n_ids its length. Returns -1 on error with err_get() set. */
int  tokenizer_encode(const Tokenizer *t, const char *text, size_t len, bool add_bos, int32_t **ids, size_t *n_ids);
/* Decode ids back to bytes (malloc'ed, NUL-terminated; *len excludes the NUL). BOS/EOS are skipped. */
char *tokenizer_decode(const Tokenizer *t, const int32_t *ids, size_t n_ids, size_t *len);
/* Token text as stored in the vocabulary (for diagnostics). */
const char *tokenizer_token_text(const Tokenizer *t, int id);

/* Write a valid small HF tokenizer.json of exactly vocab_size tokens (runtime/synth/tok_synth.c):
 * family 0 = sentencepiece-style (byte fallback, U+2581 spaces), 1 = byte-level (GPT-2 style).
 * Merges are learned on a built-in English paragraph, then seeded random. -1 on error. */
int tokenizer_synth_json(const char *path, int vocab_size, int family, uint64_t seed);
/* ---- vocabulary access (for export: the GGUF tokenizer.ggml.* keys) ---- */
/* GGUF tokenizer model: "llama" (sentencepiece-style, scores) or "gpt2" (byte-level BPE, merges). */
const char *tokenizer_gguf_model(const Tokenizer *t);
/* GGUF tokenizer.ggml.pre of a byte-level vocabulary ("default", "llama-bpe", "qwen2", ...), or NULL. */
const char *tokenizer_gguf_pre(const Tokenizer *t);
float tokenizer_token_score(const Tokenizer *t, int id);  /* 0 when the vocabulary has no scores */
/* GGUF token type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
int   tokenizer_token_type(const Tokenizer *t, int id);
int   tokenizer_n_merges(const Tokenizer *t);               /* 0 for score-based vocabularies */
/* The merge list in rank order: merge r joins token ids left[r] and right[r] (n_merges entries each). */
void  tokenizer_merges(const Tokenizer *t, int32_t *left, int32_t *right);

#endif
