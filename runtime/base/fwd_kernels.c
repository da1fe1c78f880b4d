/* fwd_kernels — elementwise kernels of the forward pass (see fwd_kernels.h). Compiled with
 * -O3 -ffast-math (Makefile): loops vectorise, expf goes to libmvec. */
#include "runtime/base/fwd_kernels.h"

#include <math.h>
#include <string.h>

/* The kernels with expf get an AVX-512 clone (dispatched at load time), so that libmvec's 16-wide
 * expf is used where the CPU has it, and a baseline x86-64 one elsewhere. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EXP_CLONES __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define EXP_CLONES
#endif

/* Below this many floats a kernel runs on the calling thread only. */
#define PAR_MIN 16384

// y, x: (n, d); w: (d)
void k_rmsnorm(float *y, const float *x, const float *w, int n, int d, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)n * d > PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *yi = y + (size_t)i * d;
        float ss = 0.0f;
        for (int j = 0; j < d; j++) ss += xi[j] * xi[j];
        float sc = 1.0f / sqrtf(ss / (float)d + eps);
        for (int j = 0; j < d; j++) yi[j] = xi[j] * sc * w[j];
    }
}

// y: (n, d); x: (*, d); rows: (n)
void k_rmsnorm_rows(float *y, const float *x, const int32_t *rows, const float *w, int n, int d, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)n * d > PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)rows[i] * d;
        float *yi = y + (size_t)i * d;
        float ss = 0.0f;
        for (int j = 0; j < d; j++) ss += xi[j] * xi[j];
        float sc = 1.0f / sqrtf(ss / (float)d + eps);
        for (int j = 0; j < d; j++) yi[j] = xi[j] * sc * w[j];
    }
}

// y: (n, ld); b: (w)
void k_add_bias(float *y, int ld, const float *b, int n, int w) {
#pragma omp parallel for schedule(static) if ((size_t)n * w > PAR_MIN)
    for (int i = 0; i < n; i++) {
        float *yi = y + (size_t)i * ld;
        for (int j = 0; j < w; j++) yi[j] += b[j];
    }
}

// x: (n, ld), heads of hd floats from column 0; cs, sn: (T, hd/2)
void k_rope(float *x, int ld, int n, int T, int n_rot_heads, int hd, const float *cs, const float *sn, int half) {
    int h2 = hd / 2;
#pragma omp parallel for schedule(static) if ((size_t)n * n_rot_heads * hd > PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *c = cs + (size_t)(i % T) * h2, *s = sn + (size_t)(i % T) * h2;
        for (int h = 0; h < n_rot_heads; h++) {
            float *v = x + (size_t)i * ld + (size_t)h * hd;
            if (half) {
                for (int j = 0; j < h2; j++) {
                    float a = v[j], b = v[j + h2];
                    v[j] = a * c[j] - b * s[j];
                    v[j + h2] = a * s[j] + b * c[j];
                }
            } else {
                for (int j = 0; j < h2; j++) {
                    float a = v[2 * j], b = v[2 * j + 1];
                    v[2 * j] = a * c[j] - b * s[j];
                    v[2 * j + 1] = a * s[j] + b * c[j];
                }
            }
        }
    }
}

// s: (m, ld), row r holds scores of query q0 + r against keys 0..kn-1
EXP_CLONES void k_softmax_causal(float *s, int ld, int m, int q0, int kn) {
    for (int r = 0; r < m; r++) {
        float *row = s + (size_t)r * ld;
        int valid = q0 + r + 1;
        if (valid > kn) valid = kn;
        float mx = row[0];
        for (int j = 1; j < valid; j++) mx = row[j] > mx ? row[j] : mx;
        float sum = 0.0f;
        for (int j = 0; j < valid; j++) {
            row[j] = expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < valid; j++) row[j] *= inv;
        for (int j = valid; j < kn; j++) row[j] = 0.0f;
    }
}

// gu: (n, 2c); act: (n, c)
EXP_CLONES void k_silu_mul(float *act, const float *gu, int n, int c) {
#pragma omp parallel for schedule(static) if ((size_t)n * c > PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *g = gu + (size_t)i * 2 * c, *u = g + c;
        float *a = act + (size_t)i * c;
        for (int j = 0; j < c; j++) a[j] = g[j] / (1.0f + expf(-g[j])) * u[j];
    }
}

// l: (n, vb); target, mx, sum, tl: (n)
EXP_CLONES void k_lse_update(const float *l, int n, int vb, int v0, const int32_t *target, float *mx, double *sum, float *tl) {
#pragma omp parallel for schedule(static) if ((size_t)n * vb > PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *r = l + (size_t)i * vb;
        float bm = r[0];
        for (int j = 1; j < vb; j++) bm = r[j] > bm ? r[j] : bm;
        double bs = 0.0;
        for (int j0 = 0; j0 < vb; j0 += 1024) { /* float lanes within 1024 logits, double across */
            int j1 = j0 + 1024 < vb ? j0 + 1024 : vb;
            float part = 0.0f;
            for (int j = j0; j < j1; j++) part += expf(r[j] - bm);
            bs += part;
        }
        if (v0 == 0) mx[i] = bm, sum[i] = bs;
        else if (bm > mx[i]) sum[i] = sum[i] * exp((double)mx[i] - bm) + bs, mx[i] = bm;
        else sum[i] += bs * exp((double)bm - mx[i]);
        int t = target[i] - v0;
        if (t >= 0 && t < vb) tl[i] = r[t];
    }
}

// dst: (n); src: a row of dtype t; idx: (n) or NULL
void k_gather_f32(float *dst, const void *src, DType t, const int32_t *idx, int n) {
    if (!idx) {
        convert_to_f32(dst, src, t, (size_t)n);
        return;
    }
    if (t == DT_F32) {
        const float *s = src;
        for (int j = 0; j < n; j++) dst[j] = s[idx[j]];
    } else if (t == DT_BF16) {
        const uint16_t *s = src;
        for (int j = 0; j < n; j++) {
            uint32_t b = (uint32_t)s[idx[j]] << 16;
            memcpy(&dst[j], &b, 4);
        }
    } else {
        const uint16_t *s = src;
        for (int j = 0; j < n; j++) dst[j] = f16_to_f32(s[idx[j]]);
    }
}

