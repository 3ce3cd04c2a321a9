//! TfIdfVectorizer (opset 9): n-gram counts of integer token rows against a pool, as TF,
//! IDF or TF-IDF. The pool (`pool_int64s`, grouped by n-gram length through
//! `ngram_counts`, each n-gram's output column in `ngram_indexes`) becomes a trie at
//! compile time, attached as constant inputs: `keys` (i64), `links` (u32, three a node)
//! and `weights` (f32, one a column; ones when the node has none), read by
//! `rt::ngram::tfidf_vectorize`. A pool of strings is refused: zant has no string
//! tensors.

use std::collections::BTreeMap;

use proc_macro2::TokenStream;
use quote::quote;
use zant_runtime::ngram::{Ngrams, Weighting};

use super::{Attrs, EmitCtx, OpError, OpKind, Parse, ParseCtx};
use crate::tensor::{DType, Data, Tensor, TensorType};

const TABLES: [&str; 3] = ["keys", "links", "weights"];

#[derive(Clone, Debug, PartialEq)]
pub struct TfIdf {
    pub min_gram: usize,
    pub max_gram: usize,
    pub max_skip: usize,
    pub weighting: Weighting,
}

fn mode_name(w: Weighting) -> &'static str {
    match w {
        Weighting::Tf => "TF",
        Weighting::Idf => "IDF",
        Weighting::TfIdf => "TFIDF",
    }
}

/// A trie node while it is built: its token, children by token, and output column.
#[derive(Default)]
struct Node {
    key: i64,
    children: BTreeMap<i64, usize>,
    column: Option<u32>,
}

/// The pool's n-grams of the counted lengths as the runtime's flat trie, and the number
/// of output columns (one past the largest index).
fn build_trie(
    ctx: &ParseCtx<'_>,
    min_gram: usize,
    max_gram: usize,
) -> Result<(Vec<i64>, Vec<u32>, usize), OpError> {
    if ctx.attr("pool_strings").is_some() {
        return Err(OpError::unsupported(
            "a pool of strings (`pool_strings`): zant has no string tensors",
        ));
    }
    let list = |name: &str| -> Result<Vec<i64>, OpError> {
        ctx.ints(name)?
            .ok_or_else(|| OpError::attr(name, "is required".to_string()))
    };
    let (pool, starts, indexes) = (
        list("pool_int64s")?,
        list("ngram_counts")?,
        list("ngram_indexes")?,
    );
    let columns = match indexes.iter().max() {
        Some(&m) => usize::try_from(m)
            .ok()
            .and_then(|m| m.checked_add(1))
            .filter(|&c| c < u32::MAX as usize)
            .ok_or_else(|| OpError::attr("ngram_indexes", format!("{m} is out of range")))?,
        None => 0,
    };
    // The weights' table has a value a column: refused before it is built (an index of
    // 926,900,223 had asked for 3.7 GB).
    crate::limits::check_constant_bytes(columns.saturating_mul(4)).map_err(|m| {
        OpError::attr(
            "ngram_indexes",
            format!("makes {columns} output columns, and the table of their weights: {m}"),
        )
    })?;
    let mut nodes = vec![Node::default()];
    let mut id = 0usize;
    for (i, &start) in starts.iter().enumerate() {
        let size = i + 1;
        let end = starts.get(i + 1).copied().unwrap_or(pool.len() as i64);
        let range = usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .filter(|&(s, e)| s <= e && e <= pool.len())
            .ok_or_else(|| {
                OpError::attr(
                    "ngram_counts",
                    format!("{start}..{end} is not a range of the pool"),
                )
            })?;
        let grams = pool[range.0..range.1].chunks_exact(size);
        if size < min_gram || size > max_gram {
            id += grams.len();
            continue;
        }
        for gram in grams {
            let column = indexes
                .get(id)
                .and_then(|&c| u32::try_from(c).ok())
                .ok_or_else(|| {
                    OpError::attr(
                        "ngram_indexes",
                        format!("has no valid entry for n-gram {id}"),
                    )
                })?;
            let mut node = 0;
            for &token in gram {
                node = match nodes[node].children.get(&token) {
                    Some(&next) => next,
                    None => {
                        nodes.push(Node {
                            key: token,
                            ..Node::default()
                        });
                        let next = nodes.len() - 1;
                        nodes[node].children.insert(token, next);
                        next
                    }
                };
            }
            // A repeated n-gram counts towards its last column, as in the reference.
            nodes[node].column = Some(column);
            id += 1;
        }
    }
    // Breadth first, so that each node's children are contiguous and sorted.
    let mut order = vec![0usize];
    let mut place = vec![0u32; nodes.len()];
    let mut k = 0;
    while k < order.len() {
        for &c in nodes[order[k]].children.values() {
            place[c] = order.len() as u32;
            order.push(c);
        }
        k += 1;
    }
    let mut keys = Vec::with_capacity(order.len());
    let mut links = Vec::with_capacity(3 * order.len());
    for &n in &order {
        let node = &nodes[n];
        keys.push(node.key);
        let first = node.children.values().next().map_or(0, |&c| place[c]);
        links.extend([
            first,
            node.children.len() as u32,
            node.column.map_or(0, |c| c + 1),
        ]);
    }
    Ok((keys, links, columns))
}

