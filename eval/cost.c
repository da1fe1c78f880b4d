/* cost — parameter and FLOP counts of a subnet. See cost.h. */
#include "eval/cost.h"

/* Kept units of layer l: from the subnet when given, else the model layer as stored. */
static void kept_units(const Model *m, const Subnet *s, int l, int *h, int *kv, int *ch) {
    const LayerWeights *L = &m->layers[l];
    if (s) {
        *h = subnet_kept_heads(&s->layers[l]);
        *kv = subnet_kept_kv_heads(&s->layers[l]);
        *ch = subnet_kept_channels(&s->layers[l]);
    } else {
        *h = L->n_heads;
        *kv = L->n_kv_heads;
        *ch = L->hidden_dim;
    }
}

Cost cost_of(const Model *m, const Subnet *s, int seq_len) {
    const ModelConfig *c = &m->cfg;
    Cost k = {0};
    ParamCount pc = model_param_count(m);
    k.params_embedding = pc.embedding + pc.classifier;
    double ctx = (seq_len + 1) / 2.0; /* mean number of keys a query attends to under the causal mask */
    int64_t D = c->dim, hd = c->head_dim;
    for (int l = 0; l < c->n_layers; l++) {
        const LayerWeights *L = &m->layers[l];
        if (L->replace.data) {
            k.params_layers += D * D;
            k.flops_layers += 2.0 * (double)(D * D);
            continue;
        }
        int h, kv, ch;
        kept_units(m, s, l, &h, &kv, &ch);
        if (h > 0) {
            int64_t q = h * hd, kvw = kv * hd;
            int64_t mat = q * D + 2 * kvw * D + D * q;
            k.params_layers += mat + D; /* + attention norm */
            if (L->bq.data) k.params_layers += q + 2 * kvw;
            k.flops_layers += 2.0 * (double)mat + 4.0 * (double)q * ctx; /* QK^T and PV */
        }
        if (ch > 0) {
            int64_t mat = 3 * (int64_t)ch * D;
            k.params_layers += mat + D; /* + MLP norm */
            k.flops_layers += 2.0 * (double)mat;
        }
    }
    k.params_layers += pc.other; /* final norm */
    k.params_total = k.params_embedding + k.params_layers;
    k.flops_per_token = k.flops_layers + 2.0 * (double)c->vocab_size * (double)D;
    return k;
}

double cost_ratio(const Model *m, const Subnet *s, CostKind kind, int seq_len) {
    Cost dense = cost_of(m, NULL, seq_len), sub = cost_of(m, s, seq_len);
    if (kind == COST_FLOPS) return dense.flops_layers > 0 ? sub.flops_layers / dense.flops_layers : 0.0;
    return dense.params_layers > 0 ? (double)sub.params_layers / (double)dense.params_layers : 0.0;
}
