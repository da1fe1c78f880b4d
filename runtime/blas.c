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

#define CARVE_WAIT_MARK "CARVE_SET_OMP_WAIT_POLICY"

void blas_select_kernels(char **argv) {
    int exec_needed = 0;
    /* OpenMP threads that spin while waiting steal the core from the thread they wait for
     * whenever anything else runs on a 2-core machine; the forward pass measured 2-6x slower
     * under load with libgomp's default spinning. Passive waiting is read at library load,
     * hence set here, before the re-exec. An explicit OMP_WAIT_POLICY is respected. */
    if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "PASSIVE", 1) == 0 &&
        setenv(CARVE_WAIT_MARK, "1", 1) == 0)
        exec_needed = 1;
    if (!getenv("OPENBLAS_CORETYPE")) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
            setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) == 0 && setenv(CARVE_SET_MARK, "1", 1) == 0)
            exec_needed = 1;
    }
    if (!exec_needed) return;
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the libraries as already configured */
    if (getenv(CARVE_SET_MARK)) unsetenv("OPENBLAS_CORETYPE");
    if (getenv(CARVE_WAIT_MARK)) unsetenv("OMP_WAIT_POLICY");
    unsetenv(CARVE_SET_MARK);
    unsetenv(CARVE_WAIT_MARK);
}

const char *blas_describe(void) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s; core=%s threads=%d%s; OMP_WAIT_POLICY=%s", openblas_get_config(), openblas_get_corename(),
             openblas_get_num_threads(), getenv(CARVE_SET_MARK) ? " (OPENBLAS_CORETYPE set by carve)" : "",
             getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "default");
    return buf;
}

int blas_threads(void) { return openblas_get_num_threads(); }
