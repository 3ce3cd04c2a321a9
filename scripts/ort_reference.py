"""Writes ONNX Runtime's outputs for a model as a test data set `zantc verify` reads.

Usage: ort_reference.py MODEL OUT_DIR [--seed N]

Feeds every graph input deterministic values (uniform in [0, 1) from NumPy's PCG64 with
the seed, drawn in float64 and cast to the input's type), runs the CPU provider and writes
`OUT_DIR/test_data_set_0/input_K.pb` and `output_K.pb` as ONNX `TensorProto`s with
`raw_data`, the layout of the ONNX model zoo. Run it with the peer venv
(`scripts/setup-ort.sh`, `target/venv-ort/bin/python`): ONNX Runtime and NumPy only, so
the protobuf messages are encoded here, field by field.
"""

import argparse
import os

import numpy as np
import onnxruntime as ort

# `TensorProto.DataType` codes of the NumPy types a reference can hold.
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
NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
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


def field(number: int, wire_type: int, payload: bytes) -> bytes:
    return varint(number << 3 | wire_type) + payload


def tensor_proto(name: str, array: np.ndarray) -> bytes:
    """`TensorProto` fields 1 (dims), 2 (data_type), 8 (name) and 9 (raw_data)."""
    array = np.ascontiguousarray(array)
    out = b"".join(field(1, 0, varint(d)) for d in array.shape)
    out += field(2, 0, varint(DATA_TYPES[array.dtype]))
    encoded = name.encode()
    out += field(8, 2, varint(len(encoded)) + encoded)
    raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
    out += field(9, 2, varint(len(raw)) + raw)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(args.seed)
    feeds = {}
    for i in session.get_inputs():
        if i.type not in NUMPY_TYPES or not all(isinstance(d, int) for d in i.shape):
            raise SystemExit(f"input {i.name}: {i.type} {i.shape} is not a static float input")
        feeds[i.name] = rng.random(i.shape).astype(NUMPY_TYPES[i.type])
    outputs = session.run(None, feeds)

    set_dir = os.path.join(args.out_dir, "test_data_set_0")
    os.makedirs(set_dir, exist_ok=True)
    for k, i in enumerate(session.get_inputs()):
        with open(os.path.join(set_dir, f"input_{k}.pb"), "wb") as f:
            f.write(tensor_proto(i.name, feeds[i.name]))
    for k, (o, value) in enumerate(zip(session.get_outputs(), outputs)):
        with open(os.path.join(set_dir, f"output_{k}.pb"), "wb") as f:
            f.write(tensor_proto(o.name, value))
    print(f"ort_reference.py: onnxruntime {ort.__version__}, wrote {set_dir}")


if __name__ == "__main__":
    main()
