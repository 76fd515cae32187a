"""A typed wrapper around LiteRT's `Interpreter` (ai-edge-litert) for single-input models."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


class TFLiteModel:
    """One .tflite model loaded from (already verified) bytes, run on the CPU."""

    def __init__(self, content: bytes, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter: Any = Interpreter(model_content=content, num_threads=num_threads)
        self._interpreter.allocate_tensors()
        inputs = self._interpreter.get_input_details()
        if len(inputs) != 1:
            raise ValueError(f"expected a model with one input, got {len(inputs)}")
        self._input = inputs[0]
        self._outputs = self._interpreter.get_output_details()

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The input tensor's shape, e.g. (1, 64, 64, 1)."""
        return tuple(int(d) for d in self._input["shape"])

    def output_names(self) -> list[str]:
        """The output tensors' names, in output order."""
        return [str(o["name"]) for o in self._outputs]

    def run(self, tensor: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        """Run the model on one input tensor; returns copies of every output tensor."""
        self._interpreter.set_tensor(self._input["index"], np.ascontiguousarray(tensor, dtype=np.float32))
        self._interpreter.invoke()
        return [
            np.array(self._interpreter.get_tensor(o["index"]), dtype=np.float32, copy=True)
            for o in self._outputs
        ]
