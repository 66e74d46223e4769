"""Serving: throughput of Python threads sharing one eval layer, the memory that sharing saves, and how
soon Ctrl-C stops a long call.

1. Throughput: K Python threads x 1 fusedrnn thread each calling one shared eval layer, against one
   thread alone (target: 2 threads >= 1.8x one), rounds alternated so machine noise hits both alike
   (medians of the rounds). GRU, T=50, N=16, C=H=256 by default.
2. Memory: retained bytes of the shared layer after the threads ran, against one layer per thread.
3. Ctrl-C: a child process runs a long eval forward; SIGINT after 0.5-1 s; latency from sending the
   signal to reading the line the child prints on catching the KeyboardInterrupt (target: <= 0.2 s);
   median and maximum of the trials.

    python benchmarks/serving.py [--cell gru] [--shape T,N,C,H] [--threads 2] [--rounds 15] [--sigint 7]
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np

import fusedrnn as fr

CELLS = {"lstm": fr.LSTM, "gru": fr.GRU, "rnn": fr.RNN}


def throughput_round(layer, x, threads, calls_per_thread):
    """Calls per second of `threads` Python threads each making calls_per_thread calls on `layer`."""
    start = threading.Barrier(threads + 1)

    def worker():
        start.wait()
        for _ in range(calls_per_thread):
            layer(x)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    start.wait()
    t0 = time.perf_counter()
    for thread in pool:
        thread.join()
    return threads * calls_per_thread / (time.perf_counter() - t0)


CHILD = textwrap.dedent(
    """
    import numpy as np
    import fusedrnn as fr

    layer = fr.LSTM(256, 512, seed=0).eval()
    x = np.ones((4000, 64, 256), np.float32)
    print("ready", flush=True)
    try:
        layer(x)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    """
)


def sigint_latency(delay):
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(delay)
        sent = time.perf_counter()
        child.send_signal(signal.SIGINT)
        line = child.stdout.readline().strip()  # printed as soon as the KeyboardInterrupt is caught
        latency = time.perf_counter() - sent
        child.communicate(timeout=120)
    finally:
        child.kill()
    return latency if line == "interrupted" else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="gru", choices=sorted(CELLS))
    parser.add_argument("--shape", default="50,16,256,256")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=40, help="calls per thread per round")
    parser.add_argument("--sigint", type=int, default=7, help="Ctrl-C trials (0: skip)")
    args = parser.parse_args()
    T, N, C, H = (int(v) for v in args.shape.split(","))
    K = args.threads
    cpu = fr.cpu_info()
    print(
        f"fusedrnn {fr.__version__}, {cpu['isa']} ({cpu['microkernel_float32']}), {os.cpu_count()} CPUs; "
        f"{args.cell.upper()} T={T} N={N} C={C} H={H}, float32, eval"
    )

    fr.set_num_threads(1)  # one fusedrnn thread per Python thread
    layer = CELLS[args.cell](C, H, seed=0).eval()
    x = np.random.default_rng(0).standard_normal((T, N, C)).astype(np.float32)
    layer(x)
    alone_bytes = layer.retained_bytes
    one, many = [], []
    for _ in range(args.rounds):
        one.append(throughput_round(layer, x, 1, args.calls))
        many.append(throughput_round(layer, x, K, args.calls))
    r1, rk = statistics.median(one), statistics.median(many)
    print("\n## Throughput (medians of alternated rounds)\n")
    print("| Python threads on one shared layer | calls/s | vs 1 thread |")
    print("|---|---|---|")
    print(f"| 1 | {r1:.0f} | 1.00x |")
    print(f"| {K} | {rk:.0f} | {rk / r1:.2f}x |")

    weights = sum(p.nbytes for _, p in layer.named_parameters())
    shared_bytes = layer.retained_bytes
    mb = 1e-6
    print("\n## Memory\n")
    print(f"parameters {weights * mb:.2f} MB; retained: {alone_bytes * mb:.2f} MB after one thread,")
    print(f"{shared_bytes * mb:.2f} MB after {K} threads shared it (packs once, scratch per running call).")
    print(
        f"With parameters: {(shared_bytes + weights) * mb:.2f} MB shared, against "
        f"{K * (alone_bytes + weights) * mb:.2f} MB for {K} layers, one per thread."
    )

    if args.sigint:
        fr.set_num_threads(os.cpu_count() or 1)
        latencies = [sigint_latency(0.5 + 0.5 * i / max(1, args.sigint - 1)) for i in range(args.sigint)]
        got = [v for v in latencies if v is not None]
        print("\n## Ctrl-C\n")
        print(
            f"eval LSTM(256, 512) forward of T=4000 N=64 ({len(got)}/{len(latencies)} interrupted): "
            f"SIGINT to KeyboardInterrupt median {1e3 * statistics.median(got):.1f} ms, "
            f"max {1e3 * max(got):.1f} ms"
        )


if __name__ == "__main__":
    main()
