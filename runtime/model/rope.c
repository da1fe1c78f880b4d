/* rope — RoPE inverse frequencies with linear / llama3 / GGUF rope_freqs scaling (see rope.h). */
#include "runtime/model/rope.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

const char *rope_scaling_name(RopeScalingType t) {
    return t == ROPE_SCALING_LINEAR ? "linear" : t == ROPE_SCALING_LLAMA3 ? "llama3" : "none";
}

static bool pos_finite(float x) { return isfinite(x) && x > 0; }

int rope_scaling_check(const RopeScaling *s, const char *what) {
    if (s->type == ROPE_SCALING_NONE) return 0;
    const char *n = rope_scaling_name(s->type);
    if (!pos_finite(s->factor) || s->factor > 1e6f)
        return err_set("%s: rope_scaling (%s): factor %g must be a positive number", what, n, (double)s->factor);
    if (s->type != ROPE_SCALING_LLAMA3) return 0;
    if (!pos_finite(s->low_freq_factor) || !pos_finite(s->high_freq_factor))
        return err_set("%s: rope_scaling (llama3): low_freq_factor %g and high_freq_factor %g must be positive",
                       what, (double)s->low_freq_factor, (double)s->high_freq_factor);
    if (!(s->high_freq_factor > s->low_freq_factor))
        return err_set("%s: rope_scaling (llama3): high_freq_factor %g must exceed low_freq_factor %g", what,
                       (double)s->high_freq_factor, (double)s->low_freq_factor);
    if (s->orig_max_pos <= 0)
        return err_set("%s: rope_scaling (llama3): original_max_position_embeddings %d must be positive", what,
                       s->orig_max_pos);
    return 0;
}

/* llama3 divisor of a pair whose unscaled inverse frequency is inv. */
static double llama3_divisor(const RopeScaling *s, double inv) {
    double wavelen = 2.0 * M_PI / inv, orig = s->orig_max_pos;
    if (wavelen < orig / s->high_freq_factor) return 1.0;
    if (wavelen > orig / s->low_freq_factor) return s->factor;
    double smooth = (orig / wavelen - s->low_freq_factor) / (s->high_freq_factor - s->low_freq_factor);
    return 1.0 / ((1.0 - smooth) / s->factor + smooth);
}

static double base_inv(const Model *m, int i) {
    double theta = m->cfg.rope_theta > 0 ? m->cfg.rope_theta : 10000.0;
    return pow(theta, -2.0 * i / m->cfg.head_dim);
}

void rope_pair_divisors(const Model *m, float *div) {
    const RopeScaling *s = &m->cfg.rope_scaling;
    int h2 = m->cfg.head_dim / 2;
    for (int i = 0; i < h2; i++) {
        double d = s->type == ROPE_SCALING_LLAMA3 ? llama3_divisor(s, base_inv(m, i)) : 1.0;
        if (m->rope_freqs.data) d *= ((const float *)m->rope_freqs.data)[i];
        div[i] = (float)d;
    }
}

void rope_inv_freqs(const Model *m, double *inv) {
    int h2 = m->cfg.head_dim / 2;
    float *div = xmalloc((size_t)(h2 > 0 ? h2 : 1) * sizeof *div);
    rope_pair_divisors(m, div);
    double lin = m->cfg.rope_scaling.type == ROPE_SCALING_LINEAR ? m->cfg.rope_scaling.factor : 1.0;
    for (int i = 0; i < h2; i++) inv[i] = base_inv(m, i) / ((double)div[i] * lin);
    free(div);
}

bool rope_is_scaled(const Model *m) { return m->cfg.rope_scaling.type != ROPE_SCALING_NONE || m->rope_freqs.data; }

void rope_scaling_describe(const Model *m, char *buf, size_t n) {
    const RopeScaling *s = &m->cfg.rope_scaling;
    const char *table = m->rope_freqs.data ? " + GGUF rope_freqs table" : "";
    if (s->type == ROPE_SCALING_LLAMA3)
        snprintf(buf, n, "llama3 (factor %g, low %g, high %g, original %d)%s", (double)s->factor,
                 (double)s->low_freq_factor, (double)s->high_freq_factor, s->orig_max_pos, table);
    else if (s->type == ROPE_SCALING_LINEAR) snprintf(buf, n, "linear (factor %g)%s", (double)s->factor, table);
    else snprintf(buf, n, "%s", m->rope_freqs.data ? "GGUF rope_freqs table (per-pair divisors)" : "none");
}

json_t *rope_scaling_json(const RopeScaling *s) {
    if (s->type == ROPE_SCALING_LINEAR)
        return json_pack("{s:s, s:f}", "rope_type", "linear", "factor", (double)s->factor);
    if (s->type == ROPE_SCALING_LLAMA3)
        return json_pack("{s:s, s:f, s:f, s:f, s:i}", "rope_type", "llama3", "factor", (double)s->factor,
                         "low_freq_factor", (double)s->low_freq_factor, "high_freq_factor",
                         (double)s->high_freq_factor, "original_max_position_embeddings", s->orig_max_pos);
    return NULL;
}
