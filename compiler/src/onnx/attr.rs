//! Node attributes, decoded from `AttributeProto` into [`Attribute`] values.

use super::proto::{attribute_type as ty, AttributeProto};
use crate::ops::Attribute;
use crate::tensor::Tensor;

/// Decodes an attribute; `tensor` turns an embedded `TensorProto` into a [`Tensor`].
pub(crate) fn decode(
    a: &AttributeProto,
    tensor: impl Fn(&super::proto::TensorProto) -> Result<Tensor, String>,
) -> Result<Attribute, String> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Ok(match a.r#type {
        ty::FLOAT => Attribute::Float(a.f),
        ty::INT => Attribute::Int(a.i),
        ty::STRING => Attribute::String(text(&a.s)),
        ty::TENSOR => match &a.t {
            Some(t) => Attribute::Tensor(tensor(t)?),
            None => return Err(format!("attribute `{}` has no tensor", a.name)),
        },
        ty::FLOATS => Attribute::Floats(a.floats.clone()),
        ty::INTS => Attribute::Ints(a.ints.clone()),
        ty::STRINGS => Attribute::Strings(a.strings.iter().map(|s| text(s)).collect()),
        ty::GRAPH | ty::GRAPHS => Attribute::Unsupported("graph"),
        ty::TENSORS => Attribute::Unsupported("tensors"),
        0 => infer_untyped(a),
        _ => Attribute::Unsupported("sparse tensor or type proto"),
    })
}

/// Very old exporters leave `type` unset; guess from the populated field.
fn infer_untyped(a: &AttributeProto) -> Attribute {
    if !a.ints.is_empty() {
        Attribute::Ints(a.ints.clone())
    } else if !a.floats.is_empty() {
        Attribute::Floats(a.floats.clone())
    } else if !a.s.is_empty() {
        Attribute::String(String::from_utf8_lossy(&a.s).into_owned())
    } else if a.f != 0.0 {
        Attribute::Float(a.f)
    } else {
        Attribute::Int(a.i)
    }
}
