"""Helpers shared by the tests of the NumPy reference: random parameters and central finite differences."""

import numpy as np

from fusedrnn.functional import param_shapes

EPS = 1e-6


def random_params(rng, gates, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True):
    """Random float64 parameters with PyTorch's names and shapes (scaled to keep the gates unsaturated)."""
    shapes = param_shapes(gates, input_size, hidden_size, num_layers, bidirectional, bias)
    return {name: rng.standard_normal(shape) * 0.5 for name, shape in shapes.items()}


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
