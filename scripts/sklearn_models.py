"""Trains two scikit-learn classifiers on the digits set and exports them with skl2onnx.

Usage: sklearn_models.py DATASET_DIR   (run through scripts/sklearn-models.sh)

The models are what a user of classic ML on a microcontroller brings: a small random
forest and a logistic regression, trained on images 0..1399 of `../shared/datasets/digits`
(8×8 pixels in [0, 1], flattened to 64 features) and converted with `zipmap=False`, so
their outputs are an int64 `label` and float `probabilities`. The batch is fixed to
SAMPLES, the images the reference outputs are computed on.

For each model it writes `models/sklearn/<name>.onnx` and, next to it,
`<name>/test_data_set_0/` with the input (test images 1400..1400+SAMPLES) and ONNX
Runtime's outputs, the layout `zantc verify --data-dir` reads. Training is seeded, so
running it again with the pinned packages writes the same files.
"""

import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
import sklearn
import skl2onnx
from onnx import numpy_helper
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "models" / "sklearn"
# Images per reference batch, taken from the start of the test split.
SAMPLES = 16
# The opsets skl2onnx targets: ai.onnx.ml 3 is what it writes by default for trees.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def export(name: str, model, features: int, test: np.ndarray) -> None:
    onx = skl2onnx.to_onnx(
        model,
        initial_types=[("input", FloatTensorType([SAMPLES, features]))],
        options={id(model): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    # skl2onnx stamps its own version into the file; the producer fields are kept, the
    # rest of the file depends only on the model.
    onx.doc_string = ""
    path = OUT / f"{name}.onnx"
    path.write_bytes(onx.SerializeToString())

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"input": test})
    folder = OUT / name / "test_data_set_0"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "input_0.pb").write_bytes(numpy_helper.from_array(test, "input").SerializeToString())
    for k, (value, array) in enumerate(zip(session.get_outputs(), outputs)):
        tensor = numpy_helper.from_array(np.asarray(array), value.name)
        (folder / f"output_{k}.pb").write_bytes(tensor.SerializeToString())
    accuracy = (outputs[0] == model.predict(test)).mean()
    print(f"wrote {path.relative_to(ROOT)} and {folder.relative_to(ROOT)} "
          f"(onnxruntime {ort.__version__}, agrees with scikit-learn on {accuracy:.0%})")


def main() -> None:
    dataset = pathlib.Path(sys.argv[1])
    images = np.load(dataset / "images.npy").reshape(-1, 64).astype(np.float32)
    labels = np.load(dataset / "labels.npy")
    train_x, train_y = images[:1400], labels[:1400]
    test = images[1400 : 1400 + SAMPLES]
    OUT.mkdir(parents=True, exist_ok=True)

    forest = RandomForestClassifier(n_estimators=10, max_depth=8, random_state=0)
    forest.fit(train_x, train_y)
    export("digits-forest", forest, 64, test)

    linear = LogisticRegression(max_iter=1000)
    linear.fit(train_x, train_y)
    export("digits-logistic", linear, 64, test)

    held_out = images[1400:], labels[1400:]
    print(f"test accuracy (images 1400..): forest {forest.score(*held_out):.4f}, "
          f"logistic {linear.score(*held_out):.4f} (scikit-learn {sklearn.__version__}, "
          f"skl2onnx {skl2onnx.__version__}, onnx {onnx.__version__})")


if __name__ == "__main__":
    main()
