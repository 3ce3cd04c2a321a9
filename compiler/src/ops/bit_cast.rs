//! BitCast (opset 26): the input's bytes reinterpreted as another element type of the same
//! bit width, little endian, with the same shape. The bytes do not change, so the memory
//! plan lets the output share the input's storage, as it does for a reshape; the packed
//! sub-byte types reinterpret among themselves (int4, uint4 and float4 E2M1; int2 and
//! uint2).

use proc_macro2::TokenStream;
use quote::quote;

use super::cast::dtype_attr;
use super::{elem_type, required, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct BitCast {
    /// The element type the bytes are read as.
    pub to: DType,
}

impl Parse for BitCast {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let code = ctx
            .attr("to")
            .ok_or_else(|| OpError::attr("to", "missing"))?
            .as_int("to")?;
        Ok(Self {
            to: dtype_attr("to", code)?,
        })
    }
}

impl OpKind for BitCast {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.int("to", i64::from(self.to.onnx_code()));
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        let (from_bits, to_bits) = (x.dtype.bits_per_element(), self.to.bits_per_element());
        if from_bits != to_bits {
            return Err(OpError::attr(
                "to",
                format!(
                    "{} has {to_bits}-bit elements, the input {x} {from_bits}-bit ones",
                    self.to
                ),
            ));
        }
        Ok(vec![TensorType::new(self.to, x.shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let x = ctx.get(0)?;
        let data = Data::from_storage(self.to, &x.data.to_le_bytes(), x.n_elems())
            .ok_or_else(|| OpError::shape("the bytes do not make whole elements"))?;
        Ok(Some(vec![Tensor::new(x.shape.clone(), data)]))
    }

    /// A copy of the bytes, for when the output cannot share the input's storage (an
    /// input or output of the graph).
    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let xe = &x.expr;
        let (a, b) = (elem_type(x.ty.dtype), elem_type(self.to));
        Ok(quote! { rt::shape::copy_bytes::<#a, #b>(#xe, y); })
    }

    fn is_view(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        // ONNX type codes: 1 float, 6 int32, 10 float16, 4 uint16, 21 uint4, 22 int4.
        insta::assert_snapshot!(node("BitCast").opset(26).int("to", 6).input("f32[2,3]").emit(), @"
        BitCast(f32[2,3]) to=6 -> i32[2,3]
        rt::shape::copy_bytes::<f32, i32>(x0, y);
        ");
        insta::assert_snapshot!(node("BitCast").opset(26).int("to", 4).input("f16[3]").emit(), @"
        BitCast(f16[3]) to=4 -> u16[3]
        rt::shape::copy_bytes::<u16, u16>(x0, y);
        ");
        let x = Tensor::new(vec![2], Data::F32(vec![1.0, -0.0]));
        insta::assert_snapshot!(node("BitCast").opset(26).int("to", 6).constant(x).emit(), @"
        BitCast(f32[2]) to=6 -> i32[2]
        folds to i32[2] [1065353216, -2147483648]
        ");
        let q = Tensor::new(vec![3], Data::I4(vec![0xf, 0x8, 0x1]));
        insta::assert_snapshot!(node("BitCast").opset(26).int("to", 21).constant(q).emit(), @"
        BitCast(i4[3]) to=21 -> u4[3]
        folds to u4[3] [15, 8, 1]
        ");
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("BitCast").opset(26).int("to", 7).input("f32[2]").emit(), @"infer: attribute `to`: i64 has 64-bit elements, the input f32[2] 32-bit ones");
        insta::assert_snapshot!(node("BitCast").opset(26).input("f32[2]").emit(), @"parse: attribute `to`: missing");
    }
}
