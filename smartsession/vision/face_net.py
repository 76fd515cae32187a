"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``) run with numpy.

The network is the one ``examples/dnn_face_recognition_ex.cpp`` defines: a 150x150 RGB chip,
a 7x7/2 convolution to 32 channels, a 3x3/2 max pool, 14 residual blocks (3 at 32 channels,
4 at 64, 3 at 128, 3 at 256, 1 more at 256; the first of each width from 64 on halves the
size), an average over what is left and a 128x256 matrix without bias. The file's weights
are read by `dlib_format`; see docs/identity.md for how the port was checked against dlib.

What dlib does and this copies exactly:

- input: ``(pixel - mean) / 256`` per channel, means 122.782, 117.001, 104.298 (R, G, B);
- convolutions are cross-correlations with zero padding ``k // 2`` at stride 1 and none at
  stride 2, output size ``1 + (n + 2 * pad - k) // stride``; the ``affine`` after each is
  ``gamma * x + beta`` per channel (folded into the convolution here, exactly the same sum);
- pooling windows start at ``i * stride`` (no padding): max for the first, mean for the
  down blocks' shortcut, mean of everything at the end;
- ``add_prev`` adds tensors of different sizes as dlib's ``tt::add`` does: the output has the
  larger of each dimension and a value missing from one side counts as zero. That matters
  twice: a down block's shortcut has half the channels, and at 8x8 the main path goes to
  3x3 while the shortcut pools to 4x4 (the sum is 4x4, then 2x2 in the last block);
- the descriptor is the 128 outputs as they are (dlib does not normalise them).

Build one `FaceNet` (`FaceNet.load()`, about 0.1 s) and call `descriptor` per chip; it is
not thread-safe only in that numpy's BLAS may use several threads.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from smartsession.vision.blas import limit_blas_threads
from smartsession.vision.dlib_format import DlibFormatError, LayerRecord, dlib_net
from smartsession.vision.models import Model, model_bytes

Float32Array = npt.NDArray[np.float32]

#: The chip the network takes: 150x150 RGB.
CHIP_SIZE = 150
DESCRIPTOR_SIZE = 128

NodeKind = Literal[
    "con", "affine", "relu", "max_pool", "avg_pool", "avg_pool_all", "add_prev", "fc", "tag", "skip"
]


@dataclass(frozen=True)
class Node:
    """One wrapper of dlib's nesting: a layer (kind, its settings) or a tag or skip (its number)."""

    kind: NodeKind
    filters: int = 0
    size: int = 0
    stride: int = 1
    tag: int = 0

    @property
    def is_layer(self) -> bool:
        """An ``add_layer`` (it has details in the file), not a tag or a skip."""
        return self.kind not in ("tag", "skip")


def _block(n: int, stride: int) -> list[Node]:
    """``block<N, affine, stride>``, top down: affine, con 3x3/1, relu, affine, con 3x3/stride."""
    return [
        Node("affine"),
        Node("con", n, 3, 1),
        Node("relu"),
        Node("affine"),
        Node("con", n, 3, stride),
    ]


def _ares(n: int) -> list[Node]:
    """``ares<N>``, top down: relu, add_prev1, block, tag1."""
    return [Node("relu"), Node("add_prev", tag=1), *_block(n, 1), Node("tag", tag=1)]


def _ares_down(n: int) -> list[Node]:
    """``ares_down<N>``, top down: relu, add_prev2, avg_pool 2x2/2, skip1, tag2, block/2, tag1."""
    return [
        Node("relu"),
        Node("add_prev", tag=2),
        Node("avg_pool", size=2, stride=2),
        Node("skip", tag=1),
        Node("tag", tag=2),
        *_block(n, 2),
        Node("tag", tag=1),
    ]


@functools.cache
def nesting() -> tuple[Node, ...]:
    """The network below the loss, top down (the order of dlib's template nesting)."""
    nodes: list[Node] = [Node("fc", DESCRIPTOR_SIZE), Node("avg_pool_all")]
    nodes += _ares_down(256)  # alevel0
    nodes += _ares(256) + _ares(256) + _ares_down(256)  # alevel1
    nodes += _ares(128) + _ares(128) + _ares_down(128)  # alevel2
    nodes += _ares(64) + _ares(64) + _ares(64) + _ares_down(64)  # alevel3
    nodes += _ares(32) + _ares(32) + _ares(32)  # alevel4
    nodes += [Node("max_pool", size=3, stride=2), Node("relu"), Node("affine"), Node("con", 32, 7, 2)]
    return tuple(nodes)


