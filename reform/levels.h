/* levels — the level space of the search (config `space: levels: K`, Týr-the-Pruner's
 * "supernet") and its database of reformed sublayers.
 *
 * Grid: per layer, each sublayer (attention heads, MLP channels) has a few discrete keep-levels:
 * K kept counts spaced evenly over its ratio range, each rounded to the nearest allowed count
 * (whole heads; a multiple of channel_multiple, or all channels), duplicates merged, ascending;
 * plus level 0 = "skipped" (count 0) when the space may skip sublayers. A level keeps the `count`
 * most important units in a fixed importance order (scores descending, ties by index: the
 * order of the search's importance initialisation). A sublayer the space does not search has the
 * one level "all" (and "skipped" when allowed); a sublayer the model lacks has the one level 0.
 * A candidate is one level per sublayer: lev[2l] attention, lev[2l + 1] MLP of layer l.
 *
 * Database: every (layer, sublayer, level) that runs is extracted and reformed once, one-shot
 * from the dense statistics (reform_oneshot with the caller's options, one call per level index:
 * one-shot fits of one layer's o_proj / down_proj never depend on another sublayer's choice),
 * and kept in memory; level_db_model stitches a candidate's model from those pieces without a
 * solve. The stitched model is bit-identical to reform_oneshot of the same subnet (tested).
 * Memory (f32): the sum over layers and running levels of the sublayer's extracted weights —
 * an attention level of k heads: 2·k·hd·dim (Q rows, O columns) + 2·k_kv·hd·dim (K/V rows of the
 * k_kv KV heads extraction stores) + dim (the o_proj bias, with an intercept fit) + the Q/K/V
 * biases where the model has them; an MLP level of c channels: 3·c·dim + dim — plus one copy of
 * the embedding, classifier and norms. Building it runs one reform_oneshot per level index, each
 * with one extracted model in memory besides the database.
 * Owns: LevelGrid (counts and importance orders), LevelDb (the reformed pieces). */
#ifndef CARVE_REFORM_LEVELS_H
#define CARVE_REFORM_LEVELS_H

#include <stdbool.h>
#include <stddef.h>

#include "reform/reform.h"
#include "reform/stats.h"
#include "runtime/model/model.h"
#include "runtime/model/subnet.h"

typedef struct {
    int levels;               /* K >= 2 keep-levels per searched sublayer (before merging) */
    bool heads, channels;     /* searched (else the one level "all") */
    bool skip;                /* a sublayer may be skipped: level 0 = count 0 */
    int channel_multiple;
    double attn_ratio[2], mlp_ratio[2];
} LevelSpec;

typedef struct {
    int n;                    /* levels */
    int *count;               /* kept heads / channels per level, ascending (0 only at level 0) */
} LevelList;

typedef struct {
    int n_layers;
    LevelList *attn, *mlp;    /* per layer */
    int **head_order;         /* [layer][n_heads]: heads by importance, most important first */
    int **chan_order;         /* [layer][hidden_dim] */
} LevelGrid;

/* The grid of spec over m with importance scores head_score[l][h] / chan_score[l][c] (higher =
 * kept first). -1 with err_set (a layer replaced by a linear map has no sublayers to level). */
int  level_grid_build(const Model *m, const LevelSpec *spec, float *const *head_score, float *const *chan_score,
                      LevelGrid **out);
void level_grid_free(LevelGrid *g);
/* The subnet of levels lev (2 per layer); canonical. */
Subnet *level_grid_subnet(const LevelGrid *g, const Model *m, const int *lev);
/* In place: s's layer l sublayer (attn or MLP) set to level v. */
void level_grid_set(const LevelGrid *g, Subnet *s, int l, bool attn, int v);
/* lev (2 per layer) of subnet s; -1 with err_set when s is not on the grid. */
int  level_grid_levels(const LevelGrid *g, const Subnet *s, int *lev);

/* Units 0..n-1 ranked by score descending, ties by lower index first: the one importance order
 * of the grid and of the search's importance initialisation (search/genome.c). out: n entries. */
typedef struct {
    float score;
    int idx;
} UnitRank;
void units_by_score(const float *score, int n, UnitRank *out);

typedef struct LevelDb LevelDb;

/* Build the database of grid g over m from m's dense statistics sf with reformation options o.
 * Progress lines on stderr unless quiet. -1 with err_set. */
int  level_db_build(const Model *m, const LevelGrid *g, const StatsFile *sf, const ReformOptions *o, bool quiet,
                    LevelDb **out);
/* The reformed model of subnet s (on the grid) stitched from the database: its tensors are views
 * into db (free it with model_free before level_db_free). -1 with err_set. */
int  level_db_model(const LevelDb *db, const Subnet *s, Model **out);
/* Bytes of weights the database holds. */
size_t level_db_bytes(const LevelDb *db);
void level_db_free(LevelDb *db);

#endif
