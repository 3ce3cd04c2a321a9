//! Einsum (opset 12 on): any equation of up to eight inputs, explicit (`->`) or implicit
//! output, repeated labels (diagonals), and `...` broadcasting, computed over the whole
//! label space (`rt::gemm::einsum`); meant for the small contractions models write this way.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    elem_type, mac_count, required, shape_tokens, Attrs, EmitCtx, FoldCtx, OpError, OpKind, Parse,
    ParseCtx,
};
use crate::tensor::{DType, Tensor, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Einsum {
    /// The equation as the node gave it, without whitespace.
    pub equation: String,
    /// The extent of each label, output labels first.
    pub labels: Vec<usize>,
    pub strides: Vec<Vec<usize>>,
    pub out_strides: Vec<usize>,
    pub out_shape: Vec<usize>,
}

impl Parse for Einsum {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let equation: String = ctx
            .attr("equation")
            .ok_or_else(|| OpError::attr("equation", "is required"))?
            .as_string("equation")?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let bad = |why: String| OpError::attr("equation", format!("`{equation}`: {why}"));
        let (lhs, rhs) = match equation.split_once("->") {
            Some((l, r)) => (l.to_string(), Some(r.to_string())),
            None => (equation.clone(), None),
        };
        let terms: Vec<&str> = lhs.split(',').collect();
        if terms.len() != ctx.n_inputs() || terms.len() > 8 {
            return Err(bad(format!("does not fit {} inputs", ctx.n_inputs())));
        }
        // Labels are letters; `...` (once per term) stands for the broadcast dims, which
        // become the labels '0', '1', … below, so no other character may appear.
        for term in terms.iter().copied().chain(rhs.as_deref()) {
            if !term
                .replacen("...", "", 1)
                .chars()
                .all(|c| c.is_ascii_alphabetic())
            {
                return Err(bad(format!(
                    "term `{term}` should be letters with at most one `...`"
                )));
            }
        }
        if let Some(r) = &rhs {
            if let Some(c) = r.chars().find(|&c| c != '.' && r.matches(c).count() > 1) {
                return Err(bad(format!("the output repeats label `{c}`")));
            }
        }
        // Ellipsis dims become labels '0', '1', … (right-aligned, broadcast).
        let mut ellipsis_rank = 0;
        let mut expanded: Vec<Vec<char>> = Vec::new();
        for (k, term) in terms.iter().enumerate() {
            let x = ctx.input(k)?;
            let letters = term.replace("...", "").chars().count();
            let e = if term.contains("...") {
                x.rank().checked_sub(letters).ok_or_else(|| {
                    OpError::shape(format!("term `{term}` has more labels than {x} has dims"))
                })?
            } else {
                0
            };
            ellipsis_rank = ellipsis_rank.max(e);
        }
        for (k, term) in terms.iter().enumerate() {
            let x = ctx.input(k)?;
            let letters = term.replace("...", "").chars().count();
            // Only a term with an ellipsis has dims beyond its letters (one without and
            // with too few letters is refused below).
            let e = if term.contains("...") {
                x.rank().saturating_sub(letters)
            } else {
                0
            };
            let ell: String = (ellipsis_rank - e..ellipsis_rank)
                .map(|i| char::from(b'0' + i as u8))
                .collect();
            let labels: Vec<char> = term.replace("...", &ell).chars().collect();
            if labels.len() != x.rank() {
                return Err(OpError::shape(format!("term `{term}` does not fit {x}")));
            }
            expanded.push(labels);
        }
        let mut all: Vec<char> = Vec::new();
        let mut extent = std::collections::BTreeMap::new();
        for (k, labels) in expanded.iter().enumerate() {
            let x = ctx.input(k)?;
            for (&c, &d) in labels.iter().zip(&x.shape) {
                if !all.contains(&c) {
                    all.push(c);
                }
                let e = extent.entry(c).or_insert(d);
                if *e == 1 {
                    *e = d;
                } else if d != 1 && d != *e {
                    return Err(OpError::shape(format!(
                        "label `{c}` has extents {e} and {d}"
                    )));
                }
            }
        }
        let out: Vec<char> = match rhs {
            Some(r) => {
                let ell: String = (0..ellipsis_rank)
                    .map(|i| char::from(b'0' + i as u8))
                    .collect();
                r.replace("...", &ell).chars().collect()
            }
            None => {
                let mut once: Vec<char> = all
                    .iter()
                    .copied()
                    .filter(|c| c.is_alphabetic())
                    .filter(|c| expanded.iter().flatten().filter(|d| *d == c).count() == 1)
                    .collect();
                once.sort_unstable();
                let mut out: Vec<char> = (0..ellipsis_rank)
                    .map(|i| char::from(b'0' + i as u8))
                    .collect();
                out.extend(once);
                out
            }
        };
        for c in &out {
            if !all.contains(c) {
                return Err(bad(format!("output label `{c}` is not an input label")));
            }
        }
        // Output labels first, in output order, so the output is walked in order.
        let mut order: Vec<char> = out.clone();
        order.extend(all.iter().filter(|c| !out.contains(c)));
        let labels: Vec<usize> = order.iter().map(|c| extent[c]).collect();
        let out_shape: Vec<usize> = out.iter().map(|c| extent[c]).collect();
        super::checked_elems(&out_shape)?;
        let mut out_strides = vec![0; order.len()];
        let mut s = 1;
        for i in (0..out.len()).rev() {
            out_strides[i] = s;
            s *= out_shape[i];
        }
        let mut strides = Vec::new();
        for (k, term) in expanded.iter().enumerate() {
            let x = ctx.input(k)?;
            let xs = super::strides(&x.shape);
            let mut per = vec![0usize; order.len()];
            for (d, c) in term.iter().enumerate() {
                if x.shape[d] != 1 {
                    let l = order.iter().position(|o| o == c).expect("collected");
                    per[l] += xs[d];
                }
            }
            strides.push(per);
        }
        Ok(Self {
            equation,
            labels,
            strides,
            out_strides,
            out_shape,
        })
    }
}

