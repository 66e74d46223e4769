"""Saving and loading layers in a portable, documented format without pickle: a NumPy ``.npz`` archive
with one array per parameter (PyTorch's names, the layer's dtype) and ``__fusedrnn__``, a JSON string of
the format version, the class and the constructor's configuration. ``np.load(path)`` reads it anywhere,
``fr.load(path)`` makes the layer again.

    fr.save(lstm, "model.npz");  lstm2 = fr.load("model.npz")
"""

from __future__ import annotations

import ast
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import IO, Any, TypeAlias, TypeVar

import numpy as np

from . import _options
from ._recurrent import restore
from .layers import GRU, LSTM, RNN

__all__ = ["load", "save"]

# A file system path, as np.savez / np.load take it.
PathLike: TypeAlias = "str | os.PathLike[str]"

FORMAT = "fusedrnn-layer"
VERSION = 1
_HEADER_KEYS = ("format", "version", "class", "dtype", "training", "config", "weight_format")
_HEADER = "__fusedrnn__"

# Bounds a stranger's file is held to before anything is inflated (a layer file is far inside them):
# the JSON header (about 500 characters), a .npy member's own header (numpy writes 118 bytes), the
# members (the largest stack the kernels accept, 4096 layers of 2 directions with 5 arrays, and the
# header), and the brackets of the JSON (a layer's header nests 2 deep).
_MAX_HEADER_CHARS = 1 << 16
_MAX_NPY_HEADER = 4096
_MAX_MEMBERS = 1 + 4096 * 2 * 5
_MAX_BRACKETS = 16
# Members are read into their arrays this many bytes at a time (the only transient copy).
_CHUNK = 1 << 20


def _classes() -> dict[str, type[LSTM] | type[GRU] | type[RNN]]:
    return {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}


def save(layer: LSTM | GRU | RNN, path: PathLike) -> None:
    """Writes a layer to a ``.npz`` file: its configuration, parameters and dtype, whether it was in
    training mode and, for a layer made by ``quantized()``, its weight format (the float32 parameters are
    saved; loading quantises them again, which gives the same weights).

    Parameters
    ----------
    layer : LSTM, GRU or RNN
        The layer.
    path : str or os.PathLike
        The file (NumPy adds the suffix .npz when missing).

    Raises
    ------
    TypeError
        layer is not a fusedrnn LSTM, GRU or RNN.

    Examples
    --------
    >>> fr.save(lstm, "model.npz")
    >>> lstm2 = fr.load("model.npz")
    """
    name = type(layer).__name__
    if name not in _options.OPTIONS or not isinstance(layer, tuple(_classes().values())):
        raise TypeError(f"layer: expected a fusedrnn LSTM, GRU or RNN, got {type(layer).__name__}")
    config = {key: getattr(layer, key) for key in _options.OPTIONS[name] if key != "dtype"}
    header = {
        "format": FORMAT,
        "version": VERSION,
        "class": name,
        "dtype": layer.dtype.name,
        "training": layer.training,
        "config": config,
    }
    if layer.weight_format != "fp32":
        header["weight_format"] = layer.weight_format
    # Any: np.savez's stub types its keyword arguments as its own options, not as arrays.
    arrays: dict[str, Any] = {key: np.ascontiguousarray(value) for key, value in layer.state_dict().items()}
    if "__fusedrnn__" in arrays:
        raise ValueError("layer: a parameter is named __fusedrnn__")
    np.savez(os.fspath(path), __fusedrnn__=np.array(json.dumps(header)), **arrays)


