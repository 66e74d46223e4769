"""Files and pickles from strangers (issue 19): fr.load refuses every malformed or hostile .npz with a
ValueError naming the path, before it inflates a member or builds a layer, at a memory cost bounded by
the file (tracemalloc measures each load); unpickling re-checks every option; every option survives
fr.save / fr.load and pickle. The hostile files are made here, in tmp_path, small on disk."""

from __future__ import annotations

import copyreg
import io
import json
import os
import pickle
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

import fusedrnn as fr

HEADER = {
    "format": "fusedrnn-layer",
    "version": 1,
    "class": "LSTM",
    "dtype": "float32",
    "training": True,
    "config": {"input_size": 2, "hidden_size": 3},
}
# A refused load of a small crafted file: at most this much memory traced, this long.
SMALL_FILE_PEAK = 2 << 20
SLOW = 2.0


def npy(descr: str, shape: tuple, data: bytes | None = None, fortran: bool = False) -> bytes:
    """A .npy member as numpy writes it (version 1.0), with any descr and shape (lies included)."""
    text = repr({"descr": descr, "fortran_order": fortran, "shape": shape}) + " "
    text += " " * (-(10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin-1") + (data or b"")


def header_npy(header: object) -> bytes:
    text = header if isinstance(header, str) else json.dumps(header)
    return npy(f"<U{len(text)}", (), text.encode("utf-32-le"))


def parameters(layer) -> dict[str, bytes]:
    return {f"{k}.npy": npy(v.dtype.str, v.shape, v.tobytes()) for k, v in layer.state_dict().items()}


def write_zip(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def small_lstm() -> fr.LSTM:
    return fr.LSTM(2, 3, seed=0)


def valid_members(header=None, layer=None) -> dict[str, bytes]:
    return {
        "__fusedrnn__.npy": header_npy(HEADER if header is None else header),
        **parameters(layer or small_lstm()),
    }


def measured_load(path):
    """(the exception fr.load raised or None, peak traced bytes, seconds)."""
    tracemalloc.start()
    start = time.perf_counter()
    error = None
    try:
        fr.load(path)
    except Exception as err:  # noqa: BLE001 - the test inspects its type
        error = err
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return error, peak, seconds


def with_config(**changes) -> dict:
    return {**HEADER, "config": {**HEADER["config"], **changes}}


# --- crafted .npz files: (what, file bytes maker, a fragment the message must contain) ---------------


def zip_bytes(members, compression=zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def flip_crc(data: bytes) -> bytes:
    # The first member's data: flip a byte inside the weight bytes (the CRC stays the old one).
    at = data.index(b"weight_ih_l0.npy") + len("weight_ih_l0.npy") + 140
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def patch_directory_size(data: bytes, name: str, size: int) -> bytes:
    """The central directory's uncompressed size of member name set to size (a lie)."""
    at = data.index(b"PK\x01\x02")
    while True:
        (length,) = struct.unpack("<H", data[at + 28 : at + 30])
        if data[at + 46 : at + 46 + length] == name.encode():
            return data[: at + 24] + struct.pack("<I", size) + data[at + 28 :]
        extra, comment = struct.unpack("<HH", data[at + 30 : at + 34])
        at += 46 + length + extra + comment


def set_end_record(data: bytes, entries: int) -> bytes:
    at = data.rindex(b"PK\x05\x06")
    return data[: at + 8] + struct.pack("<HH", entries, entries) + data[at + 12 :]


def deep_json(depth: int) -> str:
    return '{"format": ' + "[" * depth + "]" * depth + "}"


CASES = [
    ("empty file", lambda: b"", "not a readable .npz"),
    ("not a zip", lambda: b"not a zip at all" * 10, "not a readable .npz"),
    ("PK only", lambda: b"PK", "not a readable .npz"),
    ("end record only", lambda: b"PK\x05\x06" + b"\0" * 18, "fusedrnn layer file"),
    ("truncated", lambda: zip_bytes(valid_members())[:-40], "not a readable .npz"),
    ("truncated half", lambda: zip_bytes(valid_members())[:300], "not a readable .npz"),
    ("bad CRC", lambda: flip_crc(zip_bytes(valid_members())), "CRC"),
    ("foreign archive", lambda: zip_bytes({"a.npy": npy("<f8", (3,), bytes(24))}), "no __fusedrnn__"),
    ("foreign zip", lambda: zip_bytes({"readme.txt": b"hello"}), "no __fusedrnn__"),
    # the header
    ("header not JSON", lambda: zip_bytes(valid_members("{not json")), "not valid JSON"),
    ("JSON nested 10000 deep", lambda: zip_bytes(valid_members(deep_json(10_000))), "nests deeper"),
    ("JSON nested 14 deep", lambda: zip_bytes(valid_members(deep_json(7))), "not a fusedrnn layer file"),
    ("JSON a list", lambda: zip_bytes(valid_members("[1, 2]")), "not a fusedrnn layer file"),
    ("JSON duplicate key", lambda: zip_bytes(valid_members('{"format": 1, "format": 2}')), "twice"),
    ("header too long", lambda: zip_bytes(valid_members(" " * 70_000 + "{}")), "not a layer file's header"),
    (
        "header a float array",
        lambda: zip_bytes({**valid_members(), "__fusedrnn__.npy": npy("<f8", (1,), bytes(8))}),
        "not a JSON string",
    ),
    (
        "header shape lies",
        lambda: zip_bytes({**valid_members(), "__fusedrnn__.npy": npy("<U9", (10**12,), bytes(36))}),
        "not a JSON string",
    ),
    (
        "header is bytes",
        lambda: zip_bytes({**valid_members(), "__fusedrnn__.npy": npy("|S9", (), b"{}       ")}),
        "not a JSON string",
    ),
    (
        "header bad UTF-32",
        lambda: zip_bytes({**valid_members(), "__fusedrnn__.npy": npy("<U1", (), b"\xff\xff\xff\xff")}),
        "is corrupt",
    ),
    ("version true", lambda: zip_bytes(valid_members({**HEADER, "version": True})), "format version"),
    ("version 99", lambda: zip_bytes(valid_members({**HEADER, "version": 99})), "format version 99"),
    ("class a list", lambda: zip_bytes(valid_members({**HEADER, "class": ["LSTM"]})), "unknown layer class"),
    ("class Dense", lambda: zip_bytes(valid_members({**HEADER, "class": "Dense"})), "unknown layer class"),
    (
        "unknown header key",
        lambda: zip_bytes(valid_members({**HEADER, "exec": "rm"})),
        "unknown header entries",
    ),
    (
        "config a list",
        lambda: zip_bytes(valid_members({**HEADER, "config": [2, 3]})),
        "config: expected a JSON object",
    ),
    (
        "dtype a structured type",
        lambda: zip_bytes(valid_members({**HEADER, "dtype": "S1000000000"})),
        "dtype",
    ),
    ("dtype in config", lambda: zip_bytes(valid_members(with_config(dtype="float32"))), "dtype belongs"),
    (
        "training 'no'",
        lambda: zip_bytes(valid_members({**HEADER, "training": "no"})),
        "training: expected a bool",
    ),
    (
        "weight format int4",
        lambda: zip_bytes(valid_members({**HEADER, "weight_format": "int4"})),
        "weight format",
    ),
    (
        "int8 in training mode",
        lambda: zip_bytes(valid_members({**HEADER, "weight_format": "int8"})),
        "inference-only",
    ),
    ("unknown option", lambda: zip_bytes(valid_members(with_config(seed=3))), "unknown LSTM option"),
    (
        "batch_first=7",
        lambda: zip_bytes(valid_members(with_config(batch_first=7))),
        "batch_first: expected a bool",
    ),
    (
        "stateful='yes'",
        lambda: zip_bytes(valid_members(with_config(stateful="yes"))),
        "stateful: expected a bool",
    ),
    (
        "dropout=5.0",
        lambda: zip_bytes(valid_members(with_config(dropout=5.0))),
        "dropout: expected a probability",
    ),
    (
        "dropout NaN",
        lambda: zip_bytes(valid_members(json.dumps(with_config(dropout=float("nan"))))),
        "dropout",
    ),
    (
        "recurrent_dropout=-1",
        lambda: zip_bytes(valid_members(with_config(recurrent_dropout=-1))),
        "recurrent_dropout",
    ),
    (
        "merge_mode sum one-way",
        lambda: zip_bytes(valid_members(with_config(merge_mode="sum"))),
        "needs bidirectional",
    ),
    ("activation swish", lambda: zip_bytes(valid_members(with_config(activation="swish"))), "activation"),
    ("init 3", lambda: zip_bytes(valid_members(with_config(init=3))), "init"),
    (
        "hidden_size 1.5",
        lambda: zip_bytes(valid_members(with_config(hidden_size=1.5))),
        "hidden_size: expected an int",
    ),
    ("hidden_size 0", lambda: zip_bytes(valid_members(with_config(hidden_size=0))), "hidden_size"),
    ("hidden_size 10**100", lambda: zip_bytes(valid_members(with_config(hidden_size=10**100))), "limits"),
    (
        "hidden_size 4000 digits",
        lambda: zip_bytes(
            valid_members(
                '{"format": "fusedrnn-layer", "version": 1, "class": "LSTM", "config": {"hidden_size": '
                + "9" * 5000
                + "}}"
            )
        ),
        "not valid JSON",
    ),
    (
        "proj_size = hidden_size",
        lambda: zip_bytes(
            {**valid_members(with_config(proj_size=3)), "weight_hr_l0.npy": npy("<f4", (3, 3), bytes(36))}
        ),
        "proj_size",
    ),
    (
        "input_size missing",
        lambda: zip_bytes(valid_members({**HEADER, "config": {"hidden_size": 3}})),
        "input_size is missing",
    ),
    # the declared model against the members
    (
        "4096 layers, no members",
        lambda: zip_bytes(
            {"__fusedrnn__.npy": header_npy(with_config(input_size=1400, hidden_size=1400, num_layers=4096))}
        ),
        "declares 16384 arrays",
    ),
    (
        "hidden 12000, small members",
        lambda: zip_bytes(valid_members(with_config(hidden_size=12000))),
        "do not match",
    ),
    (
        "a layer past the limits",
        lambda: zip_bytes(valid_members(with_config(input_size=2**40, hidden_size=2**20))),
        "limit",
    ),
    (
        "a member missing",
        lambda: zip_bytes({k: v for k, v in valid_members().items() if k != "bias_hh_l0.npy"}),
        "do not match",
    ),
    (
        "a member renamed",
        lambda: zip_bytes(
            {(k if k != "bias_hh_l0.npy" else "../bias_hh_l0.npy"): v for k, v in valid_members().items()}
        ),
        "unexpected ['../bias_hh_l0.npy']",
    ),
    (
        "member dtype float64",
        lambda: zip_bytes({**valid_members(), "bias_hh_l0.npy": npy("<f8", (12,), bytes(96))}),
        "bias_hh_l0 is float64",
    ),
    (
        "member big-endian",
        lambda: zip_bytes({**valid_members(), "bias_hh_l0.npy": npy(">f4", (12,), bytes(48))}),
        "bias_hh_l0 is >f4",
    ),
    (
        "member object dtype",
        lambda: zip_bytes({**valid_members(), "bias_hh_l0.npy": npy("|O", (12,), bytes(96))}),
        "bias_hh_l0 is |O",
    ),
    (
        "member bytes dtype",
        lambda: zip_bytes({**valid_members(), "bias_hh_l0.npy": npy("|S4", (12,), bytes(48))}),
        "bias_hh_l0 is |S4",
    ),
    (
        "member shape",
        lambda: zip_bytes({**valid_members(), "bias_hh_l0.npy": npy("<f4", (6, 2), bytes(48))}),
        "do not match",
    ),
    (
        "member declares 4 TiB",
        lambda: zip_bytes({**valid_members(), "bias_hh_l0.npy": npy("<f4", (2**40,), bytes(48))}),
        "do not match",
    ),
    (
        "member short",
        lambda: zip_bytes({**valid_members(), "bias_hh_l0.npy": npy("<f4", (12,), bytes(20))}),
        "bytes, its .npy header says",
    ),
    (
        "member long",
        lambda: zip_bytes({**valid_members(), "bias_hh_l0.npy": npy("<f4", (12,), bytes(200))}),
        "bytes, its .npy header says",
    ),
    (
        "member 1 MB too long",
        lambda: zip_bytes(
            {**valid_members(), "bias_hh_l0.npy": npy("<f4", (12,), bytes(1 << 20))}, zipfile.ZIP_DEFLATED
        ),
        "inflates to",
    ),
    (
        "member not .npy",
        lambda: zip_bytes({**valid_members(), "bias_hh_l0.npy": b"garbage" * 10}),
        "not a .npy array",
    ),
    (
        "npy header 60 KB",
        lambda: zip_bytes(
            {**valid_members(), "bias_hh_l0.npy": b"\x93NUMPY\x02\x00" + struct.pack("<I", 60000) + b" " * 60}
        ),
        "npy header of 60000",
    ),
    (
        "member 60 KB",
        lambda: zip_bytes({**valid_members(), "bias_hh_l0.npy": npy("<f4", (12,), bytes(60000))}),
        "inflates to",
    ),
    (
        "npy header nested",
        lambda: zip_bytes(
            {
                **valid_members(),
                "bias_hh_l0.npy": b"\x93NUMPY\x01\x00" + struct.pack("<H", 2000) + b"(" * 1000 + b")" * 1000,
            }
        ),
        "malformed .npy header",
    ),
    (
        "npy header a call",
        lambda: zip_bytes(
            {
                **valid_members(),
                "bias_hh_l0.npy": b"\x93NUMPY\x01\x00" + struct.pack("<H", 20) + b"__import__('os')    ",
            }
        ),
        "malformed .npy header",
    ),
    (
        "npy shape negative",
        lambda: zip_bytes({**valid_members(), "bias_hh_l0.npy": npy("<f4", (-12,), bytes(48))}),
        "malformed .npy header",
    ),
    (
        "npy shape bools",
        lambda: zip_bytes({**valid_members(), "bias_hh_l0.npy": npy("<f4", (True,) * 12, bytes(48))}),
        "malformed .npy header",
    ),
    # the zip directory
    (
        "65535 members claimed",
        lambda: set_end_record(zip_bytes(valid_members()), 0xFFFF),
        "more than any layer file",
    ),
    (
        "directory size lies",
        lambda: patch_directory_size(zip_bytes(valid_members()), "bias_hh_l0.npy", 60),
        "CRC",
    ),
]


@pytest.mark.parametrize(("what", "make", "match"), CASES, ids=[c[0] for c in CASES])
def test_crafted_files_are_refused_cheaply_with_a_value_error(tmp_path, what, make, match):
    path = tmp_path / "hostile.npz"
    path.write_bytes(make())
    error, peak, seconds = measured_load(path)
    assert type(error) is ValueError, f"{what}: {type(error).__name__}: {error}"
    assert str(error).startswith(f"path: {str(path)!r}"), str(error)
    assert match in str(error), str(error)
    assert peak < SMALL_FILE_PEAK, f"{what}: {peak} bytes"
    assert seconds < SLOW, f"{what}: {seconds:.2f} s"


def test_duplicate_and_encrypted_members(tmp_path):
    members = valid_members()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr("bias_hh_l0.npy", members["bias_hh_l0.npy"])
    path = tmp_path / "twice.npz"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="appears twice"):
        fr.load(path)
    data = zip_bytes(members)
    at = data.index(b"PK\x01\x02")  # the first central directory entry: set its encryption bit
    (flags,) = struct.unpack("<H", data[at + 8 : at + 10])
    path.write_bytes(data[: at + 8] + struct.pack("<H", flags | 1) + data[at + 10 :])
    with pytest.raises(ValueError, match="encrypted"):
        fr.load(path)


def test_a_member_that_inflates_to_gigabytes_is_never_inflated(tmp_path):
    # 64 MiB of zeros deflated to ~64 KB, under a name the layer does not have and under one it has:
    # both are refused from the zip directory alone.
    for name in ("extra.npy", "bias_hh_l0.npy"):
        path = tmp_path / "bomb.npz"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for member, data in valid_members().items():
                if member != name:
                    archive.writestr(member, data)
            with archive.open(name, "w", force_zip64=True) as stream:
                stream.write(npy("<f4", (12,)))
                zeros = bytes(1 << 20)
                for _ in range(64):
                    stream.write(zeros)
        assert path.stat().st_size < 1 << 20
        error, peak, seconds = measured_load(path)
        assert type(error) is ValueError and ("do not match" in str(error) or "inflates to" in str(error))
        assert peak < SMALL_FILE_PEAK and seconds < SLOW, (peak, seconds)


def test_a_legitimate_load_needs_about_twice_the_parameters_at_most(tmp_path):
    layer = fr.LSTM(64, 256, num_layers=2, bidirectional=True, seed=0)
    path = tmp_path / "legit.npz"
    fr.save(layer, path)
    parameter_bytes = sum(p.nbytes for p in layer.parameters())
    tracemalloc.start()
    back = fr.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # The parameters and the (zero) gradients of a training-mode layer, and a little more.
    assert peak < 2.1 * parameter_bytes, peak / parameter_bytes
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)


def test_a_compressed_or_fortran_ordered_file_loads(tmp_path, rng):
    layer = fr.GRU(3, 4, num_layers=2, seed=1)
    members = valid_members(
        {**HEADER, "class": "GRU", "config": {"input_size": 3, "hidden_size": 4, "num_layers": 2}}, layer
    )
    weight = layer.weight_hh_l1
    members["weight_hh_l1.npy"] = npy(
        "<f4", weight.shape, np.asfortranarray(weight).tobytes(order="F"), fortran=True
    )
    path = tmp_path / "compressed.npz"
    write_zip(path, members, zipfile.ZIP_DEFLATED)
    back = fr.load(path)
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)
        assert back.state_dict()[key].flags.c_contiguous


def test_missing_directory_and_non_path_arguments(tmp_path):
    with pytest.raises(FileNotFoundError):
        fr.load(tmp_path / "missing.npz")
    with pytest.raises(IsADirectoryError):
        fr.load(tmp_path)
    with pytest.raises(TypeError):
        fr.load(3)  # type: ignore[arg-type]


# --- every option round-trips ------------------------------------------------------------------------

OPTION_LAYERS = [
    lambda: fr.LSTM(
        3,
        5,
        num_layers=2,
        bias=False,
        batch_first=True,
        dropout=0.25,
        bidirectional=True,
        proj_size=2,
        activation="relu",
        recurrent_activation="hard_sigmoid",
        recurrent_dropout=0.5,
        init="keras",
        merge_mode="ave",
        stateful=True,
        dtype=np.float64,
        seed=0,
    ),
    lambda: fr.GRU(
        2,
        4,
        reset_after=False,
        activation="linear",
        recurrent_activation="tanh",
        init="orthogonal",
        bidirectional=True,
        merge_mode="mul",
        stateful=True,
        seed=1,
    ).eval(),
    lambda: fr.RNN(
        2, 3, num_layers=3, nonlinearity="relu", init="identity", dropout=1.0, stateful=True, seed=2
    ),
    lambda: fr.LSTM(16, 64, seed=3).eval().quantized("int8"),
    lambda: fr.GRU(16, 64, stateful=True, seed=4).eval().quantized("bf16"),
    lambda: fr.LSTM(3, 8, num_layers=2, bidirectional=True, proj_size=5, compute_dtype="bfloat16", seed=5),
]
CHECKED = (
    "input_size",
    "hidden_size",
    "num_layers",
    "bias",
    "batch_first",
    "dropout",
    "bidirectional",
    "recurrent_dropout",
    "init",
    "merge_mode",
    "stateful",
    "dtype",
    "training",
    "weight_format",
    "activation",
    "compute_dtype",
)


@pytest.mark.parametrize("make", OPTION_LAYERS)
def test_every_option_survives_save_load_and_pickle(tmp_path, make, rng):
    layer = make()
    path = tmp_path / "layer.npz"
    fr.save(layer, path)
    x = rng.standard_normal((4, 2, layer.input_size))
    copies = [fr.load(path), pickle.loads(pickle.dumps(layer))]
    for back in copies:
        assert type(back) is type(layer) and repr(back) == repr(layer)
        for key in CHECKED + ("recurrent_activation", "proj_size", "reset_after", "nonlinearity"):
            if hasattr(layer, key):
                assert getattr(back, key) == getattr(layer, key), key
        assert back.layer_formats == layer.layer_formats
    for back in [layer, *copies]:
        back.train(False)
    for back in copies:
        layer.reset_state()
        np.testing.assert_array_equal(back(x)[0], layer(x)[0])
        np.testing.assert_array_equal(back(x)[0], layer(x)[0])  # stateful: the second call too


# --- tampered pickles ----------------------------------------------------------------------------------


class Forged:
    """Pickles as a layer of cls with the given state (what an attacker's pickle of a layer holds)."""

    def __init__(self, cls, state):
        self.cls, self.state = cls, state

    def __reduce__(self):
        return (copyreg._reconstructor, (self.cls, object, None), self.state)


TAMPERED = [
    ("merge_mode sum one-way", {"merge_mode": "sum"}, "needs bidirectional"),
    ("dropout 5", {"dropout": 5.0}, "dropout: expected a probability"),
    ("recurrent_dropout -1", {"recurrent_dropout": -1}, "recurrent_dropout"),
    ("batch_first 7", {"batch_first": 7}, "batch_first: expected a bool"),
    ("training no", {"training": "no"}, "training: expected a bool"),
    ("stateful 1", {"stateful": 1}, "stateful"),
    ("hidden_size 5", {"hidden_size": 5}, "_params"),
    ("num_layers 0", {"num_layers": 0}, "num_layers"),
    ("init evil", {"init": "evil"}, "init"),
    ("activation", {"activation": "swish"}, "activation"),
    ("dtype complex", {"dtype": np.dtype(np.complex64)}, "dtype"),
    ("unknown key", {"__class__": int}, "unknown LSTM option"),
    ("rng", {"_rng": "not a generator"}, "_rng"),
    ("weight format", {"_weight_format": "int4"}, "weight format"),
    ("compute_dtype float16", {"compute_dtype": "float16"}, "compute_dtype: expected"),
    ("compute_dtype an object", {"compute_dtype": object()}, "compute_dtype: expected"),
    ("compute_dtype float64", {"compute_dtype": "bfloat16", "dtype": "float64"}, "needs dtype float32"),
    (
        "compute_dtype int8",
        {"compute_dtype": "bfloat16", "_weight_format": "int8", "training": False, "grads": {}},
        "compute_dtype",
    ),
    ("int8 training", {"_weight_format": "int8"}, "inference-only"),
    ("cell", {"_cell": "gru"}, "_cell"),
    ("params a list", {"_params": [1, 2]}, "_params: expected a mapping"),
    ("params missing", {"_params": {}}, "missing"),
    ("params float64", {"_params": "float64"}, "is float64"),
    ("params shape", {"_params": "shape"}, "expected shape"),
    ("params lists", {"_params": "lists"}, "expected an array"),
    ("grads shape", {"grads": "shape"}, "expected shape"),
]


@pytest.mark.parametrize(("what", "change", "match"), TAMPERED, ids=[t[0] for t in TAMPERED])
def test_tampered_pickles_are_refused(what, change, match):
    layer = fr.LSTM(2, 4, seed=0)
    state = layer.__getstate__()
    state = {**state, "_params": dict(state["_params"]), "grads": dict(layer.grads)}
    for key, value in change.items():
        if key in ("_params", "grads") and isinstance(value, str):
            arrays = state[key]
            if value == "float64":
                arrays["weight_hh_l0"] = arrays["weight_hh_l0"].astype(np.float64)
            elif value == "shape":
                arrays["weight_hh_l0"] = arrays["weight_hh_l0"][:4]
            else:
                arrays["weight_hh_l0"] = arrays["weight_hh_l0"].tolist()
        else:
            state[key] = value
    data = pickle.dumps(Forged(fr.LSTM, state))
    with pytest.raises(ValueError, match=match) as info:
        pickle.loads(data)
    assert str(info.value).startswith("pickled state: ")


def test_a_pickle_carries_gradients_only_when_some_are_nonzero(rng):
    # Unpickling makes zero gradients: a layer never trained pickles at the size of its parameters.
    layer = fr.LSTM(64, 256, seed=0)
    params = sum(p.nbytes for p in layer.parameters())
    fresh = pickle.dumps(layer)
    assert len(fresh) < 1.2 * params
    again = pickle.loads(fresh)
    for g, p in zip(again.grads.values(), again.parameters(), strict=True):
        assert g.shape == p.shape and not g.any()
    y, _ = layer(rng.standard_normal((3, 2, 64)).astype(np.float32))
    layer.backward(np.ones_like(y))
    trained = pickle.dumps(layer)
    assert len(trained) > 2 * params
    again = pickle.loads(trained)
    for name, g in layer.grads.items():
        np.testing.assert_array_equal(again.grads[name], g)


def test_pickles_of_earlier_versions_still_load():
    # fusedrnn 0.1 pickled no init / merge_mode / stateful / activations, and named an RNN's cell.
    rnn = fr.RNN(2, 3, nonlinearity="relu", seed=0)
    state = {
        k: v
        for k, v in rnn.__getstate__().items()
        if k
        in (
            "input_size",
            "hidden_size",
            "num_layers",
            "bias",
            "batch_first",
            "bidirectional",
            "dtype",
            "training",
            "_params",
            "grads",
            "nonlinearity",
        )
    }
    back = pickle.loads(pickle.dumps(Forged(fr.RNN, {**state, "_cell": "rnn_relu"})))
    assert repr(back) == repr(rnn)
    gru = fr.GRU(2, 3, reset_after=False, seed=0)
    assert pickle.loads(pickle.dumps(gru)).reset_after is False
    with pytest.raises(ValueError, match="_cell"):
        pickle.loads(pickle.dumps(Forged(fr.GRU, {**gru.__getstate__(), "_cell": "gru"})))


def test_an_old_file_without_the_newer_options_loads(tmp_path):
    header = {**HEADER, "config": {k: v for k, v in {**HEADER["config"], "num_layers": 1}.items()}}
    path = tmp_path / "old.npz"
    write_zip(path, valid_members(header))
    assert fr.load(path).stateful is False
    assert not os.path.exists(tmp_path / "old.npz.npz")


@pytest.mark.parametrize("compressed", [False, True])
def test_mutated_valid_files_give_a_layer_or_a_value_error(tmp_path, compressed):
    # 300 mutations of a valid file (bytes flipped, runs zeroed, truncations, insertions): fr.load either
    # makes a layer or raises ValueError, never anything else, each cheaply.
    layer = fr.GRU(3, 4, num_layers=2, bidirectional=True, seed=0)
    source = tmp_path / "valid.npz"
    fr.save(layer, source)
    data = source.read_bytes()
    if compressed:
        with zipfile.ZipFile(source) as archive:
            members = {info.filename: archive.read(info) for info in archive.infolist()}
        data = zip_bytes(members, zipfile.ZIP_DEFLATED)
    rng = np.random.default_rng(19)
    path = tmp_path / "mutated.npz"
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(300):
        mutated = bytearray(data)
        kind = rng.integers(4)
        at = int(rng.integers(len(data)))
        if kind == 0:
            for k in rng.integers(len(data), size=int(rng.integers(1, 8))):
                mutated[k] ^= 1 << int(rng.integers(8))
        elif kind == 1:
            mutated[at : at + int(rng.integers(1, 64))] = bytes(min(64, len(data) - at))[
                : len(mutated[at : at + 64])
            ]
        elif kind == 2:
            del mutated[at:]
        else:
            mutated[at:at] = rng.bytes(int(rng.integers(1, 32)))
        path.write_bytes(bytes(mutated))
        error, peak, seconds = measured_load(path)
        assert error is None or type(error) is ValueError, f"{type(error).__name__}: {error}"
        assert peak < SMALL_FILE_PEAK and seconds < SLOW
        outcomes["loaded" if error is None else "refused"] += 1
    assert outcomes["refused"] > 200
