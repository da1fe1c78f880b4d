/* dtype — the storage dtypes carve reads and writes (F32, F16, BF16), their sizes
 * and names, and row conversion to and from f32. Weights stay in their stored
 * dtype (memory-mapped); kernels convert one layer at a time with these. */
#ifndef CARVE_DTYPE_H
#define CARVE_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum { DT_F32 = 0, DT_F16 = 1, DT_BF16 = 2 } DType;

size_t      dtype_size(DType t);
const char *dtype_name(DType t);            /* "F32", "F16", "BF16" (safetensors spelling) */
int         dtype_parse(const char *s, DType *out); /* accepts F32/f32/float32, F16/f16/float16, BF16/bf16/bfloat16 */

/* Branch-light f16 -> f32 (exact for every input; inline so conversion loops vectorise). */
static inline float f16_to_f32(uint16_t h16) {
    uint32_t h = h16, sign = (h & 0x8000u) << 16, em = h & 0x7fffu;
    uint32_t bits = (em << 13) + 0x38000000u;      /* rebias the exponent 15 -> 127 */
    if (em >= 0x7c00u) bits += 0x38000000u;         /* inf / nan: exponent all ones */
    float f;
    memcpy(&f, &bits, 4);
    if (em < 0x0400u) f = (float)em * 5.9604644775390625e-8f; /* zero and subnormals: em * 2^-24 */
    uint32_t out;
    memcpy(&out, &f, 4);
    out |= sign;
    memcpy(&f, &out, 4);
    return f;
}
uint16_t f32_to_f16(float f);               /* round to nearest even, with inf/nan/subnormals */
float    bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);              /* round to nearest even; nan stays nan */

/* dst[i] = (float)src[i] for i < n, src in dtype t. */
void convert_to_f32(float *dst, const void *src, DType t, size_t n);
/* dst (dtype t) [i] = src[i] for i < n. */
void convert_from_f32(void *dst, const float *src, DType t, size_t n);

#endif
