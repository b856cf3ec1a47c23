"""The leakage search at scale: 100,000 train vs 100,000 test 128-d embeddings in under 60 s.

Embedding-like data (50 clusters in a 12-d latent space, mapped to 128-d by a random linear
layer and a ReLU, with noise), and planted twins: the first ``--twins`` test rows are training
rows plus tiny noise. Times the search the leakage view runs above 20,000 x 20,000 pairs
(:func:`gengap_dash.analysis.leakage.nearest_neighbours` with pynndescent, after centring and
normalising), median of ``--repeats`` runs after one warm-up that compiles pynndescent's numba
code (timed separately: a process pays it once). Reports the planted twins found, the top-1
agreement with the exact search on a random subsample, and the exact (brute-force) search at
``--brute-size`` x ``--brute-size`` for comparison.

    python benchmarks/leakage.py [--train 100000] [--test 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from gengap_dash.analysis.leakage import DEFAULT_THRESHOLD, nearest_neighbours, normalise


def embeddings(n: int, *, dim: int, rng: np.random.Generator, latent, weights) -> np.ndarray:
    centres, spread = latent
    z = centres[rng.integers(0, len(centres), n)] + rng.normal(0, spread, (n, centres.shape[1]))
    x = np.maximum(z @ weights, 0) + rng.normal(0, 0.05, (n, dim))
    return x.astype(np.float32)


def make_data(n_train: int, n_test: int, dim: int, twins: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    latent = (rng.normal(0, 2.0, (50, 12)), 1.0)
    weights = rng.normal(0, 1 / np.sqrt(12), (12, dim))
    train = embeddings(n_train, dim=dim, rng=rng, latent=latent, weights=weights)
    test = embeddings(n_test, dim=dim, rng=rng, latent=latent, weights=weights)
    sources = rng.choice(n_train, twins, replace=False)
    test[:twins] = train[sources] * (1 + rng.normal(0, 0.002, (twins, dim))).astype(np.float32)
    return train, test, sources


def timed(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=100_000)
    parser.add_argument("--test", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--twins", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--brute-size", type=int, default=20_000)
    parser.add_argument("--check", type=int, default=2_000, help="queries checked exactly")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}")

    train, test, sources = make_data(args.train, args.test, args.dim, args.twins)

    small_train, (small_test,) = normalise(train[:2000], [test[:500]])
    started = time.perf_counter()
    nearest_neighbours(small_test, small_train, method="nndescent")
    print(f"warm-up (numba compile, once per process): {time.perf_counter() - started:.1f} s")

    def search():
        train_unit, (test_unit,) = normalise(train, [test])
        return nearest_neighbours(test_unit, train_unit, method="nndescent", seed=0), (
            train_unit,
            test_unit,
        )

    median, ((rows, similarity, _), (train_unit, test_unit)) = timed(search, args.repeats)
    found = (similarity[: args.twins] >= DEFAULT_THRESHOLD) & (rows[: args.twins] == sources)
    check = np.random.default_rng(1).choice(np.arange(args.twins, args.test), args.check, False)
    exact_rows, exact_sim, _ = nearest_neighbours(test_unit[check], train_unit, method="brute")
    natural = (similarity[args.twins :] >= DEFAULT_THRESHOLD).mean()
    print(
        f"pynndescent, {args.train:,} train x {args.test:,} test x {args.dim}-d: "
        f"median {median:.1f} s of {args.repeats}"
    )
    print(f"planted twins found at cosine >= {DEFAULT_THRESHOLD}: {found.sum()} of {args.twins}")
    print(
        f"top-1 agreement with the exact search on {args.check:,} other queries: "
        f"{(rows[check] == exact_rows).mean():.3f}; median similarity gap "
        f"{np.median(exact_sim - similarity[check]):.2e}; other test rows above the threshold: "
        f"{natural:.2%}"
    )

    n = args.brute_size
    brute_train, (brute_test,) = normalise(train[:n], [test[:n]])
    brute, _ = timed(
        lambda: nearest_neighbours(brute_test, brute_train, method="brute"), args.repeats
    )
    graph, _ = timed(
        lambda: nearest_neighbours(brute_test, brute_train, method="nndescent"), args.repeats
    )
    print(f"{n:,} x {n:,}: exact search {brute:.1f} s, pynndescent {graph:.1f} s (medians)")


if __name__ == "__main__":
    main()
