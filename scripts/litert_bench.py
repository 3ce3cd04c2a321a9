"""Times LiteRT (TensorFlow Lite, XNNPACK) on a model for `zantc bench --baseline litert`.

Usage: litert_bench.py MODEL.tflite INPUT.npy... [--budget-ms MS | --serve]

LiteRT runs `.tflite` files, not ONNX: the bench hands it the `model.tflite` that sits
beside the ONNX model (the MLPerf Tiny folders hold the file tf2onnx converted), with the
inputs the zant harness runs. Each input must have the shape the `.tflite` input
declares; a float input of a model whose input is quantized is quantized with that
input's scale and zero point, and any other mismatch is an error that says which input.

The interpreter runs with one thread and LiteRT's default delegate on a CPU (XNNPACK),
one warm-up inference, then repeated inferences for at least five runs or MS
milliseconds; it prints the median wall time per inference (`time_us=`), the number of
runs and the LiteRT version as `key=value` lines, like the zant harnesses do. With
`--serve` it times slices on request instead (peer_timing.py), as `zantc bench` runs it.
"""


import numpy as np
import ai_edge_litert
from ai_edge_litert.interpreter import Interpreter

import peer_timing


def fitted(value: np.ndarray, detail: dict, index: int) -> np.ndarray:
    """`value` as the `.tflite` input `detail` takes it, or a ValueError saying why not."""
    shape = tuple(int(d) for d in detail["shape"])
    dtype = np.dtype(detail["dtype"])
    if tuple(value.shape) != shape:
        raise ValueError(
            f"input {index} ({detail['name']}): the .tflite takes shape {shape}, "
            f"the ONNX model's input has {tuple(value.shape)}"
        )
    if value.dtype == dtype:
        return value
    scale, zero = detail["quantization"]
    if np.issubdtype(value.dtype, np.floating) and np.issubdtype(dtype, np.integer) and scale:
        info = np.iinfo(dtype)
        q = np.round(value / scale) + zero
        return np.clip(q, info.min, info.max).astype(dtype)
    raise ValueError(
        f"input {index} ({detail['name']}): the .tflite takes {dtype}, "
        f"the ONNX model's input is {value.dtype}"
    )


def main() -> None:
    parser = peer_timing.parser(__doc__)
    args = parser.parse_args()

    interpreter = Interpreter(model_path=args.model, num_threads=1)
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()
    if len(details) != len(args.inputs):
        parser.error(f"the .tflite takes {len(details)} inputs, {len(args.inputs)} given")
    feeds = [
        (detail["index"], fitted(np.load(path), detail, i))
        for i, (detail, path) in enumerate(zip(details, args.inputs))
    ]
    outputs = [d["index"] for d in interpreter.get_output_details()]

    def run() -> object:
        for index, value in feeds:
            interpreter.set_tensor(index, value)
        interpreter.invoke()
        return [interpreter.get_tensor(i) for i in outputs]

    peer_timing.time_run(args, run, f"litert={ai_edge_litert.__version__}")


if __name__ == "__main__":
    main()
