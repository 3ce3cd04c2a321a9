"""Writes sample inputs for the shared models that have no data set of their own, so that
`zantc quantize` can calibrate them and the compression figures can evaluate them.

Usage: calibration_data.py [OUT_DIR]   (default: target/calibration)

Run it with the peer venv's interpreter (`scripts/setup-ort.sh`, then
`target/venv-ort/bin/python scripts/calibration_data.py`); it needs NumPy only. It writes,
deterministically:

- `mnist-8.npy`, float32 `[1797, 1, 28, 28]`: the digits of `../shared/datasets/digits`
  upscaled bilinearly from 8×8 to 20×20 and centred in 28×28, as MNIST centres its digits,
  in 0..255 (the scale on which mnist-8 labels them best: 88.9 % of the digits right, against
  87.0 % in 0..1). Their labels are `../shared/datasets/digits/labels.npy`.
- `mlperf-kws.npy`, float32 `[1797, 49, 10, 1]`: seeded normal noise with standard
  deviation 2, the distribution of the model's reference input. There is no speech data
  beside the models, so figures on it measure how closely a compressed model follows the
  float one, not keyword accuracy; the float model spreads these inputs over six classes.

Use rows 0..1400 to calibrate and 1400.. to evaluate, as for the digits.
"""

import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
DIGITS = ROOT.parent / "shared" / "datasets" / "digits" / "images.npy"


def upscale(image: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resampling of a square image to `size`×`size`, sampling pixel centres."""
    n = image.shape[0]
    src = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    frac = src - lo
    rows = image[lo] * (1 - frac)[:, None] + image[hi] * frac[:, None]
    return rows[:, lo] * (1 - frac)[None, :] + rows[:, hi] * frac[None, :]


def mnist_digits() -> np.ndarray:
    images = np.load(DIGITS)[:, :, :, 0]
    out = np.zeros((len(images), 1, 28, 28), np.float32)
    for i, image in enumerate(images):
        out[i, 0, 4:24, 4:24] = upscale(image, 20) * 255.0
    return out


def kws_noise(n: int) -> np.ndarray:
    rng = np.random.default_rng(0x6B7773)
    return (rng.standard_normal((n, 49, 10, 1)) * 2.0).astype(np.float32)


def main() -> None:
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "target" / "calibration"
    out.mkdir(parents=True, exist_ok=True)
    mnist = mnist_digits()
    np.save(out / "mnist-8.npy", mnist)
    np.save(out / "mlperf-kws.npy", kws_noise(len(mnist)))
    print(f"wrote {out / 'mnist-8.npy'} and {out / 'mlperf-kws.npy'} ({len(mnist)} rows each)")


if __name__ == "__main__":
    main()
