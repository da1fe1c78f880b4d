/* fuzz_subnet — the subnet JSON file (runtime/model/subnet.c, subnet_from_json) against a tiny
 * random model, then the canonical form written back and read again (it must parse).
 * Seeds: subnet_to_json of the dense subnet and of pruned ones. */
#include "runtime/model/subnet.h"
#include "tests/fuzz/fuzz.h"

static Model *model;

static void fuzz_init(void) { model = fuzz_model("m", 3); }

static void fuzz_seeds(const char *dir) {
    Subnet *s = subnet_dense(model);
    char *j = subnet_to_json(s, model);
    fuzz_seed(dir, "dense.json", j, strlen(j));
    free(j);
    s->layers[0].head_keep[1] = 0;
    for (int c = 0; c < s->layers[0].hidden_dim; c += 3) s->layers[0].chan_keep[c] = 0;
    j = subnet_to_json(s, model);
    fuzz_seed(dir, "pruned.json", j, strlen(j));
    free(j);
    s->layers[0].mlp_on = false;
    subnet_canonicalize(s);
    j = subnet_to_json(s, model);
    fuzz_seed(dir, "no-mlp.json", j, strlen(j));
    free(j);
    subnet_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    Subnet *s = NULL;
    if (subnet_from_json(text, model, "fuzz.json", &s) == 0) {
        char *j = subnet_to_json(s, model);
        Subnet *t = NULL;
        if (subnet_from_json(j, model, "canonical.json", &t) != 0 || !subnet_equal(s, t)) {
            fprintf(stderr, "fuzz: the canonical form does not read back: %s\n", err_get());
            abort();
        }
        subnet_free(t);
        free(j);
        subnet_free(s);
    }
    free(text);
    return 0;
}
