/* importance — per-unit and per-layer importance scores from weights and calibration
 * statistics (reform/stats.h). Higher = more important = kept first. Owns the formulas:
 *
 * saliency (the seed paper's, OBS-style): removing input column j of a projection W whose
 *   input Hessian is H costs  Φ_j = Σ_i W_ij² / [(2H)⁻¹]_jj  (twice the squared output error
 *   after the optimal compensation of the other columns), with H damped by
 *   REFORM_LAMBDA_FRAC × mean diag before inversion. A query head scores the Φ of its
 *   head_dim columns of o_proj (H = H_o); an MLP channel the Φ of its down_proj column
 *   (H = H_d). The rows that feed the unit enter with weight `row_weight` (default 0, see
 *   README): a removed output row w of Q/K/V or gate/up costs 2 w H_in wᵀ (twice its output
 *   energy; H_in = H_a for Q/K/V, H_m for gate/up) — Q rows of the head in full, K/V rows of
 *   its KV head shared equally among the query heads of the group. Removing a unit's O/down
 *   columns already removes everything its rows compute, which is why they default to 0.
 * obs (greedy OBS elimination, as ZipLM / OSSCAR order structured removals): repeatedly remove
 *   the unit (a head's head_dim columns of o_proj; an MLP channel's down_proj column) whose
 *   removal costs least given those already removed, with the optimal compensation of the
 *   remaining columns (the block form of Φ: 2 tr(W_B [H⁻¹]_BB⁻¹ W_Bᵀ), H damped as for saliency)
 *   — the error the one-shot reformation minimises; a unit scores the total output error once it
 *   and all units removed before it are gone, so the order accounts for correlated units (two
 *   near-copies: saliency keeps both or neither, obs one). Row terms as for saliency.
 * magnitude: squared L2 norms of the unit's weights: Q rows + (K/V rows)/group + O columns;
 *   gate row + up row + down column.
 * flap (FLAP's fluctuation): Σ over the unit's o/down input columns j of
 *   var(x_j) × ‖W[:, j]‖². Its bias compensation — b = W[:, removed] · mean(x_removed), the
 *   mean output the removed channels contributed — is computed by importance_flap_bias and
 *   applied as the o/down output bias by `carve reform --fit bias` (reform/reform.h; the
 *   intercept fit is its generalisation with the kept weights refitted too).
 * layer level: block influence 1 − mean cos(h_in, h_out) (ShortGPT); attention / MLP sublayer
 *   alone 1 − mean cos(sublayer input, output); boundary cosines for LLM-Streamline spans. */
#ifndef CARVE_REFORM_IMPORTANCE_H
#define CARVE_REFORM_IMPORTANCE_H

#include "reform/stats.h"
#include "runtime/model/model.h"

typedef enum { IMP_SALIENCY = 0, IMP_MAGNITUDE = 1, IMP_FLAP = 2, IMP_OBS = 3 } ImpMethod;
/* The methods' names in ImpMethod order, NULL-terminated (config tables use it). */
extern const char *const IMP_METHOD_NAMES[];

/* -1 with err_set when unknown. */
int imp_method_parse(const char *s, ImpMethod *out);
const char *imp_method_name(ImpMethod m);

/* Scores of layer l of m: head (n_heads of that layer), chan (hidden_dim). s may be NULL for
 * magnitude; it must be layer l's statistics otherwise. Returns -1 (err_set) on failure. */
int importance_layer(const Model *m, int l, const LayerStats *s, ImpMethod method, double row_weight, double *head,
                     double *chan);

/* The obs scores of one projection: W (m, n) row-major, unit u = its columns [u·bs, (u+1)·bs), H
 * (n, n) the input Hessian (damped inside); score (n / bs). With more than 255 units left, the
 * 1 + left/256 cheapest are removed together (their joint cost shared in proportion to their
 * single costs), which bounds the steps (a 7B MLP: about 1,200) and leaves smaller layers' greedy
 * order exact. -1 with err_set (H not positive definite). */
int importance_obs(const double *W, int m, int n, int bs, const double *H, double *score);

/* FLAP bias compensation for the o (which = 0) or down (1) projection of layer l when the input
 * columns with keep[j] == 0 are removed: bias (dim) = Σ_{j removed} W[:, j] · mean(x_j). */
void importance_flap_bias(const Model *m, int l, const LayerStats *s, int which, const uint8_t *keep, double *bias);

/* Layer-level scores (n_layers each): block influence, attention-alone and MLP-alone. */
void importance_layers(const StatsFile *sf, double *bi, double *attn, double *mlp);

/* Scores of every layer: *head[l] (n_heads), *chan[l] (hidden_dim), reading each layer's
 * statistics from sf in turn (sf may be NULL for magnitude). Free with importance_free. */
int  importance_all(const Model *m, const StatsFile *sf, ImpMethod method, double row_weight, double ***head,
                    double ***chan);
/* A share of the layers for one of several processes (the MPI ranks of a job): this process
 * scores the layers l with l % size == index and leaves zeros elsewhere; combine (a collective of
 * the processes) first agrees on their statuses (rc: this process's; -1 on every process when any
 * failed, the error then set) and then sums v[0..n) over them, which is exact: every entry has one
 * owner. Every process ends with the scores of importance_all, bit for bit. */
typedef struct {
    int index, size;
    int (*combine)(void *ud, int rc, double *v, int64_t n);
    void *ud;
} ImpSplit;
/* importance_all over this process's share (split NULL: all layers here). */
int  importance_all_split(const Model *m, const StatsFile *sf, ImpMethod method, double row_weight,
                          const ImpSplit *split, double ***head, double ***chan);
void importance_free(const Model *m, double **head, double **chan);

#endif
