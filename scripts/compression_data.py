"""Input sets for the compression report of the models that have no dataset of their own.

- mnist-8 reads 28x28 images of 0..255 pixels: the 8x8 digits of ../shared/datasets/digits,
  upscaled bilinearly to 20x20 and centred in 28x28 (MNIST's own layout), as
  `mnist-digits.npy` [1797, 1, 28, 28] float32, with the digits' labels.
- mlperf-kws reads 49x10 MFCC frames and no speech set is at hand: `kws-noise.npy` holds
  seeded normal noise [1797, 49, 10, 1] float32 with the spread of its reference input
  (standard deviation 2), so the report measures agreement with the float model on it.

Usage: python compression_data.py DIGITS_DIR OUT_DIR
"""

import sys
from pathlib import Path

import numpy as np


def upscale(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of [N, h, w] to [N, size, size], pixel centres aligned."""
    n, h, w = images.shape
    ys = (np.arange(size) + 0.5) * h / size - 0.5
    xs = (np.arange(size) + 0.5) * w / size - 0.5
    rows = np.stack(
        [np.stack([np.interp(ys, np.arange(h), img[:, c]) for c in range(w)], axis=1) for img in images]
    )
    return np.stack(
        [np.stack([np.interp(xs, np.arange(w), img[r, :]) for r in range(size)], axis=0) for img in rows]
    )


def main() -> None:
    digits, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    images = np.load(digits / "images.npy")[..., 0]
    big = upscale(images, 20)
    mnist = np.zeros((len(images), 1, 28, 28), dtype=np.float32)
    mnist[:, 0, 4:24, 4:24] = np.clip(big, 0.0, 1.0) * 255.0
    np.save(out / "mnist-digits.npy", mnist)
    rng = np.random.default_rng(20261122)
    noise = rng.normal(0.0, 2.0, size=(len(images), 49, 10, 1)).astype(np.float32)
    np.save(out / "kws-noise.npy", noise)


if __name__ == "__main__":
    main()
