//! NonMaxSuppression (opset 10; 11 changes nothing we read): per batch and class, the
//! highest-scoring boxes (ties to the lower index) that overlap no box kept before them
//! by more than `iou_threshold`, at most `max_output_boxes_per_class` of them, as
//! `int64[count, 3]` rows `[batch, class, box]`. `max_output_boxes_per_class` must be a
//! compile-time constant: with the input shapes it sets the capacity,
//! `batches · classes · min(max, boxes)` rows (or less under `--max-len`), and the kernel
//! returns `count` ([`super::OpKind::bounded`]). The thresholds may come at run time.

use proc_macro2::TokenStream;
use quote::quote;

use super::nonzero::{capacity_attr, capped};
use super::{required, Attrs, Bounded, EmitCtx, FoldCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};
use zant_runtime::select::{Detections, NmsParams};

#[derive(Clone, Debug, PartialEq)]
pub struct NonMaxSuppression {
    pub center_point_box: bool,
    /// `max_output_boxes_per_class`; 0 (its default, and any negative value) keeps none.
    pub max_per_class: usize,
    pub capacity: Option<usize>,
}

/// `(batches, classes, spatial)` of the boxes and scores.
fn geometry(inputs: &[Option<&TensorType>]) -> Result<(usize, usize, usize), OpError> {
    let (boxes, scores) = (required(inputs, 0)?, required(inputs, 1)?);
    match (boxes.shape.as_slice(), scores.shape.as_slice()) {
        (&[b, s, 4], &[b2, c, s2]) if b == b2 && s == s2 => Ok((b, c, s)),
        _ => Err(OpError::shape(format!(
            "boxes {boxes} must be [batches, boxes, 4] and scores {scores} [batches, classes, boxes]"
        ))),
    }
}

impl Parse for NonMaxSuppression {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let center = ctx.int("center_point_box", 0)?;
        if !matches!(center, 0 | 1) {
            return Err(OpError::attr(
                "center_point_box",
                format!("{center} is neither 0 nor 1"),
            ));
        }
        let max = match ctx.absorb_optional(2, "max_output_boxes_per_class")? {
            None => 0,
            Some(t) => t.to_i64s().first().copied().unwrap_or(0),
        };
        Ok(Self {
            center_point_box: center == 1,
            max_per_class: usize::try_from(max).unwrap_or(0),
            capacity: capacity_attr(ctx)?,
        })
    }
}

impl NonMaxSuppression {
    fn rows(&self, inputs: &[Option<&TensorType>]) -> Result<usize, OpError> {
        let (b, c, s) = geometry(inputs)?;
        Ok(b * c * s.min(self.max_per_class))
    }
}

