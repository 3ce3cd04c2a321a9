//! Node attributes as plain values, the way ONNX defines them. The front end decodes
//! them from protobuf, and the IR text parser from `name=value` pairs; op parsers read
//! them through [`super::ParseCtx`].

use std::collections::BTreeMap;
use std::fmt;

use zant_runtime::Activation;

use super::OpError;
use crate::tensor::{parse_number, Data, SyntaxError, Tensor};

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
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
    /// The ONNX name of the attribute's kind.
    pub fn kind(&self) -> &'static str {
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

    fn wrong(&self, name: &str, want: &str) -> OpError {
        OpError::attr(name, format!("should be {want}, found {}", self.kind()))
    }

    /// The value as a constant tensor: what an input that an op absorbs looks like when
    /// the IR text prints it as an attribute. Ints are `i64`, floats `f32`, a single value
    /// a scalar; `None` for strings.
    pub fn to_tensor(&self) -> Option<Tensor> {
        Some(match self {
            Self::Tensor(t) => t.clone(),
            Self::Int(v) => Tensor::new(vec![], Data::I64(vec![*v])),
            Self::Ints(v) => Tensor::new(vec![v.len()], Data::I64(v.clone())),
            Self::Float(v) => Tensor::new(vec![], Data::F32(vec![*v])),
            Self::Floats(v) => Tensor::new(vec![v.len()], Data::F32(v.clone())),
            Self::String(_) | Self::Strings(_) | Self::Unsupported(_) => return None,
        })
    }

    pub fn as_int(&self, name: &str) -> Result<i64, OpError> {
        match self {
            Self::Int(i) => Ok(*i),
            _ => Err(self.wrong(name, "an int")),
        }
    }

    pub fn as_float(&self, name: &str) -> Result<f32, OpError> {
        match self {
            Self::Float(f) => Ok(*f),
            Self::Int(i) => Ok(*i as f32),
            _ => Err(self.wrong(name, "a float")),
        }
    }

    pub fn as_ints(&self, name: &str) -> Result<Vec<i64>, OpError> {
        match self {
            Self::Ints(v) => Ok(v.clone()),
            Self::Int(i) => Ok(vec![*i]),
            _ => Err(self.wrong(name, "a list of ints")),
        }
    }

    pub fn as_floats(&self, name: &str) -> Result<Vec<f32>, OpError> {
        match self {
            Self::Floats(v) => Ok(v.clone()),
            Self::Float(f) => Ok(vec![*f]),
            _ => Err(self.wrong(name, "a list of floats")),
        }
    }

    pub fn as_string(&self, name: &str) -> Result<String, OpError> {
        match self {
            Self::String(s) => Ok(s.clone()),
            _ => Err(self.wrong(name, "a string")),
        }
    }

    pub fn as_strings(&self, name: &str) -> Result<Vec<String>, OpError> {
        match self {
            Self::Strings(v) => Ok(v.clone()),
            _ => Err(self.wrong(name, "a list of strings")),
        }
    }

    pub fn as_tensor(&self, name: &str) -> Result<&Tensor, OpError> {
        match self {
            Self::Tensor(t) => Ok(t),
            _ => Err(self.wrong(name, "a tensor")),
        }
    }
}

/// The attributes an op shows in the IR text, in the order it lists them:
/// `kernel_shape=[3,3] strides=[2,2] alpha=0.01 mode="constant"`. Floats always carry a
/// decimal point or an exponent, so the text parser tells them from ints.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attrs(pub Vec<(String, String)>);

impl Attrs {
    pub fn push(&mut self, name: &str, value: Attribute) -> &mut Self {
        self.0.push((name.to_string(), value.to_string()));
        self
    }

    /// A value already in the text form, such as a runtime parameter's field as
    /// `zant_runtime::tokens::Param::fields` shows it.
    pub fn text(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.0.push((name.to_string(), value.into()));
        self
    }

    /// Each field of a runtime parameter as an attribute of its own name:
    /// `LeakyRelu { alpha: 0.01 }` adds `alpha=0.01`.
    pub fn fields(&mut self, param: &impl zant_runtime::tokens::Param) -> &mut Self {
        for (name, value) in param.fields() {
            self.text(name, value);
        }
        self
    }

    /// The attributes as the op parsers read them.
    pub fn to_map(&self) -> Result<BTreeMap<String, Attribute>, SyntaxError> {
        self.0
            .iter()
            .map(|(name, value)| Ok((name.clone(), Attribute::parse(value)?)))
            .collect()
    }

    pub fn int(&mut self, name: &str, value: i64) -> &mut Self {
        self.push(name, Attribute::Int(value))
    }

    pub fn ints(&mut self, name: &str, values: &[i64]) -> &mut Self {
        self.push(name, Attribute::Ints(values.to_vec()))
    }

    /// Sizes and axes, which the ops keep as `usize`.
    pub fn usizes(&mut self, name: &str, values: &[usize]) -> &mut Self {
        self.push(
            name,
            Attribute::Ints(values.iter().map(|&v| v as i64).collect()),
        )
    }

