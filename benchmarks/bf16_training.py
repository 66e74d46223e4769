"""bf16 mixed-precision LSTM training: one training step (forward + backward of a one-layer LSTM, sum of y as
the loss) in fusedrnn float32, fusedrnn ``compute_dtype="bfloat16"``, PyTorch float32 and PyTorch under
``torch.autocast("cpu", dtype=torch.bfloat16)``, side by side in one process on the grid's char-lstm and
medium shapes (large with --shapes), 2 threads by default. Rounds alternate between our two and every
figure is a median, since the machine is noisy and shared; PyTorch runs in rounds of its own after them
(its OpenMP threads keep spinning for a while after each call: alternated with it, the fusedrnn call that
came next lost a core: 1.4x the time of the other one on char-lstm).

What the figures mean depends on the CPU (``fusedrnn.cpu_info()["bf16_compute"]``, printed above the
table). With AVX512-BF16 (Zen 4 / Zen 5, Sapphire Rapids) fusedrnn's bf16 products run natively on
vdpbf16ps, twice the float32 FMA rate, over operands packed as bf16 pairs. Elsewhere they are emulated:
float32 FMAs over operands rounded to bf16 as they are packed, the same products at float32's speed plus
the rounding, so a little SLOWER than float32. PyTorch's autocast likewise runs its bf16 LSTM on oneDNN's
bf16 kernels only where the CPU has them (AVX512-BF16 / AMX); on an AVX2-only CPU (Zen 3) torch 2.13's
autocast LSTM raises "could not create a primitive descriptor for the LSTM forward propagation
primitive", which the table reports instead of a time.

    python benchmarks/bf16_training.py [--shapes char-lstm,medium] [--rounds 7] [--threads 2]
"""

import argparse

import numpy as np

import fusedrnn as fr
from fusedrnn._timing import GRID, alternated_medians

SHAPES = {s.name: s for s in GRID}


def alternate(fns, rounds):
    """alternated_medians of the functions whose first call runs, and {name: error} of those whose
    first call raised (they are left out)."""
    failed = {}
    for name, fn in list(fns.items()):
        try:
            fn()
        except RuntimeError as err:  # torch's bf16 LSTM where oneDNN has no bf16 primitive for the CPU
            failed[name] = str(err).split(".")[0]
            del fns[name]
    return alternated_medians(fns, rounds), failed


def ours(s, x, dy, compute_dtype):
    layer = fr.LSTM(s.C, s.H, seed=0, compute_dtype=compute_dtype).train()

    def step():
        layer(x)
        layer.backward(dy)

    return step


def theirs(s, x, autocast):
    import torch

    lstm = torch.nn.LSTM(s.C, s.H)
    xt = torch.from_numpy(x)

    def step():
        lstm.zero_grad(set_to_none=True)
        if autocast:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y, _ = lstm(xt)
            y.float().sum().backward()
        else:
            y, _ = lstm(xt)
            y.sum().backward()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="char-lstm,medium")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    fr.set_num_threads(args.threads)
    try:
        import torch

        torch.set_num_threads(args.threads)
        torch_version = torch.__version__
    except ImportError:
        torch = None
        torch_version = "not installed"
    info = fr.cpu_info()
    print(
        f"fusedrnn {fr.__version__}, ISA {info['isa']}, bf16 compute: {info['bf16_compute']}; "
        f"torch {torch_version}; {args.threads} threads; medians of {args.rounds} alternated rounds"
    )
    print(
        "| shape | ours fp32 ms | ours bf16 ms | ours bf16 / fp32 | torch fp32 ms | torch autocast bf16 ms "
        "| ours bf16 vs torch fp32 |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.shapes.split(","):
        s = SHAPES[name]
        rng = np.random.default_rng(0)
        x = rng.standard_normal((s.T, s.N, s.C)).astype(np.float32)
        dy = np.ones((s.T, s.N, s.H), np.float32)
        t, failed = alternate(
            {"fp32": ours(s, x, dy, "float32"), "bf16": ours(s, x, dy, "bfloat16")}, args.rounds
        )
        if torch is not None:
            theirs_t, failed = alternate(
                {"torch": theirs(s, x, autocast=False), "autocast": theirs(s, x, autocast=True)}, args.rounds
            )
            t.update(theirs_t)
        torch_text = f"{t['torch'] * 1e3:.1f}" if "torch" in t else "-"
        autocast_text = f"{t['autocast'] * 1e3:.1f}" if "autocast" in t else "fails (below)"
        if torch is None:
            autocast_text = "-"
        # > 1: ours bf16 is faster (time ratio torch / ours)
        versus = f"{t['torch'] / t['bf16']:.2f}x" if "torch" in t else "-"
        print(
            f"| {name} | {t['fp32'] * 1e3:.1f} | {t['bf16'] * 1e3:.1f} | {t['bf16'] / t['fp32']:.2f} | "
            f"{torch_text} | {autocast_text} | {versus} |",
            flush=True,
        )
        for name, message in failed.items():
            print(f"  {name} on {s.name}: RuntimeError: {message}", flush=True)


if __name__ == "__main__":
    main()
