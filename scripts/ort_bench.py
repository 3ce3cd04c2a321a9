"""Times ONNX Runtime on a model for `zantc bench --baseline ort`.

Usage: ort_bench.py MODEL INPUT.npy... [--budget-ms MS | --serve]

Runs the CPU provider with one thread (intra- and inter-op), one warm-up inference, then
repeated inferences for at least five runs or MS milliseconds, and prints the median wall
time per inference (`time_us=`), the number of runs and the ONNX Runtime version as
`key=value` lines, like the zant harnesses do. With `--serve` it times slices on request
instead (peer_timing.py), as `zantc bench` runs it.
"""


import numpy as np
import onnxruntime as ort

import peer_timing


def main() -> None:
    parser = peer_timing.parser(__doc__)
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

    peer_timing.time_run(args, run, f"onnxruntime={ort.__version__}")


if __name__ == "__main__":
    main()
