"""One interface over the three recurrent layers, for tests whose behaviour holds for every cell.

LSTM carries a pair of states (h, c) and takes / returns them as tuples; GRU and RNN carry h alone. Here
every call takes and returns h and c separately (c is None for GRU and RNN), in the layer API and in
fusedrnn.functional, so that one test body covers all three:

    @pytest.mark.parametrize("cell", CELLS, ids=str)
    def test_something(cell):
        layer = cell.layer(C, H, seed=0)
        y, h_n, c_n = cell.forward(layer, x, h0, c0)
"""

from typing import NamedTuple

import fusedrnn as fr
from fusedrnn import functional as F


class Cell(NamedTuple):
    name: str  # "lstm", "gru", "rnn"
    layer: type  # fr.LSTM, fr.GRU, fr.RNN
    gates: int  # gate blocks of every weight and bias (their rows are gates * hidden_size)
    has_c: bool  # whether the cell has a cell state c

    def __str__(self):
        return self.name

    def hx(self, h0=None, c0=None):
        """The state argument of a layer or functional call: (h0, c0) for LSTM, h0 otherwise."""
        return (h0, c0) if self.has_c else h0

    def dhx(self, dh_n=None, dc_n=None):
        return self.hx(dh_n, dc_n)

    def split(self, state):
        """(h, c) of a returned state; c is None without a cell state."""
        return tuple(state) if self.has_c else (state, None)

    def forward(self, layer, x, h0=None, c0=None, **kwargs):
        """y, h_n, c_n of a layer call."""
        y, state = layer(x, self.hx(h0, c0), **kwargs)
        return (y, *self.split(state))

    def backward(self, layer, dy=None, dh_n=None, dc_n=None):
        """dx, dh0, dc0 of a layer's backward."""
        dx, state = layer.backward(dy, self.dhx(dh_n, dc_n))
        return (dx, *self.split(state))

    def functional(self, x, params, h0=None, c0=None, **kwargs):
        """y, h_n, c_n, cache of fusedrnn.functional.<cell>."""
        y, state, cache = getattr(F, self.name)(x, params, self.hx(h0, c0), **kwargs)
        return (y, *self.split(state), cache)

    def functional_backward(self, cache, dy, dh_n=None, dc_n=None, **kwargs):
        """dx, dh0, dc0, grads of fusedrnn.functional.<cell>_backward."""
        dx, state, grads = getattr(F, self.name + "_backward")(cache, dy, self.dhx(dh_n, dc_n), **kwargs)
        return (dx, *self.split(state), grads)


CELLS = [
    Cell(name, layer, fr._core.cells[name]["gates"], fr._core.cells[name]["has_cell_state"])
    for name, layer in (("lstm", fr.LSTM), ("gru", fr.GRU), ("rnn", fr.RNN))
]
LSTM = CELLS[0]
