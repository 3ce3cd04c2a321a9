//! ScatterElements (opset 11 on; `reduction` add/mul since 16, max/min since 18) and
//! ScatterND (opset 11 on; the same reductions): a copy of `data` with `updates` written
//! (or combined) where `indices` point. Indices are checked at run time. The deprecated
//! Scatter (opsets 9 and 10) is ScatterElements without a reduction. TensorScatter (opset
//! 24), a KV cache's update, writes a sequence into a fixed-size cache from each batch
//! entry's write index.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::index::ScatterReduce;
use zant_runtime::tokens::Param;

use super::{
    elem_type, normalize_axis, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind,
    Parse, ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Scatter {
    /// `Some(axis)` for ScatterElements, `None` for ScatterND.
    pub axis: Option<i64>,
    pub reduction: ScatterReduce,
}

impl Parse for Scatter {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        if ctx.op_type == "Scatter" && ctx.attr("reduction").is_some() {
            return Err(OpError::attr(
                "reduction",
                "is not an attribute of Scatter (opsets 9 and 10)",
            ));
        }
        let reduction = match ctx.string("reduction", "none")?.as_str() {
            "none" => ScatterReduce::None,
            "add" => ScatterReduce::Add,
            "mul" => ScatterReduce::Mul,
            "max" => ScatterReduce::Max,
            "min" => ScatterReduce::Min,
            other => {
                return Err(OpError::attr(
                    "reduction",
                    format!("`{other}` is not none, add, mul, max or min"),
                ))
            }
        };
        let axis = matches!(ctx.op_type, "ScatterElements" | "Scatter")
            .then(|| ctx.int("axis", 0))
            .transpose()?;
        Ok(Self { axis, reduction })
    }
}

