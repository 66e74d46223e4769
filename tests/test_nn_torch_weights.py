"""A PyTorch model's state_dict into an fr.nn model (fr.nn.load_torch_state_dict): the module names of a
torch nn.Module (lstm.weight_ih_l0, fc.weight, ...) fill the fr.nn layers in order, and the two models
then predict the same; every mismatch is refused before anything changes."""

import numpy as np
import pytest

from fusedrnn import nn

torch = pytest.importorskip("torch")


class Forecaster(torch.nn.Module):
    """The lectures' energy model as a PyTorch user writes it."""

    def __init__(self, hidden=16, layers=1, cell="LSTM"):
        super().__init__()
        self.rnn = getattr(torch.nn, cell)(1, hidden, num_layers=layers, batch_first=True)
        self.fc = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


def torch_predict(net, X):
    with torch.no_grad():
        return net(torch.from_numpy(X)).numpy()


@pytest.fixture
def X():
    return np.random.default_rng(0).standard_normal((20, 12, 1)).astype(np.float32)


@pytest.mark.parametrize("cell,fr_cell", [("LSTM", nn.LSTM), ("GRU", nn.GRU), ("RNN", nn.SimpleRNN)])
def test_a_torch_forecaster_loads_and_predicts_the_same(X, cell, fr_cell):
    torch.manual_seed(0)
    net = Forecaster(cell=cell)
    model = nn.Sequential([fr_cell(16, input_shape=(12, 1)), nn.Dense(1)])
    assert nn.load_torch_state_dict(model, net.state_dict()) == [
        ("rnn", model.layers[0].name),
        ("fc", model.layers[1].name),
    ]
    np.testing.assert_allclose(model.predict(X, verbose=0), torch_predict(net, X), rtol=1e-5, atol=1e-6)


def test_a_torch_stack_fills_one_layer_or_one_layer_per_level(X):
    torch.manual_seed(1)
    net = Forecaster(layers=2)
    expected = torch_predict(net, X)
    one = nn.Sequential([nn.LSTM(16, num_layers=2, input_shape=(12, 1)), nn.Dense(1)])
    nn.load_torch_state_dict(one, net.state_dict())
    np.testing.assert_allclose(one.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)
    two = nn.Sequential([nn.LSTM(16, return_sequences=True, input_shape=(12, 1)), nn.LSTM(16), nn.Dense(1)])
    nn.load_torch_state_dict(two, net.state_dict())
    np.testing.assert_allclose(two.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_embedding_and_a_torch_sequential():
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Embedding(30, 8), torch.nn.Linear(8, 4))
    tokens = np.random.default_rng(1).integers(0, 30, (5, 7))
    with torch.no_grad():
        expected = net(torch.from_numpy(tokens)).numpy()
    model = nn.Sequential([nn.Embedding(30, 8, input_shape=(7,)), nn.Dense(4)])
    assert nn.load_torch_state_dict(model, net.state_dict()) == [
        ("0", model.layers[0].name),
        ("1", model.layers[1].name),
    ]
    np.testing.assert_allclose(model.predict(tokens, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_mismatches_are_refused_and_change_nothing(X):
    net = Forecaster()
    model = nn.Sequential([nn.LSTM(16, input_shape=(12, 1)), nn.Dense(1)])
    before = [w.copy() for w in model.get_weights()]
    wider = nn.Sequential([nn.LSTM(17, input_shape=(12, 1)), nn.Dense(1)])
    with pytest.raises(ValueError, match="torch module 'rnn'"):
        nn.load_torch_state_dict(wider, net.state_dict())
    state = net.state_dict()
    state["fc.weight"] = torch.zeros(1, 15)
    with pytest.raises(ValueError, match="torch module 'fc'.*weight is \\[out, in\\]"):
        nn.load_torch_state_dict(model, state)
    with pytest.raises(ValueError, match="get no weights"):
        nn.load_torch_state_dict(model, {k: v for k, v in net.state_dict().items() if k.startswith("rnn")})
    with pytest.raises(ValueError, match="no fr.nn layer left"):
        nn.load_torch_state_dict(model, {**net.state_dict(), "head.weight": torch.zeros(1, 1)})
    with pytest.raises(ValueError, match="not built"):
        nn.load_torch_state_dict(nn.Sequential([nn.LSTM(16), nn.Dense(1)]), net.state_dict())
    with pytest.raises(ValueError, match="is recurrent"):
        nn.load_torch_state_dict(
            nn.Sequential([nn.Dense(4, input_shape=(3,)), nn.Dense(1)]), net.state_dict()
        )
    with pytest.raises(TypeError, match="state_dict: expected a mapping"):
        nn.load_torch_state_dict(model, [1, 2])
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
