"""Cost of the kernel options against the plain kernel, side by side in one run (medians of alternating
calls): per-sequence lengths (uniform in [T/2, T]), activations, GRU reset-before, dropout and recurrent
dropout, forward and training, on the char-lstm shape (T=100, N=64, C=128, H=256) by default; with torch
installed, torch's packed-vs-padded ratio and the LSTM projection (proj_size = H/2) against torch on the
char-lstm and medium shapes.

    python benchmarks/option_costs.py [--shape T,N,C,H] [--repeats 15]
"""

import argparse
import statistics
import time

import numpy as np

import fusedrnn as fr
from fusedrnn._timing import alternated_medians


def median_seconds(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    print(
        f"shape T={T} N={N} C={C} H={H}, fusedrnn {fr.__version__}, {fr.cpu_info()['isa']}, "
        f"{fr.get_num_threads()} threads; lengths uniform in [T/2, T]: {real:.1%} real steps"
    )

    print("\nLSTM, per-sequence lengths vs none")
    for mode in ("forward", "training"):
        lstm = fr.LSTM(C, H, seed=0)
        lstm.train(mode == "training")
        dy = np.ones((T, N, H), np.float32)

        def call_lengths(with_lengths, lstm=lstm, mode=mode, dy=dy):
            lstm(x, lengths=lengths if with_lengths else None)
            if mode == "training":
                lstm.backward(dy)

        times = alternated_medians(
            {"plain": lambda: call_lengths(False), "lengths": lambda: call_lengths(True)}, args.repeats
        )
        print(
            f"  {mode:9s} plain {times['plain'] * 1e3:7.2f} ms   lengths {times['lengths'] * 1e3:7.2f} ms"
            f"   ratio {times['lengths'] / times['plain']:.2f} (target <= 0.80)"
        )

    print("\nOptions vs the default layer of the same class (ratio of medians; forward = eval mode)")
    option_sets = (
        (
            fr.LSTM,
            [
                dict(activation="relu"),
                dict(recurrent_activation="hard_sigmoid"),
                dict(dropout=0.0),
                dict(recurrent_dropout=0.25),
            ],
        ),
        (
            fr.GRU,
            [
                dict(activation="relu"),
                dict(recurrent_activation="hard_sigmoid"),
                dict(reset_after=False),
                dict(recurrent_dropout=0.25),
            ],
        ),
        (fr.RNN, [dict(nonlinearity="relu"), dict(nonlinearity="linear"), dict(recurrent_dropout=0.25)]),
    )
    for cls, options in option_sets:
        for mode in ("forward", "training"):
            layers = {"default": cls(C, H, seed=0)} | {str(o): cls(C, H, seed=0, **o) for o in options}
            for layer in layers.values():
                layer.train(mode == "training")
            dy = np.ones((T, N, H), np.float32)

            def call_option(layer, mode=mode, dy=dy):
                layer(x)
                if mode == "training":
                    layer.backward(dy)

            calls = {k: (lambda layer=v: call_option(layer)) for k, v in layers.items()}
            times = alternated_medians(calls, args.repeats)
            ratios = "  ".join(f"{k} {times[k] / times['default']:.2f}" for k in layers if k != "default")
            print(f"  {cls.__name__:4s} {mode:9s} default {times['default'] * 1e3:7.2f} ms   {ratios}")

    print("\nDropout between layers, 2-layer LSTM (ratio to the same layer without dropout)")
    for mode in ("training",):
        layers = {p: fr.LSTM(C, H, num_layers=2, dropout=p, seed=0) for p in (0.0, 0.3)}
        dy = np.ones((T, N, H), np.float32)

        def call_dropout(layer, dy=dy):
            layer(x)
            layer.backward(dy)

        calls = {p: (lambda layer=v: call_dropout(layer)) for p, v in layers.items()}
        times = alternated_medians(calls, args.repeats)
        print(f"  {mode:9s} p=0 {times[0.0] * 1e3:7.2f} ms   p=0.3 {times[0.3] / times[0.0]:.2f}")

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
        times = alternated_medians(
            {
                "padded": lambda: module(xt),
                "packed": lambda: module(pack_padded_sequence(xt, lt, enforce_sorted=False)),
            },
            args.repeats,
        )
    print(
        f"\ntorch {torch.__version__} LSTM forward: padded {times['padded'] * 1e3:.2f} ms, packed "
        f"{times['packed'] * 1e3:.2f} ms, ratio {times['packed'] / times['padded']:.2f}"
    )

    import warnings

    warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
    print("\nLSTM with proj_size = H/2 against torch (target: fusedrnn >= 1.5x faster)")
    for label, (T2, N2, C2, H2) in (("char-lstm", (100, 64, 128, 256)), ("medium", (50, 64, 512, 512))):
        P2 = H2 // 2
        x2 = rng.standard_normal((T2, N2, C2)).astype(np.float32)
        mine = fr.LSTM(C2, H2, proj_size=P2, seed=0)
        theirs = torch.nn.LSTM(C2, H2, proj_size=P2)
        mine.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        xt2 = torch.tensor(x2, requires_grad=True)
        dy2 = np.ones((T2, N2, P2), np.float32)
        dyt2 = torch.tensor(dy2)

        def torch_train(theirs=theirs, xt2=xt2, dyt2=dyt2):
            y, _ = theirs(xt2)
            y.backward(dyt2)

        def mine_train(mine=mine, x2=x2, dy2=dy2):
            mine(x2)
            mine.backward(dy2)

        mine.eval()
        with torch.no_grad():
            fwd = alternated_medians(
                {
                    "fusedrnn": lambda mine=mine, x2=x2: mine(x2),
                    "torch": lambda theirs=theirs, xt2=xt2: theirs(xt2),
                },
                args.repeats,
            )
        mine.train()
        train = alternated_medians({"fusedrnn": mine_train, "torch": torch_train}, args.repeats)
        print(
            f"  {label:9s} forward  fusedrnn {fwd['fusedrnn'] * 1e3:7.2f} ms"
            f"  torch {fwd['torch'] * 1e3:7.2f} ms"
            f"  speedup {fwd['torch'] / fwd['fusedrnn']:.2f}x"
        )
        print(
            f"  {label:9s} training fusedrnn {train['fusedrnn'] * 1e3:7.2f} ms"
            f"  torch {train['torch'] * 1e3:7.2f} ms"
            f"  speedup {train['torch'] / train['fusedrnn']:.2f}x"
        )


if __name__ == "__main__":
    main()
