/* genome — the search's variation operators on a Subnet (the genome): importance-based
 * initialisation at a uniform per-layer ratio, the paper's mutation (Algorithm 1: redraw a
 * layer's kept heads/channels so the new set overlaps the old one by at least `overlap`,
 * changing its size within the per-layer ratio range; toggle sublayers/layers when the space
 * allows), layer-wise crossover, uniformly random subnets (the random baseline), and budget
 * repair. Every operator honours the search space: the kept channel count is a multiple of
 * channel_multiple (or all channels), per-layer ratios stay in their ranges, and heads /
 * channels / sublayers / layers that the space fixes are never changed.
 * The level space (config space.levels, reform/levels.h; search/genome_levels.c): with
 * GenomeSpace.levels set, every subnet is one level per sublayer of that grid; importance init,
 * repair (by whole level steps) and random subnets keep to the grid, crossover (layer-wise) does
 * by itself, and genome_level_switch replaces genome_mutate.
 * The core (config space.core = a > 0, free space only): genome_repair, which every offspring and
 * random subnet passes, brings each running sublayer that keeps k units to keep its ceil(a k)
 * most important ones (each one missing swapped in for the least important kept unit outside
 * them; the count stays), so only the rest of its kept set is searched: a = 1 keeps every
 * sublayer's top k (the counts are searched, not which units), a = 0 (default) is the paper's space.
 * Owns: GenomeSpace (the space + the importance scores) and the operators. */
#ifndef CARVE_GENOME_H
#define CARVE_GENOME_H

#include <stdbool.h>

#include "eval/cost.h"
#include "reform/levels.h"
#include "runtime/model/subnet.h"
#include "search/config.h"
#include "runtime/base/pcg32.h"

typedef struct {
    const Model *m;
    SpaceConfig space;
    double overlap;       /* mutation keeps at least this share of a layer's units */
    double depth_prob;    /* per-layer probability of toggling a sublayer/layer in mutation */
    CostKind kind;        /* budget kind */
    int seq_len;          /* for FLOP costs */
    float **head_score;   /* [layer][head] importance (higher = more important) */
    float **chan_score;   /* [layer][channel] */
    const LevelGrid *levels; /* the level space's grid (borrowed), NULL = the plain space */
    double unit_bias;     /* config algorithm.unit_bias: mutation's and offspring repair's unit draws
                             prefer important units (0 = uniform, the paper's; set after init) */
} GenomeSpace;

/* How genome_repair picks the units it adds or removes: at random (uniformly), drawn with the
 * space's unit_bias (uniform when it is 0: offspring), or the most / least important ones. */
typedef enum { DRAW_RANDOM = 0, DRAW_BIASED = 1, DRAW_IMPORTANCE = 2 } GenomeDraw;

/* Set up a space over model m; importance scores start as all-equal (call
 * genome_set_importance to fill them). */
void genome_space_init(GenomeSpace *gs, const Model *m, const SpaceConfig *space, double overlap,
                       double depth_prob, CostKind kind, int seq_len);
void genome_space_free(GenomeSpace *gs);

/* Cost ratio of s in the space's budget kind. */
double genome_cost(const GenomeSpace *gs, const Subnet *s);

/* Every layer keeps its `ratio` most important heads and channels (rounded to the space),
 * then importance-guided repair into [lo, hi]. NULL when no subnet of the space fits. */
Subnet *genome_importance_init(const GenomeSpace *gs, double ratio, double lo, double hi);
/* Mutation (per-layer probability prob) of parent; not repaired (level space: level switches
 * with no cost bound). The units a redrawn layer keeps and takes in are drawn with unit_bias. */
Subnet *genome_mutate(const GenomeSpace *gs, Pcg32 *r, const Subnet *parent, double prob);
/* Layer-wise crossover: each layer from b with probability prob, else from a. */
Subnet *genome_crossover(const GenomeSpace *gs, Pcg32 *r, const Subnet *a, const Subnet *b, double prob);
/* A uniformly random subnet of the space (per-layer ratios uniform in their ranges, random
 * kept sets, sublayers off with probability depth_prob when allowed); not repaired. */
Subnet *genome_random(const GenomeSpace *gs, Pcg32 *r);
/* Bring s's cost ratio into [lo, hi] by removing (too costly) or adding (too cheap) one unit
 * (a head, or channel_multiple channels) at a time in a random sublayer that still can —
 * which units as `how` says (GenomeDraw) — then to the space's core (above). Sublayers are
 * never switched on or off here. Returns 0 on success, -1 when s cannot be brought into range
 * (the caller drops it). s is canonicalized. */
int genome_repair(const GenomeSpace *gs, Pcg32 *r, Subnet *s, double lo, double hi, GenomeDraw how);

/* ---- the level space (gs->levels set; the operators above call these) ---- */
/* Each sublayer at its running level nearest `ratio` (ties: the larger), then repaired. */
Subnet *genome_levels_init(const GenomeSpace *gs, double ratio, double lo, double hi);
/* A random level per sublayer: skipped with probability depth_prob where the grid allows it,
 * else uniform over the levels that run. */
Subnet *genome_levels_random(const GenomeSpace *gs, Pcg32 *r);
/* Into [lo, hi] by single level steps of sublayers that run (never into or out of "skipped"), a
 * random one among those whose step lands in [lo, hi] when there are any, else among all that
 * can step. 0, or -1 when s is off the grid or cannot be brought into range. */
int genome_levels_repair(const GenomeSpace *gs, Pcg32 *r, Subnet *s, double lo, double hi);
/* EvoPress's level-switch mutation: 1 + (one per further layer with probability prob) switches,
 * each moving one sublayer a level up and another a level down ("skipped" included) so that the
 * cost stays in [lo, hi] (a switch that finds no such pair in 32 draws is not made). A parent
 * off the grid is returned unchanged. */
Subnet *genome_level_switch(const GenomeSpace *gs, Pcg32 *r, const Subnet *parent, double prob, double lo,
                            double hi);

/* "h/c" per layer joined by spaces, '-' for a skipped sublayer: "8/172 6/- -/96" (malloc'ed). */
char *genome_summary(const Subnet *s);

#endif
