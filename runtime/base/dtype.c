/* dtype — f16/bf16 <-> f32 conversion and dtype names. See dtype.h. */
#include "runtime/base/dtype.h"

#include <string.h>
#include <strings.h>

size_t dtype_size(DType t) { return t == DT_F32 ? 4 : 2; }

const char *dtype_name(DType t) {
    switch (t) {
    case DT_F32: return "F32";
    case DT_F16: return "F16";
    case DT_BF16: return "BF16";
    }
    return "?";
}

int dtype_parse(const char *s, DType *out) {
    if (!strcasecmp(s, "f32") || !strcasecmp(s, "float32")) *out = DT_F32;
    else if (!strcasecmp(s, "f16") || !strcasecmp(s, "float16")) *out = DT_F16;
    else if (!strcasecmp(s, "bf16") || !strcasecmp(s, "bfloat16")) *out = DT_BF16;
    else return -1;
    return 0;
}

static inline float bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

uint16_t f32_to_f16(float f) {
    uint32_t u = f32_to_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf or nan */
        return sign | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0);
    if (a >= 0x477ff000u) return sign | 0x7c00; /* rounds to >= 65520: overflow to inf */
    if (a < 0x38800000u) { /* below the smallest normal f16 (2^-14): subnormal or zero */
        float v = bits_to_f32(a) * 16777216.0f; /* in units of 2^-24 */
        /* round half to even */
        uint32_t r = (uint32_t)v;
        float frac = v - (float)r;
        if (frac > 0.5f || (frac == 0.5f && (r & 1))) r++;
        return sign | (uint16_t)r;
    }
    uint32_t mant_odd = (a >> 13) & 1;
    a += 0xfffu + mant_odd; /* round to nearest even */
    a -= 112u << 23;
    return sign | (uint16_t)(a >> 13);
}

float bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet nan */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

void convert_to_f32(float *dst, const void *src, DType t, size_t n) {
    if (t == DT_F32) {
        memcpy(dst, src, n * 4);
    } else if (t == DT_BF16) {
        const uint16_t *s = src;
        uint32_t *d = (uint32_t *)dst;
        for (size_t i = 0; i < n; i++) d[i] = (uint32_t)s[i] << 16;
    } else {
        const uint16_t *s = src;
        for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
    }
}

void convert_from_f32(void *dst, const float *src, DType t, size_t n) {
    if (t == DT_F32) {
        memcpy(dst, src, n * 4);
    } else if (t == DT_BF16) {
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
    } else {
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = f32_to_f16(src[i]);
    }
}
