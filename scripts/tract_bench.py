"""Times tract on a model for `zantc bench --baseline tract`.

Usage: tract_bench.py MODEL INPUT.npy... [--budget-ms MS | --serve]

Loads the model with tract's ONNX front end, fixes every input to the shape and type of
its .npy file, optimises it, then runs one warm-up inference and repeated inferences for
at least five runs or MS milliseconds. Prints the median wall time per inference
(`time_us=`), the number of runs and the tract version as `key=value` lines, like
ort_bench.py, or with `--serve` times slices on request (peer_timing.py). tract runs on
the calling thread.
"""

import sys

import numpy as np
import tract

import peer_timing

# tract's names for the element types of the .npy inputs.
DATUM_TYPES = {
    np.dtype("float32"): "f32",
    np.dtype("float64"): "f64",
    np.dtype("int8"): "i8",
    np.dtype("int16"): "i16",
    np.dtype("int32"): "i32",
    np.dtype("int64"): "i64",
    np.dtype("uint8"): "u8",
    np.dtype("uint16"): "u16",
    np.dtype("uint32"): "u32",
    np.dtype("uint64"): "u64",
    np.dtype("bool"): "bool",
}


def main() -> None:
    parser = peer_timing.parser(__doc__)
    args = parser.parse_args()

    feeds = [np.load(path) for path in args.inputs]
    model = tract.onnx().load(args.model)
    if model.input_count() != len(feeds):
        parser.error(f"the model takes {model.input_count()} inputs, {len(feeds)} given")
    for i, value in enumerate(feeds):
        datum = DATUM_TYPES.get(value.dtype)
        if datum is None:
            parser.error(f"input {i}: tract has no type for {value.dtype}")
        dims = ",".join(str(d) for d in value.shape)
        model.set_input_fact(i, f"{dims},{datum}" if dims else datum)
    runnable = model.into_model().into_runnable()

    def run() -> object:
        return runnable.run(feeds)

    peer_timing.time_run(args, run, f"tract={tract.version()}")


def one_line(error: Exception) -> str:
    """tract's error and its causes on one line, without the Rust backtrace that follows
    them, so zantc's report can quote it."""
    text = str(error).split("Stack backtrace")[0]
    lines = (line.strip() for line in text.splitlines())
    causes = [line for line in lines if line and line != "Caused by:"]
    return f"{type(error).__name__}: {'; '.join(causes)}"


if __name__ == "__main__":
    try:
        main()
    except tract.TractError as error:
        print(one_line(error), file=sys.stderr)
        sys.exit(1)
