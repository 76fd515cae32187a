"""A reader for dlib's binary serialization (``dlib/serialize.h``), enough for a DNN file.

dlib writes integers in its own variable-length form: one control byte (low 4 bits: how many
little-endian bytes follow; 0x80: negative), then the magnitude. Strings are a length then
bytes; ``bool`` is the character ``'0'`` or ``'1'``; ``float`` is a `float_details`: an int64
mantissa and an int16 exponent, both in the integer form, worth ``mantissa * 2**exponent``.
A tensor (``dlib/cuda/tensor.h``, version 2) is the version, four int64 dimensions (num
samples, k, nr, nc) and then raw little-endian IEEE float32 values; an alias tensor (version 1)
has the dimensions only.

`DlibReader` reads these one at a time; `dlib_net` reads the layer records of a network file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from smartsession.errors import SmartSessionError

#: float_details' special exponents (``dlib/float_details.h``).
_IS_INF = 32000
_IS_NINF = 32001
_IS_NAN = 32002


class DlibFormatError(SmartSessionError):
    """A dlib file does not hold what its reader expects; the offset says where."""

    exit_code = 5

    def __init__(self, offset: int, problem: str) -> None:
        self.offset = offset
        self.problem = problem
        super().__init__(f"dlib file at byte {offset}: {problem}")


class DlibReader:
    """Reads dlib's serialized values from a bytes buffer, front to back."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DlibFormatError(self.pos, f"{n} bytes wanted, the file ends")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        """A signed or unsigned integer of any width."""
        start = self.pos
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8:
            raise DlibFormatError(start, f"bad integer control byte {control:#04x}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def string(self) -> str:
        """A length-prefixed string (dlib's names are ASCII)."""
        length = self.integer()
        return self._take(length).decode("latin-1")

    def boolean(self) -> bool:
        """A ``bool``: the character '0' or '1'."""
        start = self.pos
        char = self._take(1)
        if char not in (b"0", b"1"):
            raise DlibFormatError(start, f"bad bool {char!r}")
        return char == b"1"

    def real(self) -> float:
        """A float or double in dlib's portable form (mantissa * 2**exponent)."""
        mantissa = self.integer()
        exponent = self.integer()
        if exponent == _IS_INF:
            return math.inf
        if exponent == _IS_NINF:
            return -math.inf
        if exponent == _IS_NAN:
            return math.nan
        return math.ldexp(float(mantissa), exponent)

    def version(self, expected: int, what: str) -> int:
        """An integer version that must be ``expected`` (a set of one, for a clear error)."""
        start = self.pos
        value = self.integer()
        if value != expected:
            raise DlibFormatError(start, f"{what}: version {value}, expected {expected}")
        return value

    def dims(self) -> tuple[int, int, int, int]:
        """Four integers: num_samples, k, nr, nc."""
        return (self.integer(), self.integer(), self.integer(), self.integer())

    def tensor(self) -> npt.NDArray[np.float32]:
        """A resizable tensor as an array shaped (num_samples, k, nr, nc)."""
        self.version(2, "tensor")
        shape = self.dims()
        count = shape[0] * shape[1] * shape[2] * shape[3]
        values = np.frombuffer(self._take(4 * count), dtype="<f4")
        return values.reshape(shape).astype(np.float32)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        """An alias tensor's dimensions (it holds no values)."""
        self.version(1, "alias_tensor")
        return self.dims()


@dataclass(frozen=True)
class LayerRecord:
    """One layer's stored details: its dlib version name, numbers and tensors by name."""

    name: str
    offset: int
    numbers: dict[str, float] = field(default_factory=dict)
    tensors: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    shapes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)


def _read_input(reader: DlibReader) -> LayerRecord:
    start = reader.pos
    name = reader.string()
    if name != "input_rgb_image_sized":
        raise DlibFormatError(start, f"input layer {name!r}, expected input_rgb_image_sized")
    numbers = {"avg_red": reader.real(), "avg_green": reader.real(), "avg_blue": reader.real()}
    numbers["nr"] = reader.integer()
    numbers["nc"] = reader.integer()
    return LayerRecord(name, start, numbers)


def _read_con(reader: DlibReader, record: LayerRecord) -> None:
    record.tensors["params"] = reader.tensor()
    for key in ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x"):
        record.numbers[key] = reader.integer()
    record.shapes["filters"] = reader.alias_tensor()
    record.shapes["biases"] = reader.alias_tensor()
    for key in ("lr", "wd", "bias_lr", "bias_wd"):
        record.numbers[key] = reader.real()
    record.numbers["use_bias"] = 1.0
    if record.name in ("con_5", "con_6"):
        record.numbers["use_bias"] = float(reader.boolean())
    if record.name == "con_6":
        record.numbers["use_relu"] = float(reader.boolean())


