"""Gradient clipping (PyTorch's semantics, checked against torch.nn.utils when torch is installed) and the
initialisers (fr.init functions and the layers' init= schemes)."""

import numpy as np
import pytest

import fusedrnn as fr


def grads_of(rng, dtype=np.float32):
    return {"a": rng.standard_normal((5, 3)).astype(dtype) * 4, "b": rng.standard_normal(7).astype(dtype)}


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(rng, norm_type, max_norm):
    torch = pytest.importorskip("torch")
    grads = grads_of(rng)
    tensors = []
    for g in grads.values():
        t = torch.zeros(g.shape, requires_grad=True)
        t.grad = torch.tensor(g.copy())
        tensors.append(t)
    want = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type=norm_type)
    total = fr.clip_grad_norm_(grads, max_norm, norm_type=norm_type)
    assert total == pytest.approx(float(want), rel=1e-5)
    for g, t in zip(grads.values(), tensors, strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_on_a_layer_and_nonfinite(rng):
    lstm = fr.LSTM(3, 4, seed=0)
    y, _ = lstm(rng.standard_normal((5, 2, 3)))
    lstm.backward(np.ones_like(y) * 100)
    total = fr.clip_grad_norm_(lstm.grads, 1.0)
    assert total > 1.0
    after = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in lstm.grads.values()))
    assert after == pytest.approx(1.0, rel=1e-4)
    grads = grads_of(rng)
    grads["a"][0, 0] = np.nan
    with pytest.raises(RuntimeError, match="total norm"):
        fr.clip_grad_norm_(grads, 1.0, error_if_nonfinite=True)
    with pytest.raises(TypeError, match=r"grads\[0\]"):
        fr.clip_grad_norm_([[1.0, 2.0]], 1.0)
    with pytest.raises(ValueError, match="max_norm"):
        fr.clip_grad_norm_(grads_of(rng), -1)


def test_clip_grad_value(rng):
    grads = grads_of(rng)
    expected = {k: np.clip(v, -0.3, 0.3) for k, v in grads.items()}
    fr.clip_grad_value_(grads, 0.3)
    for k in grads:
        np.testing.assert_array_equal(grads[k], expected[k])
    with pytest.raises(ValueError, match="clip_value"):
        fr.clip_grad_value_(grads, -1)


def test_init_functions(rng):
    w = np.empty((12, 4))
    fr.init.orthogonal_(w, rng=1)
    np.testing.assert_allclose(w.T @ w, np.eye(4), atol=1e-12)  # orthonormal columns
    w2 = np.empty((3, 8))
    fr.init.orthogonal_(w2, gain=2.0, rng=1)
    np.testing.assert_allclose(w2 @ w2.T, 4 * np.eye(3), atol=1e-12)  # orthonormal rows, times gain^2
    g = fr.init.glorot_uniform_(np.empty((200, 300), np.float32), rng=2)
    bound = np.sqrt(6 / 500)
    assert np.abs(g).max() <= bound and np.abs(g).max() > 0.95 * bound
    np.testing.assert_array_equal(fr.init.identity_(np.ones((3, 3))), np.eye(3))
    assert not fr.init.zeros_(np.ones(4)).any()
    lstm = fr.LSTM(2, 3).eval()
    with pytest.raises(ValueError, match="read-only"):
        fr.init.zeros_(lstm.weight_hh_l0)
    with pytest.raises(TypeError, match="float numpy array"):
        fr.init.zeros_([1.0])


def test_layer_init_schemes():
    keras_like = fr.LSTM(3, 4, init="keras", seed=0)
    np.testing.assert_array_equal(keras_like.bias_ih_l0, [0] * 4 + [1] * 4 + [0] * 8)  # unit forget bias
    assert not keras_like.bias_hh_l0.any()
    w = keras_like.weight_hh_l0.astype(np.float64)  # the whole [4H, H] recurrent kernel orthogonal
    np.testing.assert_allclose(w.T @ w, np.eye(4), atol=1e-6)
    irnn = fr.RNN(2, 5, nonlinearity="relu", init="identity", seed=1)
    np.testing.assert_array_equal(irnn.weight_hh_l0, np.eye(5))
    assert irnn.weight_ih_l0.std() < 0.005 and not irnn.bias_ih_l0.any()
    ortho = fr.GRU(3, 4, init="orthogonal", seed=0)
    for g in range(3):
        block = ortho.weight_hh_l0[g * 4 : (g + 1) * 4].astype(np.float64)
        np.testing.assert_allclose(block @ block.T, np.eye(4), atol=1e-6)
    torch_like = fr.LSTM(3, 4, seed=0)
    again = fr.LSTM(3, 4, init="torch", seed=0)
    np.testing.assert_array_equal(torch_like.weight_hh_l0, again.weight_hh_l0)
    assert "init='keras'" in repr(keras_like)
    with pytest.raises(ValueError, match="init: expected one of"):
        fr.LSTM(3, 4, init="he")
