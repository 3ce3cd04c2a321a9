//! Model compression: what makes a model smaller before or while it is compiled, and the
//! report that measures what each method costs.

#[cfg(feature = "cli")]
pub mod report;