def load(path: PathLike) -> LSTM | GRU | RNN:
    """The layer `save` wrote, with the same configuration, parameters, dtype and mode.

    The file is treated as coming from a stranger: the zip directory, the JSON header (every value
    checked as the constructor checks it, the sizes against the kernels' limits) and every member's
    name, declared size, dtype and shape are checked before any parameter is inflated, each member is
    read into its own array with a bounded read, and nothing is initialised at random. A load needs
    about the memory of the layer it makes (its parameters, and zero gradients in training mode); a
    file that declares more than it holds is refused in milliseconds.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.

    Returns
    -------
    LSTM, GRU or RNN

    Raises
    ------
    FileNotFoundError
        No file at path (other OSErrors of opening it, such as a directory or a permission, as they
        are).
    ValueError
        Anything but a layer file of this format, naming path: another format or version, a corrupt
        or truncated archive, a bad CRC, bad JSON, a configuration the constructor would refuse,
        missing or extra parameters, wrong shapes or dtypes, members larger than the parameters.
    """
    return read_guarded(path, _read)


_T = TypeVar("_T")


def read_guarded(path: PathLike, read: Callable[[IO[bytes], str], _T]) -> _T:
    """``read(file, where)`` on the opened file, where = "path: '...'", every failure of reading a
    stranger's archive turned into a ValueError naming the path (the one entry to this module's checks,
    also for `fusedrnn.nn.load_model`)."""
    name = os.fsdecode(os.fspath(path))
    where = f"path: {name!r}"
    with open(name, "rb") as file:
        try:
            return read(file, where)
        except ValueError as err:
            if str(err).startswith(where):
                raise
            raise ValueError(f"{where} is corrupt: {err}") from err
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, struct.error, zlib.error) as err:
            raise ValueError(f"{where} is not a readable .npz archive: {err}") from err


def _read(file: IO[bytes], where: str) -> LSTM | GRU | RNN:
    check_end_record(file, where)
    with zipfile.ZipFile(file) as archive:
        members = zip_members(archive, where)
        header_info = members.pop(_HEADER + ".npy", None)
        if header_info is None:
            raise ValueError(f"{where} is not a fusedrnn layer file (no {_HEADER} entry)")
        cls, values, mode = _check_header(read_json_header(archive, header_info, where), where)
        class_name = cls.__name__
        options = _options.check(class_name, values, where)
        dtype = np.dtype(options["dtype"])
        # Counted before the shapes are listed: a tiny file declaring 4096 layers stops here.
        per_direction = (
            (4 if options["bias"] else 2)
            + (1 if options.get("proj_size", 0) else 0)
            + (4 if options.get("layer_norm", False) else 0)  # the norms' gains and bias
        )
        declared = options["num_layers"] * (2 if options["bidirectional"] else 1) * per_direction
        if declared != len(members):
            raise ValueError(
                f"{where}: the parameters do not match the configuration: it declares {declared} "
                f"arrays, the file holds {len(members)}"
            )
        shapes = _options.parameter_shapes(class_name, options, where)
        # The members against the parameters the header declares, from the zip directory alone.
        expected = {f"{key}.npy": (key, shape) for key, shape in shapes}
        missing = [key for member, (key, _) in expected.items() if member not in members]
        unexpected = [member[:60] for member in members if member not in expected]
        if missing or unexpected:
            raise ValueError(
                f"{where}: the parameters do not match the configuration: missing {missing[:8]}, "
                f"unexpected {unexpected[:8]}"
            )
        for member, (key, shape) in expected.items():
            check_member_size(members[member], key, shape, dtype, where)
        params = {
            key: read_parameter(archive, members[member], key, shape, dtype, where)
            for member, (key, shape) in expected.items()
        }
    return restore(cls, {**values, **mode, "_params": params}, where, copy=False)


def check_member_size(
    info: zipfile.ZipInfo, key: str, shape: tuple[int, ...], dtype: np.dtype[Any], where: str
) -> None:
    """Refuses a member that declares more bytes than its array of `shape` needs (checked from the zip
    directory, before anything is inflated)."""
    needed = int(np.prod(shape)) * dtype.itemsize
    if info.file_size > needed + _MAX_NPY_HEADER + 12:
        raise ValueError(
            f"{where}: the member {info.filename!r} inflates to {info.file_size} bytes; "
            f"parameter {key} {shape} of {dtype} needs {needed} (and a .npy header)"
        )


