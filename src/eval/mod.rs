//! Evaluation of repairs on the real benchmarks: metrics (exact, sketch,
//! execution via IronCalc for Excel, BIFI for Python), the harness that scores
//! every method, the published reference numbers, and the reports.

pub mod bench;
pub mod exec;
pub mod harness;
pub mod published;
pub mod report;

pub use bench::{load_bench, BenchError};
pub use exec::{exec_match, ExecMatch};
pub use harness::{evaluate, metrics, BenchItem, EvalReport, Headline, ItemResult, Metrics, Rates};
