//! Graph inputs bound to values at compile time: `--bind NAME=VALUES|FILE.npy`,
//! `Builder::bind`, and the conformance harness's shape-deciding inputs.
//!
//! A bound input becomes an initializer before import, so everything that depends on it
//! folds as it is read and the input leaves the generated API. A value is checked against
//! the input's declaration here, where the declaration is known: text takes the declared
//! element type and shape, and a tensor (from a `.npy` file or test data) must have the
//! declared element type and a shape the declaration admits.

use std::path::PathBuf;

use crate::ir::{DType, Data, Tensor};

/// A graph input bound to a value at compile time: as if the model held the value in an
/// initializer, the input becomes a constant, what depends on it folds, and it leaves the
/// generated `predict`.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub name: String,
    pub value: BindValue,
}

/// The value of a [`Binding`].
#[derive(Clone, Debug, PartialEq)]
pub enum BindValue {
    /// Numbers as text, comma-separated (`16000`, `1,-1`, `true`), typed by the input's
    /// declared element type and shaped by its declared shape. A declared shape with one
    /// symbolic dim takes its size from the number of values.
    Text(String),
    /// A `.npy` file: its element type must be the input's, its shape one the declaration
    /// admits.
    Npy(PathBuf),
    /// A tensor, such as a test data set's input.
    Tensor(Tensor),
    /// The input's value in the test data (`--bind NAME` alone). Only `zantc verify`, which
    /// has test data, resolves it (`verify::bind_test_data`); compiling without it is an error.
    TestData,
    /// An optional input without a value (`--bind NAME=none`): the input leaves the
    /// graph and every node that reads it sees that input omitted, so OptionalHasElement
    /// folds to false. An optional input not bound so is compiled as holding its tensor.
    Absent,
}

impl Binding {
    /// `name` bound to `value`.
    pub fn new(name: impl Into<String>, value: impl Into<BindValue>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl From<&str> for BindValue {
    /// A value as `--bind` writes it: a path ending in `.npy` names a file, anything else
    /// is numbers as text.
    fn from(text: &str) -> Self {
        if text.ends_with(".npy") {
            BindValue::Npy(PathBuf::from(text))
        } else if text == "none" {
            BindValue::Absent
        } else {
            BindValue::Text(text.to_string())
        }
    }
}

impl From<Tensor> for BindValue {
    fn from(t: Tensor) -> Self {
        BindValue::Tensor(t)
    }
}

impl std::str::FromStr for Binding {
    type Err = String;

    /// `NAME=VALUES`, `NAME=FILE.npy`, or `NAME` alone (the value from the test data).
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, value) = match s.split_once('=') {
            Some((name, value)) => (name.trim(), BindValue::from(value.trim())),
            None => (s.trim(), BindValue::TestData),
        };
        if name.is_empty() {
            return Err(format!(
                "`{s}` should look like NAME=VALUES, NAME=FILE.npy or NAME"
            ));
        }
        if value == BindValue::Text(String::new()) {
            return Err(format!("`{s}` gives no value after `=`"));
        }
        Ok(Binding::new(name, value))
    }
}

/// What a graph input declares, as far as binding needs it: the element type (`None` when
/// the model leaves it out) and each dim, `None` when symbolic.
pub(super) struct Declared {
    pub dtype: Option<DType>,
    pub dims: Option<Vec<Option<usize>>>,
}