_RECORD_NAMES: dict[NodeKind, tuple[str, ...]] = {
    "con": ("con_4", "con_5", "con_6"),
    "affine": ("affine_", "affine_2"),
    "relu": ("relu_", "relu_2"),
    "max_pool": ("max_pool_2",),
    "avg_pool": ("avg_pool_2",),
    "avg_pool_all": ("avg_pool_2",),
    "add_prev": ("add_prev_",),
    "fc": ("fc_2", "fc_3"),
}


@dataclass(frozen=True)
class Step:
    """One step of the forward pass, bottom up, with its weights ready to use."""

    kind: NodeKind
    stride: int = 1
    size: int = 0
    tag: int = 0
    #: con: (k*k*C_in, C_out) float32, the affine above folded in; fc: (256, 128).
    weights: Float32Array | None = None
    #: con: (C_out,) float32 (the affine's beta plus gamma times the conv's bias).
    bias: Float32Array | None = None


def _check(record: LayerRecord, node: Node) -> None:
    if record.name not in _RECORD_NAMES[node.kind]:
        raise DlibFormatError(record.offset, f"layer {record.name!r} where the definition has {node.kind}")
    numbers = record.numbers
    if node.kind == "con":
        expected = {"num_filters": node.filters, "nr": node.size, "nc": node.size, "stride_y": node.stride}
        expected["padding_y"] = node.size // 2 if node.stride == 1 else 0
    elif node.kind in ("max_pool", "avg_pool"):
        expected = {"nr": node.size, "stride_y": node.stride, "padding_y": 0}
    elif node.kind == "avg_pool_all":
        expected = {"nr": 0, "nc": 0, "stride_y": 1, "padding_y": 0}
    elif node.kind == "fc":
        expected = {"num_outputs": node.filters}
    else:
        return
    for key, value in expected.items():
        if numbers[key] != value:
            raise DlibFormatError(record.offset, f"{record.name} {key} = {numbers[key]}, expected {value}")


def _con_weights(con: LayerRecord, affine: LayerRecord) -> tuple[Float32Array, Float32Array]:
    """The convolution's filters as an im2col matrix (rows ordered kh, kw, C_in) and its bias,
    with the affine layer above it folded in: gamma * (W x + b) + beta."""
    n, k, nr, nc = con.shapes["filters"]
    params = con.tensors["params"].reshape(-1).astype(np.float64)
    filters = params[: n * k * nr * nc].reshape(n, k, nr, nc)
    bias = params[n * k * nr * nc :] if con.numbers["use_bias"] else np.zeros(n)
    if bias.shape != (n,):
        raise DlibFormatError(con.offset, f"bias of {bias.shape[0]} values for {n} filters")
    gamma_beta = affine.tensors["params"].reshape(-1).astype(np.float64)
    if gamma_beta.shape != (2 * n,) or affine.numbers["mode"] != 0:  # 0: CONV_MODE (per channel)
        raise DlibFormatError(affine.offset, f"affine of {gamma_beta.shape[0]} values after {n} filters")
    gamma, beta = gamma_beta[:n], gamma_beta[n:]
    folded = filters * gamma[:, None, None, None]
    matrix = folded.transpose(2, 3, 1, 0).reshape(nr * nc * k, n)
    return np.ascontiguousarray(matrix, dtype=np.float32), (gamma * bias + beta).astype(np.float32)


def build_steps(data: bytes) -> tuple[tuple[float, float, float], tuple[Step, ...]]:
    """The input means and the forward steps (bottom up) of the network file ``data``."""
    nodes = nesting()
    net = dlib_net(data, tuple(node.is_layer for node in nodes))
    input_record, *records = net.layers
    if (input_record.numbers["nr"], input_record.numbers["nc"]) != (CHIP_SIZE, CHIP_SIZE):
        raise DlibFormatError(input_record.offset, "the input is not sized 150x150")
    means = (
        input_record.numbers["avg_red"],
        input_record.numbers["avg_green"],
        input_record.numbers["avg_blue"],
    )
    bottom_up = list(reversed(nodes))
    by_layer = iter(records)
    paired: list[tuple[Node, LayerRecord | None]] = []
    for node in bottom_up:
        record = next(by_layer) if node.is_layer else None
        if record is not None:
            _check(record, node)
        paired.append((node, record))
    steps: list[Step] = []
    index = 0
    while index < len(paired):
        node, record = paired[index]
        if node.kind == "con":
            above, affine = paired[index + 1]
            if above.kind != "affine" or affine is None or record is None:
                raise DlibFormatError(0, "a convolution without an affine layer above it")
            weights, bias = _con_weights(record, affine)
            steps.append(Step("con", stride=node.stride, size=node.size, weights=weights, bias=bias))
            index += 2
            continue
        if node.kind == "fc" and record is not None:
            inputs, outputs = record.shapes["weights"][:2]
            matrix = record.tensors["params"].reshape(-1)[: inputs * outputs].reshape(inputs, outputs)
            steps.append(Step("fc", weights=np.ascontiguousarray(matrix, dtype=np.float32)))
        else:
            steps.append(Step(node.kind, stride=node.stride, size=node.size, tag=node.tag))
        index += 1
    return means, tuple(steps)


