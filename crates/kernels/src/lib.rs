//! CPU kernels for candle tensors, apart from any model as candle-nn's ops
//! are apart from candle-transformers: [`ops`] is the seam the models call
//! (fused layer norm, softmax and attention with their own backward passes on
//! the CPU, the composed candle ops elsewhere), over the matrix products
//! ([`matmul`]: faer in f32, packed [`bf16`] and [`int8`] kernels for
//! inference, chosen by [`precision`]) and vectorised math ([`vmath`]).
//!
//! Imports nothing of lastmile's.

pub mod attention;
pub mod bf16;
mod blocked;
pub mod fused;
pub mod int8;
pub mod matmul;
pub mod ops;
pub mod precision;
pub mod vmath;
