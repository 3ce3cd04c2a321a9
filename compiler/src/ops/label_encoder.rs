//! LabelEncoder (ai.onnx.ml opset 2: `keys_*`/`values_*` lists and defaults; opset 4 adds
//! `keys_tensor`, `values_tensor` and `default_tensor`): maps each element of X through a
//! table of keys to values, or to the default. zant compiles int64 and float keys and
//! values; string maps (opset 1's only form) are refused. The keys, sorted, and their
//! values become constant inputs ([`ParseCtx::tables`]) searched by bisection at run time;
//! a NaN key, which no search can find, is kept aside as the value of NaN inputs.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, f32_tokens, required, Attribute, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{DType, Data, Tensor, TensorType};

const TABLES: [&str; 2] = ["keys", "values"];

#[derive(Clone, Debug, PartialEq)]
pub struct LabelEncoder {
    /// The value of a key that is not in the table.
    pub default: f64,
    /// The value of a NaN input: the NaN key's value, or the default.
    pub nan: f64,
}

/// A key or value list: `name_floats`, `name_int64s`, or (opset 4) `name_tensor`.
fn list(ctx: &ParseCtx<'_>, name: &str) -> Result<Tensor, OpError> {
    let floats = format!("{name}_floats");
    let ints = format!("{name}_int64s");
    let tensor = format!("{name}_tensor");
    if ctx.attr(&format!("{name}_strings")).is_some() || ctx.attr("classes_strings").is_some() {
        return Err(OpError::unsupported(
            "string keys or values: zant compiles int64 and float label maps only",
        ));
    }
    let t = if let Some(a) = ctx.attr(&floats) {
        let v = a.as_floats(&floats)?;
        Tensor::new(vec![v.len()], Data::F32(v))
    } else if let Some(a) = ctx.attr(&ints) {
        let v = a.as_ints(&ints)?;
        Tensor::new(vec![v.len()], Data::I64(v))
    } else if let Some(a) = ctx.attr(&tensor) {
        a.as_tensor(&tensor)?.clone()
    } else {
        return Err(OpError::attr(
            &ints,
            format!("(or {floats}, {tensor}) is required"),
        ));
    };
    match t.dtype() {
        DType::F32 | DType::I64 => Ok(Tensor::new(vec![t.n_elems()], t.data)),
        other => Err(OpError::unsupported(format!(
            "{name} of type {other}: zant compiles int64 and float label maps only"
        ))),
    }
}