def zip_members(archive: zipfile.ZipFile, where: str) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by name, refusing duplicates, encryption and compressions np.savez does not
    write."""
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        if info.filename in members:
            raise ValueError(f"{where}: the member {info.filename[:80]!r} appears twice")
        if info.flag_bits & 0x1:
            raise ValueError(f"{where}: the member {info.filename[:80]!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(
                f"{where}: the member {info.filename[:80]!r} uses compression {info.compress_type} "
                "(np.savez writes stored or deflated members)"
            )
        members[info.filename] = info
    return members


def check_end_record(file: IO[bytes], where: str) -> None:
    """Bounds the zip's central directory (entries and bytes) before zipfile reads it whole."""
    file.seek(0, os.SEEK_END)
    size = file.tell()
    tail_size = min(size, 22 + 0xFFFF)  # the end record and the longest comment
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or tail_size - at < 22:
        raise ValueError(f"{where} is not a readable .npz archive (no zip end record)")
    entries, directory_size = struct.unpack("<HI", tail[at + 10 : at + 16])
    records = [(entries, directory_size)]
    if at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":  # a zip64 locator: its end record counts
        (offset,) = struct.unpack("<Q", tail[at - 12 : at - 4])
        if offset + 56 <= size:
            file.seek(offset)
            record = file.read(56)
            if record[:4] == b"PK\x06\x06":
                records.append(struct.unpack("<QQ", record[32:48]))
    for entries, directory_size in records:
        if entries > _MAX_MEMBERS or directory_size > _MAX_MEMBERS * 256:
            raise ValueError(
                f"{where}: the zip directory lists {entries} members in {directory_size} bytes, more than "
                f"any layer file has ({_MAX_MEMBERS} members)"
            )
    file.seek(0)


def _npy_header(stream: IO[bytes], member: str, where: str) -> tuple[str, tuple[int, ...], bool, int]:
    """(descr, shape, fortran_order, data offset) of a .npy member, read with bounded reads and
    parsed without numpy's fallbacks (a stranger's header is at most _MAX_NPY_HEADER bytes)."""
    magic = stream.read(8)
    if len(magic) != 8 or magic[:6] != b"\x93NUMPY" or magic[6] not in (1, 2, 3):
        raise ValueError(f"{where}: the member {member!r} is not a .npy array")
    length_format = "<H" if magic[6] == 1 else "<I"
    raw_length = stream.read(struct.calcsize(length_format))
    if len(raw_length) != struct.calcsize(length_format):
        raise ValueError(f"{where}: the member {member!r} is truncated")
    (length,) = struct.unpack(length_format, raw_length)
    if length > _MAX_NPY_HEADER:
        raise ValueError(f"{where}: the member {member!r} has a .npy header of {length} bytes")
    text = stream.read(length)
    if len(text) != length:
        raise ValueError(f"{where}: the member {member!r} is truncated")
    try:
        fields = ast.literal_eval(text.decode("latin-1" if magic[6] < 3 else "utf-8"))
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        fields = None
    if (
        not isinstance(fields, dict)
        or set(fields) != {"descr", "fortran_order", "shape"}
        or not isinstance(fields["descr"], str)
        or not isinstance(fields["fortran_order"], bool)
        or not isinstance(fields["shape"], tuple)
        or not all(type(n) is int and n >= 0 for n in fields["shape"])
    ):
        raise ValueError(f"{where}: the member {member!r} has a malformed .npy header")
    return fields["descr"], fields["shape"], fields["fortran_order"], len(magic) + len(raw_length) + length