def _conv(x: Float32Array, step: Step) -> Float32Array:
    """A convolution of an HxWxC tensor by im2col and one matrix product."""
    k, stride = step.size, step.stride
    assert step.weights is not None and step.bias is not None
    if stride == 1 and k > 1:
        pad = k // 2
        x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    windows = sliding_window_view(x, (k, k), axis=(0, 1))[::stride, ::stride]  # H', W', C, kh, kw
    h, w, c = windows.shape[:3]
    cols = np.ascontiguousarray(windows.transpose(0, 1, 3, 4, 2)).reshape(h * w, k * k * c)
    out = cols @ step.weights
    out += step.bias
    return out.reshape(h, w, -1)


def _pool(x: Float32Array, step: Step, *, maximum: bool) -> Float32Array:
    windows = sliding_window_view(x, (step.size, step.size), axis=(0, 1))[:: step.stride, :: step.stride]
    pooled = windows.max(axis=(3, 4)) if maximum else windows.mean(axis=(3, 4), dtype=np.float32)
    return np.asarray(pooled, dtype=np.float32)


def _add(a: Float32Array, b: Float32Array) -> Float32Array:
    """dlib's ``tt::add`` of two tensors: the larger shape, missing values counted as zero."""
    if a.shape == b.shape:
        return a + b
    shape = tuple(max(p, q) for p, q in zip(a.shape, b.shape, strict=True))
    out = np.zeros(shape, dtype=np.float32)
    out[: a.shape[0], : a.shape[1], : a.shape[2]] += a
    out[: b.shape[0], : b.shape[1], : b.shape[2]] += b
    return out


class FaceNet:
    """The face-recognition network, ready to run; `descriptor` maps a chip to 128 numbers."""

    def __init__(self, means: tuple[float, float, float], steps: tuple[Step, ...]) -> None:
        self.means = np.asarray(means, dtype=np.float32)
        self.steps = steps

    @classmethod
    def load(cls) -> FaceNet:
        """The shipped model, checked by sha256 (`ModelError` if missing or corrupt).

        Also puts this process's OpenBLAS on one thread (`blas.limit_blas_threads`): the
        network's small products run 30x slower on threads that spin on a busy machine.
        """
        limit_blas_threads(1)
        return cls(*build_steps(model_bytes(Model.FACE_RECOGNITION)))

    def forward(
        self, chip_rgb: npt.NDArray[np.uint8], trace: list[tuple[str, tuple[int, ...]]] | None = None
    ) -> Float32Array:
        """The descriptor of one 150x150x3 RGB uint8 chip; ``trace`` collects each step's
        kind and output shape (H, W, C) when given."""
        if chip_rgb.shape != (CHIP_SIZE, CHIP_SIZE, 3) or chip_rgb.dtype != np.uint8:
            raise ValueError(f"expected a 150x150x3 uint8 RGB chip, got {chip_rgb.shape} {chip_rgb.dtype}")
        x: Float32Array = (chip_rgb.astype(np.float32) - self.means) / np.float32(256.0)
        tags: dict[int, Float32Array] = {}
        for step in self.steps:
            if step.kind == "con":
                x = _conv(x, step)
            elif step.kind == "relu":
                x = np.maximum(x, 0, out=x)
            elif step.kind == "max_pool":
                x = _pool(x, step, maximum=True)
            elif step.kind == "avg_pool":
                x = _pool(x, step, maximum=False)
            elif step.kind == "avg_pool_all":
                x = x.mean(axis=(0, 1), dtype=np.float32, keepdims=True)
            elif step.kind == "tag":
                tags[step.tag] = x
            elif step.kind == "skip":
                x = tags[step.tag]
            elif step.kind == "add_prev":
                x = _add(x, tags[step.tag])
            elif step.kind == "fc":
                assert step.weights is not None
                # dlib flattens (k, nr, nc) in that order; after the average it is k only.
                x = (x.transpose(2, 0, 1).reshape(1, -1) @ step.weights).reshape(1, 1, -1)
            if trace is not None:
                trace.append((step.kind, tuple(x.shape)))
        return np.asarray(x.reshape(-1), dtype=np.float32)

    def descriptor(self, chip_rgb: npt.NDArray[np.uint8]) -> Float32Array:
        """The 128-number descriptor of a 150x150 RGB chip (see `face_chip.face_chip`)."""
        return self.forward(chip_rgb)


def distance(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """The Euclidean distance between two descriptors (dlib: same person below about 0.6)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))