impl Parse for LabelEncoder {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let x = ctx.input(0)?;
        if ctx.n_inputs() > 1 {
            // The IR text: the tables are inputs already and the defaults printed.
            ctx.tables(1, &TABLES, || Err(OpError::shape("the tables are missing")))?;
            return Ok(Self {
                default: printed(ctx, "default")?,
                nan: printed(ctx, "nan_value")?,
            });
        }
        let (keys, values) = (list(ctx, "keys")?, list(ctx, "values")?);
        if keys.n_elems() != values.n_elems() {
            return Err(OpError::attr(
                "values",
                format!("{} values for {} keys", values.n_elems(), keys.n_elems()),
            ));
        }
        if x.dtype != keys.dtype() {
            return Err(OpError::shape(format!(
                "input X is {x}, but the keys are {}",
                keys.dtype()
            )));
        }
        let default = match ctx.attr("default_tensor") {
            Some(a) => a
                .as_tensor("default_tensor")?
                .data
                .to_f64_vec()
                .first()
                .copied()
                .ok_or_else(|| OpError::attr("default_tensor", "is empty"))?,
            None if values.dtype() == DType::F32 => f64::from(ctx.float("default_float", -0.0)?),
            None => ctx.int("default_int64", -1)? as f64,
        };
        let (keys, values) = (keys.data.to_f64_vec(), values.data.to_f64_vec());
        // The first of equal keys wins, as a search of the attribute's order would find it.
        let mut pairs: Vec<(f64, f64)> = Vec::with_capacity(keys.len());
        let mut nan = default;
        let mut nan_seen = false;
        for (&k, &v) in keys.iter().zip(&values) {
            if k.is_nan() {
                if !nan_seen {
                    (nan, nan_seen) = (v, true);
                }
            } else if !pairs.iter().any(|&(seen, _)| seen == k) {
                pairs.push((k, v));
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let key_type = x.dtype;
        let value_type = ctx_value_type(ctx)?;
        let column =
            |v: Vec<f64>, dtype: DType| Tensor::new(vec![v.len()], Data::from_f64(dtype, &v));
        let (k, v): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
        ctx.tables(1, &TABLES, || {
            Ok(vec![column(k, key_type), column(v, value_type)])
        })?;
        Ok(Self { default, nan })
    }
}

/// A value as [`LabelEncoder::attrs`] prints it: an int when it is one, so that int64
/// values read back exactly.
fn printed(ctx: &ParseCtx<'_>, name: &str) -> Result<f64, OpError> {
    match ctx.attr(name) {
        Some(Attribute::Int(i)) => Ok(*i as f64),
        Some(a) => a.as_float(name).map(f64::from),
        None => Err(OpError::attr(name, "is required")),
    }
}

/// The attribute form of a value: an int when it is integral (and not -0.0), else a float.
fn printable(v: f64) -> Attribute {
    if v.fract() == 0.0 && v.abs() < 9.0e15 && !(v == 0.0 && v.is_sign_negative()) {
        Attribute::Int(v as i64)
    } else {
        Attribute::Float(v as f32)
    }
}

/// The type of the values, from whichever attribute gives them.
fn ctx_value_type(ctx: &ParseCtx<'_>) -> Result<DType, OpError> {
    Ok(list(ctx, "values")?.dtype())
}

impl OpKind for LabelEncoder {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.push("default", printable(self.default));
        attrs.push("nan_value", printable(self.nan));
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let (x, keys, values) = (
            required(inputs, 0)?,
            required(inputs, 1)?,
            required(inputs, 2)?,
        );
        if x.dtype != keys.dtype || keys.n_elems() != values.n_elems() {
            return Err(OpError::shape(format!(
                "input {x} does not fit keys {keys} and values {values}"
            )));
        }
        Ok(vec![TensorType::new(values.dtype, x.shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (x, keys, values) = (ctx.get(0)?, ctx.get(1)?, ctx.get(2)?);
        let out = &ctx.outputs[0];
        let data = match (&x.data, &keys.data, &values.data) {
            (Data::F32(x), Data::F32(k), Data::F32(v)) => {
                Data::F32(encode(x, k, v, self.default as f32, self.nan as f32))
            }
            (Data::F32(x), Data::F32(k), Data::I64(v)) => {
                Data::I64(encode(x, k, v, self.default as i64, self.nan as i64))
            }
            (Data::I64(x), Data::I64(k), Data::F32(v)) => {
                Data::F32(encode(x, k, v, self.default as f32, self.nan as f32))
            }
            (Data::I64(x), Data::I64(k), Data::I64(v)) => {
                Data::I64(encode(x, k, v, self.default as i64, self.nan as i64))
            }
            _ => return Ok(None),
        };
        Ok(Some(vec![Tensor::new(out.shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (x, keys, values) = (ctx.input(0)?, ctx.expr(1)?, ctx.expr(2)?);
        let (k, v) = (elem_type(x.ty.dtype), elem_type(ctx.out_ty().dtype));
        let literal = |value: f64| match ctx.out_ty().dtype {
            DType::F32 => f32_tokens(value as f32),
            _ => {
                let i = value as i64;
                quote!(#i)
            }
        };
        let (default, nan, xe) = (literal(self.default), literal(self.nan), &x.expr);
        Ok(quote! { rt::ml::label_encode::<#k, #v>(#xe, #keys, #values, #default, #nan, y); })
    }
}

fn encode<K: zant_runtime::scalar::Scalar, V: zant_runtime::scalar::Scalar>(
    x: &[K],
    keys: &[K],
    values: &[V],
    default: V,
    nan: V,
) -> Vec<V> {
    let mut y = vec![default; x.len()];
    zant_runtime::ml::label_encode(x, keys, values, default, nan, &mut y);
    y
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::NodeBuilder;
    use crate::ops::Attribute;
    use crate::tensor::{Data, Tensor};

    fn node() -> NodeBuilder {
        NodeBuilder::in_domain("ai.onnx.ml", "LabelEncoder")
    }

    #[test]
    fn emits() {
        insta::assert_snapshot!(node().ints("keys_int64s", &[5, 1, 3]).floats("values_floats", &[0.5, 0.1, 0.3]).input("i64[4]").emit(), @"
        LabelEncoder(i64[4], i64[3], f32[3]) default=-0.0 nan_value=-0.0 -> f32[4]
        rt::ml::label_encode::<i64, f32>(x0, x1, x2, -0f32, -0f32, y);
        ");
        insta::assert_snapshot!(node().floats("keys_floats", &[2.0, f32::NAN]).ints("values_int64s", &[20, 99]).int("default_int64", 7).input("f32[2,2]").emit(), @"
        LabelEncoder(f32[2,2], f32[1], i64[1]) default=7 nan_value=99 -> i64[2,2]
        rt::ml::label_encode::<f32, i64>(x0, x1, x2, 7i64, 99i64, y);
        ");
    }

    #[test]
    fn folds() {
        let x = Tensor::new(vec![4], Data::I64(vec![3, 4, 5, 1]));
        insta::assert_snapshot!(node().ints("keys_int64s", &[5, 1, 3]).ints("values_int64s", &[50, 10, 30]).constant(x).emit(), @"
        LabelEncoder(i64[4], i64[3], i64[3]) default=-1 nan_value=-1 -> i64[4]
        folds to i64[4] [30, -1, 50, 10]
        ");
    }

    #[test]
    fn refuses() {
        let strings = Attribute::Strings(vec!["a".into()]);
        insta::assert_snapshot!(node().attr("keys_strings", strings).ints("values_int64s", &[1]).input("i64[1]").emit(), @"parse: string keys or values: zant compiles int64 and float label maps only");
        insta::assert_snapshot!(node().ints("keys_int64s", &[1, 2]).ints("values_int64s", &[1]).input("i64[1]").emit(), @"parse: attribute `values`: 1 values for 2 keys");
        insta::assert_snapshot!(node().ints("keys_int64s", &[1]).ints("values_int64s", &[1]).input("f32[1]").emit(), @"parse: input X is f32[1], but the keys are i64");
    }
}
