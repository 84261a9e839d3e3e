"""Reference Baum-Welch fit with pomegranate 0.14 (Debian python3-pomegranate), driven by
bench/hmm.bench.ts: same observations, same initial parameters, same iteration count, so the
two log-likelihoods and fit times can be compared side by side.

Reads a JSON job from the path in argv[1]; prints one JSON result line on stdout."""
import json
import sys
import time

import numpy as np
from pomegranate import (HiddenMarkovModel, IndependentComponentsDistribution,
                         MultivariateGaussianDistribution, NormalDistribution)


def main() -> None:
    with open(sys.argv[1]) as f:
        job = json.load(f)
    n, d, k = job["n"], job["d"], job["k"]
    x = np.asarray(job["obs"], dtype=np.float64).reshape(n, d)
    means = np.asarray(job["means"]).reshape(k, d)
    if job["covarianceType"] == "diag":
        var = np.asarray(job["covars"]).reshape(k, d)
        dists = [IndependentComponentsDistribution(
            [NormalDistribution(means[s, f], float(np.sqrt(var[s, f]))) for f in range(d)]) for s in range(k)]
    else:
        cov = np.asarray(job["covars"]).reshape(k, d, d)
        dists = [MultivariateGaussianDistribution(means[s], cov[s]) for s in range(k)]
    trans = np.asarray(job["transMat"]).reshape(k, k)
    model = HiddenMarkovModel.from_matrix(trans, dists, np.asarray(job["startProb"]), merge="None")
    iters = job["iterations"]
    t0 = time.perf_counter()
    # stop_threshold −inf with min = max iterations: exactly `iters` EM steps, like the TS side.
    model.fit([x], algorithm="baum-welch", min_iterations=iters, max_iterations=iters,
              stop_threshold=float("-inf"), n_jobs=1, verbose=False)
    fit_seconds = time.perf_counter() - t0
    ll = float(model.log_probability(x))
    print(json.dumps({"fitSeconds": fit_seconds, "logLikelihood": ll}))


if __name__ == "__main__":
    main()