def _read_affine(reader: DlibReader, record: LayerRecord) -> None:
    record.tensors["params"] = reader.tensor()
    record.shapes["gamma"] = reader.alias_tensor()
    record.shapes["beta"] = reader.alias_tensor()
    record.numbers["mode"] = reader.integer()
    if record.name == "affine_2":
        record.numbers["disabled"] = float(reader.boolean())


def _read_pool(reader: DlibReader, record: LayerRecord) -> None:
    for key in ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x"):
        record.numbers[key] = reader.integer()


def _read_fc(reader: DlibReader, record: LayerRecord) -> None:
    record.numbers["num_outputs"] = reader.integer()
    record.numbers["num_inputs"] = reader.integer()
    record.tensors["params"] = reader.tensor()
    record.shapes["weights"] = reader.alias_tensor()
    record.shapes["biases"] = reader.alias_tensor()
    record.numbers["bias_mode"] = reader.integer()
    for key in ("lr", "wd", "bias_lr", "bias_wd"):
        record.numbers[key] = reader.real()
    if record.name == "fc_3":
        record.numbers["use_bias"] = float(reader.boolean())


def _read_relu(reader: DlibReader, record: LayerRecord) -> None:
    if record.name == "relu_2":
        record.numbers["disabled"] = float(reader.boolean())


def _read_nothing(reader: DlibReader, record: LayerRecord) -> None:
    del reader, record


_DETAILS = {
    "con_4": _read_con,
    "con_5": _read_con,
    "con_6": _read_con,
    "affine_": _read_affine,
    "affine_2": _read_affine,
    "relu_": _read_relu,
    "relu_2": _read_relu,
    "max_pool_2": _read_pool,
    "avg_pool_2": _read_pool,
    "fc_2": _read_fc,
    "fc_3": _read_fc,
    "add_prev_": _read_nothing,
}


def _read_details(reader: DlibReader) -> LayerRecord:
    start = reader.pos
    name = reader.string()
    read = _DETAILS.get(name)
    if read is None:
        raise DlibFormatError(start, f"layer {name!r} is not one this reader knows")
    record = LayerRecord(name, start)
    read(reader, record)
    return record


def _skip_layer_state(reader: DlibReader, *, bottom: bool, version: int) -> None:
    """The training state ``add_layer`` keeps after a layer's details (not needed to run)."""
    reader.boolean()  # this_layer_setup_called
    reader.boolean()  # gradient_input_is_stale
    reader.boolean()  # get_output_and_gradient_input_disabled
    reader.tensor()  # x_grad
    reader.tensor()  # cached_output
    if bottom:
        reader.tensor()  # grad_final
        if version >= 3:
            reader.integer()  # _sample_expansion_factor
    elif version == 2:
        reader.tensor()  # params_grad


@dataclass(frozen=True)
class DlibNet:
    """A network file read: the loss, the wrapper versions (top to bottom) and the layers
    (input first, then every computational layer from the bottom up)."""

    loss: LayerRecord
    versions: tuple[int, ...]
    layers: tuple[LayerRecord, ...]


def dlib_net(data: bytes, nesting: tuple[bool, ...]) -> DlibNet:
    """Read a ``loss_metric<...>`` network whose nesting below the loss is ``nesting``.

    ``nesting`` lists, from the top down to the layer on the input, whether each wrapper is
    an ``add_layer`` (True) or a tag or skip (False): the caller knows the network
    definition. Each wrapper starts with a version number, written from the top down before
    any layer's details (2 for a layer, 1 for a tag or skip; 2 or 3 for the one on the
    input). The details then follow from the bottom up, with nothing for tags and skips.
    Raises `DlibFormatError` on anything else.
    """
    reader = DlibReader(data)
    reader.version(1, "add_loss_layer")
    start = reader.pos
    loss_name = reader.string()
    if loss_name != "loss_metric_2":
        raise DlibFormatError(start, f"loss {loss_name!r}, expected loss_metric_2")
    loss = LayerRecord(loss_name, start, {"margin": reader.real(), "dist_thresh": reader.real()})
    versions: list[int] = []
    for depth, is_layer in enumerate(nesting):
        at = reader.pos
        version = reader.integer()
        bottom = depth == len(nesting) - 1
        allowed = (2, 3) if bottom else (2,) if is_layer else (1,)
        if version not in allowed or (bottom and not is_layer):
            kind = "add_layer" if is_layer else "tag or skip"
            raise DlibFormatError(at, f"wrapper {depth} ({kind}): version {version}, expected {allowed}")
        versions.append(version)
    layers = [_read_input(reader)]
    layers.append(_read_details(reader))
    _skip_layer_state(reader, bottom=True, version=versions[-1])
    for _ in range(sum(nesting[:-1])):
        layers.append(_read_details(reader))
        _skip_layer_state(reader, bottom=False, version=2)
    if reader.pos != len(data):
        raise DlibFormatError(reader.pos, f"{len(data) - reader.pos} bytes left after the last layer")
    return DlibNet(loss, tuple(versions), tuple(layers))