/// The tensor a binding stands for, checked against the input's declaration.
pub(super) fn resolve(value: &BindValue, declared: &Declared) -> Result<Tensor, String> {
    let tensor = match value {
        BindValue::Text(text) => return from_text(text, declared),
        BindValue::Npy(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            crate::tensor::npy::decode(&bytes).map_err(|e| format!("`{}`: {e}", path.display()))?
        }
        BindValue::Tensor(t) => t.clone(),
        BindValue::Absent => {
            return Err("`none` binds an optional input; this input is a tensor".into())
        }
        BindValue::TestData => {
            return Err(
                "no value given: `--bind NAME` alone reads the value from the test data, which \
                 only `zantc verify` has; give NAME=VALUES or NAME=FILE.npy"
                    .into(),
            )
        }
    };
    if let Some(dtype) = declared.dtype {
        if tensor.dtype() != dtype {
            return Err(format!(
                "the value is {} but the input is declared {dtype}",
                tensor.dtype()
            ));
        }
    }
    if let Some(dims) = &declared.dims {
        let admits = dims.len() == tensor.shape.len()
            && dims
                .iter()
                .zip(&tensor.shape)
                .all(|(d, &n)| d.is_none_or(|d| d == n));
        if !admits {
            return Err(format!(
                "the value has shape {:?}, which the input's declared shape {} does not admit",
                tensor.shape,
                show_dims(dims)
            ));
        }
    }
    Ok(tensor)
}

/// `[2, ?, 3]`.
fn show_dims(dims: &[Option<usize>]) -> String {
    let dims: Vec<String> = dims
        .iter()
        .map(|d| d.map_or_else(|| "?".to_string(), |d| d.to_string()))
        .collect();
    format!("[{}]", dims.join(", "))
}

/// Numbers as text, typed and shaped by the declaration.
fn from_text(text: &str, declared: &Declared) -> Result<Tensor, String> {
    let dtype = declared.dtype.ok_or(
        "the input declares no element type, so text values cannot be typed; bind a .npy file",
    )?;
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    let shape = match &declared.dims {
        // Without a declared shape, a single value is a scalar and a list is 1-D.
        None if items.len() == 1 => vec![],
        None => vec![items.len()],
        Some(dims) => shape_for(dims, items.len())?,
    };
    let data = if dtype == DType::Bool {
        let bits = items
            .iter()
            .map(|v| match *v {
                "true" | "True" | "1" => Ok(1),
                "false" | "False" | "0" => Ok(0),
                _ => Err(format!("`{v}` is not a bool (true, false, 1 or 0)")),
            })
            .collect::<Result<_, String>>()?;
        Data::Bool(bits)
    } else if dtype.is_float() {
        let values = items
            .iter()
            .map(|v| crate::tensor::parse_number(v).map_err(|_| format!("`{v}` is not a number")))
            .collect::<Result<Vec<f64>, String>>()?;
        Data::from_f64(dtype, &values)
    } else {
        let values = items
            .iter()
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("`{v}` is not an integer, as the input's {dtype} needs"))
            })
            .collect::<Result<Vec<i64>, String>>()?;
        let data = Data::from_i64(dtype, &values);
        // `from_i64` casts; a value the type cannot hold comes back changed.
        if let Some((v, _)) = values
            .iter()
            .zip(data.to_i64_vec())
            .find(|(v, back)| *v != back)
        {
            return Err(format!("{v} does not fit the input's {dtype}"));
        }
        data
    };
    Ok(Tensor::new(shape, data))
}

