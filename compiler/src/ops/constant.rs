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
                return Err(OpError::unsupported(format!(
                    "attribute `{name}` is not supported"
                )))
            }
            _ => continue,
        };
        found.push((name, t));
    }
    match found.len() {
        1 => Ok(Op::Const(found.remove(0).1)),
        0 => Err(OpError::attr("value", "no value attribute is set")),
        _ => {
            let names: Vec<&str> = found.iter().map(|(name, _)| name.as_str()).collect();
            Err(OpError::attr(
                names[1],
                format!("only one value attribute may be set, found {names:?}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::ops::testing::node;
    use crate::ops::{Attribute, ParseCtx};
    use crate::tensor::{Data, Tensor};

    /// What a Constant node with `attrs` becomes. A constant has no attributes of its own
    /// to print, so the node builder, which reads printed attributes back, cannot show it.
    fn parse(attrs: &[(&str, Attribute)]) -> String {
        let attrs: BTreeMap<String, Attribute> = attrs
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect();
        let ctx = ParseCtx::new("Constant", 21, &attrs, vec![], vec![]);
        match super::parse(&ctx) {
            Ok(op) => format!("{op:?}"),
            Err(e) => format!("parse: {e}"),
        }
    }

    #[test]
    fn parses() {
        let t = Tensor::new(vec![2], Data::I32(vec![3, -1]));
        insta::assert_snapshot!(parse(&[("value", Attribute::Tensor(t))]), @"Const(i32[2] [3, -1])");
        insta::assert_snapshot!(parse(&[("value_float", Attribute::Float(0.5))]), @"Const(f32[] [0.5])");
        insta::assert_snapshot!(parse(&[("value_floats", Attribute::Floats(vec![1.0, 2.0]))]), @"Const(f32[2] [1.0, 2.0])");
        insta::assert_snapshot!(parse(&[("value_int", Attribute::Int(7))]), @"Const(i64[] [7])");
        insta::assert_snapshot!(parse(&[("value_ints", Attribute::Ints(vec![1, -1]))]), @"Const(i64[2] [1, -1])");
        insta::assert_snapshot!(parse(&[]), @"parse: attribute `value`: no value attribute is set");
        insta::assert_snapshot!(parse(&[("value_int", Attribute::Int(7)), ("value_float", Attribute::Float(0.5))]), @r#"parse: attribute `value_int`: only one value attribute may be set, found ["value_float", "value_int"]"#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Constant").attr("value_string", Attribute::String("a".into())).emit(), @"parse: attribute `value_string` is not supported");
        insta::assert_snapshot!(node("Constant").attr("value", Attribute::Int(3)).emit(), @"parse: attribute `value`: should be a tensor, found int");
    }
}
