"""Times every node of a model in ONNX Runtime, for a per-layer comparison with zant.

Usage: target/venv-ort/bin/python scripts/ort_layers.py MODEL INPUT.npy... [--runs N]

Runs the CPU provider as `zantc bench --baseline ort` does (one thread, sequential), with
ONNX Runtime's profiler on, for N inferences after one warm-up, and prints each node's
median kernel time in microseconds, in execution order, then their sum. Set it beside
`zantc bench MODEL --per-layer` on the same inputs (the harness's `input_*.npy` under
`target/zant-bench/ort/<model>/`). ONNX Runtime rewrites the graph first (NCHWc
convolutions, fused activations and Adds), so a node here may stand for several of
zant's layers; its name says which ONNX output it computes.

The profiler itself costs time and counts whole microseconds: on mobilenet_v2 the nodes
sum to about ONNX Runtime's unprofiled time, on mlperf-ic (150-180 µs unprofiled) to
274 µs. Compare layers of a large model, not a small model's sum.
"""

import argparse
import collections
import json
import os
import statistics
import tempfile

import numpy as np
import onnxruntime as ort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    total = 0.0
    print(f"{'µs':>9}  {'op':<20} node")
    nodes = profile(args.model, args.inputs, args.runs)
    for node, op, median in nodes:
        total += median
        print(f"{median:9.1f}  {op:<20} {node}")
    print(f"{total:9.1f}  sum of {len(nodes)} nodes (onnxruntime {ort.__version__})")


def profile(model: str, inputs: list, runs: int) -> list:
    """Each node of `model` as `(name, op, median µs)`, in execution order, over `runs`
    profiled inferences on the `.npy` files `inputs` after one warm-up."""
    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(folder, "profile")
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        if len(names) != len(inputs):
            raise SystemExit(f"{model} takes {len(names)} inputs, {len(inputs)} given")
        feeds = {name: np.load(path) for name, path in zip(names, inputs)}
        session.run(None, feeds)
        for _ in range(runs):
            session.run(None, feeds)
        with open(session.end_profiling(), encoding="utf-8") as file:
            events = json.load(file)

    # Each node's kernel time per run, keyed by node name in first-seen (execution) order.
    # The warm-up's events come first and are dropped: one more than `runs` per node.
    times: dict[str, list[float]] = collections.OrderedDict()
    ops: dict[str, str] = {}
    suffix = "_kernel_time"
    for event in events:
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith(suffix):
            continue
        node = name[: -len(suffix)]
        times.setdefault(node, []).append(float(event["dur"]))
        ops[node] = event.get("args", {}).get("op_name", "?")
    return [
        (node, ops[node], statistics.median(durations[1:] or durations))
        for node, durations in times.items()
    ]


if __name__ == "__main__":
    main()
