//! OneHot (opset 9 on; negative axis and indices since 11): `depth` must be a compile-time
//! constant; `values` (`[off, on]`) is read at run time. Out-of-range indices give a row of
//! `off`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, normalize_axis, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx,
};
use crate::tensor::{Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct OneHot {
    pub axis: i64,
    pub depth: usize,
}

impl OneHot {
    /// `(outer, inner)` of the indices around the new axis.
    fn split(&self, indices: &[usize]) -> Result<(usize, usize), OpError> {
        let axis = normalize_axis(self.axis, indices.len() + 1)?;
        Ok((
            indices[..axis].iter().product(),
            indices[axis..].iter().product(),
        ))
    }
}

impl Parse for OneHot {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let depth = *ctx
            .absorb(1, "depth")?
            .data
            .to_f64_vec()
            .first()
            .ok_or_else(|| OpError::shape("depth is empty"))?;
        if !(depth >= 1.0 && depth <= super::MAX_ELEMS as f64) {
            return Err(OpError::shape(format!(
                "depth {depth} is not a positive count"
            )));
        }
        Ok(Self {
            axis: ctx.int("axis", -1)?,
            depth: depth as usize,
        })
    }
}

impl OpKind for OneHot {
    /// It moves whole elements, so it takes the narrow types as stored.
    fn narrow(&self) -> super::NarrowSupport {
        super::NarrowSupport::Moves
    }

    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("axis", self.axis).int("depth", self.depth as i64);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (indices, values) = (required(inputs, 0)?, required(inputs, 2)?);
        if values.n_elems() != 2 {
            return Err(OpError::shape(format!(
                "values {values} should hold two elements"
            )));
        }
        let axis = normalize_axis(self.axis, indices.rank() + 1)?;
        let mut shape = indices.shape.clone();
        shape.insert(axis, self.depth);
        Ok(vec![TensorType::new(values.dtype, shape)])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (indices, values) = (ctx.get(0)?, ctx.get(2)?);
        let (outer, inner) = self.split(&indices.shape)?;
        let idx = indices.data.to_f64_vec();
        let out = &ctx.outputs[0];
        let data = crate::with_data!(&values.data, v => {
            let mut y = vec![Default::default(); out.n_elems()];
            zant_runtime::index::one_hot(&idx, outer, inner, self.depth, v[0], v[1], &mut y);
            super::retag(y, values.dtype())
        });
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (indices, values) = (ctx.input(0)?, ctx.input(2)?);
        let (outer, inner) = self.split(&indices.ty.shape)?;
        let (ie, ve) = (&indices.expr, &values.expr);
        let (t, i) = (elem_type(values.ty.dtype), elem_type(indices.ty.dtype));
        let depth = self.depth;
        Ok(quote! {
            let values = #ve;
            rt::index::one_hot::<#t, #i>(#ie, #outer, #inner, #depth, values[0], values[1], y);
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::ops::{lookup, EmitCtx, Operand, ParseCtx};
    use crate::tensor::{Data, Tensor, TensorType};

    /// Parses and emits a OneHot whose `values` stay at input 2 once `depth` (input 1) is
    /// absorbed, as the import and the emitter leave them. The node builder drops an
    /// absorbed input instead of leaving its slot empty, which would move `values` to
    /// slot 1, so it cannot build this op yet.
    fn emit(depth: i64, axis: i64, indices: TensorType, values: TensorType) -> String {
        let spec = lookup("", "OneHot").expect("in the table");
        let depth = Tensor::new(vec![], Data::I64(vec![depth]));
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert("axis".to_string(), crate::ops::Attribute::Int(axis));
        let depth_ty = depth.ty();
        let types = vec![Some(&indices), Some(&depth_ty), Some(&values)];
        let ctx = ParseCtx::new("OneHot", 11, &attrs, types, vec![None, Some(&depth), None]);
        let op = (spec.parse)(&ctx).expect("parses");
        assert_eq!(ctx.absorbed(), 0b10);
        let inputs = [Some(&indices), None, Some(&values)];
        let out = op.infer(&inputs).expect("infers");
        let operand = |name: &str, ty| {
            let name = quote::format_ident!("{}", name);
            Some(Operand {
                expr: quote::quote!(#name),
                ty,
                value: None,
            })
        };
        let ctx = EmitCtx {
            node_name: "node",
            inputs: vec![operand("x0", &indices), None, operand("x2", &values)],
            outputs: out.iter().collect(),
            in_place: None,
            lead: None,
            kernels: zant_runtime::target::KernelSet::ANY,
        };
        let call = crate::ops::unsuffix(op.emit(&ctx).expect("emits"));
        let file: syn::File = syn::parse2(quote::quote! { fn node() { #call } }).expect("parses");
        format!(
            "{} -> {}\n{}",
            op.attrs(),
            out[0],
            prettyplease::unparse(&file)
        )
    }

    #[test]
    fn emits() {
        let ty = crate::ops::testing::parse_type;
        insta::assert_snapshot!(emit(5, -1, ty("i64[2,3]"), ty("f32[2]")), @"
        axis=-1 depth=5 -> f32[2,3,5]
        fn node() {
            let values = x2;
            rt::index::one_hot::<f32, i64>(x0, 6, 1, 5, values[0], values[1], y);
        }
        ");
        insta::assert_snapshot!(emit(4, 0, ty("i32[3]"), ty("i64[2]")), @"
        axis=0 depth=4 -> i64[4,3]
        fn node() {
            let values = x2;
            rt::index::one_hot::<i64, i32>(x0, 1, 3, 4, values[0], values[1], y);
        }
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("OneHot").input("i64[3]").input("i64[]").input("f32[2]").emit(), @"parse: input 1 (depth) must be a compile-time constant; zant compiles static shapes only");
        insta::assert_snapshot!(node("OneHot").input("i64[3]").constant(Tensor::new(vec![], Data::I64(vec![0]))).input("f32[2]").emit(), @"parse: depth 0 is not a positive count");
    }
}
