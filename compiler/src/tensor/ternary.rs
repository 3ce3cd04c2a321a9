//! Ternary (1.58-bit) weights: absmean quantization per output channel, the packed form
//! the kernels read, and the dequantized `f32` weights that stand for it in a float model.
//!
//! BitNet b1.58's rule, per output channel `c`: `scale_c = mean |w|` over the channel's
//! weights and `w̃ = round(clip(w / scale_c, −1, 1))`, rounding half to even (as PyTorch's
//! `round` in the reference implementation), so a weight stands for `w̃ · scale_c`. A
//! channel of zeros has scale 0 and zero trits. The output channel is axis 0 of a Conv
//! weight `[M, C/group, k…]` and of Gemm's `B` with `transB = 1` (`[N, K]`), and a column
//! of MatMul's `B` (`[K, N]`, Gemm's with `transB = 0`): [`OutputAxis`].
//!
//! The packed form is the runtime's (`zant_runtime::ternary`, which documents the code):
//! one row per output channel holding its trits in the order of the flattened weight
//! (input channel, then kernel row and column for a convolution), five to a byte, the
//! last byte of a row padded with zero trits. [`pack`] and [`unpack`] are inverses.

use std::fmt;
use std::str::FromStr;

use zant_runtime::ternary::{decode, encode, row_bytes, TRITS_PER_BYTE};

use crate::tensor::{DType, Data, Tensor, TensorType};

/// Where a weight tensor keeps its output channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputAxis {
    /// Axis 0: a Conv weight `[M, C/group, k…]`, or Gemm's `B` with `transB = 1`.
    First,
    /// The columns of a matrix: MatMul's `B` `[K, N]`, or Gemm's with `transB = 0`.
    Last,
}

/// Why a weight has no ternary form, or packed rows are not what they should be.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TernaryError {
    #[error("ternary weights are made from f32 weights, not {0}")]
    NotF32(DType),
    #[error("a weight {0} has no output channels on axis {1:?}")]
    NoChannels(TensorType, OutputAxis),
    #[error("output channel {channel} holds the weight {value}, which has no ternary form")]
    NotFinite { channel: usize, value: f32 },
    #[error("{len} packed bytes are not {outputs} rows of {row_len} bytes ({inputs} trits each)")]
    PackedLength {
        len: usize,
        outputs: usize,
        row_len: usize,
        inputs: usize,
    },
}

/// A layer's weights as trits, one row per output channel, and the channels' scales.
#[derive(Clone, Debug, PartialEq)]
pub struct Ternary {
    /// Output channels: the rows.
    pub outputs: usize,
    /// Weights per output channel: a row's length.
    pub inputs: usize,
    /// `outputs × inputs` trits (−1, 0 or +1), row after row.
    pub trits: Vec<i8>,
    /// One scale per output channel.
    pub scales: Vec<f32>,
}

impl Ternary {
    /// The weights the trits stand for, `trit · scale`, in the layout and shape of the
    /// weight they were made from (`shape`, with its output channels on `axis`).
    pub fn dequantize(&self, shape: &[usize], axis: OutputAxis) -> Tensor {
        let mut values = vec![0.0f32; self.outputs * self.inputs];
        for (c, (row, &scale)) in self
            .trits
            .chunks_exact(self.inputs.max(1))
            .zip(&self.scales)
            .enumerate()
        {
            for (i, &t) in row.iter().enumerate() {
                let at = match axis {
                    OutputAxis::First => c * self.inputs + i,
                    OutputAxis::Last => i * self.outputs + c,
                };
                values[at] = f32::from(t) * scale;
            }
        }
        Tensor::new(shape.to_vec(), Data::F32(values))
    }
}

/// The absmean ternary form of `w`, an `f32` weight whose output channels lie on `axis`.
/// Fails on a weight that is not `f32`, a shape `axis` does not apply to (a scalar, or
/// [`OutputAxis::Last`] on anything but a matrix) and on a channel whose weights are not
/// all finite.
pub fn quantize(w: &Tensor, axis: OutputAxis) -> Result<Ternary, TernaryError> {
    let values = w.as_f32().ok_or(TernaryError::NotF32(w.dtype()))?;
    let (outputs, inputs) = match (axis, w.shape.as_slice()) {
        (OutputAxis::First, [outputs, rest @ ..]) => (*outputs, rest.iter().product()),
        (OutputAxis::Last, [inputs, outputs]) => (*outputs, *inputs),
        _ => return Err(TernaryError::NoChannels(w.ty(), axis)),
    };
    let row = |c: usize| -> Vec<f32> {
        match axis {
            OutputAxis::First => values[c * inputs..][..inputs].to_vec(),
            OutputAxis::Last => (0..inputs).map(|i| values[i * outputs + c]).collect(),
        }
    };
    let mut trits = Vec::with_capacity(outputs * inputs);
    let mut scales = Vec::with_capacity(outputs);
    for c in 0..outputs {
        let row = row(c);
        if let Some(&value) = row.iter().find(|v| !v.is_finite()) {
            return Err(TernaryError::NotFinite { channel: c, value });
        }
        // The mean in f64: a long row of f32 magnitudes would otherwise lose low bits.
        let sum: f64 = row.iter().map(|v| f64::from(v.abs())).sum();
        let scale = if inputs == 0 {
            0.0
        } else {
            (sum / inputs as f64) as f32
        };
        scales.push(scale);
        trits.extend(row.iter().map(|&v| trit(v, scale)));
    }
    Ok(Ternary {
        outputs,
        inputs,
        trits,
        scales,
    })
}

