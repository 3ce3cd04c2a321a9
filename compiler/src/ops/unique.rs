//! Unique (opset 11): the distinct elements of the flattened input, or the distinct
//! slices along `axis`, sorted ascending (`sorted = 1`, the default) or in order of first
//! occurrence, with the index of each one's first occurrence, the position of every input
//! element (or slice) among them, and how often each occurs. How many there are depends
//! on the data, so `Y`, `indices` and `counts` are typed with a capacity (every element or
//! slice, or less under `--max-len`) and the kernel returns the count
//! ([`super::OpKind::bounded`]); `inverse_indices` always has one entry per input element
//! or slice. Every output is produced, named or not.

use proc_macro2::TokenStream;
use quote::quote;

use super::nonzero::{capacity_attr, capped, optional_axis};
use super::{
    around_axis, elem_type, required, Attrs, Bounded, EmitCtx, FoldCtx, NarrowSupport, OpError,
    OpKind, Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};
use zant_runtime::select::{unique_by, unique_scratch_len, UniqueOut};

#[derive(Clone, Debug, PartialEq)]
pub struct Unique {
    /// The axis, normalized; `None` takes the flattened input.
    pub axis: Option<usize>,
    pub sorted: bool,
    pub capacity: Option<usize>,
}

impl Unique {
    /// `(outer, len, inner)` of the input around the axis whose slices are compared.
    fn geometry(&self, x: &TensorType) -> Result<(usize, usize, usize), OpError> {
        match self.axis {
            None => Ok((1, x.n_elems(), 1)),
            Some(axis) if axis < x.rank() => Ok(around_axis(&x.shape, axis)),
            Some(axis) => Err(OpError::shape(format!(
                "axis {axis} is out of range for {x}"
            ))),
        }
    }

    /// The shape of `Y` holding `count` distinct elements or slices.
    fn values_shape(&self, x: &TensorType, count: usize) -> Vec<usize> {
        match self.axis {
            None => vec![count],
            Some(axis) => {
                let mut s = x.shape.clone();
                s[axis] = count;
                s
            }
        }
    }
}

impl Parse for Unique {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        Ok(Self {
            axis: optional_axis(ctx)?,
            sorted: ctx.int("sorted", 1)? != 0,
            capacity: capacity_attr(ctx)?,
        })
    }
}

impl OpKind for Unique {
    /// float16 and bfloat16 pass as stored and compare by value (`unique_by`), so `Y`
    /// needs no cast back, which would read a data-dependent output.
    fn narrow(&self) -> NarrowSupport {
        NarrowSupport::Native
    }

