/* subnet — which parts of a model a candidate keeps: per layer, the kept query heads
 * (a KV head is kept while any of its query heads is), the kept MLP channels, and
 * whether the attention and MLP sublayers run at all. Embeddings, norms and the hidden
 * size are never pruned. Also the JSON subnet file (documented in README.md):
 *
 *   {"format": "carve-subnet/1",
 *    "model": {"n_layers": 5, "dim": 64, "n_heads": 8, "n_kv_heads": 4, "hidden_dim": 172},
 *    "layers": [ {"attn": true, "heads": [0,1,2,5], "mlp": true, "channels": [0,3,4,...]}, ... ]}
 *
 * "heads"/"channels" omitted = all kept; "attn": false / "mlp": false = sublayer skipped.
 *
 * Canonical form (subnet_canonicalize): a sublayer with no kept unit is off, and an off
 * sublayer keeps no units. Two canonical subnets are equal iff their hashes' inputs are. */
#ifndef CARVE_SUBNET_H
#define CARVE_SUBNET_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/model/model.h"

typedef struct {
    int n_heads;        /* of the model layer this describes */
    int n_kv_heads;
    int hidden_dim;
    bool attn_on;
    bool mlp_on;
    uint8_t *head_keep; /* n_heads entries: 1 = query head kept */
    uint8_t *chan_keep; /* hidden_dim entries: 1 = channel kept */
} SubnetLayer;

typedef struct {
    int n_layers;
    SubnetLayer *layers;
} Subnet;

Subnet *subnet_dense(const Model *m);           /* everything kept */
Subnet *subnet_clone(const Subnet *s);
void    subnet_free(Subnet *s);
void    subnet_canonicalize(Subnet *s);
bool    subnet_equal(const Subnet *a, const Subnet *b);
uint64_t subnet_hash(const Subnet *s);          /* of the canonical form */
/* 0 when s describes m's layers (same layer count and per-layer head/channel counts). */
int     subnet_check(const Subnet *s, const Model *m, const char *what);

int subnet_kept_heads(const SubnetLayer *l);     /* 0 when the sublayer is off */
int subnet_kept_kv_heads(const SubnetLayer *l);
int subnet_kept_channels(const SubnetLayer *l);  /* 0 when the sublayer is off */

/* JSON: parse/format (jansson). `what` names the file in error messages. */
int   subnet_from_json(const char *json, const Model *m, const char *what, Subnet **out);
char *subnet_to_json(const Subnet *s, const Model *m);   /* compact one-line JSON, malloc'ed */
int   subnet_read_file(const char *path, const Model *m, Subnet **out);
int   subnet_write_file(const char *path, const Subnet *s, const Model *m);

#endif
