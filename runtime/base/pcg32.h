/* pcg32 — the PCG32 random number generator (PCG-XSH-RR 64/32, O'Neill 2014), seeded with
 * (initstate, initseq) exactly as the reference pcg32_srandom_r, so streams are reproducible
 * and checked against the reference's published outputs. Every random choice in carve
 * (calibration positions, synthetic weights, search) draws from one of these. */
#ifndef CARVE_PCG32_H
#define CARVE_PCG32_H

#include <stdint.h>

typedef struct {
    uint64_t state;
    uint64_t inc;
} Pcg32;

void     pcg32_seed(Pcg32 *r, uint64_t initstate, uint64_t initseq);
uint32_t pcg32_next(Pcg32 *r);
/* Uniform in [0, bound) without modulo bias (bound > 0). */
uint32_t pcg32_below(Pcg32 *r, uint32_t bound);
/* Uniform double in [0, 1) with 53 random bits. */
double   pcg32_double(Pcg32 *r);
/* Standard normal (Box-Muller). */
double   pcg32_normal(Pcg32 *r);

#endif