impl OpKind for Scatter {
    fn attrs(&self, attrs: &mut Attrs) {
        if let Some(axis) = self.axis {
            attrs.int("axis", axis);
        }
        if self.reduction != ScatterReduce::None {
            // ONNX spells the reductions in lower case.
            attrs.string("reduction", &self.reduction.name().to_lowercase());
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (data, indices, updates) = (
            required(inputs, 0)?,
            required(inputs, 1)?,
            required(inputs, 2)?,
        );
        super::transpose::supported_rank(data)?;
        if !matches!(indices.dtype, DType::I32 | DType::I64) || updates.dtype != data.dtype {
            return Err(OpError::shape(format!(
                "indices {indices} or updates {updates} do not fit {data}"
            )));
        }
        match self.axis {
            Some(axis) => {
                if data.rank() == 0 {
                    return Err(OpError::shape(format!(
                        "cannot scatter into the scalar {data}"
                    )));
                }
                let axis = normalize_axis(axis, data.rank())?;
                // Off the axis, an index names its own position, which must exist in `data`.
                let fits = indices.rank() == data.rank()
                    && (0..data.rank()).all(|d| d == axis || indices.shape[d] <= data.shape[d]);
                if !fits || indices.shape != updates.shape {
                    return Err(OpError::shape(format!(
                        "indices {indices} and updates {updates} do not fit {data}"
                    )));
                }
            }
            None => {
                let q = *indices
                    .shape
                    .last()
                    .ok_or_else(|| OpError::shape("indices must have rank 1 or more"))?;
                if q > data.rank() {
                    return Err(OpError::shape(format!("index tuples of {q} for {data}")));
                }
                // One slice of `data` past the tuple's dims per index tuple.
                let mut expected = indices.shape[..indices.rank() - 1].to_vec();
                expected.extend(&data.shape[q..]);
                if updates.shape != expected {
                    return Err(OpError::shape(format!(
                        "updates {updates} should have shape {expected:?}"
                    )));
                }
            }
        }
        Ok(vec![data.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (data, indices, updates) = (ctx.get(0)?, ctx.get(1)?, ctx.get(2)?);
        let idx = indices.to_i64s();
        let reduction = self.reduction;
        macro_rules! run {
            ($($variant:ident),*) => {
                match (&data.data, &updates.data) {
                    $((Data::$variant(v), Data::$variant(u)) => {
                        let mut y = v.clone();
                        match self.axis {
                            Some(axis) => {
                                let axis = normalize_axis(axis, data.shape.len())?;
                                zant_runtime::index::scatter_elements(
                                    v, &data.shape, &idx, &indices.shape, u, axis, reduction, &mut y,
                                )?;
                            }
                            None => {
                                let q = *indices.shape.last().unwrap_or(&0);
                                zant_runtime::index::scatter_nd(
                                    v, &data.shape, &idx, q, u, reduction, &mut y,
                                )?;
                            }
                        }
                        Data::$variant(y)
                    })*
                    _ => {
                        return Err(OpError::shape(format!(
                            "updates of {} for data of {}",
                            updates.dtype(),
                            data.dtype()
                        )))
                    }
                }
            };
        }
        let values = crate::all_dtypes!(run);
        Ok(Some(vec![Tensor::new(data.shape.clone(), values)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (data, indices, updates) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
        let (de, ds) = (&data.expr, shape_tokens(&data.ty.shape));
        let (ie, is) = (&indices.expr, shape_tokens(&indices.ty.shape));
        let ue = &updates.expr;
        let t = elem_type(data.ty.dtype);
        let try_ = ctx.try_suffix();
        let reduction = self.reduction;
        Ok(match self.axis {
            Some(axis) => {
                let axis = normalize_axis(axis, data.ty.rank())?;
                quote! {
                    rt::index::scatter_elements::<#t, _>(#de, #ds, #ie, #is, #ue, #axis, #reduction, y) #try_;
                }
            }
            None => {
                let q = *indices.ty.shape.last().unwrap_or(&0);
                quote! {
                    rt::index::scatter_nd::<#t, _>(#de, #ds, #ie, #q, #ue, #reduction, y) #try_;
                }
            }
        })
    }
}

/// TensorScatter: `past_cache` with `update` written along `axis` from each batch entry's
/// `write_indices` value (checked at run time).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorScatter {
    pub axis: i64,
    pub circular: bool,
}

impl Parse for TensorScatter {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let circular = match ctx.string("mode", "linear")?.as_str() {
            "linear" => false,
            "circular" => true,
            other => {
                return Err(OpError::attr(
                    "mode",
                    format!("`{other}` is not linear or circular"),
                ))
            }
        };
        Ok(Self {
            axis: ctx.int("axis", -2)?,
            circular,
        })
    }
}

impl TensorScatter {
    /// `(batch, outer, max_len, seq_len, inner)` of the cache and the update.
    fn geometry(
        &self,
        inputs: &[Option<&TensorType>],
    ) -> Result<(usize, usize, usize, usize, usize), OpError> {
        let (past, update) = (required(inputs, 0)?, required(inputs, 1)?);
        let axis = normalize_axis(self.axis, past.rank())?;
        if axis == 0 {
            return Err(OpError::attr(
                "axis",
                "is the batch axis; the sequence axis comes after it",
            ));
        }
        let same_elsewhere = update.rank() == past.rank()
            && (0..past.rank()).all(|d| d == axis || update.shape[d] == past.shape[d]);
        if update.dtype != past.dtype || !same_elsewhere || update.shape[axis] > past.shape[axis] {
            return Err(OpError::shape(format!(
                "update is {update} for a cache of {past}: it must differ only in axis {axis}, \
                 by at most the cache's length"
            )));
        }
        let batch = past.shape[0];
        if let Some(w) = inputs.get(2).copied().flatten() {
            if w.dtype != DType::I64 || w.shape != [batch] {
                return Err(OpError::shape(format!(
                    "write_indices is {w}; it must be i64[{batch}]"
                )));
            }
        }
        let outer = past.shape[..axis].iter().product();
        let inner = past.shape[axis + 1..].iter().product();
        Ok((batch, outer, past.shape[axis], update.shape[axis], inner))
    }
}

impl OpKind for TensorScatter {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("axis", self.axis);
        if self.circular {
            attrs.string("mode", "circular");
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        self.geometry(inputs)?;
        Ok(vec![required(inputs, 0)?.clone()])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (batch, outer, max_len, seq_len, inner) = self.geometry(&ctx.input_types())?;
        let (past, update) = (ctx.input(0)?, ctx.expr(1)?);
        let (pe, t) = (&past.expr, elem_type(past.ty.dtype));
        let write = ctx.optional_expr(2);
        let (circular, try_) = (self.circular, ctx.try_suffix());
        Ok(quote! {
            rt::index::tensor_scatter::<#t>(
                (#batch, #outer, #max_len, #seq_len, #inner), #pe, #update, #write, #circular, y,
            ) #try_;
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::Tensor;

    #[test]
    fn tensor_scatter_emits() {
        insta::assert_snapshot!(node("TensorScatter").opset(24).string("mode", "circular")
            .input("f32[2,3,8,4]").input("f32[2,3,2,4]").input("i64[2]").emit(), @r#"
        TensorScatter(f32[2,3,8,4], f32[2,3,2,4], i64[2]) axis=-2 mode="circular" -> f32[2,3,8,4]
        rt::index::tensor_scatter::<f32>((2, 6, 8, 2, 4), x0, x1, Some(x2), true, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("TensorScatter").opset(24)
            .input("f32[2,3,8,4]").input("f32[2,3,9,4]").emit(), @"infer: update is f32[2,3,9,4] for a cache of f32[2,3,8,4]: it must differ only in axis 2, by at most the cache's length");
        insta::assert_snapshot!(node("TensorScatter").opset(24).int("axis", 0)
            .input("f32[2,3]").input("f32[1,3]").emit(), @"infer: attribute `axis`: is the batch axis; the sequence axis comes after it");
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("ScatterElements").int("axis", 1).string("reduction", "add")
            .input("f32[2,3]").input("i64[2,2]").input("f32[2,2]").emit(), @r#"
        ScatterElements(f32[2,3], i64[2,2], f32[2,2]) axis=1 reduction="add" -> f32[2,3]
        rt::index::scatter_elements::<
            f32,
            _,
        >(x0, &[2, 3], x1, &[2, 2], x2, 1, rt::index::ScatterReduce::Add, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("ScatterND").input("f32[4,3]").input("i64[2,1]").input("f32[2,3]").emit(), @r#"
        ScatterND(f32[4,3], i64[2,1], f32[2,3]) -> f32[4,3]
        rt::index::scatter_nd::<
            f32,
            _,
        >(x0, &[4, 3], x1, 1, x2, rt::index::ScatterReduce::None, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        // The deprecated Scatter is ScatterElements without a reduction.
        insta::assert_snapshot!(node("Scatter").int("axis", -1).input("f32[1,5]").input("i64[1,2]").input("f32[1,2]").emit(), @r#"
        Scatter(f32[1,5], i64[1,2], f32[1,2]) axis=-1 -> f32[1,5]
        rt::index::scatter_elements::<
            f32,
            _,
        >(x0, &[1, 5], x1, &[1, 2], x2, 1, rt::index::ScatterReduce::None, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        // Along the axis an index may repeat, so indices may be longer there (not across).
        insta::assert_snapshot!(node("ScatterElements").input("f32[2,3]").input("i64[3,1]").input("f32[3,1]").emit(), @r#"
        ScatterElements(f32[2,3], i64[3,1], f32[3,1]) axis=0 -> f32[2,3]
        rt::index::scatter_elements::<
            f32,
            _,
        >(x0, &[2, 3], x1, &[3, 1], x2, 0, rt::index::ScatterReduce::None, y)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        // Folding keeps 64-bit integers exact.
        insta::assert_snapshot!(node("ScatterND").string("reduction", "max").constant(Tensor::from_i64s(vec![1, i64::MAX - 1]))
            .constant(Tensor::new(vec![1, 1], crate::tensor::Data::I64(vec![1]))).constant(Tensor::from_i64s(vec![i64::MAX])).emit(), @r#"
        ScatterND(i64[2], i64[1,1], i64[1]) reduction="max" -> i64[2]
        folds to i64[2] [1, 9223372036854775807]
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Scatter").string("reduction", "add").input("f32[4]").input("i64[1]").input("f32[1]").emit(), @"parse: attribute `reduction`: is not an attribute of Scatter (opsets 9 and 10)");
        insta::assert_snapshot!(node("ScatterND").string("reduction", "mean").input("f32[4]").input("i64[1,1]").input("f32[1]").emit(), @"parse: attribute `reduction`: `mean` is not none, add, mul, max or min");
        insta::assert_snapshot!(node("ScatterND").input("f32[4,3]").input("i64[2,1]").input("f32[2]").emit(), @"infer: updates f32[2] should have shape [2, 3]");
        insta::assert_snapshot!(node("ScatterElements").input("f32[2,3]").input("i64[2,4]").input("f32[2,4]").emit(), @"infer: indices i64[2,4] and updates f32[2,4] do not fit f32[2,3]");
    }
}
