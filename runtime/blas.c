/* blas — pick the AVX-512 OpenBLAS kernels by re-exec; describe the BLAS in use. See blas.h. */
#include "runtime/blas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *openblas_get_config(void);
char *openblas_get_corename(void);
int openblas_get_num_threads(void);

#define CARVE_SET_MARK "CARVE_SET_OPENBLAS_CORETYPE"

void blas_select_kernels(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return;
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")))
        return;
    if (setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) != 0) return;
    if (setenv(CARVE_SET_MARK, "1", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the kernels already loaded */
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(CARVE_SET_MARK);
}

const char *blas_describe(void) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s; core=%s threads=%d%s", openblas_get_config(), openblas_get_corename(),
             openblas_get_num_threads(), getenv(CARVE_SET_MARK) ? " (OPENBLAS_CORETYPE set by carve)" : "");
    return buf;
}

int blas_threads(void) { return openblas_get_num_threads(); }
