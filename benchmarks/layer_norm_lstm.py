"""Cost of the layer-normalised LSTM (``layer_norm=True``) against the plain LSTM, forward (eval) and
training (forward + backward), and against a per-step NumPy implementation of the same layer (the way
it runs without a fused kernel: one product per step, the norms and gate math in NumPy), on the grid's
char-lstm and medium shapes, float32, all threads. Rounds alternate between the two layers in one process
and every figure is a median, since the machine is noisy and shared. The NumPy layer is timed in rounds
of its own after them: OpenBLAS's threads keep spinning for a while after each of its calls, and
alternated with it the fusedrnn calls lost a core to them (plain LSTM forward on char-lstm 3x slower).

    python benchmarks/layer_norm_lstm.py [--shapes char-lstm,medium] [--rounds 7] [--numpy-rounds 3]
                                         [--threads N]
"""

import argparse

import numpy as np

import fusedrnn as fr
from fusedrnn._timing import GRID, alternated_medians

SHAPES = {s.name: s for s in GRID}
EPS = 1e-5


def _ln(v, gain, bias=None):
    mean = v.mean(axis=1, keepdims=True)
    centred = v - mean
    out = gain * (centred / np.sqrt((centred * centred).mean(axis=1, keepdims=True) + EPS))
    return out if bias is None else out + bias


def numpy_per_step(x, p, H):
    """The forward of one layer-normalised LSTM layer as a per-step NumPy loop: [T,N,C] -> [T,N,H]."""
    T, N, _ = x.shape
    h = np.zeros((N, H), x.dtype)
    c = np.zeros((N, H), x.dtype)
    y = np.empty((T, N, H), x.dtype)
    w_ih_t, w_hh_t = p["weight_ih_l0"].T, p["weight_hh_l0"].T
    bias = p["bias_ih_l0"] + p["bias_hh_l0"]
    for t in range(T):
        z = (
            _ln(x[t] @ w_ih_t, p["layernorm_ih_weight_l0"])
            + _ln(h @ w_hh_t, p["layernorm_hh_weight_l0"])
            + bias
        )
        i, f = 1 / (1 + np.exp(-z[:, :H])), 1 / (1 + np.exp(-z[:, H : 2 * H]))
        g, o = np.tanh(z[:, 2 * H : 3 * H]), 1 / (1 + np.exp(-z[:, 3 * H :]))
        c = f * c + i * g
        h = o * np.tanh(_ln(c, p["layernorm_c_weight_l0"], p["layernorm_c_bias_l0"]))
        y[t] = h
    return y


def forward(layer, x):
    return lambda: layer(x)


def training(layer, x, dy):
    def call():
        layer(x)
        layer.backward(dy)

    return call


def measure(s, rounds, numpy_rounds):
    """Rows (mode, plain s, layer-norm s, per-step NumPy s or None) of one grid shape."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((s.T, s.N, s.C)).astype(np.float32)
    dy = np.ones((s.T, s.N, s.H), np.float32)
    plain = fr.LSTM(s.C, s.H, seed=0).eval()
    ln = fr.LSTM(s.C, s.H, seed=0, layer_norm=True).eval()
    times = alternated_medians({"plain": forward(plain, x), "ln": forward(ln, x)}, rounds)
    params = ln.state_dict()
    numpy_time = alternated_medians({"numpy": lambda: numpy_per_step(x, params, s.H)}, numpy_rounds)["numpy"]
    rows = [("forward", times["plain"], times["ln"], numpy_time)]
    plain.train()
    ln.train()
    times = alternated_medians({"plain": training(plain, x, dy), "ln": training(ln, x, dy)}, rounds)
    rows.append(("training", times["plain"], times["ln"], None))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="char-lstm,medium")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--numpy-rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="fusedrnn's threads (0: all)")
    args = parser.parse_args()
    if args.threads:
        fr.set_num_threads(args.threads)
    print(
        f"fusedrnn {fr.__version__}, ISA {fr.cpu_info()['isa']}, {fr.get_num_threads()} threads; "
        f"medians of {args.rounds} alternated rounds (NumPy: {args.numpy_rounds})"
    )
    print("| shape | mode | plain LSTM ms | LN-LSTM ms | LN / plain | per-step NumPy ms | NumPy / LN |")
    print("|---|---|---|---|---|---|---|")
    for name in args.shapes.split(","):
        for mode, plain, ln, numpy_time in measure(SHAPES[name], args.rounds, args.numpy_rounds):
            numpy_text = "-" if numpy_time is None else f"{numpy_time * 1e3:.1f}"
            ratio_text = "-" if numpy_time is None else f"{numpy_time / ln:.1f}x"
            print(
                f"| {name} | {mode} | {plain * 1e3:.1f} | {ln * 1e3:.1f} | {ln / plain:.2f} | {numpy_text} | "
                f"{ratio_text} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
