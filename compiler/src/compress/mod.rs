//! Model compression: weights made smaller than the model's `f32` ones.
//!
//! [`ternary`] turns a layer's weights into one trit per weight and one scale per output
//! channel (BitNet's absmean rule, 1.58 bits of information, stored at 1.6), the form
//! `passes::ternary` compiles with `--weights ternary`. Each method is a module of pure
//! functions on tensors: the passes and the command-line tools call them, and they know
//! nothing of the graph.

pub mod ternary;
