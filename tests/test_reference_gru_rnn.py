"""The NumPy reference for GRU and RNN against central finite differences (float64), and against
torch.nn.GRU / torch.nn.RNN when torch is installed."""

import numpy as np
import pytest
from reference_helpers import numerical_grad, random_params

from fusedrnn import reference as ref

T, N, C, H = 3, 2, 3, 4
CELLS = ["gru", "rnn_tanh", "rnn_relu"]


def make_params(rng, cell, num_layers, bidirectional, bias):
    return random_params(
        rng, "rnn" if cell.startswith("rnn") else cell, C, H, num_layers, bidirectional, bias
    )


def forward(cell, x, params, h0, **options):
    if cell == "gru":
        return ref.gru(x, params, h0, **options)
    return ref.rnn(x, params, h0, nonlinearity=cell.removeprefix("rnn_"), **options)


def backward(cell, cache, dy, dh_n):
    return (ref.gru_backward if cell == "gru" else ref.rnn_backward)(cache, dy, dh_n)


CASES = {
    # name: (num_layers, bidirectional, bias, batch_first, unbatched)
    "single": (1, False, True, False, False),
    "reverse_stack": (2, True, True, False, False),
    "no_bias": (2, False, False, False, False),
    "batch_first": (1, True, True, True, False),
    "unbatched": (2, True, True, False, True),
}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("case", list(CASES))
def test_gradients_match_finite_differences(cell, case):
    num_layers, bidirectional, bias, batch_first, unbatched = CASES[case]
    rng = np.random.default_rng(7)
    D = 2 if bidirectional else 1
    params = make_params(rng, cell, num_layers, bidirectional, bias)
    if unbatched:
        x, h0 = rng.standard_normal((T, C)), rng.standard_normal((num_layers * D, H))
    else:
        x = rng.standard_normal((N, T, C) if batch_first else (T, N, C))
        h0 = rng.standard_normal((num_layers * D, N, H))
    options = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    y, h_n, cache = forward(cell, x, params, h0, **options)
    r_y, r_h = rng.standard_normal(y.shape), rng.standard_normal(h_n.shape)

    def loss():
        y, h_n, _ = forward(cell, x, params, h0, **options)
        return np.sum(y * r_y) + np.sum(h_n * r_h)

    dx, dh0, grads = backward(cell, cache, r_y, r_h)
    assert grads.keys() == params.keys()
    checks = [("dx", dx, x), ("dh0", dh0, h0)] + [(k, grads[k], params[k]) for k in params]
    for name, analytic, arr in checks:
        np.testing.assert_allclose(analytic, numerical_grad(loss, arr), rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_empty_sequence_passes_state_through(cell):
    rng = np.random.default_rng(8)
    params = make_params(rng, cell, 1, False, True)
    h0 = rng.standard_normal((1, N, H))
    y, h_n, cache = forward(cell, np.zeros((0, N, C)), params, h0)
    assert y.shape == (0, N, H)
    np.testing.assert_array_equal(h_n, h0)
    dh_n = rng.standard_normal((1, N, H))
    dx, dh0, grads = backward(cell, cache, np.zeros((0, N, H)), dh_n)
    assert dx.shape == (0, N, C)
    np.testing.assert_array_equal(dh0, dh_n)
    assert not any(np.any(g) for g in grads.values())


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_matches_torch(cell, batch_first):
    torch = pytest.importorskip("torch")
    options = dict(num_layers=2, bidirectional=True, batch_first=batch_first)
    if cell == "gru":
        module = torch.nn.GRU(C, H, **options).double()
    else:
        module = torch.nn.RNN(C, H, nonlinearity=cell.removeprefix("rnn_"), **options).double()
    params = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
    rng = np.random.default_rng(9)
    x = rng.standard_normal((N, T, C) if batch_first else (T, N, C))
    h0 = rng.standard_normal((4, N, H))
    xt, h0t = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    yt, hnt = module(xt, h0t)
    y, h_n, cache = forward(cell, x, params, h0, **options)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_n, hnt.detach().numpy(), rtol=1e-12, atol=1e-13)
    dy, dh_n = rng.standard_normal(y.shape), rng.standard_normal(h_n.shape)
    ((yt * torch.tensor(dy)).sum() + (hnt * torch.tensor(dh_n)).sum()).backward()
    dx, dh0, grads = backward(cell, cache, dy, dh_n)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dh0, h0t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in module.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
