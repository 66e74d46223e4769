"""Helpers shared by the tests: random parameters, input/output shapes, central finite differences."""

import numpy as np

import fusedrnn as fr
from fusedrnn.functional import param_shapes

EPS = 1e-6


def random_params(rng, cell, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    """Random float64 parameters with PyTorch's names and shapes (scaled to keep the gates unsaturated);
    cell: "lstm", "gru" or "rnn"."""
    shapes = param_shapes(cell, input_size, hidden_size, num_layers, bidirectional, bias)
    return {name: rng.standard_normal(shape) * 0.5 for name, shape in shapes.items()}


def io_shapes(T, N, C, H, num_layers, bidirectional, batch_first, unbatched):
    """Shapes of x, of each state ([L*D,N,H]) and of y, in the layout PyTorch's modules use."""
    D = 2 if bidirectional else 1
    if unbatched:
        return (T, C), (num_layers * D, H), (T, D * H)
    x_shape = (N, T, C) if batch_first else (T, N, C)
    y_shape = (N, T, D * H) if batch_first else (T, N, D * H)
    return x_shape, (num_layers * D, N, H), y_shape


def numerical_grad(loss, arr, eps=EPS):
    """Central differences of loss() with respect to every entry of arr (perturbed in place)."""
    grad = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + eps
        up = loss()
        arr[idx] = old - eps
        down = loss()
        arr[idx] = old
        grad[idx] = (up - down) / (2 * eps)
    return grad


def assert_grads_close(grads, want_grads, rtol, atol):
    """Every gradient of want_grads ({name: array}) matched in grads: a gradient sums over T*N terms,
    so the absolute tolerance scales with its size (atol * max(1, max|want|)), the relative one not."""
    for name, want in want_grads.items():
        assert_scaled_close(grads[name], want, rtol, atol, name)


def assert_scaled_close(got, want, rtol, atol, name=""):
    """assert_allclose with atol scaled to the size of want (atol * max(1, max|want|))."""
    np.testing.assert_allclose(got, want, err_msg=name, rtol=rtol, atol=atol * max(1.0, np.abs(want).max()))


def relative_error(got, want):
    """||got - want|| / ||want|| (Frobenius), 0 for two zero arrays."""
    norm = np.linalg.norm(np.asarray(want, np.float64))
    diff = np.linalg.norm(np.asarray(got, np.float64) - want)
    return diff / norm if norm > 0 else diff


def train_step(layer, x, hx, dy, dhx, lengths=None):
    """[y, *final states, dx, *initial-state gradients] and the parameter gradients (copies) of one
    training step of a layer (hx, dhx: tuples of states, (h,) or (h, c); None for zeros)."""
    layer.train()
    layer.zero_grad()
    if isinstance(layer, fr.LSTM):
        y, states = layer(x, hx, lengths=lengths)
        dx, dstates = layer.backward(dy, dhx)
        states, dstates = list(states), list(dstates)
    else:
        y, h_n = layer(x, None if hx is None else hx[0], lengths=lengths)
        dx, dh0 = layer.backward(dy, None if dhx is None else dhx[0])
        states, dstates = [h_n], [dh0]
    grads = {name: g.copy() for name, g in layer.grads.items()}
    return [y, *states, dx, *dstates], grads


def assert_follows_the_model(output_names, got, model, exact, tolerance):
    """got, model, exact: (outputs, gradients by name) of the kernels, a reduced-precision model and the
    exact-product model. Each result within `tolerance` (relative) of the model's, and, where that scheme
    visibly changes the quantity, under a quarter of its distance from the exact-product model's: so a
    kernel that skips a rounding, or rounds what the model does not, fails."""
    names = list(output_names) + list(got[1])

    def flat(step):
        outputs, grads = step
        return list(outputs) + [grads[name] for name in got[1]]

    for name, g, m, e in zip(names, flat(got), flat(model), flat(exact), strict=True):
        to_model, to_exact = relative_error(g, m), relative_error(g, e)
        assert to_model < tolerance, f"{name}: {to_model:.2e} from the model"
        if relative_error(m, e) > 1e-3:  # a quantity the rounding visibly changes
            assert to_model < 0.25 * to_exact, f"{name}: {to_model:.2e} from the model, {to_exact:.2e} exact"