/// The shape `n_values` text values take in a declared shape: the declared one when it is
/// fixed, with its one symbolic dim sized to fit otherwise.
fn shape_for(dims: &[Option<usize>], n_values: usize) -> Result<Vec<usize>, String> {
    let fixed: usize = dims.iter().flatten().product();
    let n_symbolic = dims.iter().filter(|d| d.is_none()).count();
    let count_error = || {
        format!(
            "{n_values} value(s) given, but the input is declared with shape {}",
            show_dims(dims)
        )
    };
    match n_symbolic {
        0 if fixed == n_values => Ok(dims.iter().flatten().copied().collect()),
        0 => Err(count_error()),
        1 if fixed > 0 && n_values.is_multiple_of(fixed) => Ok(dims
            .iter()
            .map(|d| d.unwrap_or(n_values / fixed))
            .collect()),
        1 => Err(count_error()),
        _ => Err(format!(
            "the input is declared with shape {}, whose symbolic dims text cannot size; bind a .npy file",
            show_dims(dims)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(dtype: DType, dims: &[Option<usize>]) -> Declared {
        Declared {
            dtype: Some(dtype),
            dims: Some(dims.to_vec()),
        }
    }

    fn check(value: BindValue, declared: &Declared, expect: Result<Tensor, &str>) {
        match (resolve(&value, declared), expect) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert!(got.contains(want), "{got:?} should say {want:?}"),
            (got, want) => panic!("{value:?}: got {got:?}, expected {want:?}"),
        }
    }

    fn text(s: &str) -> BindValue {
        BindValue::Text(s.into())
    }

    #[test]
    fn text_takes_the_declared_type_and_shape() {
        check(
            text("16000"),
            &declared(DType::I64, &[]),
            Ok(Tensor::new(vec![], Data::I64(vec![16000]))),
        );
        check(
            text("1, -1"),
            &declared(DType::I64, &[Some(2)]),
            Ok(Tensor::new(vec![2], Data::I64(vec![1, -1]))),
        );
        check(
            text("0.5,1,2,3,4,5"),
            &declared(DType::F32, &[None, Some(3)]),
            Ok(Tensor::new(
                vec![2, 3],
                Data::F32(vec![0.5, 1.0, 2.0, 3.0, 4.0, 5.0]),
            )),
        );
        check(
            text("true"),
            &declared(DType::Bool, &[]),
            Ok(Tensor::new(vec![], Data::Bool(vec![1]))),
        );
    }

    #[test]
    fn wrong_text_is_refused() {
        let i64s = declared(DType::I64, &[Some(2)]);
        check(
            text("1,2,3"),
            &i64s,
            Err("3 value(s) given, but the input is declared with shape [2]"),
        );
        check(
            text("1.5,2"),
            &i64s,
            Err("`1.5` is not an integer, as the input's i64 needs"),
        );
        check(
            text("300"),
            &declared(DType::U8, &[]),
            Err("300 does not fit the input's u8"),
        );
        check(
            text("yes"),
            &declared(DType::Bool, &[]),
            Err("`yes` is not a bool"),
        );
        check(
            text("1,2"),
            &declared(DType::F32, &[None, None]),
            Err("bind a .npy file"),
        );
        check(
            text("1,2,3"),
            &declared(DType::F32, &[None, Some(2)]),
            Err("3 value(s) given"),
        );
        check(BindValue::TestData, &i64s, Err("only `zantc verify` has"));
    }

    #[test]
    fn tensors_are_checked_against_the_declaration() {
        let i64s = declared(DType::I64, &[None]);
        check(
            BindValue::Tensor(Tensor::from_i64s(vec![4, 1])),
            &i64s,
            Ok(Tensor::from_i64s(vec![4, 1])),
        );
        check(
            BindValue::Tensor(Tensor::new(vec![1], Data::F32(vec![1.0]))),
            &i64s,
            Err("the value is f32 but the input is declared i64"),
        );
        check(
            BindValue::Tensor(Tensor::new(vec![1, 1], Data::I64(vec![1]))),
            &i64s,
            Err("shape [1, 1], which the input's declared shape [?] does not admit"),
        );
        check(
            BindValue::Npy("/nonexistent/v.npy".into()),
            &i64s,
            Err("cannot read `/nonexistent/v.npy`"),
        );
    }

    #[test]
    fn bindings_parse_like_the_command_line() {
        let parse = |s: &str| s.parse::<Binding>();
        assert_eq!(parse("rate=16000"), Ok(Binding::new("rate", "16000")));
        assert_eq!(
            parse("table=data/t.npy"),
            Ok(Binding::new("table", BindValue::Npy("data/t.npy".into())))
        );
        assert_eq!(parse("mode"), Ok(Binding::new("mode", BindValue::TestData)));
        assert_eq!(
            parse("state=none"),
            Ok(Binding::new("state", BindValue::Absent))
        );
        assert!(parse("=3").unwrap_err().contains("should look like"));
        assert!(parse("x=").unwrap_err().contains("no value after"));
    }
}
