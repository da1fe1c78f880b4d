/* rope — the one place RoPE rotation frequencies are computed. Pair i (< head_dim/2) of every
 * query/key head rotates by position * inv[i] with
 *     inv[i] = rope_theta^(-2i/head_dim) / (div[i] * linear factor)
 * where div[i] is the product of
 *   - Llama-3.1 "llama3" scaling (cfg.rope_scaling, from Hugging Face config.json): with
 *     wavelength w = 2*pi*theta^(2i/head_dim), low_w = orig/low_freq_factor,
 *     high_w = orig/high_freq_factor: w < high_w -> 1; w > low_w -> factor; otherwise
 *     1 / ((1 - s)/factor + s) with s = (orig/w - low_freq_factor)/(high_freq_factor - low_freq_factor);
 *   - GGUF rope_freqs.weight (Model.rope_freqs; llama.cpp divides each pair's angle by it);
 * and the linear factor is cfg.rope_scaling.factor for ROPE_SCALING_LINEAR (HF "linear", GGUF
 * rope.scaling.type "linear"), else 1. Owns nothing; the scaling lives in ModelConfig/Model. */
#ifndef CARVE_ROPE_H
#define CARVE_ROPE_H

#include <jansson.h>
#include <stddef.h>

#include "runtime/model/model.h"

/* "none", "linear", "llama3" */
const char *rope_scaling_name(RopeScalingType t);
/* Validate the fields the type uses; -1 with "<what>: rope_scaling ..." on a bad value. */
int rope_scaling_check(const RopeScaling *s, const char *what);
/* Per-pair divisors without the linear factor (llama3 x rope_freqs; all 1 for plain RoPE).
 * div: (head_dim/2), computed in f32 so that a GGUF export stores exactly these values. */
void rope_pair_divisors(const Model *m, float *div);
/* The model's inverse frequency of every pair. inv: (head_dim/2) */
void rope_inv_freqs(const Model *m, double *inv);
/* True when the model's RoPE is scaled in any way. */
bool rope_is_scaled(const Model *m);
/* One-line description for `carve info`, e.g. "llama3 (factor 32, low 1, high 4, original 8192)". */
void rope_scaling_describe(const Model *m, char *buf, size_t n);
/* The Hugging Face config.json "rope_scaling" object of s (new reference), NULL for none. */
json_t *rope_scaling_json(const RopeScaling *s);

#endif
