"""pytest-benchmark timings of fusedrnn alone: forward (eval) and training step of LSTM, GRU and RNN
on the three smallest shapes of the benchmark grid (docs/benchmarks.md) (fp32, single layer, all threads).

    pytest benchmarks/ --benchmark-enable                 # time them
    pytest benchmarks/ --benchmark-enable --benchmark-group-by=group
    pytest benchmarks/                                    # benchmarks disabled: each runs once, as a test

benchmarks/compare.py does the side-by-side comparison with PyTorch, onnxruntime and the reference.
Each benchmark records its GEMM flop count in extra_info (forward 2*T*N*G*H*(C+H), training 3x).
"""

import numpy as np
import pytest

import fusedrnn as fr

# name: (T, N, C, H)
SHAPES = {"keras-seed": (3, 1, 1, 50), "energy": (33, 32, 1, 64), "mnist-row": (28, 128, 28, 128)}
CELLS = {"lstm": (fr.LSTM, 4), "gru": (fr.GRU, 3), "rnn": (fr.RNN, 1)}


def make_case(cell, shape):
    T, N, C, H = SHAPES[shape]
    layer_class, _ = CELLS[cell]
    rng = np.random.default_rng(0)
    layer = layer_class(C, H, seed=0)
    x = rng.standard_normal((T, N, C), dtype=np.float32)
    dy = rng.standard_normal((T, N, H), dtype=np.float32)
    return layer, x, dy


def record(benchmark, cell, shape, mode):
    T, N, C, H = SHAPES[shape]
    flops = 2 * T * N * CELLS[cell][1] * H * (C + H) * (3 if mode == "training" else 1)
    benchmark.group = f"{cell} {mode}"
    benchmark.extra_info.update(T=T, N=N, C=C, H=H, gemm_flops=flops, threads=fr.get_num_threads())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cell", CELLS)
def test_forward(benchmark, cell, shape):
    layer, x, _ = make_case(cell, shape)
    layer.eval()
    record(benchmark, cell, shape, "forward")
    y, _ = benchmark(layer, x)
    T, N, _, H = SHAPES[shape]
    assert y.shape == (T, N, H)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cell", CELLS)
def test_training_step(benchmark, cell, shape):
    layer, x, dy = make_case(cell, shape)
    layer.train()

    def step():
        layer(x)
        return layer.backward(dy)

    record(benchmark, cell, shape, "training")
    dx, _ = benchmark(step)
    assert dx.shape == x.shape
    assert np.isfinite(layer.grads["weight_hh_l0"]).all()