/// `round(clip(v / scale, −1, 1))`, half to even; 0 for a channel of zeros (scale 0).
fn trit(v: f32, scale: f32) -> i8 {
    if scale == 0.0 {
        return 0;
    }
    (v / scale).clamp(-1.0, 1.0).round_ties_even() as i8
}

/// [`quantize`] then [`Ternary::dequantize`]: the `f32` weight, of `w`'s shape, that a
/// float model holds in place of `w` to compute what the ternary model computes.
/// `zantc quantize --weights ternary` writes these into a model ONNX Runtime can check.
pub fn dequantize(w: &Tensor, axis: OutputAxis) -> Result<Tensor, TernaryError> {
    Ok(quantize(w, axis)?.dequantize(&w.shape, axis))
}

/// The trits packed five to a byte, one row of `row_bytes(inputs)` bytes per output
/// channel; the last byte of a row is padded with zero trits.
pub fn pack(t: &Ternary) -> Vec<u8> {
    let row_len = row_bytes(t.inputs);
    let mut packed = Vec::with_capacity(t.outputs * row_len);
    for row in t.trits.chunks_exact(t.inputs.max(1)).take(t.outputs) {
        for chunk in row.chunks(TRITS_PER_BYTE) {
            let mut five = [0i8; TRITS_PER_BYTE];
            five[..chunk.len()].copy_from_slice(chunk);
            packed.push(encode(five));
        }
    }
    packed
}

/// The `outputs × inputs` trits of packed rows, as [`pack`] wrote them. Fails when
/// `packed` does not hold exactly `outputs` rows of `row_bytes(inputs)` bytes.
pub fn unpack(packed: &[u8], outputs: usize, inputs: usize) -> Result<Vec<i8>, TernaryError> {
    let row_len = row_bytes(inputs);
    if packed.len() != outputs * row_len {
        return Err(TernaryError::PackedLength {
            len: packed.len(),
            outputs,
            row_len,
            inputs,
        });
    }
    let mut trits = Vec::with_capacity(outputs * inputs);
    for row in packed.chunks_exact(row_len.max(1)).take(outputs) {
        trits.extend(row.iter().flat_map(|&code| decode(code)).take(inputs));
    }
    Ok(trits)
}

/// The packed weights as the constant a ternary op reads: `u8[outputs, row_bytes]`.
pub fn packed_tensor(t: &Ternary) -> Tensor {
    Tensor::new(vec![t.outputs, row_bytes(t.inputs)], Data::U8(pack(t)))
}

/// The scales as the constant a ternary op reads: `f32[outputs]`.
pub fn scale_tensor(t: &Ternary) -> Tensor {
    Tensor::new(vec![t.outputs], Data::F32(t.scales.clone()))
}

/// Which weight layers `--keep-float` leaves in `f32` when the others become ternary:
/// the first and the last in schedule order, which carry the most accuracy per weight
/// (the first sees the raw input, the last writes the logits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeepFloat {
    pub first: bool,
    pub last: bool,
}

impl FromStr for KeepFloat {
    type Err = String;

    /// `first`, `last`, `first,last` (either order) or `none`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut keep = KeepFloat::default();
        for part in s.split(',').map(str::trim) {
            match part {
                "first" => keep.first = true,
                "last" => keep.last = true,
                "none" => {}
                other => {
                    return Err(format!(
                        "`{other}` is not a layer to keep in float: write first, last, first,last or none"
                    ))
                }
            }
        }
        Ok(keep)
    }
}

