"""Sums zant's and ONNX Runtime's per-layer times by op type, model by model.

Usage: target/venv-ort/bin/python scripts/op_table.py BENCH.json MODEL_DIR... [--runs N]

BENCH.json is a `zantc bench --per-layer --targets host` report of the same models. For
each model it profiles ONNX Runtime per node (as scripts/ort_layers.py does: one thread,
sequential, N inferences after a warm-up, each node's median) on the inputs the bench
harness used (`target/zant-bench/ort/<model>/input_K.npy`), then prints a Markdown table
per model: each op type's summed time in zant and in ONNX Runtime and their ratio, the
ratios above 1.5 in bold.

The two runtimes fuse differently, so some op types are compared as groups:
- "Conv": zant's Conv (with the bias, Relu/Clip, Sigmoid or SiLU it fused) against ONNX
  Runtime's Conv, FusedConv and QuickGelu (its fused SiLU); zant's Add and Pad count here
  when ONNX Runtime has none (it fused them into its Conv: residual sums, pads);
- "MatMul": ONNX Runtime's FusedMatMul, and its Gemm (and FusedGemm, a Gemm with its
  activation) when zant has no Gemm (a MatMul by constant weights and its bias becomes
  one); "LayerNormalization" includes its
  SkipLayerNormalization (the residual Add before it);
- "layout": ONNX Runtime's ReorderInput/ReorderOutput (its NCHWc conversions), which zant
  does not have;
- everything else by its ONNX op type (ONNX Runtime's Upsample is Resize).
"""

import argparse
import collections
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import ort_layers  # noqa: E402  (the profiler, shared)

ROOT = pathlib.Path(__file__).resolve().parent.parent

ORT_GROUPS = {
    "FusedMatMul": "MatMul",
    "FusedGemm": "Gemm",
    "SkipLayerNormalization": "LayerNormalization",
    "FusedConv": "Conv",
    "QuickGelu": "Conv",
    "ReorderInput": "layout",
    "ReorderOutput": "layout",
    "Upsample": "Resize",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    report = json.loads(pathlib.Path(args.bench).read_text(encoding="utf-8"))
    layers = {}
    for run in report["runs"]:
        if run.get("target") == "host" and run.get("layers"):
            layers[run["model"]] = run["layers"]["rows"]
    for model_dir in args.models:
        name = pathlib.Path(model_dir).name
        if name not in layers:
            parser.error(f"{args.bench} has no per-layer host run of {name}")
        zant = collections.Counter()
        for row in layers[name]:
            zant[row["op"]] += row["value"]
        # The bench names its work folders as crates (`mobilenet_v2` → `mobilenet-v2`).
        ort_dir = ROOT / "target/zant-bench/ort" / name
        if not ort_dir.is_dir():
            ort_dir = ort_dir.with_name(name.replace("_", "-"))
        inputs = sorted(ort_dir.glob("input_*.npy"))
        if not inputs:
            parser.error(f"no inputs under target/zant-bench/ort/{name}: run the bench with --baseline ort")
        ort = collections.Counter()
        for node, op, micros in ort_layers.profile(
            str(pathlib.Path(model_dir) / "model.onnx"), [str(p) for p in inputs], args.runs
        ):
            ort[ORT_GROUPS.get(op, op)] += micros
        # ONNX Runtime's Conv absorbs the residual Adds and the Pads zant runs as their own
        # layers, and it turns a MatMul by constant weights and its bias into a Gemm.
        for op in ("Add", "Pad"):
            if ort[op] == 0 and zant[op] > 0 and ort["Conv"] > 0:
                zant["Conv"] += zant.pop(op)
        if zant["Gemm"] == 0 and zant["MatMul"] > 0:
            ort["MatMul"] += ort.pop("Gemm", 0)
        print(f"\n### {name}\n")
        print("| op | zant µs | ONNX Runtime µs | zant / ORT |")
        print("|---|---:|---:|---:|")
        for op in sorted(set(zant) | set(ort), key=lambda o: -max(zant[o], ort[o])):
            z, o = zant[op], ort[op]
            ratio = f"{z / o:.2f}" if o > 0 and z > 0 else "–"
            if o > 0 and z / o > 1.5:
                ratio = f"**{ratio}**"
            print(f"| {op} | {z:,.1f} | {o:,.1f} | {ratio} |")
        print(f"| total | {sum(zant.values()):,.1f} | {sum(ort.values()):,.1f} | "
              f"{sum(zant.values()) / max(sum(ort.values()), 1e-9):.2f} |")


if __name__ == "__main__":
    main()
