//! TfIdfVectorizer: counts of the n-grams of a pool in each row of integer tokens, with
//! gaps of up to `max_skip` tokens between an n-gram's items, weighted as TF, IDF or
//! TF-IDF.
//!
//! The pool is a trie the compiler builds: node 0 is the root; node `i` holds its token
//! in `keys[i]` and, in `links[3i..3i + 3]`, the index of its first child, its number of
//! children (contiguous, sorted by token) and its output column plus one (0: no n-gram
//! ends here).

use crate::tokens::tokens;

tokens! {
    rt::ngram;
    /// What each output holds for a count `c` of its n-gram, with the op's weight `w`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Weighting {
        /// `c`.
        Tf,
        /// `w` if `c > 0`, else 0.
        Idf,
        /// `w · c`.
        TfIdf,
    }
}

tokens! {
    rt::ngram;
    /// The sizes and rules of one TfIdfVectorizer.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Ngrams {
        pub rows: usize,
        /// Tokens per row.
        pub row_len: usize,
        /// Outputs per row.
        pub columns: usize,
        pub min_gram: usize,
        pub max_gram: usize,
        /// The most tokens skipped between two items of an n-gram.
        pub max_skip: usize,
        pub weighting: Weighting,
    }
}

/// The child of trie node `node` whose token is `token`.
fn child(keys: &[i64], links: &[u32], node: usize, token: i64) -> Option<usize> {
    let first = *links.get(3 * node)? as usize;
    let count = *links.get(3 * node + 1)? as usize;
    let siblings = keys.get(first..first.checked_add(count)?)?;
    siblings.binary_search(&token).ok().map(|k| first + k)
}

/// Counts the pool's n-grams in every row of `x` into `y` (`[rows, columns]`) and weighs
/// them: the n-grams of each skip distance from 1 to `max_skip + 1`, unigrams once.
pub fn tfidf_vectorize<T: Copy + Into<i64>>(
    p: Ngrams,
    keys: &[i64],
    links: &[u32],
    weights: &[f32],
    x: &[T],
    y: &mut [f32],
) {
    y.fill(0.0);
    let rows = x
        .chunks_exact(p.row_len.max(1))
        .zip(y.chunks_exact_mut(p.columns.max(1)));
    for (tokens, counts) in rows.take(p.rows) {
        let len = tokens.len();
        let mut shortest = p.min_gram.max(1);
        // A distance past the row's length finds nothing a shorter one does not.
        for skip in 1..=p.max_skip.saturating_add(1).min(len) {
            for start in 0..len {
                // No n-gram of a counted size fits from here on.
                if skip.saturating_mul(shortest - 1).saturating_add(start) >= len {
                    break;
                }
                let (mut node, mut item, mut size) = (0, start, 1);
                while size <= p.max_gram && item < len {
                    let Some(next) = child(keys, links, node, tokens[item].into()) else {
                        break;
                    };
                    let column = links.get(3 * next + 2).copied().unwrap_or(0) as usize;
                    if size >= shortest && column != 0 {
                        if let Some(c) = counts.get_mut(column - 1) {
                            *c += 1.0;
                        }
                    }
                    (node, item, size) = (next, item + skip, size + 1);
                }
            }
            // Unigrams have no gaps: only the first distance counts them.
            if shortest == 1 {
                shortest = 2;
                if shortest > p.max_gram {
                    break;
                }
            }
        }
        for (c, &w) in counts.iter_mut().zip(weights) {
            *c = match p.weighting {
                Weighting::Tf => *c,
                Weighting::Idf if *c > 0.0 => w,
                Weighting::Idf => 0.0,
                Weighting::TfIdf => w * *c,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trie of the unigram 7 (column 0) and the bigrams 7 8 (column 1) and 9 7
    /// (column 2): root → {7, 9}, 7 → {8}, 9 → {7}.
    fn trie() -> ([i64; 5], [u32; 15]) {
        let keys = [0, 7, 9, 8, 7];
        let links = [
            1, 2, 0, // root: children 1 and 2
            3, 1, 1, // 7: child 3, column 0
            4, 1, 0, // 9: child 4
            0, 0, 2, // 7 8: column 1
            0, 0, 3, // 9 7: column 2
        ];
        (keys, links)
    }

    fn params(max_skip: usize, weighting: Weighting) -> Ngrams {
        Ngrams {
            rows: 1,
            row_len: 6,
            columns: 3,
            min_gram: 1,
            max_gram: 2,
            max_skip,
            weighting,
        }
    }

    #[test]
    fn counts_unigrams_once_and_bigrams_at_every_skip() {
        let (keys, links) = trie();
        let x = [7i32, 8, 9, 7, 1, 8];
        let mut y = [0.0f32; 3];
        tfidf_vectorize(
            params(0, Weighting::Tf),
            &keys,
            &links,
            &[1.0; 3],
            &x,
            &mut y,
        );
        // 7 twice; 7 8 at 0-1; 9 7 at 2-3.
        assert_eq!(y, [2.0, 1.0, 1.0]);
        // Gaps of up to two tokens add one bigram: 7 at 3, 8 at 5. Unigrams still count
        // once.
        tfidf_vectorize(
            params(2, Weighting::Tf),
            &keys,
            &links,
            &[1.0; 3],
            &x,
            &mut y,
        );
        assert_eq!(y, [2.0, 2.0, 1.0]);
    }

    #[test]
    fn weighs_idf_and_tfidf() {
        let (keys, links) = trie();
        let x = [7i64, 7, 1, 1, 1, 1];
        let mut y = [0.0f32; 3];
        let w = [0.5, 2.0, 3.0];
        tfidf_vectorize(params(0, Weighting::Idf), &keys, &links, &w, &x, &mut y);
        assert_eq!(y, [0.5, 0.0, 0.0]);
        tfidf_vectorize(params(0, Weighting::TfIdf), &keys, &links, &w, &x, &mut y);
        assert_eq!(y, [1.0, 0.0, 0.0]);
    }

    /// Hostile lengths end the count instead of overflowing the bound of each start.
    #[test]
    fn huge_gram_lengths_count_nothing() {
        let (keys, links) = trie();
        let x = [7i32, 8, 9, 7, 1, 8];
        let mut y = [5.0f32; 3];
        let p = Ngrams {
            min_gram: usize::MAX / 2,
            max_gram: usize::MAX,
            ..params(3, Weighting::Tf)
        };
        tfidf_vectorize(p, &keys, &links, &[1.0; 3], &x, &mut y);
        assert_eq!(y, [0.0; 3]);
    }

    #[test]
    fn a_min_gram_of_two_skips_unigrams() {
        let (keys, links) = trie();
        let x = [7i32, 8, 9, 7, 1, 8];
        let mut y = [0.0f32; 3];
        let p = Ngrams {
            min_gram: 2,
            ..params(0, Weighting::Tf)
        };
        tfidf_vectorize(p, &keys, &links, &[1.0; 3], &x, &mut y);
        assert_eq!(y, [0.0, 1.0, 1.0]);
    }
}
