#!/usr/bin/env python3
"""ref_intercept — numpy references for reformation with an intercept and for FLAP's bias compensation.

usage: ref_intercept.py DIR
DIR holds meta.txt ("m n k T lambda_frac"), X.f64 (n, T: the dense inputs), Xt.f64 (k, T: the inputs
the pruned projection sees), W.f64 (m, n), idx.txt (the k kept columns). Writes
  fit.f64  (m, k + 1): [Ŵ | b] minimising ‖Ŵ Xt + b 1ᵀ − W X‖² + λ‖Ŵ‖² + μ‖Ŵ − W_S‖²  with
           λ = lambda_frac · mean(diag(Xt Xtᵀ)), μ = k · mean(diag(Xt Xtᵀ)) / T (reform/lsq.h; no
           penalty on b), by numpy.linalg.lstsq on the stacked system
           [Xtᵀ 1; √λ I 0; √μ I 0] [Ŵ | b]ᵀ = [(W X)ᵀ; 0; √μ W_Sᵀ]  (no normal equations);
  flap.f64 (m,): FLAP's compensation b = W[:, removed] · mean over tokens of X[removed].
Exit 77 when numpy is missing (the Check runner tests/test_reform_intercept.c skips then).
"""
import os
import sys

try:
    import numpy as np
except ImportError:
    print("numpy not available")
    sys.exit(77)

from ref_reform import load  # noqa: E402  (the same directory; the problem files are shared)


def main():
    d = sys.argv[1]
    m, n, k, T, lam_frac, X, Xt, W, idx = load(d)
    mean = float(np.mean(np.sum(Xt * Xt, axis=1)))
    lam, mu = lam_frac * mean, k * mean / T
    z = np.zeros((k, 1))
    A = np.vstack([np.hstack([Xt.T, np.ones((T, 1))]),
                   np.hstack([np.sqrt(lam) * np.eye(k), z]),
                   np.hstack([np.sqrt(mu) * np.eye(k), z])])
    B = np.vstack([(W @ X).T, np.zeros((k, m)), np.sqrt(mu) * W[:, idx].T])
    sol, *_ = np.linalg.lstsq(A, B, rcond=None)
    sol.T.astype(np.float64).tofile(os.path.join(d, "fit.f64"))
    removed = [j for j in range(n) if j not in set(idx)]
    flap = W[:, removed] @ X[removed].mean(axis=1)
    flap.astype(np.float64).tofile(os.path.join(d, "flap.f64"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
