/* fuzz_tasks — the zero-shot task files (eval/tasks.c: JSONL items, label files, HellaSwag's
 * 6-line text, plain or bz2). Input: byte 0 = task index (low 7 bits, modulo the task table;
 * bit 7: the items file is named .bz2 and read through libbz2), u32 little-endian n, n bytes of
 * labels file (tasks with one), then the items file. Seeds: a few items of every task, the
 * HellaSwag ones also bz2-compressed. */
#include <bzlib.h>

#include "eval/tasks.h"
#include "tests/fuzz/fuzz.h"

static void fuzz_init(void) {}

static void seed_task(const char *dir, int idx, bool bz2, const char *labels, const char *items) {
    size_t nl = labels ? strlen(labels) : 0, ni = strlen(items);
    unsigned int cap = (unsigned int)(ni * 2 + 600);
    char *z = malloc(cap);
    if (bz2) {
        if (BZ2_bzBuffToBuffCompress(z, &cap, (char *)items, (unsigned int)ni, 9, 0, 0) != BZ_OK) abort();
        ni = cap;
    } else memcpy(z, items, ni);
    uint8_t *buf = malloc(5 + nl + ni);
    buf[0] = (uint8_t)(idx | (bz2 ? 0x80 : 0));
    uint32_t n32 = (uint32_t)nl;
    memcpy(buf + 1, &n32, 4);
    if (nl) memcpy(buf + 5, labels, nl);
    memcpy(buf + 5 + nl, z, ni);
    char name[64];
    snprintf(name, sizeof name, "task%d%s", idx, bz2 ? "-bz2" : "");
    fuzz_seed(dir, name, buf, 5 + nl + ni);
    free(buf), free(z);
}

static void fuzz_seeds(const char *dir) {
    const char *arc = "{\"question\":{\"stem\":\"Why?\",\"choices\":[{\"text\":\"x\",\"label\":\"A\"},"
                      "{\"text\":\"y\",\"label\":\"B\"},{\"text\":\"zz\",\"label\":\"C\"}]},\"answerKey\":\"C\"}\n\n"
                      "{\"question\":{\"stem\":\"s\",\"choices\":[{\"text\":\"a\",\"label\":\"1\"},"
                      "{\"text\":\"b\",\"label\":\"2\"}]},\"answerKey\":\"1\"}\n";
    const char *piqa = "{\"goal\":\"g\",\"sol1\":\"one \",\"sol2\":\"two\"}\n{\"goal\":\"h\",\"sol1\":\"a\",\"sol2\":\"b\"}\n";
    const char *boolq = "{\"question\":\"is it\",\"title\":\"t\",\"answer\":true,\"passage\":\"P.\"}\n";
    const char *wino = "{\"qID\":\"q\",\"sentence\":\"Sarah beat Maria so _ won the  cup. \",\"option1\":\"Sarah\","
                       "\"option2\":\"Maria\",\"answer\":\"1\"}\n";
    const char *hs = "Roof: A man [step] is  on a [title] roof. he\n3\n is  wrap [x]ping.\nb\nc\nd\n"
                     "X: y\n0\ne1\ne2\ne3\ne4\n";
    int n = 0;
    const TaskDef *t = task_table(&n);
    for (int i = 0; i < n && i < 128; i++) {
        const char *name = t[i].name;
        const char *items = !strncmp(name, "arc", 3) || !strcmp(name, "openbookqa") ? arc
                            : !strcmp(name, "piqa")                                 ? piqa
                            : !strcmp(name, "boolq")                                ? boolq
                            : !strcmp(name, "winogrande")                           ? wino
                                                                                    : hs;
        const char *labels = !t[i].labels ? NULL : !strcmp(name, "piqa") ? "1\n0\n" : "1\n";
        seed_task(dir, i, false, labels, items);
        if (items == hs) seed_task(dir, i, true, labels, items);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5) return 0;
    int n = 0;
    const TaskDef *t = task_table(&n);
    const TaskDef *d = &t[(data[0] & 0x7f) % n];
    bool bz2 = data[0] & 0x80;
    uint32_t nl;
    memcpy(&nl, data + 1, 4);
    if (nl > size - 5) nl = (uint32_t)(size - 5);
    const char *items = fuzz_path(0, bz2 ? "items.txt.bz2" : "items.jsonl"), *labels = fuzz_path(1, "labels.lst");
    fuzz_write_file(labels, data + 5, nl);
    fuzz_write_file(items, data + 5 + nl, size - 5 - nl);
    TaskSet s;
    if (taskset_load_files(d, items, d->labels ? labels : NULL, &s) == 0) taskset_free(&s);
    return 0;
}
