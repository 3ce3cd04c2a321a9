//! Node attributes, decoded from `AttributeProto` into a plain enum.

use super::proto::{attribute_type as ty, AttributeProto};
use crate::ir::Tensor;

/// A decoded attribute value.
#[derive(Clone, Debug)]
pub enum Attribute {
    Float(f32),
    Int(i64),
    String(String),
    Tensor(Tensor),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<String>),
    /// A kind zant does not read (graphs, sparse tensors, type protos); ops that need one fail.
    Unsupported(&'static str),
}

impl Attribute {
    /// Decodes an attribute; `tensor` turns an embedded `TensorProto` into a [`Tensor`].
    pub(crate) fn decode(
        a: &AttributeProto,
        tensor: impl Fn(&super::proto::TensorProto) -> Result<Tensor, String>,
    ) -> Result<Self, String> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok(match a.r#type {
            ty::FLOAT => Self::Float(a.f),
            ty::INT => Self::Int(a.i),
            ty::STRING => Self::String(text(&a.s)),
            ty::TENSOR => match &a.t {
                Some(t) => Self::Tensor(tensor(t)?),
                None => return Err(format!("attribute `{}` has no tensor", a.name)),
            },
            ty::FLOATS => Self::Floats(a.floats.clone()),
            ty::INTS => Self::Ints(a.ints.clone()),
            ty::STRINGS => Self::Strings(a.strings.iter().map(|s| text(s)).collect()),
            ty::GRAPH | ty::GRAPHS => Self::Unsupported("graph"),
            ty::TENSORS => Self::Unsupported("tensors"),
            0 => Self::infer_untyped(a),
            _ => Self::Unsupported("sparse tensor or type proto"),
        })
    }

    /// Very old exporters leave `type` unset; guess from the populated field.
    fn infer_untyped(a: &AttributeProto) -> Self {
        if !a.ints.is_empty() {
            Self::Ints(a.ints.clone())
        } else if !a.floats.is_empty() {
            Self::Floats(a.floats.clone())
        } else if !a.s.is_empty() {
            Self::String(String::from_utf8_lossy(&a.s).into_owned())
        } else if a.f != 0.0 {
            Self::Float(a.f)
        } else {
            Self::Int(a.i)
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Float(_) => "float",
            Self::Int(_) => "int",
            Self::String(_) => "string",
            Self::Tensor(_) => "tensor",
            Self::Floats(_) => "floats",
            Self::Ints(_) => "ints",
            Self::Strings(_) => "strings",
            Self::Unsupported(k) => k,
        }
    }

    fn wrong(&self, name: &str, want: &str) -> String {
        format!("attribute `{name}` should be {want}, found {}", self.kind())
    }

    pub fn as_int(&self, name: &str) -> Result<i64, String> {
        match self {
            Self::Int(i) => Ok(*i),
            _ => Err(self.wrong(name, "an int")),
        }
    }

    pub fn as_float(&self, name: &str) -> Result<f32, String> {
        match self {
            Self::Float(f) => Ok(*f),
            Self::Int(i) => Ok(*i as f32),
            _ => Err(self.wrong(name, "a float")),
        }
    }

    pub fn as_ints(&self, name: &str) -> Result<Vec<i64>, String> {
        match self {
            Self::Ints(v) => Ok(v.clone()),
            Self::Int(i) => Ok(vec![*i]),
            _ => Err(self.wrong(name, "a list of ints")),
        }
    }

    pub fn as_floats(&self, name: &str) -> Result<Vec<f32>, String> {
        match self {
            Self::Floats(v) => Ok(v.clone()),
            Self::Float(f) => Ok(vec![*f]),
            _ => Err(self.wrong(name, "a list of floats")),
        }
    }

    pub fn as_string(&self, name: &str) -> Result<String, String> {
        match self {
            Self::String(s) => Ok(s.clone()),
            _ => Err(self.wrong(name, "a string")),
        }
    }

    pub fn as_tensor(&self, name: &str) -> Result<&Tensor, String> {
        match self {
            Self::Tensor(t) => Ok(t),
            _ => Err(self.wrong(name, "a tensor")),
        }
    }
}