def read_json_header(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, max_brackets: int = _MAX_BRACKETS
) -> object:
    """The JSON header: a 0-d unicode array of at most _MAX_HEADER_CHARS characters, with at most
    `max_brackets` objects and lists (a layer's header has a few; a model's, a few per layer)."""
    if info.file_size > 12 + _MAX_NPY_HEADER + 4 * _MAX_HEADER_CHARS:
        raise ValueError(f"{where}: the {_HEADER} entry is {info.file_size} bytes, not a layer file's header")
    with archive.open(info) as stream:
        descr, shape, _, offset = _npy_header(stream, info.filename, where)
        chars = int(descr[2:]) if descr[:2] == "<U" and descr[2:].isdigit() else -1
        if shape != () or not 0 < chars <= _MAX_HEADER_CHARS or offset + 4 * chars != info.file_size:
            raise ValueError(f"{where}: the {_HEADER} entry is not a JSON string ({descr!r}, shape {shape})")
        raw = stream.read(4 * chars)
        if len(raw) != 4 * chars or stream.read(1):
            raise ValueError(f"{where}: the {_HEADER} entry is truncated")
    text = raw.decode("utf-32-le").rstrip("\0")
    # A layer's header nests two deep; json would recurse as deep as the brackets go.
    if text.count("{") + text.count("[") > max_brackets:
        raise ValueError(f"{where}: the {_HEADER} entry nests deeper than a layer file's header")
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as err:
        raise ValueError(f"{where}: the {_HEADER} entry is not valid JSON: {err}") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("a key appears twice")
    return result


def _check_header(
    header: object, where: str
) -> tuple[type[LSTM] | type[GRU] | type[RNN], dict[str, Any], dict[str, Any]]:
    """The class, the options (config and dtype, to be checked) and the mode (training, weight format)
    of a header, its layout checked."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{where} is not a fusedrnn layer file")
    version = header.get("version")
    if type(version) is not int or version != VERSION:
        raise ValueError(f"{where}: format version {version!r}; this fusedrnn reads version {VERSION}")
    unknown = [key[:60] for key in header if key not in _HEADER_KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown header entries {unknown[:5]}")
    class_name = header.get("class")
    classes = _classes()
    if not isinstance(class_name, str) or class_name not in classes:
        raise ValueError(f"{where}: unknown layer class {str(class_name)[:60]!r}")
    config = header.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{where}: config: expected a JSON object, got {type(config).__name__}")
    if "dtype" in config:
        raise ValueError(f"{where}: config: dtype belongs in the header, not in config")
    mode = {"training": header.get("training", True), "_weight_format": header.get("weight_format", "fp32")}
    return classes[class_name], {**config, "dtype": header.get("dtype")}, mode


def read_parameter(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    key: str,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    where: str,
) -> np.ndarray[Any, Any]:
    """One parameter read into its own array, never more than its size (the CRC checked at the end)."""
    with archive.open(info) as stream:
        descr, stored_shape, fortran, offset = _npy_header(stream, info.filename, where)
        if descr not in ("<f4", "<f8") or np.dtype(descr) != dtype:
            shown = np.dtype(descr).name if descr in ("<f4", "<f8", "<f2") else descr[:20]
            raise ValueError(f"{where}: parameter {key} is {shown}, the layer {dtype}")
        if stored_shape != shape:
            raise ValueError(
                f"{where}: the parameters do not match the configuration: {key} has shape "
                f"{stored_shape}, expected {shape}"
            )
        array = np.empty(shape[::-1] if fortran else shape, dtype)
        if offset + array.nbytes != info.file_size:
            raise ValueError(
                f"{where}: the member {info.filename!r} is {info.file_size} bytes, its .npy header says "
                f"{offset + array.nbytes}"
            )
        flat = array.reshape(-1).view(np.uint8)
        done = 0
        while done < array.nbytes:
            chunk = stream.read(min(_CHUNK, array.nbytes - done))
            if not chunk:
                raise ValueError(f"{where}: the member {info.filename!r} is truncated")
            flat[done : done + len(chunk)] = np.frombuffer(chunk, np.uint8)
            done += len(chunk)
        if stream.read(1):  # also where zipfile checks the CRC
            raise ValueError(f"{where}: the member {info.filename!r} is longer than its .npy header says")
    return np.ascontiguousarray(array.T) if fortran else array
