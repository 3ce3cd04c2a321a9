//! The ONNX backend's comparison rule.
//!
//! Floats match when `|got - want| <= atol + rtol·|want|` (numpy's `assert_allclose`, which
//! the ONNX backend test runner uses; rtol 1e-3 and atol 1e-7 unless the case sets its
//! own), NaN matches NaN and an infinity matches only the same infinity. A bfloat16 output
//! takes rtol `max(rtol, 2⁻⁶)`, two of its ulps, as that runner does (onnx 1.23.2): it
//! has 8 significant bits, so one rounding step is more than the default 1e-3. Integers
//! and booleans must be equal.

use zant_compiler::ir::{DType, Data, Tensor};

/// The relative tolerance the ONNX runner gives a bfloat16 output at least: two ulps.
pub const BF16_RTOL: f64 = 1.0 / 64.0;

/// Compares one output; `Err` says where it differs.
pub fn compare(got: &Tensor, want: &Tensor, rtol: f64, atol: f64) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!(
            "the output is {} but the reference is {}",
            got.ty(),
            want.ty()
        ));
    }
    if got.shape != want.shape {
        return Err(format!(
            "the output has shape {:?}, the reference {:?}",
            got.shape, want.shape
        ));
    }
    let float = want.dtype().is_float();
    let rtol = match want.dtype() {
        DType::BF16 => rtol.max(BF16_RTOL),
        _ => rtol,
    };
    let (g, w) = (got.data.to_f64_vec(), want.data.to_f64_vec());
    // Integers compare as their bytes (same dtype, so same width): f64 would round
    // 64-bit integers.
    let exact = |a: &Data, b: &Data| -> Vec<bool> {
        let ((a, size), (b, _)) = (a.element_bytes(), b.element_bytes());
        a.chunks_exact(size)
            .zip(b.chunks_exact(size))
            .map(|(p, q)| p == q)
            .collect()
    };
    let matches: Vec<bool> = if float {
        g.iter()
            .zip(&w)
            .map(|(&a, &b)| close(a, b, rtol, atol))
            .collect()
    } else {
        exact(&got.data, &want.data)
    };
    let bad: Vec<usize> = (0..matches.len()).filter(|&i| !matches[i]).collect();
    let Some(&first) = bad.first() else {
        return Ok(());
    };
    let worst = if float {
        bad.iter()
            .copied()
            .max_by(|&i, &j| excess(g[i], w[i]).total_cmp(&excess(g[j], w[j])))
            .unwrap_or(first)
    } else {
        first
    };
    Err(format!(
        "{} of {} elements differ; at flat index {worst}: got {}, want {}",
        bad.len(),
        matches.len(),
        g[worst],
        w[worst]
    ))
}

/// The ONNX rule for one float.
pub fn close(got: f64, want: f64, rtol: f64, atol: f64) -> bool {
    if want.is_nan() || got.is_nan() {
        return want.is_nan() && got.is_nan();
    }
    if want.is_infinite() || got.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= atol + rtol * want.abs()
}

/// How far outside the tolerance a pair is, for picking the worst element.
fn excess(got: f64, want: f64) -> f64 {
    if got.is_nan() != want.is_nan() || got.is_infinite() || want.is_infinite() {
        f64::INFINITY
    } else {
        (got - want).abs() / (1e-7 + 1e-3 * want.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(v: &[f32]) -> Tensor {
        Tensor::new(vec![v.len()], Data::F32(v.to_vec()))
    }

    #[test]
    fn floats_within_tolerance_match() {
        let want = floats(&[1.0, 100.0, f32::NAN, f32::INFINITY, 0.0]);
        let got = floats(&[1.0009, 100.09, f32::NAN, f32::INFINITY, 1e-8]);
        assert_eq!(compare(&got, &want, 1e-3, 1e-7), Ok(()));
    }

    #[test]
    fn floats_outside_tolerance_name_the_worst_element() {
        let want = floats(&[1.0, 2.0, 3.0]);
        let got = floats(&[1.01, 2.0, 5.0]);
        assert_eq!(
            compare(&got, &want, 1e-3, 1e-7),
            Err("2 of 3 elements differ; at flat index 2: got 5, want 3".into())
        );
        let got = floats(&[1.0, f32::NAN, f32::NEG_INFINITY]);
        assert!(compare(&got, &want, 1e-3, 1e-7).is_err());
    }

    #[test]
    fn bfloat16_takes_two_of_its_ulps() {
        let bf16 = |v: &[f32]| {
            let codes = v.iter().map(|&x| (x.to_bits() >> 16) as u16).collect();
            Tensor::new(vec![v.len()], Data::BF16(codes))
        };
        // 0.5156 against 0.5195: one bfloat16 step, 0.75 %, outside 1e-3.
        let (want, got) = (bf16(&[0.519_531_25]), bf16(&[0.515_625]));
        assert_eq!(compare(&got, &want, 1e-3, 1e-7), Ok(()));
        // Three steps are too many.
        let got = bf16(&[0.507_812_5]);
        assert!(compare(&got, &want, 1e-3, 1e-7).is_err());
        // The same values in f32 keep rtol 1e-3.
        assert!(compare(&floats(&[0.515_625]), &floats(&[0.519_531_25]), 1e-3, 1e-7).is_err());
    }

    #[test]
    fn integers_must_be_equal() {
        let want = Tensor::new(vec![2], Data::I64(vec![i64::MAX, 3]));
        let got = Tensor::new(vec![2], Data::I64(vec![i64::MAX - 1, 3]));
        assert!(compare(&got, &want, 1e-3, 1e-7).is_err());
        assert_eq!(compare(&want, &want, 1e-3, 1e-7), Ok(()));
    }

    #[test]
    fn types_and_shapes_must_agree() {
        let want = floats(&[1.0, 2.0]);
        let got = Tensor::new(vec![2], Data::F64(vec![1.0, 2.0]));
        assert!(compare(&got, &want, 1e-3, 1e-7).is_err());
        let got = Tensor::new(vec![1, 2], Data::F32(vec![1.0, 2.0]));
        assert!(compare(&got, &want, 1e-3, 1e-7).is_err());
    }
}
