"""Helpers shared by the tests: random parameters, input/output shapes, central finite differences."""

import numpy as np

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
