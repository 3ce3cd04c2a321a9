//! Classification losses: ONNX `NegativeLogLikelihoodLoss` and `SoftmaxCrossEntropyLoss`.
//!
//! Scores are viewed as `[batch, classes, inner]` and targets as `[batch, inner]`, `inner`
//! being the product of the trailing axes `d1…dk` (1 without them). The softmax
//! cross-entropy of one sample needs only the maximum and the sum of exponentials of its
//! class column, so it streams without scratch memory; the optional `log_prob` output
//! is written by [`crate::elementwise::log_softmax`], which uses the same formula.

use crate::scalar::Index;
use crate::tokens::tokens;
use crate::KernelError;

tokens! {
    rt::loss;
    /// How the per-sample losses are combined.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Reduction {
        /// The per-sample losses, shaped like the target.
        None,
        /// Their sum.
        Sum,
        /// `Σ wᵢ·lᵢ / Σ wᵢ`, `wᵢ` being the weight of sample `i`'s class (1 without weights)
        /// and 0 for an ignored sample.
        Mean,
    }
}

tokens! {
    rt::loss;
    /// The layout and options of a loss.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Loss {
        pub batch: usize,
        pub classes: usize,
        pub inner: usize,
        pub reduction: Reduction,
        /// Samples whose target equals this contribute nothing.
        pub ignore_index: Option<i64>,
    }
}

/// Negative log-likelihood: `lᵢ = −x[n, target, d] · weight[target]`, where `x` holds
/// log-probabilities. `y` has `batch · inner` values for [`Reduction::None`], else one.
///
/// A target outside `0..classes` that is not the ignored index is an
/// [`KernelError::IndexOutOfRange`]; `y` may then be partly written.
pub fn nll_loss<I: Index>(
    p: &Loss,
    x: &[f32],
    target: &[I],
    weight: Option<&[f32]>,
    y: &mut [f32],
) -> Result<(), KernelError> {
    reduce_samples(p, target, weight, y, |n, c, d| {
        -x[(n * p.classes + c) * p.inner + d]
    })
}

/// Softmax cross-entropy: [`nll_loss`] of `log_softmax(x)` along the class axis, computed
/// per sample as `ln Σ e^(x − max) − (x[target] − max)`. `log_prob`, when given, receives
/// the whole `log_softmax(x)`.
pub fn softmax_cross_entropy<I: Index>(
    p: &Loss,
    x: &[f32],
    target: &[I],
    weight: Option<&[f32]>,
    y: &mut [f32],
    log_prob: Option<&mut [f32]>,
) -> Result<(), KernelError> {
    let Loss { classes, inner, .. } = *p;
    if let Some(log_prob) = log_prob {
        crate::elementwise::log_softmax(p.batch, classes, inner, x, log_prob);
    }
    reduce_samples(p, target, weight, y, |n, c, d| {
        let column = |k: usize| x[(n * classes + k) * inner + d];
        let max = (0..classes).map(column).fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = (0..classes).map(|k| libm::expf(column(k) - max)).sum();
        libm::logf(sum) - (column(c) - max)
    })
}