impl fmt::Display for KeepFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.first, self.last) {
            (true, true) => "first,last",
            (true, false) => "first",
            (false, true) => "last",
            (false, false) => "none",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: Vec<usize>, values: Vec<f32>) -> Tensor {
        Tensor::new(shape, Data::F32(values))
    }

    #[test]
    fn absmean_per_output_channel() {
        // Conv-like [2, 1, 2, 2]: channel 0 has mean |w| 1.0, channel 1 is all zeros.
        let w = tensor(
            vec![2, 1, 2, 2],
            vec![0.4, -2.0, 1.6, 0.0, 0.0, 0.0, 0.0, 0.0],
        );
        let t = quantize(&w, OutputAxis::First).unwrap();
        assert_eq!((t.outputs, t.inputs), (2, 4));
        assert_eq!(t.scales, [1.0, 0.0]);
        // 0.4 rounds to 0, −2.0 clips to −1, 1.6 clips to 1.
        assert_eq!(t.trits, [0, -1, 1, 0, 0, 0, 0, 0]);
        // Exactly half a scale rounds to even, that is to 0.
        let half = tensor(vec![1, 2], vec![0.5, 1.5]);
        assert_eq!(quantize(&half, OutputAxis::First).unwrap().trits, [0, 1]);
    }

    #[test]
    fn a_matmul_weight_has_its_channels_in_columns() {
        // B [K = 3, N = 2]: column 0 is (3, −3, 0), column 1 is (1, 1, 1).
        let b = tensor(vec![3, 2], vec![3.0, 1.0, -3.0, 1.0, 0.0, 1.0]);
        let t = quantize(&b, OutputAxis::Last).unwrap();
        assert_eq!(t.scales, [2.0, 1.0]);
        assert_eq!(t.trits, [1, -1, 0, 1, 1, 1]);
        let d = dequantize(&b, OutputAxis::Last).unwrap();
        assert_eq!(d.shape, [3, 2]);
        assert_eq!(d.as_f32().unwrap(), [2.0, 1.0, -2.0, 1.0, 0.0, 1.0]);
        // The same weight transposed ([N, K], Gemm's transB = 1) gives the same trits.
        let bt = tensor(vec![2, 3], vec![3.0, -3.0, 0.0, 1.0, 1.0, 1.0]);
        assert_eq!(quantize(&bt, OutputAxis::First).unwrap(), t);
    }

    #[test]
    fn refuses_what_has_no_ternary_form() {
        let ints = Tensor::new(vec![2, 2], Data::I32(vec![1, 2, 3, 4]));
        let err = quantize(&ints, OutputAxis::First).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ternary weights are made from f32 weights, not i32"
        );
        let cube = tensor(vec![1, 1, 1], vec![1.0]);
        let err = quantize(&cube, OutputAxis::Last).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a weight f32[1,1,1] has no output channels on axis Last"
        );
        let nan = tensor(vec![2, 1], vec![1.0, f32::NAN]);
        let err = quantize(&nan, OutputAxis::First).unwrap_err();
        assert_eq!(
            err.to_string(),
            "output channel 1 holds the weight NaN, which has no ternary form"
        );
    }

    #[test]
    fn packing_round_trips() {
        // All 243 codes: every combination of five trits, as one row of 5 × 243 trits.
        let all: Vec<i8> = (0..243u32)
            .flat_map(|code| (0..5).map(move |i| (code / 3u32.pow(i) % 3) as i8 - 1))
            .collect();
        let t = Ternary {
            outputs: 1,
            inputs: all.len(),
            trits: all.clone(),
            scales: vec![1.0],
        };
        let packed = pack(&t);
        assert_eq!(packed, (0..243).map(|c| c as u8).collect::<Vec<_>>());
        assert_eq!(unpack(&packed, 1, all.len()).unwrap(), all);
        // Rows whose length is not a multiple of five: each row starts a fresh byte and
        // its last byte is padded with zero trits (digit 1).
        for inputs in [1, 4, 6, 7, 9, 11, 13] {
            let trits: Vec<i8> = (0..3 * inputs).map(|i| (i * 7 % 3) as i8 - 1).collect();
            let t = Ternary {
                outputs: 3,
                inputs,
                trits: trits.clone(),
                scales: vec![1.0; 3],
            };
            let packed = pack(&t);
            assert_eq!(packed.len(), 3 * inputs.div_ceil(5), "{inputs} inputs");
            assert_eq!(
                unpack(&packed, 3, inputs).unwrap(),
                trits,
                "{inputs} inputs"
            );
            let last = decode(packed[inputs.div_ceil(5) - 1]);
            assert!(last[(inputs - 1) % 5 + 1..].iter().all(|&t| t == 0));
        }
        // 1.6 bits per weight: 64 weights in 13 bytes.
        assert_eq!(row_bytes(64), 13);
        let err = unpack(&[0; 5], 2, 6).unwrap_err();
        assert_eq!(
            err.to_string(),
            "5 packed bytes are not 2 rows of 2 bytes (6 trits each)"
        );
    }

    #[test]
    fn keep_float_reads_its_flag() {
        let keep: KeepFloat = "last,first".parse().unwrap();
        assert_eq!(
            keep,
            KeepFloat {
                first: true,
                last: true
            }
        );
        assert_eq!(keep.to_string(), "first,last");
        assert_eq!("none".parse::<KeepFloat>().unwrap(), KeepFloat::default());
        assert_eq!(
            "middle".parse::<KeepFloat>().unwrap_err(),
            "`middle` is not a layer to keep in float: write first, last, first,last or none"
        );
    }
}
