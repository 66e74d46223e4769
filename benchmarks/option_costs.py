"""Cost of the kernel options against the plain kernel, side by side in one run (medians of alternating
calls): per-sequence lengths (uniform in [T/2, T]) and the activations, forward and training, on the
char-lstm shape (T=100, N=64, C=128, H=256) by default; torch's packed-vs-padded ratio beside it when
torch is installed.

    python benchmarks/option_costs.py [--shape T,N,C,H] [--repeats 15]
"""

import argparse
import statistics
import time

import numpy as np

import fusedrnn as fr


def median_seconds(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired(fns, repeats):
    """Medians of the calls in fns, interleaved so that machine noise hits all alike."""
    for fn in fns.values():
        fn()
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in samples.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="100,64,128,256")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    T, N, C, H = (int(v) for v in args.shape.split(","))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, N, C)).astype(np.float32)
    lengths = rng.integers(T // 2, T + 1, size=N)
    real = lengths.sum() / (T * N)
    print(f"shape T={T} N={N} C={C} H={H}, fusedrnn {fr.__version__}, {fr.cpu_info()['isa']}, "
          f"{fr.get_num_threads()} threads; lengths uniform in [T/2, T]: {real:.1%} real steps")

    print("\nLSTM, per-sequence lengths vs none")
    for mode in ("forward", "training"):
        lstm = fr.LSTM(C, H, seed=0)
        lstm.train(mode == "training")
        dy = np.ones((T, N, H), np.float32)

        def call(with_lengths, lstm=lstm, mode=mode, dy=dy):
            lstm(x, lengths=lengths if with_lengths else None)
            if mode == "training":
                lstm.backward(dy)

        times = paired({"plain": lambda: call(False), "lengths": lambda: call(True)}, args.repeats)
        print(f"  {mode:9s} plain {times['plain'] * 1e3:7.2f} ms   lengths {times['lengths'] * 1e3:7.2f} ms"
              f"   ratio {times['lengths'] / times['plain']:.2f} (target <= 0.80)")

    print("\nLSTM / GRU / RNN activations vs the defaults (ratio of medians)")
    for cls, options in ((fr.LSTM, [dict(activation="relu"), dict(recurrent_activation="hard_sigmoid")]),
                         (fr.GRU, [dict(activation="relu"), dict(recurrent_activation="hard_sigmoid")]),
                         (fr.RNN, [dict(nonlinearity="relu"), dict(nonlinearity="linear")])):
        for mode in ("forward", "training"):
            layers = {"default": cls(C, H, seed=0)} | {str(o): cls(C, H, seed=0, **o) for o in options}
            for layer in layers.values():
                layer.train(mode == "training")
            dy = np.ones((T, N, H), np.float32)

            def call(layer, mode=mode, dy=dy):
                layer(x)
                if mode == "training":
                    layer.backward(dy)

            times = paired({k: (lambda layer=v: call(layer)) for k, v in layers.items()}, args.repeats)
            ratios = "  ".join(f"{k} {times[k] / times['default']:.2f}" for k in layers if k != "default")
            print(f"  {cls.__name__:4s} {mode:9s} default {times['default'] * 1e3:7.2f} ms   {ratios}")

    try:
        import torch
        from torch.nn.utils.rnn import pack_padded_sequence
    except ImportError:
        return
    torch.set_num_threads(fr.get_num_threads())
    module = torch.nn.LSTM(C, H)
    xt = torch.tensor(x)
    lt = torch.tensor(lengths)
    with torch.no_grad():
        times = paired({
            "padded": lambda: module(xt),
            "packed": lambda: module(pack_padded_sequence(xt, lt, enforce_sorted=False)),
        }, args.repeats)
    print(f"\ntorch {torch.__version__} LSTM forward: padded {times['padded'] * 1e3:.2f} ms, packed "
          f"{times['packed'] * 1e3:.2f} ms, ratio {times['packed'] / times['padded']:.2f}")


if __name__ == "__main__":
    main()