    pub fn float(&mut self, name: &str, value: f32) -> &mut Self {
        self.push(name, Attribute::Float(value))
    }

    pub fn floats(&mut self, name: &str, values: &[f32]) -> &mut Self {
        self.push(name, Attribute::Floats(values.to_vec()))
    }

    pub fn string(&mut self, name: &str, value: &str) -> &mut Self {
        self.push(name, Attribute::String(value.to_string()))
    }

    pub fn tensor(&mut self, name: &str, value: &Tensor) -> &mut Self {
        self.push(name, Attribute::Tensor(value.clone()))
    }

    /// A fused activation: nothing for none, `activation="Relu"`, or
    /// `activation="Clip" activation_min=0.0 activation_max=6.0`.
    pub fn activation(&mut self, act: Activation) -> &mut Self {
        match act {
            Activation::None => self,
            Activation::Relu => self.string("activation", "Relu"),
            Activation::Clip { min, max } => self
                .string("activation", "Clip")
                .float("activation_min", min)
                .float("activation_max", max),
            Activation::Sigmoid => self.string("activation", "Sigmoid"),
            Activation::Swish { alpha } => self
                .string("activation", "Swish")
                .float("activation_alpha", alpha),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Attrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

/// A float that reads back as a float: `1.0`, `0.01`, `1e-5`, `NaN`, `inf`.
fn float(f: &mut fmt::Formatter<'_>, v: f32) -> fmt::Result {
    write!(f, "{v:?}")
}

fn list<T>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    mut item: impl FnMut(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    f.write_str("[")?;
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        item(f, x)?;
    }
    f.write_str("]")
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Float(v) => float(f, *v),
            Self::Int(v) => write!(f, "{v}"),
            Self::String(s) => write!(f, "{s:?}"),
            // One word, so that a list of attributes splits at spaces: `f32[2][1.0,2.0]`.
            Self::Tensor(t) => f.write_str(&format!("{t:?}").replace(' ', "")),
            Self::Floats(v) => list(f, v, |f, x| float(f, *x)),
            Self::Ints(v) => list(f, v, |f, x| write!(f, "{x}")),
            Self::Strings(v) => list(f, v, |f, x| write!(f, "{x:?}")),
            Self::Unsupported(kind) => write!(f, "<{kind}>"),
        }
    }
}

impl Attribute {
    /// Reads `name=value` pairs as the IR text writes them: `kernel_shape=[3,3] alpha=0.5 mode="constant"`.
    pub fn parse_list(text: &str) -> Result<BTreeMap<String, Attribute>, SyntaxError> {
        let mut attrs = BTreeMap::new();
        for item in split_top(text, ' ') {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}` is not an attribute like `name=value`"))?;
            attrs.insert(name.to_string(), Attribute::parse(value)?);
        }
        Ok(attrs)
    }

    /// Reads one value as [`Attribute`]'s `Display` writes it. Floats carry a decimal
    /// point or an exponent, which tells them from ints.
    pub fn parse(text: &str) -> Result<Attribute, SyntaxError> {
        let is_float = |t: &str| t.contains(['.', 'e', 'E']) || matches!(t, "NaN" | "inf" | "-inf");
        if let Some(s) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            return Ok(Attribute::String(s.to_string()));
        }
        if let Some(list) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            let items = split_top(list, ',');
            if items.iter().any(|i| i.starts_with('"')) {
                return Ok(Attribute::Strings(
                    items
                        .iter()
                        .map(|i| i.trim_matches('"').to_string())
                        .collect(),
                ));
            }
            if items.iter().any(|i| is_float(i)) {
                return Ok(Attribute::Floats(
                    items
                        .iter()
                        .map(|i| parse_number(i).map(|v| v as f32))
                        .collect::<Result<_, _>>()?,
                ));
            }
            return Ok(Attribute::Ints(
                items
                    .iter()
                    .map(|i| i.parse().map_err(|_| format!("`{i}` is not an int")))
                    .collect::<Result<_, _>>()?,
            ));
        }
        if text.contains('[') {
            return Tensor::parse(text).map(Attribute::Tensor);
        }
        if is_float(text) {
            return parse_number(text).map(|v| Attribute::Float(v as f32));
        }
        text.parse()
            .map(Attribute::Int)
            .map_err(|_| SyntaxError(format!("`{text}` is not an attribute value")))
    }
}

/// Splits at `sep` outside brackets, parentheses and quotes, dropping empty pieces.
pub fn split_top(text: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' | '(' if !quoted => depth += 1,
            ']' | ')' if !quoted => depth -= 1,
            _ => {}
        }
        if c == sep && depth == 0 && !quoted {
            if !current.trim().is_empty() {
                parts.push(current.trim().to_string());
            }
            current.clear();
        } else {
            current.push(c);
        }
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_string());
    }
    parts
}