impl Parse for TfIdf {
    fn parse(ctx: &ParseCtx<'_>) -> Result<Self, OpError> {
        let weighting = match ctx.string("mode", "")?.as_str() {
            "TF" => Weighting::Tf,
            "IDF" => Weighting::Idf,
            "TFIDF" => Weighting::TfIdf,
            other => {
                return Err(OpError::attr(
                    "mode",
                    format!("is TF, IDF or TFIDF, not {other:?}"),
                ))
            }
        };
        let op = Self {
            min_gram: ctx.count("min_gram_length", 1)?,
            max_gram: ctx.count("max_gram_length", 1)?,
            max_skip: ctx.count("max_skip_count", 0)?,
            weighting,
        };
        if op.min_gram == 0 || op.min_gram > op.max_gram {
            return Err(OpError::attr(
                "min_gram_length",
                format!("{} is not in 1..={}", op.min_gram, op.max_gram),
            ));
        }
        if ctx.n_inputs() > 1 {
            // The IR text: the tables are inputs already.
            ctx.tables(1, &TABLES, || Err(OpError::shape("the tables are missing")))?;
            return Ok(op);
        }
        ctx.tables(1, &TABLES, || {
            let (keys, links, columns) = build_trie(ctx, op.min_gram, op.max_gram)?;
            let weights = match ctx.attr("weights") {
                Some(a) => a.as_floats("weights")?,
                None => vec![1.0; columns],
            };
            if weights.len() != columns {
                return Err(OpError::attr(
                    "weights",
                    format!("has {} values for {columns} columns", weights.len()),
                ));
            }
            Ok(vec![
                Tensor::new(vec![keys.len()], Data::I64(keys)),
                Tensor::new(vec![links.len()], Data::U32(links)),
                Tensor::new(vec![columns], Data::F32(weights)),
            ])
        })?;
        Ok(op)
    }
}

impl TfIdf {
    /// The runtime's description for tokens of `shape` and `columns` outputs a row.
    fn params(&self, shape: &[usize], columns: usize) -> Ngrams {
        let (rows, row_len) = match shape {
            [c] => (1, *c),
            [b, c] => (*b, *c),
            _ => (1, 1),
        };
        Ngrams {
            rows,
            row_len,
            columns,
            min_gram: self.min_gram,
            max_gram: self.max_gram,
            max_skip: self.max_skip,
            weighting: self.weighting,
        }
    }
}

impl OpKind for TfIdf {
    fn attrs(&self, attrs: &mut Attrs) {
        attrs
            .int("max_gram_length", self.max_gram as i64)
            .int("max_skip_count", self.max_skip as i64)
            .int("min_gram_length", self.min_gram as i64)
            .string("mode", mode_name(self.weighting));
    }

