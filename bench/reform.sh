#!/usr/bin/env bash
# reform.sh — benchmark of the reformation solvers: exact ridge least squares vs 30-iteration
# ADMM on a llama2-7b-shaped down projection (W 4096 x 11008, 50% of input channels kept,
# H from 2048 correlated random activations). Reports both times, both relative
# reconstruction errors and their ratios, measured in one run.
#   bench/reform.sh              full size (several minutes on 2 cores, ~5 GiB RAM)
#   bench/reform.sh m n T keep iters   other sizes, e.g. bench/reform.sh 1024 2752 1024 0.5 30
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build/bench/reform_bench
exec build/bench/reform_bench "$@"
