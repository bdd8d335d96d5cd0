//! Evaluation of repairs on the real benchmarks: metrics (exact, sketch,
//! execution via IronCalc for Excel) and, next, the harness and its reports.

pub mod exec;

pub use exec::{exec_match, ExecMatch};