    fn infer(&self, inputs: &[Option<&TensorType>]) -> Result<Vec<TensorType>, OpError> {
        let x = super::required(inputs, 0)?;
        if !matches!(x.dtype, DType::I32 | DType::I64) || !matches!(x.rank(), 1 | 2) {
            return Err(OpError::unsupported(format!(
                "TfIdfVectorizer takes i32 or i64 tokens of shape [C] or [B, C], not {x}"
            )));
        }
        let weights = super::required(inputs, 3)?;
        let mut shape = x.shape.clone();
        if let Some(last) = shape.last_mut() {
            *last = weights.n_elems();
        }
        Ok(vec![TensorType::new(DType::F32, shape)])
    }

    fn emit(&self, ctx: &EmitCtx<'_>) -> Result<TokenStream, OpError> {
        let x = ctx.input(0)?;
        let p = self.params(&x.ty.shape, ctx.out_ty().shape.last().copied().unwrap_or(0));
        let (xe, keys, links, weights) = (&x.expr, ctx.expr(1)?, ctx.expr(2)?, ctx.expr(3)?);
        Ok(quote! { rt::ngram::tfidf_vectorize(#p, #keys, #links, #weights, #xe, y); })
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::node;

    #[test]
    fn emits() {
        // Unigrams 2 and 3, bigrams 5 6 and 7 8; only bigrams counted.
        insta::assert_snapshot!(node("TfIdfVectorizer").string("mode", "TFIDF")
            .int("min_gram_length", 2).int("max_gram_length", 2).int("max_skip_count", 1)
            .ints("ngram_counts", &[0, 2]).ints("ngram_indexes", &[0, 1, 2, 3])
            .ints("pool_int64s", &[2, 3, 5, 6, 7, 8]).floats("weights", &[1.0, 1.0, 0.5, 2.0])
            .input("i32[2,6]").emit(), @r#"
        TfIdfVectorizer(i32[2,6], i64[5], u32[15], f32[4]) max_gram_length=2 max_skip_count=1 min_gram_length=2 mode="TFIDF" -> f32[2,4]
        rt::ngram::tfidf_vectorize(
            rt::ngram::Ngrams {
                rows: 2,
                row_len: 6,
                columns: 4,
                min_gram: 2,
                max_gram: 2,
                max_skip: 1,
                weighting: rt::ngram::Weighting::TfIdf,
            },
            x1,
            x2,
            x3,
            x0,
            y,
        );
        "#);
    }

    #[test]
    fn refuses() {
        insta::assert_snapshot!(node("TfIdfVectorizer").string("mode", "BM25")
            .input("i32[6]").emit(), @r#"
        parse: attribute `mode`: is TF, IDF or TFIDF, not "BM25"
        "#);
        insta::assert_snapshot!(node("TfIdfVectorizer").string("mode", "TF")
            .int("min_gram_length", 3).int("max_gram_length", 2)
            .input("i32[6]").emit(), @"parse: attribute `min_gram_length`: 3 is not in 1..=2");
        insta::assert_snapshot!(node("TfIdfVectorizer").string("mode", "TF")
            .ints("ngram_counts", &[0]).ints("ngram_indexes", &[0]).ints("pool_int64s", &[1])
            .input("f32[6]").emit(), @"infer: TfIdfVectorizer takes i32 or i64 tokens of shape [C] or [B, C], not f32[6]");
        insta::assert_snapshot!(node("TfIdfVectorizer").string("mode", "TF")
            .ints("ngram_counts", &[0, 5]).ints("ngram_indexes", &[0]).ints("pool_int64s", &[1])
            .input("i32[6]").emit(), @"parse: attribute `ngram_counts`: 0..5 is not a range of the pool");
        insta::assert_snapshot!(node("TfIdfVectorizer").string("mode", "TF")
            .ints("ngram_counts", &[0]).ints("ngram_indexes", &[0, 1]).ints("pool_int64s", &[1, 2])
            .floats("weights", &[1.0])
            .input("i32[6]").emit(), @"parse: attribute `weights`: has 1 values for 2 columns");
    }
}
