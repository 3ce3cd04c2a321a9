//! Turns ONNX names into unique, keyword-free Rust identifiers, deterministically: the
//! result depends only on the names and the order they are asked for.

use std::collections::BTreeSet;

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "union",
];

/// Hands out identifiers, never the same one twice.
#[derive(Default)]
pub struct Namer {
    taken: BTreeSet<String>,
}

impl Namer {
    /// Reserves names the generated code uses itself.
    pub fn reserve(&mut self, names: &[&str]) {
        self.taken.extend(names.iter().map(|s| s.to_string()));
    }

    /// A `snake_case` identifier for `name`.
    pub fn snake(&mut self, name: &str) -> String {
        self.unique(to_snake(name))
    }

    fn unique(&mut self, base: String) -> String {
        let mut candidate = base.clone();
        let mut n = 2;
        while self.taken.contains(&candidate) {
            candidate = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(candidate.clone());
        candidate
    }
}

/// `snake_case` from any string: lowercase alphanumerics separated by single underscores,
/// never starting with a digit, never a keyword.
pub fn to_snake(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let mut out = out.trim_matches('_').to_string();
    if out.is_empty() {
        out = "value".into();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "v_");
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_identifiers() {
        assert_eq!(to_snake("Plus214_Output_0"), "plus214_output_0");
        assert_eq!(to_snake("input.1"), "input_1");
        assert_eq!(to_snake("0"), "v_0");
        assert_eq!(to_snake("type"), "type_");
        assert_eq!(
            to_snake("StatefulPartitionedCall:0"),
            "stateful_partitioned_call_0"
        );
        assert_eq!(to_snake("///"), "value");
    }

    #[test]
    fn names_are_unique() {
        let mut n = Namer::default();
        assert_eq!(n.snake("a.b"), "a_b");
        assert_eq!(n.snake("a-b"), "a_b_2");
        assert_eq!(n.snake("a b"), "a_b_3");
    }
}