/// Computes the loss of every sample with `loss(n, class, d)` (the unweighted loss of
/// sample `(n, d)` whose target is `class`), weights it and reduces.
fn reduce_samples<I: Index>(
    p: &Loss,
    target: &[I],
    weight: Option<&[f32]>,
    y: &mut [f32],
    loss: impl Fn(usize, usize, usize) -> f32,
) -> Result<(), KernelError> {
    let Loss {
        batch,
        classes,
        inner,
        reduction,
        ignore_index,
    } = *p;
    let target = &target[..batch * inner];
    // Sums in f64: a mean over many samples should not depend on their order.
    let mut weighted_sum = 0.0f64;
    let mut weight_sum = 0.0f64;
    for n in 0..batch {
        for d in 0..inner {
            let t = target[n * inner + d].to_i64();
            let (value, w) = if Some(t) == ignore_index {
                (0.0, 0.0)
            } else {
                let c = usize::try_from(t).ok().filter(|&c| c < classes).ok_or(
                    KernelError::IndexOutOfRange {
                        index: t,
                        len: classes,
                    },
                )?;
                let w = weight.map_or(1.0, |w| w[c]);
                (loss(n, c, d) * w, w)
            };
            match reduction {
                Reduction::None => y[n * inner + d] = value,
                Reduction::Sum | Reduction::Mean => {
                    weighted_sum += f64::from(value);
                    weight_sum += f64::from(w);
                }
            }
        }
    }
    match reduction {
        Reduction::None => {}
        Reduction::Sum => y[0] = weighted_sum as f32,
        // All samples ignored: 0/0, NaN, as the ONNX reference computes.
        Reduction::Mean => y[0] = (weighted_sum / weight_sum) as f32,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

    /// Scores of shape [2, 3, 2] and targets [2, 2], as in the ONNX operator examples.
    const X: [f32; 12] = [1.0, 2.0, 2.0, 2.0, 3.0, 2.0, 0.0, 1.0, 2.0, 2.0, 1.0, 2.0];
    const TARGET: [i64; 4] = [2, 1, 0, 2];

    fn params(reduction: Reduction, ignore_index: Option<i64>) -> Loss {
        Loss {
            batch: 2,
            classes: 3,
            inner: 2,
            reduction,
            ignore_index,
        }
    }

    fn close(got: f32, want: f64) -> bool {
        (got as f64 - want).abs() <= 1e-6 + 1e-6 * want.abs()
    }

    #[test]
    fn nll_follows_the_operator_examples() {
        let mut y = [0.0; 4];
        nll_loss(&params(Reduction::None, None), &X, &TARGET, None, &mut y).unwrap();
        assert_eq!(y, [-3.0, -2.0, -0.0, -2.0]);

        let weight = [0.2, 0.3, 0.1];
        let mut sum = [0.0];
        nll_loss(
            &params(Reduction::Sum, None),
            &X,
            &TARGET,
            Some(&weight),
            &mut sum,
        )
        .unwrap();
        assert!(close(sum[0], -1.1), "{sum:?}");

        let mut mean = [0.0];
        nll_loss(
            &params(Reduction::Mean, None),
            &X,
            &TARGET,
            Some(&weight),
            &mut mean,
        )
        .unwrap();
        assert!(close(mean[0], -1.1 / 0.7), "{mean:?}");
    }

    #[test]
    fn ignored_samples_leave_the_mean() {
        let mut y = [0.0];
        nll_loss(&params(Reduction::Mean, Some(2)), &X, &TARGET, None, &mut y).unwrap();
        // Samples 0 and 3 have target 2; the others lose 2 and 0.
        assert!(close(y[0], -1.0), "{y:?}");
        let mut all_ignored = [0.0];
        nll_loss(
            &params(Reduction::Mean, Some(7)),
            &X,
            &[7i32; 4],
            None,
            &mut all_ignored,
        )
        .unwrap();
        assert!(all_ignored[0].is_nan());
    }

    #[test]
    fn a_target_out_of_range_is_an_error() {
        let mut y = [0.0; 4];
        let err = nll_loss(
            &params(Reduction::None, None),
            &X,
            &[0i64, 3, 0, 0],
            None,
            &mut y,
        );
        assert_eq!(err, Err(KernelError::IndexOutOfRange { index: 3, len: 3 }));
        let err = nll_loss(
            &params(Reduction::Sum, Some(-1)),
            &X,
            &[-1i64, -2, 0, 0],
            None,
            &mut y,
        );
        assert_eq!(err, Err(KernelError::IndexOutOfRange { index: -2, len: 3 }));
    }

    #[test]
    fn softmax_cross_entropy_matches_naive() {
        let weight = [0.5f32, 2.0, 1.0];
        for reduction in [Reduction::None, Reduction::Sum, Reduction::Mean] {
            let p = params(reduction, Some(1));
            let mut y = std::vec![0.0; if reduction == Reduction::None { 4 } else { 1 }];
            let mut log_prob = [0.0; 12];
            softmax_cross_entropy(&p, &X, &TARGET, Some(&weight), &mut y, Some(&mut log_prob))
                .unwrap();
            // The reference in f64: log-softmax along the class axis, then weighted NLL.
            let mut want_log_prob = [0.0f64; 12];
            for n in 0..2 {
                for d in 0..2 {
                    let at = |c: usize| (n * 3 + c) * 2 + d;
                    let lse = (0..3).map(|c| (X[at(c)] as f64).exp()).sum::<f64>().ln();
                    for c in 0..3 {
                        want_log_prob[at(c)] = X[at(c)] as f64 - lse;
                    }
                }
            }
            let mut losses = Vec::new();
            let mut weights = Vec::new();
            for (i, &t) in TARGET.iter().enumerate() {
                let (n, d) = (i / 2, i % 2);
                if t == 1 {
                    losses.push(0.0);
                    weights.push(0.0);
                } else {
                    let w = weight[t as usize] as f64;
                    losses.push(-want_log_prob[(n * 3 + t as usize) * 2 + d] * w);
                    weights.push(w);
                }
            }
            let want: Vec<f64> = match reduction {
                Reduction::None => losses,
                Reduction::Sum => std::vec![losses.iter().sum()],
                Reduction::Mean => {
                    std::vec![losses.iter().sum::<f64>() / weights.iter().sum::<f64>()]
                }
            };
            for (g, w) in y.iter().zip(&want) {
                assert!(close(*g, *w), "{reduction:?}: got {y:?}, want {want:?}");
            }
            for (g, w) in log_prob.iter().zip(&want_log_prob) {
                assert!(close(*g, *w), "log_prob: got {log_prob:?}");
            }
        }
    }
}
