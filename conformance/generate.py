"""Writes the ONNX backend node tests of the pinned `onnx` package to a folder.

Usage: generate.py OUT_DIR

For each case of `onnx.backend.test.case.node.collect_testcases(None)` it writes the usual
layout, `OUT_DIR/<case>/model.onnx` and `OUT_DIR/<case>/test_data_set_N/{input,output}_K.pb`,
plus `OUT_DIR/<case>/case.txt` with what the files do not say: the op the case tests and
the tolerances the case sets (`op=`, `rtol=`, `atol=` lines). Inputs and outputs that are
not tensors (sequences, optionals, maps) are written as the onnx tools write them; zant
reports such cases as unsupported. `OUT_DIR/cases.txt` lists the case names, one a line,
and is written last, so its presence means the folder is complete.

The conformance harness (conformance/tests/conformance.rs) runs this with the venv that
scripts/setup-python.sh makes.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import warnings

import onnx
from onnx import TensorProto, numpy_helper
from onnx.backend.test.case.node import collect_testcases


def encode(value, type_proto, name: str) -> bytes:
    if type_proto.HasField("map_type"):
        return numpy_helper.from_dict(value, name).SerializeToString()
    if type_proto.HasField("sequence_type"):
        return numpy_helper.from_list(value, name).SerializeToString()
    if type_proto.HasField("optional_type"):
        return numpy_helper.from_optional(value, name).SerializeToString()
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, name).SerializeToString()


def base_name(name: str) -> str:
    """`test_softmax_axis_0_expanded_ver18` -> `test_softmax_axis_0`."""
    return re.sub(r"_expanded(_ver\d+)?$", "", name)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: generate.py OUT_DIR")
    out = sys.argv[1]
    with warnings.catch_warnings():
        # Some generators cast out-of-range values on purpose (Cast, log(0), ...).
        warnings.simplefilter("ignore")
        cases = collect_testcases(None)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)

    # The op a case tests: its one node, or for an `_expanded` case (the op's function
    # body inlined), the op of the case it expands.
    single_op = {
        c.name: c.model.graph.node[0].op_type for c in cases if len(c.model.graph.node) == 1
    }
    names = []
    for case in cases:
        graph = case.model.graph
        op = single_op.get(case.name) or single_op.get(base_name(case.name))
        if op is None:
            op = graph.node[0].op_type if graph.node else "(none)"
        case_dir = os.path.join(out, case.name)
        os.makedirs(case_dir)
        with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        with open(os.path.join(case_dir, "case.txt"), "w") as f:
            f.write(f"op={op}\nrtol={case.rtol!r}\natol={case.atol!r}\n")
        for i, (inputs, outputs) in enumerate(case.data_sets):
            set_dir = os.path.join(case_dir, f"test_data_set_{i}")
            os.makedirs(set_dir)
            for j, value in enumerate(inputs):
                vi = graph.input[j]
                with open(os.path.join(set_dir, f"input_{j}.pb"), "wb") as f:
                    f.write(encode(value, vi.type, vi.name))
            for j, value in enumerate(outputs):
                vi = graph.output[j]
                with open(os.path.join(set_dir, f"output_{j}.pb"), "wb") as f:
                    f.write(encode(value, vi.type, vi.name))
        names.append(case.name)
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("".join(f"{n}\n" for n in sorted(names)))
    print(f"generate.py: wrote {len(names)} cases (onnx {onnx.__version__}) to {out}")


if __name__ == "__main__":
    main()
