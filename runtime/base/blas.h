/* blas — choosing and describing the OpenBLAS configuration.
 *
 * Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) runs its Haswell kernels on AVX-512 CPUs it does
 * not recognise (AMD Zen 4, for one), at about half the sgemm speed of its SkylakeX kernels.
 * The core type is read from OPENBLAS_CORETYPE once, when the library is loaded, so
 * blas_select_kernels() re-executes the program with OPENBLAS_CORETYPE=SkylakeX when the CPU
 * has AVX-512 (F, BW, DQ, VL) — also over a preset OPENBLAS_CORETYPE (some images preset
 * Haswell). CARVE_BLAS_CORETYPE=keep respects the preset value; CARVE_BLAS_CORETYPE=NAME
 * forces core NAME. It also sets OMP_WAIT_POLICY=PASSIVE unless the user set it. */
#ifndef CARVE_BLAS_H
#define CARVE_BLAS_H

/* Call first thing in main(). Returns only if no re-exec was needed (or exec failed). */
void blas_select_kernels(char **argv);
/* One line: "OpenBLAS 0.3.21 ... core=SkylakeX threads=2 (OPENBLAS_CORETYPE set by carve)". */
const char *blas_describe(void);
int blas_threads(void);

#endif