impl OpKind for Einsum {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs.string("equation", &self.equation);
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(inputs, 0)?;
        if x.dtype == DType::Bool {
            return Err(OpError::unsupported("Einsum is not implemented for bool"));
        }
        for i in 1..inputs.len() {
            let other = required(inputs, i)?;
            if other.dtype != x.dtype {
                return Err(OpError::shape(format!(
                    "operand types differ: {x} and {other}"
                )));
            }
        }
        Ok(vec![TensorType::new(x.dtype, self.out_shape.clone())])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let parts: Vec<&Tensor> = (0..ctx.consts.len())
            .map(|i| ctx.get(i))
            .collect::<Result<_, _>>()?;
        let strides: Vec<&[usize]> = self.strides.iter().map(|s| s.as_slice()).collect();
        let n = self.out_shape.iter().product();
        macro_rules! run {
            ($($variant:ident),*) => {
                match &parts[0].data {
                    $(crate::tensor::Data::$variant(_) => {
                        let mut xs = Vec::new();
                        for p in &parts {
                            let crate::tensor::Data::$variant(v) = &p.data else { return Ok(None) };
                            xs.push(v.as_slice());
                        }
                        let mut y = vec![Default::default(); n];
                        zant_runtime::gemm::einsum(&xs, &strides, &self.labels, &self.out_strides, &mut y);
                        crate::tensor::Data::$variant(y)
                    })*
                    _ => return Ok(None),
                }
            };
        }
        let data = run!(F32, F64, I8, U8, I16, U16, I32, U32, I64, U64);
        Ok(Some(vec![Tensor::new(self.out_shape.clone(), data)]))
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let exprs: Vec<TokenStream> = (0..ctx.inputs.len())
            .map(|i| ctx.expr(i))
            .collect::<Result<_, _>>()?;
        let t = elem_type(ctx.out_ty().dtype);
        let strides = self.strides.iter().map(|s| shape_tokens(s));
        let labels = shape_tokens(&self.labels);
        let out_strides = shape_tokens(&self.out_strides);
        Ok(quote! {
            rt::gemm::einsum::<#t>(&[#(#exprs),*], &[#(#strides),*], #labels, #out_strides, y);
        })
    }

    /// The kernel visits the whole label space and multiplies one element of each
    /// operand per point: `inputs − 1` products per point, none for a one-operand
    /// equation (a transpose, a diagonal or a sum).
    fn macs(&self, inputs: &[Option<&TensorType>]) -> u64 {
        let products = inputs.len().saturating_sub(1);
        match products {
            0 => 0,
            _ => mac_count(self.labels.iter().copied().chain([products])),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::{Data, Tensor};

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("Einsum")
            .string("equation", "bij, bjk -> bik")
            .input("f32[2,3,4]")
            .input("f32[2,4,5]")
            .emit(), @r#"
        Einsum(f32[2,3,4], f32[2,4,5]) equation="bij,bjk->bik" -> f32[2,3,5]
        rt::gemm::einsum::<
            f32,
        >(&[x0, x1], &[&[12, 4, 0, 1], &[20, 0, 1, 5]], &[2, 3, 5, 4], &[15, 5, 1, 0], y);
        "#);
        // Implicit output: the labels seen once, in alphabetical order.
        insta::assert_snapshot!(node("Einsum")
            .string("equation", "ij,jk")
            .input("i32[2,3]")
            .input("i32[3,4]")
            .emit(), @r#"
        Einsum(i32[2,3], i32[3,4]) equation="ij,jk" -> i32[2,4]
        rt::gemm::einsum::<
            i32,
        >(&[x0, x1], &[&[3, 0, 1], &[0, 1, 4]], &[2, 4, 3], &[4, 1, 0], y);
        "#);
        // A diagonal under broadcast dims.
        insta::assert_snapshot!(node("Einsum")
            .string("equation", "...ii->...i")
            .input("f64[2,3,3]")
            .emit(), @r#"
        Einsum(f64[2,3,3]) equation="...ii->...i" -> f64[2,3]
        rt::gemm::einsum::<f64>(&[x0], &[&[9, 4]], &[2, 3], &[3, 1], y);
        "#);
        insta::assert_snapshot!(node("Einsum")
            .string("equation", "i,i->")
            .constant(Tensor::new(vec![3], Data::F32(vec![1.0, 2.0, 3.0])))
            .constant(Tensor::new(vec![3], Data::F32(vec![4.0, 5.0, 6.0])))
            .emit(), @r#"
        Einsum(f32[3], f32[3]) equation="i,i->" -> f32[]
        folds to f32[] [32.0]
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("Einsum").input("f32[2]").emit(), @"parse: attribute `equation`: is required");
        insta::assert_snapshot!(node("Einsum")
            .string("equation", "ij,jk->iz")
            .input("f32[2,3]")
            .input("f32[3,4]")
            .emit(), @"parse: attribute `equation`: `ij,jk->iz`: output label `z` is not an input label");
        insta::assert_snapshot!(node("Einsum")
            .string("equation", "i1->i")
            .input("f32[2,3]")
            .emit(), @"parse: attribute `equation`: `i1->i`: term `i1` should be letters with at most one `...`");
        insta::assert_snapshot!(node("Einsum")
            .string("equation", "ij->ii")
            .input("f32[2,2]")
            .emit(), @"parse: attribute `equation`: `ij->ii`: the output repeats label `i`");
        insta::assert_snapshot!(node("Einsum")
            .string("equation", "ij,jk")
            .input("f32[2,3]")
            .input("f32[4,4]")
            .emit(), @"parse: label `j` has extents 3 and 4");
        // An ellipsis in one term and too few letters in another (a fuzzer's find: the
        // ellipsis rank's subtraction overflowed).
        insta::assert_snapshot!(node("Einsum")
            .string("equation", "...i,j->i")
            .input("f32[2,3,4]")
            .input("f32[2,4]")
            .emit(), @"parse: term `j` does not fit f32[2,4]");
        insta::assert_snapshot!(node("Einsum")
            .string("equation", "ij")
            .input("bool[2,3]")
            .emit(), @"infer: Einsum is not implemented for bool");
    }

    #[test]
    fn counts_a_mac_per_point_of_the_label_space() {
        let batched = node("Einsum")
            .string("equation", "bij,bjk->bik")
            .input("f32[2,3,4]")
            .input("f32[2,4,5]");
        assert_eq!(batched.macs(), 2 * 3 * 4 * 5);
        // One operand multiplies nothing.
        let trace = node("Einsum").string("equation", "ii->").input("f32[3,3]");
        assert_eq!(trace.macs(), 0);
    }
}
