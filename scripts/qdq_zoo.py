"""Quantizes zoo models with ONNX Runtime's `quantize_static`, as a user would (issue 50).

Usage: qdq_zoo.py [DIR [NAME...]]   (DIR: models/zoo, which `make-models --zoo DIR` has
       filled; NAME: the float models to quantize, by default every one of `SOURCES`)

Run it with the peer venv's interpreter (`scripts/setup-ort.sh` installs `onnx`, which the
quantizer needs). For each float model of `SOURCES` it runs `quant_pre_process` (ONNX's
shape inference and ONNX Runtime's graph optimizations, as the quantizer's documentation
asks),
then `quantize_static` in the QDQ format: int8 weights per output channel, uint8
activations, calibrated (min-max) on `CALIBRATION` inputs drawn from a generator seeded by
the model's name (standard normal, as `model_references.py` draws them). The result is
`DIR/<name>-qdq/model.onnx`; `model_references.py --zoo DIR` then writes ONNX Runtime's
outputs beside it, from its default (optimized) session.

It also prints how far ONNX Runtime's plain QDQ session (graph optimizations off, so every
DequantizeLinear → float op → QuantizeLinear runs as written) is from its optimized one,
which fuses the pairs into integer kernels, in steps of the output: the two references a
quantized model can be held to.
"""

import pathlib
import sys
import tempfile
import zlib

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The float zoo models quantized, the three families issue 50 names: a MobileNetV3-style
# CNN (HardSwish, squeeze and excitation, a Gemm classifier), a YOLO-style detector (SiLU,
# Concat, Split, MaxPool, nearest Resize, Sigmoid head) and a transformer encoder (MatMul,
# Softmax, LayerNormalization, GELU).
SOURCES = ["mobilenetv3-style", "yolo-style", "transformer-encoder"]

# Calibration inputs per model.
CALIBRATION = 8


class Reader(CalibrationDataReader):
    """`count` seeded standard-normal inputs for every graph input of `model`."""

    def __init__(self, model: pathlib.Path, seed_name: str, count: int):
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(zlib.crc32(f"calibration {seed_name}".encode()))
        self.feeds = iter(
            [
                {
                    v.name: rng.standard_normal(size=v.shape).astype(np.float32)
                    for v in session.get_inputs()
                }
                for _ in range(count)
            ]
        )

    def get_next(self):
        return next(self.feeds, None)


def quantize(zoo: pathlib.Path, name: str) -> None:
    source = zoo / name / "model.onnx"
    if not source.is_file():
        sys.exit(f"{source}: missing (run `make-models --zoo {zoo}` first)")
    target = zoo / f"{name}-qdq" / "model.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = pathlib.Path(tmp) / "prepared.onnx"
        # Every zoo shape is fixed: ONNX's shape inference is enough (the symbolic one
        # needs sympy).
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(target),
            Reader(prepared, name, CALIBRATION),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    compare_sessions(target, name)
    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    print(f"wrote {shown} (onnxruntime {ort.__version__})")


def compare_sessions(model: pathlib.Path, name: str) -> None:
    """Prints the largest difference between the optimized and the plain session's
    outputs on one seeded input."""
    plain_options = ort.SessionOptions()
    plain_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    optimized = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    plain = ort.InferenceSession(
        str(model), plain_options, providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    feeds = {
        v.name: rng.standard_normal(size=v.shape).astype(np.float32)
        for v in optimized.get_inputs()
    }
    for value, a, b in zip(
        optimized.get_outputs(), optimized.run(None, feeds), plain.run(None, feeds)
    ):
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        print(
            f"{name}-qdq/{value.name}: optimized against plain session: max |diff| "
            f"{diff.max():.3g}, {np.count_nonzero(diff)} of {diff.size} elements differ"
        )


def main() -> None:
    zoo = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models" / "zoo"
    names = sys.argv[2:] or SOURCES
    for name in names:
        if name not in SOURCES:
            sys.exit(f"{name}: not one of {', '.join(SOURCES)}")
        quantize(zoo.resolve(), name)


if __name__ == "__main__":
    main()
