/* stats_bench — size of a model's calibration-statistics cache file and the time to read all
 * of its layers back (stats_layer for every layer, best of 3 passes over a warm page cache).
 * Builds the cache first when it is absent (reporting the build time and peak RSS).
 *
 * usage: stats_bench MODEL CALIB_TEXT [N L CACHE_DIR]   (default N 32, L 256, the default cache) */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "runtime/formats/model_open.h"
#include "reform/stats.h"
#include "runtime/base/blas.h"
#include "runtime/base/util.h"

int main(int argc, char **argv) {
    blas_select_kernels(argv); /* the BLAS kernels carve itself uses (the statistics depend on them) */
    if (argc < 3) {
        fprintf(stderr, "usage: stats_bench MODEL CALIB_TEXT [N L CACHE_DIR]\n");
        return 1;
    }
    StatsOptions o = {.N = argc > 3 ? atoi(argv[3]) : 32, .L = argc > 4 ? atoi(argv[4]) : 256, .seed = 1,
                      .cache_dir = argc > 5 ? argv[5] : NULL};
    if (o.N <= 0 || o.L <= 0) {
        fprintf(stderr, "stats_bench: N and L must be positive\n");
        return 1;
    }
    Model *m = NULL;
    StatsFile *sf = NULL;
    double t0 = now_seconds();
    if (model_open(argv[1], &m) != 0 || stats_open(m, argv[2], &o, &sf) != 0) {
        fprintf(stderr, "stats_bench: %s\n", err_get());
        model_free(m);
        return 2;
    }
    printf("open (build or verify): %.2f s, peak RSS %.1f MiB\n", now_seconds() - t0, peak_rss_bytes() / 1048576.0);
    struct stat st;
    if (stat(sf->path, &st) != 0) {
        perror(sf->path);
        return 2;
    }
    printf("cache file: %s, %lld bytes (%.1f MiB), %d layers, dim %d\n", sf->path, (long long)st.st_size,
           st.st_size / 1048576.0, sf->n_layers, sf->dim);
    double best = 1e30, best_cpu = 1e30, check = 0;
    for (int pass = 0; pass < 3; pass++) {
        double t = now_seconds();
        clock_t c0 = clock();
        for (int l = 0; l < sf->n_layers; l++) {
            LayerStats ls;
            if (stats_layer(sf, l, &ls) != 0) {
                fprintf(stderr, "stats_bench: %s\n", err_get());
                return 2;
            }
            check += ls.H_d[ls.f > 1 ? 1 : 0] + ls.H_a[(size_t)ls.dim * ls.dim - 1];
            layer_stats_free(&ls);
        }
        t = now_seconds() - t;
        double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
        if (t < best) best = t;
        if (cpu < best_cpu) best_cpu = cpu;
    }
    printf("read all layers: best of 3 %.3f s wall, %.3f s CPU (%.0f MiB/s of file), peak RSS %.1f MiB (checksum %.6g)\n",
           best, best_cpu, st.st_size / 1048576.0 / best, peak_rss_bytes() / 1048576.0, check);
    stats_close(sf);
    model_free(m);
    return 0;
}
