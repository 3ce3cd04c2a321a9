//! ConstantOfShape (opset 9; more value types in 20). Folds to a constant: its shape input
//! must be known at compile time.

use proc_macro2::TokenStream;

use super::{checked_elems, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct ConstantOfShape {
    pub value: Tensor,
    pub shape: Vec<usize>,
}

impl Parse for ConstantOfShape {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let shape = ctx
            .absorb(0, "shape")?
            .to_i64s()
            .into_iter()
            .map(|d| usize::try_from(d).map_err(|_| format!("negative dimension {d}")))
            .collect::<Result<Vec<_>, _>>()?;
        checked_elems(&shape)?;
        let value = match ctx.attr("value") {
            Some(a) => a.as_tensor("value")?.clone(),
            None => Tensor::new(vec![1], Data::F32(vec![0.0])),
        };
        if value.n_elems() != 1 {
            return Err(OpError::Other(
                "attribute `value` must hold one element".into(),
            ));
        }
        Ok(Self { value, shape })
    }
}

impl OpKind for ConstantOfShape {
    fn infer(&self, _inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        Ok(vec![TensorType::new(
            self.value.dtype(),
            self.shape.clone(),
        )])
    }

    fn fold(&self, _ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let n = self.shape.iter().product::<usize>();
        let data = crate::with_data!(&self.value.data, v => {
            let mut d = Data::zeros(self.value.dtype(), 0);
            let filled = vec![v[0]; n];
            d = replace_data(d, filled);
            d
        });
        Ok(Some(vec![Tensor::new(self.shape.clone(), data)]))
    }

    fn emit(&self, _ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        Err(OpError::Other(
            "ConstantOfShape is always folded before emission".into(),
        ))
    }
}

/// Puts a typed vector into a [`Data`] of the same variant.
fn replace_data<T: 'static + Clone>(template: Data, v: Vec<T>) -> Data {
    use std::any::Any;
    let any: Box<dyn Any> = Box::new(v);
    macro_rules! try_variant {
        ($($variant:ident($ty:ty)),*) => {
            match template {
                $(Data::$variant(_) => Data::$variant(*any.downcast::<Vec<$ty>>().expect("same dtype")),)*
            }
        };
    }
    try_variant!(
        F32(f32),
        F64(f64),
        I8(i8),
        U8(u8),
        I16(i16),
        U16(u16),
        I32(i32),
        U32(u32),
        I64(i64),
        U64(u64),
        Bool(u8)
    )
}
