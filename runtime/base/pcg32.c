/* pcg32 — PCG-XSH-RR 64/32 with the reference seeding and bounded draw. See pcg32.h. */
#include "runtime/base/pcg32.h"

#include <math.h>

void pcg32_seed(Pcg32 *r, uint64_t initstate, uint64_t initseq) {
    r->state = 0;
    r->inc = (initseq << 1u) | 1u;
    pcg32_next(r);
    r->state += initstate;
    pcg32_next(r);
}

uint32_t pcg32_next(Pcg32 *r) {
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

uint32_t pcg32_below(Pcg32 *r, uint32_t bound) {
    uint32_t threshold = (-bound) % bound; /* 2^32 mod bound: reject below it */
    for (;;) {
        uint32_t v = pcg32_next(r);
        if (v >= threshold) return v % bound;
    }
}

double pcg32_double(Pcg32 *r) {
    uint64_t hi = pcg32_next(r) >> 5, lo = pcg32_next(r) >> 6; /* 27 + 26 = 53 bits */
    return (double)(hi * 67108864ULL + lo) * (1.0 / 9007199254740992.0);
}

double pcg32_normal(Pcg32 *r) {
    double u1 = pcg32_double(r), u2 = pcg32_double(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
