#!/usr/bin/env python3
"""ref_reform — brute-force numpy reference for carve's reformation least squares.

usage: ref_reform.py DIR
DIR holds meta.txt ("m n k T lambda_frac"), X.f64 (n, T), Xt.f64 (k, T: the inputs the pruned
projection sees; equal to X[S] for one-shot), W.f64 (m, n), idx.txt (the k kept columns).
Solves  min_Ŵ ‖Ŵ Xt − W X‖² + λ‖Ŵ‖²,  λ = lambda_frac · mean(diag(Xt Xtᵀ)),
with numpy.linalg.lstsq on the stacked system [Xtᵀ; √λ I] Ŵᵀ = [(W X)ᵀ; 0] (no normal
equations, no Cholesky) and writes Ŵ (m, k) to DIR/ref.f64. Exit 77 when numpy is missing
(the Check runner tests/test_reform_lsq.c calls it and skips then).
"""
import os
import sys

try:
    import numpy as np
except ImportError:
    print("numpy not available")
    sys.exit(77)


def load(d):
    """DIR's problem (also ref_intercept.py's): m, n, k, T, lambda_frac, X, Xt, W, idx."""
    meta = open(os.path.join(d, "meta.txt")).read().split()
    m, n, k, T = (int(v) for v in meta[:4])
    X = np.fromfile(os.path.join(d, "X.f64")).reshape(n, T)
    Xt = np.fromfile(os.path.join(d, "Xt.f64")).reshape(k, T)
    W = np.fromfile(os.path.join(d, "W.f64")).reshape(m, n)
    idx = [int(v) for v in open(os.path.join(d, "idx.txt")).read().split()]
    return m, n, k, T, float(meta[4]), X, Xt, W, idx


def main():
    d = sys.argv[1]
    m, n, k, T, lam_frac, X, Xt, W, _ = load(d)
    lam = lam_frac * float(np.mean(np.sum(Xt * Xt, axis=1)))
    A = np.vstack([Xt.T, np.sqrt(lam) * np.eye(k)])
    B = np.vstack([(W @ X).T, np.zeros((k, m))])
    sol, *_ = np.linalg.lstsq(A, B, rcond=None)
    sol.T.astype(np.float64).tofile(os.path.join(d, "ref.f64"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
