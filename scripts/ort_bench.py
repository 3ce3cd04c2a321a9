"""Times ONNX Runtime on a model for `zantc bench --baseline ort`.

Usage: ort_bench.py MODEL INPUT.npy... [--budget-ms MS | --serve]

Runs the CPU provider with one thread (intra- and inter-op), one warm-up inference, then
repeated inferences for at least five runs or MS milliseconds, and prints the median wall
time per inference (`time_us=`), the number of runs and the ONNX Runtime version as
`key=value` lines, like the zant harnesses do. With `--serve` it times slices on request
instead (peer_timing.py), as `zantc bench` runs it.
"""

import argparse

import numpy as np
import onnxruntime as ort

import peer_timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--budget-ms", type=int, default=1000)
    parser.add_argument("--serve", action="store_true")
    args = parser.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    if len(names) != len(args.inputs):
        parser.error(f"the model takes {len(names)} inputs, {len(args.inputs)} given")
    feeds = {name: np.load(path) for name, path in zip(names, args.inputs)}

    def run() -> object:
        return session.run(None, feeds)

    if args.serve:
        peer_timing.serve(run)
    else:
        peer_timing.one_shot(run, args.budget_ms, f"onnxruntime={ort.__version__}")


if __name__ == "__main__":
    main()
