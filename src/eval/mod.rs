//! Evaluation of repairs on the real benchmarks: metrics (exact, sketch,
//! execution via IronCalc for Excel), the harness that scores every method, and
//! (next) its reports.

pub mod exec;
pub mod harness;

pub use exec::{exec_match, ExecMatch};
pub use harness::{evaluate, metrics, BenchItem, EvalReport, Metrics, Rates};
