"""fr.save / fr.load: exact round trip of configuration, parameters, dtype and mode in a pickle-free
.npz; corrupt or mismatched files refused with a clear error; layers also pickle and deepcopy."""

import copy
import json
import pickle

import numpy as np
import pytest

import fusedrnn as fr

LAYERS = [
    lambda: fr.LSTM(
        3,
        6,
        num_layers=2,
        bidirectional=True,
        proj_size=2,
        dtype=np.float64,
        activation="relu",
        dropout=0.2,
        recurrent_dropout=0.1,
        batch_first=True,
        seed=1,
    ),
    lambda: fr.GRU(3, 5, reset_after=False, bias=False, init="keras", seed=2).eval(),
    lambda: fr.RNN(2, 4, nonlinearity="relu", seed=3),
]


@pytest.mark.parametrize("make", LAYERS)
def test_round_trip(tmp_path, make, rng):
    layer = make()
    path = tmp_path / "layer.npz"
    fr.save(layer, path)
    back = fr.load(path)
    assert type(back) is type(layer) and repr(back) == repr(layer) and back.training == layer.training
    assert back.dtype == layer.dtype
    for (k1, a), (k2, b) in zip(layer.state_dict().items(), back.state_dict().items(), strict=True):
        assert k1 == k2
        np.testing.assert_array_equal(a, b)
    x = rng.standard_normal((4, 3, layer.input_size))
    layer.eval()
    back.eval()
    np.testing.assert_array_equal(layer(x)[0], back(x)[0])
    with np.load(path, allow_pickle=False) as archive:  # readable without fusedrnn, no pickle
        header = json.loads(str(archive["__fusedrnn__"][()]))
    assert header["format"] == "fusedrnn-layer" and header["class"] == type(layer).__name__


def test_refuses_bad_files(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="path: .* is not a readable .npz archive"):
        fr.load(bad)
    with pytest.raises(FileNotFoundError):
        fr.load(tmp_path / "missing.npz")
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a fusedrnn layer file"):
        fr.load(other)
    good = tmp_path / "good.npz"
    fr.save(fr.LSTM(2, 3), good)
    with np.load(good) as archive:
        entries = dict(archive)
    header = json.loads(str(entries["__fusedrnn__"][()]))
    changes = [({"version": 99}, "format version 99"), ({"class": "Dense"}, "unknown layer class")]
    for change, match in changes:
        forged = np.array(json.dumps({**header, **change}))
        np.savez(tmp_path / "x.npz", **{**entries, "__fusedrnn__": forged})
        with pytest.raises(ValueError, match=match):
            fr.load(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", **{**entries, "weight_hh_l0": np.zeros((12, 2), np.float32)})
    with pytest.raises(ValueError, match="parameters do not match"):
        fr.load(tmp_path / "y.npz")
    np.savez(tmp_path / "z.npz", **{**entries, "weight_hh_l0": entries["weight_hh_l0"].astype(np.float64)})
    with pytest.raises(ValueError, match="weight_hh_l0 is float64"):
        fr.load(tmp_path / "z.npz")
    with pytest.raises(TypeError, match="layer: expected a fusedrnn"):
        fr.save({"weight": np.zeros(2)}, tmp_path / "w.npz")


@pytest.mark.parametrize("make", LAYERS)
def test_pickle_and_deepcopy(make, rng):
    layer = make()
    x = rng.standard_normal((3, 2, layer.input_size))
    for other in (pickle.loads(pickle.dumps(layer)), copy.deepcopy(layer)):
        assert repr(other) == repr(layer)
        other.eval()
        np.testing.assert_array_equal(other(x)[0], copy.deepcopy(layer).eval()(x)[0])
