/* blas — pick the AVX-512 OpenBLAS kernels by re-exec; describe the BLAS in use. See blas.h. */
#include "runtime/base/blas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

char *openblas_get_config(void);
char *openblas_get_corename(void);
int openblas_get_num_threads(void);

/* Set by carve before its re-exec: the OPENBLAS_CORETYPE it replaced ("" when none). */
#define CARVE_SET_MARK "CARVE_SET_OPENBLAS_CORETYPE"
#define CARVE_WAIT_MARK "CARVE_SET_OMP_WAIT_POLICY"

static int cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

/* The core type carve wants, or NULL to leave OPENBLAS_CORETYPE as it is.
 * CARVE_BLAS_CORETYPE: unset/"auto" = SkylakeX on AVX-512 CPUs (over any preset
 * OPENBLAS_CORETYPE: images that preset "Haswell" on AVX-512 machines halve sgemm speed);
 * "keep" = respect OPENBLAS_CORETYPE; any other value = that core type. */
static const char *wanted_core(void) {
    const char *choice = getenv("CARVE_BLAS_CORETYPE");
    if (choice && !strcasecmp(choice, "keep")) return NULL;
    if (choice && *choice && strcasecmp(choice, "auto")) return choice;
    return cpu_has_avx512() ? "SkylakeX" : NULL;
}

void blas_select_kernels(char **argv) {
    int exec_needed = 0;
    /* OpenMP threads that spin while waiting steal the core from the thread they wait for
     * whenever anything else runs on a 2-core machine (README, "Speed and memory", has the
     * measured slowdown). Passive waiting is read at library load,
     * hence set here, before the re-exec. An explicit OMP_WAIT_POLICY is respected. */
    if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0 &&
        setenv(CARVE_WAIT_MARK, "1", 1) == 0)
        exec_needed = 1;
    const char *want = wanted_core(), *have = getenv("OPENBLAS_CORETYPE");
    if (want && !(have && !strcasecmp(have, want)) && !getenv(CARVE_SET_MARK)) {
        if (setenv(CARVE_SET_MARK, have ? have : "", 1) == 0 && setenv("OPENBLAS_CORETYPE", want, 1) == 0)
            exec_needed = 1;
    }
    if (!exec_needed) return;
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the libraries as already configured */
    const char *old = getenv(CARVE_SET_MARK);
    if (old) {
        if (*old) setenv("OPENBLAS_CORETYPE", old, 1);
        else unsetenv("OPENBLAS_CORETYPE");
    }
    if (getenv(CARVE_WAIT_MARK)) unsetenv("OMP_WAIT_POLICY");
    unsetenv(CARVE_SET_MARK);
    unsetenv(CARVE_WAIT_MARK);
}

const char *blas_describe(void) {
    static char buf[640];
    const char *old = getenv(CARVE_SET_MARK);
    char note[160] = "";
    if (old && *old) snprintf(note, sizeof note, " (set by carve, replacing OPENBLAS_CORETYPE=%.64s)", old);
    else if (old) snprintf(note, sizeof note, " (set by carve)");
    snprintf(buf, sizeof buf, "%s; core=%s%s threads=%d; OMP_WAIT_POLICY=%s", openblas_get_config(),
             openblas_get_corename(), note, openblas_get_num_threads(),
             getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "default");
    return buf;
}

int blas_threads(void) { return openblas_get_num_threads(); }
