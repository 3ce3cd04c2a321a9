//! Constant (opset 1; `value_float(s)`/`value_int(s)` since 12). Becomes an `Op::Const`
//! at import; it never reaches emission.

use super::{Op, OpError, ParseCtx};
use crate::tensor::{Data, Tensor};

/// Parses a Constant node straight into a constant.
pub fn parse(ctx: &ParseCtx<'_>) -> Result<Op, OpError> {
    let mut found = Vec::new();
    for (name, a) in ctx.attrs {
        let t = match name.as_str() {
            "value" => a.as_tensor(name)?.clone(),
            "value_float" => Tensor::new(vec![], Data::F32(vec![a.as_float(name)?])),
            "value_floats" => {
                let v = a.as_floats(name)?;
                Tensor::new(vec![v.len()], Data::F32(v))
            }
            "value_int" => Tensor::new(vec![], Data::I64(vec![a.as_int(name)?])),
            "value_ints" => Tensor::from_i64s(a.as_ints(name)?),
            "sparse_value" | "value_string" | "value_strings" => {
                return Err(OpError::Other(format!(
                    "attribute `{name}` is not supported"
                )))
            }
            _ => continue,
        };
        found.push(t);
    }
    match found.len() {
        1 => Ok(Op::Const(found.pop().expect("one"))),
        0 => Err(OpError::Other("Constant has no value attribute".into())),
        _ => Err(OpError::Other(
            "Constant has more than one value attribute".into(),
        )),
    }
}
