//! Evaluation on the real benchmarks: repair metrics (exact, sketch, execution
//! via IronCalc for Excel, BIFI for Python), the harness that scores every
//! method, the published reference numbers, the reports, and NL-to-code scoring
//! (`nl2code/`).
//!
//! Imports `repair/`, `lang`, `model/`, `diffusion/`, `dataset/`, `plot/`,
//! `stats/` (distinct n-grams).

pub mod chosen;
pub mod data_quality;
pub mod denoiser;
pub mod families;
pub mod harness;
pub mod nl2code;
pub mod predictions;
pub mod published;
pub mod ranked;
pub mod report;
pub mod run;

pub use crate::dataset::{load_bench, load_inputs, BenchError, BenchItem};
pub use crate::lang::{excel_exec_match as exec_match, ExecMatch};
pub use chosen::{chosen_repairs, ChosenRepair};
pub use data_quality::{data_quality_report, mcnemar_exact, DataQualityReport};
pub use denoiser::{accuracy_by_t, accuracy_chart, AccuracyByT, LevelAccuracy};
pub use harness::{evaluate, metrics, EvalReport, Headline, ItemResult, Metrics, Rates};
pub use predictions::{score_predictions, PredictionsError};
pub use ranked::{ranked_candidates, score_beams, Fidelity, FixerEvalRun, FixerPrediction};
pub use run::{run_repair_eval, EvalWriteError};
