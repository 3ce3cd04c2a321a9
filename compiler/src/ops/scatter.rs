//! ScatterElements (opset 11 on; `reduction` add/mul since 16, max/min since 18) and
//! ScatterND (opset 11 on; the same reductions): a copy of `data` with `updates` written
//! (or combined) where `indices` point. Indices are checked at run time.

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::index::ScatterReduce;

use super::{
    elem_type, normalize_axis, required, shape_tokens, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Scatter {
    /// `Some(axis)` for ScatterElements, `None` for ScatterND.
    pub axis: Option<i64>,
    pub reduction: ScatterReduce,
}

impl Parse for Scatter {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let reduction = match ctx.string("reduction", "none")?.as_str() {
            "none" => ScatterReduce::None,
            "add" => ScatterReduce::Add,
            "mul" => ScatterReduce::Mul,
            "max" => ScatterReduce::Max,
            "min" => ScatterReduce::Min,
            other => {
                return Err(OpError::Other(format!(
                    "reduction `{other}` is not supported"
                )))
            }
        };
        let axis = (ctx.op_type == "ScatterElements")
            .then(|| ctx.int("axis", 0))
            .transpose()?;
        Ok(Self { axis, reduction })
    }
}

impl OpKind for Scatter {
    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (data, indices, updates) = (
            required(inputs, 0)?,
            required(inputs, 1)?,
            required(inputs, 2)?,
        );
        if !matches!(indices.dtype, DType::I32 | DType::I64) || updates.dtype != data.dtype {
            return Err(OpError::Other(format!(
                "indices {indices} or updates {updates} do not fit {data}"
            )));
        }
        match self.axis {
            Some(axis) => {
                normalize_axis(axis, data.rank())?;
                if indices.shape != updates.shape {
                    return Err(OpError::Other("indices and updates differ in shape".into()));
                }
            }
            None => {
                let q = *indices.shape.last().ok_or("indices need a rank")?;
                if q > data.rank() {
                    return Err(OpError::Other(format!("index tuples of {q} for {data}")));
                }
            }
        }
        Ok(vec![data.clone()])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (data, indices, updates) = (ctx.get(0)?, ctx.get(1)?, ctx.get(2)?);
        let idx = indices.to_i64s();
        let values = crate::with_data!(&data.data, v => {
            let u: Vec<_> = crate::with_data!(&updates.data, w => w.iter().map(|&x| zant_runtime::scalar::Scalar::from_f64(zant_runtime::scalar::Scalar::to_f64(x))).collect());
            let mut y = v.clone();
            match self.axis {
                Some(axis) => {
                    let axis = normalize_axis(axis, data.shape.len())?;
                    zant_runtime::index::scatter_elements(v, &data.shape, &idx, &indices.shape, &u, axis, self.reduction, &mut y)
                }
                None => {
                    let q = *indices.shape.last().unwrap_or(&0);
                    zant_runtime::index::scatter_nd(v, &data.shape, &idx, q, &u, self.reduction, &mut y)
                }
            }
            .map_err(|e| e.to_string())?;
            super::retag(y, data.dtype())
        });
        Ok(Some(vec![Tensor::new(data.shape.clone(), values)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (data, indices, updates) = (ctx.input(0)?, ctx.input(1)?, ctx.input(2)?);
        let (de, ds) = (&data.expr, shape_tokens(&data.ty.shape));
        let (ie, is) = (&indices.expr, shape_tokens(&indices.ty.shape));
        let ue = &updates.expr;
        let t = elem_type(data.ty.dtype);
        let try_ = ctx.try_suffix();
        let reduction = match self.reduction {
            ScatterReduce::None => quote!(None),
            ScatterReduce::Add => quote!(Add),
            ScatterReduce::Mul => quote!(Mul),
            ScatterReduce::Max => quote!(Max),
            ScatterReduce::Min => quote!(Min),
        };
        Ok(match self.axis {
            Some(axis) => {
                let axis = normalize_axis(axis, data.ty.rank())?;
                quote! {
                    rt::index::scatter_elements::<#t, _>(#de, #ds, #ie, #is, #ue, #axis, rt::index::ScatterReduce::#reduction, y) #try_;
                }
            }
            None => {
                let q = *indices.ty.shape.last().unwrap_or(&0);
                quote! {
                    rt::index::scatter_nd::<#t, _>(#de, #ds, #ie, #q, #ue, rt::index::ScatterReduce::#reduction, y) #try_;
                }
            }
        })
    }
}
