/* cmd_info — being written. */
#include <stdio.h>
#include "cli/cli.h"
#include "runtime/model.h"
int cmd_info(int argc, char **argv) {
    if (argc < 3) return cli_usage_error("info", "usage: carve info --model PATH");
    Model *m;
    if (model_open(argv[2], &m) != 0) return cli_fail();
    printf("arch=%s dim=%d layers=%d heads=%d kv_heads=%d hidden=%d vocab=%d\n", m->cfg.arch, m->cfg.dim,
           m->cfg.n_layers, m->cfg.n_heads, m->cfg.n_kv_heads, m->cfg.hidden_dim, m->cfg.vocab_size);
    model_free(m);
    return 0;
}