    fn attrs(&self, attrs: &mut Attrs) {
        if let Some(a) = self.axis {
            attrs.int("axis", a as i64);
        }
        attrs.int("sorted", i64::from(self.sorted));
        if let Some(c) = self.capacity {
            attrs.int("capacity", c as i64);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.dtype.narrow().is_some() && !matches!(x.dtype, DType::F16 | DType::BF16) {
            return Err(OpError::unsupported(format!(
                "Unique of {} is not supported (float16 and bfloat16 are)",
                x.dtype
            )));
        }
        let (_, len, _) = self.geometry(x)?;
        if u32::try_from(len).is_err() {
            return Err(OpError::unsupported(format!(
                "{len} elements or slices to compare are more than the kernel's u32 indices hold"
            )));
        }
        let cap = capped(len, self.capacity);
        Ok(vec![
            TensorType::new(x.dtype, self.values_shape(x, cap)),
            TensorType::new(DType::I64, vec![cap]),
            TensorType::new(DType::I64, vec![len]),
            TensorType::new(DType::I64, vec![cap]),
        ])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let (outer, len, inner) = self.geometry(&x.ty())?;
        let (mut indices, mut inverse, mut counts) = (vec![0; len], vec![0; len], vec![0; len]);
        let mut scratch = vec![0u32; unique_scratch_len(len)];
        let (values, count) = match &x.data {
            // float16 and bfloat16 bits compare by their values.
            Data::F16(v) | Data::BF16(v) => {
                let key = if x.dtype() == DType::F16 {
                    zant_runtime::narrow::f16_to_f32
                } else {
                    zant_runtime::narrow::bf16_to_f32
                };
                let (y, count) = fold_unique(
                    v,
                    (outer, len, inner),
                    self.sorted,
                    key,
                    (&mut indices, &mut inverse, &mut counts),
                    &mut scratch,
                )?;
                let data = if x.dtype() == DType::F16 {
                    Data::F16(y)
                } else {
                    Data::BF16(y)
                };
                (data, count)
            }
            data => crate::with_data!(data, v => {
                let (y, count) = fold_unique(v, (outer, len, inner), self.sorted, |e| e, (&mut indices, &mut inverse, &mut counts), &mut scratch)?;
                (super::retag(y, x.dtype()), count)
            }),
        };
        indices.truncate(count);
        counts.truncate(count);
        Ok(Some(vec![
            Tensor::new(self.values_shape(&x.ty(), count), values),
            Tensor::new(vec![count], Data::I64(indices)),
            Tensor::new(vec![len], Data::I64(inverse)),
            Tensor::new(vec![count], Data::I64(counts)),
        ]))
    }

    fn bounded(&self) -> Vec<Bounded> {
        vec![
            Bounded {
                slot: 0,
                axis: self.axis.unwrap_or(0),
            },
            Bounded { slot: 1, axis: 0 },
            Bounded { slot: 3, axis: 0 },
        ]
    }

    fn set_capacity(&mut self, n: usize) -> Result<(), OpError> {
        self.capacity = Some(n);
        Ok(())
    }

    fn scratch_type(&self) -> DType {
        DType::U32
    }

    fn scratch_bytes(
        &self,
        inputs: &[Option<&TensorType>],
        _kernels: zant_runtime::target::KernelSet,
    ) -> usize {
        let len = inputs
            .first()
            .copied()
            .flatten()
            .and_then(|x| self.geometry(x).ok())
            .map_or(0, |(_, len, _)| len);
        unique_scratch_len(len) * 4
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let (outer, len, inner) = self.geometry(x.ty)?;
        let (xe, t) = (&x.expr, elem_type(x.ty.dtype));
        let sorted = self.sorted;
        let try_ = ctx.try_suffix();
        let call = match x.ty.dtype {
            DType::F16 => quote! {
                rt::select::unique_by(#xe, #outer, #len, #inner, #sorted, out, scratch, rt::narrow::f16_to_f32)
            },
            DType::BF16 => quote! {
                rt::select::unique_by(#xe, #outer, #len, #inner, #sorted, out, scratch, rt::narrow::bf16_to_f32)
            },
            _ => {
                quote! { rt::select::unique::<#t>(#xe, #outer, #len, #inner, #sorted, out, scratch) }
            }
        };
        Ok(quote! {
            let out = rt::select::UniqueOut { values: y, indices: y1, inverse: y2, counts: y3 };
            let count = #call #try_;
        })
    }
}

/// Runs the kernel for folding: the distinct values of `v` (compared by `key`) packed at
/// the front of a copy of it, cut to their count, and the count; `indices`, `inverse` and
/// `counts` have room for every slice.
fn fold_unique<T: Copy, K: PartialOrd>(
    v: &[T],
    (outer, len, inner): (usize, usize, usize),
    sorted: bool,
    key: impl Fn(T) -> K,
    (indices, inverse, counts): (&mut [i64], &mut [i64], &mut [i64]),
    scratch: &mut [u32],
) -> Result<(Vec<T>, usize), OpError> {
    let mut y = v.to_vec();
    let out = UniqueOut {
        values: &mut y,
        indices,
        inverse,
        counts,
    };
    let count = unique_by(v, outer, len, inner, sorted, out, scratch, key)
        .map_err(|e| OpError::shape(e.to_string()))?;
    y.truncate(outer * count * inner);
    Ok((y, count))
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Unique").input("f32[6]").outputs(4).emit(), @r#"
        Unique(f32[6]) sorted=1 -> f32[6], i64[6], i64[6], i64[6]
        let out = rt::select::UniqueOut {
            values: y,
            indices: y1,
            inverse: y2,
            counts: y3,
        };
        let count = rt::select::unique::<f32>(x0, 1, 6, 1, true, out, scratch)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Unique").int("axis", -2).int("sorted", 0).input("i64[2,3,2]").outputs(4).emit(), @r#"
        Unique(i64[2,3,2]) axis=1 sorted=0 -> i64[2,3,2], i64[3], i64[3], i64[3]
        let out = rt::select::UniqueOut {
            values: y,
            indices: y1,
            inverse: y2,
            counts: y3,
        };
        let count = rt::select::unique::<i64>(x0, 2, 3, 2, false, out, scratch)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("Unique").input("bf16[4]").outputs(4).emit(), @r#"
        Unique(bf16[4]) sorted=1 -> bf16[4], i64[4], i64[4], i64[4]
        let out = rt::select::UniqueOut {
            values: y,
            indices: y1,
            inverse: y2,
            counts: y3,
        };
        let count = rt::select::unique_by(
                x0,
                1,
                4,
                1,
                true,
                out,
                scratch,
                rt::narrow::bf16_to_f32,
            )
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        // bfloat16 bits of 2, -1, 2: sorted by value, not by bits.
        insta::assert_snapshot!(node("Unique").constant(Tensor::new(vec![3], Data::BF16(vec![0x4000, 0xbf80, 0x4000]))).outputs(4).emit(), @"
        Unique(bf16[3]) sorted=1 -> bf16[3], i64[3], i64[3], i64[3]
        folds to bf16[2] [-1.0, 2.0], i64[2] [1, 0], i64[3] [1, 0, 1], i64[2] [1, 2]
        ");
        insta::assert_snapshot!(node("Unique").input("f8e4m3fn[4]").outputs(4).emit(), @"
        infer: Unique of f8e4m3fn is not supported (float16 and bfloat16 are)
        ");
        insta::assert_snapshot!(node("Unique").constant(Tensor::new(vec![6], Data::F32(vec![2.0, 1.0, 1.0, 3.0, 4.0, 3.0]))).outputs(4).emit(), @"
        Unique(f32[6]) sorted=1 -> f32[6], i64[6], i64[6], i64[6]
        folds to f32[4] [1.0, 2.0, 3.0, 4.0], i64[4] [1, 0, 3, 4], i64[6] [1, 0, 0, 2, 3, 2], i64[4] [2, 1, 2, 1]
        ");
    }
}
