"""fr.nn predict on 2 threads against 1 for a small model over many sequences (the energy-shaped LSTM(64) +
Dense(1), T=33, F=1), where the rows are split across the threads (cells/time_loop_forward.h,
split_rows). Rounds of 1 and 2 threads alternate so that machine noise hits both; medians.

    python benchmarks/nn_predict_threads.py [--rows 100000] [--units 64] [--batches 32,256,8192]
"""

import argparse
import time

import numpy as np

import fusedrnn as fr
from fusedrnn import nn


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--batches", default="32,256,8192")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    X = np.random.default_rng(0).standard_normal((args.rows, 33, 1)).astype(np.float32)
    model = nn.Sequential([nn.LSTM(args.units, input_shape=(33, 1)), nn.Dense(1)], seed=0)
    model.predict(X[:100], verbose=0)
    print(
        f"fusedrnn {fr.__version__}, {fr.cpu_info()['isa']}; LSTM({args.units}) + Dense(1), {args.rows} rows"
    )
    saved = fr.get_num_threads()
    try:
        for batch in (int(b) for b in args.batches.split(",")):
            results = {1: [], 2: []}
            for _ in range(args.rounds):
                for threads in (1, 2):
                    fr.set_num_threads(threads)
                    results[threads].append(
                        median_seconds(lambda b=batch: model.predict(X, batch_size=b, verbose=0), 3)
                    )
            one, two = np.median(results[1]), np.median(results[2])
            print(
                f"batch {batch}: 1 thread {args.rows / one:,.0f} rows/s, 2 threads {args.rows / two:,.0f} "
                f"rows/s, {one / two:.2f}x"
            )
    finally:
        fr.set_num_threads(saved)


if __name__ == "__main__":
    main()