impl OpKind for NonMaxSuppression {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("center_point_box", i64::from(self.center_point_box))
            .int("max_output_boxes_per_class", self.max_per_class as i64);
        if let Some(c) = self.capacity {
            attrs.int("capacity", c as i64);
        }
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        for (i, t) in inputs.iter().enumerate() {
            if let Some(t) = t {
                if t.dtype != DType::F32 {
                    return Err(OpError::shape(format!("input {i} must be float, not {t}")));
                }
            }
        }
        let (_, _, s) = geometry(inputs)?;
        if u32::try_from(s).is_err() {
            return Err(OpError::unsupported(format!(
                "{s} boxes are more than the kernel's u32 indices hold"
            )));
        }
        let cap = capped(self.rows(inputs)?, self.capacity);
        Ok(vec![TensorType::new(DType::I64, vec![cap, 3])])
    }

    fn fold(&self, ctx: &FoldCtx<'_>) -> Result<Option<Vec<Tensor>>, OpError> {
        let (b, c, s) = geometry(&ctx.inputs)?;
        let threshold = |i: usize| -> Result<Option<f32>, OpError> {
            Ok(match ctx.consts.get(i).copied().flatten() {
                None => None,
                Some(t) => t.data.to_f64_vec().first().map(|&v| v as f32),
            })
        };
        let params = NmsParams {
            center_point_box: self.center_point_box,
            max_per_class: self.max_per_class,
            iou_threshold: threshold(3)?.unwrap_or(0.0),
            score_threshold: threshold(4)?,
        };
        let boxes: Vec<f32> = ctx
            .get(0)?
            .data
            .to_f64_vec()
            .iter()
            .map(|&v| v as f32)
            .collect();
        let scores: Vec<f32> = ctx
            .get(1)?
            .data
            .to_f64_vec()
            .iter()
            .map(|&v| v as f32)
            .collect();
        let d = Detections {
            boxes: &boxes,
            scores: &scores,
            batches: b,
            classes: c,
            spatial: s,
        };
        let mut y = vec![0i64; 3 * self.rows(&ctx.inputs)?];
        let mut scratch = vec![0u32; s];
        let count = zant_runtime::select::non_max_suppression(&d, &params, &mut y, &mut scratch)
            .map_err(|e| OpError::shape(e.to_string()))?;
        y.truncate(3 * count);
        Ok(Some(vec![Tensor::new(vec![count, 3], Data::I64(y))]))
    }

    fn bounded(&self) -> Vec<Bounded> {
        vec![Bounded { slot: 0, axis: 0 }]
    }

    fn set_capacity(&mut self, n: usize) -> Result<(), OpError> {
        self.capacity = Some(n);
        Ok(())
    }

    fn scratch_type(&self) -> DType {
        DType::U32
    }

    fn scratch_bytes(
        &self,
        inputs: &[Option<&TensorType>],
        _kernels: zant_runtime::target::KernelSet,
    ) -> usize {
        geometry(inputs).map_or(0, |(_, _, s)| s * 4)
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let (b, c, s) = geometry(&ctx.input_types())?;
        let (boxes, scores) = (ctx.expr(0)?, ctx.expr(1)?);
        let scalar = |i: usize| -> Option<TokenStream> {
            let e = &ctx.inputs.get(i)?.as_ref()?.expr;
            Some(quote!((#e)[0]))
        };
        let iou = scalar(3).unwrap_or_else(|| quote!(0.0));
        let score = match scalar(4) {
            Some(e) => quote!(Some(#e)),
            None => quote!(None),
        };
        let (center, max) = (self.center_point_box, self.max_per_class);
        let try_ = ctx.try_suffix();
        Ok(quote! {
            let d = rt::select::Detections { boxes: #boxes, scores: #scores, batches: #b, classes: #c, spatial: #s };
            let p = rt::select::NmsParams { center_point_box: #center, max_per_class: #max, iou_threshold: #iou, score_threshold: #score };
            let count = rt::select::non_max_suppression(&d, &p, y, scratch) #try_;
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;
    use crate::tensor::Tensor;

    #[test]
    fn emits() {
        insta::assert_snapshot!(node("NonMaxSuppression").input("f32[1,6,4]").input("f32[1,2,6]").constant(Tensor::from_i64s(vec![3])).input("f32[1]").input("f32[1]").emit(), @r#"
        NonMaxSuppression(f32[1,6,4], f32[1,2,6], _, f32[1], f32[1]) center_point_box=0 max_output_boxes_per_class=3 -> i64[6,3]
        let d = rt::select::Detections {
            boxes: x0,
            scores: x1,
            batches: 1,
            classes: 2,
            spatial: 6,
        };
        let p = rt::select::NmsParams {
            center_point_box: false,
            max_per_class: 3,
            iou_threshold: (x3)[0],
            score_threshold: Some((x4)[0]),
        };
        let count = rt::select::non_max_suppression(&d, &p, y, scratch)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
        insta::assert_snapshot!(node("NonMaxSuppression").int("center_point_box", 1).input("f32[2,5,4]").input("f32[2,1,5]").emit(), @r#"
        NonMaxSuppression(f32[2,5,4], f32[2,1,5]) center_point_box=1 max_output_boxes_per_class=0 -> i64[0,3]
        let d = rt::select::Detections {
            boxes: x0,
            scores: x1,
            batches: 2,
            classes: 1,
            spatial: 5,
        };
        let p = rt::select::NmsParams {
            center_point_box: true,
            max_per_class: 0,
            iou_threshold: 0.0,
            score_threshold: None,
        };
        let count = rt::select::non_max_suppression(&d, &p, y, scratch)
            .map_err(|e| rt::Error::at("node", e))?;
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("NonMaxSuppression").input("f32[1,6,4]").input("f32[1,2,6]").input("i64[1]").emit(), @"
        parse: input 2 (max_output_boxes_per_class) must be a compile-time constant; zant compiles static shapes only
        ");
        insta::assert_snapshot!(node("NonMaxSuppression").int("center_point_box", 2).input("f32[1,6,4]").input("f32[1,2,6]").emit(), @"
        parse: attribute `center_point_box`: 2 is neither 0 nor 1
        ");
    }
}
