"""Writes ONNX Runtime's outputs for the models of `models/` as ONNX test data sets.

Usage: model_references.py [MODEL.onnx...]   (default: every models/*.onnx)
       model_references.py --zoo [DIR]         (every DIR/*/model.onnx; DIR: models/zoo)

Run it with the peer venv's interpreter (`scripts/setup-ort.sh`, then
`target/venv-ort/bin/python scripts/model_references.py`). For each model it draws one input
per graph input from a generator seeded by the file name (standard normal for floats), runs
the CPU provider, and writes `models/test-data/<name>/test_data_set_0/input_K.pb` and
`output_K.pb`, the layout `zantc verify --data-dir` reads. A model with scalar boolean
inputs (mode flags, which an `If` tests) gets two data sets, the flags all true in
`test_data_set_0` and all false in `test_data_set_1`, the other inputs the same, so both
branches are checked. The venv has no `onnx` package, so the few `TensorProto` fields the
files need are encoded here by hand.

`compiler/tests/generated_examples.rs` compares every model that has such a folder with
these outputs through `zant_compiler::verify`.

With `--zoo`, the models are the zoo's (`make-models --zoo DIR`) and each data set goes
beside its model, `DIR/<name>/test_data_set_0/`, the layout `zantc verify` and `zantc bench`
read from a model's folder; the generator is seeded by the folder name, since every file
there is `model.onnx`.
"""

import pathlib
import sys
import zlib

import numpy as np
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parent.parent

# ONNX `TensorProto.DataType` codes of the element types the models use.
DATA_TYPES = {
    np.dtype(np.float32): 1,
    np.dtype(np.uint8): 2,
    np.dtype(np.int8): 3,
    np.dtype(np.int32): 6,
    np.dtype(np.int64): 7,
    np.dtype(np.bool_): 9,
    np.dtype(np.float16): 10,
    np.dtype(np.float64): 11,
}

# ONNX Runtime's type strings, as `InferenceSession.get_inputs()` reports them.
NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def tensor_proto(name: str, array: np.ndarray) -> bytes:
    """A `TensorProto` with `dims` (1), `data_type` (2), `name` (8) and little-endian
    `raw_data` (9)."""
    out = bytearray()
    for dim in array.shape:
        out += field(1, 0) + varint(dim)
    out += field(2, 0) + varint(DATA_TYPES[array.dtype])
    encoded = name.encode()
    out += field(8, 2) + varint(len(encoded)) + encoded
    raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    out += field(9, 2) + varint(len(raw)) + raw
    return bytes(out)


def sample(rng: np.random.Generator, dtype, shape) -> np.ndarray:
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 10, size=shape).astype(dtype)
    return rng.standard_normal(size=shape).astype(dtype)


def write_references(model: pathlib.Path, data_dir: pathlib.Path, seed_name: str) -> None:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(zlib.crc32(seed_name.encode()))
    feeds = {}
    for value in session.get_inputs():
        if any(not isinstance(dim, int) for dim in value.shape):
            sys.exit(f"{model.name}: input {value.name} has a symbolic shape {value.shape}")
        feeds[value.name] = sample(rng, NUMPY_TYPES[value.type], value.shape)
    flags = [name for name, array in feeds.items() if array.dtype == np.bool_ and array.ndim == 0]
    data_sets = [feeds]
    if flags:
        data_sets = [{**feeds, **{f: np.array(value) for f in flags}} for value in (True, False)]
    for index, data_set in enumerate(data_sets):
        outputs = session.run(None, data_set)
        folder = data_dir / f"test_data_set_{index}"
        folder.mkdir(parents=True, exist_ok=True)
        for k, (name, array) in enumerate(data_set.items()):
            (folder / f"input_{k}.pb").write_bytes(tensor_proto(name, array))
        for k, (value, array) in enumerate(zip(session.get_outputs(), outputs)):
            (folder / f"output_{k}.pb").write_bytes(tensor_proto(value.name, array))
        shown = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
        print(f"wrote {shown} (onnxruntime {ort.__version__})")


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--zoo"]:
        zoo = pathlib.Path(args[1]) if len(args) > 1 else ROOT / "models" / "zoo"
        for model in sorted(zoo.resolve().glob("*/model.onnx")):
            write_references(model, model.parent, model.parent.name)
        return
    models = [pathlib.Path(m) for m in args] or sorted((ROOT / "models").glob("*.onnx"))
    for model in models:
        model = model.resolve()
        write_references(model, ROOT / "models" / "test-data" / model.stem, model.name)


if __name__ == "__main__":
    main()
